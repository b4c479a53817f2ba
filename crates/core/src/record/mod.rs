//! The span model every processor and exporter sees: [`SpanRecord`] and its parts.
//!
//! The JSON form of these types is stable (it is the JSONL exporter's schema): field names never change
//! within a major version, `None`/empty fields are omitted, times are unix nanoseconds, ids are lowercase
//! hex. New optional fields may be added.

mod content;
mod kind;
pub(crate) mod recycle;
mod size;
mod time;
mod usage;

pub(crate) use content::pending;
pub use content::{
    is_metadata_namespace, json_text, parse_json_or_string, register_metadata_namespace,
    text_or_json,
};
pub use kind::SpanKind;
pub(crate) use size::value_size;
pub use size::{truncate_strings, truncation_marker};
pub use time::{rfc3339, unix_nanos};
pub use usage::{total_billable_usage, Cost, Usage};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{SpanId, TraceId};
use crate::score::ScoreRecord;

/// Outcome of a span.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Status {
    /// Nothing said it failed.
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed.
    Error {
        /// Human-readable error message.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
        /// Low-cardinality error class (`timeout`, `rate_limited`, an HTTP status, an exception type),
        /// the OTel `error.type`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_type: Option<String>,
    },
}

impl Status {
    /// True for `Error`.
    pub fn is_error(&self) -> bool {
        matches!(self, Status::Error { .. })
    }

    /// The `error.type` of an error, as the OTel conventions write it: the recorded type, else
    /// `_OTHER`. `None` when the status is not an error.
    pub fn error_type_or_other(&self) -> Option<&str> {
        match self {
            Status::Error { error_type, .. } => Some(error_type.as_deref().unwrap_or("_OTHER")),
            _ => None,
        }
    }
}

/// Request parameters of a model call (`gen_ai.request.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.request.temperature`.
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.request.max_tokens`.
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.request.top_p`.
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.request.top_k`.
    pub top_k: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.request.frequency_penalty`.
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.request.presence_penalty`.
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `gen_ai.request.stop_sequences`.
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.request.seed`.
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.request.choice.count`.
    pub choice_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Whether the answer was streamed (`gen_ai.request.stream`).
    pub stream: Option<bool>,
}

impl ModelParams {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == ModelParams::default()
    }
}

/// The tool of a tool-call span (`gen_ai.tool.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.tool.name`.
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.tool.call.id`.
    pub call_id: Option<String>,
    /// `function`, `extension` or `datastore`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub tool_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// What the tool does (`gen_ai.tool.description`).
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The call's arguments (`gen_ai.tool.call.arguments`).
    pub arguments: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// What the call returned (`gen_ai.tool.call.result`).
    pub result: Option<Value>,
}

/// The agent of an agent span, also stamped on the spans it makes (`gen_ai.agent.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.agent.id`.
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.agent.name`.
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.agent.description`.
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `gen_ai.agent.version`.
    pub version: Option<String>,
}

impl AgentInfo {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == AgentInfo::default()
    }
}

/// A `tracing` event that happened inside the span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    /// The event's message, or its callsite name.
    pub name: String,
    /// When it happened.
    pub time_unix_nano: u64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    /// The `tracing` target it came from.
    pub target: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    /// Its fields.
    pub attributes: Map<String, Value>,
}

/// A link from a span to a span (or a whole trace) of another trace (an OTel span link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanLink {
    /// The linked trace.
    pub trace_id: TraceId,
    /// The linked span; `None` links the trace as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<SpanId>,
}

/// One finished AI span, as processors and exporters see it. Exporters never see `tracing` types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// Nearest AI ancestor, or the remote parent of a `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<SpanId>,
    /// True when `parent_span_id` is a span of another process (set from a `traceparent`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parent_is_remote: bool,
    /// Set on a top-level AI span that runs inside a request (the application span aitrace records as
    /// a [`SpanKind::Request`] record): that record's span id. `parent_span_id` stays what it would be
    /// without the request (none, or the remote parent), so an exporter that leaves request records out
    /// sees the trace as before; the pipeline re-parents the span under the request for exporters that
    /// receive them ([`Exporter::receives_request_spans`](crate::Exporter::receives_request_spans)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_span_id: Option<SpanId>,
    /// The deterministic name: the callsite's name unless `aitrace.name` overrode it.
    pub name: String,
    /// The name of the whole trace, when known for this span: set with
    /// [`AiSpanExt::set_trace_name`](crate::AiSpanExt::set_trace_name) on this span or an ancestor,
    /// else the name of the application span (a request, a job) the AI spans run in. `None` when the
    /// trace is an AI span's own: exporters then name it after its root span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_name: Option<String>,
    /// What the span stands for.
    pub kind: SpanKind,
    /// `gen_ai.operation.name`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Start, unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End, unix nanoseconds.
    pub end_time_unix_nano: u64,
    #[serde(default)]
    /// How it ended.
    pub status: Status,
    /// Whether this span's usage counts toward cost: exactly one span per model call is billable.
    #[serde(default)]
    pub billable: bool,
    /// Normalized provider (`openai`, `anthropic`, `gcp.gemini`, ...): after a fallback, the one that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `gen_ai.request.model`: after a fallback, the model the answering request was sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_model: Option<String>,
    /// `gen_ai.response.model`, as reported by the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The provider's id of the answer (`gen_ai.response.id`).
    pub response_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Token counts, as recorded; see [`SpanRecord::billable`] for whether they are billed here.
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The call's cost, when a processor or the instrumentation priced it.
    pub cost: Option<Cost>,
    #[serde(default, skip_serializing_if = "ModelParams::is_empty")]
    /// Request parameters (`gen_ai.request.*`).
    pub params: ModelParams,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Why the model stopped, per choice (`gen_ai.response.finish_reasons`).
    pub finish_reasons: Vec<String>,
    /// Seconds from the start of the span to the first streamed chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_first_token_s: Option<f64>,
    /// Input: chat messages in the GenAI `role` + `parts` shape where they are messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Output: chat messages (with `finish_reason`) where they are messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// `gen_ai.system_instructions`: an array of parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instructions: Option<Value>,
    /// `gen_ai.tool.definitions` offered to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_definitions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The tool of a tool-call span.
    pub tool: Option<ToolInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The agent of an agent span, or of the agent a model call serves.
    pub agent: Option<AgentInfo>,
    /// Conversation / session id (`gen_ai.conversation.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The end user (`user.id`).
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Tags, merged over the trace.
    pub tags: Vec<String>,
    /// User metadata. A key `<exporter>.<key>` (e.g. `langfuse.promptName`) reaches only that exporter:
    /// see [`SpanRecord::metadata_for`].
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Metadata of the whole trace, as known when this span closed: the metadata of the trace's
    /// top-level AI span and what the application set on its request span. Every span carries it, so
    /// a backend that stores trace fields per span (Langfuse) has them however late the root closes.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub trace_metadata: Map<String, Value>,
    /// The `sampled` flag of the incoming `traceparent` this trace continues (inherited by every span
    /// of the trace), so samplers keep or drop a distributed trace whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_sampled: Option<bool>,
    /// Index of this try within a fallback adapter (0 = primary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Every other field recorded on the span, by its field name.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// `tracing` events inside the span (at most [`MAX_EVENTS_PER_SPAN`](crate::MAX_EVENTS_PER_SPAN)).
    pub events: Vec<SpanEvent>,
    /// Events not kept because the span already held [`crate::MAX_EVENTS_PER_SPAN`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_events: u32,
    /// Spans of other traces this one relates to: an evaluation links the span or trace it judges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<SpanLink>,
    /// Scores recorded on this span while it ran
    /// ([`AiSpanExt::record_score`](crate::AiSpanExt::record_score)), each targeting it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<ScoreRecord>,
    /// Content fields still holding JSON text recorded through `tracing` fields; decoded by
    /// [`SpanRecord::decode_content`] off the application's thread.
    #[serde(skip)]
    pub(crate) pending_json: u8,
    /// Another root of this trace was still open when this one closed: the trace is not whole yet.
    #[serde(skip)]
    pub(crate) more_roots_open: bool,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl SpanRecord {
    /// A record with fresh ids and the start time now; the layer uses this, and tests and exporters
    /// can build records by hand.
    pub fn new(name: impl Into<String>, kind: SpanKind) -> Self {
        let now = unix_nanos(SystemTime::now());
        let mut record = SpanRecord::blank(name.into(), kind, now);
        record.trace_id = TraceId::random();
        record.span_id = SpanId::random();
        record
    }

    /// A record with zero ids, nothing recorded, started and ended at `now`: [`new`](Self::new)
    /// without the random ids, and what a recycled record box holds (no allocation, no clock).
    pub(crate) fn blank(name: String, kind: SpanKind, now: u64) -> Self {
        SpanRecord {
            trace_id: TraceId::from_u128(0),
            span_id: SpanId::from_u64(0),
            parent_span_id: None,
            parent_is_remote: false,
            request_span_id: None,
            name,
            trace_name: None,
            kind,
            operation: None,
            start_time_unix_nano: now,
            end_time_unix_nano: now,
            status: Status::Unset,
            billable: false,
            provider: None,
            request_model: None,
            response_model: None,
            response_id: None,
            usage: None,
            cost: None,
            params: ModelParams::default(),
            finish_reasons: Vec::new(),
            time_to_first_token_s: None,
            input: None,
            output: None,
            system_instructions: None,
            tool_definitions: None,
            tool: None,
            agent: None,
            session_id: None,
            user_id: None,
            tags: Vec::new(),
            metadata: Map::new(),
            trace_metadata: Map::new(),
            remote_sampled: None,
            attempt: None,
            attributes: Map::new(),
            events: Vec::new(),
            dropped_events: 0,
            links: Vec::new(),
            scores: Vec::new(),
            pending_json: 0,
            more_roots_open: false,
        }
    }

    /// Whether content recorded as JSON text still waits for [`decode_content`](Self::decode_content).
    pub(crate) fn has_pending_content(&self) -> bool {
        self.pending_json != 0
    }

    /// The model that answered: the response model if reported, else the request model.
    pub fn model(&self) -> Option<&str> {
        self.response_model
            .as_deref()
            .or(self.request_model.as_deref())
    }

    /// Start time.
    pub fn start_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.start_time_unix_nano)
    }

    /// End time.
    pub fn end_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.end_time_unix_nano)
    }

    /// Wall-clock duration (zero if the clock went backwards).
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(
            self.end_time_unix_nano
                .saturating_sub(self.start_time_unix_nano),
        )
    }

    /// True when this span is the root of its trace in this process (no parent, or a remote one).
    pub fn is_local_root(&self) -> bool {
        self.parent_span_id.is_none() || self.parent_is_remote
    }

    /// Whether the trace is whole once this span has arrived: a local root that does not run inside a
    /// request (whose record closes after it). The trace assembler releases a trace on it.
    pub fn ends_its_trace(&self) -> bool {
        self.is_local_root() && self.request_span_id.is_none() && !self.more_roots_open
    }

    /// Usage that counts toward totals: `Some` only on the billable span of a model call.
    pub fn billable_usage(&self) -> Option<&Usage> {
        if self.billable {
            self.usage.as_ref()
        } else {
            None
        }
    }

    /// The `gen_ai.operation.name` of the record: as recorded, else the kind's default.
    pub fn operation_name(&self) -> Option<&str> {
        self.operation.as_deref().or(self.kind.default_operation())
    }

    /// The name the GenAI conventions give the span: `{operation} {target}` (`chat gpt-4o`,
    /// `execute_tool search`, `invoke_agent planner`), or the span's own name for kinds the conventions
    /// don't cover. What backends display, and the trace's name when its root names it.
    pub fn display_name(&self) -> String {
        let attr = |key: &str| self.attributes.get(key).and_then(Value::as_str);
        let target = match self.kind {
            SpanKind::ModelGeneration | SpanKind::Embedding => self
                .request_model
                .as_deref()
                .or(self.response_model.as_deref()),
            SpanKind::ToolCall | SpanKind::McpToolCall => {
                self.tool.as_ref().and_then(|t| t.name.as_deref())
            }
            SpanKind::AgentRun => self.agent.as_ref().and_then(|a| a.name.as_deref()),
            SpanKind::Retrieval => attr("gen_ai.data_source.id"),
            SpanKind::WorkflowRun => attr("gen_ai.workflow.name"),
            SpanKind::Evaluation => attr(crate::fields::EVALUATION_NAME),
            _ => return self.name.clone(),
        };
        // An MCP request is named by its method (`tools/call get_weather`), as the MCP conventions
        // ask, also when its span is the application's own tool span.
        let op = match self.kind {
            SpanKind::McpToolCall => attr("mcp.method.name"),
            _ => None,
        };
        let op = op
            .or_else(|| self.operation_name())
            .unwrap_or(self.name.as_str());
        match target {
            Some(t) if !t.is_empty() => {
                // Built by hand: `format!` costs several times more, once per span closed.
                let mut name = String::with_capacity(op.len() + 1 + t.len());
                name.push_str(op);
                name.push(' ');
                name.push_str(t);
                name
            }
            _ => op.to_string(),
        }
    }

    /// What a trace rooted at this span is named after, when no name was set: the agent's or the
    /// workflow's name, else the span's [display name](Self::display_name).
    pub fn what_ran(&self) -> String {
        let named = match self.kind {
            SpanKind::AgentRun => self.agent.as_ref().and_then(|a| a.name.clone()),
            SpanKind::WorkflowRun => self
                .attributes
                .get("gen_ai.workflow.name")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        named
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.display_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_form_is_tagged() {
        let s = Status::Error {
            message: "boom".into(),
            error_type: Some("timeout".into()),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code":"error","message":"boom","error_type":"timeout"})
        );
        assert_eq!(
            serde_json::to_value(Status::Ok).unwrap(),
            serde_json::json!({"code":"ok"})
        );
    }
}
