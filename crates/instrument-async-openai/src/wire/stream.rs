//! Streams: server-sent events split however the bytes arrive, and a streamed answer assembled into
//! the same outcome a unary answer gives.

use aitrace_core::{ChatMessage, Part, Usage};
use serde_json::Value;

use super::answer::{convention_finish_reason, cut, responses_answer, usage, Outcome};
use super::request::arguments;
use super::Endpoint;

/// Longest text kept while a stream is assembled: beyond it the output is cut (and says so), so a
/// runaway stream cannot grow memory without bound.
const MAX_ASSEMBLED: usize = 1 << 20;

fn push_capped(into: &mut String, piece: &str) {
    if into.len() < MAX_ASSEMBLED {
        into.push_str(cut(piece, MAX_ASSEMBLED - into.len()));
    }
}

#[derive(Debug, Default)]
struct ChoiceSoFar {
    text: String,
    reasoning: String,
    /// By the stream's tool-call index: id, name, arguments text.
    tool_calls: std::collections::BTreeMap<u64, (String, String, String)>,
    finish_reason: Option<String>,
}

/// A streamed answer as it arrives, assembled into the same [`Outcome`] a unary answer gives.
#[derive(Debug)]
pub(crate) struct StreamSoFar {
    endpoint: Endpoint,
    response_id: Option<String>,
    response_model: Option<String>,
    usage: Option<Usage>,
    choices: std::collections::BTreeMap<u64, ChoiceSoFar>,
    /// The Responses API's final `response` object, once its last event came.
    final_response: Option<Value>,
    error: Option<(String, String)>,
}

/// What one event meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// Carried content (text, reasoning or a tool call): the first one is the first token.
    Content,
    /// Anything else (role, usage, bookkeeping).
    Other,
    /// The stream said it is over (`[DONE]`, or the Responses API's last event).
    End,
}

impl StreamSoFar {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        StreamSoFar {
            endpoint,
            response_id: None,
            response_model: None,
            usage: None,
            choices: Default::default(),
            final_response: None,
            error: None,
        }
    }

    /// Takes one event's `data`.
    pub(crate) fn absorb(&mut self, data: &str) -> Event {
        let data = data.trim();
        if data == "[DONE]" {
            return Event::End;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return Event::Other;
        };
        match self.endpoint {
            Endpoint::Responses => self.absorb_responses(&v),
            _ => self.absorb_chat(&v),
        }
    }

    fn absorb_chat(&mut self, v: &Value) -> Event {
        if let Some(err) = v.get("error") {
            self.error = Some((
                err["type"].as_str().unwrap_or("stream_error").to_string(),
                err["message"].as_str().unwrap_or_default().to_string(),
            ));
            return Event::Other;
        }
        if let Some(id) = v["id"].as_str().filter(|s| !s.is_empty()) {
            self.response_id.get_or_insert_with(|| id.to_string());
        }
        if let Some(m) = v["model"].as_str().filter(|s| !s.is_empty()) {
            self.response_model = Some(m.to_string());
        }
        if let Some(u) = usage(&v["usage"]) {
            self.usage = Some(u);
        }
        let mut content = false;
        for c in v["choices"].as_array().into_iter().flatten() {
            let choice = self
                .choices
                .entry(c["index"].as_u64().unwrap_or(0))
                .or_default();
            let delta = &c["delta"];
            if let Some(t) = delta["content"]
                .as_str()
                .or_else(|| delta["refusal"].as_str())
            {
                content |= !t.is_empty();
                push_capped(&mut choice.text, t);
            }
            if let Some(t) = delta["reasoning_content"]
                .as_str()
                .or_else(|| delta["reasoning"].as_str())
            {
                content |= !t.is_empty();
                push_capped(&mut choice.reasoning, t);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                content = true;
                let slot = choice
                    .tool_calls
                    .entry(call["index"].as_u64().unwrap_or(0))
                    .or_default();
                if let Some(id) = call["id"].as_str() {
                    slot.0 = id.to_string();
                }
                if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                    slot.1.push_str(name);
                }
                if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str) {
                    push_capped(&mut slot.2, args);
                }
            }
            if let Some(reason) = c["finish_reason"].as_str() {
                choice.finish_reason = Some(reason.to_string());
            }
        }
        if content {
            Event::Content
        } else {
            Event::Other
        }
    }

    fn absorb_responses(&mut self, v: &Value) -> Event {
        let kind = v["type"].as_str().unwrap_or_default();
        match kind {
            "response.completed" | "response.incomplete" | "response.failed" => {
                self.final_response = Some(v["response"].clone());
                Event::End
            }
            "response.created" | "response.in_progress" => {
                if let Some(id) = v.pointer("/response/id").and_then(Value::as_str) {
                    self.response_id = Some(id.to_string());
                }
                if let Some(m) = v.pointer("/response/model").and_then(Value::as_str) {
                    self.response_model = Some(m.to_string());
                }
                Event::Other
            }
            "error" => {
                self.error = Some((
                    v["code"].as_str().unwrap_or("stream_error").to_string(),
                    v["message"].as_str().unwrap_or_default().to_string(),
                ));
                Event::End
            }
            _ if kind.ends_with(".delta") => {
                let choice = self.choices.entry(0).or_default();
                if let Some(d) = v["delta"].as_str() {
                    if kind.contains("reasoning") {
                        push_capped(&mut choice.reasoning, d);
                    } else if kind == "response.output_text.delta" {
                        push_capped(&mut choice.text, d);
                    }
                }
                Event::Content
            }
            _ => Event::Other,
        }
    }

    /// The outcome assembled so far (all of it once the stream ended).
    pub(crate) fn outcome(&self) -> Outcome {
        if let Some(resp) = &self.final_response {
            let mut out = responses_answer(resp);
            out.response_id = out.response_id.or_else(|| self.response_id.clone());
            out.response_model = out.response_model.or_else(|| self.response_model.clone());
            return out;
        }
        let mut out = Outcome {
            response_id: self.response_id.clone(),
            response_model: self.response_model.clone(),
            usage: self.usage,
            error: self.error.clone(),
            ..Outcome::default()
        };
        for choice in self.choices.values() {
            let mut parts = Vec::new();
            if !choice.reasoning.is_empty() {
                parts.push(Part::reasoning(choice.reasoning.clone()));
            }
            if !choice.text.is_empty() {
                parts.push(Part::text(choice.text.clone()));
            }
            for (id, name, args) in choice.tool_calls.values() {
                parts.push(Part::tool_call(
                    id.clone(),
                    name.clone(),
                    arguments(&Value::String(args.clone())),
                ));
            }
            let mut msg = ChatMessage::new("assistant", parts);
            if let Some(reason) = &choice.finish_reason {
                out.finish_reasons.push(reason.clone());
                msg.finish_reason = Some(convention_finish_reason(reason));
            }
            out.output.push(msg);
        }
        out
    }
}

/// Splits a byte stream into server-sent events' `data`, however the bytes are cut. A line longer
/// than [`MAX_EVENT`] is dropped (and counted), so a peer that never ends a line cannot grow memory.
#[derive(Debug, Default)]
pub(crate) struct SseSplitter {
    buf: Vec<u8>,
    data: String,
    pub dropped_events: u32,
    skipping: bool,
}

/// Largest event kept.
const MAX_EVENT: usize = 8 << 20;

impl SseSplitter {
    /// Feeds bytes; calls `on_event` with each complete event's data.
    pub(crate) fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(&str) -> bool) -> bool {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut stop = false;
        while let Some(nl) = self.buf[start..].iter().position(|b| *b == b'\n') {
            let line = &self.buf[start..start + nl];
            start += nl + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if self.skipping {
                self.skipping = false;
                continue;
            }
            if line.is_empty() {
                if !self.data.is_empty() {
                    let data = std::mem::take(&mut self.data);
                    if on_event(&data) {
                        stop = true;
                        break;
                    }
                }
                continue;
            }
            if let Some(d) = line.strip_prefix(b"data:") {
                let d = d.strip_prefix(b" ").unwrap_or(d);
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(d));
                if self.data.len() > MAX_EVENT {
                    self.data.clear();
                    self.dropped_events += 1;
                }
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_EVENT {
            self.buf.clear();
            self.skipping = true;
            self.dropped_events += 1;
        }
        stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chat_stream_assembles_text_tool_calls_and_late_usage() {
        let mut s = StreamSoFar::new(Endpoint::Chat);
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "x1", "model": "m-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).to_string()
        };
        assert_eq!(
            s.absorb(&chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null
            )),
            Event::Other
        );
        assert_eq!(
            s.absorb(&chunk(json!({"content": "Hel"}), Value::Null)),
            Event::Content
        );
        s.absorb(&chunk(json!({"content": "lo"}), Value::Null));
        s.absorb(&chunk(json!({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{\"a\""}}]}), Value::Null));
        s.absorb(&chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
            Value::Null,
        ));
        s.absorb(&chunk(json!({}), json!("tool_calls")));
        s.absorb(&json!({"id": "x1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}).to_string());
        assert_eq!(s.absorb("[DONE]"), Event::End);
        let out = s.outcome();
        assert_eq!(out.response_id.as_deref(), Some("x1"));
        assert_eq!(out.usage.unwrap().output_tokens, Some(4));
        assert_eq!(out.finish_reasons, vec!["tool_calls"]);
        assert_eq!(
            out.output,
            vec![ChatMessage::new(
                "assistant",
                vec![
                    Part::text("Hello"),
                    Part::tool_call("c1", "f", json!({"a": 1}))
                ]
            )
            .with_finish_reason("tool_call")]
        );
    }

    #[test]
    fn sse_splitter_handles_any_cut_and_crlf() {
        let stream = b"data: {\"a\":1}\r\n\r\n: comment\n\nevent: x\ndata: [DONE]\n\n";
        for cut_at in 0..stream.len() {
            let mut s = SseSplitter::default();
            let mut seen = Vec::new();
            s.feed(&stream[..cut_at], |d| {
                seen.push(d.to_string());
                false
            });
            s.feed(&stream[cut_at..], |d| {
                seen.push(d.to_string());
                false
            });
            assert_eq!(seen, vec!["{\"a\":1}", "[DONE]"], "cut at {cut_at}");
        }
    }
}
