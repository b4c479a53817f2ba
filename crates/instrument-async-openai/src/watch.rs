//! The span of one call, and the response body that fills it as the client reads: the answer is
//! observed in place, never read ahead of the client, so streams keep their timing and a client that
//! stops reading stops the observation too.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use aitrace_core::{messages_to_value, AiSpanExt};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tracing::field::Empty;
use tracing::Span;

use crate::wire::{CallRequest, Endpoint, Event, Outcome, SseSplitter, StreamSoFar};
use crate::Settings;

/// Most of a unary answer kept to read it: a larger one is still passed on whole, but recorded only
/// as too large to read.
const MAX_UNARY: usize = 32 << 20;

/// One call's span and what is known of it.
pub(crate) struct Watch {
    span: Span,
    endpoint: Endpoint,
    started: Instant,
    capture_content: bool,
    first_content_seen: bool,
}

impl Watch {
    /// Opens the call's span (a child of the current span) and records the request.
    pub(crate) fn open(
        endpoint: Endpoint,
        request: &reqwest::Request,
        settings: &Settings,
    ) -> Self {
        let url = request.url();
        let provider = settings
            .provider
            .clone()
            .unwrap_or_else(|| crate::wire::provider_for_host(url.host_str().unwrap_or("")).into());
        let body = request.body().and_then(|b| b.as_bytes()).unwrap_or(&[]);
        let call = CallRequest::parse(endpoint, body);
        let model = call.model.as_deref().unwrap_or("unknown");
        let span = match endpoint {
            Endpoint::Chat | Endpoint::Responses => tracing::info_span!(
                target: "aitrace_async_openai",
                "chat",
                aitrace.kind = "model_generation",
                gen_ai.operation.name = "chat",
                gen_ai.provider.name = %provider,
                gen_ai.request.model = %model,
                gen_ai.request.stream = call.stream,
                gen_ai.request.temperature = call.temperature,
                gen_ai.request.max_tokens = call.max_tokens,
                gen_ai.request.top_p = call.top_p,
                gen_ai.request.frequency_penalty = call.frequency_penalty,
                gen_ai.request.presence_penalty = call.presence_penalty,
                gen_ai.request.seed = call.seed,
                gen_ai.request.choice.count = call.choice_count,
                gen_ai.request.stop_sequences = Empty,
                gen_ai.output.type = call.output_type,
                server.address = url.host_str(),
                server.port = url.port_or_known_default(),
                gen_ai.response.id = Empty,
                gen_ai.response.model = Empty,
                gen_ai.response.finish_reasons = Empty,
                gen_ai.response.time_to_first_chunk = Empty,
                gen_ai.usage.input_tokens = Empty,
                gen_ai.usage.output_tokens = Empty,
                gen_ai.usage.cache_read.input_tokens = Empty,
                gen_ai.usage.reasoning.output_tokens = Empty,
                gen_ai.system_instructions = Empty,
                gen_ai.input.messages = Empty,
                gen_ai.output.messages = Empty,
                gen_ai.tool.definitions = Empty,
                http.response.status_code = Empty,
                error.type = Empty,
            ),
            Endpoint::Embeddings => tracing::info_span!(
                target: "aitrace_async_openai",
                "embeddings",
                aitrace.kind = "embedding",
                gen_ai.operation.name = "embeddings",
                gen_ai.provider.name = %provider,
                gen_ai.request.model = %model,
                gen_ai.request.encoding_formats = Empty,
                gen_ai.embeddings.dimension.count = call.dimensions,
                server.address = url.host_str(),
                server.port = url.port_or_known_default(),
                gen_ai.response.model = Empty,
                gen_ai.usage.input_tokens = Empty,
                aitrace.input = Empty,
                http.response.status_code = Empty,
                error.type = Empty,
            ),
        };
        if !call.stop.is_empty() {
            span.record(
                "gen_ai.request.stop_sequences",
                serde_json::Value::from(call.stop.clone()).to_string(),
            );
        }
        if let Some(format) = &call.encoding_format {
            span.record(
                "gen_ai.request.encoding_formats",
                serde_json::json!([format]).to_string(),
            );
        }
        if settings.capture_content {
            if !call.input.is_empty() {
                span.record(
                    "gen_ai.input.messages",
                    messages_to_value(&call.input).to_string(),
                );
            }
            if let Some(system) = &call.system_instructions {
                span.record("gen_ai.system_instructions", system.to_string());
            }
            if let Some(texts) = &call.embedding_input {
                span.record("aitrace.input", texts.to_string());
            }
        }
        // Tool definitions are the app's code, not the user's words: kept like the conventions'
        // other request attributes.
        if let Some(tools) = &call.tools {
            span.record("gen_ai.tool.definitions", tools.to_string());
        }
        Watch {
            span,
            endpoint,
            started: Instant::now(),
            capture_content: settings.capture_content,
            first_content_seen: false,
        }
    }

    /// The call failed before an answer came (connection refused, timeout, ...).
    pub(crate) fn transport_error(self, error: &impl std::fmt::Display) {
        self.span.record("error.type", "transport");
        self.span.set_error("transport", error);
    }

    /// Hands back the response with a body that records the answer as the client reads it.
    pub(crate) fn response(self, response: reqwest::Response) -> reqwest::Response {
        let status = response.status();
        self.span
            .record("http.response.status_code", status.as_u16());
        let streamed = status.is_success()
            && response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
        let reading = if !status.is_success() {
            Reading::Error(status.as_u16(), Vec::new())
        } else if streamed {
            Reading::Stream(Box::new((
                SseSplitter::default(),
                StreamSoFar::new(self.endpoint),
            )))
        } else {
            Reading::Unary(Vec::new(), false)
        };
        let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
        let watched = Watched {
            inner: body,
            reading: Some((self, reading)),
        };
        reqwest::Response::from(http::Response::from_parts(
            parts,
            reqwest::Body::wrap(watched),
        ))
    }

    fn first_chunk(&self) {
        self.span.record(
            "gen_ai.response.time_to_first_chunk",
            self.started.elapsed().as_secs_f64(),
        );
    }

    /// Records what the call produced; the span ends when the watch is dropped after this.
    fn finish(&self, outcome: Outcome) {
        let span = &self.span;
        if let Some(id) = &outcome.response_id {
            span.record("gen_ai.response.id", id.as_str());
        }
        if let Some(model) = &outcome.response_model {
            span.record("gen_ai.response.model", model.as_str());
        }
        if !outcome.finish_reasons.is_empty() {
            span.record(
                "gen_ai.response.finish_reasons",
                serde_json::Value::from(outcome.finish_reasons.clone()).to_string(),
            );
        }
        if let Some(dims) = outcome.embedding_dimensions {
            span.record("gen_ai.embeddings.dimension.count", dims);
        }
        if let Some(u) = outcome.usage {
            let fields = [
                ("gen_ai.usage.input_tokens", u.input_tokens),
                ("gen_ai.usage.output_tokens", u.output_tokens),
                (
                    "gen_ai.usage.cache_read.input_tokens",
                    u.cache_read_input_tokens,
                ),
                ("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens),
            ];
            for (name, value) in fields {
                if let Some(v) = value {
                    span.record(name, v);
                }
            }
            // What the conventions have no field for on this span goes to the record directly.
            span.with_record(|r| {
                let usage = r.usage.get_or_insert_with(Default::default);
                usage.total_tokens = u.total_tokens.or(usage.total_tokens);
                usage.input_audio_tokens = u.input_audio_tokens;
                usage.output_audio_tokens = u.output_audio_tokens;
            });
        }
        if self.capture_content && !outcome.output.is_empty() {
            span.record(
                "gen_ai.output.messages",
                messages_to_value(&outcome.output).to_string(),
            );
        }
        match &outcome.error {
            Some((kind, message)) => {
                span.record("error.type", kind.as_str());
                span.set_error(kind, message);
            }
            None => {
                span.set_ok();
            }
        }
    }
}

enum Reading {
    /// A JSON answer, collected up to [`MAX_UNARY`] (the flag: it was larger).
    Unary(Vec<u8>, bool),
    /// Server-sent events, assembled as they come.
    Stream(Box<(SseSplitter, StreamSoFar)>),
    /// An error answer's body (kept up to 64 KiB).
    Error(u16, Vec<u8>),
}

/// A response body that records the answer into the call's span as the client reads it.
pub struct Watched {
    inner: reqwest::Body,
    reading: Option<(Watch, Reading)>,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("finished", &self.reading.is_none())
            .finish_non_exhaustive()
    }
}

/// How the body ended.
enum End {
    /// All of it was read (or the stream said it was over).
    Complete,
    /// Reading it failed.
    Failed(String),
    /// The client dropped it first.
    Dropped,
}

impl Watched {
    fn take(&mut self, bytes: &Bytes) {
        let Some((watch, reading)) = &mut self.reading else {
            return;
        };
        let over = match reading {
            Reading::Unary(buf, too_large) => {
                if !*too_large && buf.len() + bytes.len() <= MAX_UNARY {
                    buf.extend_from_slice(bytes);
                } else if !*too_large {
                    *too_large = true;
                    *buf = Vec::new();
                }
                false
            }
            Reading::Error(_, buf) => {
                let room = (64usize << 10).saturating_sub(buf.len());
                buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
                false
            }
            Reading::Stream(stream) => {
                let (sse, so_far) = &mut **stream;
                sse.feed(bytes, |data| match so_far.absorb(data) {
                    Event::Content => {
                        if !watch.first_content_seen {
                            watch.first_content_seen = true;
                            watch.first_chunk();
                        }
                        false
                    }
                    Event::Other => false,
                    Event::End => true,
                })
            }
        };
        if over {
            self.end(End::Complete);
        }
    }

    fn end(&mut self, how: End) {
        let Some((watch, reading)) = self.reading.take() else {
            return;
        };
        let mut outcome = match &reading {
            // Passed on whole, but too large to read here: the span keeps what the request said.
            Reading::Unary(_, true) => Outcome::default(),
            Reading::Unary(buf, false) => match serde_json::from_slice(buf) {
                Ok(v) => Outcome::from_answer(watch.endpoint, &v),
                Err(_) if matches!(how, End::Complete) => Outcome {
                    error: Some(("invalid_response".into(), "the answer is not JSON".into())),
                    ..Outcome::default()
                },
                Err(_) => Outcome::default(),
            },
            Reading::Stream(stream) => stream.1.outcome(),
            Reading::Error(status, buf) => Outcome::from_error(*status, buf),
        };
        if outcome.error.is_none() {
            outcome.error = match how {
                End::Complete => None,
                End::Failed(e) => Some(("transport".into(), e)),
                End::Dropped => Some((
                    "cancelled".into(),
                    "the client dropped the answer before its end".into(),
                )),
            };
        }
        watch.finish(outcome);
    }
}

impl Body for Watched {
    type Data = Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, reqwest::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.take(data);
                }
                // A reader may stop at the last frame without polling for the end (the body said
                // it was over): the answer is complete then, not dropped.
                if this.inner.is_end_stream() {
                    this.end(End::Complete);
                }
            }
            Poll::Ready(Some(Err(e))) => this.end(End::Failed(e.to_string())),
            Poll::Ready(None) => this.end(End::Complete),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.end(End::Dropped);
    }
}
