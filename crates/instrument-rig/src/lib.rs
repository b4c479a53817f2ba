//! aitrace helpers for [rig](https://docs.rs/rig-core) 0.44 (`rig-core`, `rig-agent`; 0.45 and later
//! need rustc 1.97).
//!
//! rig writes GenAI spans itself (`invoke_agent`, `chat`, `execute_tool`, `embeddings`, ...), which
//! aitrace reads with no code. Two things it cannot do alone:
//!
//! - **Time to first token on streams.** rig records none. Send through [`TimedHttp`] and every
//!   streamed call's span gets it, measured when the first event that carries content arrives
//!   (text, a tool call, a refusal, reasoning; not the role-only chunk a stream opens with):
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

/// A rig HTTP client that marks the time to first token of streamed calls: when the first event of
/// a streamed answer that carries content arrives (not the role-only chunk servers open a stream
/// with), the model call's span (rig reads streams inside it) gets its `time_to_first_token`,
/// measured from the span's start. Unary and multipart requests pass
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
            let body: BoxedStream = Box::pin(FirstChunk::new(body));
            Ok(http_client::Response::from_parts(parts, body))
        }
    }
}

/// A streamed body that marks, on the span it is read in, the first event that carries content:
/// text, a tool call's name or arguments, a refusal or reasoning. Servers open a stream with an
/// event that carries none (Chat Completions' role-only chunk, the Responses API's
/// `response.created`), often long before the first token; the first byte is not the first token.
struct FirstChunk {
    inner: BoxedStream,
    seen: bool,
    /// The bytes of the line not yet complete.
    line: Vec<u8>,
}

/// A line longer than this (one huge event) is not read for content; the next line is.
const MAX_LINE: usize = 1 << 20;

impl FirstChunk {
    fn new(inner: BoxedStream) -> Self {
        FirstChunk {
            inner,
            seen: false,
            line: Vec::new(),
        }
    }

    /// Reads the chunk's complete lines (SSE `data:` lines, or newline-delimited JSON); true at the
    /// first one that carries content.
    fn finds_content(&mut self, bytes: &[u8]) -> bool {
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            let found = if self.line.is_empty() {
                line_carries_content(&rest[..nl])
            } else {
                self.line.extend_from_slice(&rest[..nl]);
                let line = std::mem::take(&mut self.line);
                line_carries_content(&line)
            };
            if found {
                return true;
            }
            rest = &rest[nl + 1..];
        }
        if self.line.len() + rest.len() <= MAX_LINE {
            self.line.extend_from_slice(rest);
        } else {
            self.line.clear();
        }
        false
    }
}

impl Stream for FirstChunk {
    type Item = http_client::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if !self.seen {
            if let Poll::Ready(Some(Ok(bytes))) = &polled {
                let bytes = bytes.clone();
                if self.finds_content(&bytes) {
                    self.seen = true;
                    self.line = Vec::new();
                    mark_first_token(&tracing::Span::current());
                }
            }
        }
        polled
    }
}

/// Whether one line of a streamed answer carries content, in the stream formats rig's providers
/// use: OpenAI's Chat Completions (and every compatible server), its Responses API, Anthropic's
/// Messages, Gemini, and Ollama's newline-delimited JSON.
fn line_carries_content(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let data = line.strip_prefix(b"data:").unwrap_or(line);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data.trim_ascii()) else {
        return false;
    };
    event_carries_content(&v)
}

fn event_carries_content(v: &serde_json::Value) -> bool {
    let text = |v: &serde_json::Value| v.as_str().is_some_and(|s| !s.is_empty());
    let some = |v: &serde_json::Value| match v {
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Null => false,
        _ => true,
    };
    // Chat Completions: a delta with text, a refusal, reasoning or a tool call.
    if let Some(choices) = v["choices"].as_array() {
        return choices.iter().any(|c| {
            let d = &c["delta"];
            ["content", "refusal", "reasoning_content", "reasoning"]
                .iter()
                .any(|k| text(&d[*k]))
                || some(&d["tool_calls"])
        });
    }
    // Gemini: a candidate's part with text or a function call.
    if let Some(candidates) = v["candidates"].as_array() {
        return candidates.iter().any(|c| {
            c.pointer("/content/parts")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|parts| {
                    parts
                        .iter()
                        .any(|p| text(&p["text"]) || some(&p["functionCall"]))
                })
        });
    }
    let kind = v["type"].as_str().unwrap_or_default();
    match kind {
        // Responses API and Anthropic: deltas of text, arguments, refusals, reasoning, thinking.
        "content_block_delta" => ["text", "partial_json", "thinking"]
            .iter()
            .any(|k| text(&v["delta"][*k])),
        "content_block_start" => {
            v.pointer("/content_block/type") == Some(&serde_json::Value::from("tool_use"))
        }
        "response.output_item.added" => {
            v.pointer("/item/type") == Some(&serde_json::Value::from("function_call"))
        }
        _ if kind.starts_with("response.") && kind.ends_with(".delta") => text(&v["delta"]),
        _ => {
            // Ollama: `message` (chat) or `response` (generate) with text or tool calls.
            text(&v.pointer("/message/content").cloned().unwrap_or_default())
                || some(
                    &v.pointer("/message/tool_calls")
                        .cloned()
                        .unwrap_or_default(),
                )
                || text(&v["response"])
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_is_told_from_bookkeeping_in_every_stream_format() {
        let carries = |v: serde_json::Value| event_carries_content(&v);
        // Chat Completions.
        assert!(!carries(
            json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
        ));
        assert!(carries(json!({"choices": [{"delta": {"content": "Hi"}}]})));
        assert!(carries(
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0}]}}]})
        ));
        assert!(carries(
            json!({"choices": [{"delta": {"reasoning_content": "hmm"}}]})
        ));
        assert!(!carries(
            json!({"choices": [], "usage": {"prompt_tokens": 3}})
        ));
        // Responses API.
        assert!(!carries(
            json!({"type": "response.created", "response": {}})
        ));
        assert!(carries(
            json!({"type": "response.output_text.delta", "delta": "Hi"})
        ));
        assert!(carries(
            json!({"type": "response.output_item.added", "item": {"type": "function_call"}})
        ));
        // Anthropic.
        assert!(!carries(json!({"type": "message_start", "message": {}})));
        assert!(carries(
            json!({"type": "content_block_delta", "delta": {"text": "Hi"}})
        ));
        assert!(carries(
            json!({"type": "content_block_start", "content_block": {"type": "tool_use"}})
        ));
        // Gemini and Ollama.
        assert!(carries(
            json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]})
        ));
        assert!(!carries(
            json!({"candidates": [{"content": {"parts": [{"text": ""}]}}]})
        ));
        assert!(carries(
            json!({"message": {"role": "assistant", "content": "Hi"}})
        ));
        assert!(!carries(
            json!({"message": {"role": "assistant", "content": ""}, "done": false})
        ));
    }

    #[test]
    fn lines_are_found_however_the_bytes_are_cut() {
        let mut body = FirstChunk::new(Box::pin(futures_util_empty()));
        let event = b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
        let (a, b) = event.split_at(70);
        assert!(!body.finds_content(a));
        assert!(body.finds_content(b));
    }

    fn futures_util_empty() -> impl Stream<Item = http_client::Result<Bytes>> + Send {
        struct Empty;
        impl Stream for Empty {
            type Item = http_client::Result<Bytes>;
            fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                Poll::Ready(None)
            }
        }
        Empty
    }
}
