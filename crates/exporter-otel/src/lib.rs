//! OpenTelemetry exporter for [aitrace](https://docs.rs/aitrace): AI spans in the latest OTel GenAI
//! semantic conventions (`chat {model}` CLIENT spans with `gen_ai.provider.name`, `gen_ai.usage.*`,
//! `gen_ai.input.messages` ...), sent over OTLP/HTTP (protobuf, blocking client: no async runtime
//! needed), over OTLP/gRPC (feature `grpc`, selected by `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` or
//! `.grpc(true)`; the exporter owns a small current-thread Tokio runtime for it; plaintext, meant for a
//! local collector), or through any `opentelemetry_sdk` `SpanExporter`. HTTPS endpoints use rustls with
//! the system's certificate store.
//!
//! ```no_run
//! // With the facade: aitrace::builder() and aitrace::otel::OtelExporter (feature "otel").
//! let guard = aitrace_core::builder()
//!     .exporter(aitrace_otel::OtelExporter::builder()
//!         .endpoint("http://127.0.0.1:6006/v1/traces")   // e.g. Arize Phoenix
//!         .resource_attribute("openinference.project.name", "my-app")
//!         .openinference(true)
//!         .build()?)
//!     .install()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! It runs as an aitrace pipeline exporter: aitrace's queue, batching, retry and stats; the SDK
//! exporter is called on aitrace's worker thread (its own retries are turned off so one policy
//! applies).
//!
//! # Mapping rules
//! The names are those of `semantic-conventions-genai` v0.1.0. By default ([`SemconvMode::Transition`])
//! a name it changed is written in its v1.41 form too, so backends that have not moved keep reading it;
//! `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` or `.semconv(SemconvMode::Latest)` writes
//! the current names only. docs/architecture.md has the table of names per mode.
//! - Span names `{operation} {target}`: `chat gpt-4o`, `embeddings text-embedding-3-small`,
//!   `execute_tool search`, `invoke_agent planner`, `retrieval kb`, `invoke_workflow ingest`; other
//!   kinds keep their own name. The span's own name is always in `aitrace.span.name`.
//! - Kinds: CLIENT for model, embedding, retrieval, rerank, speech calls and fallback attempts;
//!   INTERNAL for agents, tools, workflows, steps.
//! - `gen_ai.usage.*` only on billable spans, so steps, chunks, attempts and wrappers never repeat
//!   usage (`input_tokens` includes cached tokens, as the conventions say).
//! - Content (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`,
//!   `gen_ai.tool.definitions`, `gen_ai.tool.call.arguments/result`, `gen_ai.retrieval.query.text`,
//!   `gen_ai.retrieval.documents`) as JSON strings in the shapes of the conventions' schemas; off with
//!   `capture_content(false)`. Plain-text input or output of a generation or agent becomes one user /
//!   assistant message. The deprecated `gen_ai.system`, `gen_ai.prompt` and `gen_ai.completion` are
//!   never written.
//! - `error.type`, the span status and the `gen_ai.client.operation.exception` event on failures;
//!   `aitrace.fallback.attempt` on each try of a fallback; `aitrace.billable`, `aitrace.span.kind`,
//!   `user.id`, `aitrace.tags`, `aitrace.metadata.<key>`.
//! - [`OpenInference`] (`.openinference(true)`) adds `openinference.span.kind`, `llm.*`,
//!   `input.value`/`output.value` for Phoenix and Arize. Other vendors plug in a [`Dialect`].
//!
//! # Metrics
//! With the `metrics` feature, `GenAiMetrics` records the GenAI metrics of the same conventions
//! (model call duration and time to first chunk, token counters by modality and per-call token
//! histograms, agent, workflow and tool durations) with their bucket boundaries, on a `Meter` you
//! provide; see its module for the list per mode.
//!
//! # Sharing a trace with `tracing-opentelemetry`
//! Enable aitrace's `tracing-opentelemetry` feature and add the aitrace layer *before* the
//! `tracing-opentelemetry` layer (`registry().with(aitrace_layer).with(otel_layer)`): aitrace records
//! then carry the same trace and span ids as your own OTel spans, including spans that are never
//! entered, so both exports form one trace. The other order works too, except that a never-entered
//! AI span keeps aitrace's own span id.
#![deny(unsafe_code)]

mod builder;
mod conform;
mod exporter;
pub mod http;
pub mod mapping;
#[cfg(feature = "metrics")]
pub mod metrics;
mod openinference;
pub mod scores;
pub mod semconv;
mod send;
/// Settings validation shared by the HTTP exporters (from `aitrace-exporter-kit`).
pub use aitrace_exporter_kit::settings;

pub use builder::OtelExporterBuilder;
pub use exporter::{classify, partial_success_error, OtelExporter, OtlpTransport, ScoreRoute};
pub use mapping::{to_span_data, Dialect, MappingOptions};
#[cfg(feature = "metrics")]
pub use metrics::GenAiMetrics;
pub use openinference::{openinference_kind, OpenInference};
pub use semconv::SemconvMode;
pub use send::TraceDialect;
