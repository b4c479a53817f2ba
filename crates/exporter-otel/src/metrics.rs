//! GenAI client metrics (feature `metrics`): `gen_ai.client.token.usage`,
//! `gen_ai.client.operation.duration` and `gen_ai.client.operation.time_to_first_chunk`, with the
//! bucket boundaries the conventions give, recorded from finished spans on aitrace's worker thread.
//!
//! Token usage is recorded only from billable spans, so metrics agree with traces about cost.
//!
//! ```no_run
//! # fn meter() -> opentelemetry::metrics::Meter { opentelemetry::global::meter("app") }
//! let guard = aitrace_core::builder()
//!     .exporter(aitrace_otel::GenAiMetrics::new(&meter()))
//!     .install()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use aitrace_core::{ExportError, Exporter, SpanKind, SpanRecord, Status};
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::KeyValue;

use crate::mapping::operation_name;

/// `gen_ai.client.token.usage` buckets, in tokens.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Duration buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Records GenAI client metrics on a `Meter` of your `MeterProvider` (which owns their export).
#[derive(Debug)]
pub struct GenAiMetrics {
    token_usage: Histogram<u64>,
    duration: Histogram<f64>,
    time_to_first_chunk: Histogram<f64>,
}

impl GenAiMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        GenAiMetrics {
            token_usage: meter
                .u64_histogram("gen_ai.client.token.usage")
                .with_unit("{token}")
                .with_description("Number of input and output tokens used")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            duration: meter
                .f64_histogram("gen_ai.client.operation.duration")
                .with_unit("s")
                .with_description("GenAI operation duration")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            time_to_first_chunk: meter
                .f64_histogram("gen_ai.client.operation.time_to_first_chunk")
                .with_unit("s")
                .with_description("Time to receive the first chunk of a streamed response")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
        }
    }

    fn record(&self, r: &SpanRecord) {
        if !matches!(r.kind, SpanKind::ModelGeneration | SpanKind::Embedding) {
            return;
        }
        let mut attrs = Vec::with_capacity(6);
        if let Some(op) = operation_name(r) {
            attrs.push(KeyValue::new("gen_ai.operation.name", op.to_string()));
        }
        if let Some(p) = &r.provider {
            attrs.push(KeyValue::new("gen_ai.provider.name", p.clone()));
        }
        if let Some(m) = &r.request_model {
            attrs.push(KeyValue::new("gen_ai.request.model", m.clone()));
        }
        if let Some(m) = &r.response_model {
            attrs.push(KeyValue::new("gen_ai.response.model", m.clone()));
        }
        if let Some(u) = r.billable_usage() {
            for (kind, count) in [("input", u.input_tokens), ("output", u.output_tokens)] {
                if let Some(count) = count {
                    let mut a = attrs.clone();
                    a.push(KeyValue::new("gen_ai.token.type", kind));
                    self.token_usage.record(count, &a);
                }
            }
        }
        if let Some(t) = r.time_to_first_token_s {
            self.time_to_first_chunk.record(t, &attrs);
        }
        if let Status::Error { error_type, .. } = &r.status {
            attrs.push(KeyValue::new(
                "error.type",
                error_type.clone().unwrap_or_else(|| "_OTHER".into()),
            ));
        }
        self.duration.record(r.duration().as_secs_f64(), &attrs);
    }
}

impl Exporter for GenAiMetrics {
    fn name(&self) -> &str {
        "otel-metrics"
    }
    /// Metrics come from usage, model names and durations only.
    fn reads_content(&self) -> bool {
        false
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        batch.iter().for_each(|r| self.record(r));
        Ok(())
    }
}
