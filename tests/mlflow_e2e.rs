//! End to end against a real MLflow server: `cargo xtask e2e` installs MLflow from PyPI, starts it on
//! loopback with a SQLite store, runs the quickstart with only `MLFLOW_TRACKING_URI` set (the MLflow
//! preset chosen by the environment), reads the traces back with MLflow's own Python client, then runs
//! this test on what it read and the JSONL file of the same run.
//!
//! Ignored in plain `cargo test` (it needs the server); `cargo xtask ci` runs it through
//! `cargo xtask e2e`.
#![cfg(feature = "presets")]

use aitrace::{SpanKind, SpanRecord};
use serde_json::Value;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set: run `cargo xtask e2e`"))
}

#[test]
#[ignore = "needs a running MLflow: run `cargo xtask e2e`"]
fn mlflow_stores_the_quickstart_trace_with_types_tokens_cost_and_identity() {
    let records: Vec<SpanRecord> =
        aitrace::jsonl::read_jsonl(&std::fs::read_to_string(env("AITRACE_E2E_JSONL")).unwrap())
            .unwrap();
    let traces: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(env("AITRACE_E2E_MLFLOW_TRACES")).unwrap())
            .unwrap();
    let trace_of = |r: &SpanRecord| {
        let id = format!("tr-{}", r.trace_id);
        traces
            .iter()
            .find(|t| t["trace_id"] == id)
            .unwrap_or_else(|| panic!("trace {id} missing in MLflow"))
    };
    let t = trace_of(&records[0]);
    let spans = t["spans"].as_array().unwrap();
    assert_eq!(spans.len(), records.len(), "MLflow stored every span");
    let span_of = |r: &SpanRecord| {
        spans
            .iter()
            .find(|s| s["span_id"] == r.span_id.to_string())
            .unwrap_or_else(|| panic!("{} missing in MLflow", r.name))
    };
    for r in &records {
        let s = span_of(r);
        let expected = aitrace::presets::mlflow::span_type(r);
        assert_eq!(s["span_type"], expected, "{}: type", r.name);
        assert_ne!(s["span_type"], "UNKNOWN", "{}", r.name);
    }
    // Trace tokens as MLflow sums them equal what was billed once.
    let truth = aitrace::testing::total_billable_usage(&records);
    assert_eq!(
        t["token_usage"]["input_tokens"].as_u64(),
        truth.input_tokens
    );
    assert_eq!(
        t["token_usage"]["output_tokens"].as_u64(),
        truth.output_tokens
    );
    // The chat span names the model that answered after the fallback, with its messages, and carries
    // aitrace's cost (MLflow's own price table would miss the cache discount).
    let generation = records
        .iter()
        .find(|r| r.kind == SpanKind::ModelGeneration)
        .unwrap();
    let g = span_of(generation);
    assert_eq!(g["span_type"], "CHAT_MODEL");
    assert_eq!(g["model"].as_str(), generation.model());
    assert!(g["has_inputs"].as_bool().unwrap() && g["has_outputs"].as_bool().unwrap());
    assert!(g["inputs"].to_string().contains("#1042"), "{}", g["inputs"]);
    let ours = generation.cost.as_ref().and_then(|c| c.total()).unwrap();
    let theirs = g["cost"]["total_cost"].as_f64().unwrap();
    assert!(
        (ours - theirs).abs() < 1e-12,
        "MLflow cost {theirs}, aitrace's {ours}"
    );
    // Previews and the user and session of the trace.
    assert!(t["request_preview"].as_str().unwrap().contains("#1042"));
    assert!(!t["response_preview"].as_str().unwrap().is_empty());
    let root = records.iter().find(|r| r.parent_span_id.is_none()).unwrap();
    assert_eq!(t["user"].as_str(), root.user_id.as_deref());
    assert_eq!(t["session"].as_str(), root.session_id.as_deref());
}

#[test]
#[ignore = "needs a running MLflow: run `cargo xtask e2e`"]
fn mlflow_stores_each_request_of_the_service_as_a_trace_with_its_user_and_session() {
    let records: Vec<SpanRecord> = aitrace::jsonl::read_jsonl(
        &std::fs::read_to_string(env("AITRACE_E2E_SERVICE_JSONL")).unwrap(),
    )
    .unwrap();
    let traces: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(env("AITRACE_E2E_MLFLOW_TRACES")).unwrap())
            .unwrap();
    let requests: Vec<&SpanRecord> = records
        .iter()
        .filter(|r| r.kind == SpanKind::Request)
        .collect();
    assert!(requests.len() >= 2, "the service serves several requests");
    for request in requests {
        let id = format!("tr-{}", request.trace_id);
        let t = traces
            .iter()
            .find(|t| t["trace_id"] == id)
            .unwrap_or_else(|| panic!("request trace {id} missing in MLflow"));
        let mine: Vec<&SpanRecord> = records
            .iter()
            .filter(|r| r.trace_id == request.trace_id)
            .collect();
        let spans = t["spans"].as_array().unwrap();
        assert_eq!(spans.len(), mine.len(), "{id}: every span stored");
        let root = spans.iter().find(|s| s["parent_id"].is_null()).unwrap();
        assert_eq!(
            root["span_id"],
            request.span_id.to_string(),
            "the request is the root"
        );
        assert_eq!(root["span_type"], "CHAIN");
        for r in &mine {
            let s = spans
                .iter()
                .find(|s| s["span_id"] == r.span_id.to_string())
                .unwrap();
            assert_eq!(
                s["span_type"],
                aitrace::presets::mlflow::span_type(r),
                "{}",
                r.name
            );
        }
        let truth = aitrace::testing::total_billable_usage(mine.iter().copied());
        assert_eq!(
            t["token_usage"]["input_tokens"].as_u64(),
            truth.input_tokens,
            "{id}"
        );
        assert_eq!(
            t["token_usage"]["output_tokens"].as_u64(),
            truth.output_tokens,
            "{id}"
        );
        assert_eq!(t["user"].as_str(), request.user_id.as_deref(), "{id}: user");
        assert_eq!(
            t["session"].as_str(),
            request.session_id.as_deref(),
            "{id}: session"
        );
    }
}

#[test]
#[ignore = "needs a running MLflow: run `cargo xtask e2e`"]
fn mlflow_shows_the_scores_as_assessments_on_the_judged_trace() {
    let text = std::fs::read_to_string(env("AITRACE_E2E_FEEDBACK_JSONL")).unwrap();
    let records = aitrace::jsonl::read_jsonl(&text).unwrap();
    let traces: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(env("AITRACE_E2E_MLFLOW_TRACES")).unwrap())
            .unwrap();
    let chat = records
        .iter()
        .find(|r| r.request_model.as_deref() == Some("gpt-4o-mini"))
        .expect("the answer");
    let judge = records
        .iter()
        .find(|r| r.kind == SpanKind::Evaluation)
        .expect("the evaluation");
    let id = format!("tr-{}", chat.trace_id);
    let t = traces
        .iter()
        .find(|t| t["trace_id"] == id)
        .unwrap_or_else(|| panic!("trace {id} missing in MLflow"));
    let spans = t["spans"].as_array().unwrap();
    assert_eq!(
        spans.len(),
        records
            .iter()
            .filter(|r| r.trace_id == chat.trace_id)
            .count(),
        "the judged trace holds its own spans only (no score spans, no judge)"
    );
    let assessments = t["assessments"].as_array().unwrap();
    let named = |n: &str| {
        assessments
            .iter()
            .find(|a| a["name"] == n)
            .unwrap_or_else(|| panic!("no assessment {n} in {assessments:?}"))
    };
    let chat_span = chat.span_id.to_string();
    let guard = named("names_the_order");
    assert_eq!(
        (&guard["span_id"], &guard["source_type"], &guard["value"]),
        (
            &Value::from(chat_span.as_str()),
            &Value::from("CODE"),
            &Value::from(true)
        )
    );
    let thumbs = named("user_feedback");
    assert!(thumbs["span_id"].is_null(), "about the whole trace");
    assert_eq!(thumbs["source_type"], "HUMAN");
    assert_eq!(thumbs["value"], false);
    assert_eq!(thumbs["rationale"], "I asked where it is, not when");
    let helpful = named("helpfulness");
    assert_eq!(helpful["span_id"], chat_span.as_str());
    assert_eq!(helpful["source_type"], "LLM_JUDGE");
    assert_eq!(helpful["value"], 0.6);
    assert_eq!(
        helpful["metadata"]["aitrace.evaluation_trace_id"],
        format!("tr-{}", judge.trace_id)
    );
    // The judge is a trace of its own, its tokens there.
    let judged = traces
        .iter()
        .find(|t| t["trace_id"] == format!("tr-{}", judge.trace_id))
        .expect("the evaluation's trace");
    assert_eq!(judged["token_usage"]["input_tokens"], 61);
    assert_eq!(t["token_usage"]["input_tokens"], 42);
}
