//! Scripted providers for tests (yours and ours): fail N times, time out, fail after k chunks, answer
//! slowly. No network, deterministic.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use aitrace_core::Usage;
use async_trait::async_trait;
use futures::stream::StreamExt;

use crate::error::ProviderError;
use crate::llm::{ChatChunk, ChatRequest, ChatStream, LlmProvider};

/// What one call to a [`ScriptedLlm`] does.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Streams these text chunks, then a last chunk with `finish_reason: stop` and the usage.
    Answer {
        /// The text, chunk by chunk.
        chunks: Vec<String>,
        /// The usage on the last chunk.
        usage: Usage,
    },
    /// `chat` itself fails.
    Fail(ProviderError),
    /// Never sends a first chunk (the adapter's timeout must end it).
    Hang,
    /// Waits, then answers.
    Slow(Duration, Vec<String>, Usage),
    /// Streams `k` chunks, then fails.
    FailAfter(usize, ProviderError),
    /// Asks for one tool call (streamed arguments), with `finish_reason: tool_call` and the usage.
    ToolCall {
        /// The call's id.
        id: String,
        /// The tool asked for.
        name: String,
        /// Its arguments.
        arguments: serde_json::Value,
        /// The usage on the last chunk.
        usage: Usage,
    },
}

/// A provider that follows a script, one [`Behavior`] per call, then repeats `otherwise`.
#[derive(Debug)]
pub struct ScriptedLlm {
    provider: String,
    model: String,
    script: Mutex<VecDeque<Behavior>>,
    otherwise: Behavior,
    calls: AtomicUsize,
}

impl ScriptedLlm {
    /// A provider that always answers `text` with `usage`.
    pub fn answering(provider: &str, model: &str, text: &str, usage: Usage) -> Self {
        Self::scripted(
            provider,
            model,
            vec![],
            Behavior::Answer {
                chunks: split(text),
                usage,
            },
        )
    }

    /// A provider that follows `script`, then behaves as `otherwise`.
    pub fn scripted(
        provider: &str,
        model: &str,
        script: Vec<Behavior>,
        otherwise: Behavior,
    ) -> Self {
        ScriptedLlm {
            provider: provider.to_string(),
            model: model.to_string(),
            script: Mutex::new(script.into()),
            otherwise,
            calls: AtomicUsize::new(0),
        }
    }

    /// How many times `chat` was called.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Splits text into word chunks, as a streaming model would send it.
pub fn split(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_string).collect()
}

fn answer(model: String, chunks: Vec<String>, usage: Usage) -> ChatStream {
    let mut items: Vec<Result<ChatChunk, ProviderError>> = chunks
        .into_iter()
        .map(|t| {
            Ok(ChatChunk {
                text: Some(t),
                ..ChatChunk::default()
            })
        })
        .collect();
    items.push(Ok(ChatChunk {
        finish_reason: Some("stop".into()),
        usage: Some(usage),
        response_model: Some(model),
        ..ChatChunk::default()
    }));
    futures::stream::iter(items).boxed()
}

#[async_trait]
impl LlmProvider for ScriptedLlm {
    fn provider(&self) -> &str {
        &self.provider
    }
    fn model(&self) -> &str {
        &self.model
    }
    async fn chat(&self, _request: ChatRequest) -> Result<ChatStream, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let behavior = self
            .script
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or_else(|| self.otherwise.clone());
        match behavior {
            Behavior::Answer { chunks, usage } => Ok(answer(self.model.clone(), chunks, usage)),
            Behavior::Fail(e) => Err(e),
            Behavior::Hang => Ok(futures::stream::pending().boxed()),
            Behavior::Slow(delay, chunks, usage) => {
                futures_timer::Delay::new(delay).await;
                Ok(answer(self.model.clone(), chunks, usage))
            }
            Behavior::ToolCall {
                id,
                name,
                arguments,
                usage,
            } => {
                let args = arguments.to_string();
                let (head, tail) = args.split_at(args.len() / 2);
                let delta = |id: Option<String>, name: Option<String>, part: &str| ChatChunk {
                    tool_calls: vec![crate::llm::ToolCallDelta {
                        index: 0,
                        id,
                        name,
                        arguments: part.to_string(),
                    }],
                    ..ChatChunk::default()
                };
                let chunks = vec![
                    Ok(delta(Some(id), Some(name), head)),
                    Ok(delta(None, None, tail)),
                    Ok(ChatChunk {
                        finish_reason: Some("tool_call".into()),
                        usage: Some(usage),
                        response_model: Some(self.model.clone()),
                        ..ChatChunk::default()
                    }),
                ];
                Ok(futures::stream::iter(chunks).boxed())
            }
            Behavior::FailAfter(k, e) => {
                let chunks: Vec<Result<ChatChunk, ProviderError>> = (0..k)
                    .map(|i| {
                        Ok(ChatChunk {
                            text: Some(format!("part{i} ")),
                            ..ChatChunk::default()
                        })
                    })
                    .chain(std::iter::once(Err(e)))
                    .collect();
                Ok(futures::stream::iter(chunks).boxed())
            }
        }
    }
}

/// What one call to a [`ScriptedTts`] does.
#[derive(Debug, Clone)]
pub enum Speech {
    /// Speaks this many 20 ms frames.
    Frames(usize),
    /// `synthesize` fails.
    Fail(ProviderError),
    /// Speaks `k` frames, then fails.
    FailAfter(usize, ProviderError),
    /// Never sends a frame.
    Hang,
}

/// A voice that follows a script, at a fixed rate and channel count.
#[derive(Debug)]
pub struct ScriptedTts {
    provider: String,
    model: String,
    sample_rate: u32,
    channels: u16,
    script: Mutex<VecDeque<Speech>>,
    otherwise: Speech,
    calls: AtomicUsize,
}

impl ScriptedTts {
    /// A voice following `script`, then `otherwise`.
    pub fn scripted(
        provider: &str,
        model: &str,
        sample_rate: u32,
        channels: u16,
        script: Vec<Speech>,
        otherwise: Speech,
    ) -> Self {
        ScriptedTts {
            provider: provider.into(),
            model: model.into(),
            sample_rate,
            channels,
            script: Mutex::new(script.into()),
            otherwise,
            calls: AtomicUsize::new(0),
        }
    }
    /// How many times `synthesize` was called.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn frame(&self) -> crate::audio::AudioFrame {
        let n = (self.sample_rate / 50) as usize * usize::from(self.channels);
        crate::audio::AudioFrame {
            samples: vec![1000; n],
            sample_rate: self.sample_rate,
            channels: self.channels,
        }
    }
}

#[async_trait]
impl crate::tts::TtsProvider for ScriptedTts {
    fn provider(&self) -> &str {
        &self.provider
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
    fn channels(&self) -> u16 {
        self.channels
    }
    async fn synthesize(&self, _text: &str) -> Result<crate::tts::AudioStream, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let speech = self
            .script
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or_else(|| self.otherwise.clone());
        match speech {
            Speech::Frames(n) => Ok(futures::stream::iter(
                (0..n).map(|_| Ok(self.frame())).collect::<Vec<_>>(),
            )
            .boxed()),
            Speech::Fail(e) => Err(e),
            Speech::FailAfter(k, e) => Ok(futures::stream::iter(
                (0..k)
                    .map(|_| Ok(self.frame()))
                    .chain(std::iter::once(Err(e)))
                    .collect::<Vec<_>>(),
            )
            .boxed()),
            Speech::Hang => Ok(futures::stream::pending().boxed()),
        }
    }
}

/// The words a [`ScriptedStt`] hears: a frame whose first sample is `i` says `WORDS[i]`.
pub const WORDS: &[&str] = &[
    "where", "is", "my", "order", "number", "1042", "please", "thanks",
];

/// A 20 ms, 16 kHz mono frame that a [`ScriptedStt`] hears as `WORDS[word]`.
pub fn word_frame(word: usize) -> crate::audio::AudioFrame {
    let mut samples = vec![0i16; 320];
    samples[0] = word as i16;
    crate::audio::AudioFrame {
        samples,
        sample_rate: 16_000,
        channels: 1,
    }
}

fn hear(frame: &crate::audio::AudioFrame) -> String {
    let i = frame.samples.first().copied().unwrap_or(0).max(0) as usize;
    WORDS.get(i).copied().unwrap_or("?").to_string()
}

/// What one stream of a [`ScriptedStt`] does.
#[derive(Debug, Clone)]
pub enum Hearing {
    /// Recognizes everything.
    Works,
    /// Breaks when frame `k + 1` arrives.
    BreaksAfter(usize),
    /// Cannot open (or recognize).
    Fails(ProviderError),
}

/// A recognizer that follows a script, one [`Hearing`] per stream or `recognize` call.
#[derive(Debug)]
pub struct ScriptedStt {
    provider: String,
    model: String,
    script: Mutex<VecDeque<Hearing>>,
    otherwise: Hearing,
    calls: AtomicUsize,
}

impl ScriptedStt {
    /// A recognizer following `script`, then `otherwise`.
    pub fn scripted(provider: &str, model: &str, script: Vec<Hearing>, otherwise: Hearing) -> Self {
        ScriptedStt {
            provider: provider.into(),
            model: model.into(),
            script: Mutex::new(script.into()),
            otherwise,
            calls: AtomicUsize::new(0),
        }
    }
    /// Streams opened plus `recognize` calls.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn next(&self) -> Hearing {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.script
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or_else(|| self.otherwise.clone())
    }
}

struct ScriptedSttStream {
    words: Vec<String>,
    events: VecDeque<crate::stt::SttEvent>,
    breaks_after: Option<usize>,
    received: usize,
    broken: bool,
}

fn transcript(words: &[String], is_final: bool) -> crate::stt::Transcript {
    crate::stt::Transcript {
        text: words.join(" "),
        is_final,
        confidence: Some(0.9),
        language: Some("en".into()),
    }
}

#[async_trait]
impl crate::stt::SttStream for ScriptedSttStream {
    async fn push_frame(&mut self, frame: crate::audio::AudioFrame) -> Result<(), ProviderError> {
        self.received += 1;
        if self.broken || self.breaks_after.is_some_and(|k| self.received > k) {
            self.broken = true;
            return Err(ProviderError::new(
                crate::ErrorKind::Connection,
                "stream reset by peer",
            ));
        }
        self.words.push(hear(&frame));
        self.events
            .push_back(crate::stt::SttEvent::Interim(transcript(
                &self.words,
                false,
            )));
        Ok(())
    }
    async fn end_of_utterance(&mut self) -> Result<(), ProviderError> {
        if self.broken {
            return Err(ProviderError::new(
                crate::ErrorKind::Connection,
                "stream reset by peer",
            ));
        }
        self.events
            .push_back(crate::stt::SttEvent::Final(transcript(&self.words, true)));
        self.words.clear();
        Ok(())
    }
    async fn next_event(&mut self) -> Option<Result<crate::stt::SttEvent, ProviderError>> {
        self.events.pop_front().map(Ok)
    }
}

#[async_trait]
impl crate::stt::SttProvider for ScriptedStt {
    fn provider(&self) -> &str {
        &self.provider
    }
    fn model(&self) -> &str {
        &self.model
    }
    async fn recognize(
        &self,
        audio: &[crate::audio::AudioFrame],
    ) -> Result<crate::stt::Transcript, ProviderError> {
        match self.next() {
            Hearing::Fails(e) => Err(e),
            _ => Ok(transcript(
                &audio.iter().map(hear).collect::<Vec<_>>(),
                true,
            )),
        }
    }
    async fn stream(&self) -> Result<Box<dyn crate::stt::SttStream>, ProviderError> {
        let breaks_after = match self.next() {
            Hearing::Fails(e) => return Err(e),
            Hearing::BreaksAfter(k) => Some(k),
            Hearing::Works => None,
        };
        Ok(Box::new(ScriptedSttStream {
            words: Vec::new(),
            events: VecDeque::new(),
            breaks_after,
            received: 0,
            broken: false,
        }))
    }
}
