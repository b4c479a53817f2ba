//! Span macros that declare the standard fields of each kind, so users don't have to remember them.
//!
//! Each creates an `INFO` span with `aitrace.kind`, `gen_ai.operation.name` where the conventions
//! define one, the identifying value given as argument, and the fields usually filled later declared
//! as `Empty` (so `span.record("gen_ai.usage.input_tokens", 42)` works). Extra fields follow, in the
//! usual `tracing` syntax: `generation_span!("openai", "gpt-4o", customer = %id)`.
//! Each also takes an explicit parent first, as `tracing`'s macros do:
//! `generation_span!(parent: &caller, "openai", "gpt-4o")`.
//! The span *name* is fixed per kind (`chat`, `invoke_agent`, `execute_tool`, ...): stable names group
//! well in dashboards; the model, agent or tool is an attribute, and exporters build
//! `chat gpt-4o`-style names from it where the backend expects that.

/// A model call (the billable unit): `generation_span!(provider, model, extra fields...)`.
#[macro_export]
macro_rules! generation_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_generation_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_generation_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_generation_span {
    (($($parent:tt)*) $provider:expr, $model:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "chat",
            aitrace.kind = "model_generation",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = %$provider,
            gen_ai.request.model = %$model,
            gen_ai.response.model = $crate::__private::tracing::field::Empty,
            gen_ai.response.id = $crate::__private::tracing::field::Empty,
            gen_ai.response.finish_reasons = $crate::__private::tracing::field::Empty,
            gen_ai.response.time_to_first_chunk = $crate::__private::tracing::field::Empty,
            gen_ai.usage.input_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.output_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.cache_read.input_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.cache_write.input_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.cache_creation.input_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.reasoning.output_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.conversation.id = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// An embeddings call (billable): `embedding_span!(provider, model, extra fields...)`.
#[macro_export]
macro_rules! embedding_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_embedding_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_embedding_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_embedding_span {
    (($($parent:tt)*) $provider:expr, $model:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "embeddings",
            aitrace.kind = "embedding",
            gen_ai.operation.name = "embeddings",
            gen_ai.provider.name = %$provider,
            gen_ai.request.model = %$model,
            gen_ai.response.model = $crate::__private::tracing::field::Empty,
            gen_ai.usage.input_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.embeddings.dimension.count = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// An agent run: `agent_span!(agent_name, extra fields...)`.
#[macro_export]
macro_rules! agent_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_agent_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_agent_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_agent_span {
    (($($parent:tt)*) $agent:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "invoke_agent",
            aitrace.kind = "agent_run",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = %$agent,
            gen_ai.agent.id = $crate::__private::tracing::field::Empty,
            gen_ai.conversation.id = $crate::__private::tracing::field::Empty,
            user.id = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// A tool call: `tool_span!(tool_name, extra fields...)`.
#[macro_export]
macro_rules! tool_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_tool_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_tool_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_tool_span {
    (($($parent:tt)*) $tool:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "execute_tool",
            aitrace.kind = "tool_call",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %$tool,
            gen_ai.tool.call.id = $crate::__private::tracing::field::Empty,
            gen_ai.tool.type = $crate::__private::tracing::field::Empty,
            gen_ai.tool.call.arguments = $crate::__private::tracing::field::Empty,
            gen_ai.tool.call.result = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// A tool called through an MCP server: `mcp_tool_span!(tool_name, server, extra fields...)`.
#[macro_export]
macro_rules! mcp_tool_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_mcp_tool_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_mcp_tool_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_mcp_tool_span {
    (($($parent:tt)*) $tool:expr, $server:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "execute_tool",
            aitrace.kind = "mcp_tool_call",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %$tool,
            gen_ai.tool.type = "extension",
            mcp.server = %$server,
            gen_ai.tool.call.id = $crate::__private::tracing::field::Empty,
            gen_ai.tool.call.arguments = $crate::__private::tracing::field::Empty,
            gen_ai.tool.call.result = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// A retrieval: `retrieval_span!(data_source_id, extra fields...)`.
#[macro_export]
macro_rules! retrieval_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_retrieval_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_retrieval_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_retrieval_span {
    (($($parent:tt)*) $source:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "retrieval",
            aitrace.kind = "retrieval",
            gen_ai.operation.name = "retrieval",
            gen_ai.data_source.id = %$source,
            gen_ai.retrieval.query.text = $crate::__private::tracing::field::Empty,
            gen_ai.retrieval.top_k = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// A rerank call: `rerank_span!(provider, model, extra fields...)`.
#[macro_export]
macro_rules! rerank_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_rerank_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_rerank_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_rerank_span {
    (($($parent:tt)*) $provider:expr, $model:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "rerank",
            aitrace.kind = "rerank",
            gen_ai.provider.name = %$provider,
            gen_ai.request.model = %$model,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// One step of a multi-step generation: `step_span!(index, extra fields...)`. Not billable when a
/// generation encloses it; its usage is displayed, and billed on the generation.
#[macro_export]
macro_rules! step_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_step_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_step_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_step_span {
    (($($parent:tt)*) $index:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "step",
            aitrace.kind = "model_step",
            aitrace.step = $index,
            gen_ai.request.model = $crate::__private::tracing::field::Empty,
            gen_ai.provider.name = $crate::__private::tracing::field::Empty,
            gen_ai.usage.input_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.usage.output_tokens = $crate::__private::tracing::field::Empty,
            gen_ai.response.finish_reasons = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// One streamed chunk: `chunk_span!(extra fields...)`. Never billable.
#[macro_export]
macro_rules! chunk_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_chunk_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_chunk_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_chunk_span {
    (($($parent:tt)*) $($fields:tt)*) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "chunk",
            aitrace.kind = "model_chunk",
            $($fields)*
        )
    };
}

/// A workflow run: `workflow_span!(workflow_name, extra fields...)`.
#[macro_export]
macro_rules! workflow_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_workflow_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_workflow_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_workflow_span {
    (($($parent:tt)*) $name:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "invoke_workflow",
            aitrace.kind = "workflow_run",
            gen_ai.operation.name = "invoke_workflow",
            gen_ai.workflow.name = %$name,
            gen_ai.conversation.id = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// A step of a workflow: `workflow_step_span!(step_name, extra fields...)`.
#[macro_export]
macro_rules! workflow_step_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_workflow_step_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_workflow_step_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_workflow_step_span {
    (($($parent:tt)*) $name:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "workflow_step",
            aitrace.kind = "workflow_step",
            aitrace.step.name = %$name,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// A speech-to-text call: `stt_span!(provider, model, extra fields...)`.
#[macro_export]
macro_rules! stt_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_stt_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_stt_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_stt_span {
    (($($parent:tt)*) $provider:expr, $model:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "speech_to_text",
            aitrace.kind = "speech_to_text",
            gen_ai.provider.name = %$provider,
            gen_ai.request.model = %$model,
            aitrace.audio.duration_s = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// A text-to-speech call: `tts_span!(provider, model, extra fields...)`.
#[macro_export]
macro_rules! tts_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_tts_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_tts_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_tts_span {
    (($($parent:tt)*) $provider:expr, $model:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "text_to_speech",
            aitrace.kind = "text_to_speech",
            gen_ai.provider.name = %$provider,
            gen_ai.request.model = %$model,
            aitrace.tts.characters = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// One try of a fallback adapter: `attempt_span!(index, provider, model, extra fields...)`. Never
/// billable; the adapter re-stamps the enclosing span with the provider that answered.
#[macro_export]
macro_rules! attempt_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_attempt_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_attempt_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_attempt_span {
    (($($parent:tt)*) $index:expr, $provider:expr, $model:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "fallback_attempt",
            aitrace.kind = "fallback_attempt",
            aitrace.attempt = $index,
            gen_ai.provider.name = %$provider,
            gen_ai.request.model = %$model,
            aitrace.time_to_first_token_ms = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// A guardrail / moderation check: `guardrail_span!(name, extra fields...)`.
#[macro_export]
macro_rules! guardrail_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_guardrail_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_guardrail_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_guardrail_span {
    (($($parent:tt)*) $name:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "guardrail",
            aitrace.kind = "guardrail",
            aitrace.guardrail.name = %$name,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}

/// An evaluation run (an LLM-as-judge, a scorer): `scorer_span!(name, target, extra fields...)`,
/// where `target` is the [`ScoreTarget`](crate::ScoreTarget) it judges.
///
/// It runs as a trace of its own, wherever it is opened (even inside the request it judges), linked
/// to its target; the model calls inside are billed to it, never to the judged trace. A score
/// recorded on it with [`AiSpanExt::record_score`](crate::AiSpanExt::record_score) lands on the
/// target.
///
/// ```
/// use aitrace_core::{scorer_span, AiSpanExt, Score, ScoreTarget, TraceId};
/// let judged = ScoreTarget::trace(TraceId::random());
/// let judge = scorer_span!("helpfulness", judged);
/// let _ = judge.record_score(Score::numeric("helpfulness", 0.9).with_comment("on point"));
/// ```
#[macro_export]
macro_rules! scorer_span {
    (parent: $parent:expr $(, $($rest:tt)*)?) => {
        $crate::__aitrace_scorer_span!((parent: $parent,) $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::__aitrace_scorer_span!(() $($rest)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aitrace_scorer_span {
    (($($parent:tt)*) $name:expr, $target:expr $(, $($fields:tt)*)?) => {
        $crate::__private::tracing::info_span!(
            $($parent)*
            "evaluation",
            aitrace.kind = "evaluation",
            aitrace.evaluation.name = %$name,
            aitrace.evaluation.target = %$target,
            error.type = $crate::__private::tracing::field::Empty,
            $($($fields)*)?
        )
    };
}
