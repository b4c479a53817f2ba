//! What the per-span benchmarks share: the span they time and tracing-opentelemetry's no-op
//! exporter.

use std::hint::black_box;

use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing::field::Empty;

/// ~1 KB of chat messages, as an instrumented client would record them.
pub(crate) fn messages(role: &str) -> String {
    let text =
        "The order #1042 left our warehouse yesterday and is expected on Thursday. ".repeat(13);
    format!(r#"[{{"role":"{role}","parts":[{{"type":"text","content":"{text}"}}]}}]"#)
}

/// The generation as a user instruments one: model, provider, 3 parameters, ~1 KB input and
/// output, usage recorded late.
pub(crate) fn generation(input: &str, output: &str) {
    let span = tracing::info_span!(
        "chat",
        aitrace.kind = "model_generation",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-4o",
        gen_ai.request.temperature = 0.2,
        gen_ai.request.max_tokens = 512u64,
        gen_ai.request.top_p = 0.9,
        gen_ai.input.messages = input,
        gen_ai.output.messages = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
    );
    span.record("gen_ai.output.messages", output);
    span.record("gen_ai.usage.input_tokens", 812u64);
    span.record("gen_ai.usage.output_tokens", 96u64);
    black_box(&span);
}

#[derive(Debug)]
/// A do-nothing `SpanExporter` for tracing-opentelemetry's `BatchSpanProcessor`.
pub(crate) struct NoopOtel;
impl SpanExporter for NoopOtel {
    async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        black_box(batch.len());
        Ok(())
    }
}

/// tracing-opentelemetry's side as its users install it: a `BatchSpanProcessor` (queue of
/// `queue` spans) over the no-op exporter.
pub(crate) fn otel_provider(queue: usize) -> SdkTracerProvider {
    let processor = BatchSpanProcessor::builder(NoopOtel)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(queue)
                .build(),
        )
        .build();
    SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build()
}
