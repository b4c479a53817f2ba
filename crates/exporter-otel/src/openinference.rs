//! The OpenInference dialect: the attributes Arize Phoenix and Arize read natively
//! (`openinference.span.kind`, `llm.*`, `input.value`, ...), added on top of the GenAI ones.
//!
//! Phoenix also derives these from `gen_ai.*` on ingest, but only guesses the span kind when no
//! operation name says it (a fallback attempt that names a model would become an `LLM` span). Setting
//! the kind explicitly keeps attempts, steps and workflows as `CHAIN`.

use aitrace_core::{messages_from_value, KnownPart, Part, SpanKind, SpanRecord};
use opentelemetry::{KeyValue, Value};
use serde_json::Value as Json;

use crate::mapping::{json_to_value, Dialect};

/// Adds OpenInference attributes. Content (input/output values and messages) follows
/// `capture_content` of the exporter it is added to.
#[derive(Debug, Clone)]
pub struct OpenInference {
    pub(crate) capture_content: bool,
}

impl Default for OpenInference {
    fn default() -> Self {
        OpenInference {
            capture_content: true,
        }
    }
}

impl OpenInference {
    /// With or without content (input/output values and messages).
    pub fn new(capture_content: bool) -> Self {
        OpenInference { capture_content }
    }
}

/// The `openinference.span.kind` of a record.
pub fn openinference_kind(r: &SpanRecord) -> &'static str {
    match r.kind {
        SpanKind::ModelGeneration | SpanKind::ImageGeneration => "LLM",
        SpanKind::Embedding => "EMBEDDING",
        SpanKind::ToolCall | SpanKind::McpToolCall => "TOOL",
        SpanKind::AgentRun => "AGENT",
        SpanKind::Retrieval | SpanKind::Memory => "RETRIEVER",
        SpanKind::Rerank => "RERANKER",
        SpanKind::Guardrail => "GUARDRAIL",
        _ => "CHAIN",
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into().into())
}

fn value_and_mime(v: &Json) -> (String, &'static str) {
    match v {
        Json::String(text) => (text.clone(), "text/plain"),
        other => (other.to_string(), "application/json"),
    }
}

fn flatten_messages(prefix: &str, messages: &Json, out: &mut Vec<KeyValue>) {
    let Some(messages) = messages_from_value(messages) else {
        return;
    };
    for (i, m) in messages.iter().enumerate() {
        let base = format!("{prefix}.{i}.message");
        out.push(KeyValue::new(format!("{base}.role"), m.role.clone()));
        let text = m.text();
        if !text.is_empty() {
            out.push(KeyValue::new(format!("{base}.content"), text));
        }
        let mut call = 0;
        for part in &m.parts {
            match part {
                Part::Known(KnownPart::ToolCall {
                    id,
                    name,
                    arguments,
                }) => {
                    let tc = format!("{base}.tool_calls.{call}.tool_call");
                    if let Some(id) = id {
                        out.push(KeyValue::new(format!("{tc}.id"), id.clone()));
                    }
                    out.push(KeyValue::new(format!("{tc}.function.name"), name.clone()));
                    out.push(KeyValue::new(
                        format!("{tc}.function.arguments"),
                        arguments.to_string(),
                    ));
                    call += 1;
                }
                Part::Known(KnownPart::ToolCallResponse { id, response }) => {
                    if let Some(id) = id {
                        out.push(KeyValue::new(format!("{base}.tool_call_id"), id.clone()));
                    }
                    let content = match response {
                        Json::String(t) => t.clone(),
                        other => other.to_string(),
                    };
                    out.push(KeyValue::new(format!("{base}.content"), content));
                }
                _ => {}
            }
        }
    }
}

impl Dialect for OpenInference {
    fn extend(&self, r: &SpanRecord, a: &mut Vec<KeyValue>) {
        a.push(KeyValue::new(
            "openinference.span.kind",
            openinference_kind(r),
        ));
        if let Some(model) = r.model() {
            let key = if r.kind == SpanKind::Embedding {
                "embedding.model_name"
            } else {
                "llm.model_name"
            };
            a.push(KeyValue::new(key, model.to_string()));
        }
        if let Some(p) = &r.provider {
            a.push(KeyValue::new("llm.provider", p.clone()));
            a.push(KeyValue::new(
                "llm.system",
                p.split('.').next().unwrap_or(p).to_string(),
            ));
        }
        if let Some(u) = r.billable_usage() {
            let counts = [
                ("llm.token_count.prompt", u.input_tokens),
                ("llm.token_count.completion", u.output_tokens),
                ("llm.token_count.total", u.total()),
                (
                    "llm.token_count.prompt_details.cache_read",
                    u.cache_read_input_tokens,
                ),
                (
                    "llm.token_count.prompt_details.cache_write",
                    u.cache_creation_input_tokens,
                ),
                (
                    "llm.token_count.completion_details.reasoning",
                    u.reasoning_tokens,
                ),
            ];
            for (k, v) in counts {
                if let Some(v) = v {
                    a.push(KeyValue::new(k, v as i64));
                }
            }
        }
        if !r.params.is_empty() {
            if let Ok(params) = serde_json::to_string(&r.params) {
                a.push(KeyValue::new("llm.invocation_parameters", params));
            }
        }
        if let Some(session) = &r.session_id {
            a.push(KeyValue::new("session.id", session.clone()));
        }
        if !r.tags.is_empty() {
            a.push(KeyValue::new(
                "tag.tags",
                json_to_value(&Json::from(r.tags.clone())),
            ));
        }
        let metadata = r.metadata_for("otel");
        if !metadata.is_empty() {
            a.push(KeyValue::new(
                "metadata",
                Json::Object(metadata).to_string(),
            ));
        }
        if let Some(tool) = &r.tool {
            if let Some(name) = &tool.name {
                a.push(KeyValue::new("tool.name", name.clone()));
            }
            if let Some(d) = &tool.description {
                a.push(KeyValue::new("tool.description", d.clone()));
            }
            if let Some(id) = &tool.call_id {
                a.push(KeyValue::new("tool.id", id.clone()));
            }
        }
        if !self.capture_content {
            return;
        }
        let tool_io = r
            .tool
            .as_ref()
            .map(|t| (t.arguments.as_ref(), t.result.as_ref()));
        let input = r.input.as_ref().or(tool_io.and_then(|t| t.0));
        let output = r.output.as_ref().or(tool_io.and_then(|t| t.1));
        for (key, v) in [("input", input), ("output", output)] {
            if let Some(v) = v {
                let (value, mime) = value_and_mime(v);
                a.push(KeyValue::new(format!("{key}.value"), s(value)));
                a.push(KeyValue::new(format!("{key}.mime_type"), mime));
            }
        }
        if r.kind == SpanKind::ModelGeneration {
            if let Some(v) = &r.input {
                flatten_messages("llm.input_messages", v, a);
            }
            if let Some(v) = &r.output {
                flatten_messages("llm.output_messages", v, a);
            }
        }
    }
}
