//! Every HTTP exporter (OTLP, Langfuse, Braintrust) against every way a backend fails, on a loopback
//! fault-injecting server: retryable faults are retried, fatal ones reported once, the application is
//! never blocked, shutdown keeps its deadline, and the counters always add up.
#![cfg(all(feature = "otel", feature = "langfuse", feature = "braintrust"))]

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::Duration;

use aitrace::{
    agent_span, generation_span, AiSpanExt, ExportConfig, Exporter, ShutdownReport, Usage,
};
use aitrace_testkit::fixtures::fast_export_config;
use aitrace_testkit::{dead_url, Fault, FaultServer};
use prost::Message;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, Clone, Copy)]
enum Target {
    Otlp,
    Langfuse,
    Braintrust,
}

const TARGETS: [Target; 3] = [Target::Otlp, Target::Langfuse, Target::Braintrust];
const SPANS: u64 = 6;

fn exporter(target: Target, url: &str, timeout: Duration) -> Box<dyn Exporter> {
    match target {
        Target::Otlp => Box::new(
            aitrace::otel::OtelExporter::builder()
                .endpoint(format!("{url}/v1/traces"))
                .timeout(timeout)
                .build()
                .unwrap(),
        ),
        Target::Langfuse => {
            let mut c = aitrace::langfuse::LangfuseConfig::new("pk-lf-test", "sk-lf-test");
            c.base_url = url.to_string();
            c.timeout = timeout;
            Box::new(
                aitrace::langfuse::LangfuseExporter::new(c)
                    .unwrap()
                    .with_auth_cooldown(Duration::ZERO),
            )
        }
        Target::Braintrust => {
            let mut c = aitrace::braintrust::BraintrustConfig::new("bt-key", "tests");
            c.api_url = url.to_string();
            c.project = aitrace::braintrust::ProjectRef::Id("p-1".into());
            c.timeout = timeout;
            Box::new(aitrace::braintrust::BraintrustExporter::new(c).unwrap())
        }
    }
}

/// Produces two traces (SPANS spans) through `target` against `url`, then shuts down.
fn run(
    target: Target,
    url: &str,
    timeout: Duration,
    config: ExportConfig,
    shutdown: Duration,
) -> ShutdownReport {
    let exporter = exporter(target, url, timeout);
    let (layer, guard) = aitrace::builder()
        .exporter_with_config(exporter, config)
        .build_layer()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    // The application's side runs on its own thread: if tracing ever blocked it, the watchdog fails.
    std::thread::spawn(move || {
        aitrace::testing::with_default(tracing_subscriber::registry().with(layer), || {
            for _ in 0..2 {
                let _a = agent_span!("a").entered();
                for _ in 0..(SPANS / 2 - 1) {
                    generation_span!("openai", "gpt-4o").record_usage(Usage::new(10, 1));
                }
            }
        });
        let _ = tx.send(guard.shutdown(shutdown));
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the application was blocked")
}

fn fast() -> ExportConfig {
    fast_export_config()
}

/// Every record offered is exported, dropped with a reason, or lost at shutdown; nothing else.
fn assert_accounted(report: &ShutdownReport, target: Target) {
    let e = &report.stats.exporters[0];
    assert_eq!(
        e.enqueued + e.dropped_queue_full,
        SPANS,
        "{target:?}: {e:?}"
    );
    assert_eq!(
        e.enqueued,
        e.exported + e.dropped_after_retries + e.lost_at_shutdown,
        "{target:?}: {e:?}"
    );
}

fn served(faults: Vec<Fault>) -> FaultServer {
    FaultServer::start(faults, Fault::Ok, aitrace_testkit::vendor_answer)
}

/// Everything is exported at shutdown here: a backend that refuses connections is tried once and
/// not waited for (no retry backoff against a port nobody listens on), and what it would have got
/// is counted as lost at shutdown, with the URL and cause in the report. Retries while the
/// application runs: `tests/export_failures.rs`.
#[test]
fn a_dead_backend_is_not_waited_for_at_shutdown_and_its_spans_are_counted() {
    for target in TARGETS {
        let report = run(
            target,
            &dead_url(),
            Duration::from_secs(2),
            fast(),
            Duration::from_secs(30),
        );
        let e = &report.stats.exporters[0];
        assert_accounted(&report, target);
        assert_eq!(
            (e.exported, e.lost_at_shutdown, e.retries),
            (0, SPANS, 0),
            "{target:?}: {e:?}"
        );
        assert!(
            e.last_error
                .as_deref()
                .is_some_and(|l| l.contains("connection refused")),
            "{target:?}: {e:?}"
        );
        assert_eq!(report.lost, SPANS);
    }
}

#[test]
fn transient_faults_are_retried_until_delivered() {
    let cases: Vec<(&str, Vec<Fault>)> = vec![
        (
            "5xx",
            vec![
                Fault::Status(500, None, "{}".into()),
                Fault::Status(502, None, "".into()),
                Fault::Status(503, None, "{}".into()),
            ],
        ),
        ("hang", vec![Fault::Hang]),
        ("close mid-response", vec![Fault::CloseMidResponse]),
        (
            "429",
            vec![Fault::Status(
                429,
                Some(0),
                r#"{"code":"rate_limited"}"#.into(),
            )],
        ),
    ];
    for target in TARGETS {
        for (name, faults) in &cases {
            let n = faults.len() as u64;
            let server = served(faults.clone());
            let report = run(
                target,
                server.url(),
                Duration::from_millis(300),
                fast(),
                Duration::from_secs(30),
            );
            let e = &report.stats.exporters[0];
            assert_accounted(&report, target);
            assert_eq!(
                (e.exported, e.dropped()),
                (SPANS, 0),
                "{target:?} {name}: {e:?}"
            );
            assert!(e.retries >= n, "{target:?} {name}: {e:?}");
            assert_eq!(report.lost, 0);
        }
    }
}

#[test]
fn slow_answers_within_the_timeout_are_not_failures() {
    for target in TARGETS {
        let server = served(vec![Fault::Slow(Duration::from_millis(150))]);
        let report = run(
            target,
            server.url(),
            Duration::from_secs(5),
            fast(),
            Duration::from_secs(30),
        );
        let e = &report.stats.exporters[0];
        assert_eq!(
            (e.exported, e.retries, e.dropped()),
            (SPANS, 0, 0),
            "{target:?}: {e:?}"
        );
    }
}

#[test]
fn bad_credentials_fail_once_with_a_clear_error() {
    for target in TARGETS {
        for status in [401, 403] {
            let server = FaultServer::start(
                vec![],
                Fault::Status(status, None, r#"{"error":"unauthorized"}"#.into()),
                aitrace_testkit::vendor_answer,
            );
            let report = run(
                target,
                server.url(),
                Duration::from_secs(2),
                fast(),
                Duration::from_secs(30),
            );
            let e = &report.stats.exporters[0];
            assert_accounted(&report, target);
            assert_eq!(
                (e.exported, e.retries),
                (0, 0),
                "{target:?} {status}: never retried: {e:?}"
            );
            let err = e.last_error.clone().unwrap_or_default();
            assert!(err.contains(&status.to_string()), "{target:?}: {err}");
            match target {
                Target::Langfuse => assert!(err.contains("LANGFUSE_SECRET_KEY"), "{err}"),
                Target::Braintrust => assert!(err.contains("BRAINTRUST_API_KEY"), "{err}"),
                Target::Otlp => {}
            }
        }
    }
}

#[test]
fn a_malformed_answer_never_crashes_and_is_accounted_for() {
    for target in TARGETS {
        for body in ["", "<html>oops</html>", "{\"row_ids\": 7}"] {
            let server = served(vec![Fault::Malformed(body.into())]);
            let report = run(
                target,
                server.url(),
                Duration::from_secs(2),
                fast(),
                Duration::from_secs(30),
            );
            let e = &report.stats.exporters[0];
            assert_accounted(&report, target);
            // OTLP backends' answers carry nothing aitrace needs; Braintrust's row_ids are checked
            // and an unreadable answer is retried.
            assert_eq!(e.exported, SPANS, "{target:?} {body:?}: {e:?}");
            if matches!(target, Target::Braintrust) {
                assert!(e.retries >= 1, "{e:?}");
            }
        }
    }
}

#[test]
fn a_backend_that_hangs_forever_never_blocks_shutdown_past_its_deadline() {
    for target in TARGETS {
        let server = FaultServer::start(vec![], Fault::Hang, aitrace_testkit::vendor_answer);
        let report = run(
            target,
            server.url(),
            Duration::from_secs(30),
            fast(),
            Duration::from_millis(300),
        );
        assert!(!report.completed, "{target:?}");
        assert_eq!(
            report.lost, SPANS,
            "{target:?}: everything is reported lost: {report:?}"
        );
    }
}

fn received_ids(target: Target, server: &FaultServer) -> HashSet<String> {
    let mut ids = HashSet::new();
    for r in server.requests() {
        match target {
            Target::Braintrust => {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                for e in v["events"].as_array().unwrap() {
                    ids.insert(e["id"].as_str().unwrap().to_string());
                }
            }
            Target::Otlp | Target::Langfuse => {
                let body = r.plain_body();
                let req = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
                for span in req
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                {
                    ids.insert(span.span_id.iter().map(|b| format!("{b:02x}")).collect());
                }
            }
        }
    }
    ids
}

/// Runs `workload` with `target`'s exporter (against `server`, requests timing out after `timeout`)
/// beside an in-memory one, both holding batches until shutdown; asserts the clean shutdown lost
/// nothing and returns the ids of the spans produced.
fn produce_through(
    target: Target,
    server: &FaultServer,
    timeout: Duration,
    workload: impl FnOnce(),
) -> HashSet<String> {
    let memory = aitrace::testing::TestExporter::new();
    let config = fast().with_max_batch_age(Duration::from_secs(3600));
    let (layer, guard) = aitrace::builder()
        .exporter_with_config(exporter(target, server.url(), timeout), config.clone())
        .exporter_with_config(memory.clone(), config)
        .build_layer()
        .unwrap();
    aitrace::testing::with_default(tracing_subscriber::registry().with(layer), workload);
    let report = guard.shutdown(Duration::from_secs(60));
    assert!(
        report.completed && report.lost == 0,
        "{target:?}: {report:?}"
    );
    memory
        .spans()
        .iter()
        .map(|s| s.span_id.to_string())
        .collect()
}

#[test]
fn nothing_produced_before_a_clean_shutdown_is_lost() {
    for target in TARGETS {
        let server = served(vec![]);
        let produced = produce_through(target, &server, Duration::from_secs(5), || {
            for i in 0..50 {
                let a = agent_span!("a", i = i);
                a.in_scope(|| generation_span!("openai", "gpt-4o").record_usage(Usage::new(1, 1)));
            }
        });
        assert_eq!(produced.len(), 100);
        assert_eq!(
            received_ids(target, &server),
            produced,
            "{target:?}: the backend got exactly what was produced"
        );
    }
}

#[test]
fn retry_after_is_honoured() {
    for target in TARGETS {
        let server = served(vec![Fault::Status(
            429,
            Some(1),
            r#"{"code":"rate_limited"}"#.into(),
        )]);
        let config = fast().with_max_backoff(Duration::from_secs(5));
        let report = run(
            target,
            server.url(),
            Duration::from_secs(5),
            config,
            Duration::from_secs(30),
        );
        let e = &report.stats.exporters[0];
        assert_eq!((e.exported, e.retries), (SPANS, 1), "{target:?}: {e:?}");
        let requests = server.requests();
        let gap = requests[1].at - requests[0].at;
        assert!(
            gap >= Duration::from_millis(950),
            "{target:?}: retried after {gap:?}, Retry-After asked 1 s"
        );
    }
}

/// An OTLP answer that accepts the request but rejects two of its spans (`partial_success`).
fn otlp_rejects_two(_: &str, _: &[u8]) -> (u16, &'static str, Vec<u8>) {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    let answer = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "attribute value too long".into(),
        }),
    };
    (200, "application/x-protobuf", answer.encode_to_vec())
}

/// A Braintrust insert that acknowledges every row but the first.
fn braintrust_misses_the_first_row(_: &str, body: &[u8]) -> (u16, &'static str, Vec<u8>) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let ids: Vec<serde_json::Value> = v["events"]
        .as_array()
        .map(|e| e.iter().skip(1).map(|x| x["id"].clone()).collect())
        .unwrap_or_default();
    let answer = serde_json::json!({ "row_ids": ids }).to_string();
    (200, "application/json", answer.into_bytes())
}

fn event_ids(request: &aitrace_testkit::Request) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn partial_success_drops_or_retries_only_the_rejected_records() {
    // One batch at shutdown, so the first request carries every span.
    let config = || fast().with_max_batch_age(Duration::from_secs(60));
    // OTLP forbids retrying a partial success: the rejected spans are counted as dropped, the rest
    // as exported, and the backend's reason is kept.
    for target in [Target::Otlp, Target::Langfuse] {
        let server = served(vec![Fault::custom(otlp_rejects_two)]);
        let report = run(
            target,
            server.url(),
            Duration::from_secs(5),
            config(),
            Duration::from_secs(30),
        );
        let e = &report.stats.exporters[0];
        assert_eq!(
            (e.exported, e.dropped_after_retries, e.retries),
            (SPANS - 2, 2, 0),
            "{target:?}: {e:?}"
        );
        assert_eq!(server.requests().len(), 1, "{target:?}: nothing is re-sent");
        let error = e.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains("rejected 2 of 6") && error.contains("attribute value too long"),
            "{target:?}: {error}"
        );
        assert_accounted(&report, Target::Otlp);
    }
    // Braintrust acknowledges rows by id: only the row it did not acknowledge is sent again.
    let server = served(vec![Fault::custom(braintrust_misses_the_first_row)]);
    let report = run(
        Target::Braintrust,
        server.url(),
        Duration::from_secs(5),
        config(),
        Duration::from_secs(30),
    );
    let e = &report.stats.exporters[0];
    assert_eq!(
        (e.exported, e.dropped_after_retries, e.retries),
        (SPANS, 0, 1),
        "{e:?}"
    );
    let requests = server.requests();
    let first = event_ids(&requests[0]);
    assert!(first.len() > 1, "{first:?}");
    assert_eq!(event_ids(&requests[1]), first[..1].to_vec());
    assert_accounted(&report, Target::Braintrust);
}

#[test]
fn a_multi_megabyte_span_is_shortened_to_fit_and_never_fails_its_batch() {
    let limits = [
        (Target::Langfuse, aitrace::langfuse::MAX_REQUEST_BYTES),
        (Target::Braintrust, aitrace::braintrust::MAX_REQUEST_BYTES),
    ];
    for (target, limit) in limits {
        let server = served(vec![]);
        let exporter = exporter(target, server.url(), Duration::from_secs(10));
        let (layer, guard) = aitrace::builder()
            .exporter_with_config(exporter, fast())
            .build_layer()
            .unwrap();
        let huge = "a".repeat(8 << 20);
        aitrace::testing::with_default(tracing_subscriber::registry().with(layer), || {
            let _a = agent_span!("a").entered();
            let g = generation_span!("openai", "gpt-4o");
            g.set_input(serde_json::json!({ "document": huge }));
            g.record_usage(Usage::new(10, 1));
            drop(g);
            for _ in 0..(SPANS - 2) {
                generation_span!("openai", "gpt-4o").record_usage(Usage::new(10, 1));
            }
        });
        let report = guard.shutdown(Duration::from_secs(30));
        let e = &report.stats.exporters[0];
        assert_eq!(
            (e.exported, e.dropped(), e.failed_batches),
            (SPANS, 0, 0),
            "{target:?}: {e:?}"
        );
        let bodies: Vec<Vec<u8>> = server
            .requests()
            .iter()
            .map(aitrace_testkit::Request::plain_body)
            .collect();
        let marker = "…[truncated: kept".as_bytes();
        assert!(
            bodies
                .iter()
                .any(|b| b.windows(marker.len()).any(|w| w == marker)),
            "{target:?}: the cut is visible"
        );
        for b in &bodies {
            assert!(b.len() <= limit, "{target:?}: a {} byte request", b.len());
        }
    }
}

/// One trace big enough that the exporter splits its batch into several requests: Braintrust by
/// rows (100 per request), Langfuse by bytes (3 MB per request).
fn split_trace(target: Target) {
    let _a = agent_span!("a").entered();
    match target {
        Target::Braintrust => {
            for _ in 0..249 {
                generation_span!("openai", "gpt-4o").record_usage(Usage::new(1, 1));
            }
        }
        _ => {
            let big = "x".repeat(800_000);
            for _ in 0..5 {
                generation_span!("openai", "gpt-4o").set_input(big.clone());
            }
        }
    }
}

#[test]
fn retry_after_holds_for_every_request_a_batch_is_split_into() {
    for target in [Target::Braintrust, Target::Langfuse] {
        let server = served(vec![Fault::Status(503, Some(1), "busy".into())]);
        let produced = produce_through(target, &server, Duration::from_secs(10), || {
            split_trace(target)
        });
        let requests = server.requests();
        assert!(
            requests.len() >= 3,
            "{target:?}: the batch was split ({} requests)",
            requests.len()
        );
        assert!(matches!(requests[0].fault, Fault::Status(503, ..)));
        for (i, r) in requests.iter().enumerate().skip(1) {
            let gap = r.at - requests[0].at;
            assert!(
                gap >= Duration::from_millis(950),
                "{target:?}: request {i} went out {gap:?} after a 503 with Retry-After: 1"
            );
        }
        assert_eq!(received_ids(target, &server), produced, "{target:?}");
    }
}
