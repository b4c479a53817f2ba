//! The span model every processor and exporter sees: [`SpanRecord`] and its parts.
//!
//! The JSON form of these types is stable (it is the JSONL exporter's schema): field names never change
//! within a major version, `None`/empty fields are omitted, times are unix nanoseconds, ids are lowercase
//! hex. New optional fields may be added.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{SpanId, TraceId};

/// What an AI span stands for. Decides how exporters map it (generation vs span, `llm` vs `task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// One run of an agent (its loop of model calls and tool calls).
    AgentRun,
    /// One model call: the billable unit.
    ModelGeneration,
    /// One step of a multi-step generation (not billable on its own).
    ModelStep,
    /// One streamed chunk (not billable).
    ModelChunk,
    /// A tool executed by the application.
    ToolCall,
    /// A tool executed through an MCP server.
    McpToolCall,
    /// An embeddings call (billable).
    Embedding,
    /// A retrieval from a vector store or search index.
    Retrieval,
    /// A rerank call.
    Rerank,
    /// A workflow run.
    WorkflowRun,
    /// A step of a workflow.
    WorkflowStep,
    /// A speech-to-text call.
    SpeechToText,
    /// A text-to-speech call.
    TextToSpeech,
    /// One try of a fallback adapter against one provider (never billable: the caller's span is).
    FallbackAttempt,
    /// A guardrail / moderation check.
    Guardrail,
    /// An image generation call (billable).
    ImageGeneration,
    /// A memory operation of an agent (search, create, update or delete memories or a memory store).
    Memory,
    /// Any other AI span.
    #[default]
    Generic,
}

impl SpanKind {
    /// Every kind, in declaration order.
    pub const ALL: [SpanKind; 18] = [
        SpanKind::AgentRun,
        SpanKind::ModelGeneration,
        SpanKind::ModelStep,
        SpanKind::ModelChunk,
        SpanKind::ToolCall,
        SpanKind::McpToolCall,
        SpanKind::Embedding,
        SpanKind::Retrieval,
        SpanKind::Rerank,
        SpanKind::WorkflowRun,
        SpanKind::WorkflowStep,
        SpanKind::SpeechToText,
        SpanKind::TextToSpeech,
        SpanKind::FallbackAttempt,
        SpanKind::Guardrail,
        SpanKind::ImageGeneration,
        SpanKind::Memory,
        SpanKind::Generic,
    ];

    /// The snake_case name used in JSON and in the `aitrace.kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::AgentRun => "agent_run",
            SpanKind::ModelGeneration => "model_generation",
            SpanKind::ModelStep => "model_step",
            SpanKind::ModelChunk => "model_chunk",
            SpanKind::ToolCall => "tool_call",
            SpanKind::McpToolCall => "mcp_tool_call",
            SpanKind::Embedding => "embedding",
            SpanKind::Retrieval => "retrieval",
            SpanKind::Rerank => "rerank",
            SpanKind::WorkflowRun => "workflow_run",
            SpanKind::WorkflowStep => "workflow_step",
            SpanKind::SpeechToText => "speech_to_text",
            SpanKind::TextToSpeech => "text_to_speech",
            SpanKind::FallbackAttempt => "fallback_attempt",
            SpanKind::Guardrail => "guardrail",
            SpanKind::ImageGeneration => "image_generation",
            SpanKind::Memory => "memory",
            SpanKind::Generic => "generic",
        }
    }

    /// Parses an `aitrace.kind` value: the snake_case names plus short aliases
    /// (`agent`, `generation`, `llm`, `step`, `chunk`, `tool`, `mcp_tool`, `workflow`, `stt`, `tts`,
    /// `attempt`). Unknown values give `None`.
    pub fn parse(s: &str) -> Option<SpanKind> {
        if let Some(k) = SpanKind::ALL.iter().find(|k| k.as_str() == s) {
            return Some(*k);
        }
        let k = match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' ', '.'], "_")
            .as_str()
        {
            "agent_run" | "agent" => SpanKind::AgentRun,
            "model_generation" | "generation" | "llm" | "chat" => SpanKind::ModelGeneration,
            "model_step" | "step" => SpanKind::ModelStep,
            "model_chunk" | "chunk" => SpanKind::ModelChunk,
            "tool_call" | "tool" => SpanKind::ToolCall,
            "mcp_tool_call" | "mcp_tool" | "mcp" => SpanKind::McpToolCall,
            "embedding" | "embeddings" => SpanKind::Embedding,
            "retrieval" | "retriever" => SpanKind::Retrieval,
            "rerank" | "reranker" => SpanKind::Rerank,
            "workflow_run" | "workflow" => SpanKind::WorkflowRun,
            "workflow_step" => SpanKind::WorkflowStep,
            "speech_to_text" | "stt" => SpanKind::SpeechToText,
            "text_to_speech" | "tts" => SpanKind::TextToSpeech,
            "fallback_attempt" | "attempt" => SpanKind::FallbackAttempt,
            "guardrail" => SpanKind::Guardrail,
            "image_generation" | "image" => SpanKind::ImageGeneration,
            "memory" => SpanKind::Memory,
            "generic" | "span" => SpanKind::Generic,
            _ => return None,
        };
        Some(k)
    }

    /// The kind implied by a `gen_ai.operation.name` value, used when no `aitrace.kind` is given.
    pub fn from_operation(op: &str) -> Option<SpanKind> {
        Some(match op {
            // The GenAI registry's operations.
            "chat" | "text_completion" | "generate_content" => SpanKind::ModelGeneration,
            "embeddings" => SpanKind::Embedding,
            "execute_tool" => SpanKind::ToolCall,
            "invoke_agent" | "create_agent" => SpanKind::AgentRun,
            "retrieval" => SpanKind::Retrieval,
            "invoke_workflow" => SpanKind::WorkflowRun,
            "search_memory"
            | "create_memory"
            | "update_memory"
            | "delete_memory"
            | "create_memory_store"
            | "delete_memory_store" => SpanKind::Memory,
            // What client libraries emit outside it (rig, genai, provider SDKs).
            "transcription" | "speech_to_text" => SpanKind::SpeechToText,
            "speech" | "audio_generation" | "text_to_speech" => SpanKind::TextToSpeech,
            "image_generation" => SpanKind::ImageGeneration,
            "rerank" => SpanKind::Rerank,
            _ => return None,
        })
    }

    /// Kinds whose usage is billed: one model call each. Whether a given record *is* billable is
    /// [`SpanRecord::billable`], decided when it closes (see the usage invariant in the crate docs).
    pub fn is_billable_kind(self) -> bool {
        matches!(
            self,
            SpanKind::ModelGeneration
                | SpanKind::Embedding
                | SpanKind::SpeechToText
                | SpanKind::TextToSpeech
                | SpanKind::ImageGeneration
                | SpanKind::Rerank
        )
    }

    /// The default `gen_ai.operation.name` of the kind, if the conventions define one.
    pub fn default_operation(self) -> Option<&'static str> {
        Some(match self {
            SpanKind::ModelGeneration => "chat",
            SpanKind::Embedding => "embeddings",
            SpanKind::ToolCall | SpanKind::McpToolCall => "execute_tool",
            SpanKind::AgentRun => "invoke_agent",
            SpanKind::Retrieval => "retrieval",
            SpanKind::WorkflowRun => "invoke_workflow",
            _ => return None,
        })
    }
}

/// Token counts of one model call. `input_tokens` includes cached tokens, as in the OTel GenAI
/// conventions; the cache counts are a breakdown of it, not an addition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// As reported by the provider; [`Usage::total`] falls back to input + output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Part of `output_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_audio_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_audio_tokens: Option<u64>,
    /// Per-modality breakdowns (`gen_ai.usage.{text,image}.{input,output}_tokens`), parts of
    /// `input_tokens` / `output_tokens` like the audio ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_text_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_image_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_text_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_image_tokens: Option<u64>,
    /// Tokens of the prompts a provider runs for its own tool use (Gemini's
    /// `toolUsePromptTokenCount`, `gen_ai.usage.tool_use_prompt_tokens`), as reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_tokens: Option<u64>,
}

impl Usage {
    /// No counts (a `const` [`Default`]).
    pub const EMPTY: Usage = Usage {
        input_tokens: None,
        output_tokens: None,
        total_tokens: None,
        cache_read_input_tokens: None,
        cache_creation_input_tokens: None,
        reasoning_tokens: None,
        input_audio_tokens: None,
        output_audio_tokens: None,
        input_text_tokens: None,
        input_image_tokens: None,
        output_text_tokens: None,
        output_image_tokens: None,
        tool_use_prompt_tokens: None,
    };
    /// Input and output tokens (usable in `const`s, like the `with_*` methods).
    pub const fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Usage {
            input_tokens: Some(input_tokens),
            output_tokens: Some(output_tokens),
            ..Usage::EMPTY
        }
    }
    /// Input tokens only (an embeddings call has no output).
    pub const fn input_only(input_tokens: u64) -> Self {
        Usage {
            input_tokens: Some(input_tokens),
            ..Usage::EMPTY
        }
    }
    /// Sets the cache-read part of the input.
    pub const fn with_cache_read(mut self, tokens: u64) -> Self {
        self.cache_read_input_tokens = Some(tokens);
        self
    }
    /// Sets the cache-creation part of the input.
    pub const fn with_cache_creation(mut self, tokens: u64) -> Self {
        self.cache_creation_input_tokens = Some(tokens);
        self
    }
    /// Sets the reasoning part of the output.
    pub const fn with_reasoning(mut self, tokens: u64) -> Self {
        self.reasoning_tokens = Some(tokens);
        self
    }
    /// The provider's total, or input + output.
    pub fn total(&self) -> Option<u64> {
        self.total_tokens
            .or(match (self.input_tokens, self.output_tokens) {
                (None, None) => None,
                (i, o) => Some(i.unwrap_or(0).saturating_add(o.unwrap_or(0))),
            })
    }
    /// True when no count is set.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
    /// Field-wise sum (a field is `Some` when either side has it).
    pub fn add(&self, other: &Usage) -> Usage {
        fn s(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
            }
        }
        Usage {
            input_tokens: s(self.input_tokens, other.input_tokens),
            output_tokens: s(self.output_tokens, other.output_tokens),
            // Keep "no explicit total" when neither side had one, so sums compare equal to
            // hand-written usages; otherwise sum what each side would report.
            total_tokens: if self.total_tokens.is_none() && other.total_tokens.is_none() {
                None
            } else {
                s(self.total(), other.total())
            },
            cache_read_input_tokens: s(self.cache_read_input_tokens, other.cache_read_input_tokens),
            cache_creation_input_tokens: s(
                self.cache_creation_input_tokens,
                other.cache_creation_input_tokens,
            ),
            reasoning_tokens: s(self.reasoning_tokens, other.reasoning_tokens),
            input_audio_tokens: s(self.input_audio_tokens, other.input_audio_tokens),
            output_audio_tokens: s(self.output_audio_tokens, other.output_audio_tokens),
            input_text_tokens: s(self.input_text_tokens, other.input_text_tokens),
            input_image_tokens: s(self.input_image_tokens, other.input_image_tokens),
            output_text_tokens: s(self.output_text_tokens, other.output_text_tokens),
            output_image_tokens: s(self.output_image_tokens, other.output_image_tokens),
            tool_use_prompt_tokens: s(self.tool_use_prompt_tokens, other.tool_use_prompt_tokens),
        }
    }
    /// Fills the fields `self` lacks from `other` (fields set later win; used for late `record`s).
    pub fn merge_from(&mut self, other: &Usage) {
        macro_rules! m {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        m!(
            input_tokens,
            output_tokens,
            total_tokens,
            cache_read_input_tokens,
            cache_creation_input_tokens,
            reasoning_tokens,
            input_audio_tokens,
            output_audio_tokens,
            input_text_tokens,
            input_image_tokens,
            output_text_tokens,
            output_image_tokens,
            tool_use_prompt_tokens
        );
    }
}

/// Cost of one call, split by kind of token, in `currency` (default USD).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
    /// When absent, the sum of the parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// ISO 4217 code.
    pub currency: String,
}

impl Default for Cost {
    fn default() -> Self {
        Cost {
            input: None,
            output: None,
            cache_read_input: None,
            cache_creation_input: None,
            reasoning: None,
            total: None,
            currency: "USD".to_string(),
        }
    }
}

impl Cost {
    /// A total cost in USD.
    pub fn usd(total: f64) -> Self {
        Cost {
            total: Some(total),
            ..Cost::default()
        }
    }
    /// The explicit total or the sum of the parts.
    pub fn total(&self) -> Option<f64> {
        self.total.or_else(|| {
            let parts = [
                self.input,
                self.output,
                self.cache_read_input,
                self.cache_creation_input,
                self.reasoning,
            ];
            parts
                .iter()
                .any(Option::is_some)
                .then(|| parts.iter().flatten().sum())
        })
    }
}

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
}

/// Request parameters of a model call (`gen_ai.request.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// `function`, `extension` or `datastore`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub tool_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// The agent of an agent span, also stamped on the spans it makes (`gen_ai.agent.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
    pub time_unix_nano: u64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
}

/// One finished AI span, as processors and exporters see it. Exporters never see `tracing` types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// Nearest AI ancestor, or the remote parent of a `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<SpanId>,
    /// True when `parent_span_id` is a span of another process (set from a `traceparent`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parent_is_remote: bool,
    /// The deterministic name: the callsite's name unless `aitrace.name` overrode it.
    pub name: String,
    /// The name of the whole trace, when known for this span: set with
    /// [`AiSpanExt::set_trace_name`](crate::AiSpanExt::set_trace_name) on this span or an ancestor,
    /// else the name of the application span (a request, a job) the AI spans run in. `None` when the
    /// trace is an AI span's own: exporters then name it after its root span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_name: Option<String>,
    pub kind: SpanKind,
    /// `gen_ai.operation.name`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    #[serde(default)]
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
    pub response_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    #[serde(default, skip_serializing_if = "ModelParams::is_empty")]
    pub params: ModelParams,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    pub tool: Option<ToolInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentInfo>,
    /// Conversation / session id (`gen_ai.conversation.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    pub events: Vec<SpanEvent>,
    /// Events not kept because the span already held [`crate::MAX_EVENTS_PER_SPAN`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_events: u32,
    /// Content fields still holding JSON text recorded through `tracing` fields; decoded by
    /// [`SpanRecord::decode_content`] off the application's thread.
    #[serde(skip)]
    pub(crate) pending_json: u8,
}

/// Bits of [`SpanRecord::pending_json`].
pub(crate) mod pending {
    pub const INPUT: u8 = 1;
    pub const OUTPUT: u8 = 2;
    pub const SYSTEM: u8 = 4;
    pub const TOOL_DEFINITIONS: u8 = 8;
    pub const TOOL_ARGUMENTS: u8 = 16;
    pub const TOOL_RESULT: u8 = 32;
}

fn is_zero(v: &u32) -> bool {
    *v == 0
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
    /// A record with fresh ids and the start time now; the layer uses this, and tests and exporters
    /// can build records by hand.
    pub fn new(name: impl Into<String>, kind: SpanKind) -> Self {
        let now = unix_nanos(SystemTime::now());
        SpanRecord {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_span_id: None,
            parent_is_remote: false,
            name: name.into(),
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
            pending_json: 0,
        }
    }

    /// Whether content recorded as JSON text still waits for [`decode_content`](Self::decode_content).
    pub(crate) fn has_pending_content(&self) -> bool {
        self.pending_json != 0
    }

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
                    *slot = Some(crate::fields::parse_json_or_string(s));
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
            _ => return self.name.clone(),
        };
        let op = self.operation_name().unwrap_or(self.name.as_str());
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

    /// Cuts every string inside the record's content (input, output, instructions, tool definitions,
    /// arguments and results, metadata, attributes, events) to `max_value_bytes`, with a visible
    /// [`truncation_marker`]; then, while the record is still over `max_record_bytes`, halves that cap
    /// (down to 256 bytes). Returns whether anything was cut. Used by the `Truncator` processor and by
    /// exporters whose backend has a hard per-request limit, so one huge span is shortened instead of
    /// rejected.
    pub fn shrink_to(&mut self, max_value_bytes: usize, max_record_bytes: usize) -> bool {
        let mut max = max_value_bytes;
        let mut changed = self.cut_values(max);
        while self.estimated_size() > max_record_bytes && max > 256 {
            max /= 2;
            changed |= self.cut_values(max);
        }
        changed
    }

    fn cut_values(&mut self, max: usize) -> bool {
        self.decode_content();
        let mut changed = false;
        for v in [
            &mut self.input,
            &mut self.output,
            &mut self.system_instructions,
            &mut self.tool_definitions,
        ]
        .into_iter()
        .flatten()
        {
            changed |= truncate_strings(v, max);
        }
        if let Some(tool) = &mut self.tool {
            for v in [&mut tool.arguments, &mut tool.result]
                .into_iter()
                .flatten()
            {
                changed |= truncate_strings(v, max);
            }
        }
        for map in [
            &mut self.metadata,
            &mut self.trace_metadata,
            &mut self.attributes,
        ] {
            changed |= map
                .values_mut()
                .fold(false, |c, v| truncate_strings(v, max) | c);
        }
        for e in &mut self.events {
            changed |= cut_string(&mut e.name, max);
            changed |= e
                .attributes
                .values_mut()
                .fold(false, |c, v| truncate_strings(v, max) | c);
        }
        changed
    }

    /// A cheap estimate of the record's heap size in bytes, used for the queues' byte caps.
    pub fn estimated_size(&self) -> usize {
        fn val(v: &Value) -> usize {
            match v {
                Value::Null | Value::Bool(_) | Value::Number(_) => 8,
                Value::String(s) => s.len() + 8,
                Value::Array(a) => 8 + a.iter().map(val).sum::<usize>(),
                Value::Object(o) => 8 + o.iter().map(|(k, v)| k.len() + val(v)).sum::<usize>(),
            }
        }
        fn map(m: &Map<String, Value>) -> usize {
            m.iter().map(|(k, v)| k.len() + val(v)).sum()
        }
        fn opt(v: &Option<Value>) -> usize {
            v.as_ref().map(val).unwrap_or(0)
        }
        fn s(v: &Option<String>) -> usize {
            v.as_ref().map(String::len).unwrap_or(0)
        }
        let tool = self
            .tool
            .as_ref()
            .map(|t| {
                s(&t.name) + s(&t.call_id) + s(&t.description) + opt(&t.arguments) + opt(&t.result)
            })
            .unwrap_or(0);
        std::mem::size_of::<SpanRecord>()
            + self.name.len()
            + s(&self.provider)
            + s(&self.request_model)
            + s(&self.response_model)
            + s(&self.response_id)
            + s(&self.session_id)
            + s(&self.user_id)
            + opt(&self.input)
            + opt(&self.output)
            + opt(&self.system_instructions)
            + opt(&self.tool_definitions)
            + tool
            + self.tags.iter().map(String::len).sum::<usize>()
            + map(&self.metadata)
            + map(&self.trace_metadata)
            + map(&self.attributes)
            + self
                .events
                .iter()
                .map(|e| 64 + e.name.len() + e.target.len() + map(&e.attributes))
                .sum::<usize>()
    }
}

/// Unix nanoseconds of a time (0 before the epoch).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}

/// RFC 3339 UTC with microseconds (`2025-05-22T00:00:00.500000Z`), the timestamp form vendor APIs
/// expect, without a date library.
pub fn rfc3339(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    let micros = (unix_nanos % 1_000_000_000) / 1_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Written digit by digit: every exported span carries one or two timestamps, and `format!`
    // costs several times more. A u64 of nanoseconds ends in 2554, so the year has four digits.
    fn put(out: &mut String, v: u64, width: u32) {
        for i in (0..width).rev() {
            out.push(char::from(b'0' + (v / 10u64.pow(i) % 10) as u8));
        }
    }
    let mut out = String::with_capacity(27);
    for (v, width, after) in [
        (year as u64, 4, '-'),
        (month as u64, 2, '-'),
        (day as u64, 2, 'T'),
        (rem / 3600, 2, ':'),
        ((rem % 3600) / 60, 2, ':'),
        (rem % 60, 2, '.'),
        (micros, 6, 'Z'),
    ] {
        put(&mut out, v, width);
        out.push(after);
    }
    out
}

/// The marker appended to a value [`SpanRecord::shrink_to`] cut.
pub fn truncation_marker(kept: usize, total: usize) -> String {
    format!("…[truncated: kept {kept} of {total} bytes]")
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

/// Cuts every string inside `value` longer than `max` bytes (at a character boundary), appending a
/// [`truncation_marker`]. Returns whether anything was cut.
pub fn truncate_strings(value: &mut Value, max: usize) -> bool {
    match value {
        Value::String(s) => cut_string(s, max),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, i| truncate_strings(i, max) | c),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |c, i| truncate_strings(i, max) | c),
        _ => false,
    }
}

fn cut_string(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let total = s.len();
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(&truncation_marker(end, total));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_747_872_000_500_000_000),
            "2025-05-22T00:00:00.500000Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            rfc3339(4_102_444_799_999_999_000),
            "2099-12-31T23:59:59.999999Z"
        );
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709551Z");
    }

    #[test]
    fn kind_names_round_trip_through_parse_and_serde() {
        for k in SpanKind::ALL {
            assert_eq!(SpanKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(
            SpanKind::parse("Generation"),
            Some(SpanKind::ModelGeneration)
        );
        assert_eq!(SpanKind::parse("tts"), Some(SpanKind::TextToSpeech));
        assert_eq!(SpanKind::parse("nonsense"), None);
    }

    #[test]
    fn usage_total_and_sum() {
        let u = Usage::new(100, 20).with_cache_read(30);
        assert_eq!(u.total(), Some(120));
        let s = u.add(&Usage::new(1, 2));
        assert_eq!(
            (s.input_tokens, s.output_tokens, s.total()),
            (Some(101), Some(22), Some(123))
        );
        assert_eq!(s.cache_read_input_tokens, Some(30));
        assert_eq!(Usage::default().total(), None);
    }

    #[test]
    fn cost_total_sums_parts_when_absent() {
        let c = Cost {
            input: Some(0.5),
            output: Some(0.25),
            ..Cost::default()
        };
        assert_eq!(c.total(), Some(0.75));
        assert_eq!(Cost::default().total(), None);
        assert_eq!(Cost::usd(2.0).total(), Some(2.0));
    }

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
