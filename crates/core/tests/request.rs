//! The request a trace runs in: recorded as the trace's root, and the reason a trace with several
//! top-level AI spans is never split.

use std::time::Duration;

use aitrace_core::testing::{capture, capture_async, SharedBuffer};
use aitrace_core::{builder, generation_span, tool_span, SpanKind, Status, Usage};
use tracing_subscriber::layer::SubscriberExt;

/// Two parentless AI calls of one request, the first closed long before the second: the console
/// prints one trace, released when the request closes, rooted at the request.
#[test]
fn two_top_level_calls_of_one_request_are_one_console_trace() {
    let out = SharedBuffer::default();
    let console = aitrace_core::ConsoleExporter::to_writer(out.clone(), false);
    let (layer, guard) = builder()
        .exporter(console)
        .trace_max_age(Duration::from_secs(60))
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let request = tracing::info_span!("handle_request", method = "POST", uri = "/chat");
        request.set_user("ada");
        request.add_tags(["web"]);
        request.in_scope(|| {
            generation_span!("openai", "gpt-4o-mini").record_usage(Usage::new(3, 1));
            // Long enough for the console's batch age to pass between the two calls.
            std::thread::sleep(Duration::from_millis(400));
            generation_span!("openai", "gpt-4o").record_usage(Usage::new(5, 2));
        });
    });
    guard.shutdown(Duration::from_secs(10));
    let text = out.text();
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("trace ")).collect();
    assert_eq!(headers.len(), 1, "{text}");
    assert!(
        headers[0].contains("user ada") && headers[0].contains("tags web"),
        "{text}"
    );
    assert!(headers[0].contains("tokens 8 in / 3 out"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].starts_with("request handle_request  POST /chat"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("├─ model_generation") && lines[3].starts_with("└─ model_generation"),
        "{text}"
    );
}

use aitrace_core::AiSpanExt;

#[test]
fn tool_spans_that_return_are_ok_and_a_panicking_tool_is_an_error() {
    let spans = capture(|| {
        tool_span!("lookup").in_scope(|| {});
        let failed = tool_span!("fails");
        failed.set_error("not_found", "no such order");
        drop(failed);
        let _ = std::panic::catch_unwind(|| {
            let _t = tool_span!("panics").entered();
            panic!("boom");
        });
    });
    let status = |tool: &str| {
        spans
            .iter()
            .find(|s| s.tool.as_ref().and_then(|t| t.name.as_deref()) == Some(tool))
            .map(|s| s.status.clone())
            .unwrap()
    };
    assert_eq!(status("lookup"), Status::Ok);
    assert!(
        matches!(status("fails"), Status::Error { error_type: Some(t), .. } if t == "not_found")
    );
    assert!(matches!(status("panics"), Status::Error { error_type: Some(t), .. } if t == "panic"));
}

/// `capture_async` follows the future across `.await`s and the threads of a multi-threaded runtime.
#[test]
fn capture_async_records_spans_across_awaits_and_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let spans = runtime.block_on(capture_async(async {
        let request = tracing::info_span!("job");
        let _ = async {
            for _ in 0..3 {
                let chat = generation_span!("openai", "gpt-4o-mini");
                async {
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                .instrument(chat)
                .await;
            }
        }
        .instrument(request)
        .await;
    }));
    let chats = spans
        .iter()
        .filter(|s| s.kind == SpanKind::ModelGeneration)
        .count();
    assert_eq!(chats, 3, "{spans:#?}");
    let job = spans.iter().find(|s| s.kind == SpanKind::Request).unwrap();
    assert!(spans.iter().all(|s| s.trace_id == job.trace_id));
}

use tracing::Instrument;

/// Two AI spans with nothing above them, put in one trace (`set_trace_id`, as a job runner that
/// names its trace does) and open at once: one trace, released when the last of them closes.
#[test]
fn roots_of_one_trace_open_at_once_are_one_trace() {
    let out = SharedBuffer::default();
    let (layer, guard) = builder()
        .exporter(aitrace_core::ConsoleExporter::to_writer(out.clone(), false))
        .build_layer()
        .unwrap();
    let trace = aitrace_core::TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let first = aitrace_core::agent_span!("planner");
        first.set_trace_id(trace);
        let second = aitrace_core::agent_span!("writer");
        second.set_trace_id(trace);
        drop(first);
        // Past the console's batch age: the first root's trace would have gone out alone.
        std::thread::sleep(Duration::from_millis(400));
        drop(second);
    });
    guard.shutdown(Duration::from_secs(10));
    let text = out.text();
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("trace ")).collect();
    assert_eq!(headers.len(), 1, "{text}");
    assert!(
        headers[0].contains("2 spans") && headers[0].contains(&trace.to_string()),
        "{text}"
    );
}

/// A job's request record keeps the job's own fields; only HTTP-looking ones are renamed.
#[test]
fn a_job_span_is_a_request_record_without_http() {
    let spans = capture(|| {
        let job = tracing::info_span!("nightly_report", status = "done", customer = "acme");
        job.in_scope(|| generation_span!("openai", "gpt-4o-mini").in_scope(|| {}));
    });
    let job = spans.iter().find(|s| s.kind == SpanKind::Request).unwrap();
    assert_eq!(job.name, "nightly_report");
    assert_eq!(job.attributes["status"], "done");
    assert_eq!(job.attributes["customer"], "acme");
    assert!(!job.attributes.contains_key("http.response.status_code"));
    assert!(
        !job.attributes.contains_key("otel.kind"),
        "not an HTTP server span"
    );
    assert_eq!(job.status, Status::Unset);
}
