//! The content of a span (messages, documents, tool arguments and results) and its metadata:
//! decoding JSON recorded as text, stripping content for a content policy, routing metadata
//! namespaces to one exporter, and the JSON text helpers exporters share.

use serde_json::{Map, Value};

use super::SpanRecord;

/// Bits of [`SpanRecord::pending_json`].
pub(crate) mod pending {
    pub const INPUT: u8 = 1;
    pub const OUTPUT: u8 = 2;
    pub const SYSTEM: u8 = 4;
    pub const TOOL_DEFINITIONS: u8 = 8;
    pub const TOOL_ARGUMENTS: u8 = 16;
    pub const TOOL_RESULT: u8 = 32;
}

/// Attributes that hold input content, removed with it by [`SpanRecord::strip_input`].
const CONTENT_INPUT_ATTRIBUTES: &[&str] = &[
    "gen_ai.retrieval.query.text",
    "gen_ai.memory.query.text",
    "gen_ai.prompt",
    "input.value",
];
/// Attributes that hold output content, removed with it by [`SpanRecord::strip_output`].
const CONTENT_OUTPUT_ATTRIBUTES: &[&str] = &[
    "gen_ai.retrieval.documents",
    "gen_ai.memory.records",
    "gen_ai.completion",
    "output.value",
];

/// Exporter names that own a metadata namespace. A metadata key starting with one of these followed by
/// `.` is routed only to that exporter.
pub const EXPORTER_NAMESPACES: &[&str] = &["langfuse", "braintrust", "otel", "console", "jsonl"];

/// Metadata an exporter named `exporter` should send: keys of other exporters' namespaces are removed,
/// keys of its own namespace lose the prefix, everything else passes unchanged.
fn route_metadata(metadata: &Map<String, Value>, exporter: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in metadata {
        match k.split_once('.') {
            Some((ns, rest)) if ns == exporter => {
                out.insert(rest.to_string(), v.clone());
            }
            Some((ns, _)) if EXPORTER_NAMESPACES.contains(&ns) => {}
            _ => {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    out
}

impl SpanRecord {
    /// Parses content that was recorded as JSON text (`gen_ai.input.messages = "[...]"`) into JSON.
    /// The pipeline calls this off the application's thread, before the first processor that reads
    /// content and before exporters; calling it again does nothing.
    pub fn decode_content(&mut self) {
        if self.pending_json == 0 {
            return;
        }
        let bits = std::mem::take(&mut self.pending_json);
        let decode = |bit: u8, slot: &mut Option<Value>| {
            if bits & bit != 0 {
                if let Some(Value::String(s)) = slot.take() {
                    *slot = Some(parse_json_or_string(s));
                }
            }
        };
        decode(pending::INPUT, &mut self.input);
        decode(pending::OUTPUT, &mut self.output);
        decode(pending::SYSTEM, &mut self.system_instructions);
        decode(pending::TOOL_DEFINITIONS, &mut self.tool_definitions);
        if let Some(tool) = &mut self.tool {
            decode(pending::TOOL_ARGUMENTS, &mut tool.arguments);
            decode(pending::TOOL_RESULT, &mut tool.result);
        }
    }

    /// Removes the content of the span, what a content policy keeps out of traces: input and output
    /// (messages, documents, embeddings inputs), system instructions, tool definitions, tool
    /// arguments and results, and the retrieval query. Usage, model, timing, tool names, status and
    /// errors stay. Returns whether anything was removed.
    pub fn strip_content(&mut self) -> bool {
        self.strip_input() | self.strip_output()
    }

    /// The input half of [`strip_content`](Self::strip_content).
    pub fn strip_input(&mut self) -> bool {
        let mut removed = self.input.take().is_some();
        removed |= self.system_instructions.take().is_some();
        removed |= self.tool_definitions.take().is_some();
        if let Some(tool) = &mut self.tool {
            removed |= tool.arguments.take().is_some();
        }
        for key in CONTENT_INPUT_ATTRIBUTES {
            removed |= self.attributes.remove(*key).is_some();
        }
        self.pending_json &= !(pending::INPUT
            | pending::SYSTEM
            | pending::TOOL_DEFINITIONS
            | pending::TOOL_ARGUMENTS);
        removed
    }

    /// The output half of [`strip_content`](Self::strip_content).
    pub fn strip_output(&mut self) -> bool {
        let mut removed = self.output.take().is_some();
        if let Some(tool) = &mut self.tool {
            removed |= tool.result.take().is_some();
        }
        for key in CONTENT_OUTPUT_ATTRIBUTES {
            removed |= self.attributes.remove(*key).is_some();
        }
        self.pending_json &= !(pending::OUTPUT | pending::TOOL_RESULT);
        removed
    }

    /// The metadata an exporter named `exporter` should send: keys of other exporters' namespaces are
    /// removed, keys of its own namespace lose the prefix (`langfuse.promptName` → `promptName` for
    /// `langfuse`), everything else passes unchanged.
    pub fn metadata_for(&self, exporter: &str) -> Map<String, Value> {
        route_metadata(&self.metadata, exporter)
    }

    /// [`trace_metadata`](Self::trace_metadata) routed like [`metadata_for`](Self::metadata_for).
    pub fn trace_metadata_for(&self, exporter: &str) -> Map<String, Value> {
        route_metadata(&self.trace_metadata, exporter)
    }
}

/// Parses strings that look like JSON objects or arrays; other strings stay strings.
pub fn parse_json_or_string(s: String) -> Value {
    let t = s.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Value>(&s) {
            return v;
        }
    }
    Value::String(s)
}

/// A value's JSON text, written straight into one buffer. `Value`'s `Display` (`to_string()`) goes
/// through the formatter a token at a time and costs several times more; exporters write content as
/// JSON text on every span.
pub fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A string as itself, any other value as its [`json_text`]: how a content value becomes one
/// attribute string.
pub fn text_or_json(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => json_text(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SpanKind;

    #[test]
    fn metadata_namespaces_route_to_one_exporter() {
        let mut r = SpanRecord::new("x", SpanKind::Generic);
        r.metadata.insert("langfuse.promptName".into(), "p".into());
        r.metadata
            .insert("braintrust.experiment".into(), "e".into());
        r.metadata.insert("customer".into(), "acme".into());
        r.metadata.insert("a.b".into(), 1.into());
        let lf = r.metadata_for("langfuse");
        assert_eq!(lf.get("promptName"), Some(&Value::from("p")));
        assert!(!lf.contains_key("braintrust.experiment") && !lf.contains_key("experiment"));
        assert_eq!(lf.get("customer"), Some(&Value::from("acme")));
        assert_eq!(lf.get("a.b"), Some(&Value::from(1)));
        assert!(!r.metadata_for("otel").contains_key("promptName"));
    }
}
