//! Scores and feedback, offline: a chat handler answers and hands its frontend a score target, the
//! user's thumbs-down arrives in a second request, and an LLM-as-judge scores the answer as a trace
//! of its own. Traced to the console and to `feedback.jsonl` (plus every backend the environment
//! configures, as in the quickstart). No network, no keys.
//!
//! Run: `cargo run --example feedback`

use std::error::Error;
use std::time::Duration;

use aitrace::{
    agent_span, generation_span, scorer_span, AiSpanExt, ChatMessage, ConsoleExporter,
    ExportConfig, JsonlExporter, Score, ScoreSource, ScoreTarget, Usage,
};

/// `POST /chat`: the agent answers; a guardrail checks the answer inline; the response carries the
/// score target the frontend will send back with the user's feedback.
fn handle_chat(question: &str) -> (String, String, ScoreTarget) {
    let request = tracing::info_span!("POST /chat", http.route = "/chat");
    request.set_user("ada");
    request.set_session("conversation-7");
    let (answer, answer_target) = request.in_scope(|| {
        agent_span!("support").in_scope(|| {
            let chat = generation_span!("openai", "gpt-4o-mini");
            chat.set_input_messages(&[ChatMessage::user(question)]);
            let answer = "Order #1042 ships tomorrow.";
            chat.set_output_messages(&[ChatMessage::assistant(answer).with_finish_reason("stop")]);
            chat.record_usage(Usage::new(42, 9));
            // A guardrail: does the answer name an order? Recorded on the live span.
            let names_order = answer.contains("#1042");
            let _ = chat.record_score(
                Score::boolean("names_the_order", names_order).with_source(ScoreSource::Code),
            );
            (answer.to_string(), chat.score_target())
        })
    });
    let trace_target = request.score_target().map(|t| t.to_string());
    (
        answer,
        trace_target.unwrap_or_default(),
        answer_target.unwrap_or(ScoreTarget::session("conversation-7")),
    )
}

/// `POST /feedback`: the frontend posts back the target with a thumbs-down and a comment.
fn handle_feedback(target: &str, thumbs_up: bool, comment: &str) -> Result<(), Box<dyn Error>> {
    let _request = tracing::info_span!("POST /feedback", http.route = "/feedback").entered();
    let target: ScoreTarget = target.parse()?;
    aitrace::score(
        target,
        Score::boolean("user_feedback", thumbs_up)
            .with_source(ScoreSource::Human)
            .with_comment(comment),
    )?;
    Ok(())
}

/// An LLM-as-judge, run after the fact: its own model call (billed to the evaluation's trace,
/// never to the judged one) and its verdict on the answer.
fn judge(answer: &str, target: &ScoreTarget) -> Result<(), Box<dyn Error>> {
    let judge = scorer_span!("helpfulness", target);
    judge.in_scope(|| {
        let verdict = generation_span!("anthropic", "claude-3-5-haiku");
        verdict.set_input_messages(&[ChatMessage::user(format!(
            "Rate 0..1 how helpful this answer is: {answer}"
        ))]);
        verdict.set_output_messages(&[ChatMessage::assistant("0.6: it says when, not where.")]);
        verdict.record_usage(Usage::new(61, 12));
    });
    judge.record_score(Score::numeric("helpfulness", 0.6).with_comment("says when, not where"))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let jsonl_path = "feedback.jsonl";
    let local = ExportConfig::default().with_max_batch_age(Duration::from_millis(100));
    let guard = aitrace::from_env()?
        .exporter_with_config(ConsoleExporter::stdout(), local.clone())
        .exporter_with_config(JsonlExporter::create(jsonl_path)?, local)
        .install()?;

    let (answer, trace_target, answer_target) = handle_chat("Where is order #1042?");
    println!("answer: {answer}  (score target for the frontend: {trace_target})");
    // Seconds later the trace is exported; the feedback still lands on it.
    guard.flush(Duration::from_secs(5));
    handle_feedback(&trace_target, false, "I asked where it is, not when")?;
    judge(&answer, &answer_target)?;
    // A bad score is an error, never a panic.
    if let Err(e) = aitrace::score(answer_target.clone(), Score::numeric("broken", f64::NAN)) {
        println!("refused: {e}");
    }

    let report = guard.shutdown(Duration::from_secs(5));
    let text = std::fs::read_to_string(jsonl_path)?;
    let spans = aitrace::jsonl::read_jsonl(&text)?;
    let on_spans: usize = spans.iter().map(|s| s.scores.len()).sum();
    let sent = aitrace::jsonl::read_jsonl_scores(&text)?.len();
    println!(
        "{} spans and {} scores ({on_spans} on spans, {sent} sent later) written to {jsonl_path}; lost: {}",
        spans.len(),
        on_spans + sent,
        report.lost
    );
    // What CI checks: the guardrail's score on its span, the feedback and the verdict on their own.
    if (on_spans, sent, report.lost) != (1, 2, 0) {
        return Err(
            format!("expected 1 score on a span, 2 sent later, none lost: {report}").into(),
        );
    }
    Ok(())
}
