//! Pure mapping: [`SpanRecord`] → one Braintrust log row (`InsertProjectLogsEvent`).
//!
//! Rules: the row id and `span_id` are our span id; `root_span_id` is the trace id (as Braintrust's own
//! OpenTelemetry ingestion does), so a trace whose root is still running, or that spans several
//! services, still groups as one; `span_parents` names the local parent. Only billable spans are `llm`
//! and only they carry token metrics (Braintrust sums token metrics over every non-score span,
//! whatever its type). LLM rows carry OpenAI-style messages so the Thread view shows the conversation,
//! tool calls included.

use aitrace_core::{
    messages_from_value, rfc3339, to_openai_messages, ChatMessage, SpanKind, SpanRecord, Status,
};
use serde_json::{json, Map, Value};

/// The `span_attributes.type` of a record.
pub fn span_type(r: &SpanRecord) -> &'static str {
    match r.kind {
        SpanKind::ModelGeneration
        | SpanKind::Embedding
        | SpanKind::SpeechToText
        | SpanKind::TextToSpeech
            if r.billable =>
        {
            "llm"
        }
        SpanKind::ModelStep if r.billable => "llm",
        SpanKind::ToolCall | SpanKind::McpToolCall => "tool",
        SpanKind::Guardrail => "function",
        _ => "task",
    }
}

fn secs(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// Messages as OpenAI chat messages (system instructions first); other values unchanged.
fn chat(v: &Value, system: Option<&Value>) -> Value {
    match messages_from_value(v) {
        Some(mut messages) => {
            if let Some(parts) = system.and_then(|s| serde_json::from_value(s.clone()).ok()) {
                messages.insert(0, ChatMessage::new("system", parts));
            }
            to_openai_messages(&messages)
        }
        None => v.clone(),
    }
}

/// One complete row for `r`. `trace_tags` are the tags of the whole trace, put on its root row.
pub fn event(r: &SpanRecord, trace_tags: &[String]) -> Value {
    let ty = span_type(r);
    let span_id = r.span_id.to_string();
    let mut e = Map::new();
    e.insert("id".into(), json!(span_id));
    e.insert("span_id".into(), json!(span_id));
    e.insert("root_span_id".into(), json!(r.trace_id.to_string()));
    if let Some(parent) = r.parent_span_id.filter(|_| !r.parent_is_remote) {
        e.insert("span_parents".into(), json!([parent.to_string()]));
    }
    e.insert("created".into(), json!(rfc3339(r.start_time_unix_nano)));
    e.insert(
        "span_attributes".into(),
        json!({"name": aitrace_otel::mapping::span_name(r), "type": ty}),
    );

    let tool = r.tool.as_ref();
    let (input, output) = match r.kind {
        SpanKind::ToolCall | SpanKind::McpToolCall => (
            tool.and_then(|t| t.arguments.clone())
                .or_else(|| r.input.clone()),
            tool.and_then(|t| t.result.clone())
                .or_else(|| r.output.clone()),
        ),
        _ if ty == "llm" => (
            r.input
                .as_ref()
                .map(|v| chat(v, r.system_instructions.as_ref())),
            r.output.as_ref().map(|v| chat(v, None)),
        ),
        _ => (r.input.clone(), r.output.clone()),
    };
    if let Some(v) = input {
        e.insert("input".into(), v);
    }
    if let Some(v) = output {
        e.insert("output".into(), v);
    }

    let mut metrics = Map::new();
    metrics.insert("start".into(), json!(secs(r.start_time_unix_nano)));
    metrics.insert("end".into(), json!(secs(r.end_time_unix_nano)));
    // Token metrics and cost only on the row of the billed call (an `llm` row).
    let billed = ty == "llm";
    if let Some(u) = r.billable_usage().filter(|_| billed) {
        for (k, v) in [
            ("prompt_tokens", u.input_tokens),
            ("completion_tokens", u.output_tokens),
            ("tokens", u.total()),
            ("prompt_cached_tokens", u.cache_read_input_tokens),
            (
                "prompt_cache_creation_tokens",
                u.cache_creation_input_tokens,
            ),
            ("completion_reasoning_tokens", u.reasoning_tokens),
        ] {
            if let Some(v) = v {
                metrics.insert(k.into(), json!(v));
            }
        }
    }
    if billed {
        if let Some(t) = r.time_to_first_token_s.filter(|t| t.is_finite()) {
            metrics.insert("time_to_first_token".into(), json!(t));
        }
        if let Some(c) = r
            .cost
            .as_ref()
            .and_then(|c| c.total())
            .filter(|c| c.is_finite())
        {
            metrics.insert("estimated_cost".into(), json!(c));
        }
    }
    e.insert("metrics".into(), Value::Object(metrics));

    let mut metadata = r.metadata_for("braintrust");
    if let Some(m) = r.model() {
        metadata.insert("model".into(), json!(m));
    }
    if let Some(p) = &r.provider {
        metadata.insert("provider".into(), json!(p));
    }
    if let Ok(Value::Object(params)) = serde_json::to_value(&r.params) {
        metadata.extend(params);
    }
    for (k, v) in [("user_id", &r.user_id), ("session_id", &r.session_id)] {
        if let Some(v) = v {
            metadata.insert(k.into(), json!(v));
        }
    }
    if !r.finish_reasons.is_empty() {
        metadata.insert("finish_reasons".into(), json!(r.finish_reasons));
    }
    if let Some(a) = r.attempt {
        metadata.insert("fallback_attempt".into(), json!(a));
    }
    if let Some(agent) = r.agent.as_ref().and_then(|a| a.name.clone()) {
        metadata.insert("agent".into(), json!(agent));
    }
    if let Some(id) = tool.and_then(|t| t.call_id.clone()) {
        metadata.insert("tool_call_id".into(), json!(id));
    }
    if !billed {
        if let Some(u) = &r.usage {
            // Display only: metadata is never summed.
            metadata.insert(
                "usage_not_billed_here".into(),
                serde_json::to_value(u).unwrap_or(Value::Null),
            );
        }
    }
    metadata.insert("aitrace_kind".into(), json!(r.kind.as_str()));
    if !r.attributes.is_empty() {
        metadata.insert("attributes".into(), Value::Object(r.attributes.clone()));
    }
    e.insert("metadata".into(), Value::Object(metadata));

    if let Status::Error {
        message,
        error_type,
    } = &r.status
    {
        let text = match (error_type, message.is_empty()) {
            (Some(t), false) => format!("{t}: {message}"),
            (Some(t), true) => t.clone(),
            (None, _) => message.clone(),
        };
        e.insert("error".into(), json!(text));
    }
    if r.is_local_root() && !trace_tags.is_empty() {
        e.insert("tags".into(), json!(trace_tags));
    }
    Value::Object(e)
}

/// Rows for a batch of whole traces, with each row's position in the batch: each trace's tags are
/// merged onto its root row.
pub fn events(batch: &[SpanRecord]) -> Vec<(usize, Value)> {
    aitrace_core::trace_views(batch)
        .iter()
        .flat_map(|trace| {
            let tags = trace.merged_tags();
            trace
                .spans
                .iter()
                .zip(&trace.indices)
                .map(|(s, &i)| (i, event(s, &tags)))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aitrace_core::{Part, Usage};

    #[test]
    fn types_follow_billing_not_just_kind() {
        let mut g = SpanRecord::new("chat", SpanKind::ModelGeneration);
        assert_eq!(
            span_type(&g),
            "task",
            "a wrapper generation is not an llm row"
        );
        g.billable = true;
        assert_eq!(span_type(&g), "llm");
        for (k, t) in [
            (SpanKind::AgentRun, "task"),
            (SpanKind::WorkflowRun, "task"),
            (SpanKind::WorkflowStep, "task"),
            (SpanKind::ModelStep, "task"),
            (SpanKind::ModelChunk, "task"),
            (SpanKind::FallbackAttempt, "task"),
            (SpanKind::Generic, "task"),
            (SpanKind::ToolCall, "tool"),
            (SpanKind::McpToolCall, "tool"),
            (SpanKind::Guardrail, "function"),
        ] {
            assert_eq!(span_type(&SpanRecord::new("x", k)), t, "{k:?}");
        }
    }

    #[test]
    fn llm_rows_carry_openai_messages_with_tool_calls() {
        let mut g = SpanRecord::new("chat", SpanKind::ModelGeneration);
        g.billable = true;
        g.usage = Some(Usage::new(100, 20).with_cache_read(60));
        g.system_instructions = Some(json!([{"type": "text", "content": "be brief"}]));
        g.input = Some(aitrace_core::messages_to_value(&[
            ChatMessage::user("weather?"),
            ChatMessage::new(
                "assistant",
                vec![Part::tool_call("c1", "weather", json!({"city": "Paris"}))],
            ),
            ChatMessage::tool_result("c1", json!("rainy")),
        ]));
        let e = event(&g, &[]);
        assert_eq!(
            e["input"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            e["input"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(
            e["input"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "rainy"})
        );
        assert_eq!(
            e["metrics"]["prompt_tokens"], 100,
            "cached tokens stay inside prompt_tokens"
        );
        assert_eq!(e["metrics"]["prompt_cached_tokens"], 60);
        assert_eq!(e["metrics"]["tokens"], 120);
    }
}
