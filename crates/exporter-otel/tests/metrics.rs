//! GenAI client metrics from finished spans, read back through the SDK's in-memory metric exporter.
#![cfg(feature = "metrics")]

use std::time::Duration;

use aitrace_core::{
    agent_span, builder, embedding_span, generation_span, step_span, tool_span, workflow_span,
    AiSpanExt, Usage,
};
use aitrace_otel::metrics::{DURATION_BUCKETS, RUN_DURATION_BUCKETS, TOKEN_BUCKETS};
use aitrace_otel::{GenAiMetrics, SemconvMode};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, HistogramDataPoint, MetricData, ResourceMetrics, SumDataPoint,
};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tracing_subscriber::layer::SubscriberExt;

fn histogram_points<T: Copy + 'static>(
    metrics: &[opentelemetry_sdk::metrics::data::ResourceMetrics],
    name: &str,
    pick: impl Fn(&AggregatedMetrics) -> Option<&MetricData<T>>,
) -> Vec<HistogramDataPoint<T>> {
    let mut out = Vec::new();
    for rm in metrics {
        for sm in rm.scope_metrics() {
            for m in sm.metrics().filter(|m| m.name() == name) {
                if let Some(MetricData::Histogram(h)) = pick(m.data()) {
                    out.extend(h.data_points().cloned());
                }
            }
        }
    }
    out
}

fn attr(p: &HistogramDataPoint<impl Copy>, key: &str) -> Option<String> {
    p.attributes()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn sum_points(metrics: &[ResourceMetrics], name: &str) -> Vec<SumDataPoint<u64>> {
    let mut out = Vec::new();
    for rm in metrics {
        for sm in rm.scope_metrics() {
            for m in sm.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::U64(MetricData::Sum(s)) = m.data() {
                    out.extend(s.data_points().cloned());
                }
            }
        }
    }
    out
}

fn names(metrics: &[ResourceMetrics]) -> Vec<String> {
    let mut out: Vec<String> = metrics
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .map(|m| m.name().to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn u64s(d: &AggregatedMetrics) -> Option<&MetricData<u64>> {
    match d {
        AggregatedMetrics::U64(m) => Some(m),
        _ => None,
    }
}

fn f64s(d: &AggregatedMetrics) -> Option<&MetricData<f64>> {
    match d {
        AggregatedMetrics::F64(m) => Some(m),
        _ => None,
    }
}

/// The workload's metrics, recorded in `mode`.
fn record(mode: SemconvMode) -> Vec<ResourceMetrics> {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let meter = provider.meter("test");
    let (layer, guard) = builder()
        .exporter(GenAiMetrics::with_mode(&meter, mode))
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let agent = agent_span!("support");
        let _a = agent.enter();
        let g = generation_span!("openai", "gpt-4o");
        g.in_scope(|| step_span!(0).record_usage(Usage::new(999, 999)));
        let mut usage = Usage::new(100, 20).with_cache_read(40).with_reasoning(5);
        usage.input_text_tokens = Some(70);
        usage.input_image_tokens = Some(30);
        g.record_usage(usage);
        drop(g);
        let failed = generation_span!("anthropic", "claude");
        failed.set_error("timeout", "slow");
        failed.record("gen_ai.response.time_to_first_chunk", 0.25);
        drop(failed);
        embedding_span!("openai", "text-embedding-3-small").record_usage(Usage::input_only(8));
        tool_span!("lookup_order").in_scope(|| {});
        workflow_span!("ingest").in_scope(|| {});
    });
    guard.shutdown(Duration::from_secs(10));
    provider.force_flush().unwrap();
    exporter.get_finished_metrics().unwrap()
}

#[test]
fn current_metrics_follow_semantic_conventions_genai() {
    let metrics = record(SemconvMode::Latest);
    assert_eq!(
        names(&metrics),
        [
            "gen_ai.client.inference.duration",
            "gen_ai.client.inference.operation.input_tokens",
            "gen_ai.client.inference.operation.output_tokens",
            "gen_ai.client.inference.time_to_first_chunk",
            "gen_ai.client.inference.usage.cache_read.input_tokens",
            "gen_ai.client.inference.usage.input_tokens",
            "gen_ai.client.inference.usage.output_tokens",
            "gen_ai.client.inference.usage.reasoning.output_tokens",
            "gen_ai.client.operation.duration",
            "gen_ai.execute_tool.duration",
            "gen_ai.invoke_agent.duration",
            "gen_ai.invoke_workflow.duration",
        ],
        "no v1.41 metric in the latest mode"
    );
    // Counters: only the billable generation counts (the step's 999 tokens are display-only), by
    // modality, the unreported rest as `unknown`.
    let input = sum_points(&metrics, "gen_ai.client.inference.usage.input_tokens");
    let by = |points: &[SumDataPoint<u64>], modality: &str| -> u64 {
        points
            .iter()
            .filter(|p| {
                p.attributes().any(|kv| {
                    kv.key.as_str() == "gen_ai.token.modality" && kv.value.as_str() == modality
                })
            })
            .map(|p| p.value())
            .sum()
    };
    assert_eq!(
        (
            by(&input, "text"),
            by(&input, "image"),
            by(&input, "unknown")
        ),
        (70, 30, 0)
    );
    assert_eq!(input.iter().map(|p| p.value()).sum::<u64>(), 100);
    let output = sum_points(&metrics, "gen_ai.client.inference.usage.output_tokens");
    assert_eq!(by(&output, "unknown"), 20);
    let cache = sum_points(
        &metrics,
        "gen_ai.client.inference.usage.cache_read.input_tokens",
    );
    assert_eq!(cache.iter().map(|p| p.value()).sum::<u64>(), 40);
    let reasoning = sum_points(
        &metrics,
        "gen_ai.client.inference.usage.reasoning.output_tokens",
    );
    assert_eq!(reasoning.iter().map(|p| p.value()).sum::<u64>(), 5);

    let per_call = histogram_points(
        &metrics,
        "gen_ai.client.inference.operation.input_tokens",
        u64s,
    );
    assert_eq!(per_call.iter().map(|p| p.sum()).sum::<u64>(), 100);
    assert_eq!(
        per_call[0].bounds().collect::<Vec<_>>(),
        TOKEN_BUCKETS.to_vec()
    );

    // Model calls in the inference duration, the embedding call in the operation duration.
    let inference = histogram_points(&metrics, "gen_ai.client.inference.duration", f64s);
    assert_eq!(inference.iter().map(|p| p.count()).sum::<u64>(), 2);
    let failed = inference
        .iter()
        .find(|p| attr(p, "gen_ai.provider.name").as_deref() == Some("anthropic"))
        .unwrap();
    assert_eq!(attr(failed, "error.type").as_deref(), Some("timeout"));
    assert_eq!(
        failed.bounds().collect::<Vec<_>>(),
        DURATION_BUCKETS.to_vec()
    );
    let operation = histogram_points(&metrics, "gen_ai.client.operation.duration", f64s);
    assert_eq!(operation.len(), 1);
    assert_eq!(
        attr(&operation[0], "gen_ai.operation.name").as_deref(),
        Some("embeddings")
    );
    let ttft = histogram_points(
        &metrics,
        "gen_ai.client.inference.time_to_first_chunk",
        f64s,
    );
    assert_eq!(ttft.len(), 1);
    assert_eq!(ttft[0].sum(), 0.25);

    let agent = histogram_points(&metrics, "gen_ai.invoke_agent.duration", f64s);
    assert_eq!(
        attr(&agent[0], "gen_ai.agent.name").as_deref(),
        Some("support")
    );
    assert_eq!(
        agent[0].bounds().collect::<Vec<_>>(),
        RUN_DURATION_BUCKETS.to_vec()
    );
    let tool = histogram_points(&metrics, "gen_ai.execute_tool.duration", f64s);
    assert_eq!(
        attr(&tool[0], "gen_ai.tool.name").as_deref(),
        Some("lookup_order")
    );
    let workflow = histogram_points(&metrics, "gen_ai.invoke_workflow.duration", f64s);
    assert_eq!(workflow.iter().map(|p| p.count()).sum::<u64>(), 1);
}

#[test]
fn transition_mode_also_records_the_v1_41_metrics() {
    let metrics = record(SemconvMode::Transition);
    let names = names(&metrics);
    for previous in [
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
        "gen_ai.client.inference.duration",
        "gen_ai.client.inference.usage.input_tokens",
    ] {
        assert!(
            names.iter().any(|n| n == previous),
            "{previous} in {names:?}"
        );
    }
    let tokens = histogram_points(&metrics, "gen_ai.client.token.usage", u64s);
    let sum = |kind: &str| -> u64 {
        tokens
            .iter()
            .filter(|p| attr(p, "gen_ai.token.type").as_deref() == Some(kind))
            .map(|p| p.sum())
            .sum()
    };
    // The generation's 100 input tokens and the embedding's 8, as v1.41 counted them.
    assert_eq!((sum("input"), sum("output")), (108, 20));
    assert_eq!(
        tokens[0].bounds().collect::<Vec<_>>(),
        TOKEN_BUCKETS.to_vec()
    );
    // v1.41's operation duration covered model calls too.
    let operation = histogram_points(&metrics, "gen_ai.client.operation.duration", f64s);
    assert_eq!(operation.iter().map(|p| p.count()).sum::<u64>(), 3);
}
