//! Zero-code aitrace spans for [async-openai](https://docs.rs/async-openai) 0.43: one line in the
//! client's construction traces every call.
//!
//! ```no_run
//! use async_openai::{config::OpenAIConfig, Client};
//!
//! let client = Client::with_config(OpenAIConfig::default())
//!     .with_http_service(aitrace_async_openai::service());
//! ```
//!
//! [`service`] is async-openai's own HTTP stack (its retry layer over reqwest) with
//! [`TraceLayer`] outside it; put [`TraceLayer`] in your own `tower::ServiceBuilder` stack when you
//! have one (outermost: one span per call, whatever the retries).
//!
//! Per call, a span that is a child of the span current when the call is made:
//! - `POST /chat/completions` and `POST /responses`: a `chat` generation with provider, request model
//!   and parameters, input messages (system instructions, tool calls and results as parts), tool
//!   definitions; then the response id and model, usage (cached and reasoning tokens included), output
//!   messages with tool calls, and finish reasons.
//! - `POST /embeddings`: an `embeddings` span with model, usage and dimension count.
//! - Streams: time to first token at the first chunk that carries content, usage from the last chunk
//!   (ask for it with `stream_options.include_usage`), the output assembled. The span ends when the
//!   stream does; a stream dropped before its end is recorded as `cancelled` with what had arrived.
//! - Errors: HTTP errors with the API's error type (or the status) and message; transport errors as
//!   `transport`.
//!
//! Other endpoints pass through untouched.
//!
//! **Content** (messages, tool definitions, embedded texts) follows aitrace's policy: on by default,
//! off with `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false` or
//! [`TraceLayer::capture_content`]`(false)` (then it is never read from the request). aitrace's builder
//! setting `capture_content(false)` strips it before export either way, and the SensitiveDataFilter
//! redacts secrets in what is kept.
#![deny(unsafe_code)]

mod watch;
mod wire;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_openai::error::OpenAIError;
use async_openai::middleware::{retry::OpenAIRetryLayer, HttpRequestFactory, ReqwestService};
use tower_layer::Layer;
use tower_service::Service;

pub use watch::Watched;

/// The environment variable of the GenAI conventions that turns message content capture off.
pub use aitrace_core::CAPTURE_CONTENT_ENV;

/// Whether [`CAPTURE_CONTENT_ENV`] allows content, read as aitrace's builder reads it (unset: yes;
/// a value that is not a boolean, which the builder refuses, leaves the default).
fn content_allowed_by_env() -> bool {
    aitrace_core::capture_content_from_env()
        .ok()
        .flatten()
        .unwrap_or(true)
}

#[derive(Debug, Clone)]
struct Settings {
    provider: Option<String>,
    capture_content: bool,
}

/// A tower layer that traces the async-openai calls going through it (see the crate docs).
#[derive(Debug, Clone)]
pub struct TraceLayer {
    settings: Arc<Settings>,
}

impl Default for TraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceLayer {
    /// Content capture as `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` says (on when unset);
    /// the provider from the base URL's host.
    pub fn new() -> Self {
        TraceLayer {
            settings: Arc::new(Settings {
                provider: None,
                capture_content: content_allowed_by_env(),
            }),
        }
    }

    /// Names the provider (`gen_ai.provider.name`) instead of guessing it from the host: for an
    /// OpenAI-compatible server of a provider the host table does not know, or a gateway.
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.settings).provider = Some(provider.into());
        self
    }

    /// Whether message content is read and recorded at all.
    pub fn capture_content(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.settings).capture_content = on;
        self
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TracedService<S>;

    fn layer(&self, inner: S) -> TracedService<S> {
        TracedService {
            inner,
            settings: Arc::clone(&self.settings),
        }
    }
}

/// async-openai's default HTTP stack (its retry layer over a fresh `reqwest::Client`), traced: the
/// argument for `Client::with_http_service`.
pub fn service() -> TracedService<<OpenAIRetryLayer as Layer<ReqwestService>>::Service> {
    service_with(TraceLayer::new(), reqwest::Client::new())
}

/// [`service`] with your layer settings and reqwest client.
pub fn service_with(
    layer: TraceLayer,
    client: reqwest::Client,
) -> TracedService<<OpenAIRetryLayer as Layer<ReqwestService>>::Service> {
    layer.layer(OpenAIRetryLayer::default().layer(ReqwestService::new(client)))
}

/// The service [`TraceLayer`] wraps around async-openai's HTTP service.
#[derive(Debug, Clone)]
pub struct TracedService<S> {
    inner: S,
    settings: Arc<Settings>,
}

/// The future of a traced call.
pub type TracedFuture<E> = Pin<Box<dyn Future<Output = Result<reqwest::Response, E>> + Send>>;

impl<S> Service<HttpRequestFactory> for TracedService<S>
where
    S: Service<HttpRequestFactory, Response = reqwest::Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: fmt::Display + Send + 'static,
{
    type Response = reqwest::Response;
    type Error = S::Error;
    type Future = TracedFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        // The service that was polled ready serves this call; the clone serves the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let settings = Arc::clone(&self.settings);
        Box::pin(async move {
            // Built once here to read it; the inner stack gets a factory that replays this request.
            let request = match factory.build().await {
                Ok(request) => request,
                // The inner stack rebuilds it and reports the same error in its own type.
                Err(_) => return inner.call(factory).await,
            };
            let endpoint = wire::Endpoint::of(request.method(), request.url().path());
            let Some(endpoint) = endpoint else {
                return inner.call(replay(request, factory)).await;
            };
            let watch = watch::Watch::open(endpoint, &request, &settings);
            match inner.call(replay(request, factory)).await {
                Ok(response) => Ok(watch.response(response)),
                Err(e) => {
                    watch.transport_error(&e);
                    Err(e)
                }
            }
        })
    }
}

/// A factory that hands out copies of an already built request (falling back to the original
/// factory for a body that cannot be copied, such as a streamed upload).
fn replay(request: reqwest::Request, original: HttpRequestFactory) -> HttpRequestFactory {
    let request = Arc::new(request);
    HttpRequestFactory::new(move || {
        let copy = request.try_clone();
        let original = original.clone();
        async move {
            match copy {
                Some(copy) => Ok::<_, OpenAIError>(copy),
                None => original.build().await,
            }
        }
    })
}
