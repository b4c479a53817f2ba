//! The OTLP/HTTP path against a mock collector on loopback that decodes the protobuf body as a real
//! collector does, and answers with scripted statuses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aitrace_core::{builder, generation_span, tool_span, AiSpanExt, ExportConfig, Usage};
use aitrace_otel::OtelExporter;
use aitrace_testkit::fixtures::fast_export_config;
use aitrace_testkit::{Backend, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Default)]
struct Received {
    requests: Vec<(String, ExportTraceServiceRequest)>,
}

/// Serves `statuses` in order (then 200s), recording each decoded request with its headers.
fn mock_collector(statuses: Vec<u16>) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let seen = received.clone();
    let statuses = Mutex::new(statuses.into_iter());
    let backend = Backend::start(move |req| {
        let request =
            ExportTraceServiceRequest::decode(req.body.as_slice()).expect("valid OTLP protobuf");
        let head: String = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        seen.lock().unwrap().requests.push((head, request));
        Response::empty(statuses.lock().unwrap().next().unwrap_or(200))
    });
    (format!("{}/v1/traces", backend.url()), received)
}

fn config() -> ExportConfig {
    fast_export_config()
}

fn run(url: &str) -> aitrace_core::ShutdownReport {
    let exporter = OtelExporter::builder()
        .endpoint(url)
        .header("x-api-key", "secret-for-test")
        .resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("otlp-test")
                .build(),
        )
        .build()
        .unwrap();
    let (layer, guard) = builder()
        .exporter_with_config(exporter, config())
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let g = generation_span!("openai", "gpt-4o");
        g.record_usage(Usage::new(10, 2));
        g.in_scope(|| tool_span!("t").in_scope(|| {}));
    });
    guard.shutdown(Duration::from_secs(20))
}

#[test]
fn spans_arrive_as_valid_otlp_with_headers_and_resource() {
    let (url, received) = mock_collector(vec![]);
    let report = run(&url);
    assert_eq!(report.lost, 0, "{report:?}");
    let got = received.lock().unwrap();
    assert_eq!(got.requests.len(), 1);
    let (head, req) = &got.requests[0];
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-protobuf"),
        "{head}"
    );
    assert!(head.contains("x-api-key: secret-for-test"), "{head}");
    let rs = &req.resource_spans[0];
    let service = rs
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .unwrap();
    assert!(format!("{:?}", service.value).contains("otlp-test"));
    let spans: Vec<_> = rs.scope_spans.iter().flat_map(|s| s.spans.iter()).collect();
    assert_eq!(spans.len(), 2);
    assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "aitrace");
    let chat = spans.iter().find(|s| s.name == "chat gpt-4o").unwrap();
    let tool = spans.iter().find(|s| s.name == "execute_tool t").unwrap();
    assert_eq!(tool.parent_span_id, chat.span_id);
    assert_eq!(chat.trace_id.len(), 16);
    assert!(chat
        .attributes
        .iter()
        .any(|kv| kv.key == "gen_ai.usage.input_tokens"));
}

#[test]
fn server_errors_are_retried_and_counted() {
    let (url, received) = mock_collector(vec![503, 502]);
    let report = run(&url);
    let e = &report.stats.exporters[0];
    assert_eq!((e.exported, e.retries, e.dropped()), (2, 2, 0), "{e:?}");
    assert_eq!(received.lock().unwrap().requests.len(), 3);
}

#[test]
fn bad_credentials_are_not_retried() {
    let (url, received) = mock_collector(vec![401]);
    let report = run(&url);
    let e = &report.stats.exporters[0];
    assert_eq!(
        (e.exported, e.retries, e.dropped_after_retries),
        (0, 0, 2),
        "{e:?}"
    );
    assert!(e.last_error.as_deref().unwrap().contains("401"));
    assert_eq!(received.lock().unwrap().requests.len(), 1);
}

#[test]
fn a_dead_collector_is_not_waited_for_at_shutdown() {
    let url = format!("{}/v1/traces", aitrace_testkit::dead_url());
    let report = run(&url);
    let e = &report.stats.exporters[0];
    assert_eq!(
        (e.exported, e.retries, e.lost_at_shutdown),
        (0, 0, 2),
        "{e:?}"
    );
    let last = e.last_error.as_deref().unwrap();
    assert!(
        last.contains(&url) && last.contains("connection refused"),
        "{last}"
    );
    assert_eq!(report.lost, 2);
}

/// The options a vendor on OTLP uses (Langfuse): a request byte limit splits a batch, and a rejected
/// credential pauses sending instead of sending every batch to be rejected again.
#[test]
fn request_limit_and_auth_pause_are_options_of_the_one_otlp_client() {
    use aitrace_core::{Exporter, SpanKind, SpanRecord};
    let records: Vec<SpanRecord> = (0..6)
        .map(|i| {
            let mut r = SpanRecord::new(format!("s{i}"), SpanKind::ModelGeneration);
            r.input = Some(serde_json::json!("x".repeat(2_000)));
            r
        })
        .collect();
    let (url, received) = mock_collector(vec![]);
    let mut exporter = OtelExporter::builder()
        .endpoint(&url)
        .read_env(false)
        .max_request_bytes(6_000)
        .build()
        .unwrap();
    exporter.export(&records).unwrap();
    let got = received.lock().unwrap();
    assert!(
        got.requests.len() > 1,
        "split into {} requests",
        got.requests.len()
    );
    let spans: usize = got
        .requests
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    assert_eq!(spans, records.len(), "every span once");
    drop(got);

    // A span cap per request, whatever the batch: 250 small spans in requests of at most 100.
    let many: Vec<SpanRecord> = (0..250)
        .map(|i| SpanRecord::new(format!("s{i}"), SpanKind::ModelGeneration))
        .collect();
    let (url, received) = mock_collector(vec![]);
    let mut exporter = OtelExporter::builder()
        .endpoint(&url)
        .read_env(false)
        .max_request_spans(100)
        .build()
        .unwrap();
    exporter.export(&many).unwrap();
    let sizes: Vec<usize> = received
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|(_, r)| {
            r.resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum()
        })
        .collect();
    assert_eq!(sizes, [100, 100, 50]);

    let (url, received) = mock_collector(vec![401]);
    let mut exporter = OtelExporter::builder()
        .endpoint(&url)
        .read_env(false)
        .auth_pause(
            Duration::from_secs(60),
            Duration::from_secs(600),
            "The collector",
            "the x-api-key header",
        )
        .build()
        .unwrap();
    let first = exporter.export(&records[..1]).unwrap_err();
    assert!(
        !first.retryable
            && first
                .message
                .contains("The collector rejected the credentials (401)")
    );
    let second = exporter.export(&records[..1]).unwrap_err();
    assert!(
        second.message.contains("earlier 401/403"),
        "{}",
        second.message
    );
    assert_eq!(
        received.lock().unwrap().requests.len(),
        1,
        "paused: no second request"
    );
}

/// With OpenInference on, scores also go to Phoenix's annotation routes. A collector without them
/// (404) must not turn spans it took into lost spans; a Phoenix that is busy (503) gets the spans
/// and the annotations again, and both arrive.
#[test]
fn an_annotation_route_that_refuses_never_loses_the_spans_and_a_busy_one_is_retried() {
    for (annotation_status, retried) in [(404u16, false), (503, true)] {
        let annotations = Arc::new(Mutex::new(Vec::<u16>::new()));
        let traces = Arc::new(Mutex::new(0usize));
        let (a, t) = (annotations.clone(), traces.clone());
        let backend = Backend::start(move |req| {
            if req.path == "/v1/span_annotations" {
                let mut seen = a.lock().unwrap();
                // Refused once (a 503 recovers, a 404 stays 404).
                let status = if seen.is_empty() || annotation_status == 404 {
                    annotation_status
                } else {
                    200
                };
                seen.push(status);
                return Response::json(status, "{\"data\":[]}");
            }
            *t.lock().unwrap() += 1;
            Response::empty(200)
        });
        let exporter = OtelExporter::builder()
            .read_env(false)
            .endpoint(format!("{}/v1/traces", backend.url()))
            .openinference(true)
            .build()
            .unwrap();
        let (layer, guard) = builder()
            .exporter_with_config(exporter, config())
            .build_layer()
            .unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let chat = generation_span!("openai", "gpt-4o-mini");
            chat.record_usage(Usage::new(1, 1));
            chat.record_score(aitrace_core::Score::boolean("ok", true))
                .unwrap();
        });
        let report = guard.shutdown(Duration::from_secs(20));
        let stats = report.stats.exporter("otel").unwrap();
        assert_eq!((stats.exported, report.lost), (1, 0), "{report}");
        let seen = annotations.lock().unwrap().clone();
        if retried {
            assert_eq!(
                seen,
                [503, 200],
                "the annotation was sent again and arrived"
            );
            assert_eq!(
                *traces.lock().unwrap(),
                2,
                "with its span, the same span id"
            );
        } else {
            assert_eq!(seen, [404], "not retried");
            assert_eq!(*traces.lock().unwrap(), 1);
            assert!(
                stats
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("their scores were not")),
                "{stats:?}"
            );
        }
    }
}
