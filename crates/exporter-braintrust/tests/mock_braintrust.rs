//! The Braintrust exporter against a loopback mock of Braintrust's REST API that checks Bearer auth,
//! validates every event against the official OpenAPI schema of `InsertProjectLogsEvent`, and answers
//! `row_ids` like the server.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aitrace_braintrust::{BraintrustConfig, BraintrustExporter};
use aitrace_core::{
    agent_span, builder, chunk_span, embedding_span, generation_span, step_span, tool_span,
    AiSpanExt, ChatMessage, ExportConfig, Part, SpanRecord, Usage,
};
use aitrace_testkit::fixtures::{fallback_attempts, fast_export_config, CUT, EMBED, STEP0, STEP1};
use aitrace_testkit::{Backend, Response};
use serde_json::{json, Value};
use support::openapi;
use tracing_subscriber::layer::SubscriberExt;

const KEY: &str = "sk-bt-test";
const PROJECT_ID: &str = "8d7c5a1e-0000-4000-8000-000000000001";

#[derive(Default)]
struct Mock {
    events: Vec<Value>,
    project_calls: usize,
    insert_calls: usize,
    statuses: Vec<u16>,
    schema_errors: Vec<String>,
}

fn mock_braintrust(script: Vec<u16>) -> (String, Arc<Mutex<Mock>>) {
    let mock = Arc::new(Mutex::new(Mock::default()));
    let m = mock.clone();
    let spec = openapi::load_spec("braintrust-openapi.json");
    let script = Mutex::new(script.into_iter());
    let backend = Backend::start(move |req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let mut m = m.lock().unwrap();
        if req.header("authorization") != Some(&format!("Bearer {KEY}")) {
            m.statuses.push(401);
            return Response::json(401, r#"{"error":"Unauthorized"}"#);
        }
        if req.method == "POST" && req.path == "/v1/project" {
            m.project_calls += 1;
            if let Some(spec) = &spec {
                m.schema_errors
                    .extend(openapi::check(spec, "CreateProject", &body));
            }
            let answer = json!({"id": PROJECT_ID, "org_id": "org-1", "name": body["name"]});
            return Response::json(200, answer.to_string());
        }
        if !(req.method == "POST" && req.path == format!("/v1/project_logs/{PROJECT_ID}/insert")) {
            m.statuses.push(404);
            return Response::json(404, "{}");
        }
        m.insert_calls += 1;
        if let Some(status) = script.lock().unwrap().next().filter(|s| *s != 200) {
            m.statuses.push(status);
            return Response::json(status, r#"{"error":"try later"}"#)
                .with_header("retry-after", "0");
        }
        if let Some(spec) = &spec {
            m.schema_errors
                .extend(openapi::check(spec, "InsertProjectLogsEventRequest", &body));
        }
        let events = body["events"].as_array().cloned().unwrap_or_default();
        let ids: Vec<Value> = events.iter().map(|e| e["id"].clone()).collect();
        m.events.extend(events);
        Response::json(200, json!({ "row_ids": ids }).to_string())
    });
    (backend.url().to_string(), mock)
}

fn exporter(url: &str, key: &str) -> BraintrustExporter {
    let mut c = BraintrustConfig::new(key, "aitrace-tests");
    c.api_url = url.to_string();
    BraintrustExporter::new(c).unwrap()
}

fn fast() -> ExportConfig {
    fast_export_config()
}

/// An agent with a fallback, steps, streamed chunks and a tool.
fn agent_trace(exporter: BraintrustExporter) -> (Vec<SpanRecord>, aitrace_core::ShutdownReport) {
    let memory = aitrace_core::testing::TestExporter::new();
    let (layer, guard) = builder()
        .exporter_with_config(exporter, fast())
        .exporter(memory.clone())
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let agent = agent_span!("support-agent");
        agent.set_user("user-1");
        agent.add_tags(["prod"]);
        agent.set_input("Where is order #1042?");
        let _a = agent.enter();
        embedding_span!("openai", "text-embedding-3-small")
            .in_scope(|| tracing::Span::current().record_usage(EMBED));
        let gen = generation_span!("openai", "gpt-4o");
        // The final model call sees the whole conversation, tool call and result included.
        gen.set_input_messages(&[
            ChatMessage::user("Where is order #1042?"),
            ChatMessage::new(
                "assistant",
                vec![Part::tool_call(
                    "call_1",
                    "lookup_order",
                    json!({"order_id": "1042"}),
                )],
            ),
            ChatMessage::tool_result("call_1", json!({"status": "shipped"})),
        ]);
        gen.set_metadata("braintrust.experiment_note", "bt-only");
        // The app also exports to Langfuse (which registers its namespace): its keys stay there.
        aitrace_core::register_metadata_namespace("langfuse");
        gen.set_metadata("langfuse.promptName", "never-here");
        let _g = gen.enter();
        for (i, usage) in [STEP0, STEP1].into_iter().enumerate() {
            let step = step_span!(i as u64);
            step.set_input_messages(&[ChatMessage::user("Where is order #1042?")]);
            let _s = step.enter();
            fallback_attempts(&step, i == 0, || {
                for t in ["It ", "shipped."] {
                    chunk_span!().in_scope(|| tracing::Span::current().set_output(t));
                }
            });
            step.record_usage(usage);
            if i == 0 {
                tool_span!("lookup_order", gen_ai.tool.call.id = "call_1").in_scope(|| {
                    let t = tracing::Span::current();
                    t.record("gen_ai.tool.call.arguments", r#"{"order_id":"1042"}"#);
                    t.record("gen_ai.tool.call.result", r#"{"status":"shipped"}"#);
                    t.add_tags(["tools-used"]);
                });
            }
        }
        gen.set_output_messages(
            &[ChatMessage::assistant("It shipped.").with_finish_reason("stop")],
        );
        drop(_g);
        drop(gen);
        let cut = generation_span!("openai", "gpt-4o-mini");
        cut.record_usage(CUT);
    });
    let report = guard.shutdown(Duration::from_secs(20));
    (memory.spans(), report)
}

fn by_type<'a>(events: &'a [Value], ty: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["span_attributes"]["type"] == ty)
        .collect()
}

#[test]
fn a_full_agent_trace_lands_as_braintrust_expects() {
    let (url, mock) = mock_braintrust(vec![]);
    let (records, report) = agent_trace(exporter(&url, KEY));
    assert_eq!(report.lost, 0, "{report:?}");
    let m = mock.lock().unwrap();
    assert!(
        m.schema_errors.is_empty(),
        "schema violations: {:#?}",
        m.schema_errors
    );
    assert_eq!(
        m.project_calls, 1,
        "the project is resolved once and cached"
    );
    let events = &m.events;
    assert_eq!(events.len(), records.len());

    // Token sums over every row (Braintrust sums all non-score rows) equal the true usage.
    let sum = |k: &str| -> u64 { events.iter().filter_map(|e| e["metrics"][k].as_u64()).sum() };
    let truth = [STEP0, STEP1, CUT, EMBED]
        .iter()
        .fold(Usage::default(), |a, u| a.add(u));
    assert_eq!(truth, aitrace_core::testing::total_billable_usage(&records));
    assert_eq!(sum("prompt_tokens"), truth.input_tokens.unwrap());
    assert_eq!(sum("completion_tokens"), truth.output_tokens.unwrap());
    assert_eq!(sum("prompt_cached_tokens"), 128 + 384);
    assert_eq!(sum("completion_reasoning_tokens"), 5);

    // Types: one llm row per model call; nothing else can be summed as one.
    assert_eq!(
        by_type(events, "llm").len(),
        3,
        "generation, cut-off generation, embedding"
    );
    assert_eq!(by_type(events, "tool").len(), 1);
    assert_eq!(by_type(events, "task").len(), events.len() - 4);
    for e in by_type(events, "task") {
        assert!(
            e["metrics"].get("prompt_tokens").is_none(),
            "tokens on a task row: {e}"
        );
    }

    // The LLM row: answering model, OpenAI messages with the tool call and result, metadata routing.
    let gen = by_type(events, "llm")
        .into_iter()
        .find(|e| e["metadata"]["model"] == "claude-3-5-haiku")
        .unwrap();
    assert_eq!(gen["metadata"]["provider"], "anthropic");
    assert_eq!(
        gen["input"][1]["tool_calls"][0]["function"]["name"],
        "lookup_order"
    );
    assert_eq!(
        gen["input"][1]["tool_calls"][0]["function"]["arguments"],
        r#"{"order_id":"1042"}"#
    );
    assert_eq!(
        gen["input"][2],
        json!({"role": "tool", "tool_call_id": "call_1", "content": r#"{"status":"shipped"}"#})
    );
    assert_eq!(
        gen["output"],
        json!([{"role": "assistant", "content": "It shipped."}])
    );
    assert_eq!(gen["metadata"]["experiment_note"], "bt-only");
    assert!(gen["metadata"].get("promptName").is_none() && !gen.to_string().contains("never-here"));
    // A step row's messages are a chat too, as on the llm row (not the GenAI parts form).
    for step in events
        .iter()
        .filter(|e| e["span_attributes"]["name"] == "step")
    {
        assert_eq!(
            step["input"],
            json!([{"role": "user", "content": "Where is order #1042?"}]),
            "{step}"
        );
    }
    let tool = by_type(events, "tool")[0];
    assert_eq!(tool["input"], json!({"order_id": "1042"}));
    assert_eq!(tool["output"], json!({"status": "shipped"}));
    let failed = events.iter().find(|e| e.get("error").is_some()).unwrap();
    assert_eq!(failed["error"], "timeout: primary timed out");

    // Tree: one trace, parents present, tags merged onto the root row only.
    let root = events
        .iter()
        .find(|e| e.get("span_parents").is_none())
        .unwrap();
    assert_eq!(root["tags"], json!(["prod", "tools-used"]));
    assert_eq!(events.iter().filter(|e| e.get("tags").is_some()).count(), 1);
    let ids: Vec<&Value> = events.iter().map(|e| &e["span_id"]).collect();
    for e in events {
        assert_eq!(e["root_span_id"], root["root_span_id"]);
        assert_eq!(e["id"], e["span_id"]);
        if let Some(parents) = e["span_parents"].as_array() {
            assert!(ids.contains(&&parents[0]), "dangling parent in {e}");
        }
        assert!(e["metrics"]["end"].as_f64() >= e["metrics"]["start"].as_f64());
    }
}

#[test]
fn row_names_are_stable_across_runs() {
    let names = || {
        let (url, mock) = mock_braintrust(vec![]);
        agent_trace(exporter(&url, KEY));
        let mut n: Vec<String> = mock
            .lock()
            .unwrap()
            .events
            .iter()
            .map(|e| e["span_attributes"]["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let first = names();
    assert_eq!(first, names());
    // The root row names the trace, as Langfuse's trace is named: after the agent it ran.
    assert!(
        first.contains(&"support-agent".to_string()) && first.contains(&"step".to_string()),
        "{first:?}"
    );
}

#[test]
fn throttling_is_retried_and_a_bad_key_is_one_clear_error() {
    let (url, mock) = mock_braintrust(vec![429, 503]);
    let (records, report) = agent_trace(exporter(&url, KEY));
    let e = report.stats.exporter("braintrust").unwrap();
    assert_eq!(
        (e.retries, e.exported, e.dropped()),
        (2, records.len() as u64, 0),
        "{e:?}"
    );
    assert_eq!(mock.lock().unwrap().statuses, [429, 503]);

    let (url, mock) = mock_braintrust(vec![]);
    let (records, report) = agent_trace(exporter(&url, "sk-bt-wrong"));
    let e = report.stats.exporter("braintrust").unwrap();
    assert_eq!(
        (e.retries, e.exported, e.dropped_after_retries),
        (0, 0, records.len() as u64),
        "{e:?}"
    );
    assert!(e
        .last_error
        .as_deref()
        .unwrap()
        .contains("BRAINTRUST_API_KEY"));
    assert_eq!(mock.lock().unwrap().statuses, [401]);
}

#[test]
fn the_schema_check_rejects_what_braintrust_would() {
    let Some(spec) = openapi::load_spec("braintrust-openapi.json") else {
        return;
    };
    let good = json!({"id": "a", "span_attributes": {"type": "llm", "name": "x"}, "metrics": {"start": 1.5, "prompt_tokens": 3}, "created": "2026-11-23T08:00:00.000001Z"});
    assert!(openapi::check(&spec, "InsertProjectLogsEvent", &good).is_empty());
    for bad in [
        json!({"span_attributes": {"type": "bogus"}}),
        json!({"metrics": {"prompt_tokens": "12"}}),
        json!({"metrics": {"prompt_tokens": 1.5}}),
        json!({"tags": [1]}),
        json!({"created": "yesterday"}),
        json!({"scores": {"accuracy": 2.0}}),
        json!({"span_parents": "p"}),
    ] {
        assert!(
            !openapi::check(&spec, "InsertProjectLogsEvent", &bad).is_empty(),
            "{bad} accepted"
        );
    }
}

#[test]
fn a_continued_trace_keeps_its_remote_parent_on_the_root_row() {
    let (url, mock) = mock_braintrust(vec![]);
    let (layer, guard) = builder()
        .exporter_with_config(exporter(&url, KEY), fast())
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let agent = agent_span!("support-agent");
        agent
            .set_parent_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
        agent.in_scope(|| generation_span!("openai", "gpt-4o").in_scope(|| {}));
    });
    assert_eq!(guard.shutdown(Duration::from_secs(20)).lost, 0);
    let m = mock.lock().unwrap();
    let root = m
        .events
        .iter()
        .find(|e| e.get("span_parents").is_none())
        .unwrap();
    assert_eq!(root["root_span_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        root["metadata"]["remote_parent_span_id"],
        "00f067aa0ba902b7"
    );
    assert!(m.schema_errors.is_empty(), "{:#?}", m.schema_errors);
}
