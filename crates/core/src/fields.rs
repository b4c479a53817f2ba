//! Field names the layer understands, and the visitor that files `tracing` values into a
//! [`SpanRecord`].
//!
//! Names follow the OTel GenAI conventions (`gen_ai.*`); `aitrace.*` covers what the conventions
//! lack. Deprecated names still *read* (`gen_ai.system`, `gen_ai.prompt`, `gen_ai.usage.prompt_tokens`)
//! so old instrumentation works, but exporters only ever *write* the current ones. Any other field lands
//! in [`SpanRecord::attributes`]; a field `metadata.<key>` lands in [`SpanRecord::metadata`].

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;
use tracing_core::field::{Field, Visit};

use crate::provider::normalize_provider;
use crate::record::{pending, SpanKind, SpanRecord, Status};

/// The kind of span (`generation`, `agent`, `tool`, ... see [`SpanKind::parse`]). Declaring it makes a
/// callsite an AI span.
pub const KIND: &str = "aitrace.kind";
/// Overrides the span name (the callsite name by default). Keep it low-cardinality.
pub const NAME: &str = "aitrace.name";
/// Span input: text, or JSON (chat messages, a request object).
pub const INPUT: &str = "aitrace.input";
/// Span output: text, or JSON.
pub const OUTPUT: &str = "aitrace.output";
/// The end user.
pub const USER_ID: &str = "user.id";
/// Session / conversation id (same as `gen_ai.conversation.id`).
pub const SESSION_ID: &str = "session.id";
/// Tags: comma-separated or a JSON array.
pub const TAGS: &str = "aitrace.tags";
/// Index of a fallback attempt (0 = primary).
pub const ATTEMPT: &str = "aitrace.attempt";
/// Index of a model step within a generation.
pub const STEP: &str = "aitrace.step";
/// The evaluation an evaluation span runs (`helpfulness`); declaring it makes the span an evaluation,
/// a trace of its own (`scorer_span!`).
pub const EVALUATION_NAME: &str = "aitrace.evaluation.name";
/// What an evaluation judges: a [`ScoreTarget`](crate::ScoreTarget)'s text form. Its scores land there.
pub const EVALUATION_TARGET: &str = "aitrace.evaluation.target";
/// Prefix of metadata fields: `metadata.customer = "acme"`.
pub const METADATA_PREFIX: &str = "metadata.";

/// Whether a callsite with these field names is an AI span.
pub(crate) fn is_ai_callsite(fields: &tracing_core::field::FieldSet) -> bool {
    fields
        .iter()
        .any(|f| f.name() == KIND || f.name().starts_with("gen_ai."))
}

/// A recorded value before it is filed. Text stays borrowed from `tracing` until it is stored, so
/// values that are only read (the kind, the provider before normalizing) cost no allocation.
pub(crate) enum FieldValue<'a> {
    Str(Cow<'a, str>),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl FieldValue<'_> {
    fn into_json(self) -> Value {
        match self {
            FieldValue::Str(s) => Value::String(s.into_owned()),
            FieldValue::I64(v) => Value::from(v),
            FieldValue::U64(v) => Value::from(v),
            FieldValue::F64(v) => Value::from(v),
            FieldValue::Bool(v) => Value::from(v),
        }
    }
    /// Strings that hold JSON objects/arrays become that JSON; everything else its plain value.
    fn into_json_parsed(self) -> Value {
        match self {
            FieldValue::Str(s) => parse_json_or_string(s.into_owned()),
            other => other.into_json(),
        }
    }
    fn into_string(self) -> String {
        match self {
            // Owned text is moved, not copied.
            FieldValue::Str(s) => s.into_owned(),
            other => other.to_text().into_owned(),
        }
    }
    /// The value as text, without consuming it.
    fn to_text(&self) -> Cow<'_, str> {
        match self {
            FieldValue::Str(s) => Cow::Borrowed(s),
            FieldValue::I64(v) => Cow::Owned(v.to_string()),
            FieldValue::U64(v) => Cow::Owned(v.to_string()),
            FieldValue::F64(v) => Cow::Owned(v.to_string()),
            FieldValue::Bool(v) => Cow::Owned(v.to_string()),
        }
    }
    fn as_u64(&self) -> Option<u64> {
        match self {
            FieldValue::U64(v) => Some(*v),
            FieldValue::I64(v) => u64::try_from(*v).ok(),
            FieldValue::F64(v) if *v >= 0.0 && v.is_finite() => Some(*v as u64),
            FieldValue::Str(s) => s.trim().parse().ok(),
            FieldValue::F64(_) | FieldValue::Bool(_) => None,
        }
    }
    fn as_i64(&self) -> Option<i64> {
        match self {
            FieldValue::I64(v) => Some(*v),
            FieldValue::U64(v) => i64::try_from(*v).ok(),
            FieldValue::F64(v) if v.is_finite() => Some(*v as i64),
            FieldValue::Str(s) => s.trim().parse().ok(),
            FieldValue::F64(_) | FieldValue::Bool(_) => None,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::F64(v) => Some(*v),
            FieldValue::I64(v) => Some(*v as f64),
            FieldValue::U64(v) => Some(*v as f64),
            FieldValue::Str(s) => s.trim().parse().ok(),
            FieldValue::Bool(_) => None,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Bool(v) => Some(*v),
            FieldValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    /// A list given as a JSON array string, a comma-separated string, or one value.
    fn into_list(self) -> Vec<String> {
        match self {
            FieldValue::Str(s) => {
                let t = s.trim();
                if t.starts_with('[') {
                    if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(t) {
                        return items
                            .into_iter()
                            .map(|v| match v {
                                Value::String(s) => s,
                                other => other.to_string(),
                            })
                            .collect();
                    }
                }
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            other => vec![other.into_string()],
        }
    }
}

pub use crate::record::parse_json_or_string;

/// Per-span state kept by the layer besides the record itself.
pub(crate) struct Filing<'a> {
    pub record: &'a mut SpanRecord,
    pub explicit_kind: &'a mut bool,
}

impl Filing<'_> {
    pub(crate) fn file(&mut self, name: &str, v: FieldValue) {
        let r = &mut *self.record;
        match name {
            KIND => {
                if let FieldValue::Str(s) = &v {
                    if let Some(k) = SpanKind::parse(s) {
                        r.kind = k;
                        *self.explicit_kind = true;
                    } else {
                        r.attributes.insert(name.to_string(), v.into_json());
                    }
                }
            }
            // `otel.name` is the display name, as tracing-opentelemetry reads it (genai names its
            // spans `genai.chat` in code and `chat gpt-4o-mini` there).
            NAME | "otel.name" => r.name = v.into_string(),
            "gen_ai.operation.name" => {
                let op = v.into_string();
                if !*self.explicit_kind {
                    if let Some(k) = SpanKind::from_operation(&op) {
                        r.kind = k;
                    }
                }
                r.operation = Some(op);
            }
            "gen_ai.provider.name" | "gen_ai.system" => {
                r.provider = Some(normalize_provider(&v.to_text()))
            }
            "gen_ai.request.model" => r.request_model = Some(v.into_string()),
            "gen_ai.response.model" => r.response_model = Some(v.into_string()),
            "gen_ai.response.id" => r.response_id = Some(v.into_string()),
            "gen_ai.response.finish_reasons" => r.finish_reasons = v.into_list(),
            "gen_ai.response.time_to_first_chunk" => r.time_to_first_token_s = v.as_f64(),
            "aitrace.time_to_first_token_ms" => {
                r.time_to_first_token_s = v.as_f64().map(|ms| ms / 1000.0)
            }
            "gen_ai.request.temperature" => r.params.temperature = v.as_f64(),
            "gen_ai.request.max_tokens" => r.params.max_tokens = v.as_u64(),
            "gen_ai.request.top_p" => r.params.top_p = v.as_f64(),
            "gen_ai.request.top_k" | "gen_ai.retrieval.top_k" => r.params.top_k = v.as_f64(),
            "gen_ai.request.frequency_penalty" => r.params.frequency_penalty = v.as_f64(),
            "gen_ai.request.presence_penalty" => r.params.presence_penalty = v.as_f64(),
            "gen_ai.request.stop_sequences" => r.params.stop_sequences = v.into_list(),
            "gen_ai.request.seed" => r.params.seed = v.as_i64(),
            "gen_ai.request.choice.count" => r.params.choice_count = v.as_u64(),
            "gen_ai.request.stream" => r.params.stream = v.as_bool(),
            "gen_ai.usage.input_tokens" | "gen_ai.usage.prompt_tokens" => {
                usage(r).input_tokens = v.as_u64()
            }
            "gen_ai.usage.output_tokens" | "gen_ai.usage.completion_tokens" => {
                usage(r).output_tokens = v.as_u64()
            }
            "gen_ai.usage.total_tokens" => usage(r).total_tokens = v.as_u64(),
            "gen_ai.usage.cache_read.input_tokens" => usage(r).cache_read_input_tokens = v.as_u64(),
            // `cache_write` is the current name; `cache_creation` the earlier one, still read.
            "gen_ai.usage.cache_write.input_tokens"
            | "gen_ai.usage.cache_creation.input_tokens" => {
                usage(r).cache_creation_input_tokens = v.as_u64()
            }
            "gen_ai.usage.reasoning.output_tokens" | "gen_ai.usage.reasoning_tokens" => {
                usage(r).reasoning_tokens = v.as_u64()
            }
            "aitrace.usage.input_audio_tokens" | "gen_ai.usage.audio.input_tokens" => {
                usage(r).input_audio_tokens = v.as_u64()
            }
            "aitrace.usage.output_audio_tokens" | "gen_ai.usage.audio.output_tokens" => {
                usage(r).output_audio_tokens = v.as_u64()
            }
            "gen_ai.usage.text.input_tokens" => usage(r).input_text_tokens = v.as_u64(),
            "gen_ai.usage.image.input_tokens" => usage(r).input_image_tokens = v.as_u64(),
            "gen_ai.usage.text.output_tokens" => usage(r).output_text_tokens = v.as_u64(),
            "gen_ai.usage.image.output_tokens" => usage(r).output_image_tokens = v.as_u64(),
            "gen_ai.usage.tool_use_prompt_tokens" => usage(r).tool_use_prompt_tokens = v.as_u64(),
            "aitrace.cost_usd" => {
                if let Some(total) = v.as_f64() {
                    r.cost = Some(crate::record::Cost::usd(total));
                }
            }
            // Content is kept as text here and parsed off the application's thread
            // (`SpanRecord::decode_content`).
            INPUT | "gen_ai.input.messages" | "gen_ai.prompt" => {
                r.input = Some(deferred(r, pending::INPUT, v))
            }
            OUTPUT | "gen_ai.output.messages" | "gen_ai.completion" => {
                r.output = Some(deferred(r, pending::OUTPUT, v))
            }
            "gen_ai.system_instructions" => {
                r.system_instructions = Some(deferred(r, pending::SYSTEM, v))
            }
            "gen_ai.tool.definitions" => {
                r.tool_definitions = Some(deferred(r, pending::TOOL_DEFINITIONS, v))
            }
            "gen_ai.tool.name" => tool(r).name = Some(v.into_string()),
            "gen_ai.tool.call.id" => tool(r).call_id = Some(v.into_string()),
            "gen_ai.tool.type" => tool(r).tool_type = Some(v.into_string()),
            "gen_ai.tool.description" => tool(r).description = Some(v.into_string()),
            "gen_ai.tool.call.arguments" => {
                let v = deferred(r, pending::TOOL_ARGUMENTS, v);
                tool(r).arguments = Some(v)
            }
            "gen_ai.tool.call.result" => {
                let v = deferred(r, pending::TOOL_RESULT, v);
                tool(r).result = Some(v)
            }
            "gen_ai.agent.id" => agent(r).id = Some(v.into_string()),
            "gen_ai.agent.name" => agent(r).name = Some(v.into_string()),
            "gen_ai.agent.description" => agent(r).description = Some(v.into_string()),
            "gen_ai.agent.version" => agent(r).version = Some(v.into_string()),
            "gen_ai.conversation.id" | SESSION_ID | "aitrace.session_id" => {
                r.session_id = Some(v.into_string())
            }
            USER_ID | "aitrace.user_id" => r.user_id = Some(v.into_string()),
            TAGS => {
                for t in v.into_list() {
                    if !r.tags.contains(&t) {
                        r.tags.push(t);
                    }
                }
            }
            ATTEMPT => r.attempt = v.as_u64().and_then(|a| u32::try_from(a).ok()),
            "error.type" => set_error(r, None, Some(v.into_string())),
            "error.message" | "aitrace.error" => set_error(r, Some(v.into_string()), None),
            "otel.status_code" => match v.into_string().to_ascii_lowercase().as_str() {
                "error" => set_error(r, None, None),
                "ok" => r.status = Status::Ok,
                _ => {}
            },
            "otel.status_description" | "otel.status_message" => {
                if r.status.is_error() {
                    set_error(r, Some(v.into_string()), None)
                } else {
                    r.attributes.insert(name.to_string(), v.into_json());
                }
            }
            _ => {
                if let Some(key) = name.strip_prefix(METADATA_PREFIX) {
                    r.metadata.insert(key.to_string(), v.into_json_parsed());
                } else {
                    r.attributes.insert(name.to_string(), v.into_json());
                }
            }
        }
    }
}

/// Text now, JSON later: marks the field for `decode_content` when the text may be JSON.
fn deferred(r: &mut SpanRecord, bit: u8, v: FieldValue) -> Value {
    match v {
        FieldValue::Str(s) => {
            let t = s.trim_start();
            if t.starts_with('{') || t.starts_with('[') {
                r.pending_json |= bit;
            } else {
                r.pending_json &= !bit;
            }
            // Content is the large copy of a span: into a buffer the worker gave back, if any.
            Value::String(match s {
                Cow::Borrowed(text) => crate::record::recycle::copy_of(text),
                Cow::Owned(text) => text,
            })
        }
        other => {
            r.pending_json &= !bit;
            other.into_json()
        }
    }
}

fn usage(r: &mut SpanRecord) -> &mut crate::record::Usage {
    r.usage.get_or_insert_with(Default::default)
}
fn tool(r: &mut SpanRecord) -> &mut crate::record::ToolInfo {
    r.tool.get_or_insert_with(Default::default)
}
fn agent(r: &mut SpanRecord) -> &mut crate::record::AgentInfo {
    r.agent.get_or_insert_with(Default::default)
}

/// Marks the span failed, keeping what was already known about the error.
pub(crate) fn set_error(r: &mut SpanRecord, message: Option<String>, error_type: Option<String>) {
    let (old_msg, old_type) = match std::mem::take(&mut r.status) {
        Status::Error {
            message,
            error_type,
        } => (message, error_type),
        _ => (String::new(), None),
    };
    r.status = Status::Error {
        message: message.unwrap_or(old_msg),
        error_type: error_type.or(old_type),
    };
}

impl Visit for Filing<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.file(field.name(), FieldValue::Str(Cow::Borrowed(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.file(field.name(), FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.file(field.name(), FieldValue::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.file(field.name(), FieldValue::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.file(field.name(), FieldValue::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let r = &mut *self.record;
        if field.name() == "error" || field.name() == "exception" {
            set_error(r, Some(value.to_string()), None);
        } else {
            r.attributes
                .insert(field.name().to_string(), Value::String(value.to_string()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.file(
            field.name(),
            FieldValue::Str(Cow::Owned(format!("{value:?}"))),
        );
    }
}

/// Reads fields (a span's, an event's) into JSON values by field name.
pub(crate) struct FieldMap<'a>(pub(crate) &'a mut serde_json::Map<String, Value>);

impl FieldMap<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_string(), value);
    }
}

impl Visit for FieldMap<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

/// An event's message (its `message` field, as text) and its other fields.
pub(crate) fn event_fields(
    event: &tracing_core::Event<'_>,
) -> (Option<String>, serde_json::Map<String, Value>) {
    let mut attributes = serde_json::Map::new();
    event.record(&mut FieldMap(&mut attributes));
    let message = attributes.remove("message").map(|v| match v {
        Value::String(s) => s,
        other => other.to_string(),
    });
    (message, attributes)
}
