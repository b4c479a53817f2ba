//! GenAI metrics (feature `metrics`), recorded from finished spans on aitrace's worker thread, with the
//! bucket boundaries the conventions give. Names follow [`GENAI_CONVENTIONS`](crate::semconv::GENAI_CONVENTIONS):
//!
//! | metric | instrument | recorded for |
//! |---|---|---|
//! | `gen_ai.client.inference.duration` | histogram, s | model calls (`chat`, `text_completion`, `generate_content`) |
//! | `gen_ai.client.operation.duration` | histogram, s | other client calls (embeddings, speech, images); in transition mode model calls too |
//! | `gen_ai.client.inference.time_to_first_chunk` | histogram, s | streamed model calls |
//! | `gen_ai.client.inference.usage.{input,output,cache_read.input,cache_write.input,reasoning.output}_tokens` | counters, by `gen_ai.token.modality` | billable model calls |
//! | `gen_ai.client.inference.operation.{input,output}_tokens` | histograms, `{token}` | billable model calls |
//! | `gen_ai.invoke_agent.duration`, `gen_ai.invoke_workflow.duration`, `gen_ai.execute_tool.duration` | histograms, s | agents, workflows, tools |
//!
//! In [`SemconvMode::Transition`] (the default) the v1.41 instruments are recorded as well:
//! `gen_ai.client.token.usage` (by `gen_ai.token.type`), `gen_ai.client.operation.duration` for model
//! calls and `gen_ai.client.operation.time_to_first_chunk`. They are other metric names, so no backend
//! sums a call twice within one metric.
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

use aitrace_core::{ExportError, Exporter, SpanKind, SpanRecord, Usage};
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::KeyValue;

use crate::mapping::operation_name;
use crate::semconv::SemconvMode;

/// Token histogram buckets, in tokens.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Client call and tool duration buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Agent and workflow duration buckets, in seconds (runs last longer than one call).
pub const RUN_DURATION_BUCKETS: [f64; 13] = [
    0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6,
];

/// The usage counters, one per token category.
#[derive(Debug)]
struct UsageCounters {
    input: Counter<u64>,
    output: Counter<u64>,
    cache_read: Counter<u64>,
    cache_write: Counter<u64>,
    reasoning: Counter<u64>,
}

/// The v1.41 instruments transition mode keeps recording.
#[derive(Debug)]
struct PreviousInstruments {
    token_usage: Histogram<u64>,
    operation_duration: Histogram<f64>,
    time_to_first_chunk: Histogram<f64>,
}

/// Records GenAI metrics on a `Meter` of your `MeterProvider` (which owns their export).
#[derive(Debug)]
pub struct GenAiMetrics {
    inference_duration: Histogram<f64>,
    operation_duration: Histogram<f64>,
    time_to_first_chunk: Histogram<f64>,
    input_tokens: Histogram<u64>,
    output_tokens: Histogram<u64>,
    usage: UsageCounters,
    agent_duration: Histogram<f64>,
    workflow_duration: Histogram<f64>,
    tool_duration: Histogram<f64>,
    previous: Option<PreviousInstruments>,
}

fn seconds(
    meter: &Meter,
    name: &'static str,
    what: &'static str,
    buckets: &[f64],
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(what)
        .with_boundaries(buckets.to_vec())
        .build()
}

fn tokens(meter: &Meter, name: &'static str, what: &'static str) -> Histogram<u64> {
    meter
        .u64_histogram(name)
        .with_unit("{token}")
        .with_description(what)
        .with_boundaries(TOKEN_BUCKETS.to_vec())
        .build()
}

fn counter(meter: &Meter, name: &'static str, what: &'static str) -> Counter<u64> {
    meter
        .u64_counter(name)
        .with_unit("{token}")
        .with_description(what)
        .build()
}

/// Whether an operation is inference (a model call) in the conventions' sense.
fn is_inference(op: Option<&str>) -> bool {
    matches!(op, Some("chat" | "text_completion" | "generate_content"))
}

/// Input or output tokens by `gen_ai.token.modality`: the provider's breakdown where it reported one
/// (text, image, audio), the rest as `unknown`, so each counter's plain sum is the total.
fn by_modality(
    total: Option<u64>,
    parts: [(&'static str, Option<u64>); 3],
) -> Vec<(&'static str, u64)> {
    let Some(total) = total else {
        return Vec::new();
    };
    let mut out: Vec<(&'static str, u64)> = parts
        .into_iter()
        .filter_map(|(m, n)| n.filter(|n| *n > 0).map(|n| (m, n)))
        .collect();
    let reported: u64 = out.iter().map(|(_, n)| n).sum();
    if reported < total || out.is_empty() {
        out.push(("unknown", total.saturating_sub(reported)));
    }
    out
}

impl GenAiMetrics {
    /// Creates the instruments on `meter`, in the mode `OTEL_SEMCONV_STABILITY_OPT_IN` selects.
    pub fn new(meter: &Meter) -> Self {
        Self::with_mode(meter, SemconvMode::from_env())
    }

    /// Creates the instruments on `meter`, in `mode`.
    pub fn with_mode(meter: &Meter, mode: SemconvMode) -> Self {
        let previous = mode.writes_previous_names().then(|| PreviousInstruments {
            token_usage: tokens(
                meter,
                "gen_ai.client.token.usage",
                "Number of input and output tokens used",
            ),
            operation_duration: seconds(
                meter,
                "gen_ai.client.operation.duration",
                "GenAI operation duration",
                &DURATION_BUCKETS,
            ),
            time_to_first_chunk: seconds(
                meter,
                "gen_ai.client.operation.time_to_first_chunk",
                "Time to receive the first chunk of a streamed response",
                &DURATION_BUCKETS,
            ),
        });
        GenAiMetrics {
            inference_duration: seconds(
                meter,
                "gen_ai.client.inference.duration",
                "Duration of a model call",
                &DURATION_BUCKETS,
            ),
            operation_duration: match &previous {
                Some(p) => p.operation_duration.clone(),
                None => seconds(
                    meter,
                    "gen_ai.client.operation.duration",
                    "GenAI operation duration",
                    &DURATION_BUCKETS,
                ),
            },
            time_to_first_chunk: seconds(
                meter,
                "gen_ai.client.inference.time_to_first_chunk",
                "Time to receive the first chunk of a streamed response",
                &DURATION_BUCKETS,
            ),
            input_tokens: tokens(
                meter,
                "gen_ai.client.inference.operation.input_tokens",
                "Input tokens per model call",
            ),
            output_tokens: tokens(
                meter,
                "gen_ai.client.inference.operation.output_tokens",
                "Output tokens per model call",
            ),
            usage: UsageCounters {
                input: counter(
                    meter,
                    "gen_ai.client.inference.usage.input_tokens",
                    "Input tokens used, cached ones included",
                ),
                output: counter(
                    meter,
                    "gen_ai.client.inference.usage.output_tokens",
                    "Output tokens used, reasoning ones included",
                ),
                cache_read: counter(
                    meter,
                    "gen_ai.client.inference.usage.cache_read.input_tokens",
                    "Input tokens served from the provider's cache",
                ),
                cache_write: counter(
                    meter,
                    "gen_ai.client.inference.usage.cache_write.input_tokens",
                    "Input tokens written to the provider's cache",
                ),
                reasoning: counter(
                    meter,
                    "gen_ai.client.inference.usage.reasoning.output_tokens",
                    "Output tokens used for reasoning",
                ),
            },
            agent_duration: seconds(
                meter,
                "gen_ai.invoke_agent.duration",
                "Duration of an agent run",
                &RUN_DURATION_BUCKETS,
            ),
            workflow_duration: seconds(
                meter,
                "gen_ai.invoke_workflow.duration",
                "Duration of a workflow run",
                &RUN_DURATION_BUCKETS,
            ),
            tool_duration: seconds(
                meter,
                "gen_ai.execute_tool.duration",
                "Duration of a tool call",
                &DURATION_BUCKETS,
            ),
            previous,
        }
    }

    fn record(&self, r: &SpanRecord) {
        let seconds = r.duration().as_secs_f64();
        let error = r
            .status
            .error_type_or_other()
            .map(|t| KeyValue::new("error.type", t.to_string()));
        let op = operation_name(r);
        let mut attrs = Vec::with_capacity(6);
        if let Some(op) = op {
            attrs.push(KeyValue::new("gen_ai.operation.name", op.to_string()));
        }
        match r.kind {
            SpanKind::AgentRun
            | SpanKind::WorkflowRun
            | SpanKind::ToolCall
            | SpanKind::McpToolCall => {
                let (histogram, name) = match r.kind {
                    SpanKind::AgentRun => (
                        &self.agent_duration,
                        r.agent
                            .as_ref()
                            .and_then(|a| a.name.clone())
                            .map(|n| ("gen_ai.agent.name", n)),
                    ),
                    SpanKind::WorkflowRun => (
                        &self.workflow_duration,
                        r.attributes
                            .get("gen_ai.workflow.name")
                            .and_then(|v| v.as_str())
                            .map(|n| ("gen_ai.workflow.name", n.to_string())),
                    ),
                    _ => (
                        &self.tool_duration,
                        r.tool
                            .as_ref()
                            .and_then(|t| t.name.clone())
                            .map(|n| ("gen_ai.tool.name", n)),
                    ),
                };
                attrs.extend(name.map(|(k, v)| KeyValue::new(k, v)));
                attrs.extend(error);
                histogram.record(seconds, &attrs);
                return;
            }
            k if k.is_billable_kind() => {}
            _ => return,
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
        let inference = is_inference(op);
        if inference {
            if let Some(u) = r.billable_usage() {
                self.record_usage(u, &attrs);
            }
            if let Some(t) = r.time_to_first_token_s {
                self.time_to_first_chunk.record(t, &attrs);
                if let Some(p) = &self.previous {
                    p.time_to_first_chunk.record(t, &attrs);
                }
            }
        } else if let (Some(u), Some(p)) = (r.billable_usage(), &self.previous) {
            // The v1.41 token histogram covered every operation (embeddings included).
            record_token_types(&p.token_usage, u, &attrs);
        }
        attrs.extend(error);
        if inference {
            self.inference_duration.record(seconds, &attrs);
            if self.previous.is_some() {
                self.operation_duration.record(seconds, &attrs);
            }
        } else {
            self.operation_duration.record(seconds, &attrs);
        }
    }

    fn record_usage(&self, u: &Usage, attrs: &[KeyValue]) {
        if let Some(n) = u.input_tokens {
            self.input_tokens.record(n, attrs);
        }
        if let Some(n) = u.output_tokens {
            self.output_tokens.record(n, attrs);
        }
        let add = |counter: &Counter<u64>, counts: Vec<(&'static str, u64)>| {
            for (modality, n) in counts {
                let mut a = attrs.to_vec();
                a.push(KeyValue::new("gen_ai.token.modality", modality));
                counter.add(n, &a);
            }
        };
        add(
            &self.usage.input,
            by_modality(
                u.input_tokens,
                [
                    ("text", u.input_text_tokens),
                    ("image", u.input_image_tokens),
                    ("audio", u.input_audio_tokens),
                ],
            ),
        );
        add(
            &self.usage.output,
            by_modality(
                u.output_tokens,
                [
                    ("text", u.output_text_tokens),
                    ("image", u.output_image_tokens),
                    ("audio", u.output_audio_tokens),
                ],
            ),
        );
        let no_breakdown = [("text", None), ("image", None), ("audio", None)];
        add(
            &self.usage.cache_read,
            by_modality(u.cache_read_input_tokens, no_breakdown),
        );
        add(
            &self.usage.cache_write,
            by_modality(u.cache_creation_input_tokens, no_breakdown),
        );
        add(
            &self.usage.reasoning,
            by_modality(u.reasoning_tokens, no_breakdown),
        );
        if let Some(p) = &self.previous {
            record_token_types(&p.token_usage, u, attrs);
        }
    }
}

/// `gen_ai.client.token.usage` as v1.41 had it: one histogram, by `gen_ai.token.type`.
fn record_token_types(histogram: &Histogram<u64>, u: &Usage, attrs: &[KeyValue]) {
    for (kind, count) in [("input", u.input_tokens), ("output", u.output_tokens)] {
        if let Some(count) = count {
            let mut a = attrs.to_vec();
            a.push(KeyValue::new("gen_ai.token.type", kind));
            histogram.record(count, &a);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modality_counts_add_up_to_the_total() {
        assert_eq!(
            by_modality(
                Some(100),
                [("text", Some(60)), ("image", Some(25)), ("audio", None)]
            ),
            vec![("text", 60), ("image", 25), ("unknown", 15)]
        );
        assert_eq!(
            by_modality(
                Some(100),
                [("text", None), ("image", None), ("audio", None)]
            ),
            vec![("unknown", 100)]
        );
        assert_eq!(
            by_modality(
                Some(40),
                [("text", Some(40)), ("image", None), ("audio", None)]
            ),
            vec![("text", 40)]
        );
        assert!(
            by_modality(None, [("text", Some(1)), ("image", None), ("audio", None)]).is_empty()
        );
    }
}
