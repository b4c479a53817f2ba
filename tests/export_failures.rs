//! A backend that is down speaks: each exporter logs one WARN when it starts failing (its name, the
//! URL and the cause) and one INFO when it recovers, never a line per batch; `last_error` carries the
//! URL and cause; shutdown does not wait out retries against a backend that refuses connections;
//! the shutdown report says, per exporter, what was sent and what was lost. The log lines come from
//! the exporters' worker threads, so this process installs a global subscriber that keeps them.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aitrace::testing::SharedBuffer;
use aitrace::{generation_span, ExportConfig};
use aitrace_testkit::{dead_url, vendor_answer, Fault, FaultServer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The log lines of this process, as the application's own fmt layer writes them.
fn log() -> &'static SharedBuffer {
    static LOG: OnceLock<SharedBuffer> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = SharedBuffer::default();
        let writer = log.clone();
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            )
            .init();
        log
    })
}

fn lines_of(exporter: &str, level: &str) -> Vec<String> {
    log().lines_with(&[level, "aitrace::export", exporter])
}

fn config() -> ExportConfig {
    ExportConfig::default()
        .with_max_batch_age(Duration::from_millis(10))
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(Duration::from_millis(50))
}

/// aitrace with one OTLP exporter named `name` sending to `endpoint`.
fn otel_to(
    name: &str,
    endpoint: &str,
) -> (
    aitrace::AiLayer<tracing_subscriber::Registry>,
    aitrace::Guard,
) {
    let exporter = aitrace::otel::OtelExporter::builder()
        .name(name)
        .endpoint(endpoint)
        .build()
        .unwrap();
    aitrace::builder()
        .exporter_with_config(exporter, config())
        .build_layer()
        .unwrap()
}

/// Spans in separate batches, each exported (and failing) on its own.
fn produce(layer: aitrace::AiLayer<tracing_subscriber::Registry>, batches: usize) {
    let subscriber = tracing_subscriber::registry().with(layer);
    aitrace::testing::with_default(subscriber, || {
        for _ in 0..batches {
            generation_span!("openai", "gpt-4o-mini").in_scope(|| {});
            std::thread::sleep(Duration::from_millis(40));
        }
    });
}

#[test]
fn a_refused_backend_warns_once_with_url_and_cause_and_shutdown_does_not_wait_for_it() {
    log();
    let endpoint = format!("{}/v1/traces", dead_url());
    let (layer, guard) = otel_to("otel-refused", &endpoint);
    produce(layer, 4);
    let stats = guard.stats();
    let otel = stats.exporter("otel-refused").unwrap();
    let last = otel.last_error.clone().expect("a last error");
    assert!(
        last.contains(&endpoint) && last.contains("connection refused"),
        "{last}"
    );
    let warnings = lines_of("otel-refused", "WARN");
    assert_eq!(
        warnings.len(),
        1,
        "one WARN, not one per batch: {warnings:#?}"
    );
    assert!(
        warnings[0].contains(&endpoint) && warnings[0].contains("connection refused"),
        "{}",
        warnings[0]
    );
    // Shutdown: what is still held is lost at once, not after the remaining retries.
    let retries_before = otel.retries;
    let started = Instant::now();
    let report = guard.shutdown(Duration::from_secs(30));
    let took = started.elapsed();
    let otel = report.stats.exporter("otel-refused").unwrap();
    assert!(report.completed, "{report}");
    assert!(
        otel.retries <= retries_before + 1,
        "no retry waits at shutdown: {report}"
    );
    assert_eq!(report.lost, otel.dropped());
    assert!(report.lost > 0 && otel.exported == 0, "{report}");
    let text = report.to_string();
    assert!(
        text.contains("otel-refused: 0 sent") && text.contains("lost") && text.contains(&endpoint),
        "{text}"
    );
    println!("shutdown with a refused backend took {took:?}:\n{text}");
    assert!(
        lines_of("otel-refused", "INFO").is_empty(),
        "it never recovered"
    );
}

#[test]
fn a_503_backend_warns_once_with_status_and_body_then_says_it_recovered() {
    log();
    let server = FaultServer::start(
        vec![Fault::Status(503, None, "overloaded, try later\nsecond line".into()); 3],
        Fault::Ok,
        vendor_answer,
    );
    let endpoint = format!("{}/v1/traces", server.url());
    let (layer, guard) = otel_to("otel-503", &endpoint);
    produce(layer, 3);
    let report = guard.shutdown(Duration::from_secs(30));
    assert_eq!(report.lost, 0, "{report}");
    let warnings = lines_of("otel-503", "WARN");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains(&endpoint)
            && warnings[0].contains("HTTP 503 Service Unavailable: overloaded, try later")
            && !warnings[0].contains("second line"),
        "{}",
        warnings[0]
    );
    let recovered = lines_of("otel-503", "INFO");
    assert_eq!(recovered.len(), 1, "{recovered:#?}");
    assert!(
        recovered[0].contains("recovered after 3 failed attempts"),
        "{}",
        recovered[0]
    );
    assert!(report.to_string().contains("otel-503: 3 sent"), "{report}");
}

#[test]
fn an_endpoint_without_a_scheme_fails_at_build_with_the_corrected_url() {
    let err = aitrace::otel::OtelExporter::builder()
        .endpoint("localhost:4318/v1/traces")
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("\"http://localhost:4318/v1/traces\""),
        "{err}"
    );
}

/// OTLP over gRPC: the gRPC client's errors are text, so the endpoint and the cause are added the
/// same way.
#[cfg(feature = "otel-grpc")]
#[test]
fn a_refused_grpc_backend_names_its_endpoint_and_cause() {
    log();
    let endpoint = dead_url();
    let exporter = aitrace::otel::OtelExporter::builder()
        .name("otel-grpc-refused")
        .grpc(true)
        .endpoint(&endpoint)
        .build()
        .unwrap();
    let (layer, guard) = aitrace::builder()
        .exporter_with_config(exporter, config())
        .build_layer()
        .unwrap();
    produce(layer, 2);
    let report = guard.shutdown(Duration::from_secs(30));
    let warnings = lines_of("otel-grpc-refused", "WARN");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains(&format!("gRPC {endpoint}"))
            && warnings[0].contains("connection refused"),
        "{}",
        warnings[0]
    );
    assert!(
        report.to_string().contains("otel-grpc-refused: 0 sent"),
        "{report}"
    );
    println!("{}", warnings[0]);
}
