//! [`TtsProvider`] and [`TtsFallback`]: speech synthesis over an ordered list of providers, with one
//! output format whichever provider speaks.

use std::sync::Arc;
use std::time::Duration;

use aitrace_core::{AiSpanExt, ConfigError};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use tracing::Span;

use crate::audio::{AudioFrame, Resampler};
use crate::error::ProviderError;
use crate::pool::{adapter_identity, first_item, pool_methods, pool_of, Pool, Probe, Walk};

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

#[derive(Debug)]
struct Inner {
    pool: Arc<Pool<dyn TtsProvider>>,
    config: TtsFallbackConfig,
    sample_rate: u32,
    channels: u16,
}

/// A [`TtsProvider`] over an ordered list of voices. Every frame comes out at the adapter's sample
/// rate and channel count, so a switch never changes the audio format; the trace names the voice that
/// spoke (re-stamped on the caller's TTS span at the first frame), one `fallback_attempt` span per
/// try. Without a TTS span around the call, the adapter opens one.
#[derive(Clone, Debug)]
pub struct TtsFallback {
    inner: Arc<Inner>,
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
        let pool = Arc::new(pool_of!(providers, config)?);
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

/// A voice's audio and its first frame (no audio at all is a failure).
async fn first_frame(
    provider: Arc<dyn TtsProvider>,
    text: String,
) -> Result<(AudioStream, AudioFrame), ProviderError> {
    first_item(provider.synthesize(&text).await?, "no audio").await
}

/// A voice marked unavailable is probed back by asking it to speak a word.
fn probe() -> Probe<dyn TtsProvider> {
    Arc::new(|provider| {
        Box::pin(async move { first_frame(provider, "ok".into()).await.map(|_| ()) })
    })
}

struct Speaking {
    inner: Arc<Inner>,
    text: String,
    walk: Walk<dyn TtsProvider>,
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
        let text = &self.text;
        let success = self.walk.next(|p| first_frame(p, text.clone())).await?;
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
    adapter_identity!();

    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate
    }
    fn channels(&self) -> u16 {
        self.inner.channels
    }

    async fn synthesize(&self, text: &str) -> Result<AudioStream, ProviderError> {
        let inner = Arc::clone(&self.inner);
        let current = Span::current();
        let caller = if current.in_billable_span() {
            current
        } else {
            // Not inside a TTS span: open one, so the speech has a billable home.
            let primary = &inner.pool.candidates[0];
            let own = aitrace_core::tts_span!(parent: &current, primary.provider, primary.model);
            own.record("aitrace.tts.characters", text.chars().count());
            own
        };
        let walk = Walk::new(&inner.pool, caller, probe());
        let mut speaking = Speaking {
            inner,
            text: text.to_string(),
            walk,
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
                        let allowed = speaking.inner.config.retry_on_chunk_sent;
                        if let Err(e) = speaking.walk.broke(voice.index, &voice.attempt, e, allowed)
                        {
                            return Some((Err(e), None));
                        }
                        drop(voice);
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
