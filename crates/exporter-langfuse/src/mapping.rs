//! Pure mapping: a record as the attributes Langfuse reads (its own `langfuse.*` dialect, `user.id`,
//! `session.id`) and nothing else, on the span shape of `aitrace_otel`. Langfuse copies every
//! attribute it does not consume into the observation's metadata, and takes a model (and prices it)
//! from any of several keys on any observation type; so the GenAI attributes other backends read are
//! not sent here, and only the observation that bills a call names a model. Trace-level fields are on
//! every span, as Langfuse v4 stores them per observation.
//!
//! Rules (from Langfuse's OTel ingestion): `langfuse.observation.type` is always set, so Langfuse never
//! guesses a type from a model attribute (its model-based fallback turns any span naming a model into a
//! costed generation); usage and cost only on billable spans; usage as Langfuse-native
//! `usage_details` JSON (input/output *excluding* cached and reasoning parts); trace name, user, session,
//! tags and trace metadata on every span of the trace.

use aitrace_core::export::{json_text, rfc3339, text_or_json, Trace};
use aitrace_core::{SpanKind, SpanRecord, Status, Usage};
use aitrace_exporter_kit::chat::openai_chat;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use serde_json::{json, Map, Value as Json};

/// What the whole trace says about itself, computed once per trace from its spans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceContext {
    /// The trace's name: the first [`SpanRecord::trace_name`] (the root's first), else what the root
    /// ran ([`SpanRecord::what_ran`]: the agent's or workflow's name, else its display name).
    pub name: Option<String>,
    /// The trace's user.
    pub user_id: Option<String>,
    /// The trace's session.
    pub session_id: Option<String>,
    /// Tags of every span of the trace, merged, first-seen order.
    pub tags: Vec<String>,
    /// The trace's metadata routed to Langfuse: what every span carries in
    /// [`SpanRecord::trace_metadata`] (the root's first), else the root's own metadata.
    pub metadata: Map<String, Json>,
    /// The root's input and output, shown on the trace.
    pub input: Option<Json>,
    /// The trace's output.
    pub output: Option<Json>,
}

impl TraceContext {
    /// Builds the context of one trace (or of the part of it in hand).
    pub fn of(trace: &Trace<'_>) -> Self {
        let root = trace.root();
        let mut ctx = TraceContext {
            name: root
                .into_iter()
                .chain(trace.spans.iter().copied())
                .find_map(|s| s.trace_name.clone())
                .or_else(|| root.map(SpanRecord::what_ran)),
            input: root.and_then(|r| r.input.clone()),
            output: root.and_then(|r| r.output.clone()),
            metadata: root
                .into_iter()
                .chain(trace.spans.iter().copied())
                .find(|s| !s.trace_metadata.is_empty())
                .map(|s| s.trace_metadata_for("langfuse"))
                .or_else(|| root.map(|r| r.metadata_for("langfuse")))
                .unwrap_or_default(),
            tags: trace.merged_tags(),
            ..TraceContext::default()
        };
        // The root's values first, then whatever a descendant set.
        let ordered = root
            .into_iter()
            .chain(trace.spans.iter().copied().filter(|s| !s.is_local_root()));
        for s in ordered {
            if ctx.user_id.is_none() {
                ctx.user_id.clone_from(&s.user_id);
            }
            if ctx.session_id.is_none() {
                ctx.session_id.clone_from(&s.session_id);
            }
        }
        ctx
    }
}

/// Release information sent on every span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    /// `langfuse.environment` (validated: lowercase `[a-z0-9-_]`, at most 40 chars).
    pub environment: Option<String>,
    /// `langfuse.release`.
    pub release: Option<String>,
    /// `langfuse.version`.
    pub version: Option<String>,
}

/// The Langfuse observation type of a record. Every non-billable span is a `span`: that is what keeps
/// a wrapper or step that names a model from being costed a second time.
pub fn observation_type(r: &SpanRecord) -> &'static str {
    match r.kind {
        SpanKind::ModelGeneration
        | SpanKind::SpeechToText
        | SpanKind::TextToSpeech
        | SpanKind::ImageGeneration
            if r.billable =>
        {
            "generation"
        }
        // A rerank billed in tokens is a costed call; without usage it is what it does: retrieval.
        SpanKind::Rerank if r.billable && r.usage.is_some() => "generation",
        SpanKind::Embedding if r.billable => "embedding",
        SpanKind::AgentRun => "agent",
        SpanKind::ToolCall | SpanKind::McpToolCall => "tool",
        SpanKind::Retrieval | SpanKind::Rerank => "retriever",
        SpanKind::Guardrail => "guardrail",
        SpanKind::WorkflowRun | SpanKind::WorkflowStep => "chain",
        SpanKind::ModelStep if r.billable => "generation",
        _ => "span",
    }
}

/// Usage in Langfuse's own keys. Langfuse treats `input`/`output` as the *uncached, non-reasoning*
/// parts and adds the detail keys on top, while aitrace (like the OTel conventions) counts cached
/// tokens inside `input_tokens`: so they are subtracted here, and `total` stays the all-inclusive sum.
pub fn usage_details(u: &Usage) -> Map<String, Json> {
    let mut m = Map::new();
    let cache_read = u.cache_read_input_tokens.unwrap_or(0);
    let cache_creation = u.cache_creation_input_tokens.unwrap_or(0);
    let reasoning = u.reasoning_tokens.unwrap_or(0);
    let audio_out = u.output_audio_tokens.unwrap_or(0);
    if let Some(i) = u.input_tokens {
        m.insert(
            "input".into(),
            json!(i.saturating_sub(cache_read.saturating_add(cache_creation))),
        );
    }
    if let Some(o) = u.output_tokens {
        m.insert(
            "output".into(),
            json!(o.saturating_sub(reasoning.saturating_add(audio_out))),
        );
    }
    if let Some(t) = u.total() {
        m.insert("total".into(), json!(t));
    }
    for (k, v) in [
        ("input_cached_tokens", u.cache_read_input_tokens),
        ("input_cache_creation", u.cache_creation_input_tokens),
        ("output_reasoning_tokens", u.reasoning_tokens),
        ("input_audio_tokens", u.input_audio_tokens),
        ("output_audio_tokens", u.output_audio_tokens),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    m
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into().into())
}

fn metadata_value(v: &Json) -> Value {
    match v {
        Json::String(x) => s(x.clone()),
        Json::Number(n) if n.is_i64() => Value::I64(n.as_i64().unwrap_or_default()),
        other => s(json_text(other)),
    }
}

/// Input/output as Langfuse renders it: GenAI messages become OpenAI-style chat messages (with the
/// system instructions as a leading system message); any other value is sent as it is.
fn chat_json(v: &Json, system: Option<&Json>) -> String {
    openai_chat(v, system).map_or_else(|| text_or_json(v), |m| json_text(&m))
}

/// The Langfuse dialect of the OTel exporter: every span of a trace with Langfuse's attributes,
/// trace-level fields from the whole trace.
#[derive(Debug, Clone, Default)]
pub struct LangfuseDialect {
    /// Environment and release every trace is tagged with.
    pub deployment: Deployment,
}

impl aitrace_otel::TraceDialect for LangfuseDialect {
    fn trace_attributes(&self, trace: &Trace<'_>) -> Vec<Vec<KeyValue>> {
        let ctx = TraceContext::of(trace);
        trace
            .spans
            .iter()
            .map(|r| langfuse_attributes(r, &ctx, &self.deployment))
            .collect()
    }
}

/// The Langfuse attributes of one span, given its trace's context.
pub fn langfuse_attributes(
    r: &SpanRecord,
    trace: &TraceContext,
    deployment: &Deployment,
) -> Vec<KeyValue> {
    let mut a = Vec::with_capacity(24);
    let ty = observation_type(r);
    a.push(KeyValue::new("langfuse.observation.type", ty));
    let costed = matches!(ty, "generation" | "embedding");
    if costed {
        if let Some(model) = r.model() {
            a.push(KeyValue::new(
                "langfuse.observation.model.name",
                model.to_string(),
            ));
        }
        if !r.params.is_empty() {
            if let Ok(p) = serde_json::to_string(&r.params) {
                a.push(KeyValue::new("langfuse.observation.model.parameters", p));
            }
        }
        if let Some(u) = r.billable_usage() {
            a.push(KeyValue::new(
                "langfuse.observation.usage_details",
                json_text(&Json::Object(usage_details(u))),
            ));
        }
        if let Some(cost) = r.cost.as_ref().filter(|_| r.billable) {
            let mut m = Map::new();
            for (k, v) in [
                ("input", cost.input),
                ("output", cost.output),
                ("input_cached_tokens", cost.cache_read_input),
                ("input_cache_creation", cost.cache_creation_input),
                ("output_reasoning_tokens", cost.reasoning),
                ("total", cost.total()),
            ] {
                if let Some(v) = v.filter(|v| v.is_finite() && *v >= 0.0) {
                    m.insert(k.into(), json!(v));
                }
            }
            if !m.is_empty() {
                a.push(KeyValue::new(
                    "langfuse.observation.cost_details",
                    json_text(&Json::Object(m)),
                ));
            }
        }
        if let Some(ttft) = r
            .time_to_first_token_s
            .filter(|t| t.is_finite() && *t >= 0.0)
        {
            let at = r.start_time_unix_nano.saturating_add((ttft * 1e9) as u64);
            a.push(KeyValue::new(
                "langfuse.observation.completion_start_time",
                rfc3339(at),
            ));
        }
    }
    // Input/output: chat messages stay messages (Langfuse renders them as a chat); tool calls show
    // their arguments and result.
    let tool = r.tool.as_ref();
    let query = (r.kind == SpanKind::Retrieval)
        .then(|| r.attributes.get("gen_ai.retrieval.query.text"))
        .flatten();
    let input = r
        .input
        .as_ref()
        .or(tool.and_then(|t| t.arguments.as_ref()))
        .or(query);
    let output = r.output.as_ref().or(tool.and_then(|t| t.result.as_ref()));
    if let Some(v) = input {
        a.push(KeyValue::new(
            "langfuse.observation.input",
            chat_json(v, r.system_instructions.as_ref()),
        ));
    }
    if let Some(v) = output {
        a.push(KeyValue::new(
            "langfuse.observation.output",
            chat_json(v, None),
        ));
    }
    match &r.status {
        Status::Error {
            message,
            error_type,
        } => {
            a.push(KeyValue::new("langfuse.observation.level", "ERROR"));
            let msg = match (error_type, message.is_empty()) {
                (Some(t), false) => format!("{t}: {message}"),
                (Some(t), true) => t.clone(),
                (None, _) => message.clone(),
            };
            a.push(KeyValue::new("langfuse.observation.status_message", msg));
        }
        _ if r.finish_reasons.iter().any(|f| f == "length") => {
            a.push(KeyValue::new("langfuse.observation.level", "WARNING"));
            a.push(KeyValue::new(
                "langfuse.observation.status_message",
                "generation stopped at the token limit (finish_reason=length)",
            ));
        }
        _ => {}
    }
    let mut metadata = r.metadata_for("langfuse");
    let prompt_name = metadata.remove("promptName");
    let prompt_version = metadata.remove("promptVersion");
    if ty == "generation" {
        if let (Some(name), Some(version)) = (&prompt_name, &prompt_version) {
            a.push(KeyValue::new(
                "langfuse.observation.prompt.name",
                text_or_json(name),
            ));
            if let Some(v) = version
                .as_i64()
                .or_else(|| version.as_str().and_then(|v| v.parse().ok()))
            {
                a.push(KeyValue::new("langfuse.observation.prompt.version", v));
            }
        }
    }
    if let Some(attempt) = r.attempt {
        metadata.insert("fallback_attempt".into(), json!(attempt));
    }
    // The model a step or attempt tried stays visible, as metadata: a model key would make Langfuse
    // price this observation on top of the generation that bills the call.
    if !costed {
        if let Some(model) = r.model() {
            metadata.insert("model".into(), json!(model));
        }
    }
    if let Some(provider) = &r.provider {
        metadata.insert("provider".into(), json!(provider));
    }
    if costed && !r.finish_reasons.is_empty() {
        metadata.insert("finish_reasons".into(), json!(r.finish_reasons));
    }
    if r.kind == SpanKind::Embedding {
        if let Some(dim) = r.attributes.get("gen_ai.embeddings.dimension.count") {
            metadata.insert("dimensions".into(), dim.clone());
        }
        if let Some(input) = &r.input {
            metadata.insert(
                "input_count".into(),
                json!(input.as_array().map_or(1, Vec::len)),
            );
        }
    }
    if !r.billable {
        if let (Some(u), true) = (
            &r.usage,
            matches!(
                r.kind,
                SpanKind::ModelStep | SpanKind::ModelChunk | SpanKind::ModelGeneration
            ),
        ) {
            // Display only: Langfuse never sums metadata.
            metadata.insert("usage_not_billed_here".into(), json!(usage_details(u)));
        }
    }
    for (k, v) in &metadata {
        // Shown on the trace already: sent once.
        if trace.metadata.get(k) == Some(v) {
            continue;
        }
        a.push(KeyValue::new(
            format!("langfuse.observation.metadata.{k}"),
            metadata_value(v),
        ));
    }
    // Trace level, on every span (Langfuse v4 filters and aggregates per observation).
    if let Some(name) = &trace.name {
        a.push(KeyValue::new("langfuse.trace.name", name.clone()));
    }
    if let Some(u) = &trace.user_id {
        a.push(KeyValue::new("user.id", u.clone()));
    }
    if let Some(sid) = &trace.session_id {
        a.push(KeyValue::new("session.id", sid.clone()));
    }
    if !trace.tags.is_empty() {
        a.push(KeyValue::new(
            "langfuse.trace.tags",
            Value::Array(Array::String(
                trace
                    .tags
                    .iter()
                    .map(|t| StringValue::from(t.clone()))
                    .collect(),
            )),
        ));
    }
    for (k, v) in &trace.metadata {
        if k != "promptName" && k != "promptVersion" {
            a.push(KeyValue::new(
                format!("langfuse.trace.metadata.{k}"),
                metadata_value(v),
            ));
        }
    }
    if r.is_local_root() {
        // As Langfuse's SDKs mark the first span of the application in a trace (it matters when the
        // parent is remote).
        a.push(KeyValue::new("langfuse.internal.is_app_root", true));
        if let Some(v) = &trace.input {
            a.push(KeyValue::new("langfuse.trace.input", text_or_json(v)));
        }
        if let Some(v) = &trace.output {
            a.push(KeyValue::new("langfuse.trace.output", text_or_json(v)));
        }
    }
    for (k, v) in [
        ("langfuse.environment", &deployment.environment),
        ("langfuse.release", &deployment.release),
        ("langfuse.version", &deployment.version),
    ] {
        if let Some(v) = v {
            a.push(KeyValue::new(k, v.clone()));
        }
    }
    a
}

/// The body of `POST /api/public/scores` (`CreateScoreRequest`) for a score: its id (a score sent
/// again overwrites), `traceId` and `observationId` (our hex ids, which are Langfuse's) or
/// `sessionId`, `dataType` NUMERIC / BOOLEAN (1 / 0) / CATEGORICAL (the label), comment, config id,
/// the deployment's environment, and metadata: the score's own plus `source` and the evaluation's
/// trace that produced it.
pub fn score_body(s: &aitrace_core::ScoreRecord, deployment: &Deployment) -> Json {
    use aitrace_core::{ScoreTarget, ScoreValue};
    let (value, data_type) = match &s.score.value {
        ScoreValue::Numeric(v) => (json!(v), "NUMERIC"),
        ScoreValue::Boolean(b) => (json!(if *b { 1 } else { 0 }), "BOOLEAN"),
        ScoreValue::Categorical(label) => (json!(label), "CATEGORICAL"),
    };
    let mut body = json!({
        "id": s.id,
        "name": s.score.name,
        "value": value,
        "dataType": data_type,
    });
    match &s.target {
        ScoreTarget::Trace { trace_id } => body["traceId"] = json!(trace_id.to_string()),
        ScoreTarget::Span { trace_id, span_id } => {
            body["traceId"] = json!(trace_id.to_string());
            body["observationId"] = json!(span_id.to_string());
        }
        ScoreTarget::Session { session_id } => body["sessionId"] = json!(session_id),
    }
    if let Some(c) = &s.score.comment {
        body["comment"] = json!(c);
    }
    if let Some(config) = &s.score.config_id {
        body["configId"] = json!(config);
    }
    if let Some(env) = &deployment.environment {
        body["environment"] = json!(env);
    }
    let mut metadata = s.score.metadata.clone();
    if let Some(source) = s.score.source {
        metadata.insert("source".into(), json!(source.as_str()));
    }
    if let Some((trace, span)) = s.evaluation {
        metadata.insert("evaluation_trace_id".into(), json!(trace.to_string()));
        metadata.insert("evaluation_observation_id".into(), json!(span.to_string()));
    }
    if !metadata.is_empty() {
        body["metadata"] = Json::Object(metadata);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_details_exclude_cached_and_reasoning_parts() {
        let u = Usage::new(1000, 200)
            .with_cache_read(600)
            .with_cache_creation(100)
            .with_reasoning(50);
        let d = usage_details(&u);
        assert_eq!(d["input"], 300);
        assert_eq!(d["output"], 150);
        assert_eq!(d["total"], 1200);
        assert_eq!(d["input_cached_tokens"], 600);
        assert_eq!(d["input_cache_creation"], 100);
        assert_eq!(d["output_reasoning_tokens"], 50);
        // What Langfuse adds back up equals the true usage.
        let sum: u64 = ["input", "input_cached_tokens", "input_cache_creation"]
            .iter()
            .map(|k| d[*k].as_u64().unwrap())
            .sum();
        assert_eq!(sum, 1000);
    }

    #[test]
    fn non_billable_spans_are_plain_spans() {
        let mut r = SpanRecord::new("chat", SpanKind::ModelGeneration);
        r.request_model = Some("gpt-4o".into());
        assert_eq!(
            observation_type(&r),
            "span",
            "a non-billable generation (wrapper) is not costed"
        );
        r.billable = true;
        assert_eq!(observation_type(&r), "generation");
        for (kind, ty) in [
            (SpanKind::AgentRun, "agent"),
            (SpanKind::ToolCall, "tool"),
            (SpanKind::McpToolCall, "tool"),
            (SpanKind::Retrieval, "retriever"),
            (SpanKind::Rerank, "retriever"),
            (SpanKind::Guardrail, "guardrail"),
            (SpanKind::WorkflowRun, "chain"),
            (SpanKind::WorkflowStep, "chain"),
            (SpanKind::ModelStep, "span"),
            (SpanKind::ModelChunk, "span"),
            (SpanKind::FallbackAttempt, "span"),
            (SpanKind::Generic, "span"),
        ] {
            assert_eq!(
                observation_type(&SpanRecord::new("x", kind)),
                ty,
                "{kind:?}"
            );
        }
    }
}
