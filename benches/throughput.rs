//! End-to-end exporter throughput (mapping + serialization + transport) and bounded memory with the
//! backend down. Prints markdown tables; `cargo xtask bench` puts them in docs/PERFORMANCE.md.
//!
//! HTTP exporters send to loopback sinks that read every request and answer like the vendor (200;
//! Braintrust's `row_ids` for as many rows as it got).

use std::time::{Duration, Instant};

use aitrace::{
    agent_span, generation_span, AiSpanExt, ExportConfig, ExportError, Exporter, SpanRecord,
};
use aitrace_testkit::{Backend, Response};
use tracing_subscriber::layer::SubscriberExt;

const TRACES: usize = 10_000;
const SPANS_PER_TRACE: usize = 10;

/// A keep-alive HTTP/1.1 sink on loopback; `answer(path, body)` gives the response body.
fn sink(answer: fn(&str, &[u8]) -> String) -> String {
    slow_sink(answer, Duration::ZERO)
}

/// [`sink`] that answers each request only after `delay`: a backend that stalls.
fn slow_sink(answer: fn(&str, &[u8]) -> String, delay: Duration) -> String {
    let backend = Backend::start(move |req| {
        std::thread::sleep(delay);
        Response::json(200, answer(&req.path, &req.body))
    });
    backend.url().to_string()
}

/// What the Braintrust sink reads of an insert: every row's id (the rest is parsed and skipped).
#[derive(serde::Deserialize)]
struct Insert {
    events: Vec<InsertedRow>,
}
#[derive(serde::Deserialize)]
struct InsertedRow {
    id: String,
}

fn braintrust_answer(path: &str, body: &[u8]) -> String {
    if path == "/v1/project" {
        return r#"{"id":"p-1","org_id":"o","name":"bench"}"#.into();
    }
    // A body that does not parse gets no ids, so the exporter would count its rows as lost.
    let ids: Vec<String> = serde_json::from_slice::<Insert>(body)
        .map(|insert| insert.events.into_iter().map(|row| row.id).collect())
        .unwrap_or_default();
    serde_json::json!({ "row_ids": ids }).to_string()
}

fn emit(traces: usize) {
    let input = r#"[{"role":"user","parts":[{"type":"text","content":"Where is order 1042? It was due on Tuesday and the tracking page shows nothing since Monday."}]}]"#;
    for _ in 0..traces {
        let agent = agent_span!("support");
        agent.set_user("user-1");
        let _a = agent.enter();
        for _ in 1..SPANS_PER_TRACE {
            // Messages recorded as JSON text, as the GenAI conventions carry them: parsed on the
            // exporter's worker (when the exporter reads content), so they count in its rate.
            let g = generation_span!(
                "openai",
                "gpt-4o-mini",
                gen_ai.request.temperature = 0.2,
                gen_ai.input.messages = input
            );
            g.record("gen_ai.usage.input_tokens", 120u64);
            g.record("gen_ai.usage.output_tokens", 30u64);
        }
    }
}

/// Spans per second from the first span to the last one confirmed by the exporter.
fn throughput(name: &str, exporter: impl Exporter) -> (String, f64, u64) {
    let config = ExportConfig::default()
        .with_queue_capacity(1 << 20)
        .with_queue_max_bytes(1 << 32)
        .with_max_batch_age(Duration::from_millis(50));
    let (layer, guard) = aitrace::builder()
        .without_processor("sensitive-data-filter")
        .exporter_with_config(exporter, config)
        .build_layer()
        .unwrap();
    let start = Instant::now();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || emit(TRACES));
    let total = (TRACES * SPANS_PER_TRACE) as u64;
    while guard.stats().exporters[0].exported + guard.stats().exporters[0].dropped() < total
        && start.elapsed() < Duration::from_secs(300)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let report = guard.shutdown(Duration::from_secs(30));
    (
        name.to_string(),
        total as f64 / elapsed.as_secs_f64(),
        report.lost,
    )
}

/// The rate means nothing if content went missing: every generation's row in the JSONL file must
/// carry its input messages, parsed from the text the span recorded.
fn check_jsonl_content(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let with_input = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|row| row["input"][0]["role"] == "user")
        .count();
    assert_eq!(
        with_input,
        TRACES * (SPANS_PER_TRACE - 1),
        "generation rows with parsed input messages"
    );
}

/// Resets the process's peak RSS (Linux `clear_refs` 5), so each memory row measures its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Accepts every batch and does nothing: the row that shows the ceiling span creation and the
/// pipeline set on this machine, against which each exporter's rate reads.
struct Discard;
impl Exporter for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        std::hint::black_box(batch.len());
        Ok(())
    }
}

/// A backend that is down: every export fails as a connection error would.
struct Down;
impl Exporter for Down {
    fn name(&self) -> &str {
        "down"
    }
    fn export(&mut self, _: &[SpanRecord]) -> Result<(), ExportError> {
        Err(ExportError::retryable("connection refused"))
    }
}

/// Produces 1,000,000 spans into `exporter` (whose backend misbehaves) and prints a table: the cap,
/// the peak RSS growth of the process while producing, what the exporter held at the end, and the
/// drops.
fn memory_under(title: &str, cap: String, exporter: impl Exporter, config: ExportConfig) {
    let (layer, guard) = aitrace::builder()
        .without_processor("sensitive-data-filter")
        .exporter_with_config(exporter, config)
        .build_layer()
        .unwrap();
    reset_peak_rss();
    let before = peak_rss_kib();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || emit(100_000));
    let after = peak_rss_kib();
    let e = guard.stats().exporters[0].clone();
    println!("| {title}, 1,000,000 spans | value |");
    println!("|---|---:|");
    println!("| cap | {cap} |");
    println!(
        "| peak RSS growth | {} MiB |",
        (after.saturating_sub(before)) >> 10
    );
    println!(
        "| held at the end (queued, in the worker, in export) | {} records, {} MiB |",
        e.queued,
        e.queued_bytes >> 20
    );
    println!("| exported while producing | {} |", e.exported);
    println!("| dropped (cap reached) | {} |", e.dropped_queue_full);
    drop(guard.shutdown(Duration::from_millis(100)));
    println!();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench` discovery
    }
    // Bounded memory first, while the process is fresh: the backend down, then one that answers
    // every request only after 2 s with the record cap lifted so the byte cap binds (what the
    // worker took from the queue and is still delivering counts against the cap).
    let cap_bytes = 32usize << 20;
    memory_under(
        "backend down",
        format!("10,000 records / {} MiB", cap_bytes >> 20),
        Down,
        ExportConfig::default()
            .with_queue_capacity(10_000)
            .with_queue_max_bytes(cap_bytes)
            .with_max_retries(u32::MAX)
            .with_initial_backoff(Duration::from_millis(50))
            .with_max_backoff(Duration::from_millis(50)),
    );
    let slow = slow_sink(|_, _| "{}".into(), Duration::from_secs(2));
    memory_under(
        "backend answering after 2 s (OTLP over HTTP)",
        format!("{} MiB (record cap lifted)", cap_bytes >> 20),
        aitrace::otel::OtelExporter::builder()
            .endpoint(format!("{slow}/v1/traces"))
            .build()
            .unwrap(),
        ExportConfig::default()
            .with_queue_capacity(1 << 20)
            .with_queue_max_bytes(cap_bytes),
    );
    let dir = std::env::temp_dir().join(format!("aitrace-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let otlp = sink(|_, _| "{}".into());
    let langfuse = sink(|_, _| "{}".into());
    let braintrust = sink(braintrust_answer);
    let mut lf = aitrace::langfuse::LangfuseConfig::new("pk-lf-bench", "sk-lf-bench");
    lf.base_url = langfuse;
    let mut bt = aitrace::braintrust::BraintrustConfig::new("bt-key", "bench");
    bt.api_url = braintrust;
    let rows = vec![
        throughput("no-op (span creation and pipeline alone)", Discard),
        {
            let row = throughput(
                "jsonl (file)",
                aitrace::JsonlExporter::create(dir.join("bench.jsonl")).unwrap(),
            );
            check_jsonl_content(&dir.join("bench.jsonl"));
            row
        },
        throughput(
            "otlp http/protobuf",
            aitrace::otel::OtelExporter::builder()
                .endpoint(format!("{otlp}/v1/traces"))
                .build()
                .unwrap(),
        ),
        throughput(
            "langfuse",
            aitrace::langfuse::LangfuseExporter::new(lf).unwrap(),
        ),
        throughput(
            "braintrust",
            aitrace::braintrust::BraintrustExporter::new(bt).unwrap(),
        ),
    ];
    // The vendor presets, each chosen by its own variables, to a loopback sink at its path.
    let mut rows = rows;
    for (name, vars) in [
        (
            "langsmith",
            vec![("LANGSMITH_API_KEY", "k"), ("LANGSMITH_ENDPOINT", "")],
        ),
        (
            "datadog",
            vec![
                ("DD_API_KEY", "k"),
                ("AITRACE_DATADOG_ENDPOINT", "/v1/traces"),
            ],
        ),
        (
            "posthog",
            vec![("POSTHOG_API_KEY", "phc_k"), ("POSTHOG_HOST", "")],
        ),
        ("mlflow", vec![("MLFLOW_TRACKING_URI", "")]),
    ] {
        let url = sink(|_, _| "{}".into());
        let vars: Vec<(&str, String)> = vars
            .into_iter()
            .map(|(k, v)| {
                let url_var = k.ends_with("ENDPOINT") || k.ends_with("HOST") || k.ends_with("URI");
                (
                    k,
                    if url_var {
                        format!("{url}{v}")
                    } else {
                        v.to_string()
                    },
                )
            })
            .collect();
        let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        let exporter = aitrace::presets::preset(name)
            .and_then(|p| p.from_vars(&get).transpose())
            .expect("configured")
            .expect("valid");
        rows.push(throughput(&format!("preset: {name}"), exporter));
    }
    let url = sink(|_, _| "{}".into());
    let host = url.trim_start_matches("http://").to_string();
    let sentry = aitrace::presets::sentry::exporter(
        aitrace::presets::sentry::SentryDsn::parse("dsn", &format!("http://k@{host}/1")).unwrap(),
    )
    .unwrap();
    rows.push(throughput("preset: sentry", sentry));
    println!("| exporter | spans/s end to end | lost |");
    println!("|---|---:|---:|");
    for (name, rate, lost) in rows {
        println!("| {name} | {rate:.0} | {lost} |");
    }

    std::fs::remove_dir_all(&dir).ok();
}
