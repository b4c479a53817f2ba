//! Pure mapping: [`SpanRecord`] → OpenTelemetry [`SpanData`] in the GenAI semantic conventions.
//!
//! No I/O here, so every rule is unit-tested. Vendor dialects (OpenInference, Langfuse) add attributes
//! on top through [`Dialect`]; the GenAI mapping itself never depends on a vendor.

use std::borrow::Cow;

use aitrace_core::export::{json_text, text_or_json};
use aitrace_core::{messages_from_value, SpanKind as Kind, SpanRecord, Status as AiStatus};
use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use serde_json::Value as Json;

use crate::conform;
use crate::semconv::{SemconvMode, KNOWN_PART_TYPES};

/// Adds vendor-specific attributes to a converted span (e.g. OpenInference for Phoenix, the Langfuse
/// observation type). Runs after the GenAI mapping, on the worker thread.
pub trait Dialect: Send + Sync + 'static {
    /// Appends attributes for `record` to `attributes` (which already hold the GenAI ones).
    fn extend(&self, record: &SpanRecord, attributes: &mut Vec<KeyValue>);
}

/// What the mapping includes.
#[derive(Debug, Clone)]
pub struct MappingOptions {
    /// Send message contents, tool arguments/results and retrieval documents (default true). The
    /// conventions make content opt-in for instrumentations; aitrace records it only when you set it,
    /// so it is on here and this switch turns it off for an exporter.
    pub capture_content: bool,
    /// Use the `chat {model}`-style names of the conventions (default true); the span's own name is
    /// kept in `aitrace.span.name`. When false the span's own name is used.
    pub semconv_span_names: bool,
    /// Current names only, or the previous ones as well where a name changed (default
    /// [`SemconvMode::Transition`]; the exporter's builder reads `OTEL_SEMCONV_STABILITY_OPT_IN`).
    pub semconv: SemconvMode,
}

impl Default for MappingOptions {
    fn default() -> Self {
        MappingOptions {
            capture_content: true,
            semconv_span_names: true,
            semconv: SemconvMode::Transition,
        }
    }
}

/// Attribute names that are deprecated in the conventions and never written.
pub const DEPRECATED_ATTRIBUTES: &[&str] = &[
    "gen_ai.system",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
];

/// The instrumentation scope of every span aitrace exports.
pub fn scope() -> InstrumentationScope {
    static SCOPE: std::sync::OnceLock<InstrumentationScope> = std::sync::OnceLock::new();
    SCOPE
        .get_or_init(|| {
            InstrumentationScope::builder("aitrace")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build()
        })
        .clone()
}

/// The `gen_ai.operation.name` of a record: as recorded, else the kind's default.
pub fn operation_name(r: &SpanRecord) -> Option<&str> {
    r.operation_name()
}

/// The span name the conventions ask for ([`SpanRecord::display_name`]).
pub fn span_name(r: &SpanRecord) -> String {
    r.display_name()
}

/// The span kind the instrumentation named with `otel.kind` (as tracing-opentelemetry reads it), else
/// CLIENT for calls to a model or store, INTERNAL for in-process work (agents, tools, workflows).
pub fn span_kind(r: &SpanRecord) -> SpanKind {
    let named = r.attributes.get("otel.kind").and_then(Json::as_str);
    match named.map(str::to_ascii_lowercase).as_deref() {
        Some("client") => return SpanKind::Client,
        Some("server") => return SpanKind::Server,
        Some("producer") => return SpanKind::Producer,
        Some("consumer") => return SpanKind::Consumer,
        Some("internal") => return SpanKind::Internal,
        _ => {}
    }
    match r.kind {
        Kind::ModelGeneration
        | Kind::Embedding
        | Kind::Retrieval
        | Kind::Rerank
        | Kind::SpeechToText
        | Kind::TextToSpeech
        | Kind::ImageGeneration
        | Kind::Memory
        | Kind::FallbackAttempt => SpanKind::Client,
        _ => SpanKind::Internal,
    }
}

/// A JSON value as the closest OTel attribute value: scalars as themselves, arrays of strings as
/// string arrays, everything else as a JSON string.
pub fn json_to_value(v: &Json) -> Value {
    match v {
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::I64(i),
            (None, Some(f)) => Value::F64(f),
            _ => Value::String(n.to_string().into()),
        },
        Json::String(s) => Value::String(s.clone().into()),
        Json::Array(items) if !items.is_empty() && items.iter().all(Json::is_string) => {
            Value::Array(Array::String(
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .map(|s| StringValue::from(s.to_string()))
                    .collect(),
            ))
        }
        other => Value::String(json_text(other).into()),
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(Array::String(
        items.iter().map(|s| StringValue::from(s.clone())).collect(),
    ))
}

/// Input as GenAI messages: messages as they are; for generations and agents, plain text becomes one
/// message (so Thread views have something to show); anything else is not a message list.
fn as_messages(v: &Json, r: &SpanRecord, role: &str) -> Option<Json> {
    if messages_from_value(v).is_some() {
        return Some(v.clone());
    }
    match (v, r.kind) {
        (Json::String(text), Kind::ModelGeneration | Kind::AgentRun) => Some(Json::Array(vec![
            serde_json::json!({"role": role, "parts": [{"type": "text", "content": text}]}),
        ])),
        _ => None,
    }
}

/// Output messages as the mode wants them. The per-message `finish_reason` is deprecated for
/// `gen_ai.response.finish_reasons`: the latest mode leaves it out; transition mode keeps it and fills
/// it in (the v1.41 schema requires it) from the record's finish reasons, else `stop`.
fn output_messages(mut messages: Json, r: &SpanRecord, mode: SemconvMode) -> Json {
    if let Json::Array(items) = &mut messages {
        for (i, m) in items.iter_mut().enumerate() {
            let Json::Object(m) = m else { continue };
            if mode.writes_previous_names() {
                if !m.get("finish_reason").is_some_and(Json::is_string) {
                    let reason = r
                        .finish_reasons
                        .get(i)
                        .or(r.finish_reasons.first())
                        .map_or("stop", String::as_str);
                    m.insert("finish_reason".into(), Json::from(reason));
                }
            } else {
                m.remove("finish_reason");
            }
        }
    }
    messages
}

/// The finish reasons: as recorded, else those of the output messages.
fn finish_reasons(r: &SpanRecord) -> Vec<String> {
    if !r.finish_reasons.is_empty() {
        return r.finish_reasons.clone();
    }
    let Some(Json::Array(items)) = &r.output else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|m| m.get("finish_reason").and_then(Json::as_str))
        .map(str::to_string)
        .collect()
}

/// The parts `gen_ai.system_instructions` may hold: text parts, and parts of a type the conventions
/// don't define (generic parts). A bare string is one text part.
fn is_instruction_part(part: &Json) -> bool {
    match part.get("type").and_then(Json::as_str) {
        Some("text") => part.get("content").is_some_and(Json::is_string),
        Some(other) => !KNOWN_PART_TYPES.contains(&other),
        None => false,
    }
}

/// Splits system instructions into what `gen_ai.system_instructions` may hold (text parts only,
/// since v0.1.0) and the rest, which belongs in the chat history as a leading `system` message. A
/// bare string (or number) is a text part; nulls are nothing.
fn split_instructions(v: &Json) -> (Vec<Json>, Vec<Json>) {
    let parts = match v {
        Json::String(text) => vec![serde_json::json!({"type": "text", "content": text})],
        Json::Array(items) => items
            .iter()
            .filter_map(|p| match p {
                Json::Null => None,
                Json::Object(_) => Some(p.clone()),
                other => Some(serde_json::json!({"type": "text", "content": text_or_json(other)})),
            })
            .collect(),
        Json::Null => Vec::new(),
        other => vec![serde_json::json!({"type": "text", "content": text_or_json(other)})],
    };
    parts.into_iter().partition(is_instruction_part)
}

/// Content-bearing attributes a span may carry as plain fields: left out with `capture_content(false)`.
const CONTENT_ATTRIBUTES: &[&str] = &[
    "gen_ai.retrieval.query.text",
    "gen_ai.retrieval.documents",
    "gen_ai.memory.query.text",
    "gen_ai.memory.records",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
];

/// An internal `invoke_agent` span: the conventions keep provider, agent id/version and cache
/// counts off it (they belong on the client span of a remote agent and on the model calls).
fn is_internal_agent(r: &SpanRecord) -> bool {
    r.kind == Kind::AgentRun && span_kind(r) == SpanKind::Internal
}

/// `top_k` as the conventions type it now (an int) when it is a whole number.
fn top_k_value(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < i64::MAX as f64 {
        Value::I64(v as i64)
    } else {
        Value::F64(v)
    }
}

/// The GenAI attributes of a record.
pub fn attributes(r: &SpanRecord, options: &MappingOptions) -> Vec<KeyValue> {
    let mode = options.semconv;
    let previous = mode.writes_previous_names();
    let internal_agent = is_internal_agent(r);
    let mut a: Vec<KeyValue> = Vec::with_capacity(24 + r.attributes.len());
    let mut put = |k: &'static str, v: Value| a.push(KeyValue::new(k, v));
    if let Some(op) = operation_name(r) {
        put(
            "gen_ai.operation.name",
            Value::String(op.to_string().into()),
        );
    }
    if let Some(p) = r.provider.as_ref().filter(|_| previous || !internal_agent) {
        put("gen_ai.provider.name", Value::String(p.clone().into()));
    }
    if let Some(m) = &r.request_model {
        put("gen_ai.request.model", Value::String(m.clone().into()));
    }
    if let Some(m) = &r.response_model {
        put("gen_ai.response.model", Value::String(m.clone().into()));
    }
    if let Some(id) = &r.response_id {
        put("gen_ai.response.id", Value::String(id.clone().into()));
    }
    let reasons = finish_reasons(r);
    if !reasons.is_empty() {
        put("gen_ai.response.finish_reasons", strings(&reasons));
    }
    if let Some(t) = r.time_to_first_token_s {
        put("gen_ai.response.time_to_first_chunk", Value::F64(t));
    }
    let p = &r.params;
    if let Some(v) = p.temperature {
        put("gen_ai.request.temperature", Value::F64(v));
    }
    if let Some(v) = p.max_tokens {
        put("gen_ai.request.max_tokens", Value::I64(v as i64));
    }
    if let Some(v) = p.top_p {
        put("gen_ai.request.top_p", Value::F64(v));
    }
    if let Some(v) = p.top_k {
        // A retrieval's top_k is `gen_ai.retrieval.top_k` since v0.1.0.
        if r.kind == Kind::Retrieval {
            put("gen_ai.retrieval.top_k", Value::I64(v.round() as i64));
        }
        if r.kind != Kind::Retrieval || previous {
            put("gen_ai.request.top_k", top_k_value(v));
        }
    }
    if let Some(v) = p.frequency_penalty {
        put("gen_ai.request.frequency_penalty", Value::F64(v));
    }
    if let Some(v) = p.presence_penalty {
        put("gen_ai.request.presence_penalty", Value::F64(v));
    }
    if !p.stop_sequences.is_empty() {
        put("gen_ai.request.stop_sequences", strings(&p.stop_sequences));
    }
    if let Some(v) = p.seed {
        put("gen_ai.request.seed", Value::I64(v));
    }
    if let Some(v) = p.choice_count.filter(|c| *c != 1) {
        put("gen_ai.request.choice.count", Value::I64(v as i64));
    }
    if let Some(v) = p.stream {
        put("gen_ai.request.stream", Value::Bool(v));
    }
    // Usage only where it is billed: backends sum these over spans. Where both cache names are
    // written they hold the same count of one call, never a second one.
    if let Some(u) = r.billable_usage() {
        let cache = previous || !internal_agent;
        let counts = [
            ("gen_ai.usage.input_tokens", u.input_tokens, true),
            ("gen_ai.usage.output_tokens", u.output_tokens, true),
            (
                "gen_ai.usage.cache_read.input_tokens",
                u.cache_read_input_tokens,
                cache,
            ),
            (
                "gen_ai.usage.cache_write.input_tokens",
                u.cache_creation_input_tokens,
                cache,
            ),
            (
                "gen_ai.usage.cache_creation.input_tokens",
                u.cache_creation_input_tokens,
                cache && previous,
            ),
            (
                "gen_ai.usage.reasoning.output_tokens",
                u.reasoning_tokens,
                true,
            ),
            (
                "gen_ai.usage.audio.input_tokens",
                u.input_audio_tokens,
                true,
            ),
            (
                "gen_ai.usage.audio.output_tokens",
                u.output_audio_tokens,
                true,
            ),
            ("gen_ai.usage.text.input_tokens", u.input_text_tokens, true),
            (
                "gen_ai.usage.image.input_tokens",
                u.input_image_tokens,
                true,
            ),
            (
                "gen_ai.usage.text.output_tokens",
                u.output_text_tokens,
                true,
            ),
            // Not convention names (the registry has no image output count; Gemini's tool-use
            // prompt count is its own): in aitrace's namespace.
            (
                "aitrace.usage.image.output_tokens",
                u.output_image_tokens,
                true,
            ),
            (
                "aitrace.usage.tool_use_prompt_tokens",
                u.tool_use_prompt_tokens,
                true,
            ),
        ];
        for (k, v, written) in counts {
            if let (Some(v), true) = (v, written) {
                put(k, Value::I64(v as i64));
            }
        }
    }
    if let Some(s) = &r.session_id {
        put("gen_ai.conversation.id", Value::String(s.clone().into()));
    }
    if let Some(agent) = &r.agent {
        let identity = previous || !internal_agent;
        for (k, v, written) in [
            ("gen_ai.agent.id", &agent.id, identity),
            ("gen_ai.agent.name", &agent.name, true),
            ("gen_ai.agent.description", &agent.description, true),
            ("gen_ai.agent.version", &agent.version, identity),
        ] {
            if let (Some(v), true) = (v, written) {
                put(k, Value::String(v.clone().into()));
            }
        }
    }
    if let Some(tool) = &r.tool {
        for (k, v) in [
            ("gen_ai.tool.name", &tool.name),
            ("gen_ai.tool.call.id", &tool.call_id),
            ("gen_ai.tool.type", &tool.tool_type),
            ("gen_ai.tool.description", &tool.description),
        ] {
            if let Some(v) = v {
                put(k, Value::String(v.clone().into()));
            }
        }
        if options.capture_content {
            if let Some(v) = &tool.arguments {
                put(
                    "gen_ai.tool.call.arguments",
                    Value::String(json_text(&conform::tool_object(v)).into()),
                );
            }
            if let Some(v) = &tool.result {
                put(
                    "gen_ai.tool.call.result",
                    Value::String(json_text(&conform::tool_object(v)).into()),
                );
            }
        }
    }
    if options.capture_content {
        let (instructions, moved) = r
            .system_instructions
            .as_ref()
            .map(split_instructions)
            .unwrap_or_default();
        let mut input = r.input.as_ref().and_then(|v| as_messages(v, r, "user"));
        if !moved.is_empty() {
            // Parts system instructions may no longer hold go first in the chat history.
            let system = serde_json::json!({"role": "system", "parts": moved});
            match &mut input {
                Some(Json::Array(messages)) => messages.insert(0, system),
                _ if r.input.is_none() => input = Some(Json::Array(vec![system])),
                _ => {}
            }
        }
        if let Some(m) = &mut input {
            conform::message_parts(m);
        }
        match (&input, &r.input) {
            (Some(m), _) => put("gen_ai.input.messages", Value::String(json_text(m).into())),
            (None, Some(Json::String(q))) if r.kind == Kind::Retrieval => {
                if !r.attributes.contains_key("gen_ai.retrieval.query.text") {
                    put(
                        "gen_ai.retrieval.query.text",
                        Value::String(q.clone().into()),
                    );
                }
            }
            (None, Some(other)) => put("aitrace.input", Value::String(text_or_json(other).into())),
            (None, None) => {}
        }
        if let Some(output) = &r.output {
            match (as_messages(output, r, "assistant"), r.kind) {
                (Some(mut m), _) => {
                    conform::message_parts(&mut m);
                    put(
                        "gen_ai.output.messages",
                        Value::String(json_text(&output_messages(m, r, mode)).into()),
                    )
                }
                (None, Kind::Retrieval) => put(
                    "gen_ai.retrieval.documents",
                    Value::String(json_text(&conform::retrieval_documents(output)).into()),
                ),
                (None, _) => put("aitrace.output", Value::String(text_or_json(output).into())),
            }
        }
        if !instructions.is_empty() {
            put(
                "gen_ai.system_instructions",
                Value::String(json_text(&Json::Array(instructions)).into()),
            );
        }
        if let Some(v) = &r.tool_definitions {
            put(
                "gen_ai.tool.definitions",
                Value::String(json_text(v).into()),
            );
        }
    }
    if r.kind == Kind::Embedding {
        if let Some(input) = &r.input {
            let count = input.as_array().map_or(1, Vec::len);
            put("aitrace.embeddings.input_count", Value::I64(count as i64));
        }
    }
    if let Some(t) = r.status.error_type_or_other() {
        put("error.type", Value::String(t.to_string().into()));
    }
    put("aitrace.span.kind", Value::String(r.kind.as_str().into()));
    put("aitrace.billable", Value::Bool(r.billable));
    if options.semconv_span_names {
        put("aitrace.span.name", Value::String(r.name.clone().into()));
    }
    if let Some(attempt) = r.attempt {
        put("aitrace.fallback.attempt", Value::I64(attempt.into()));
    }
    if let Some(u) = &r.user_id {
        put("user.id", Value::String(u.clone().into()));
    }
    if !r.tags.is_empty() {
        put("aitrace.tags", strings(&r.tags));
    }
    if let Some(cost) = r.cost.as_ref().filter(|_| r.billable) {
        if let Some(total) = cost.total() {
            put("aitrace.cost.total", Value::F64(total));
            put(
                "aitrace.cost.currency",
                Value::String(cost.currency.clone().into()),
            );
        }
    }
    for (k, v) in r.metadata_for("otel") {
        a.push(KeyValue::new(
            format!("aitrace.metadata.{k}"),
            json_to_value(&v),
        ));
    }
    for (k, v) in &r.attributes {
        let key = k.as_str();
        if DEPRECATED_ATTRIBUTES.contains(&key)
            || key.starts_with("otel.")
            || (!options.capture_content && CONTENT_ATTRIBUTES.contains(&key))
        {
            continue;
        }
        a.push(KeyValue::new(k.clone(), json_to_value(v)));
    }
    a
}

/// The `gen_ai.client.operation.exception` event the conventions ask for on a failed model or
/// embeddings call: the error's type and message.
fn exception_event(r: &SpanRecord) -> Option<Event> {
    let (AiStatus::Error { message, .. }, Some(error_type)) =
        (&r.status, r.status.error_type_or_other())
    else {
        return None;
    };
    if span_kind(r) != SpanKind::Client {
        return None;
    }
    let mut attrs = Vec::with_capacity(2);
    attrs.push(KeyValue::new("exception.type", error_type.to_string()));
    if !message.is_empty() {
        attrs.push(KeyValue::new("exception.message", message.clone()));
    }
    Some(Event::new(
        "gen_ai.client.operation.exception",
        r.end_time(),
        attrs,
        0,
    ))
}

/// Converts one record, with `dialects` adding their attributes.
pub fn to_span_data(
    r: &SpanRecord,
    options: &MappingOptions,
    dialects: &[Box<dyn Dialect>],
) -> SpanData {
    let mut attributes = attributes(r, options);
    for d in dialects {
        d.extend(r, &mut attributes);
    }
    let mut span = span_data_with(r, options, attributes);
    if let Some(event) = exception_event(r) {
        span.events.events.push(event);
    }
    span
}

/// The span of one record (ids, name, times, status, events) with exactly these attributes: for a
/// backend that reads its own dialect and nothing else (Langfuse copies every attribute it does not
/// consume into the observation's metadata).
pub fn span_data_with(
    r: &SpanRecord,
    options: &MappingOptions,
    attributes: Vec<KeyValue>,
) -> SpanData {
    let status = match &r.status {
        AiStatus::Unset => Status::Unset,
        AiStatus::Ok => Status::Ok,
        AiStatus::Error {
            message,
            error_type,
        } => Status::error(if message.is_empty() {
            error_type.clone().unwrap_or_default()
        } else {
            message.clone()
        }),
    };
    let mut events = SpanEvents::default();
    events.dropped_count = r.dropped_events;
    events.events = r
        .events
        .iter()
        .map(|e| {
            let mut attrs = vec![KeyValue::new("level", e.level.clone())];
            if !e.target.is_empty() {
                attrs.push(KeyValue::new("target", e.target.clone()));
            }
            attrs.extend(
                e.attributes
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), json_to_value(v))),
            );
            Event::new(
                e.name.clone(),
                std::time::UNIX_EPOCH + std::time::Duration::from_nanos(e.time_unix_nano),
                attrs,
                0,
            )
        })
        .collect();
    // Scores recorded on the span: the conventions' evaluation event each.
    events.events.extend(
        r.scores
            .iter()
            .map(|s| crate::scores::evaluation_event(s, r.response_id.as_deref())),
    );
    let mut links = SpanLinks::default();
    links.links = r
        .links
        .iter()
        .filter_map(|l| {
            let span = l.span_id?;
            Some(opentelemetry::trace::Link::new(
                SpanContext::new(
                    TraceId::from_bytes(l.trace_id.to_bytes()),
                    SpanId::from_bytes(span.to_bytes()),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                ),
                Vec::new(),
                0,
            ))
        })
        .collect();
    let name: Cow<'static, str> = if options.semconv_span_names {
        span_name(r).into()
    } else {
        r.name.clone().into()
    };
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(r.trace_id.to_bytes()),
            SpanId::from_bytes(r.span_id.to_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: r
            .parent_span_id
            .map_or(SpanId::INVALID, |p| SpanId::from_bytes(p.to_bytes())),
        parent_span_is_remote: r.parent_is_remote,
        span_kind: span_kind(r),
        name,
        start_time: r.start_time(),
        end_time: r.end_time(),
        attributes,
        dropped_attributes_count: 0,
        events,
        links,
        status,
        instrumentation_scope: scope(),
    }
}
