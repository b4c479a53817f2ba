//! **aitrace** traces AI applications (agents, LLM calls, tool calls, embeddings, speech) built on
//! `tracing`, and ships the traces to the backends you pick: the console and JSONL files out of the
//! box; any OpenTelemetry backend with the `otel` feature; Langfuse and Braintrust through exporter
//! crates as they land.
//!
//! ```no_run
//! use aitrace::{agent_span, generation_span, AiSpanExt, ChatMessage, Usage};
//!
//! let guard = aitrace::builder()
//!     .exporter(aitrace::ConsoleExporter::stderr())
//!     .install()
//!     .expect("valid aitrace settings");
//!
//! let agent = agent_span!("support").entered();
//! let chat = generation_span!("openai", "gpt-4o-mini");
//! chat.set_input_messages(&[ChatMessage::user("Where is my order?")]);
//! chat.record_usage(Usage::new(12, 4));
//! drop(chat);
//! drop(agent);
//! drop(guard); // flushes
//! ```
//!
//! `aitrace::builder()` starts with the `filters::SensitiveDataFilter` (feature `filters`, on by
//! default): secrets in inputs, outputs, tool calls, metadata and events are redacted before any
//! exporter sees them. It also prices each billed call with the `filters::CostProcessor`, so every
//! exporter (the console, JSONL, OTel, Langfuse, Braintrust) shows the same cost.
//!
//! Everything else here is re-exported from [`aitrace_core`]: the span model ([`SpanRecord`]), the layer
//! ([`AiLayer`], [`builder`]), the span macros, [`AiSpanExt`], the pipeline ([`Processor`],
//! [`Exporter`], [`stats`]), and the built-in [`ConsoleExporter`], [`JsonlExporter`] and
//! [`testing::TestExporter`].
#![deny(unsafe_code)]

pub use aitrace_core::*;

/// Processors: redaction and more (feature `filters`, on by default).
#[cfg(feature = "filters")]
pub use aitrace_filters as filters;

mod builder;
mod env_exporters;
pub use builder::Builder;
pub use env_exporters::EXPORTERS_ENV;

/// Vendor presets over OTLP (feature `presets`): LangSmith, Datadog, Sentry, PostHog, MLflow,
/// Honeycomb, Grafana Cloud, LangWatch, Laminar.
#[cfg(feature = "presets")]
pub use aitrace_presets as presets;

/// Starts a [`Builder`]. With the `filters` feature (on by default) it already holds a
/// `filters::ChunkAggregator`, a `filters::InlineBlobLimit`, a `filters::CostProcessor` and a
/// `filters::SensitiveDataFilter`, so streamed chunks don't flood backends, a screenshot inlined in a
/// message becomes a marker instead of megabytes in every backend, every billed call has one cost that
/// every exporter shows, and secrets are redacted, unless you opt out with
/// `.without_processor("chunk-aggregator")` / `.without_processor("inline-blob-limit")` /
/// `.without_processor("cost")` / `.without_processor("sensitive-data-filter")`. The cost comes from
/// the built-in dated price table; a model it does not know gets no cost, and a backend with its own
/// prices (Langfuse) prices that one itself.
pub fn builder() -> Builder {
    Builder::default()
}

/// [`builder`] configured from the environment: the `AITRACE_*` settings ([`ENV_SETTINGS`]) and the
/// backends whose variables are set ([`Builder::from_env`]).
pub fn from_env() -> Result<Builder, ConfigError> {
    Builder::from_env()
}

/// Helpers for your own tests: what `aitrace_core::testing` has, with [`capture`](testing::capture)
/// and [`capture_async`](testing::capture_async) building like production does (the default
/// processors included), so a test sees what an exporter would be sent, and
/// [`testing::openai::OpenAiServer`], a scripted OpenAI-compatible server on loopback to point a
/// client at. Feature `testing` (for dev-dependencies).
#[cfg(feature = "testing")]
pub mod testing {
    pub use aitrace_core::testing::*;

    /// Runs `f` with a thread-local subscriber and returns the spans it produced, built with
    /// [`crate::builder`] (the default processors, redaction included).
    pub fn capture(f: impl FnOnce()) -> Vec<aitrace_core::SpanRecord> {
        capture_with(crate::builder(), f)
    }

    /// [`capture`] with a builder of your own.
    pub fn capture_with(
        builder: crate::Builder,
        f: impl FnOnce(),
    ) -> Vec<aitrace_core::SpanRecord> {
        aitrace_core::testing::capture_with(builder.into_core(), f)
    }

    /// [`capture`] for async code (the subscriber follows the future across `.await`s and
    /// threads), built with [`crate::builder`].
    pub async fn capture_async(
        f: impl std::future::Future<Output = ()>,
    ) -> Vec<aitrace_core::SpanRecord> {
        capture_async_with(crate::builder(), f).await
    }

    /// [`capture_async`] with a builder of your own.
    pub async fn capture_async_with(
        builder: crate::Builder,
        f: impl std::future::Future<Output = ()>,
    ) -> Vec<aitrace_core::SpanRecord> {
        aitrace_core::testing::capture_async_with(builder.into_core(), f).await
    }
}

/// The OpenTelemetry exporter (feature `otel`).
#[cfg(feature = "otel")]
pub use aitrace_otel as otel;

/// Fallback adapters (feature `fallback`).
#[cfg(feature = "fallback")]
pub use aitrace_fallback as fallback;

/// The Braintrust exporter (feature `braintrust`).
#[cfg(feature = "braintrust")]
pub use aitrace_braintrust as braintrust;

/// The Langfuse exporter (feature `langfuse`).
#[cfg(feature = "langfuse")]
pub use aitrace_langfuse as langfuse;

/// Zero-code spans for async-openai 0.43 (feature `async-openai`): one tower layer in the client's
/// construction traces every chat, Responses and embeddings call.
#[cfg(feature = "async-openai")]
pub use aitrace_async_openai as async_openai;

/// MCP tracing for rmcp 3.x (feature `mcp`): `serve_client` / `serve_server` (or
/// `TracedServer::new`) put every MCP request in the caller's trace, by the GenAI MCP conventions.
#[cfg(feature = "mcp")]
pub use aitrace_mcp as mcp;
/// rig 0.44 helpers (feature `rig`): time to first token on streams, and an agent span for runs
/// inside your own spans.
#[cfg(feature = "rig")]
pub use aitrace_rig as rig;
