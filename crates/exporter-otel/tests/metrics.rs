//! GenAI client metrics from finished spans, read back through the SDK's in-memory metric exporter.
#![cfg(feature = "metrics")]

use std::time::Duration;

use aitrace_core::{builder, generation_span, step_span, AiSpanExt, Usage};
use aitrace_otel::metrics::{DURATION_BUCKETS, TOKEN_BUCKETS};
use aitrace_otel::GenAiMetrics;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, HistogramDataPoint, MetricData};
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

#[test]
fn token_usage_and_duration_histograms_follow_the_conventions() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let meter = provider.meter("test");
    let (layer, guard) = builder()
        .exporter(GenAiMetrics::new(&meter))
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let g = generation_span!("openai", "gpt-4o");
        g.in_scope(|| step_span!(0).record_usage(Usage::new(999, 999)));
        g.record_usage(Usage::new(100, 20));
        drop(g);
        let failed = generation_span!("anthropic", "claude");
        failed.set_error("timeout", "slow");
        failed.record("gen_ai.response.time_to_first_chunk", 0.25);
    });
    guard.shutdown(Duration::from_secs(10));
    provider.force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();

    let tokens = histogram_points(&metrics, "gen_ai.client.token.usage", |d| match d {
        AggregatedMetrics::U64(m) => Some(m),
        _ => None,
    });
    // Only the billable generation counts: the step's 999 tokens are display-only.
    let sum = |kind: &str| -> u64 {
        tokens
            .iter()
            .filter(|p| attr(p, "gen_ai.token.type").as_deref() == Some(kind))
            .map(|p| p.sum())
            .sum()
    };
    assert_eq!((sum("input"), sum("output")), (100, 20));
    assert!(tokens
        .iter()
        .all(|p| attr(p, "gen_ai.request.model").as_deref() == Some("gpt-4o")));
    assert_eq!(
        tokens[0].bounds().collect::<Vec<_>>(),
        TOKEN_BUCKETS.to_vec()
    );

    let durations = histogram_points(&metrics, "gen_ai.client.operation.duration", |d| match d {
        AggregatedMetrics::F64(m) => Some(m),
        _ => None,
    });
    assert_eq!(durations.iter().map(|p| p.count()).sum::<u64>(), 2);
    let failed = durations
        .iter()
        .find(|p| attr(p, "gen_ai.provider.name").as_deref() == Some("anthropic"))
        .unwrap();
    assert_eq!(attr(failed, "error.type").as_deref(), Some("timeout"));
    assert_eq!(
        failed.bounds().collect::<Vec<_>>(),
        DURATION_BUCKETS.to_vec()
    );
    let ttft = histogram_points(
        &metrics,
        "gen_ai.client.operation.time_to_first_chunk",
        |d| match d {
            AggregatedMetrics::F64(m) => Some(m),
            _ => None,
        },
    );
    assert_eq!(ttft.len(), 1);
    assert_eq!(ttft[0].sum(), 0.25);
}
