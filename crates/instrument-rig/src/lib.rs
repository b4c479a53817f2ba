//! aitrace helpers for [rig](https://docs.rs/rig-core) 0.44 (`rig-core`, `rig-agent`; 0.45 and later
//! need rustc 1.97).
//!
//! rig writes GenAI spans itself (`invoke_agent`, `chat`, `execute_tool`, `embeddings`, ...), which
//! aitrace reads with no code. Two things it cannot do alone:
//!
//! - **Time to first token on streams.** rig records none. Send through [`TimedHttp`] and every
//!   streamed call's span gets it, measured when the first chunk of the answer arrives:
//!
//!   ```no_run
//!   use rig_core::providers::openai::OpenAIConfig;
//!   # fn demo(http: impl rig_core::http_client::HttpClientExt + 'static) {
//!   let openai = OpenAIConfig::new("sk-...").connect(aitrace_rig::TimedHttp::new(http));
//!   # }
//!   ```
//!
//! - **An agent run inside your own span.** rig adopts the current span as its agent span when one
//!   is open (an HTTP handler's request span), so inside a request there is no `invoke_agent` span:
//!   the chat and tool spans hang off the request span. [`agent_span!`] opens an agent span declaring
//!   every field rig writes on a span it adopts, so the run keeps its shape and data:
//!
//!   ```no_run
//!   # async fn demo(agent: rig_agent::Agent) -> Result<(), Box<dyn std::error::Error>> {
//!   use tracing::Instrument;
//!   let answer = async { agent.prompt("Where is my order?").await }
//!       .instrument(aitrace_rig::agent_span!("support"))
//!       .await?;
//!   # Ok(()) }
//!   ```
//!
//! Message content: rig records prompts, completions and system instructions only when asked, per
//! agent or request, with `.record_content_telemetry(true)`; tool arguments and results it records
//! always. aitrace's content policy (`capture_content`) and the SensitiveDataFilter then apply to
//! what it recorded.
#![deny(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use aitrace_core::export::unix_nanos;
use aitrace_core::AiSpanExt;
use bytes::Bytes;
use futures_core::Stream;
use rig_core::http_client::{
    self, BoxedStream, HttpClientExt, LazyBody, MultipartForm, StreamingResponse,
};
use rig_core::wasm_compat::WasmCompatSend;

#[doc(hidden)]
pub mod __private {
    pub use tracing;
}

/// An agent span for a rig run inside your own span: `agent_span!(name, extra fields...)`. It
/// declares what rig records on an agent span it adopts (the prompt, the completion, the usage
/// fields, the system instructions), so they are kept.
#[macro_export]
macro_rules! agent_span {
    ($name:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            "invoke_agent",
            aitrace.kind = "agent_run",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = %$name,
            gen_ai.system_instructions = $crate::__private::tracing::field::Empty,
            gen_ai.prompt = $crate::__private::tracing::field::Empty,
            gen_ai.completion = $crate::__private::tracing::field::Empty,
            gen_ai.usage.input_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.output_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.cache_read.input_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.cache_creation.input_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.tool_use_prompt_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.reasoning_tokens = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// A rig HTTP client that marks the time to first token of streamed calls: when the first chunk of
/// a streamed answer arrives, the model call's span (rig reads streams inside it) gets its
/// `time_to_first_token`, measured from the span's start. Unary and multipart requests pass
/// through untouched.
#[derive(Debug, Clone, Default)]
pub struct TimedHttp<H> {
    inner: H,
}

impl<H> TimedHttp<H> {
    /// Wraps any rig HTTP client (`rig_reqwest::ReqwestClient`, a `DynHttpClient`, your own).
    pub fn new(inner: H) -> Self {
        TimedHttp { inner }
    }

    /// The wrapped client.
    pub fn into_inner(self) -> H {
        self.inner
    }
}

impl<H: HttpClientExt> HttpClientExt for TimedHttp<H> {
    fn send<T, U>(
        &self,
        req: http_client::Request<T>,
    ) -> impl Future<Output = http_client::Result<http_client::Response<LazyBody<U>>>>
           + WasmCompatSend
           + 'static
    where
        T: Into<Bytes> + WasmCompatSend,
        U: From<Bytes> + WasmCompatSend + 'static,
    {
        self.inner.send(req)
    }

    fn send_multipart<U>(
        &self,
        req: http_client::Request<MultipartForm>,
    ) -> impl Future<Output = http_client::Result<http_client::Response<LazyBody<U>>>>
           + WasmCompatSend
           + 'static
    where
        U: From<Bytes> + WasmCompatSend + 'static,
    {
        self.inner.send_multipart(req)
    }

    fn send_streaming<T>(
        &self,
        req: http_client::Request<T>,
    ) -> impl Future<Output = http_client::Result<StreamingResponse>> + WasmCompatSend
    where
        T: Into<Bytes> + WasmCompatSend,
    {
        let sent = self.inner.send_streaming(req);
        async move {
            let (parts, body) = sent.await?.into_parts();
            let body: BoxedStream = Box::pin(FirstChunk {
                inner: body,
                seen: false,
            });
            Ok(http_client::Response::from_parts(parts, body))
        }
    }
}

/// A streamed body that marks its first non-empty chunk on the span it is read in.
struct FirstChunk {
    inner: BoxedStream,
    seen: bool,
}

impl Stream for FirstChunk {
    type Item = http_client::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if !self.seen {
            if let Poll::Ready(Some(Ok(bytes))) = &polled {
                if !bytes.is_empty() {
                    self.seen = true;
                    mark_first_token(&tracing::Span::current());
                }
            }
        }
        polled
    }
}

/// Sets the time to first token of the model call `span` is (or is inside), once.
fn mark_first_token(span: &tracing::Span) {
    let now = unix_nanos(SystemTime::now());
    span.with_record(|r| {
        if r.kind.is_billable_kind() && r.time_to_first_token_s.is_none() {
            r.time_to_first_token_s = Some(now.saturating_sub(r.start_time_unix_nano) as f64 / 1e9);
        }
    });
}
