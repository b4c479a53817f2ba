//! Requests: what a call asked for, read from its JSON body, with messages in GenAI form.

use aitrace_core::{ChatMessage, KnownPart, Part};
use serde_json::{json, Map, Value};

use super::Endpoint;

/// What a request asked for, read from its JSON body.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CallRequest {
    pub model: Option<String>,
    pub stream: bool,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub top_p: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub choice_count: Option<u64>,
    /// `json` when a structured answer was asked for, `text` for plain text.
    pub output_type: Option<&'static str>,
    /// Embeddings: the dimensions asked for, and the encoding.
    pub dimensions: Option<u64>,
    pub encoding_format: Option<String>,
    /// Chat input as GenAI messages (system messages included, as the conventions place them).
    pub input: Vec<ChatMessage>,
    /// The Responses API's `instructions`.
    pub system_instructions: Option<Value>,
    /// Tools in the conventions' flat shape: `{type, name, description, parameters}`.
    pub tools: Option<Value>,
    /// Embeddings: the texts embedded.
    pub embedding_input: Option<Value>,
}

impl CallRequest {
    /// Reads a request body. A body that is not JSON yields an empty request: the call is still
    /// traced, with what the URL tells.
    pub(crate) fn parse(endpoint: Endpoint, body: &[u8]) -> CallRequest {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return CallRequest::default();
        };
        let stop = match &v["stop"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let format_type = v
            .pointer("/response_format/type")
            .or_else(|| v.pointer("/text/format/type"))
            .and_then(Value::as_str);
        let mut r = CallRequest {
            model: v["model"].as_str().map(str::to_string),
            stream: v["stream"].as_bool().unwrap_or(false),
            temperature: v["temperature"].as_f64(),
            max_tokens: v["max_completion_tokens"]
                .as_u64()
                .or_else(|| v["max_tokens"].as_u64())
                .or_else(|| v["max_output_tokens"].as_u64()),
            top_p: v["top_p"].as_f64(),
            frequency_penalty: v["frequency_penalty"].as_f64(),
            presence_penalty: v["presence_penalty"].as_f64(),
            stop,
            seed: v["seed"].as_i64(),
            choice_count: v["n"].as_u64().filter(|n| *n != 1),
            output_type: format_type.map(|t| if t == "text" { "text" } else { "json" }),
            dimensions: v["dimensions"].as_u64(),
            encoding_format: v["encoding_format"].as_str().map(str::to_string),
            ..CallRequest::default()
        };
        match endpoint {
            Endpoint::Chat => {
                r.input = v["messages"]
                    .as_array()
                    .map(|m| m.iter().map(chat_message).collect())
                    .unwrap_or_default();
                r.tools = tool_definitions(&v["tools"]);
            }
            Endpoint::Responses => {
                r.input = responses_input(&v["input"]);
                r.system_instructions = v["instructions"]
                    .as_str()
                    .map(|s| json!([{"type": "text", "content": s}]));
                r.tools = tool_definitions(&v["tools"]);
            }
            Endpoint::Embeddings => {
                r.embedding_input = match &v["input"] {
                    Value::Null => None,
                    other => Some(other.clone()),
                };
            }
        }
        r
    }
}

/// A tool call's arguments: the JSON they encode, or the text when it is not JSON.
pub(super) fn arguments(raw: &Value) -> Value {
    match raw {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        other => other.clone(),
    }
}

/// One content part of a chat or Responses message, in GenAI form.
fn content_part(p: &Value) -> Part {
    let text = p["text"].as_str().or_else(|| p["refusal"].as_str());
    match (p["type"].as_str().unwrap_or(""), text) {
        ("text" | "input_text" | "output_text" | "refusal", Some(t)) => Part::text(t),
        ("image_url", _) | ("input_image", _) => {
            let url = p
                .pointer("/image_url/url")
                .or_else(|| p.get("image_url"))
                .and_then(Value::as_str);
            match url {
                Some(url) => data_or_uri("image", url),
                None => match p["file_id"].as_str() {
                    Some(id) => Part::Known(KnownPart::File {
                        modality: "image".into(),
                        mime_type: None,
                        file_id: id.into(),
                    }),
                    None => other_part(p),
                },
            }
        }
        ("input_audio", _) => Part::Known(KnownPart::Blob {
            modality: "audio".into(),
            mime_type: p
                .pointer("/input_audio/format")
                .and_then(Value::as_str)
                .map(|f| format!("audio/{f}")),
            content: p
                .pointer("/input_audio/data")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
        }),
        _ => other_part(p),
    }
}

fn other_part(p: &Value) -> Part {
    match p {
        Value::Object(m) => Part::Other(m.clone()),
        other => Part::text(other.to_string()),
    }
}

/// A `data:` URL becomes an inline blob (which the content filters and size caps see); any other URL a
/// reference.
fn data_or_uri(modality: &str, url: &str) -> Part {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            let mime = meta.trim_end_matches(";base64");
            return Part::Known(KnownPart::Blob {
                modality: modality.into(),
                mime_type: (!mime.is_empty()).then(|| mime.to_string()),
                content: data.into(),
            });
        }
    }
    Part::Known(KnownPart::Uri {
        modality: modality.into(),
        mime_type: None,
        uri: url.into(),
    })
}

fn content_parts(content: &Value) -> Vec<Part> {
    match content {
        Value::String(s) => vec![Part::text(s.clone())],
        Value::Array(parts) => parts.iter().map(content_part).collect(),
        _ => Vec::new(),
    }
}

/// One Chat Completions message (request or response) as a GenAI message.
pub(crate) fn chat_message(m: &Value) -> ChatMessage {
    let role = m["role"].as_str().unwrap_or("user").to_string();
    let mut parts = Vec::new();
    if let Some(reasoning) = m["reasoning_content"]
        .as_str()
        .or_else(|| m["reasoning"].as_str())
    {
        parts.push(Part::reasoning(reasoning));
    }
    if role == "tool" {
        let response = match &m["content"] {
            Value::String(s) => arguments(&Value::String(s.clone())),
            Value::Array(_) => Value::String(
                content_parts(&m["content"])
                    .iter()
                    .filter_map(Part::as_text)
                    .collect(),
            ),
            other => other.clone(),
        };
        parts.push(Part::tool_result(
            m["tool_call_id"].as_str().unwrap_or_default(),
            response,
        ));
    } else {
        parts.extend(content_parts(&m["content"]));
        if let Some(refusal) = m["refusal"].as_str() {
            parts.push(Part::text(refusal));
        }
    }
    for call in m["tool_calls"].as_array().into_iter().flatten() {
        parts.push(Part::tool_call(
            call["id"].as_str().unwrap_or_default(),
            call.pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            arguments(call.pointer("/function/arguments").unwrap_or(&Value::Null)),
        ));
    }
    let mut msg = ChatMessage::new(role, parts);
    msg.name = m["name"].as_str().map(str::to_string);
    msg
}

/// The Responses API's `input`: a string (one user message) or a list of items.
fn responses_input(input: &Value) -> Vec<ChatMessage> {
    match input {
        Value::String(s) => vec![ChatMessage::user(s.clone())],
        Value::Array(items) => items.iter().map(responses_item).collect(),
        _ => Vec::new(),
    }
}

/// One Responses item (input or output) as a GenAI message.
pub(super) fn responses_item(item: &Value) -> ChatMessage {
    match item["type"].as_str() {
        Some("function_call") => ChatMessage::new(
            "assistant",
            vec![Part::tool_call(
                item["call_id"].as_str().unwrap_or_default(),
                item["name"].as_str().unwrap_or_default(),
                arguments(&item["arguments"]),
            )],
        ),
        Some("function_call_output") => ChatMessage::tool_result(
            item["call_id"].as_str().unwrap_or_default(),
            arguments(&item["output"]),
        ),
        Some("reasoning") => {
            let text: Vec<&str> = item["summary"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["text"].as_str())
                .collect();
            ChatMessage::new("assistant", vec![Part::reasoning(text.join("\n"))])
        }
        Some("message") | None if item.get("role").is_some() => ChatMessage::new(
            item["role"].as_str().unwrap_or("user"),
            content_parts(&item["content"]),
        ),
        _ => ChatMessage::new("assistant", vec![other_part(item)]),
    }
}

/// Tools as the conventions list them (`gen_ai.tool.definitions`): the Chat Completions shape
/// `{type, function: {name, ...}}` flattened; the Responses shape is flat already.
fn tool_definitions(tools: &Value) -> Option<Value> {
    let tools = tools.as_array().filter(|t| !t.is_empty())?;
    Some(Value::Array(
        tools
            .iter()
            .map(|t| match t.get("function") {
                Some(Value::Object(f)) => {
                    let mut out = Map::new();
                    out.insert("type".into(), t["type"].clone());
                    for (k, v) in f {
                        out.insert(k.clone(), v.clone());
                    }
                    Value::Object(out)
                }
                _ => t.clone(),
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aitrace_core::Part;

    #[test]
    fn chat_request_reads_messages_tools_and_parameters() {
        let body = json!({
            "model": "gpt-4o-mini", "temperature": 0.2, "max_completion_tokens": 100, "stop": "END",
            "seed": 7, "response_format": {"type": "json_schema"}, "stream": true,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "{\"seen\":\"cat\"}"}
            ],
            "tools": [{"type": "function", "function": {"name": "look", "description": "d", "parameters": {"type": "object"}}}]
        });
        let r = CallRequest::parse(Endpoint::Chat, body.to_string().as_bytes());
        assert_eq!(r.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            (r.temperature, r.max_tokens, r.seed),
            (Some(0.2), Some(100), Some(7))
        );
        assert_eq!(r.stop, vec!["END"]);
        assert!(r.stream);
        assert_eq!(r.output_type, Some("json"));
        assert_eq!(
            aitrace_core::messages_to_value(&r.input),
            json!([
                {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
                {"role": "user", "parts": [{"type": "text", "content": "what is this?"},
                    {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "AAAA"}]},
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "look", "arguments": {"x": 1}}]},
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": {"seen": "cat"}}]}
            ])
        );
        assert_eq!(
            r.tools,
            Some(
                json!([{"type": "function", "name": "look", "description": "d", "parameters": {"type": "object"}}])
            )
        );
    }

    #[test]
    fn responses_request_reads_instructions_and_items() {
        let body = json!({"model": "gpt-4.1", "instructions": "be kind", "max_output_tokens": 50,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                      {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                      {"type": "function_call_output", "call_id": "c1", "output": "42"}]});
        let r = CallRequest::parse(Endpoint::Responses, body.to_string().as_bytes());
        assert_eq!(r.max_tokens, Some(50));
        assert_eq!(
            r.system_instructions,
            Some(json!([{"type": "text", "content": "be kind"}]))
        );
        assert_eq!(r.input.len(), 3);
        assert_eq!(r.input[2].role, "tool");
        assert_eq!(r.input[2].parts, vec![Part::tool_result("c1", json!(42))]);
    }
}
