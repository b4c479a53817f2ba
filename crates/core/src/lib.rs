//! The core of [aitrace]: the span model, the `tracing` layer that fills it, and the export pipeline
//! every exporter crate plugs into.
//!
//! ```
//! use aitrace_core::{generation_span, agent_span, AiSpanExt, ChatMessage, Usage};
//! use aitrace_core::testing::TestExporter;
//! use tracing_subscriber::prelude::*;
//!
//! let spans = TestExporter::new();
//! let (layer, guard) = aitrace_core::builder().exporter(spans.clone()).build_layer().unwrap();
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let _agent = agent_span!("support").entered();
//!     let chat = generation_span!("openai", "gpt-4o-mini");
//!     chat.set_input_messages(&[ChatMessage::user("Where is my order?")]);
//!     chat.set_output_messages(&[ChatMessage::assistant("On its way.").with_finish_reason("stop")]);
//!     chat.record_usage(Usage::new(12, 4));
//! });
//! guard.shutdown(std::time::Duration::from_secs(5));
//! let chat = spans.span("chat");
//! assert!(chat.billable);
//! assert_eq!(chat.model(), Some("gpt-4o-mini"));
//! assert_eq!(spans.total_billable_usage(chat.trace_id), Usage::new(12, 4));
//! ```
//!
//! # Which spans are AI spans
//! A span whose callsite declares `aitrace.kind` or any `gen_ai.*` field. The layer also sees the
//! application's own spans, for one reason: **one request, one trace**. Every AI span under the same
//! outermost application span (an HTTP handler's request span, a job) joins one trace, whatever spans
//! sit between; a span's parent is its nearest AI ancestor, and AI spans with no AI ancestor are the
//! trace's top-level spans (no parent, or the remote parent of a `traceparent` set on the request
//! span). [`AiSpanExt`]'s trace-level setters (`set_user`, `set_session`, `add_tags`, `set_metadata`,
//! `set_trace_name`, `set_parent_traceparent`, `set_trace_id`) work on the application's spans too,
//! and every AI span below carries what they set. For the application's own spans the layer costs a
//! field-name check and a span look-up at record and close (docs/PERFORMANCE.md), and its level hint
//! keeps callsites nobody wants disabled ([`Builder::span_level`]).
//!
//! The [span macros](crate::generation_span) declare the standard fields; [`fields`] lists every name
//! the layer reads. `tracing` events at or above the configured level (default `INFO`) inside an AI
//! span become [`SpanEvent`]s of the nearest AI span.
//!
//! # The usage invariant
//! The usage of one model call is billed on exactly one span, marked [`SpanRecord::billable`]:
//! the innermost generation / embedding / STT / TTS span that carries it. Spans around it (a wrapper
//! generation, a step, a chunk, a fallback attempt) may carry the same numbers for display but are not
//! billable, and every exporter maps them to a non-billable type. A generation that records no usage
//! itself bills the sum of its model steps. [`testing::TestExporter::total_billable_usage`] is what
//! tests compare against the true usage.
//!
//! # Pipeline
//! On close, a record runs through the [`Processor`]s in order (on the application's thread, panics
//! caught), then is offered to each exporter's bounded queue without blocking; a full queue drops and
//! counts. One worker thread per exporter batches (count, bytes, age), calls [`Exporter::export`], and
//! retries retryable errors with exponential backoff and `Retry-After`. [`Guard`] flushes on drop;
//! [`Guard::shutdown`] returns within its deadline and reports what was lost; [`stats`] and
//! [`Guard::stats`] expose the counters.
//!
//! # Ids and distributed traces
//! Ids are W3C trace-context ids. [`AiSpanExt::set_parent_traceparent`] joins an incoming trace;
//! [`AiSpanExt::current_traceparent`] propagates it. With the `tracing-opentelemetry` feature, spans
//! take the trace and span ids of `tracing-opentelemetry`'s layer when it is installed in the same
//! subscriber (read when the span is entered, or at close if it never was), so both views of a trace
//! match.
//!
//! [aitrace]: https://docs.rs/aitrace
#![deny(unsafe_code)]

mod assembler;
mod builder;
pub mod console;
mod error;
pub mod export;
mod ext;
pub mod fields;
mod ids;
pub mod jsonl;
mod layer;
mod macros;
mod message;
mod pipeline;
mod provider;
mod record;
pub mod score;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use builder::{
    builder, capture_content_from_env, Builder, Guard, CAPTURE_CONTENT_ENV, ENV_SETTINGS,
};
pub use console::ConsoleExporter;
pub use error::{ConfigError, InstallError};
pub use export::{ExportError, Exporter};
pub use ext::{AiSpanExt, SetParentError, MAX_SCORES_PER_SPAN};
pub use ids::{IdParseError, SpanId, TraceId, TraceParent};
pub use jsonl::JsonlExporter;
pub use layer::context::{ContextSpans, CONTEXT_SPANS_ENV, FRAMEWORK_TARGETS};
pub use layer::diagnostics::DIAGNOSTICS_TARGET;
pub use layer::{AiLayer, MAX_EVENTS_PER_SPAN};
pub use message::{messages_from_value, messages_to_value, ChatMessage, KnownPart, Part};
pub use pipeline::{
    stats, ExportConfig, ExporterStats, Processor, ShutdownReport, Stats, Verdict,
    EXPORT_LOG_TARGET,
};
pub use provider::normalize_provider;
pub use record::{
    is_metadata_namespace, register_metadata_namespace, total_billable_usage, AgentInfo, Cost,
    ModelParams, SpanEvent, SpanKind, SpanLink, SpanRecord, Status, ToolInfo, Usage,
};
pub use score::{
    score, Score, ScoreError, ScoreRecord, ScoreSource, ScoreTarget, ScoreTargets, ScoreValue,
};

#[doc(hidden)]
pub mod __private {
    pub use tracing;
}
