//! [`LlmProvider`] and [`LlmFallback`]: chat over an ordered list of providers, with the trace naming
//! the one that answered.

use std::sync::Arc;
use std::time::Duration;

use aitrace_core::{AiSpanExt, ChatMessage, ConfigError, ModelParams, Part, Usage};
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use serde_json::Value;
use tracing::Span;

use crate::error::{AllFailed, ProviderError};
use crate::pool::{
    adapter_constructors, adapter_identity, first_item, pool_methods, Pool, Probe, Walk,
};

/// A chat request in GenAI terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tool definitions offered to the model (`gen_ai.tool.definitions` shape).
    pub tools: Vec<Value>,
    /// Request parameters.
    pub params: ModelParams,
}

/// Part of a tool call streamed by the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCallDelta {
    /// Which tool call of the message this continues.
    pub index: usize,
    /// The call's id (on its first delta).
    pub id: Option<String>,
    /// The tool's name (on its first delta).
    pub name: Option<String>,
    /// A fragment of the JSON arguments.
    pub arguments: String,
}

/// One streamed piece of an answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatChunk {
    /// Text of this chunk.
    pub text: Option<String>,
    /// Tool-call fragments of this chunk.
    pub tool_calls: Vec<ToolCallDelta>,
    /// On the last chunk.
    pub finish_reason: Option<String>,
    /// On the last chunk (providers report usage once per call).
    pub usage: Option<Usage>,
    /// The exact model version, when the provider says.
    pub response_model: Option<String>,
    /// The provider's id of the response (`chatcmpl-...`), when it says.
    pub response_id: Option<String>,
}

/// A streamed chat answer.
pub type ChatStream = BoxStream<'static, Result<ChatChunk, ProviderError>>;

/// A chat model behind some API.
#[async_trait]
pub trait LlmProvider: Send + Sync + 'static {
    /// Normalized provider name (`openai`, `anthropic`, ...).
    fn provider(&self) -> &str;
    /// The model requests go to.
    fn model(&self) -> &str;
    /// Starts a chat; the answer streams in chunks.
    async fn chat(&self, request: ChatRequest) -> Result<ChatStream, ProviderError>;

    /// True for providers that trace themselves (a nested fallback adapter: it re-stamps the caller and
    /// records usage), so an outer adapter neither overwrites the real provider nor bills twice.
    fn traces_itself(&self) -> bool {
        false
    }
}

/// Behaviour of an [`LlmFallback`]; defaults follow LiveKit Agents' `FallbackAdapter`.
#[derive(Debug, Clone)]
pub struct LlmFallbackConfig {
    /// Longest wait for a provider's first chunk (default 5 s).
    pub attempt_timeout: Duration,
    /// Extra tries on the same provider after a retryable error (default 0).
    pub max_retry_per_provider: u32,
    /// Pause before such a retry (default 0.5 s).
    pub retry_interval: Duration,
    /// Switch provider even after chunks reached the caller (who then sees text twice); default false:
    /// the error surfaces instead.
    pub retry_on_chunk_sent: bool,
    /// How long a failed provider is skipped before it is probed again (default 30 s).
    pub recovery_interval: Duration,
}

impl Default for LlmFallbackConfig {
    fn default() -> Self {
        LlmFallbackConfig {
            attempt_timeout: Duration::from_secs(5),
            max_retry_per_provider: 0,
            retry_interval: Duration::from_millis(500),
            retry_on_chunk_sent: false,
            recovery_interval: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
struct Inner {
    pool: Arc<Pool<dyn LlmProvider>>,
    config: LlmFallbackConfig,
}

/// An [`LlmProvider`] over an ordered list of providers: tries them in order, marks failing ones
/// unavailable (and probes them back), and makes the trace truthful: each try is a `fallback_attempt`
/// span with its index, provider, model and outcome; on the first chunk the caller's span and its
/// billable span are re-stamped with the provider and model that answered; the answer's usage is
/// recorded once, on the billable span. When the caller is not inside a generation span, the adapter
/// opens one, so usage always has a billable home.
#[derive(Clone, Debug)]
pub struct LlmFallback {
    inner: Arc<Inner>,
}

impl LlmFallback {
    pool_methods!("provider", "with the request that failed");

    adapter_constructors!(LlmFallback, LlmProvider, LlmFallbackConfig, "Providers");

    /// The provider and model a request would try first.
    pub fn active(&self) -> (String, String) {
        let p = &self.inner.pool.providers[self.inner.pool.active()];
        (p.provider().to_string(), p.model().to_string())
    }
}

/// A provider that answered: its stream after the first chunk, and its attempt span.
struct Started {
    stream: ChatStream,
    first: Option<ChatChunk>,
    attempt: Span,
    index: usize,
    /// The provider records its own usage and model (a nested adapter).
    traces_itself: bool,
}

/// A provider's answer and its first chunk (an answer with none is a failure).
async fn first_chunk(
    provider: Arc<dyn LlmProvider>,
    request: ChatRequest,
) -> Result<(ChatStream, ChatChunk), ProviderError> {
    first_item(
        provider.chat(request).await?,
        "the provider answered nothing",
    )
    .await
}

/// One call through the adapter.
struct Run {
    inner: Arc<Inner>,
    request: ChatRequest,
    /// The providers tried; its caller span is the one re-stamped and billed: the caller's, or a
    /// generation the adapter opened.
    walk: Walk<dyn LlmProvider>,
    /// Whether the adapter opened the caller span itself (then it also records the output).
    own_span: bool,
    text: String,
    finish_reason: Option<String>,
}

impl Run {
    /// Tries providers from the walk's position until one streams a first chunk.
    async fn start_next(&mut self) -> Result<Started, AllFailed> {
        let request = &self.request;
        let success = self.walk.next(|p| first_chunk(p, request.clone())).await?;
        let (stream, chunk) = success.value;
        Ok(Started {
            stream,
            first: Some(chunk),
            attempt: success.attempt,
            index: success.index,
            traces_itself: self.inner.pool.candidates[success.index].traces_itself,
        })
    }

    /// Bookkeeping for a chunk passed to the caller.
    fn on_chunk(&mut self, chunk: &ChatChunk, traces_itself: bool) {
        if traces_itself {
            // A nested adapter already recorded usage and model; only collect the text.
            self.collect(chunk);
            return;
        }
        if let Some(u) = chunk.usage {
            // One model call's usage, once (attempts carry none); core decides where it is billed.
            self.walk.caller.add_billable_usage(u);
        }
        // What the provider says about its answer belongs on the caller's span and on the span of
        // the call (the user's generation), whoever opened them: the latest answer's wins.
        if chunk.response_model.is_some()
            || chunk.response_id.is_some()
            || chunk.finish_reason.is_some()
        {
            self.walk.caller.walk_records(&mut |r| {
                if let Some(m) = &chunk.response_model {
                    r.response_model = Some(m.clone());
                }
                if let Some(id) = &chunk.response_id {
                    r.response_id = Some(id.clone());
                }
                if let Some(reason) = &chunk.finish_reason {
                    r.finish_reasons = vec![reason.clone()];
                }
                !r.kind.is_billable_kind()
            });
        }
        self.collect(chunk);
    }

    fn collect(&mut self, chunk: &ChatChunk) {
        if self.own_span {
            if let Some(t) = &chunk.text {
                self.text.push_str(t);
            }
            if chunk.finish_reason.is_some() {
                self.finish_reason.clone_from(&chunk.finish_reason);
            }
        }
    }

    fn finish(&mut self) {
        if self.own_span {
            let mut msg = ChatMessage::new(
                "assistant",
                vec![Part::text(std::mem::take(&mut self.text))],
            );
            if let Some(reason) = self.finish_reason.take() {
                msg = msg.with_finish_reason(reason);
            }
            self.walk.caller.set_output_messages(&[msg]);
        }
    }
}

enum Phase {
    Streaming(Box<(Run, Started)>),
    Done,
}

#[async_trait]
impl LlmProvider for LlmFallback {
    adapter_identity!();

    async fn chat(&self, request: ChatRequest) -> Result<ChatStream, ProviderError> {
        let inner = Arc::clone(&self.inner);
        let current = Span::current();
        let own_span = !current.in_billable_span();
        let caller = if own_span {
            let primary = &inner.pool.providers[0];
            let g = tracing::info_span!(
                parent: &current,
                "chat",
                aitrace.kind = "model_generation",
                gen_ai.operation.name = "chat",
                gen_ai.provider.name = primary.provider(),
                gen_ai.request.model = primary.model(),
            );
            g.set_input_messages(&request.messages);
            g
        } else {
            current
        };
        // A provider marked unavailable is probed back with the request that failed.
        let probe_request = request.clone();
        let probe: Probe<dyn LlmProvider> = Arc::new(move |provider| {
            let request = probe_request.clone();
            Box::pin(async move { first_chunk(provider, request).await.map(|_| ()) })
        });
        let walk = Walk::new(&inner.pool, caller, probe);
        let mut run = Run {
            inner,
            request,
            walk,
            own_span,
            text: String::new(),
            finish_reason: None,
        };
        let started = run.start_next().await?;
        let initial = Phase::Streaming(Box::new((run, started)));
        let stream = futures::stream::unfold(initial, |phase| async move {
            let Phase::Streaming(state) = phase else {
                return None;
            };
            let (mut run, mut s) = *state;
            if let Some(first) = s.first.take() {
                run.on_chunk(&first, s.traces_itself);
                return Some((Ok(first), Phase::Streaming(Box::new((run, s)))));
            }
            match s.stream.next().await {
                Some(Ok(chunk)) => {
                    run.on_chunk(&chunk, s.traces_itself);
                    Some((Ok(chunk), Phase::Streaming(Box::new((run, s)))))
                }
                None => {
                    s.attempt.set_ok();
                    run.finish();
                    None
                }
                Some(Err(e)) => {
                    // Switching would repeat text the caller already has, unless allowed.
                    let allowed = run.inner.config.retry_on_chunk_sent;
                    if let Err(e) = run.walk.broke(s.index, &s.attempt, e, allowed) {
                        return Some((Err(e), Phase::Done));
                    }
                    drop(s);
                    match run.start_next().await {
                        Ok(mut next) => {
                            let first = next.first.take()?;
                            run.on_chunk(&first, next.traces_itself);
                            Some((Ok(first), Phase::Streaming(Box::new((run, next)))))
                        }
                        Err(all) => Some((Err(all.into()), Phase::Done)),
                    }
                }
            }
        });
        Ok(stream.boxed())
    }
}
