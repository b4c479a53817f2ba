//! Processors for [aitrace](https://docs.rs/aitrace): they run on every closed span, in the order
//! added, before any exporter sees it.
//!
//! - [`SensitiveDataFilter`]: redacts secrets by key and by value shape, deeply (on by default in
//!   `aitrace::builder()`; `.without_processor("sensitive-data-filter")` turns it off).
#![deny(unsafe_code)]

pub mod keys;
mod redact;

pub use keys::{key_words, KeyRule, DEFAULT_SENSITIVE_KEYS};
pub use redact::{
    error_marker, RedactionStyle, SensitiveDataFilter, SensitiveDataFilterBuilder,
    DEFAULT_VALUE_PATTERNS, MAX_DEPTH,
};
