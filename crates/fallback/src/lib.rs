//! Fallback adapters for [aitrace](https://docs.rs/aitrace) whose traces name the provider that
//! really answered.
//!
//! Voice and chat agents chain providers: a primary model and backups. When a backup answers, the
//! trace must say so, or cost lands on the wrong model. [`LlmFallback`], [`SttFallback`] and
//! [`TtsFallback`] implement [`LlmProvider`], [`SttProvider`] and [`TtsProvider`] over an ordered list
//! of providers (so adapters nest), following LiveKit Agents' adapters: per-attempt timeout
//! (LLM 5 s, STT/TTS 10 s), retries per provider (LLM 0, STT 1, TTS 2), a retry interval, no switch
//! after output reached the caller unless allowed, failed providers marked unavailable and probed
//! back, availability events. STT streams that break mid-utterance move to the next provider and
//! replay the utterance's audio; TTS output keeps one sample rate and channel layout (the highest rate
//! of the voices) across switches. And they trace:
//!
//! - each try is a `fallback_attempt` span (child of the caller's span) with its index, provider,
//!   model, outcome and time to first chunk;
//! - on the first chunk, the caller's span and its billable span are re-stamped with the provider and
//!   model that answered (`AiSpanExt::restamp_model`);
//! - the answer's usage is recorded once, on the billable span; attempts carry none;
//! - when the caller is not inside a generation span, the adapter opens one.
//!
//! ```
//! use std::sync::Arc;
//! use aitrace_core::{generation_span, Usage};
//! use aitrace_fallback::testing::{Behavior, ScriptedLlm};
//! use aitrace_fallback::{ChatRequest, ErrorKind, LlmFallback, LlmProvider, ProviderError};
//! use futures::StreamExt;
//!
//! let primary = ScriptedLlm::scripted("openai", "gpt-4o", vec![], Behavior::Fail(ProviderError::new(ErrorKind::Server, "503")));
//! let backup = ScriptedLlm::answering("anthropic", "claude-3-5-haiku", "Hello there", Usage::new(10, 2));
//! let llm = LlmFallback::new(vec![Arc::new(primary), Arc::new(backup)]).unwrap();
//! let spans = aitrace_core::testing::capture(|| {
//!     let _g = generation_span!("openai", "gpt-4o").entered();
//!     futures::executor::block_on(async {
//!         let mut answer = llm.chat(ChatRequest::default()).await.unwrap();
//!         while let Some(chunk) = answer.next().await { chunk.unwrap(); }
//!     });
//! });
//! let chat = spans.iter().find(|s| s.name == "chat").unwrap();
//! assert_eq!(chat.model(), Some("claude-3-5-haiku"));
//! assert_eq!(chat.usage, Some(Usage::new(10, 2)));
//! ```
//!
//! Your own provider implements [`LlmProvider`] with the [`async_trait`](macro@async_trait) attribute this crate
//! re-exports (no dependency of your own needed):
//!
//! ```
//! use aitrace_core::Usage;
//! use aitrace_fallback::{async_trait, ChatChunk, ChatRequest, ChatStream, LlmProvider, ProviderError};
//! use futures::StreamExt;
//!
//! struct MyModel;
//!
//! #[async_trait]
//! impl LlmProvider for MyModel {
//!     fn provider(&self) -> &str { "my-company" }
//!     fn model(&self) -> &str { "house-model-1" }
//!     async fn chat(&self, _request: ChatRequest) -> Result<ChatStream, ProviderError> {
//!         let last = ChatChunk {
//!             text: Some("Hello".into()),
//!             finish_reason: Some("stop".into()),
//!             usage: Some(Usage::new(5, 1)),
//!             ..ChatChunk::default()
//!         };
//!         Ok(futures::stream::iter([Ok(last)]).boxed())
//!     }
//! }
//! # let _ = MyModel;
//! ```
//!
//! No async runtime is required: timeouts use `futures-timer`. Background recovery probes need a
//! [`Spawn`] (a closure, or [`TokioSpawner`] with the `tokio` feature); without one, a failed provider
//! is tried again by the first request after `recovery_interval`.
#![deny(unsafe_code)]

mod attempt;
mod audio;
mod availability;
mod error;
mod llm;
mod pool;
mod stt;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod tts;

/// The attribute [`LlmProvider`], [`SttProvider`] and [`TtsProvider`] implementations need.
pub use async_trait::async_trait;
pub use audio::{AudioFrame, Resampler};
#[cfg(feature = "tokio")]
pub use availability::TokioSpawner;
pub use availability::{AvailabilityChanged, Spawn};
pub use error::{AllFailed, ErrorKind, ProviderError};
pub use llm::{
    ChatChunk, ChatRequest, ChatStream, LlmFallback, LlmFallbackConfig, LlmProvider, ToolCallDelta,
};
pub use stt::{
    SttEvent, SttFallback, SttFallbackConfig, SttFallbackStream, SttProvider, SttStream, Transcript,
};
pub use tts::{AudioStream, TtsFallback, TtsFallbackConfig, TtsProvider};
