//! The aitrace side of `cargo xtask bench --peers`: the same nested trace as
//! `bench/peers/langfuse_sdk.py` (agent → generation → tool, same payloads), exported by aitrace's
//! Langfuse exporter to the same loopback sink.
//!
//! Reads `AITRACE_PEER_SINK` (the sink's base URL), `AITRACE_PEER_TRACES` and `AITRACE_PEER_QUEUE`
//! (the exporter's queue capacity in records; default: the default, 2048); prints one JSON line with
//! the time per span on the creating thread and what aitrace counted as exported and dropped.

use std::time::{Duration, Instant};

use aitrace::{agent_span, generation_span, tool_span};
use tracing_subscriber::layer::SubscriberExt;

const SPANS_PER_TRACE: u64 = 3;
const WARM_UP: u64 = 50;

fn one_trace(input: &str, output: &str) {
    let agent = agent_span!(
        "support_agent",
        aitrace.input = "Where is my order #1042?",
        aitrace.output = tracing::field::Empty
    );
    agent.in_scope(|| {
        let generation = generation_span!(
            "openai",
            "gpt-4o",
            gen_ai.request.temperature = 0.2,
            gen_ai.request.max_tokens = 512u64,
            gen_ai.request.top_p = 0.9,
            gen_ai.input.messages = input,
            gen_ai.output.messages = tracing::field::Empty,
        );
        generation.in_scope(|| {
            generation.record("gen_ai.output.messages", output);
            generation.record("gen_ai.usage.input_tokens", 812u64);
            generation.record("gen_ai.usage.output_tokens", 96u64);
            let tool = tool_span!(
                "lookup_order",
                gen_ai.tool.call.arguments = r#"{"order_id":"1042"}"#
            );
            tool.record(
                "gen_ai.tool.call.result",
                r#"{"status":"shipped","eta":"Thursday"}"#,
            );
        });
    });
    agent.record("aitrace.output", "Your order ships Thursday.");
}

fn main() {
    let sink = std::env::var("AITRACE_PEER_SINK").expect("AITRACE_PEER_SINK: the sink's base URL");
    let traces: u64 = std::env::var("AITRACE_PEER_TRACES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let text =
        "The order #1042 left our warehouse yesterday and is expected on Thursday. ".repeat(13);
    let input = format!(r#"[{{"role":"user","content":"{text}"}}]"#);
    let output = format!(r#"{{"role":"assistant","content":"{text}"}}"#);

    let mut config = aitrace::langfuse::LangfuseConfig::new("pk-lf-bench", "sk-lf-bench");
    config.base_url = sink;
    let exporter = aitrace::langfuse::LangfuseExporter::new(config).expect("valid config");
    let builder = aitrace::builder();
    let builder = match std::env::var("AITRACE_PEER_QUEUE")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(capacity) => {
            let mut export = aitrace::ExportConfig::default()
                .with_queue_capacity(capacity)
                .with_queue_max_bytes(1 << 30);
            aitrace::Exporter::configure(&exporter, &mut export);
            builder.exporter_with_config(exporter, export)
        }
        None => builder.exporter(exporter),
    };
    let (layer, guard) = builder.build_layer().expect("valid pipeline");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let ns_per_span = tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..WARM_UP {
            one_trace(&input, &output);
        }
        let started = Instant::now();
        for _ in 0..traces {
            one_trace(&input, &output);
        }
        started.elapsed().as_nanos() as f64 / (traces * SPANS_PER_TRACE) as f64
    });
    let flush_started = Instant::now();
    guard.flush(Duration::from_secs(120));
    let flush_s = flush_started.elapsed().as_secs_f64();
    let report = guard.shutdown(Duration::from_secs(30));
    let e = &report.stats.exporters[0];
    println!(
        "{{\"ns_per_span\": {ns_per_span:.1}, \"produced\": {}, \"exported\": {}, \"dropped\": {}, \"flush_s\": {flush_s:.3}}}",
        (traces + WARM_UP) * SPANS_PER_TRACE,
        e.exported,
        report.lost
    );
}
