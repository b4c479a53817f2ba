//! The vendors' own score routes the presets add beside OTLP: LangSmith feedback and MLflow
//! assessments. Pure body builders and the routes that send them.

use std::time::Duration;

use aitrace_core::{ExportError, ScoreRecord, ScoreSource, ScoreTargets, SpanId, TraceId};
use aitrace_exporter_kit::rest::{JsonClient, RecentRoots};
use aitrace_otel::ScoreRoute;
use serde_json::{json, Map, Value as Json};

/// How long a score request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The run id LangSmith's OTel ingestion gives a span: its 8 bytes, zero-padded, as a UUID (the
/// LangSmith SDKs' own conversion).
pub fn langsmith_run_id(span: SpanId) -> String {
    let hex = span.to_string();
    format!("00000000-0000-0000-{}-{}", &hex[..4], &hex[4..])
}

/// The trace id LangSmith gives an OTel trace: its 16 bytes as a UUID.
pub fn langsmith_trace_id(trace: TraceId) -> String {
    let h = trace.to_string();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The body of LangSmith's `POST /api/v1/feedback`: `id` (the score's, as a UUID: sent again, the
/// same feedback), `key`, `score` (numbers; booleans as 1 / 0), `value` (a label), `comment`,
/// `trace_id`, `run_id` (the span, or the trace's root run when this exporter sent the trace), and
/// `feedback_source` (`model` for a judge's, else `api`) with the score's source and metadata.
pub fn langsmith_feedback(s: &ScoreRecord, root: Option<SpanId>) -> Option<Json> {
    let trace = s.target.trace_id()?;
    let mut body = json!({
        "id": s.uuid(),
        "key": s.score.name,
        "trace_id": langsmith_trace_id(trace),
    });
    if let Some(run) = s.target.span_id().or(root) {
        body["run_id"] = json!(langsmith_run_id(run));
    }
    if let Some(v) = s.score.value.as_number() {
        body["score"] = json!(v);
    }
    if let aitrace_core::ScoreValue::Categorical(label) = &s.score.value {
        body["value"] = json!(label);
    }
    if let Some(c) = &s.score.comment {
        body["comment"] = json!(c);
    }
    let mut metadata = s.score.metadata.clone();
    if let Some(source) = s.score.source {
        metadata.insert("source".into(), json!(source.as_str()));
    }
    if let Some((trace, span)) = s.evaluation {
        metadata.insert("evaluation_trace_id".into(), json!(trace.to_string()));
        metadata.insert("evaluation_span_id".into(), json!(span.to_string()));
    }
    let kind = if s.score.source == Some(ScoreSource::Model) {
        "model"
    } else {
        "api"
    };
    body["feedback_source"] = json!({ "type": kind, "metadata": metadata });
    Some(body)
}

/// LangSmith's feedback route (`x-api-key`).
#[derive(Debug)]
pub(crate) struct LangSmithFeedback {
    pub(crate) url: String,
    pub(crate) client: JsonClient,
}

impl LangSmithFeedback {
    pub(crate) fn new(endpoint: &str, api_key: &str) -> Result<Self, String> {
        Ok(LangSmithFeedback {
            url: format!("{}/api/v1/feedback", endpoint.trim_end_matches('/')),
            client: JsonClient::new(
                TIMEOUT,
                [("x-api-key".to_string(), api_key.to_string())],
                "LANGSMITH_API_KEY",
            )?,
        })
    }
}

impl ScoreRoute for LangSmithFeedback {
    /// Runs and traces; LangSmith's threads take no feedback.
    fn targets(&self) -> ScoreTargets {
        ScoreTargets::TRACES_AND_SPANS
    }

    /// LangSmith shows feedback on its runs: score spans would be runs of their own.
    fn keeps_score_spans(&self) -> bool {
        false
    }

    fn send(&self, scores: &[&ScoreRecord], roots: &RecentRoots) -> Result<(), ExportError> {
        for s in scores {
            let root = s.target.trace_id().and_then(|t| roots.root(t));
            if let Some(body) = langsmith_feedback(s, root) {
                self.client.post(&self.url, body.to_string().into_bytes())?;
            }
        }
        Ok(())
    }
}

/// MLflow's trace id of an OTel trace: `tr-` and the hex trace id.
pub fn mlflow_trace_id(trace: TraceId) -> String {
    format!("tr-{trace}")
}

/// MLflow's assessment source type: `HUMAN`, `LLM_JUDGE`, `CODE`.
pub fn mlflow_source_type(s: &ScoreRecord) -> &'static str {
    match s.score.source {
        Some(ScoreSource::Model) => "LLM_JUDGE",
        Some(ScoreSource::Code) => "CODE",
        Some(ScoreSource::Human) | None => "HUMAN",
    }
}

/// The body of MLflow's `POST /api/3.0/mlflow/traces/{trace_id}/assessments` (`CreateAssessment`):
/// a feedback assessment named after the score, on the trace (and span), its value (number, boolean or
/// label), the comment as its rationale, metadata as text (MLflow's map holds strings) with the score's
/// id, source `aitrace`.
pub fn mlflow_assessment(s: &ScoreRecord) -> Option<Json> {
    let trace = s.target.trace_id()?;
    let value = match &s.score.value {
        aitrace_core::ScoreValue::Numeric(v) => json!(v),
        aitrace_core::ScoreValue::Boolean(b) => json!(b),
        aitrace_core::ScoreValue::Categorical(l) => json!(l),
    };
    let mut metadata: Map<String, Json> = s
        .score
        .metadata
        .iter()
        .map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k.clone(), json!(text))
        })
        .collect();
    metadata.insert("aitrace.score_id".into(), json!(s.id));
    if let Some((trace, span)) = s.evaluation {
        metadata.insert(
            "aitrace.evaluation_trace_id".into(),
            json!(mlflow_trace_id(trace)),
        );
        metadata.insert("aitrace.evaluation_span_id".into(), json!(span.to_string()));
    }
    let mut assessment = json!({
        "assessment_name": s.score.name,
        "trace_id": mlflow_trace_id(trace),
        "source": { "source_type": mlflow_source_type(s), "source_id": "aitrace" },
        "feedback": { "value": value },
        "metadata": metadata,
    });
    if let Some(span) = s.target.span_id() {
        assessment["span_id"] = json!(span.to_string());
    }
    if let Some(c) = &s.score.comment {
        assessment["rationale"] = json!(c);
    }
    Some(json!({ "assessment": assessment }))
}

/// MLflow's assessments route.
#[derive(Debug)]
pub(crate) struct MlflowAssessments {
    pub(crate) base: String,
    pub(crate) client: JsonClient,
}

impl ScoreRoute for MlflowAssessments {
    /// Traces and their spans; MLflow sessions take no assessments.
    fn targets(&self) -> ScoreTargets {
        ScoreTargets::TRACES_AND_SPANS
    }

    /// MLflow lists assessments on the trace: score spans would be spans of it.
    fn keeps_score_spans(&self) -> bool {
        false
    }

    fn send(&self, scores: &[&ScoreRecord], _roots: &RecentRoots) -> Result<(), ExportError> {
        for s in scores {
            let (Some(trace), Some(body)) = (s.target.trace_id(), mlflow_assessment(s)) else {
                continue;
            };
            let url = format!(
                "{}/api/3.0/mlflow/traces/{}/assessments",
                self.base,
                mlflow_trace_id(trace)
            );
            self.client.post(&url, body.to_string().into_bytes())?;
        }
        Ok(())
    }
}

/// The scores as OTLP log records, the GenAI conventions' `gen_ai.evaluation.result` events, the
/// way PostHog's logs intake turns them into `$ai_evaluation` events: `event_name`, the trace and
/// (for a span's score) the span ids, the time, and the event's attributes (name, score value and
/// label, explanation, aitrace's score id and source).
pub fn evaluation_logs(scores: &[&ScoreRecord]) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message;
    let kv = |k: &str, v: Any| KeyValue {
        key: k.to_string(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    let records = scores
        .iter()
        .filter_map(|s| {
            let trace = s.target.trace_id()?;
            let mut attributes = vec![kv(
                "gen_ai.evaluation.name",
                Any::StringValue(s.score.name.clone()),
            )];
            if let Some(v) = s.score.value.as_number() {
                attributes.push(kv("gen_ai.evaluation.score.value", Any::DoubleValue(v)));
            }
            if let aitrace_core::ScoreValue::Categorical(label) = &s.score.value {
                attributes.push(kv(
                    "gen_ai.evaluation.score.label",
                    Any::StringValue(label.clone()),
                ));
            }
            if let Some(c) = &s.score.comment {
                attributes.push(kv(
                    "gen_ai.evaluation.explanation",
                    Any::StringValue(c.clone()),
                ));
            }
            attributes.push(kv("aitrace.score.id", Any::StringValue(s.id.clone())));
            if let Some(source) = s.score.source {
                attributes.push(kv(
                    "aitrace.score.source",
                    Any::StringValue(source.as_str().to_string()),
                ));
            }
            Some(LogRecord {
                time_unix_nano: s.time_unix_nano,
                observed_time_unix_nano: s.time_unix_nano,
                event_name: aitrace_otel::scores::EVALUATION_EVENT.to_string(),
                trace_id: trace.to_bytes().to_vec(),
                span_id: s
                    .target
                    .span_id()
                    .map(|id| id.to_bytes().to_vec())
                    .unwrap_or_default(),
                attributes,
                ..Default::default()
            })
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: None,
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "aitrace".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

/// PostHog's OTLP logs intake, where evaluations become `$ai_evaluation` events.
#[derive(Debug)]
pub(crate) struct PostHogEvaluations {
    pub(crate) url: String,
    pub(crate) client: JsonClient,
}

impl ScoreRoute for PostHogEvaluations {
    /// Traces and their spans (PostHog's evaluations name a trace and a target span).
    fn targets(&self) -> ScoreTargets {
        ScoreTargets::TRACES_AND_SPANS
    }

    /// Score spans would be `$ai_span` events of their own.
    fn keeps_score_spans(&self) -> bool {
        false
    }

    fn send(&self, scores: &[&ScoreRecord], _roots: &RecentRoots) -> Result<(), ExportError> {
        // At most PostHog's 100 AI events per request.
        for chunk in scores.chunks(crate::posthog::MAX_SPANS_PER_REQUEST) {
            self.client
                .post_as(&self.url, "application/x-protobuf", evaluation_logs(chunk))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aitrace_core::{Score, ScoreTarget};

    #[test]
    fn ids_follow_the_vendors_conversions() {
        let span = SpanId::from_hex("0123456789abcdef").unwrap();
        assert_eq!(
            langsmith_run_id(span),
            "00000000-0000-0000-0123-456789abcdef"
        );
        let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(
            langsmith_trace_id(trace),
            "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
        );
        assert_eq!(
            mlflow_trace_id(trace),
            "tr-4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let s = ScoreRecord::new(
            ScoreTarget::span(trace, span),
            Score::categorical("tone", "friendly").with_source(ScoreSource::Model),
        )
        .unwrap();
        let f = langsmith_feedback(&s, None).unwrap();
        assert_eq!(f["run_id"], "00000000-0000-0000-0123-456789abcdef");
        assert_eq!(f["value"], "friendly");
        assert!(f.get("score").is_none());
        assert_eq!(f["feedback_source"]["type"], "model");
        let a = mlflow_assessment(&s).unwrap();
        assert_eq!(a["assessment"]["source"]["source_type"], "LLM_JUDGE");
        assert_eq!(a["assessment"]["span_id"], "0123456789abcdef");
        let session =
            ScoreRecord::new(ScoreTarget::session("x"), Score::numeric("n", 1.0)).unwrap();
        assert!(langsmith_feedback(&session, None).is_none());
    }
}
