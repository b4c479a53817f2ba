//! Answers: what a call produced (usage, finish reasons, output messages, errors), from a unary
//! JSON answer or an error body.

use aitrace_core::{ChatMessage, Usage};
use serde_json::Value;

use super::request::{chat_message, responses_item};
use super::Endpoint;

/// The conventions' finish reason for a provider's (`tool_calls` -> `tool_call`).
pub(crate) fn convention_finish_reason(raw: &str) -> String {
    match raw {
        "tool_calls" | "function_call" => "tool_call".into(),
        "max_output_tokens" | "max_tokens" => "length".into(),
        other => other.into(),
    }
}

/// Usage in either API's naming (`prompt_tokens` or `input_tokens`, and their details).
pub(crate) fn usage(u: &Value) -> Option<Usage> {
    if !u.is_object() {
        return None;
    }
    let n = |paths: &[&str]| {
        paths
            .iter()
            .find_map(|p| u.pointer(p).and_then(Value::as_u64))
    };
    let mut usage = Usage::default();
    usage.input_tokens = n(&["/prompt_tokens", "/input_tokens"]);
    usage.output_tokens = n(&["/completion_tokens", "/output_tokens"]);
    usage.total_tokens = n(&["/total_tokens"]);
    usage.cache_read_input_tokens = n(&[
        "/prompt_tokens_details/cached_tokens",
        "/input_tokens_details/cached_tokens",
    ]);
    usage.reasoning_tokens = n(&[
        "/completion_tokens_details/reasoning_tokens",
        "/output_tokens_details/reasoning_tokens",
    ]);
    usage.input_audio_tokens = n(&["/prompt_tokens_details/audio_tokens"]);
    usage.output_audio_tokens = n(&["/completion_tokens_details/audio_tokens"]);
    (!usage.is_empty()).then_some(usage)
}

/// What a call produced, from its answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub response_id: Option<String>,
    pub response_model: Option<String>,
    pub usage: Option<Usage>,
    /// As the provider sent them.
    pub finish_reasons: Vec<String>,
    pub output: Vec<ChatMessage>,
    pub embedding_dimensions: Option<u64>,
    /// `error.type` and message.
    pub error: Option<(String, String)>,
}

impl Outcome {
    /// A unary JSON answer with a success status.
    pub(crate) fn from_answer(endpoint: Endpoint, v: &Value) -> Outcome {
        match endpoint {
            Endpoint::Chat => chat_answer(v),
            Endpoint::Responses => responses_answer(v),
            Endpoint::Embeddings => Outcome {
                response_model: v["model"].as_str().map(str::to_string),
                usage: usage(&v["usage"]),
                embedding_dimensions: v
                    .pointer("/data/0/embedding")
                    .and_then(Value::as_array)
                    .map(|e| e.len() as u64),
                ..Outcome::default()
            },
        }
    }

    /// An answer with an error status: OpenAI's `{"error": {message, type, code}}`, or any body.
    /// `error.type` is the API's error type (or code) when it gives one, else the HTTP status.
    pub(crate) fn from_error(status: u16, body: &[u8]) -> Outcome {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let err = v.get("error").unwrap_or(&v);
        let kind = err["type"]
            .as_str()
            .filter(|t| !t.is_empty())
            .or_else(|| err["code"].as_str())
            .map_or_else(|| status.to_string(), str::to_string);
        let message = err["message"].as_str().map_or_else(
            || {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {}", cut(text, 512))
                }
            },
            str::to_string,
        );
        Outcome {
            error: Some((kind, message)),
            ..Outcome::default()
        }
    }
}

pub(super) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn chat_answer(v: &Value) -> Outcome {
    let mut out = Outcome {
        response_id: v["id"].as_str().map(str::to_string),
        response_model: v["model"].as_str().map(str::to_string),
        usage: usage(&v["usage"]),
        ..Outcome::default()
    };
    for choice in v["choices"].as_array().into_iter().flatten() {
        let mut msg = chat_message(&choice["message"]);
        if msg.role.is_empty() {
            msg.role = "assistant".into();
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            out.finish_reasons.push(reason.to_string());
            msg.finish_reason = Some(convention_finish_reason(reason));
        }
        out.output.push(msg);
    }
    out
}

/// A Responses API `response` object (the unary answer, or the one a stream's last event carries).
pub(crate) fn responses_answer(v: &Value) -> Outcome {
    let mut parts = Vec::new();
    let mut called_tool = false;
    for item in v["output"].as_array().into_iter().flatten() {
        let msg = responses_item(item);
        called_tool |= item["type"] == "function_call";
        parts.extend(msg.parts);
    }
    let status = v["status"].as_str().unwrap_or("completed");
    let reason = match status {
        "incomplete" => v
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
            .unwrap_or("incomplete")
            .to_string(),
        "failed" => "error".into(),
        _ if called_tool => "tool_calls".into(),
        _ => "stop".into(),
    };
    let mut out = Outcome {
        response_id: v["id"].as_str().map(str::to_string),
        response_model: v["model"].as_str().map(str::to_string),
        usage: usage(&v["usage"]),
        finish_reasons: vec![reason.clone()],
        ..Outcome::default()
    };
    if status == "failed" {
        let err = &v["error"];
        out.error = Some((
            err["code"]
                .as_str()
                .unwrap_or("response_failed")
                .to_string(),
            err["message"]
                .as_str()
                .unwrap_or("the response failed")
                .to_string(),
        ));
    }
    if !parts.is_empty() {
        out.output.push(
            ChatMessage::new("assistant", parts)
                .with_finish_reason(convention_finish_reason(&reason)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_reads_both_namings() {
        let chat = usage(&json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}}))
        .unwrap();
        let resp = usage(&json!({"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
            "input_tokens_details": {"cached_tokens": 4}, "output_tokens_details": {"reasoning_tokens": 2}}))
        .unwrap();
        assert_eq!(chat, resp);
        assert_eq!(
            (
                chat.input_tokens,
                chat.output_tokens,
                chat.cache_read_input_tokens,
                chat.reasoning_tokens
            ),
            (Some(10), Some(5), Some(4), Some(2))
        );
        assert_eq!(usage(&Value::Null), None);
    }

    #[test]
    fn error_bodies_name_the_api_error_or_the_status() {
        let e = Outcome::from_error(
            429,
            br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
        );
        assert_eq!(
            e.error,
            Some(("rate_limit_error".into(), "slow down".into()))
        );
        let e = Outcome::from_error(502, b"bad gateway");
        assert_eq!(
            e.error,
            Some(("502".into(), "HTTP 502: bad gateway".into()))
        );
    }
}
