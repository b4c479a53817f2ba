//! One request, one trace: AI calls made inside an application's own request span (an HTTP handler's
//! `info_span!("handle_request")`) form one trace per request in every exporter, with the user and the
//! incoming `traceparent` set once on the request span, while a second request runs on another thread.
#![cfg(all(feature = "otel", feature = "langfuse", feature = "braintrust"))]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use aitrace::{
    agent_span, generation_span, step_span, tool_span, AiSpanExt, ExportConfig, SpanRecord,
    TraceParent, Usage,
};
use aitrace_testkit::{Fault, FaultServer};
use prost::Message;
use tracing_subscriber::layer::SubscriberExt;

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A handler: two generations called directly, then an agent whose generation runs two steps, the
/// first calling a tool.
fn handle_request(user: &str, traceparent: Option<&str>, start: &Barrier) {
    let request = tracing::info_span!("handle_request", path = "/chat");
    assert!(request.set_user(user));
    if let Some(header) = traceparent {
        request.set_parent_traceparent(header).unwrap();
    }
    let _r = request.enter();
    start.wait();
    let _db = tracing::info_span!("load_history").entered();
    generation_span!("openai", "gpt-4o-mini", aitrace.name = "classify")
        .record_usage(Usage::new(30, 2));
    generation_span!("openai", "gpt-4o-mini", aitrace.name = "rewrite")
        .record_usage(Usage::new(40, 5));
    let agent = agent_span!("support");
    agent.in_scope(|| {
        let chat = generation_span!("openai", "gpt-4o");
        chat.in_scope(|| {
            step_span!(0u32).in_scope(|| {
                tracing::Span::current().record_usage(Usage::new(100, 10));
                let _helper = tracing::info_span!("http_client").entered();
                tool_span!("lookup_order").in_scope(|| {});
            });
            step_span!(1u32).in_scope(|| {
                tracing::Span::current().record_usage(Usage::new(120, 12));
            });
        });
    });
}

/// What one exporter showed of one span: trace, parent, user, trace name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    trace: String,
    parent: Option<String>,
    user: Option<String>,
}

impl Seen {
    /// What a record says, the remote parent left out when the exporter shows none.
    fn of(r: &SpanRecord, drop_remote_parent: bool) -> Self {
        let parent = r
            .parent_span_id
            .filter(|_| !(drop_remote_parent && r.parent_is_remote));
        Seen {
            trace: r.trace_id.to_string(),
            parent: parent.map(|p| p.to_string()),
            user: r.user_id.clone(),
        }
    }
}

/// Span id -> what was seen, dropping whatever else a backend's reader kept beside it.
fn seen_only<T>(spans: &BTreeMap<String, (Seen, T)>) -> BTreeMap<String, Seen> {
    spans
        .iter()
        .map(|(k, (s, _))| (k.clone(), s.clone()))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Span id -> what an OTLP backend received, plus each span's string attributes.
fn otlp_spans(server: &FaultServer) -> BTreeMap<String, (Seen, BTreeMap<String, String>)> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let mut out = BTreeMap::new();
    for r in server.requests() {
        let req = ExportTraceServiceRequest::decode(r.plain_body().as_slice()).unwrap();
        for span in req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            let attrs: BTreeMap<String, String> = span
                .attributes
                .iter()
                .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
                    _ => None,
                })
                .collect();
            let seen = Seen {
                trace: hex(&span.trace_id),
                parent: (!span.parent_span_id.is_empty()).then(|| hex(&span.parent_span_id)),
                user: attrs.get("user.id").cloned(),
            };
            let previous = out.insert(hex(&span.span_id), (seen, attrs));
            assert!(previous.is_none(), "span {} sent twice", hex(&span.span_id));
        }
    }
    out
}

fn braintrust_rows(server: &FaultServer) -> BTreeMap<String, (Seen, serde_json::Value)> {
    let mut out = BTreeMap::new();
    for r in server.requests() {
        if !r.path.contains("/insert") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        for row in v["events"].as_array().unwrap() {
            let parents = row["span_parents"].as_array();
            let seen = Seen {
                trace: row["root_span_id"].as_str().unwrap().to_string(),
                parent: parents
                    .and_then(|p| p.first())
                    .map(|p| p.as_str().unwrap().to_string()),
                user: row["metadata"]["user_id"].as_str().map(str::to_string),
            };
            out.insert(
                row["span_id"].as_str().unwrap().to_string(),
                (seen, row.clone()),
            );
        }
    }
    out
}

#[test]
fn each_request_is_one_trace_in_every_exporter() {
    let (otlp, langfuse, braintrust) = (
        FaultServer::start(vec![], Fault::Ok, aitrace_testkit::vendor_answer),
        FaultServer::start(vec![], Fault::Ok, aitrace_testkit::vendor_answer),
        FaultServer::start(vec![], Fault::Ok, aitrace_testkit::vendor_answer),
    );
    let jsonl_path = std::env::temp_dir().join(format!(
        "aitrace-request-trace-{}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&jsonl_path);
    let memory = aitrace::testing::TestExporter::new();
    let mut lf = aitrace::langfuse::LangfuseConfig::new("pk-lf-test", "sk-lf-test");
    lf.base_url = langfuse.url().to_string();
    let mut bt = aitrace::braintrust::BraintrustConfig::new("bt-key", "tests");
    bt.api_url = braintrust.url().to_string();
    bt.project = aitrace::braintrust::ProjectRef::Id("p-1".into());
    let config = ExportConfig::default().with_max_batch_age(Duration::from_millis(20));
    let (layer, guard) = aitrace::builder()
        .jsonl(&jsonl_path)
        .exporter(memory.clone())
        .exporter_with_config(
            aitrace::otel::OtelExporter::builder()
                .endpoint(format!("{}/v1/traces", otlp.url()))
                .build()
                .unwrap(),
            config.clone(),
        )
        .exporter_with_config(
            aitrace::langfuse::LangfuseExporter::new(lf).unwrap(),
            config.clone(),
        )
        .exporter_with_config(
            aitrace::braintrust::BraintrustExporter::new(bt).unwrap(),
            config,
        )
        .build_layer()
        .unwrap();
    // The application's own subscriber: a fmt layer at INFO beside aitrace's layer.
    aitrace::testing::isolate_thread_local_subscribers();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
            .with(layer),
    );
    let start = Arc::new(Barrier::new(2));
    let requests: Vec<_> = [("user-a", Some(INCOMING)), ("user-b", None)]
        .into_iter()
        .map(|(user, traceparent)| {
            let (dispatch, start) = (dispatch.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    handle_request(user, traceparent, &start)
                })
            })
        })
        .collect();
    for r in requests {
        r.join().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(30));
    assert!(report.completed && report.lost == 0, "{report:?}");

    // The truth, from the in-memory exporter.
    let spans = memory.spans();
    assert_eq!(spans.len(), 16, "7 AI spans and the request, per request");
    let traces: BTreeSet<_> = spans.iter().map(|s| s.trace_id).collect();
    assert_eq!(traces.len(), 2, "one trace per request: {spans:#?}");
    let incoming = TraceParent::parse(INCOMING).unwrap();
    let by_id: BTreeMap<String, &SpanRecord> =
        spans.iter().map(|s| (s.span_id.to_string(), s)).collect();
    for user in ["user-a", "user-b"] {
        let mine: Vec<&SpanRecord> = spans
            .iter()
            .filter(|s| s.user_id.as_deref() == Some(user))
            .collect();
        assert_eq!(mine.len(), 8, "{user}: every span carries the user");
        let request = *mine
            .iter()
            .find(|s| s.kind == aitrace::SpanKind::Request)
            .expect("the request record");
        assert_eq!(request.name, "handle_request");
        assert_eq!(request.attributes["url.path"], "/chat");
        assert!(request.is_local_root());
        let mine: Vec<&SpanRecord> = mine
            .into_iter()
            .filter(|s| s.kind != aitrace::SpanKind::Request)
            .collect();
        let trace = mine[0].trace_id;
        assert!(mine.iter().all(|s| s.trace_id == trace), "{user}");
        assert!(
            mine.iter()
                .all(|s| s.trace_name.as_deref() == Some("handle_request")),
            "{user}: the trace is named after the request"
        );
        let top: BTreeSet<&str> = mine
            .iter()
            .filter(|s| s.parent_span_id == Some(request.span_id))
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            top,
            BTreeSet::from(["classify", "rewrite", "invoke_agent"]),
            "{user}: the AI spans with no AI ancestor are the trace's top-level spans"
        );
        if user == "user-a" {
            assert_eq!(trace, incoming.trace_id, "the incoming traceparent's trace");
            assert_eq!(request.parent_span_id, Some(incoming.parent_span_id));
            assert!(request.parent_is_remote);
        } else {
            assert_eq!(
                request.parent_span_id, None,
                "no parent that is never exported"
            );
        }
        for s in mine
            .iter()
            .filter(|s| s.parent_span_id != Some(request.span_id))
        {
            let parent = by_id[&s.parent_span_id.unwrap().to_string()];
            assert_eq!(parent.trace_id, trace);
            let expected = match s.name.as_str() {
                "chat" => "invoke_agent",
                "step" => "chat",
                "execute_tool" => "step",
                other => panic!("unexpected child {other}"),
            };
            assert_eq!(parent.name, expected, "{user}: parent of {}", s.name);
        }
        // Billed once per model call: 30+2, 40+5, and the agent's generation as its steps' sum.
        assert_eq!(memory.total_billable_usage(trace), Usage::new(290, 29));
    }

    // What each exporter shows must be that truth: with the request records for the exporters
    // that receive them; without, the top-level spans parented as the request was, for the others.
    let expected = |drop_remote_parent: bool| -> BTreeMap<String, Seen> {
        spans
            .iter()
            .map(|s| (s.span_id.to_string(), Seen::of(s, drop_remote_parent)))
            .collect()
    };
    let without_requests = |drop_remote_parent: bool| -> BTreeMap<String, Seen> {
        spans
            .iter()
            .filter(|s| s.kind != aitrace::SpanKind::Request)
            .map(|s| {
                let mut s = s.clone();
                if let Some(request) = spans.iter().find(|r| {
                    Some(r.span_id) == s.parent_span_id && r.kind == aitrace::SpanKind::Request
                }) {
                    s.parent_span_id = request.parent_span_id;
                    s.parent_is_remote = request.parent_is_remote;
                }
                (s.span_id.to_string(), Seen::of(&s, drop_remote_parent))
            })
            .collect()
    };
    let jsonl: BTreeMap<String, Seen> = std::fs::read_to_string(&jsonl_path)
        .unwrap()
        .lines()
        .map(|line| {
            let r: SpanRecord = serde_json::from_str(line).unwrap();
            assert_eq!(r.trace_name.as_deref(), Some("handle_request"));
            (r.span_id.to_string(), Seen::of(&r, false))
        })
        .collect();
    let _ = std::fs::remove_file(&jsonl_path);
    assert_eq!(jsonl, expected(false), "jsonl");

    assert_eq!(seen_only(&otlp_spans(&otlp)), expected(false), "otel");

    let lf = otlp_spans(&langfuse);
    assert_eq!(seen_only(&lf), without_requests(false), "langfuse");
    for (id, (_, attrs)) in &lf {
        assert_eq!(
            attrs.get("langfuse.trace.name").map(String::as_str),
            Some("handle_request"),
            "langfuse span {id}: {attrs:?}"
        );
    }

    // Braintrust links rows within a trace; a remote parent is not a row, so it is left out.
    assert_eq!(
        seen_only(&braintrust_rows(&braintrust)),
        without_requests(true),
        "braintrust"
    );
}
