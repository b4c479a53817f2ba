//! Braintrust exporter for [aitrace](https://docs.rs/aitrace): one complete row per finished span via
//! Braintrust's REST API (`POST /v1/project_logs/{project_id}/insert`).
//!
//! ```no_run
//! // BRAINTRUST_API_KEY, optional BRAINTRUST_API_URL, BRAINTRUST_PROJECT or BRAINTRUST_PROJECT_ID
//! let guard = aitrace_core::builder()
//!     .exporter(aitrace_braintrust::BraintrustExporter::from_env("my-app")?)
//!     .install()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - The project is resolved once by name with `POST /v1/project` (idempotent) and cached.
//! - Rows: `id` = `span_id` = our span id; `root_span_id` = the trace id; `span_parents` = the local
//!   parent; `created` RFC 3339; `metrics.start`/`end` in unix seconds.
//! - `span_attributes.type`: `llm` for billable model calls only; `tool` for tools; `function` for
//!   guardrails; `task` for everything else (agents, workflows, steps, chunks, fallback attempts), so a
//!   per-chunk or per-step row can never be summed as another model call.
//! - Token metrics (`prompt_tokens` including cached, `completion_tokens`, `tokens`,
//!   `prompt_cached_tokens`, `prompt_cache_creation_tokens`, `completion_reasoning_tokens`),
//!   `time_to_first_token` and `estimated_cost` only on billable rows: Braintrust sums token metrics
//!   over every non-score row, whatever its type.
//! - LLM rows: `input` = the full OpenAI-style message list (system, user, assistant with
//!   `tool_calls`, tool results), `output` = the assistant message(s): the Thread view shows the
//!   conversation, tool calls included. `metadata.model` is the model that answered (after a fallback),
//!   with `provider` and the model parameters.
//! - Tool rows: `input` = arguments, `output` = result. Errors go to `error`. The trace's tags (merged
//!   from all its spans) go on the root row. `metadata.braintrust.<key>` reaches only this exporter.
//! - Requests of at most 100 rows and 5 MiB; a field over 1 MiB is cut with a marker; 429/5xx and
//!   connection errors are retried by the pipeline (honouring `Retry-After`); 401/403 fail with a
//!   message naming `BRAINTRUST_API_KEY`.
#![deny(unsafe_code)]

mod exporter;
pub mod mapping;

pub use exporter::{
    BraintrustConfig, BraintrustExporter, ProjectRef, DEFAULT_API_URL, MAX_FIELD_BYTES,
    MAX_REQUEST_BYTES, MAX_ROWS_PER_REQUEST,
};
pub use mapping::{event, rows, span_type, Row};
