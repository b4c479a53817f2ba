//! End to end against a real OpenTelemetry backend, Arize Phoenix: `cargo xtask e2e` installs Phoenix
//! from PyPI, starts it on loopback, runs the quickstart with `--features otel` pointed at it, then runs
//! this test, which compares what Phoenix stored with the JSONL file the same quickstart run wrote.
//!
//! Ignored in plain `cargo test` (it needs the running Phoenix); `cargo xtask ci` runs it through
//! `cargo xtask e2e`.
#![cfg(feature = "otel")]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aitrace::otel::openinference_kind;
use aitrace::{SpanKind, SpanRecord};
use serde_json::Value;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set: run `cargo xtask e2e`"))
}

/// A plain HTTP/1.1 GET on loopback (the test needs nothing more than this). `None` on 404.
fn get_json(base: &str, path: &str) -> Option<Value> {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).expect("connect to Phoenix");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    if head.starts_with("HTTP/1.1 404") {
        return None;
    }
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some(serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}")))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size");
        let n = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
}

fn phoenix_spans(base: &str, project: &str, want: usize) -> Vec<Value> {
    // Phoenix ingests asynchronously (the project itself appears with the first span): poll until
    // every span arrived.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let page = get_json(base, &format!("/v1/projects/{project}/spans?limit=1000"));
        let spans = page
            .and_then(|p| p["data"].as_array().cloned())
            .unwrap_or_default();
        if spans.len() >= want || Instant::now() > deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[ignore = "needs a running Phoenix: run `cargo xtask e2e`"]
fn phoenix_stores_the_quickstart_trace_as_we_recorded_it() {
    let base = env("AITRACE_E2E_PHOENIX_URL");
    let project = env("AITRACE_E2E_PROJECT");
    let records: Vec<SpanRecord> =
        aitrace::jsonl::read_jsonl(&std::fs::read_to_string(env("AITRACE_E2E_JSONL")).unwrap())
            .unwrap();
    assert!(
        records.len() >= 10,
        "the quickstart trace has every kind of span"
    );
    let spans = phoenix_spans(&base, &project, records.len());
    assert_eq!(
        spans.len(),
        records.len(),
        "Phoenix stored every span, no more"
    );
    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .map(|s| (s["context"]["span_id"].as_str().unwrap(), s))
        .collect();

    // `transition` (both names where the conventions renamed one) or `latest` (current names only).
    let mode = env("AITRACE_E2E_SEMCONV");
    let mut phoenix_prompt_tokens = 0;
    let mut phoenix_completion_tokens = 0;
    let mut phoenix_cache_read_tokens = 0;
    for r in &records {
        let id = r.span_id.to_string();
        let s = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("span {id} ({}) missing in Phoenix", r.name));
        let a = &s["attributes"];
        assert_eq!(
            s["context"]["trace_id"],
            r.trace_id.to_string(),
            "{}",
            r.name
        );
        assert_eq!(
            s["parent_id"].as_str(),
            r.parent_span_id.map(|p| p.to_string()).as_deref(),
            "{}: parent",
            r.name
        );
        assert_eq!(
            s["span_kind"],
            openinference_kind(r),
            "{}: span kind",
            r.name
        );
        assert_eq!(a["aitrace.span.kind"], r.kind.as_str());
        if let Some(model) = r.model() {
            let key = if r.kind == SpanKind::Embedding {
                "embedding.model_name"
            } else {
                "llm.model_name"
            };
            assert_eq!(a[key], model, "{}: model", r.name);
        }
        match r.billable_usage() {
            Some(u) => {
                assert_eq!(
                    a["llm.token_count.prompt"].as_u64(),
                    u.input_tokens,
                    "{}",
                    r.name
                );
                assert_eq!(
                    a["llm.token_count.completion"].as_u64(),
                    u.output_tokens,
                    "{}",
                    r.name
                );
                assert_eq!(
                    a["llm.token_count.prompt_details.cache_read"].as_u64(),
                    u.cache_read_input_tokens,
                    "{}: cached tokens",
                    r.name
                );
                assert_eq!(
                    a["gen_ai.usage.cache_read.input_tokens"].as_u64(),
                    u.cache_read_input_tokens,
                    "{}",
                    r.name
                );
                phoenix_prompt_tokens += a["llm.token_count.prompt"].as_u64().unwrap_or(0);
                phoenix_completion_tokens += a["llm.token_count.completion"].as_u64().unwrap_or(0);
                phoenix_cache_read_tokens += a["llm.token_count.prompt_details.cache_read"]
                    .as_u64()
                    .unwrap_or(0);
            }
            None => assert!(
                a.get("llm.token_count.prompt").is_none(),
                "{}: usage on a non-billable span",
                r.name
            ),
        }
        assert_eq!(
            s["status_code"] == "ERROR",
            r.status.is_error(),
            "{}: status",
            r.name
        );
        // The v1.41 names only in the transition mode.
        let previous = a.get("gen_ai.usage.cache_creation.input_tokens").is_some()
            || (r.kind == SpanKind::Retrieval && a.get("gen_ai.request.top_k").is_some());
        if mode == "latest" {
            assert!(!previous, "{}: a v1.41 name in the latest mode", r.name);
        }
    }
    // Totals in Phoenix equal the usage billed once in our own records.
    let truth = aitrace::testing::total_billable_usage(&records);
    assert_eq!(Some(phoenix_prompt_tokens), truth.input_tokens);
    assert_eq!(Some(phoenix_completion_tokens), truth.output_tokens);
    assert_eq!(
        Some(phoenix_cache_read_tokens),
        truth.cache_read_input_tokens
    );

    // The retrieval is a RETRIEVER span with its query and data source.
    let retrieval = records
        .iter()
        .find(|r| r.kind == SpanKind::Retrieval)
        .expect("the quickstart retrieves");
    let s = &by_id[retrieval.span_id.to_string().as_str()];
    assert_eq!(s["span_kind"], "RETRIEVER");
    assert_eq!(s["name"], "retrieval kb-orders");
    assert!(s["attributes"]["gen_ai.retrieval.query.text"].is_string());
    assert_eq!(s["attributes"]["gen_ai.data_source.id"], "kb-orders");
    // Its top k under the current name; the v1.41 one in the transition mode only.
    assert_eq!(s["attributes"]["gen_ai.retrieval.top_k"], 3);
    assert_eq!(
        s["attributes"].get("gen_ai.request.top_k").is_some(),
        mode == "transition",
        "{mode}"
    );

    // The generation names the model that answered after the fallback, and its messages render.
    let generation = records
        .iter()
        .find(|r| r.kind == SpanKind::ModelGeneration)
        .unwrap();
    let attempts: Vec<&SpanRecord> = records
        .iter()
        .filter(|r| r.kind == SpanKind::FallbackAttempt)
        .collect();
    let answered = attempts
        .iter()
        .rev()
        .find(|a| !a.status.is_error())
        .unwrap();
    assert_eq!(generation.model(), answered.model());
    assert!(attempts
        .iter()
        .any(|a| a.status.is_error() && a.model() != generation.model()));
    let g = &by_id[generation.span_id.to_string().as_str()]["attributes"];
    assert_eq!(g["llm.model_name"].as_str(), answered.model());
    assert_eq!(g["llm.input_messages.1.message.role"], "user");
    assert!(g["llm.input_messages.1.message.content"]
        .as_str()
        .unwrap()
        .contains("#1042"));
    assert_eq!(g["llm.output_messages.0.message.role"], "assistant");
    assert!(!g["llm.output_messages.0.message.content"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(g["gen_ai.operation.name"], "chat");
    let tool = records
        .iter()
        .find(|r| r.kind == SpanKind::ToolCall)
        .unwrap();
    let t = &by_id[tool.span_id.to_string().as_str()]["attributes"];
    assert_eq!(t["tool.name"], "lookup_order");
}

/// Phoenix's annotations of one kind (`span`, `trace`, `session`) for these ids, polled until `want`
/// arrived (Phoenix inserts annotations asynchronously, after their spans).
fn phoenix_annotations(
    base: &str,
    project: &str,
    kind: &str,
    ids: &[String],
    want: usize,
) -> Vec<Value> {
    let query: Vec<String> = ids.iter().map(|id| format!("{kind}_ids={id}")).collect();
    let path = format!(
        "/v1/projects/{project}/{kind}_annotations?{}&limit=100",
        query.join("&")
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let found = get_json(base, &path)
            .and_then(|p| p["data"].as_array().cloned())
            .unwrap_or_default();
        if found.len() >= want || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[ignore = "needs a running Phoenix: run `cargo xtask e2e`"]
fn phoenix_shows_the_scores_as_annotations_on_the_right_spans() {
    let base = env("AITRACE_E2E_PHOENIX_URL");
    let project = env("AITRACE_E2E_PROJECT");
    let text = std::fs::read_to_string(env("AITRACE_E2E_JSONL")).unwrap();
    let records = aitrace::jsonl::read_jsonl(&text).unwrap();
    let sent = aitrace::jsonl::read_jsonl_scores(&text).unwrap();
    let chat = records
        .iter()
        .find(|r| r.request_model.as_deref() == Some("gpt-4o-mini"))
        .expect("the answer");
    // The recorded spans, plus one zero-duration span per score sent later.
    let spans = phoenix_spans(&base, &project, records.len() + sent.len());
    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .filter_map(|s| Some((s["context"]["span_id"].as_str()?, s)))
        .collect();
    for s in &sent {
        let id = aitrace::otel::scores::score_span_id(s).to_string();
        let span = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("score span {id}"));
        assert_eq!(span["name"], "gen_ai.evaluation.result");
        assert_eq!(span["attributes"]["gen_ai.evaluation.name"], s.score.name);
    }
    // On the answer: the guardrail's verdict (recorded inline) and the judge's (sent later).
    let on_chat = phoenix_annotations(&base, &project, "span", &[chat.span_id.to_string()], 2);
    let named = |list: &[Value], n: &str| {
        list.iter()
            .find(|a| a["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no annotation {n} in {list:?}"))
    };
    let guard = named(&on_chat, "names_the_order");
    assert_eq!(guard["annotator_kind"], "CODE");
    assert_eq!(guard["result"]["score"], 1.0);
    assert_eq!(guard["result"]["label"], "true");
    assert_eq!(guard["identifier"], chat.scores[0].id);
    let judge = named(&on_chat, "helpfulness");
    assert_eq!(judge["annotator_kind"], "LLM");
    assert_eq!(judge["result"]["score"], 0.6);
    assert_eq!(judge["result"]["explanation"], "says when, not where");
    // On the whole trace: the user's thumbs-down from the second request.
    let on_trace = phoenix_annotations(&base, &project, "trace", &[chat.trace_id.to_string()], 1);
    let thumbs = named(&on_trace, "user_feedback");
    assert_eq!(thumbs["annotator_kind"], "HUMAN");
    assert_eq!(thumbs["result"]["score"], 0.0);
    assert_eq!(
        thumbs["result"]["explanation"],
        "I asked where it is, not when"
    );
    assert_eq!(thumbs["trace_id"], chat.trace_id.to_string());
}
