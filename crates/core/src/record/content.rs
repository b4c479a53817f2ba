//! The content of a span (messages, documents, tool arguments and results) and its metadata:
//! decoding JSON recorded as text, stripping content for a content policy, routing metadata
//! namespaces to one exporter, and the JSON text helpers exporters share.

use serde_json::{Map, Value};

use super::SpanRecord;

/// Bits of [`SpanRecord::pending_json`].
pub(crate) mod pending {
    pub(crate) const INPUT: u8 = 1;
    pub(crate) const OUTPUT: u8 = 2;
    pub(crate) const SYSTEM: u8 = 4;
    pub(crate) const TOOL_DEFINITIONS: u8 = 8;
    pub(crate) const TOOL_ARGUMENTS: u8 = 16;
    pub(crate) const TOOL_RESULT: u8 = 32;
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

/// Most namespaces remembered: exporter names are few, so this only bounds a misuse.
const MAX_NAMESPACES: usize = 256;

/// The metadata namespaces: the names of the exporters built in this process. A metadata key
/// `name.rest` goes only to the exporter called `name` (as `rest`); core knows no exporter by name, so
/// a third-party exporter owns its namespace the same way.
static NAMESPACES: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Makes `name` a metadata namespace (the builder registers every exporter it builds). A name
/// without `.` only; registering twice does nothing.
pub fn register_metadata_namespace(name: &str) {
    if name.is_empty() || name.contains('.') || is_metadata_namespace(name) {
        return;
    }
    if let Ok(mut names) = NAMESPACES.write() {
        if names.len() < MAX_NAMESPACES && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
}

/// Whether `name` is a registered metadata namespace.
pub fn is_metadata_namespace(name: &str) -> bool {
    NAMESPACES
        .read()
        .map(|names| names.iter().any(|n| n == name))
        .unwrap_or(false)
}

/// Metadata an exporter named `exporter` should send: keys of other exporters' namespaces are removed,
/// keys of its own namespace lose the prefix, everything else passes unchanged.
fn route_metadata(metadata: &Map<String, Value>, exporter: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in metadata {
        match k.split_once('.') {
            Some((ns, rest)) if ns == exporter => {
                out.insert(rest.to_string(), v.clone());
            }
            Some((ns, _)) if is_metadata_namespace(ns) => {}
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
                    *slot = Some(parse_recycling(s));
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

/// [`parse_json_or_string`], handing the text's buffer back to the application's threads once its
/// JSON is parsed (see `recycle`).
fn parse_recycling(s: String) -> Value {
    let t = s.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Value>(&s) {
            super::recycle::give_back(s);
            return v;
        }
    }
    Value::String(s)
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
        register_metadata_namespace("langfuse");
        register_metadata_namespace("braintrust");
        register_metadata_namespace("bad.name");
        assert!(!is_metadata_namespace("bad.name") && !is_metadata_namespace("customer"));
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
