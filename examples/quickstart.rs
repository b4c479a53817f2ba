//! A simulated support agent, traced to the console and to `quickstart.jsonl`. No network, no keys.
//!
//! The agent embeds the question, retrieves order notes, then runs a two-step generation through an
//! LLM fallback adapter: step 0 asks for a tool call, step 1 answers. The primary model (gpt-4o) times
//! out on step 0, so the backup (claude-3-5-haiku) answers; the primary is then skipped while it is
//! marked unavailable. The trace names the model that really answered on the steps and on the
//! generation, gives each try its own `fallback_attempt` span, bills the tokens once, and prices them.
//!
//! Run: `cargo run --example quickstart`

use std::error::Error;
use std::sync::Arc;
use std::thread::sleep;
use std::time::Duration;

use aitrace::{
    agent_span, embedding_span, generation_span, retrieval_span, step_span, tool_span, AiSpanExt,
    ChatMessage, ConsoleExporter, ExportConfig, JsonlExporter, Part, Usage,
};
use aitrace_fallback::testing::{split, Behavior, ScriptedLlm};
use aitrace_fallback::{ChatRequest, LlmFallback, LlmFallbackConfig, LlmProvider, ProviderError};
use futures::StreamExt;
use serde_json::json;

/// The models: a primary that times out once, and a backup that asks for a tool, then answers.
fn models() -> LlmFallback {
    let primary = ScriptedLlm::scripted(
        "openai",
        "gpt-4o",
        vec![Behavior::Hang],
        Behavior::Answer {
            chunks: split("(the primary, once it recovers)"),
            usage: Usage::new(400, 20),
        },
    );
    let backup = ScriptedLlm::scripted(
        "anthropic",
        "claude-3-5-haiku",
        vec![
            Behavior::ToolCall {
                id: "call_1".into(),
                name: "lookup_order".into(),
                arguments: json!({"order_id": "1042"}),
                usage: Usage::new(412, 23).with_cache_read(128),
            },
            Behavior::Answer {
                chunks: split("Order #1042 shipped yesterday and arrives Thursday."),
                usage: Usage::new(498, 17).with_cache_read(384),
            },
        ],
        Behavior::Answer {
            chunks: split("Anything else?"),
            usage: Usage::new(10, 3),
        },
    );
    let config = LlmFallbackConfig {
        attempt_timeout: Duration::from_millis(40),
        ..LlmFallbackConfig::default()
    };
    LlmFallback::with_config(vec![Arc::new(primary), Arc::new(backup)], config)
        .expect("two providers")
}

/// Streams one answer and assembles it into a message (text and tool calls).
fn call(llm: &LlmFallback, messages: &[ChatMessage]) -> Result<ChatMessage, ProviderError> {
    futures::executor::block_on(async {
        let request = ChatRequest {
            messages: messages.to_vec(),
            ..ChatRequest::default()
        };
        let mut stream = llm.chat(request).await?;
        let (mut text, mut calls, mut finish) =
            (String::new(), Vec::<(String, String, String)>::new(), None);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            text.push_str(chunk.text.as_deref().unwrap_or(""));
            for d in chunk.tool_calls {
                if calls.len() <= d.index {
                    calls.resize(d.index + 1, Default::default());
                }
                let c = &mut calls[d.index];
                c.0.push_str(d.id.as_deref().unwrap_or(""));
                c.1.push_str(d.name.as_deref().unwrap_or(""));
                c.2.push_str(&d.arguments);
            }
            finish = chunk.finish_reason.or(finish);
        }
        let mut parts = Vec::new();
        if !text.is_empty() {
            parts.push(Part::text(text));
        }
        for (id, name, args) in calls {
            parts.push(Part::tool_call(
                id,
                name,
                serde_json::from_str(&args).unwrap_or(json!(args)),
            ));
        }
        let message = ChatMessage::new("assistant", parts);
        Ok(match finish {
            Some(f) => message.with_finish_reason(f),
            None => message,
        })
    })
}

/// The agent: embedding, retrieval, then a two-step generation through the fallback adapter.
pub(crate) fn run_agent(question: &str) -> Result<String, String> {
    let agent = agent_span!("support-agent", gen_ai.agent.id = "agent-7");
    agent.set_session("session-42");
    agent.set_user("user-1");
    agent.set_input(question);
    let _agent = agent.enter();

    let embed = embedding_span!("openai", "text-embedding-3-small");
    embed.in_scope(|| sleep(Duration::from_millis(5)));
    embed.set_input(question);
    embed.record_usage(Usage::input_only(9));
    embed.record("gen_ai.embeddings.dimension.count", 1536);
    drop(embed);

    let retrieval = retrieval_span!("kb-orders");
    retrieval.record("gen_ai.retrieval.query.text", question);
    retrieval.record("gen_ai.retrieval.top_k", 3);
    retrieval.in_scope(|| sleep(Duration::from_millis(3)));
    retrieval
        .set_output(json!([{"id": "note-17", "score": 0.82, "text": "Order 1042: carrier DHL"}]));
    drop(retrieval);

    let llm = models();
    let generation = generation_span!("openai", "gpt-4o", gen_ai.request.temperature = 0.2);
    let _generation = generation.enter();
    let mut messages = vec![
        ChatMessage::system("You are a support agent."),
        ChatMessage::user(question),
    ];
    generation.set_input_messages(&messages);
    let mut answer = String::new();
    for step in 0..2u32 {
        let span = step_span!(step);
        let _step = span.enter();
        span.set_input_messages(&messages);
        // The adapter traces each try, re-stamps this step and the generation with the model that
        // answered, and records this call's usage on the step (the generation bills the sum).
        let reply = call(&llm, &messages).map_err(|e| e.to_string())?;
        span.set_output_messages(std::slice::from_ref(&reply));
        messages.push(reply.clone());
        let tool_call = reply.parts.iter().find_map(|p| match p {
            Part::Known(aitrace::KnownPart::ToolCall {
                id,
                name,
                arguments,
            }) => Some((
                id.clone().unwrap_or_default(),
                name.clone(),
                arguments.clone(),
            )),
            _ => None,
        });
        match tool_call {
            Some((id, name, arguments)) => {
                let tool = tool_span!(name, gen_ai.tool.call.id = %id);
                tool.record("gen_ai.tool.call.arguments", arguments.to_string().as_str());
                let result = tool.in_scope(|| {
                    sleep(Duration::from_millis(8));
                    tracing::info!(rows = 1, "order found");
                    json!({"status": "shipped", "eta": "Thursday"})
                });
                tool.record("gen_ai.tool.call.result", result.to_string().as_str());
                messages.push(ChatMessage::tool_result(id, result));
            }
            None => {
                answer = reply.text();
                generation.set_output_messages(&[reply]);
                break;
            }
        }
    }
    agent.set_output(answer.as_str());
    Ok(answer)
}

fn main() -> Result<(), Box<dyn Error>> {
    let jsonl_path = "quickstart.jsonl";
    let local = ExportConfig::default().with_max_batch_age(Duration::from_millis(100));
    // Every backend the environment configures is added too (with the features that build it):
    // OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, LANGFUSE_*, BRAINTRUST_API_KEY, LANGSMITH_API_KEY,
    // DD_API_KEY, SENTRY_DSN, POSTHOG_API_KEY, MLFLOW_TRACKING_URI, ... or exactly AITRACE_EXPORTERS.
    // This is how the Phoenix end-to-end test runs.
    let builder = aitrace::from_env()?
        .exporter_with_config(ConsoleExporter::stdout(), local.clone())
        .exporter_with_config(JsonlExporter::create(jsonl_path)?, local);
    let backends: Vec<&str> = builder
        .exporter_names()
        .into_iter()
        .filter(|n| !matches!(*n, "console" | "jsonl"))
        .collect();
    if !backends.is_empty() {
        println!(
            "also exporting to {} (from the environment)",
            backends.join(", ")
        );
    }
    let guard = builder.install()?;

    let answer = run_agent("Where is order #1042?")?;

    let report = guard.shutdown(Duration::from_secs(5));
    let text = std::fs::read_to_string(jsonl_path)?;
    let spans = aitrace::jsonl::read_jsonl(&text)?;
    let billed = aitrace::testing::total_billable_usage(&spans);
    println!("answer: {answer}");
    println!(
        "{} spans written to {jsonl_path}; billed once: {} input / {} output tokens; lost: {}",
        spans.len(),
        billed.input_tokens.unwrap_or(0),
        billed.output_tokens.unwrap_or(0),
        report.lost
    );
    Ok(())
}
