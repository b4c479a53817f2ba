//! Pure mapping: [`SpanRecord`] → one Braintrust log row (`InsertProjectLogsEvent`).
//!
//! Rules: the row id and `span_id` are our span id; `root_span_id` is the trace id (as Braintrust's own
//! OpenTelemetry ingestion does), so a trace whose root is still running, or that spans several
//! services, still groups as one; `span_parents` names the local parent. Only billable spans are `llm`
//! and only they carry token metrics (Braintrust sums token metrics over every non-score span,
//! whatever its type). LLM rows carry OpenAI-style messages so the Thread view shows the conversation,
//! tool calls included.

use std::borrow::Cow;

use aitrace_core::export::rfc3339;
use aitrace_core::{ScoreRecord, ScoreValue, SpanId, SpanKind, SpanRecord, Status};
use aitrace_exporter_kit::chat::openai_chat;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

/// The `span_attributes.type` of a record.
pub fn span_type(r: &SpanRecord) -> &'static str {
    match r.kind {
        SpanKind::ModelGeneration
        | SpanKind::Embedding
        | SpanKind::SpeechToText
        | SpanKind::TextToSpeech
        | SpanKind::ImageGeneration
            if r.billable =>
        {
            "llm"
        }
        SpanKind::ModelStep | SpanKind::Rerank if r.billable && r.usage.is_some() => "llm",
        SpanKind::ToolCall | SpanKind::McpToolCall => "tool",
        SpanKind::Guardrail => "function",
        // Braintrust's scorer spans: never summed into their trace's tokens (the judge's own
        // model calls below are, in the evaluation's trace).
        SpanKind::Evaluation => "score",
        _ => "task",
    }
}

fn secs(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// Messages as OpenAI chat messages (system instructions first); other values unchanged.
fn chat<'a>(v: &'a Value, system: Option<&Value>) -> Cow<'a, Value> {
    openai_chat(v, system).map_or(Cow::Borrowed(v), Cow::Owned)
}

/// One Braintrust log row for a record, serialized straight from it: the exporter writes each
/// row once, into the request body, without building a JSON tree first (building the tree and
/// writing it cost about four times as much). [`event`] gives the same row as a [`Value`].
#[derive(Debug)]
pub struct Row<'a> {
    record: &'a SpanRecord,
    ty: &'static str,
    name: String,
    input: Option<Cow<'a, Value>>,
    output: Option<Cow<'a, Value>>,
    metadata: Map<String, Value>,
    tags: Option<Vec<String>>,
}

impl<'a> Row<'a> {
    /// The row of `r`; `trace_tags` are the tags of the whole trace, put on its root row.
    pub fn new(r: &'a SpanRecord, trace_tags: &[String]) -> Self {
        let ty = span_type(r);
        let tool = r.tool.as_ref();
        let borrowed = |v: &'a Option<Value>| v.as_ref().map(Cow::Borrowed);
        let (input, output) = match r.kind {
            SpanKind::ToolCall | SpanKind::McpToolCall => (
                borrowed(tool.map_or(&None, |t| &t.arguments)).or_else(|| borrowed(&r.input)),
                borrowed(tool.map_or(&None, |t| &t.result)).or_else(|| borrowed(&r.output)),
            ),
            // Every row with messages shows them as a chat (Braintrust's Thread view), not only llm
            // rows: a step's messages are the same conversation.
            _ => (
                r.input
                    .as_ref()
                    .map(|v| chat(v, r.system_instructions.as_ref())),
                r.output.as_ref().map(|v| chat(v, None)),
            ),
        };
        Row {
            record: r,
            ty,
            name: row_name(r),
            input,
            output,
            metadata: metadata(r, ty == "llm"),
            tags: (r.is_local_root() && !trace_tags.is_empty()).then(|| trace_tags.to_vec()),
        }
    }

    /// The row's id (our span id): what Braintrust's `row_ids` acknowledges.
    pub fn id(&self) -> SpanId {
        self.record.span_id
    }
}

/// A row's name: its display name (`chat gpt-4o`), except a trace's root row, which names the trace
/// in Braintrust's logs and so takes the trace's name (the user's `set_trace_name`, the root's own
/// `aitrace.name`, else the agent or workflow it ran), as Langfuse's trace does.
fn row_name(r: &SpanRecord) -> String {
    if r.is_local_root() && r.request_span_id.is_none() {
        r.trace_name.clone().unwrap_or_else(|| r.what_ran())
    } else {
        r.display_name()
    }
}

/// `metadata`: the record's own metadata (keys under `braintrust.` reach only this exporter), then
/// model, provider and parameters, ids, finish reasons, the fallback attempt, agent and tool call
/// id; later keys win over the record's own.
fn metadata(r: &SpanRecord, billed: bool) -> Map<String, Value> {
    let mut metadata = r.metadata_for("braintrust");
    if let Some(m) = r.model() {
        metadata.insert("model".into(), json!(m));
    }
    if let Some(p) = &r.provider {
        metadata.insert("provider".into(), json!(p));
    }
    if !r.params.is_empty() {
        if let Ok(Value::Object(params)) = serde_json::to_value(&r.params) {
            metadata.extend(params);
        }
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
    if let Some(id) = r.tool.as_ref().and_then(|t| t.call_id.clone()) {
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
    if let (true, Some(parent)) = (r.parent_is_remote, r.parent_span_id) {
        // A continued distributed trace: the span of the caller, which is not a row here.
        metadata.insert("remote_parent_span_id".into(), json!(parent.to_string()));
    }
    if !r.scores.is_empty() {
        let all: Map<String, Value> = r
            .scores
            .iter()
            .map(|s| (s.score.name.clone(), score_details(s)))
            .collect();
        metadata.insert("scores".into(), Value::Object(all));
    }
    metadata.insert("aitrace_kind".into(), json!(r.kind.as_str()));
    if !r.attributes.is_empty() {
        metadata.insert("attributes".into(), Value::Object(r.attributes.clone()));
    }
    metadata
}

/// A score as Braintrust's `scores` take it: a number in 0..1 (booleans as 1 / 0). Labels and
/// numbers outside 0..1 have no place there; they are kept in the metadata instead
/// ([`score_details`]).
pub fn score_number(s: &ScoreRecord) -> Option<f64> {
    s.score
        .value
        .as_number()
        .filter(|v| (0.0..=1.0).contains(v))
}

/// Everything a score says, for the metadata (`metadata.scores.<name>` on a row, the feedback's
/// metadata): value or label, comment, source, config and score id, the evaluation that produced it.
pub fn score_details(s: &ScoreRecord) -> Value {
    let mut d = Map::new();
    match &s.score.value {
        ScoreValue::Numeric(v) => d.insert("value".into(), json!(v)),
        ScoreValue::Boolean(b) => d.insert("value".into(), json!(b)),
        ScoreValue::Categorical(l) => d.insert("label".into(), json!(l)),
    };
    if let Some(c) = &s.score.comment {
        d.insert("comment".into(), json!(c));
    }
    if let Some(source) = s.score.source {
        d.insert("source".into(), json!(source.as_str()));
    }
    if let Some(config) = &s.score.config_id {
        d.insert("config_id".into(), json!(config));
    }
    d.insert("score_id".into(), json!(s.id));
    if let Some((trace, span)) = s.evaluation {
        d.insert("evaluation_root_span_id".into(), json!(trace.to_string()));
        d.insert("evaluation_span_id".into(), json!(span.to_string()));
    }
    if !s.score.metadata.is_empty() {
        d.insert("metadata".into(), Value::Object(s.score.metadata.clone()));
    }
    Value::Object(d)
}

/// A row's `scores`: the scores recorded on it that Braintrust can hold (0..1).
fn row_scores(r: &SpanRecord) -> Option<Map<String, Value>> {
    let scores: Map<String, Value> = r
        .scores
        .iter()
        .filter_map(|s| score_number(s).map(|v| (s.score.name.clone(), json!(v))))
        .collect();
    (!scores.is_empty()).then_some(scores)
}

/// One item of `POST /v1/project_logs/{id}/feedback` (`FeedbackProjectLogsItem`) for the row
/// `row_id`: the score in `scores` when it fits 0..1, the comment, and the score's details in
/// `metadata` (a label or an out-of-range number lives only there). Source `external`.
pub fn feedback_item(s: &ScoreRecord, row_id: &str) -> Value {
    let mut item = json!({ "id": row_id, "source": "external" });
    if let Some(v) = score_number(s) {
        item["scores"] = json!({ s.score.name.clone(): v });
    }
    if let Some(c) = &s.score.comment {
        item["comment"] = json!(c);
    }
    let mut metadata = Map::new();
    metadata.insert("score_name".into(), json!(s.score.name));
    if let Value::Object(d) = score_details(s) {
        metadata.extend(d);
    }
    item["metadata"] = Value::Object(metadata);
    item
}

/// A `score` row of its own, for a score about a trace whose root row this exporter does not know
/// (sent by another process): in that trace (`root_span_id`), id and span id from the score's id
/// (sent again, it replaces itself), the score in `scores` when it fits, its details in metadata.
pub fn score_row(s: &ScoreRecord, trace: aitrace_core::TraceId) -> Value {
    let id = s.uuid();
    let mut row = json!({
        "id": id,
        "span_id": id,
        "root_span_id": trace.to_string(),
        "created": rfc3339(s.time_unix_nano),
        "span_attributes": { "name": s.score.name, "type": "score" },
        "metadata": { "scores": { s.score.name.clone(): score_details(s) } },
    });
    if let Some(v) = score_number(s) {
        row["scores"] = json!({ s.score.name.clone(): v });
    }
    row
}

/// `metrics`: start and end in unix seconds; token metrics, time to first token and cost only on
/// the row of the billed call (an `llm` row).
struct Metrics<'a> {
    record: &'a SpanRecord,
    billed: bool,
}

impl Serialize for Metrics<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("start", &secs(r.start_time_unix_nano))?;
        m.serialize_entry("end", &secs(r.end_time_unix_nano))?;
        if !self.billed {
            return m.end();
        }
        if let Some(u) = r.billable_usage() {
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
                    m.serialize_entry(k, &v)?;
                }
            }
        }
        if let Some(t) = r.time_to_first_token_s.filter(|t| t.is_finite()) {
            m.serialize_entry("time_to_first_token", &t)?;
        }
        if let Some(c) = r
            .cost
            .as_ref()
            .and_then(|c| c.total())
            .filter(|c| c.is_finite())
        {
            m.serialize_entry("estimated_cost", &c)?;
        }
        m.end()
    }
}

/// `span_attributes`.
struct SpanAttributes<'a> {
    name: &'a str,
    ty: &'static str,
}

impl Serialize for SpanAttributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", self.name)?;
        m.serialize_entry("type", self.ty)?;
        m.end()
    }
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &r.span_id)?;
        m.serialize_entry("span_id", &r.span_id)?;
        m.serialize_entry("root_span_id", &r.trace_id)?;
        if let Some(parent) = r.parent_span_id.filter(|_| !r.parent_is_remote) {
            m.serialize_entry("span_parents", &[parent])?;
        }
        m.serialize_entry("created", &rfc3339(r.start_time_unix_nano))?;
        m.serialize_entry(
            "span_attributes",
            &SpanAttributes {
                name: &self.name,
                ty: self.ty,
            },
        )?;
        if let Some(v) = &self.input {
            m.serialize_entry("input", v)?;
        }
        if let Some(v) = &self.output {
            m.serialize_entry("output", v)?;
        }
        m.serialize_entry(
            "metrics",
            &Metrics {
                record: r,
                billed: self.ty == "llm",
            },
        )?;
        m.serialize_entry("metadata", &self.metadata)?;
        if let Some(scores) = row_scores(r) {
            m.serialize_entry("scores", &scores)?;
        }
        if let Status::Error {
            message,
            error_type,
        } = &r.status
        {
            match (error_type, message.is_empty()) {
                (Some(t), false) => m.serialize_entry("error", &format!("{t}: {message}"))?,
                (Some(t), true) => m.serialize_entry("error", t)?,
                (None, _) => m.serialize_entry("error", message)?,
            }
        }
        if let Some(tags) = &self.tags {
            m.serialize_entry("tags", tags)?;
        }
        m.end()
    }
}

/// One complete row for `r` as JSON. `trace_tags` are the tags of the whole trace, put on its root
/// row.
pub fn event(r: &SpanRecord, trace_tags: &[String]) -> Value {
    serde_json::to_value(Row::new(r, trace_tags)).unwrap_or(Value::Null)
}

/// Rows for a batch of whole traces, with each row's position in the batch: each trace's tags are
/// merged onto its root row.
pub fn rows(batch: &[SpanRecord]) -> Vec<(usize, Row<'_>)> {
    let mut out = Vec::with_capacity(batch.len());
    for trace in aitrace_core::export::trace_views(batch) {
        let tags = trace.merged_tags();
        for (span, &i) in trace.spans.iter().zip(&trace.indices) {
            out.push((i, Row::new(span, &tags)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aitrace_core::{ChatMessage, Part, Usage};

    #[test]
    fn the_root_row_is_named_like_the_trace_and_the_others_by_display_name() {
        let mut root = SpanRecord::new("nightly-research", SpanKind::AgentRun);
        root.trace_name = Some("nightly-research".into());
        let mut chat = SpanRecord::new("chat", SpanKind::ModelGeneration);
        chat.request_model = Some("gpt-4o".into());
        chat.trace_id = root.trace_id;
        chat.parent_span_id = Some(root.span_id);
        chat.trace_name = root.trace_name.clone();
        assert_eq!(row_name(&root), "nightly-research");
        assert_eq!(row_name(&chat), "chat gpt-4o");
        // A top-level span of a request is not the trace's only root: its own name.
        let mut top = chat.clone();
        top.parent_span_id = None;
        top.request_span_id = Some(aitrace_core::SpanId::random());
        assert_eq!(row_name(&top), "chat gpt-4o");
    }

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
