//! With `tracing-opentelemetry` in the same subscriber, aitrace records carry the OTel trace and span
//! ids, whichever order the two layers were added in.
#![cfg(feature = "tracing-opentelemetry")]

use std::collections::HashMap;
use std::time::Duration;

use aitrace_core::testing::TestExporter;
use aitrace_core::{agent_span, builder, generation_span, tool_span, SpanRecord};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;

fn otel() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn workload() {
    let _http = tracing::info_span!("http_request").entered();
    let agent = agent_span!("planner");
    let _a = agent.enter();
    generation_span!("openai", "gpt-4o").in_scope(|| {
        let _plain = tracing::info_span!("plain").entered();
        tool_span!("search").in_scope(|| {});
    });
    // Never entered: ids are read when it closes (or kept as ours if the OTel data is gone).
    drop(tracing::info_span!(
        "never_entered",
        aitrace.kind = "tool_call"
    ));
}

fn check(ours: Vec<SpanRecord>, theirs: &InMemorySpanExporter, never_entered_matches: bool) {
    let otel_spans = theirs.get_finished_spans().unwrap();
    let by_name: HashMap<String, (String, String, String)> = otel_spans
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                (
                    s.span_context.trace_id().to_string(),
                    s.span_context.span_id().to_string(),
                    s.parent_span_id.to_string(),
                ),
            )
        })
        .collect();
    let ours: HashMap<&str, &SpanRecord> = ours.iter().map(|s| (s.name.as_str(), s)).collect();
    let http_trace = &by_name["http_request"].0;
    for name in ["invoke_agent", "chat", "execute_tool"] {
        let (trace, span, _) = &by_name[name];
        let r = ours[name];
        assert_eq!(&r.trace_id.to_string(), trace, "{name}: trace id");
        assert_eq!(&r.span_id.to_string(), span, "{name}: span id");
        assert_eq!(
            trace, http_trace,
            "{name} joined the OTel trace of the enclosing request"
        );
    }
    // The top-level AI span hangs under the request span tracing-opentelemetry exports (a parent
    // aitrace does not record, so marked remote: a local root for aitrace's exporters).
    let agent = ours["invoke_agent"];
    assert_eq!(
        agent.parent_span_id.map(|p| p.to_string()),
        Some(by_name["http_request"].1.clone())
    );
    assert!(agent.parent_is_remote && agent.is_local_root());
    assert_eq!(agent.trace_name.as_deref(), Some("http_request"));
    // Our parent links (nearest AI ancestor) use the OTel ids too.
    assert_eq!(
        ours["chat"].parent_span_id,
        Some(ours["invoke_agent"].span_id)
    );
    assert_eq!(
        ours["execute_tool"].parent_span_id,
        Some(ours["chat"].span_id)
    );
    let never = ours["never_entered"];
    assert_eq!(never.trace_id, ours["invoke_agent"].trace_id);
    assert_eq!(never.parent_span_id, Some(ours["invoke_agent"].span_id));
    if never_entered_matches {
        assert_eq!(never.span_id.to_string(), by_name["never_entered"].1);
    }
}

#[test]
fn ids_match_when_the_otel_layer_is_added_first() {
    let (provider, theirs) = otel();
    let ours = TestExporter::new();
    let (ai, guard) = builder().exporter(ours.clone()).build_layer().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(ai);
    aitrace_core::testing::with_default(subscriber, workload);
    guard.shutdown(Duration::from_secs(10));
    provider.force_flush().unwrap();
    // The OTel layer (inner) closes a never-entered span before ours sees it: that one keeps our id.
    check(ours.spans(), &theirs, false);
}

#[test]
fn ids_match_when_the_aitrace_layer_is_added_first() {
    let (provider, theirs) = otel();
    let ours = TestExporter::new();
    let (ai, guard) = builder().exporter(ours.clone()).build_layer().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(ai)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    aitrace_core::testing::with_default(subscriber, workload);
    guard.shutdown(Duration::from_secs(10));
    provider.force_flush().unwrap();
    check(ours.spans(), &theirs, true);
}
