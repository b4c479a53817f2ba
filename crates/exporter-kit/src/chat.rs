//! The OpenAI chat shape most vendor UIs render as a conversation (Langfuse's chat view, Braintrust's
//! Thread view), from the GenAI messages aitrace keeps. A wire format of those vendors, not part of
//! the span model.

use aitrace_core::export::json_text;
use aitrace_core::{messages_from_value, ChatMessage, KnownPart, Part};
use serde::Deserialize;
use serde_json::Value;

/// A span's input or output as OpenAI chat messages (see [`to_openai_messages`]), with the system
/// instructions (an array of GenAI parts), if any, as a leading system message. `None` when the value
/// is not a list of GenAI messages: the caller sends it as it is.
pub fn openai_chat(value: &Value, system: Option<&Value>) -> Option<Value> {
    let mut messages = messages_from_value(value)?;
    if let Some(parts) = system.and_then(|s| Vec::<Part>::deserialize(s).ok()) {
        messages.insert(0, ChatMessage::new("system", parts));
    }
    Some(to_openai_messages(&messages))
}

/// Converts messages to the OpenAI chat shape most vendor UIs render as a conversation (Langfuse's chat
/// view, Braintrust's Thread view): `{role, content}`, assistant `tool_calls` with JSON-string
/// `arguments`, and one `{role: "tool", tool_call_id, content}` message per tool result. Tool calls and
/// results are never dropped; reasoning goes to `reasoning`; other parts are kept under `parts`.
pub fn to_openai_messages(messages: &[ChatMessage]) -> Value {
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut tool_calls = Vec::new();
        let mut other = Vec::new();
        for part in &m.parts {
            match part {
                Part::Known(KnownPart::Text { content }) => text.push_str(content),
                Part::Known(KnownPart::Reasoning { content }) => reasoning.push_str(content),
                Part::Known(KnownPart::ToolCall {
                    id,
                    name,
                    arguments,
                }) => {
                    let args = match arguments {
                        Value::String(s) => s.clone(),
                        Value::Null => "{}".to_string(),
                        v => json_text(v),
                    };
                    tool_calls.push(serde_json::json!({
                        "id": id.clone().unwrap_or_default(),
                        "type": "function",
                        "function": {"name": name, "arguments": args},
                    }));
                }
                Part::Known(KnownPart::ToolCallResponse { id, response }) => {
                    let content = match response {
                        Value::String(s) => s.clone(),
                        v => json_text(v),
                    };
                    out.push(serde_json::json!({
                        "role": "tool",
                        "tool_call_id": id.clone().unwrap_or_default(),
                        "content": content,
                    }));
                }
                other_part => other.push(serde_json::to_value(other_part).unwrap_or(Value::Null)),
            }
        }
        let only_tool_results =
            m.role == "tool" && text.is_empty() && tool_calls.is_empty() && other.is_empty();
        if only_tool_results {
            continue;
        }
        let mut msg = serde_json::Map::new();
        msg.insert("role".into(), Value::from(m.role.clone()));
        msg.insert(
            "content".into(),
            if text.is_empty() && !tool_calls.is_empty() {
                Value::Null
            } else {
                Value::from(text)
            },
        );
        if let Some(name) = &m.name {
            msg.insert("name".into(), Value::from(name.clone()));
        }
        if !tool_calls.is_empty() {
            msg.insert("tool_calls".into(), Value::Array(tool_calls));
        }
        if !reasoning.is_empty() {
            msg.insert("reasoning".into(), Value::from(reasoning));
        }
        if !other.is_empty() {
            msg.insert("parts".into(), Value::Array(other));
        }
        out.push(Value::Object(msg));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_shape_keeps_tool_calls_and_results() {
        let msgs = vec![
            ChatMessage::system("be brief"),
            ChatMessage::user("Weather?"),
            ChatMessage::new(
                "assistant",
                vec![
                    Part::reasoning("need a tool"),
                    Part::tool_call("c1", "weather", json!({"city": "Paris"})),
                ],
            ),
            ChatMessage::new(
                "tool",
                vec![
                    Part::tool_result("c1", json!({"t": 14})),
                    Part::tool_result("c2", json!("ok")),
                ],
            ),
            ChatMessage::assistant("14°C").with_finish_reason("stop"),
        ];
        assert_eq!(
            to_openai_messages(&msgs),
            json!([
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": null, "reasoning": "need a tool",
                 "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "{\"t\":14}"},
                {"role": "tool", "tool_call_id": "c2", "content": "ok"},
                {"role": "assistant", "content": "14°C"}
            ])
        );
    }
}
