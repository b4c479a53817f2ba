//! Chat messages in the OTel GenAI shape: `{role, parts:[{type, ...}], name?, finish_reason?}`.
//!
//! Span input/output hold these as JSON so every backend gets real messages (Langfuse and Braintrust
//! thread views, Phoenix message lists) instead of opaque JSON blobs. Parts the conventions don't name
//! are kept as they are ([`Part::Other`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool` (other strings allowed).
    pub role: String,
    #[serde(default)]
    /// The content, in order.
    pub parts: Vec<Part>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The participant's name, when the provider takes one.
    pub name: Option<String>,
    /// On output messages: `stop`, `length`, `content_filter`, `tool_call`, `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// A part of a message. Serialized with a `type` discriminator, as in the GenAI conventions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Part {
    /// A part of a type the conventions define.
    Known(KnownPart),
    /// Any other part, kept verbatim (it must still be a JSON object).
    Other(Map<String, Value>),
}

/// The part types the GenAI conventions define.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KnownPart {
    /// Text content.
    Text {
        /// The text.
        content: String,
    },
    /// A tool call requested by the model.
    ToolCall {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// The call's id, which its result refers to.
        id: Option<String>,
        /// The tool called.
        name: String,
        #[serde(default, skip_serializing_if = "Value::is_null")]
        /// The arguments, as JSON.
        arguments: Value,
    },
    /// The result of a tool call, sent back to the model.
    ToolCallResponse {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// The id of the call answered.
        id: Option<String>,
        /// What the tool returned.
        response: Value,
    },
    /// Reasoning / thinking content.
    Reasoning {
        /// The reasoning text.
        content: String,
    },
    /// Inline binary data (base64).
    Blob {
        /// `image`, `audio`, `video`, ...
        modality: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// The MIME type, when known.
        mime_type: Option<String>,
        /// The data, base64.
        content: String,
    },
    /// Data by reference.
    Uri {
        /// `image`, `audio`, `video`, ...
        modality: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// The MIME type, when known.
        mime_type: Option<String>,
        /// Where the data is.
        uri: String,
    },
    /// A file uploaded to the provider.
    File {
        /// `image`, `audio`, `video`, ...
        modality: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// The MIME type, when known.
        mime_type: Option<String>,
        /// The provider's id of the file.
        file_id: String,
    },
    /// A tool the provider ran on its side (web search, code interpreter), as the model called it.
    ServerToolCall {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// The call's id, which its response refers to.
        id: Option<String>,
        /// The server tool's name.
        name: String,
        /// The call's details, with their own `type` (the provider's tool type).
        server_tool_call: Value,
    },
    /// What a server tool returned.
    ServerToolCallResponse {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// The id of the call answered.
        id: Option<String>,
        /// The response's details, with their own `type`.
        server_tool_call_response: Value,
    },
}

impl Part {
    /// A text part.
    pub fn text(content: impl Into<String>) -> Self {
        Part::Known(KnownPart::Text {
            content: content.into(),
        })
    }
    /// A tool-call part.
    pub fn tool_call(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        Part::Known(KnownPart::ToolCall {
            id: Some(id.into()),
            name: name.into(),
            arguments,
        })
    }
    /// A tool-result part.
    pub fn tool_result(id: impl Into<String>, response: Value) -> Self {
        Part::Known(KnownPart::ToolCallResponse {
            id: Some(id.into()),
            response,
        })
    }
    /// A reasoning part.
    pub fn reasoning(content: impl Into<String>) -> Self {
        Part::Known(KnownPart::Reasoning {
            content: content.into(),
        })
    }
    /// The text of a text or reasoning part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Part::Known(KnownPart::Text { content } | KnownPart::Reasoning { content }) => {
                Some(content)
            }
            _ => None,
        }
    }
}

impl ChatMessage {
    /// A message with the given role and parts.
    pub fn new(role: impl Into<String>, parts: Vec<Part>) -> Self {
        ChatMessage {
            role: role.into(),
            parts,
            name: None,
            finish_reason: None,
        }
    }
    /// A system message with one text part.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new("system", vec![Part::text(text)])
    }
    /// A user message with one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new("user", vec![Part::text(text)])
    }
    /// An assistant message with one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new("assistant", vec![Part::text(text)])
    }
    /// A tool message carrying the result of call `id`.
    pub fn tool_result(id: impl Into<String>, response: Value) -> Self {
        Self::new("tool", vec![Part::tool_result(id, response)])
    }
    /// Adds a part.
    pub fn with_part(mut self, part: Part) -> Self {
        self.parts.push(part);
        self
    }
    /// Sets the finish reason (output messages).
    pub fn with_finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }
    /// The concatenated text parts.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Known(KnownPart::Text { content }) => Some(content.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("")
    }
}

/// Serializes messages to the JSON array stored in a span's input/output.
pub fn messages_to_value(messages: &[ChatMessage]) -> Value {
    serde_json::to_value(messages).unwrap_or(Value::Null)
}

/// Reads a span input/output back as chat messages, when it is an array of GenAI messages.
pub fn messages_from_value(value: &Value) -> Option<Vec<ChatMessage>> {
    match value {
        Value::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|m| m.get("role").is_some() && m.get("parts").is_some()) =>
        {
            // From the borrowed value: no copy of the whole tree first.
            Vec::<ChatMessage>::deserialize(value).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conventions_example_round_trips() {
        let v = json!([
            {"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]},
            {"role":"assistant","parts":[{"type":"tool_call","id":"call_1","name":"get_weather","arguments":{"location":"Paris"}}]},
            {"role":"tool","parts":[{"type":"tool_call_response","id":"call_1","response":"rainy, 57°F"}]},
            {"role":"assistant","parts":[{"type":"custom_widget","x":1}],"finish_reason":"stop"}
        ]);
        let msgs = messages_from_value(&v).expect("messages");
        assert_eq!(msgs.len(), 4);
        assert!(
            matches!(&msgs[1].parts[0], Part::Known(KnownPart::ToolCall { name, .. }) if name == "get_weather")
        );
        assert!(matches!(&msgs[3].parts[0], Part::Other(m) if m["type"] == "custom_widget"));
        assert_eq!(messages_to_value(&msgs), v);
    }

    #[test]
    fn builders_produce_convention_shape() {
        let m = ChatMessage::assistant("hi")
            .with_part(Part::tool_call("c1", "search", json!({"q":"x"})))
            .with_finish_reason("tool_call");
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"role":"assistant","parts":[{"type":"text","content":"hi"},
                {"type":"tool_call","id":"c1","name":"search","arguments":{"q":"x"}}],"finish_reason":"tool_call"})
        );
        assert_eq!(m.text(), "hi");
        assert!(messages_from_value(&json!({"a":1})).is_none());
        assert!(messages_from_value(&json!([{"content":"x"}])).is_none());
    }
}
