//! Scores and feedback, the way a web service meets them: a chat handler answers and hands its
//! frontend a score target; a second request posts the user's thumbs-down with a comment; an
//! LLM-as-judge scores the answer as its own trace. Every exporter (memory, JSONL, OTLP, Langfuse,
//! Braintrust, each a loopback double checking the vendor's OpenAPI schema) shows each score on the
//! right trace or observation, retried requests keep the score's id, the judged trace's usage is
//! unchanged by the judge, and a secret in a comment reaches no backend.
#![cfg(all(feature = "otel", feature = "langfuse", feature = "braintrust"))]

mod common;

use std::time::Duration;

use aitrace::{
    agent_span, generation_span, scorer_span, AiSpanExt, ExportConfig, Score, ScoreSource,
    ScoreTarget, SpanRecord, Usage,
};
use aitrace_testkit::openapi::{check, load_spec};
use aitrace_testkit::{otlp, vendor_answer, Fault, Request};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

const CANARY: &str = "hunter2-canary-7731";

/// The chat handler: an agent's generation, a guardrail's verdict recorded on it, and the targets
/// the handler returns to its frontend (the whole request, and the answer).
fn handle_chat() -> (String, ScoreTarget) {
    let request = tracing::info_span!("handle_chat", route = "/chat");
    request.set_user("ada");
    request.set_session("conv-9");
    let answer = request.in_scope(|| {
        agent_span!("support").in_scope(|| {
            let chat = generation_span!("openai", "gpt-4o-mini");
            chat.record_usage(Usage::new(100, 20));
            chat.record_score(
                Score::boolean("json_valid", true)
                    .with_source(ScoreSource::Code)
                    .with_comment(format!("checked; api_key={CANARY}")),
            )
            .unwrap();
            chat.score_target().unwrap()
        })
    });
    (request.score_target().unwrap().to_string(), answer)
}

/// The feedback request: the frontend posts back the target it got, with a thumbs-down.
fn handle_feedback(target: &str) {
    let request = tracing::info_span!("handle_feedback", route = "/feedback");
    request.in_scope(|| {
        let target: ScoreTarget = target.parse().unwrap();
        aitrace::score(
            target,
            Score::boolean("user_feedback", false)
                .with_source(ScoreSource::Human)
                .with_comment(format!("wrong order number, my password={CANARY}"))
                .with_metadata("ticket", 42),
        )
        .unwrap();
        aitrace::score(
            ScoreTarget::session("conv-9"),
            Score::numeric("satisfaction", 4.0).with_source(ScoreSource::Human),
        )
        .unwrap();
    });
}

/// An LLM-as-judge, run later: its own model call, its verdict on the answer.
fn judge(answer: &ScoreTarget) {
    let judge = scorer_span!("helpfulness", answer);
    judge.in_scope(|| {
        generation_span!("anthropic", "claude-3-5-haiku").record_usage(Usage::new(300, 5));
    });
    judge
        .record_score(Score::numeric("helpfulness", 0.8).with_comment("answers the question"))
        .unwrap();
    judge
        .record_score(Score::categorical("tone", "friendly"))
        .unwrap();
}

fn body_json(r: &Request) -> Option<Value> {
    serde_json::from_slice(&r.plain_body()).ok()
}

#[test]
fn feedback_and_judges_reach_every_exporter_on_the_right_trace() {
    // The first scores request fails with a 503: it is retried, with the same score id.
    let failed_once = std::sync::atomic::AtomicBool::new(false);
    let langfuse_fault = Fault::custom(move |path, body| {
        if path == "/api/public/scores"
            && !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return (503, "application/json", b"{\"error\":\"busy\"}".to_vec());
        }
        (
            200,
            "application/json",
            vendor_answer(path, body).into_bytes(),
        )
    });
    let backends = common::Backends::start("scores", langfuse_fault);
    let fast = ExportConfig::default()
        .with_max_batch_age(Duration::from_millis(20))
        .with_initial_backoff(Duration::from_millis(20));
    let (layer, guard) = backends
        .add_to(aitrace::builder(), fast)
        .build_layer()
        .unwrap();
    let (otel, langfuse, braintrust) = (&backends.otel, &backends.langfuse, &backends.braintrust);
    let memory = &backends.memory;
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let (request_target, answer) = handle_chat();
    // Seconds later, from the browser.
    assert!(guard.flush(Duration::from_secs(10)));
    handle_feedback(&request_target);
    judge(&answer);
    let report = guard.shutdown(Duration::from_secs(30));
    assert_eq!(report.lost, 0, "{report}");

    // The app's own view.
    let spans = memory.spans();
    let chat = find(&spans, "gpt-4o-mini");
    let verdict = find(&spans, "claude-3-5-haiku");
    let evaluation = spans.iter().find(|s| s.name == "evaluation").unwrap();
    let trace = chat.trace_id;
    assert_eq!(request_target, trace.to_string());
    assert_eq!(answer, ScoreTarget::span(trace, chat.span_id));
    assert_eq!(
        memory.total_billable_usage(trace),
        Usage::new(100, 20),
        "the judge bills itself"
    );
    assert_eq!(
        memory.total_billable_usage(evaluation.trace_id),
        Usage::new(300, 5)
    );
    assert_eq!(verdict.trace_id, evaluation.trace_id);
    let feedback = memory.scores_for(&ScoreTarget::trace(trace));
    assert_eq!(feedback.len(), 1);
    assert_eq!(feedback[0].score.name, "user_feedback");
    let on_answer: Vec<String> = memory
        .scores_for(&answer)
        .iter()
        .map(|s| s.score.name.clone())
        .collect();
    assert_eq!(on_answer, ["json_valid", "helpfulness", "tone"]);

    // JSONL: the span's scores on its line, sent scores on lines of their own.
    let text = backends.jsonl_text();
    assert!(!text.contains(CANARY), "a secret reached the JSONL file");
    let lines = aitrace::jsonl::read_jsonl_scores(&text).unwrap();
    assert_eq!(lines.len(), 4, "feedback, session, two verdicts");
    assert!(lines
        .iter()
        .any(|s| s.score.name == "user_feedback" && s.target == ScoreTarget::trace(trace)));

    // Every backend, secret-free.
    for (name, server) in [
        ("otel", otel),
        ("langfuse", langfuse),
        ("braintrust", braintrust),
    ] {
        for r in server.requests() {
            let body = String::from_utf8_lossy(&r.plain_body()).to_string();
            assert!(
                !body.contains(CANARY),
                "a secret reached {name}: {}",
                r.path
            );
        }
    }

    // Langfuse: one CreateScoreRequest per score, on the trace, the observation or the session.
    let spec = load_spec("langfuse-openapi.yml");
    let scores: Vec<Value> = langfuse
        .requests()
        .iter()
        .filter(|r| r.path == "/api/public/scores")
        .map(|r| body_json(r).unwrap())
        .collect();
    if let Some(spec) = &spec {
        let bogus = serde_json::json!({"name": "x", "value": 1, "dataType": "BOGUS"});
        assert!(
            !check(spec, "CreateScoreRequest", &bogus).is_empty(),
            "the check can fail"
        );
        for s in &scores {
            assert_eq!(
                check(spec, "CreateScoreRequest", s),
                Vec::<String>::new(),
                "{s}"
            );
        }
    }
    // The retried score went again with its id; every score arrived.
    let ids: Vec<&str> = scores.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!((ids.len(), unique.len()), (6, 5), "{ids:?}");
    let named = |n: &str| {
        scores
            .iter()
            .rev()
            .find(|s| s["name"] == n)
            .cloned()
            .unwrap()
    };
    let thumbs = named("user_feedback");
    assert_eq!(thumbs["traceId"], trace.to_string());
    assert!(thumbs.get("observationId").is_none());
    assert_eq!(
        (thumbs["value"].as_f64(), thumbs["dataType"].as_str()),
        (Some(0.0), Some("BOOLEAN"))
    );
    assert!(thumbs["comment"]
        .as_str()
        .unwrap()
        .starts_with("wrong order number"));
    assert_eq!(thumbs["metadata"]["source"], "human");
    assert_eq!(thumbs["metadata"]["ticket"], 42);
    let helpful = named("helpfulness");
    assert_eq!(helpful["observationId"], chat.span_id.to_string());
    assert_eq!(helpful["dataType"], "NUMERIC");
    assert_eq!(
        helpful["metadata"]["evaluation_trace_id"],
        evaluation.trace_id.to_string()
    );
    assert_eq!(named("tone")["dataType"], "CATEGORICAL");
    assert_eq!(named("tone")["value"], "friendly");
    assert_eq!(
        named("json_valid")["observationId"],
        chat.span_id.to_string()
    );
    assert_eq!(named("satisfaction")["sessionId"], "conv-9");
    // The evaluation is an evaluator observation of its own trace, linked by the score's metadata.
    let lf_spans: Vec<otlp::OtlpSpan> = langfuse
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/v1/traces"))
        .flat_map(|r| otlp::decode(&r.plain_body()).unwrap_or_default())
        .collect();
    assert!(lf_spans
        .iter()
        .any(|s| s.trace_id == evaluation.trace_id.to_string()));

    // Braintrust: the rows carry their 0..1 scores; feedback names rows; a label lives in metadata.
    let spec = load_spec("braintrust-openapi.json");
    let bt: Vec<(String, Value)> = braintrust
        .requests()
        .iter()
        .map(|r| (r.path.clone(), body_json(r).unwrap()))
        .collect();
    if let Some(spec) = &spec {
        for (path, body) in &bt {
            let schema = if path.ends_with("/feedback") {
                "FeedbackProjectLogsEventRequest"
            } else {
                "InsertProjectLogsEventRequest"
            };
            assert_eq!(
                check(spec, schema, body),
                Vec::<String>::new(),
                "{path}: {body}"
            );
        }
    }
    let rows: Vec<&Value> = bt
        .iter()
        .filter(|(p, _)| p.ends_with("/insert"))
        .flat_map(|(_, b)| b["events"].as_array().unwrap())
        .collect();
    let chat_row = rows
        .iter()
        .find(|r| r["id"] == chat.span_id.to_string())
        .unwrap();
    assert_eq!(chat_row["scores"]["json_valid"], 1.0);
    let eval_row = rows
        .iter()
        .find(|r| r["id"] == evaluation.span_id.to_string())
        .unwrap();
    assert_eq!(eval_row["span_attributes"]["type"], "score");
    let items: Vec<&Value> = bt
        .iter()
        .filter(|(p, _)| p.ends_with("/feedback"))
        .flat_map(|(_, b)| b["feedback"].as_array().unwrap())
        .collect();
    let agent = spans
        .iter()
        .find(|s| s.kind == aitrace::SpanKind::AgentRun)
        .unwrap();
    let thumbs = items
        .iter()
        .find(|i| i["metadata"]["score_name"] == "user_feedback")
        .unwrap();
    assert_eq!(
        thumbs["id"],
        agent.span_id.to_string(),
        "on the trace's root row"
    );
    assert_eq!(thumbs["scores"]["user_feedback"], 0.0);
    let helpful = items
        .iter()
        .find(|i| i["metadata"]["score_name"] == "helpfulness")
        .unwrap();
    assert_eq!(helpful["id"], chat.span_id.to_string());
    let tone = items
        .iter()
        .find(|i| i["metadata"]["score_name"] == "tone")
        .unwrap();
    assert!(
        tone.get("scores").is_none(),
        "a label is not a Braintrust score"
    );
    assert_eq!(tone["metadata"]["label"], "friendly");
    let bt_stats = report.stats.exporter("braintrust").unwrap();
    assert_eq!(bt_stats.scores_unsupported, 1, "Braintrust has no sessions");

    // OTLP: the guardrail's verdict as an event of the chat span; the feedback and the verdicts as
    // zero-duration spans under their targets; the evaluation linked to the answer.
    let otlp_spans: Vec<otlp::OtlpSpan> = otel
        .requests()
        .iter()
        .flat_map(|r| otlp::decode(&r.plain_body()).unwrap_or_default())
        .collect();
    let chat_span = otlp_spans
        .iter()
        .find(|s| s.span_id == chat.span_id.to_string())
        .unwrap();
    let at = chat_span
        .events
        .iter()
        .position(|e| e == "gen_ai.evaluation.result")
        .expect("the inline score's event");
    assert_eq!(
        chat_span.event_attributes[at]["gen_ai.evaluation.name"],
        "json_valid"
    );
    let request = otlp_spans
        .iter()
        .find(|s| s.trace_id == trace.to_string() && s.parent.is_none())
        .unwrap();
    let score_spans: Vec<&otlp::OtlpSpan> = otlp_spans
        .iter()
        .filter(|s| s.name == "gen_ai.evaluation.result")
        .collect();
    let thumbs = score_spans
        .iter()
        .find(|s| s.str("gen_ai.evaluation.name") == Some("user_feedback"))
        .unwrap();
    assert_eq!(thumbs.trace_id, trace.to_string());
    assert_eq!(
        thumbs.parent.as_deref(),
        Some(request.span_id.as_str()),
        "under the request"
    );
    assert_eq!(thumbs.start, thumbs.end);
    assert_eq!(thumbs.attributes["gen_ai.evaluation.score.value"], 0.0);
    let helpful = score_spans
        .iter()
        .find(|s| s.str("gen_ai.evaluation.name") == Some("helpfulness"))
        .unwrap();
    assert_eq!(
        helpful.parent.as_deref(),
        Some(chat.span_id.to_string().as_str())
    );
    assert_eq!(
        helpful.str("gen_ai.evaluation.explanation"),
        Some("answers the question")
    );
    let eval_span = otlp_spans
        .iter()
        .find(|s| s.span_id == evaluation.span_id.to_string())
        .unwrap();
    assert_eq!(
        eval_span.links,
        [(trace.to_string(), chat.span_id.to_string())]
    );
    assert_eq!(report.stats.exporter("otel").unwrap().scores_unsupported, 1);
}

fn find<'a>(spans: &'a [SpanRecord], model: &str) -> &'a SpanRecord {
    spans
        .iter()
        .find(|s| s.request_model.as_deref() == Some(model))
        .unwrap()
}
