//! [`SttProvider`] and [`SttFallback`]: speech recognition over an ordered list of providers. A
//! stream that breaks mid-utterance moves to the next provider and replays the utterance's audio, so
//! no words are lost.

use std::sync::Arc;
use std::time::Duration;

use aitrace_core::{AiSpanExt, ConfigError};
use async_trait::async_trait;
use tracing::Span;

use crate::audio::AudioFrame;
use crate::error::ProviderError;
use crate::pool::{adapter_constructors, adapter_identity, pool_methods, Pool, Probe, Walk};

/// Recognized speech.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    /// What was heard.
    pub text: String,
    /// Whether this is the utterance's final text.
    pub is_final: bool,
    /// The recognizer's confidence, 0 to 1.
    pub confidence: Option<f32>,
    /// The language recognized.
    pub language: Option<String>,
}

/// What a recognition stream reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SttEvent {
    /// A partial transcript of the current utterance; may change.
    Interim(Transcript),
    /// The utterance's final transcript.
    Final(Transcript),
}

/// A live recognition session: audio in, events out.
#[async_trait]
pub trait SttStream: Send + 'static {
    /// Sends audio. An error means the stream broke.
    async fn push_frame(&mut self, frame: AudioFrame) -> Result<(), ProviderError>;
    /// The utterance ended (end of turn): the provider should send its final transcript.
    async fn end_of_utterance(&mut self) -> Result<(), ProviderError>;
    /// The next event; `None` when nothing more will come.
    async fn next_event(&mut self) -> Option<Result<SttEvent, ProviderError>>;
}

/// A speech-to-text model behind some API.
#[async_trait]
pub trait SttProvider: Send + Sync + 'static {
    /// The provider (`gen_ai.provider.name`).
    fn provider(&self) -> &str;
    /// The model.
    fn model(&self) -> &str;
    /// A display label (`deepgram/nova-3` by default).
    fn label(&self) -> String {
        format!("{}/{}", self.provider(), self.model())
    }
    /// Transcribes recorded audio.
    async fn recognize(&self, audio: &[AudioFrame]) -> Result<Transcript, ProviderError>;
    /// Opens a live recognition stream.
    async fn stream(&self) -> Result<Box<dyn SttStream>, ProviderError>;
    /// True for a nested adapter, which stamps the caller itself.
    fn traces_itself(&self) -> bool {
        false
    }
}

/// Behaviour of an [`SttFallback`]; defaults follow LiveKit Agents' STT adapter.
#[derive(Debug, Clone)]
pub struct SttFallbackConfig {
    /// Longest wait for a transcript or for a stream to open (default 10 s).
    pub attempt_timeout: Duration,
    /// Extra tries on the same provider after a retryable error (default 1).
    pub max_retry_per_provider: u32,
    /// Pause before such a retry (default 5 s).
    pub retry_interval: Duration,
    /// How long a failed provider is skipped before it is tried again (default 30 s).
    pub recovery_interval: Duration,
}

impl Default for SttFallbackConfig {
    fn default() -> Self {
        SttFallbackConfig {
            attempt_timeout: Duration::from_secs(10),
            max_retry_per_provider: 1,
            retry_interval: Duration::from_secs(5),
            recovery_interval: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
struct Inner {
    pool: Arc<Pool<dyn SttProvider>>,
    // Its retry settings live in the pool; kept whole for `Debug`.
    #[allow(dead_code)]
    config: SttFallbackConfig,
}

/// Marks recognizer `i` unavailable and, with a spawner, probes it (100 ms of silence) in the
/// background.
/// A recognizer marked unavailable is probed back with 100 ms of silence.
fn probe() -> Probe<dyn SttProvider> {
    Arc::new(|provider| {
        Box::pin(async move {
            let silence = AudioFrame {
                samples: vec![0; 1600],
                sample_rate: 16_000,
                channels: 1,
            };
            provider.recognize(&[silence]).await.map(|_| ())
        })
    })
}

/// An [`SttProvider`] over an ordered list of recognizers, tracing each try and naming the provider
/// that recognized the speech on the caller's STT span (re-read on every event: the provider can
/// change mid-turn). Without an STT span around the call, the adapter opens one.
#[derive(Clone, Debug)]
pub struct SttFallback {
    inner: Arc<Inner>,
}

fn caller_span(inner: &Inner) -> Span {
    let current = Span::current();
    if current.in_billable_span() {
        return current;
    }
    let primary = &inner.pool.candidates[0];
    aitrace_core::stt_span!(parent: &current, primary.provider, primary.model)
}

impl SttFallback {
    adapter_constructors!(SttFallback, SttProvider, SttFallbackConfig, "Recognizers");

    pool_methods!("recognizer", "100 ms of silence");

    /// Opens a live stream as [`SttFallbackStream`] (with [`SttFallbackStream::active`]).
    pub async fn open(&self) -> Result<SttFallbackStream, ProviderError> {
        let inner = Arc::clone(&self.inner);
        let walk = Walk::new(&inner.pool, caller_span(&inner), probe());
        let mut s = SttFallbackStream {
            inner,
            walk,
            active: None,
            utterance: Vec::new(),
            utterance_ended: false,
        };
        s.switch().await?;
        Ok(s)
    }
}

/// A live stream through the adapter. Keeps the current utterance's audio so that, if the active
/// provider fails mid-utterance, the next one receives it all again.
pub struct SttFallbackStream {
    inner: Arc<Inner>,
    /// The recognizers tried; its caller span names the one recognizing now.
    walk: Walk<dyn SttProvider>,
    active: Option<(usize, Box<dyn SttStream>, Span)>,
    /// Audio since the last final transcript.
    utterance: Vec<AudioFrame>,
    utterance_ended: bool,
}

impl std::fmt::Debug for SttFallbackStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SttFallbackStream")
            .field("active", &self.active())
            .finish()
    }
}

impl SttFallbackStream {
    /// The provider and model recognizing now.
    pub fn active(&self) -> Option<(String, String)> {
        self.active.as_ref().map(|(i, _, _)| {
            let c = &self.inner.pool.candidates[*i];
            (c.provider.clone(), c.model.clone())
        })
    }

    /// Opens the next provider's stream and replays the current utterance into it.
    async fn switch(&mut self) -> Result<(), ProviderError> {
        let success = self
            .walk
            .next(|provider| async move { provider.stream().await })
            .await?;
        let mut stream = success.value;
        for frame in &self.utterance {
            stream.push_frame(frame.clone()).await?;
        }
        if self.utterance_ended {
            stream.end_of_utterance().await?;
        }
        self.active = Some((success.index, stream, success.attempt));
        Ok(())
    }

    /// The active stream failed: record it, mark the provider unavailable, move on.
    async fn recover(&mut self, e: ProviderError) -> Result<(), ProviderError> {
        if let Some((i, _, span)) = self.active.take() {
            self.walk.failed(i, &span, e);
        }
        self.switch().await
    }

    fn restamp(&self) {
        if let Some((i, _, _)) = &self.active {
            let c = &self.inner.pool.candidates[*i];
            if !c.traces_itself {
                self.walk.caller.restamp_model(&c.provider, &c.model);
            }
        }
    }
}

#[async_trait]
impl SttStream for SttFallbackStream {
    async fn push_frame(&mut self, frame: AudioFrame) -> Result<(), ProviderError> {
        self.utterance.push(frame.clone());
        let pushed = match &mut self.active {
            Some((_, stream, _)) => stream.push_frame(frame).await,
            None => {
                return Err(ProviderError::new(
                    crate::ErrorKind::Other,
                    "no active recognizer",
                ))
            }
        };
        match pushed {
            Ok(()) => Ok(()),
            // The replay inside `recover` already includes this frame.
            Err(e) => self.recover(e).await,
        }
    }

    async fn end_of_utterance(&mut self) -> Result<(), ProviderError> {
        self.utterance_ended = true;
        let ended = match &mut self.active {
            Some((_, stream, _)) => stream.end_of_utterance().await,
            None => {
                return Err(ProviderError::new(
                    crate::ErrorKind::Other,
                    "no active recognizer",
                ))
            }
        };
        match ended {
            Ok(()) => Ok(()),
            Err(e) => self.recover(e).await,
        }
    }

    async fn next_event(&mut self) -> Option<Result<SttEvent, ProviderError>> {
        loop {
            let event = match &mut self.active {
                Some((_, stream, _)) => stream.next_event().await,
                None => return None,
            };
            match event {
                Some(Ok(event)) => {
                    // Idempotent: the active provider may have changed since the last event.
                    self.restamp();
                    if let SttEvent::Final(_) = &event {
                        self.utterance.clear();
                        self.utterance_ended = false;
                    }
                    return Some(Ok(event));
                }
                Some(Err(e)) => {
                    if let Err(all) = self.recover(e).await {
                        return Some(Err(all));
                    }
                }
                None => {
                    if let Some((_, _, span)) = &self.active {
                        span.set_ok();
                    }
                    return None;
                }
            }
        }
    }
}

#[async_trait]
impl SttProvider for SttFallback {
    adapter_identity!();

    async fn recognize(&self, audio: &[AudioFrame]) -> Result<Transcript, ProviderError> {
        let inner = Arc::clone(&self.inner);
        let mut walk = Walk::new(&inner.pool, caller_span(&inner), probe());
        let audio = audio.to_vec();
        let success = walk
            .next(|provider| {
                let audio = audio.clone();
                async move { provider.recognize(&audio).await }
            })
            .await?;
        success.attempt.set_ok();
        let seconds: f64 = audio.iter().map(AudioFrame::duration_s).sum();
        walk.caller.with_record(|r| {
            r.attributes
                .insert("aitrace.audio.duration_s".into(), seconds.into());
        });
        Ok(success.value)
    }

    async fn stream(&self) -> Result<Box<dyn SttStream>, ProviderError> {
        Ok(Box::new(self.open().await?))
    }
}
