//! Scores in OpenTelemetry: the GenAI conventions' `gen_ai.evaluation.result` event, and the REST
//! annotations Arize Phoenix shows them as. Pure mapping; the exporter sends.
//!
//! - A score recorded on a live span is an event on that span.
//! - A score sent later (the span is exported already and cannot take an event) is a zero-duration
//!   span under its target carrying the event's attributes and the event: its span id is derived
//!   from the score's id, so a score sent again is the same span. A score about a whole trace hangs
//!   under the trace's root when this exporter sent that trace (else it is a root of that trace).
//! - With OpenInference on (Phoenix), every score is also a Phoenix annotation: span, trace or
//!   session, `annotator_kind` HUMAN / LLM / CODE, upserted on the score's id.

use aitrace_core::{ScoreRecord, ScoreSource, ScoreTarget, SpanId, SpanKind, SpanRecord};
use opentelemetry::trace::Event;
use opentelemetry::{KeyValue, Value};
use serde_json::{json, Map, Value as Json};

/// The event's name.
pub const EVALUATION_EVENT: &str = "gen_ai.evaluation.result";

/// The event's attributes: name, numeric value (booleans as 1 / 0), label (categorical values;
/// `true` / `false`), explanation (the comment), the evaluated response's id; then aitrace's own:
/// the score's id, source, config id and metadata (as JSON text).
pub fn evaluation_attributes(s: &ScoreRecord, response_id: Option<&str>) -> Vec<KeyValue> {
    let mut a = vec![KeyValue::new(
        "gen_ai.evaluation.name",
        s.score.name.clone(),
    )];
    if let Some(v) = s.score.value.as_number() {
        a.push(KeyValue::new("gen_ai.evaluation.score.value", v));
    }
    if let Some(label) = s.score.value.label() {
        a.push(KeyValue::new(
            "gen_ai.evaluation.score.label",
            label.to_string(),
        ));
    }
    if let Some(c) = &s.score.comment {
        a.push(KeyValue::new("gen_ai.evaluation.explanation", c.clone()));
    }
    if let Some(id) = response_id {
        a.push(KeyValue::new("gen_ai.response.id", id.to_string()));
    }
    a.push(KeyValue::new("aitrace.score.id", s.id.clone()));
    if let Some(source) = s.score.source {
        a.push(KeyValue::new("aitrace.score.source", source.as_str()));
    }
    if let Some(config) = &s.score.config_id {
        a.push(KeyValue::new("aitrace.score.config_id", config.clone()));
    }
    if !s.score.metadata.is_empty() {
        a.push(KeyValue::new(
            "aitrace.score.metadata",
            Value::String(Json::Object(s.score.metadata.clone()).to_string().into()),
        ));
    }
    if let Some((trace, span)) = s.evaluation {
        a.push(KeyValue::new(
            "aitrace.evaluation.trace_id",
            trace.to_string(),
        ));
        a.push(KeyValue::new(
            "aitrace.evaluation.span_id",
            span.to_string(),
        ));
    }
    a
}

/// The `gen_ai.evaluation.result` event of a score.
pub fn evaluation_event(s: &ScoreRecord, response_id: Option<&str>) -> Event {
    Event::new(
        EVALUATION_EVENT,
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(s.time_unix_nano),
        evaluation_attributes(s, response_id),
        0,
    )
}

/// The span id of a score sent on its own: a stable hash of the score's id (never zero).
pub fn score_span_id(s: &ScoreRecord) -> SpanId {
    let h = s.id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    SpanId::from_u64(if h == 0 { 1 } else { h })
}

/// The zero-duration span of a score sent on its own, under its target (`root`: the target trace's
/// root, for a score about the whole trace). `None` for a session's score: OTLP has no place for it.
pub fn score_span(s: &ScoreRecord, root: Option<SpanId>) -> Option<SpanRecord> {
    let trace_id = s.target.trace_id()?;
    let mut r = SpanRecord::new(EVALUATION_EVENT, SpanKind::Generic);
    r.trace_id = trace_id;
    r.span_id = score_span_id(s);
    r.parent_span_id = s.target.span_id().or(root);
    r.start_time_unix_nano = s.time_unix_nano;
    r.end_time_unix_nano = s.time_unix_nano;
    let attrs = &mut r.attributes;
    attrs.insert("gen_ai.evaluation.name".into(), json!(s.score.name));
    if let Some(v) = s.score.value.as_number() {
        attrs.insert("gen_ai.evaluation.score.value".into(), json!(v));
    }
    if let Some(label) = s.score.value.label() {
        attrs.insert("gen_ai.evaluation.score.label".into(), json!(label));
    }
    if let Some(c) = &s.score.comment {
        attrs.insert("gen_ai.evaluation.explanation".into(), json!(c));
    }
    attrs.insert("aitrace.score.id".into(), json!(s.id));
    if let Some(source) = s.score.source {
        attrs.insert("aitrace.score.source".into(), json!(source.as_str()));
    }
    r.scores.push(s.clone());
    Some(r)
}

/// Phoenix's annotator kind of a score: LLM for a model's, CODE for code's, HUMAN otherwise (feedback
/// is a person's unless said).
pub fn annotator_kind(s: &ScoreRecord) -> &'static str {
    match s.score.source {
        Some(ScoreSource::Model) => "LLM",
        Some(ScoreSource::Code) => "CODE",
        Some(ScoreSource::Human) | None => "HUMAN",
    }
}

/// The Phoenix REST route of a score's annotation, under the server's base URL.
pub fn annotation_route(target: &ScoreTarget) -> &'static str {
    match target {
        ScoreTarget::Span { .. } => "/v1/span_annotations",
        ScoreTarget::Trace { .. } => "/v1/trace_annotations",
        ScoreTarget::Session { .. } => "/v1/session_annotations",
    }
}

/// One Phoenix annotation (`SpanAnnotationData`, `TraceAnnotationData`, `SessionAnnotationData`):
/// `identifier` is the score's id, so a score sent again updates it. Phoenix reserves the name
/// `note` for notes: such a score is named `note (score)`.
pub fn phoenix_annotation(s: &ScoreRecord) -> Json {
    let mut result = Map::new();
    if let Some(v) = s.score.value.as_number() {
        result.insert("score".into(), json!(v));
    }
    if let Some(label) = s.score.value.label() {
        result.insert("label".into(), json!(label));
    }
    if let Some(c) = &s.score.comment {
        result.insert("explanation".into(), json!(c));
    }
    let mut metadata = s.score.metadata.clone();
    if let Some(config) = &s.score.config_id {
        metadata.insert("config_id".into(), json!(config));
    }
    if let Some((trace, span)) = s.evaluation {
        metadata.insert("evaluation_trace_id".into(), json!(trace.to_string()));
        metadata.insert("evaluation_span_id".into(), json!(span.to_string()));
    }
    let name = if s.score.name == "note" {
        "note (score)".to_string()
    } else {
        s.score.name.clone()
    };
    let mut a = json!({
        "name": name,
        "annotator_kind": annotator_kind(s),
        "result": result,
        "metadata": metadata,
        "identifier": s.id,
    });
    match &s.target {
        ScoreTarget::Span { span_id, .. } => a["span_id"] = json!(span_id.to_string()),
        ScoreTarget::Trace { trace_id } => a["trace_id"] = json!(trace_id.to_string()),
        ScoreTarget::Session { session_id } => a["session_id"] = json!(session_id),
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use aitrace_core::{Score, TraceId};

    #[test]
    fn a_score_maps_to_the_evaluation_event_and_a_phoenix_annotation() {
        let (t, sp) = (TraceId::random(), SpanId::random());
        let s = ScoreRecord::new(
            ScoreTarget::span(t, sp),
            Score::boolean("thumbs", false)
                .with_comment("wrong")
                .with_source(ScoreSource::Human),
        )
        .unwrap();
        let attrs = evaluation_attributes(&s, Some("resp-1"));
        let get = |k: &str| {
            attrs
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(get("gen_ai.evaluation.name").as_deref(), Some("thumbs"));
        assert_eq!(get("gen_ai.evaluation.score.value").as_deref(), Some("0"));
        assert_eq!(
            get("gen_ai.evaluation.score.label").as_deref(),
            Some("false")
        );
        assert_eq!(
            get("gen_ai.evaluation.explanation").as_deref(),
            Some("wrong")
        );
        assert_eq!(get("gen_ai.response.id").as_deref(), Some("resp-1"));
        let a = phoenix_annotation(&s);
        assert_eq!(a["span_id"], json!(sp.to_string()));
        assert_eq!(a["annotator_kind"], "HUMAN");
        assert_eq!(
            a["result"],
            json!({"score": 0.0, "label": "false", "explanation": "wrong"})
        );
        assert_eq!(a["identifier"], json!(s.id));
        let span = score_span(&s, None).unwrap();
        assert_eq!(span.parent_span_id, Some(sp));
        assert_eq!(
            span.span_id,
            score_span_id(&s),
            "the same score, the same span"
        );
        assert_eq!(span.duration(), std::time::Duration::ZERO);
        let root = SpanId::random();
        let whole = ScoreRecord::new(ScoreTarget::trace(t), Score::numeric("q", 0.5)).unwrap();
        assert_eq!(
            score_span(&whole, Some(root)).unwrap().parent_span_id,
            Some(root)
        );
        let session =
            ScoreRecord::new(ScoreTarget::session("s"), Score::numeric("q", 1.0)).unwrap();
        assert!(score_span(&session, None).is_none());
        assert_eq!(phoenix_annotation(&session)["session_id"], "s");
    }
}
