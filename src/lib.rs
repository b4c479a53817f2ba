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
//! Everything here is re-exported from [`aitrace_core`]: the span model ([`SpanRecord`]), the layer
//! ([`AiLayer`], [`builder`]), the span macros, [`AiSpanExt`], the pipeline ([`Processor`],
//! [`Exporter`], [`stats`]), and the built-in [`ConsoleExporter`], [`JsonlExporter`] and
//! [`testing::TestExporter`].
#![deny(unsafe_code)]

pub use aitrace_core::*;

/// The OpenTelemetry exporter (feature `otel`).
#[cfg(feature = "otel")]
pub use aitrace_otel as otel;

/// The Langfuse exporter (feature `langfuse`).
#[cfg(feature = "langfuse")]
pub use aitrace_langfuse as langfuse;
