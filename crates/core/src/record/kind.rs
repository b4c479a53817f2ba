//! What an AI span stands for: [`SpanKind`].

use serde::{Deserialize, Serialize};

/// What an AI span stands for. Decides how exporters map it (generation vs span, `llm` vs `task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
    /// The application span a trace runs in (an HTTP request, a job), recorded when AI spans ran
    /// inside it: the trace's root for exporters that show it (OTel backends, the console, JSONL).
    Request,
    /// An evaluation run (an LLM-as-judge, a scorer): its own trace, linked to what it judges, billed
    /// as an evaluation and never added to the judged trace's usage.
    Evaluation,
    /// Any other AI span.
    #[default]
    Generic,
}

impl SpanKind {
    /// Every kind, in declaration order.
    pub const ALL: [SpanKind; 20] = [
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
        SpanKind::Request,
        SpanKind::Evaluation,
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
            SpanKind::Request => "request",
            SpanKind::Evaluation => "evaluation",
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
            "request" => SpanKind::Request,
            "evaluation" | "evaluator" | "scorer" | "eval" => SpanKind::Evaluation,
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
    /// [`SpanRecord::billable`](crate::SpanRecord::billable), decided when it closes (see the usage invariant in the crate docs).
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
#[cfg(test)]
mod tests {
    use super::*;

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
}
