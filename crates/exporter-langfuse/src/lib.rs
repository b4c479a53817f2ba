//! Langfuse exporter for [aitrace](https://docs.rs/aitrace).
//!
//! Sends spans the way Langfuse's own SDKs do today: OTLP/HTTP (protobuf, gzip) to
//! `{LANGFUSE_BASE_URL}/api/public/otel/v1/traces` with Basic auth (`public_key:secret_key`) and
//! `x-langfuse-ingestion-version: 4`. Each span is the GenAI-conventions span of `aitrace-otel` plus
//! the Langfuse dialect ([`mapping`]): an explicit `langfuse.observation.type` on every span
//! (generation, embedding, agent, tool, retriever, guardrail, chain, span), the model that answered,
//! `usage_details` and `cost_details` on billable spans only, chat messages as input/output, error and
//! `length` levels, prompt linking, and the trace name, user, session, merged tags and trace metadata
//! on every span (Langfuse v4 filters per observation).
//!
//! ```no_run
//! // LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, LANGFUSE_BASE_URL (default https://cloud.langfuse.com)
//! let guard = aitrace_core::builder()
//!     .exporter(aitrace_langfuse::LangfuseExporter::from_env()?)
//!     .install()?;
//! // Link a generation to a managed prompt, and find the trace later by your own request id:
//! let chat = aitrace_core::generation_span!("openai", "gpt-4o");
//! use aitrace_core::AiSpanExt;
//! chat.set_metadata("langfuse.promptName", "support-answer");
//! chat.set_metadata("langfuse.promptVersion", 3);
//! let agent = aitrace_core::agent_span!("support");
//! agent.set_trace_id(aitrace_langfuse::trace_id_from_seed("request-8f2c"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The exporter asks the pipeline for whole traces (so trace-level fields reach every span), splits
//! requests to stay under 3 MB, pauses after Langfuse rejects the credentials (one clear error naming
//! the variables, then counted drops, retrying after 1 min, doubling up to 15 min), drops and reports
//! spans with invalid ids (one would make Langfuse reject
//! the whole request), and lets aitrace's pipeline retry 429/5xx/connection errors with backoff.
//! Settings from the environment: see [`LangfuseConfig::from_env`].
#![deny(unsafe_code)]

mod exporter;
pub mod mapping;

pub use exporter::{
    trace_id_from_seed, LangfuseConfig, LangfuseExporter, AUTH_COOLDOWN, AUTH_COOLDOWN_MAX,
    DEFAULT_BASE_URL, MAX_REQUEST_BYTES, MAX_SPAN_BYTES, SCORES_PATH, TRACES_PATH,
};
pub use mapping::{
    langfuse_attributes, observation_type, usage_details, Deployment, LangfuseDialect, TraceContext,
};
