//! rig, as a user runs it, against a scripted OpenAI-compatible server on loopback: an agent with a
//! tool inside the application's request span (unary and streamed) and an embedding, checked against
//! what the server sent (kinds, provider, models, usage billed once, cached and reasoning tokens, time
//! to first token on streams, messages and tool calls, parent/child, nothing lost).

use std::time::Duration;

use aitrace_core::testing::{capture, split_requests, total_billable_usage};
use aitrace_core::{SpanKind, SpanRecord, Usage};
use aitrace_testkit::openai::{FakeModel, OpenAiServer, Reply};
use futures::StreamExt;
use rig_agent::AgentBuilder;
use rig_core::providers::openai::OpenAIConfig;
use rig_core::tool::{Tool, ToolContext, ToolExecutionError};
use serde_json::{json, Value};
use tracing::Instrument;

struct Weather;

impl Tool for Weather {
    const NAME: &'static str = "get_weather";
    type Args = Value;
    type Output = String;
    type Error = ToolExecutionError;

    fn description(&self) -> String {
        "Weather in a city".into()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    }

    async fn call(&self, _: &mut ToolContext, args: Value) -> Result<String, ToolExecutionError> {
        Ok(format!(
            "14C and rain in {}",
            args["city"].as_str().unwrap_or("?")
        ))
    }
}

/// rig's OpenAI client against `server`, sending through aitrace's `TimedHttp` (README's one line).
macro_rules! timed_openai {
    ($server:expr) => {
        OpenAIConfig::new("sk-test-key")
            .with_base_url($server.base_url())
            .connect(aitrace_rig::TimedHttp::new(
                rig_reqwest::ReqwestClient::default(),
            ))
    };
}

#[test]
fn a_rig_agent_inside_a_request_keeps_its_shape_usage_and_time_to_first_token() {
    let server = OpenAiServer::fake_with(FakeModel {
        first_token: Duration::from_millis(60),
        ..FakeModel::default()
    });
    let openai = timed_openai!(server);
    let agent = AgentBuilder::new(openai.chat("gpt-4o-mini"))
        .name("weather-agent")
        .preamble("Be brief.")
        .tool(Weather)
        .build();
    let embedder = openai.embedding("text-embedding-3-small", None);
    let records = capture(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(
            async {
                let answer = async {
                    agent
                        .prompt("Weather in Paris?")
                        .record_content_telemetry(true)
                        .max_turns(3)
                        .await
                }
                .instrument(aitrace_rig::agent_span!("weather-agent"))
                .await
                .expect("an answer");
                assert!(
                    answer.output().contains("14C and rain"),
                    "{}",
                    answer.output()
                );
                let streamed = async {
                    let mut stream = agent
                        .prompt("Weather in Oslo?")
                        .record_content_telemetry(true)
                        .max_turns(3)
                        .stream();
                    let mut items = 0;
                    while let Some(item) = stream.next().await {
                        item.expect("a stream item");
                        items += 1;
                    }
                    items
                }
                .instrument(aitrace_rig::agent_span!("weather-agent"))
                .await;
                assert!(streamed > 0);
                embedder
                    .embed_text("alpha beta")
                    .await
                    .expect("an embedding");
            }
            .instrument(tracing::info_span!("handle_request")),
        );
    });
    let exchanges = server.exchanges();
    // Two agent runs of two turns each (tool call, then the answer), and one embedding.
    assert_eq!(exchanges.len(), 5, "{exchanges:#?}");
    // The request the calls ran in is recorded too, as their parent.
    let (requests, records) = split_requests(records);
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.name, "handle_request");

    let trace = records[0].trace_id;
    assert!(
        records.iter().all(|r| r.trace_id == trace),
        "one trace for the request"
    );
    let agents: Vec<&SpanRecord> = records
        .iter()
        .filter(|r| r.kind == SpanKind::AgentRun)
        .collect();
    assert_eq!(agents.len(), 2, "{records:#?}");
    for a in &agents {
        assert_eq!(
            a.parent_span_id,
            Some(request.span_id),
            "top-level in the request span"
        );
        assert_eq!(
            a.agent.as_ref().and_then(|g| g.name.as_deref()),
            Some("weather-agent")
        );
        assert!(a.input.is_some(), "rig's prompt kept on our agent span");
    }
    let chats: Vec<&SpanRecord> = records
        .iter()
        .filter(|r| r.kind == SpanKind::ModelGeneration)
        .collect();
    let tools: Vec<&SpanRecord> = records
        .iter()
        .filter(|r| r.kind == SpanKind::ToolCall)
        .collect();
    assert_eq!((chats.len(), tools.len()), (4, 2), "{records:#?}");
    for r in chats.iter().chain(&tools) {
        assert!(
            agents.iter().any(|a| Some(a.span_id) == r.parent_span_id),
            "{} under an agent",
            r.name
        );
    }
    for ex in exchanges
        .iter()
        .filter(|e| e.path.ends_with("/chat/completions"))
    {
        let id = ex.reply.ids().0.unwrap_or_default();
        let r = chats
            .iter()
            .find(|r| r.response_id.as_deref() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no span for {id}: {chats:#?}"));
        assert_eq!(r.provider.as_deref(), Some("openai"));
        assert_eq!(r.request_model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(r.response_model.as_deref(), Some("gpt-4o-mini-2024-08-06"));
        let want = ex.reply.usage().expect("the server sent usage");
        let got = r.usage.expect("usage");
        assert_eq!(
            (
                got.input_tokens,
                got.output_tokens,
                got.cache_read_input_tokens,
                got.reasoning_tokens
            ),
            (
                want.input_tokens,
                want.output_tokens,
                want.cache_read_input_tokens,
                want.reasoning_tokens
            ),
        );
        assert!(r.billable);
        assert!(
            r.input.is_some() && r.output.is_some(),
            "content recorded when asked"
        );
        if matches!(ex.reply, Reply::Sse { .. }) {
            let ttft = r
                .time_to_first_token_s
                .expect("time to first token on a stream");
            assert!(ttft >= 0.06 && ttft <= r.duration().as_secs_f64(), "{ttft}");
        } else {
            assert_eq!(r.time_to_first_token_s, None);
        }
    }
    assert!(tools
        .iter()
        .all(|t| t.tool.as_ref().and_then(|t| t.name.as_deref()) == Some("get_weather")));
    let emb = records
        .iter()
        .find(|r| r.kind == SpanKind::Embedding)
        .expect("an embedding span");
    assert_eq!(emb.parent_span_id, Some(request.span_id));
    // Billed once: the billable total is what the server reported, agent spans included or not.
    let sent = exchanges
        .iter()
        .filter_map(|e| e.reply.usage())
        .fold(Usage::default(), |a, b| a.add(&b));
    let billed = total_billable_usage(&records);
    assert_eq!(
        (billed.input_tokens, billed.output_tokens),
        (sent.input_tokens, sent.output_tokens)
    );
}

/// A server that opens each stream with the usual role-only chunk at once and sends the first token
/// 120 ms later: the time to first token is that first token's, not the first byte's.
#[test]
fn time_to_first_token_is_the_first_content_not_the_first_byte() {
    let server = OpenAiServer::fake_with(FakeModel {
        first_token: Duration::ZERO,
        gap: Duration::from_millis(120),
        ..FakeModel::default()
    });
    let openai = timed_openai!(server);
    let agent = AgentBuilder::new(openai.chat("gpt-4o-mini"))
        .name("weather-agent")
        .tool(Weather)
        .build();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let records = capture(|| {
        rt.block_on(
            async {
                let mut stream = agent.prompt("Weather in Oslo?").max_turns(3).stream();
                while let Some(item) = stream.next().await {
                    item.expect("a stream item");
                }
            }
            .instrument(aitrace_rig::agent_span!("weather-agent")),
        );
    });
    let streamed: Vec<&SpanRecord> = records
        .iter()
        .filter(|r| r.kind == SpanKind::ModelGeneration && r.billable)
        .collect();
    // A tool-call turn and the answer's turn.
    assert_eq!(streamed.len(), 2, "{records:#?}");
    for r in streamed {
        let ttft = r.time_to_first_token_s.expect("a time to first token");
        assert!(
            ttft >= 0.12,
            "the role-only chunk is not the first token: {ttft}"
        );
    }
}
