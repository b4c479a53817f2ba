//! What aitrace's exporters to vendor backends share, so each is written once:
//!
//! - [`settings`]: validation of the settings every HTTP exporter takes (URLs, timeouts, headers),
//!   at build time, naming the setting the user set;
//! - [`status`]: HTTP outcomes as retryable or fatal export errors, from the status value;
//! - [`failure`]: a failed request in words for the log (URL, refused / DNS / TLS / status and body);
//! - [`chat`]: the OpenAI chat shape vendor UIs render as a conversation, from GenAI messages;
//! - [`rest`]: a JSON client for a vendor's REST routes (scores, feedback, annotations) and the
//!   recent traces' roots a score about a whole trace is attached to.
#![deny(unsafe_code)]

pub mod chat;
pub mod failure;
pub mod rest;
pub mod settings;
pub mod status;
