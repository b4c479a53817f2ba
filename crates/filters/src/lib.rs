//! Processors for [aitrace](https://docs.rs/aitrace): they run on every closed span, in the order
//! added, before any exporter sees it.
//!
//! - [`SensitiveDataFilter`]: redacts secrets by key and by value shape, deeply (on by default in
//!   `aitrace::builder()`; `.without_processor("sensitive-data-filter")` turns it off).
//! - [`Sampler`]: keeps or drops whole traces (always, never, ratio, custom), consistent across
//!   services through the trace id and the `traceparent` sampled flag; errors can be force-kept.
//! - [`CostProcessor`]: cost of billable calls from a [`PriceTable`] (built-in, dated; or your JSON
//!   file; or entries from code), per kind of token; unknown models get no cost, never a guess.
//! - [`ChunkAggregator`]: collapses streamed-chunk spans into their parent (count, time to first
//!   token, usage, optionally text); on by default in `aitrace::builder()`.
//! - [`InlineBlobLimit`]: inline images and audio over 100 kB become a marker with their media type
//!   and size; on by default in `aitrace::builder()`.
//! - [`Truncator`]: caps every value (100 kB) and record (1 MB) with a visible marker.
#![deny(unsafe_code)]

mod blobs;
mod chunks;
mod cost;
pub mod keys;
mod redact;
mod sampler;
mod truncate;

pub use aitrace_core::export::truncation_marker;
pub use blobs::{InlineBlobLimit, OMITTED_BLOB_TYPE};
pub use chunks::ChunkAggregator;
pub use cost::{CostProcessor, ModelPrice, PriceTable, BUILTIN_PRICES_JSON};
pub use keys::{key_words, KeyRule, DEFAULT_SENSITIVE_KEYS};
pub use redact::{
    error_marker, RedactionStyle, SensitiveDataFilter, SensitiveDataFilterBuilder,
    DEFAULT_VALUE_PATTERNS, MAX_DEPTH,
};
pub use sampler::{Sampler, SamplingStrategy};
pub use truncate::Truncator;
