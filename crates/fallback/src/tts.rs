//! [`TtsProvider`] and [`TtsFallback`]: speech synthesis over an ordered list of providers, with one
//! output format whichever provider speaks.

use std::sync::Arc;
use std::time::Duration;

use aitrace_core::{AiSpanExt, ConfigError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use tracing::Span;

use crate::attempt::{Candidate, Tries};
use crate::audio::{AudioFrame, Resampler};
use crate::error::{ErrorKind, ProviderError};
use crate::pool::{pool_config, pool_methods, Pool};

/// Streamed audio.
pub type AudioStream = BoxStream<'static, Result<AudioFrame, ProviderError>>;

/// A text-to-speech voice behind some API.
#[async_trait]
pub trait TtsProvider: Send + Sync + 'static {
    /// The provider (`gen_ai.provider.name`).
    fn provider(&self) -> &str;
    /// The model or voice.
    fn model(&self) -> &str;
    /// The rate of the frames it produces.
    fn sample_rate(&self) -> u32;
    /// Its channel count (default mono).
    fn channels(&self) -> u16 {
        1
    }
    /// Speaks `text`; frames stream as they are synthesized.
    async fn synthesize(&self, text: &str) -> Result<AudioStream, ProviderError>;
    /// True for a nested adapter, which stamps the caller itself.
    fn traces_itself(&self) -> bool {
        false
    }
}

/// Behaviour of a [`TtsFallback`]; defaults follow LiveKit Agents' TTS adapter.
#[derive(Debug, Clone)]
pub struct TtsFallbackConfig {
    /// Longest wait for the first audio frame (default 10 s).
    pub attempt_timeout: Duration,
    /// Extra tries on the same provider after a retryable error (default 2).
    pub max_retry_per_provider: u32,
    /// Pause before such a retry (default 0.5 s).
    pub retry_interval: Duration,
    /// Switch provider even after audio reached the caller (who then hears a restart); default false.
    pub retry_on_chunk_sent: bool,
    /// How long a failed provider is skipped before it is tried again (default 30 s).
    pub recovery_interval: Duration,
    /// The output rate; default the highest of the providers' (the others are resampled up).
    pub sample_rate: Option<u32>,
}

impl Default for TtsFallbackConfig {
    fn default() -> Self {
        TtsFallbackConfig {
            attempt_timeout: Duration::from_secs(10),
            max_retry_per_provider: 2,
            retry_interval: Duration::from_millis(500),
            retry_on_chunk_sent: false,
            recovery_interval: Duration::from_secs(30),
            sample_rate: None,
        }
    }
}

struct Inner {
    pool: Pool<dyn TtsProvider>,
    config: TtsFallbackConfig,
    sample_rate: u32,
    channels: u16,
}

/// A [`TtsProvider`] over an ordered list of voices. Every frame comes out at the adapter's sample
/// rate and channel count, so a switch never changes the audio format; the trace names the voice that
/// spoke (re-stamped on the caller's TTS span at the first frame), one `fallback_attempt` span per
/// try. Without a TTS span around the call, the adapter opens one.
#[derive(Clone)]
pub struct TtsFallback {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TtsFallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtsFallback")
            .field("sample_rate", &self.inner.sample_rate)
            .field("channels", &self.inner.channels)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl TtsFallback {
    /// Voices in order of preference, with explicit behaviour.
    pub fn with_config(
        providers: Vec<Arc<dyn TtsProvider>>,
        config: TtsFallbackConfig,
    ) -> Result<Self, ConfigError> {
        let sample_rate = config.sample_rate.unwrap_or_else(|| {
            providers
                .iter()
                .map(|p| p.sample_rate())
                .max()
                .unwrap_or(24_000)
        });
        if sample_rate == 0 {
            return Err(ConfigError::new("sample_rate", "must be greater than zero"));
        }
        let channels = providers.first().map_or(1, |p| p.channels());
        let pool = Pool::new(
            providers,
            |p| Candidate::new(p.provider(), p.model(), p.traces_itself()),
            pool_config!(config),
        )?;
        Ok(TtsFallback {
            inner: Arc::new(Inner {
                pool,
                config,
                sample_rate,
                channels,
            }),
        })
    }

    /// With the default behaviour.
    pub fn new(providers: Vec<Arc<dyn TtsProvider>>) -> Result<Self, ConfigError> {
        Self::with_config(providers, TtsFallbackConfig::default())
    }

    pool_methods!("voice", "a one-word synthesis");
}

fn mark_unavailable(inner: &Arc<Inner>, i: usize) {
    inner.pool.mark_unavailable(i, |provider| async move {
        let mut s = provider.synthesize("ok").await?;
        match s.next().await {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e),
            None => Err(ProviderError::new(ErrorKind::Other, "no audio")),
        }
    });
}

struct Speaking {
    inner: Arc<Inner>,
    text: String,
    caller: Span,
    order: Vec<usize>,
    pos: usize,
    tries: Tries,
}

struct Voice {
    stream: AudioStream,
    first: Option<AudioFrame>,
    resampler: Resampler,
    attempt: Span,
    index: usize,
}

impl Speaking {
    async fn next_voice(&mut self) -> Result<Voice, ProviderError> {
        let inner = Arc::clone(&self.inner);
        let text = self.text.clone();
        let mut failed = Vec::new();
        let result = inner
            .pool
            .first_success(
                &mut self.tries,
                &self.caller,
                &self.order,
                &mut self.pos,
                |i| {
                    let provider = Arc::clone(&inner.pool.providers[i]);
                    let text = text.clone();
                    async move {
                        let mut stream = provider.synthesize(&text).await?;
                        match stream.next().await {
                            Some(Ok(frame)) => Ok((stream, frame)),
                            Some(Err(e)) => Err(e),
                            None => Err(ProviderError::new(ErrorKind::Other, "no audio")),
                        }
                    }
                },
                |i| failed.push(i),
            )
            .await;
        for i in failed {
            mark_unavailable(&inner, i);
        }
        let success = match result {
            Ok(s) => s,
            Err(all) => {
                self.caller.set_error("all_providers_failed", &all);
                return Err(all.into());
            }
        };
        let (stream, first) = success.value;
        Ok(Voice {
            stream,
            resampler: Resampler::new(
                first.sample_rate,
                first.channels,
                inner.sample_rate,
                inner.channels,
            ),
            first: Some(first),
            attempt: success.attempt,
            index: success.index,
        })
    }
}

#[async_trait]
impl TtsProvider for TtsFallback {
    fn provider(&self) -> &str {
        "fallback"
    }
    fn model(&self) -> &str {
        self.inner.pool.providers[0].model()
    }
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate
    }
    fn channels(&self) -> u16 {
        self.inner.channels
    }
    fn traces_itself(&self) -> bool {
        true
    }

    async fn synthesize(&self, text: &str) -> Result<AudioStream, ProviderError> {
        let inner = Arc::clone(&self.inner);
        let current = Span::current();
        let caller = if current.in_billable_span() {
            current
        } else {
            // Not inside a TTS span: open one, so the speech has a billable home.
            let primary = &inner.pool.providers[0];
            tracing::info_span!(
                parent: &current,
                "text_to_speech",
                aitrace.kind = "text_to_speech",
                gen_ai.provider.name = primary.provider(),
                gen_ai.request.model = primary.model(),
                aitrace.tts.characters = text.chars().count(),
            )
        };
        let order = inner.pool.order();
        let mut speaking = Speaking {
            inner,
            text: text.to_string(),
            caller,
            order,
            pos: 0,
            tries: Tries::default(),
        };
        let voice = speaking.next_voice().await?;
        let stream =
            futures::stream::unfold(Some(Box::new((speaking, voice))), |state| async move {
                let (mut speaking, mut voice) = *state?;
                if let Some(first) = voice.first.take() {
                    let out = voice.resampler.process(&first);
                    return Some((Ok(out), Some(Box::new((speaking, voice)))));
                }
                match voice.stream.next().await {
                    Some(Ok(frame)) => {
                        let out = voice.resampler.process(&frame);
                        Some((Ok(out), Some(Box::new((speaking, voice)))))
                    }
                    None => {
                        voice.attempt.set_ok();
                        None
                    }
                    Some(Err(e)) => {
                        let who = speaking.inner.pool.candidates[voice.index].clone();
                        speaking.tries.failed(&who, &voice.attempt, e.clone());
                        mark_unavailable(&speaking.inner, voice.index);
                        drop(voice);
                        if !speaking.inner.config.retry_on_chunk_sent {
                            speaking.caller.set_error(e.kind.as_str(), &e.message);
                            return Some((Err(e), None));
                        }
                        speaking.pos += 1;
                        match speaking.next_voice().await {
                            Ok(mut next) => {
                                let first = next.first.take()?;
                                let out = next.resampler.process(&first);
                                Some((Ok(out), Some(Box::new((speaking, next)))))
                            }
                            Err(e) => Some((Err(e), None)),
                        }
                    }
                }
            });
        Ok(stream.boxed())
    }
}
