//! A simulated support agent, traced to the console and to `quickstart.jsonl`. No network, no keys.
//!
//! The agent embeds the question, retrieves order notes, then runs a two-step generation: step 0
//! asks for a tool call, step 1 answers. Its primary model (gpt-4o) times out on step 0, so a
//! fallback answers with claude-3-5-haiku; the trace names the model that really answered on the
//! step and on the generation, and bills the tokens once.
//!
//! Run: `cargo run --example quickstart`

use std::error::Error;
use std::thread::sleep;
use std::time::Duration;

use aitrace::{
    agent_span, attempt_span, embedding_span, generation_span, retrieval_span, step_span,
    tool_span, AiSpanExt, ChatMessage, ConsoleExporter, Cost, ExportConfig, JsonlExporter, Part,
    Usage,
};
use serde_json::json;

/// One model of the simulated fallback chain.
struct Model {
    provider: &'static str,
    name: &'static str,
    /// USD per million input / output tokens.
    price: (f64, f64),
    available: bool,
}

/// What a (simulated) model call returns.
struct Reply {
    message: ChatMessage,
    usage: Usage,
}

/// The simulated provider: gpt-4o always times out; claude answers.
fn call_model(model: &Model, step: u32) -> Result<Reply, &'static str> {
    sleep(Duration::from_millis(if model.name == "gpt-4o" {
        40
    } else {
        15
    }));
    if model.name == "gpt-4o" {
        return Err("request timed out after 5s");
    }
    Ok(match step {
        0 => Reply {
            message: ChatMessage::new(
                "assistant",
                vec![Part::tool_call(
                    "call_1",
                    "lookup_order",
                    json!({"order_id": "1042"}),
                )],
            )
            .with_finish_reason("tool_call"),
            usage: Usage::new(412, 23).with_cache_read(128),
        },
        _ => Reply {
            message: ChatMessage::assistant("Order #1042 shipped yesterday and arrives Thursday.")
                .with_finish_reason("stop"),
            usage: Usage::new(498, 17).with_cache_read(384),
        },
    })
}

/// Tries the available models in order, one attempt span each; marks a failing model unavailable
/// and re-stamps the caller's span (and the generation above it) with the model that answered.
fn chat_with_fallback(models: &mut [Model], step: u32) -> Result<(Reply, f64), String> {
    let caller = tracing::Span::current();
    let mut errors = Vec::new();
    for (attempt, model) in models.iter_mut().filter(|m| m.available).enumerate() {
        let span = attempt_span!(attempt as u32, model.provider, model.name);
        let _entered = span.enter();
        match call_model(model, step) {
            Ok(reply) => {
                span.set_ok();
                caller.restamp_model(model.provider, model.name);
                let u = &reply.usage;
                let cost = (u.input_tokens.unwrap_or(0) as f64 * model.price.0
                    + u.output_tokens.unwrap_or(0) as f64 * model.price.1)
                    / 1e6;
                return Ok((reply, cost));
            }
            Err(e) => {
                span.set_error("timeout", e);
                model.available = false;
                errors.push(format!("{}: {e}", model.name));
            }
        }
    }
    Err(format!("every model failed: {}", errors.join("; ")))
}

pub fn run_agent(question: &str) -> Result<String, String> {
    let agent = agent_span!("support-agent", gen_ai.agent.id = "agent-7");
    agent.set_session("session-42");
    agent.set_user("user-1");
    agent.set_input(question);
    let _agent = agent.enter();

    let embed = embedding_span!("openai", "text-embedding-3-small");
    embed.in_scope(|| sleep(Duration::from_millis(5)));
    embed.set_input(question);
    embed.record_usage(Usage {
        input_tokens: Some(9),
        ..Usage::default()
    });
    embed.record("gen_ai.embeddings.dimension.count", 1536);
    drop(embed);

    let retrieval = retrieval_span!("kb-orders");
    retrieval.record("gen_ai.retrieval.query.text", question);
    retrieval.in_scope(|| sleep(Duration::from_millis(3)));
    retrieval
        .set_output(json!([{"id": "note-17", "score": 0.82, "text": "Order 1042: carrier DHL"}]));
    drop(retrieval);

    let mut models = vec![
        Model {
            provider: "openai",
            name: "gpt-4o",
            price: (2.5, 10.0),
            available: true,
        },
        Model {
            provider: "anthropic",
            name: "claude-3-5-haiku",
            price: (0.8, 4.0),
            available: true,
        },
    ];
    let generation = generation_span!("openai", "gpt-4o", gen_ai.request.temperature = 0.2);
    let _generation = generation.enter();
    let mut messages = vec![
        ChatMessage::system("You are a support agent."),
        ChatMessage::user(question),
    ];
    generation.set_input_messages(&messages);
    let mut total_cost = 0.0;
    let mut answer = String::new();
    for step in 0..2u32 {
        let span = step_span!(step);
        let _step = span.enter();
        span.set_input_messages(&messages);
        let (reply, cost) = chat_with_fallback(&mut models, step)?;
        total_cost += cost;
        span.record_usage(reply.usage);
        span.set_output_messages(std::slice::from_ref(&reply.message));
        messages.push(reply.message.clone());
        if step == 0 {
            let tool = tool_span!("lookup_order", gen_ai.tool.call.id = "call_1");
            tool.record("gen_ai.tool.call.arguments", r#"{"order_id":"1042"}"#);
            let result = tool.in_scope(|| {
                sleep(Duration::from_millis(8));
                tracing::info!(rows = 1, "order found");
                json!({"status": "shipped", "eta": "Thursday"})
            });
            tool.record("gen_ai.tool.call.result", result.to_string().as_str());
            messages.push(ChatMessage::tool_result("call_1", result));
        } else {
            answer = reply.message.text();
            generation.set_output_messages(&[reply.message]);
        }
    }
    // Usage stays on the steps (for display); the generation bills their sum once.
    generation.record_cost(Cost::usd(total_cost));
    agent.set_output(answer.as_str());
    Ok(answer)
}

fn main() -> Result<(), Box<dyn Error>> {
    let jsonl_path = "quickstart.jsonl";
    let local = ExportConfig {
        max_batch_age: Duration::from_millis(100),
        ..ExportConfig::default()
    };
    #[allow(unused_mut)]
    let mut builder = aitrace::builder()
        .exporter_with_config(ConsoleExporter::stdout(), local.clone())
        .exporter_with_config(JsonlExporter::create(jsonl_path)?, local);
    // With `--features otel` and the standard OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT set, the same
    // trace also goes to that OpenTelemetry backend, over HTTP or (`otel-grpc`,
    // OTEL_EXPORTER_OTLP_PROTOCOL=grpc) gRPC. This is how the Phoenix end-to-end test runs.
    #[cfg(feature = "otel")]
    if std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        || std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
    {
        println!("also exporting over OTLP (OTEL_EXPORTER_OTLP_* settings)");
        builder = builder.exporter(
            aitrace::otel::OtelExporter::builder()
                .openinference(true)
                .build()?,
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
