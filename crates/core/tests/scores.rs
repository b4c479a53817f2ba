//! Scores through the layer and the pipeline: recorded on a live span, sent later to a kept target,
//! produced by an evaluation that runs as its own trace, and refused when invalid.

use std::time::Duration;

use aitrace_core::testing::{with_default, SharedBuffer, TestExporter};
use aitrace_core::{
    builder, generation_span, scorer_span, AiSpanExt, ConsoleExporter, Score, ScoreError,
    ScoreSource, ScoreTarget, ScoreValue, SpanKind, Usage,
};
use tracing_subscriber::layer::SubscriberExt;

fn subscriber(
    spans: &TestExporter,
) -> (impl tracing::Subscriber + Send + Sync, aitrace_core::Guard) {
    let (layer, guard) = builder().exporter(spans.clone()).build_layer().unwrap();
    (tracing_subscriber::registry().with(layer), guard)
}

#[test]
fn a_score_on_a_live_span_travels_with_it_and_a_later_one_reaches_its_target() {
    let spans = TestExporter::new();
    let (subscriber, guard) = subscriber(&spans);
    let default = tracing::subscriber::set_default(subscriber);
    let request = tracing::info_span!("handle_chat");
    let chat_target = request.in_scope(|| {
        let chat = generation_span!("openai", "gpt-4o-mini");
        chat.record_usage(Usage::new(10, 2));
        chat.record_score(Score::boolean("json_valid", true).with_source(ScoreSource::Code))
            .unwrap();
        // The same name again replaces the first, as the backend would.
        chat.record_score(Score::boolean("json_valid", false).with_source(ScoreSource::Code))
            .unwrap();
        chat.score_target().unwrap()
    });
    let trace_target = request.score_target().unwrap();
    drop(request);
    assert!(matches!(chat_target, ScoreTarget::Span { .. }));
    assert_eq!(
        trace_target,
        ScoreTarget::trace(chat_target.trace_id().unwrap())
    );
    // The handler hands the target to its frontend as text; the feedback comes back after the
    // trace was exported.
    assert!(guard.flush(Duration::from_secs(10)));
    assert_eq!(spans.len(), 2, "the chat and its request");
    let text = trace_target.to_string();
    // A thread with no aitrace subscriber and nothing installed globally: a clear error.
    let elsewhere = text.clone();
    let stray = std::thread::spawn(move || {
        aitrace_core::score(
            elsewhere.parse().unwrap(),
            Score::boolean("user_feedback", false),
        )
    });
    assert_eq!(stray.join().unwrap(), Err(ScoreError::NotInstalled));
    let target: ScoreTarget = text.parse().unwrap();
    aitrace_core::score(
        target,
        Score::boolean("user_feedback", false).with_comment("wrong order number"),
    )
    .unwrap();
    drop(default);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.lost, 0, "{report}");
    assert_eq!(report.stats.scores_sent, 1);
    assert_eq!(report.stats.exporters[0].scores_exported, 1);

    let chat = spans.span("chat");
    assert_eq!(chat.scores.len(), 1);
    assert_eq!(chat.scores[0].score.value, ScoreValue::Boolean(false));
    assert_eq!(
        chat.scores[0].target,
        ScoreTarget::span(chat.trace_id, chat.span_id)
    );
    assert_eq!(chat_target, ScoreTarget::span(chat.trace_id, chat.span_id));
    let feedback = spans.scores_for(&trace_target);
    assert_eq!(feedback.len(), 1);
    assert_eq!(
        feedback[0].score.comment.as_deref(),
        Some("wrong order number")
    );
    assert_eq!(spans.scores().len(), 2);
}

#[test]
fn an_evaluation_is_its_own_trace_linked_to_what_it_judges_and_bills_only_itself() {
    let spans = TestExporter::new();
    let (subscriber, guard) = subscriber(&spans);
    with_default(subscriber, || {
        let request = tracing::info_span!("handle_chat");
        request.set_user("ada");
        request.in_scope(|| {
            let answer = generation_span!("openai", "gpt-4o-mini");
            answer.in_scope(|| {
                answer.record_usage(Usage::new(100, 20));
                // A judge run inline, inside the very generation it judges.
                let judged = answer.score_target().unwrap();
                let judge = scorer_span!("helpfulness", judged);
                judge.in_scope(|| {
                    let verdict = generation_span!("anthropic", "claude-3-5-haiku");
                    verdict.record_usage(Usage::new(300, 5));
                    drop(verdict);
                    // Usage for "the billable call above" from inside the evaluation finds none:
                    // the judged call above the evaluation is another trace's.
                    let step = tracing::info_span!("parse_verdict", aitrace.kind = "step");
                    assert!(!step.record_billable_usage(Usage::new(1, 1)));
                });
                judge
                    .record_score(Score::numeric("helpfulness", 0.75).with_comment("mostly"))
                    .unwrap();
            });
        });
    });
    guard.shutdown(Duration::from_secs(10));
    let answer = spans
        .spans_named("chat")
        .into_iter()
        .find(|s| s.request_model.as_deref() == Some("gpt-4o-mini"))
        .unwrap();
    let verdict = spans
        .spans_named("chat")
        .into_iter()
        .find(|s| s.request_model.as_deref() == Some("claude-3-5-haiku"))
        .unwrap();
    let judge = spans.span("evaluation");
    assert_eq!(judge.kind, SpanKind::Evaluation);
    assert_ne!(judge.trace_id, answer.trace_id, "its own trace");
    assert_eq!(judge.parent_span_id, None);
    assert_eq!(judge.request_span_id, None);
    assert_eq!(
        judge.user_id, None,
        "nothing inherited from the judged trace"
    );
    assert_eq!(judge.trace_name.as_deref(), Some("evaluation helpfulness"));
    assert_eq!(judge.links.len(), 1);
    assert_eq!(judge.links[0].trace_id, answer.trace_id);
    assert_eq!(judge.links[0].span_id, Some(answer.span_id));
    assert_eq!(verdict.trace_id, judge.trace_id);
    assert_eq!(verdict.parent_span_id, Some(judge.span_id));
    assert!(verdict.billable, "{verdict:?}");
    assert!(answer.billable, "{answer:?}");
    assert_eq!(
        spans.total_billable_usage(answer.trace_id),
        Usage::new(100, 20)
    );
    assert_eq!(
        spans.total_billable_usage(judge.trace_id),
        Usage::new(300, 5)
    );
    let score = spans.scores_for(&ScoreTarget::span(answer.trace_id, answer.span_id));
    assert_eq!(score.len(), 1);
    assert_eq!(score[0].score.source, Some(ScoreSource::Model));
    assert_eq!(score[0].evaluation, Some((judge.trace_id, judge.span_id)));
    assert!(
        judge.output.is_some(),
        "the evaluation's output is its verdict"
    );
}

#[test]
fn bad_scores_are_errors_never_panics_and_are_counted() {
    let spans = TestExporter::new();
    let (subscriber, guard) = subscriber(&spans);
    with_default(subscriber, || {
        let chat = generation_span!("openai", "gpt-4o-mini");
        assert!(matches!(
            chat.record_score(Score::numeric("x", f64::NAN)),
            Err(ScoreError::NotFinite(_))
        ));
        assert_eq!(
            chat.record_score(Score::numeric(" ", 1.0)),
            Err(ScoreError::EmptyName)
        );
        assert!(
            aitrace_core::score(ScoreTarget::session(""), Score::boolean("thumbs", true)).is_err()
        );
        assert!("not-a-target".parse::<ScoreTarget>().is_err());
        // A disabled span has no target.
        let off = tracing::Span::none();
        assert_eq!(off.score_target(), None);
        assert_eq!(
            off.record_score(Score::boolean("thumbs", true)),
            Err(ScoreError::NoTarget)
        );
        for i in 0..aitrace_core::MAX_SCORES_PER_SPAN {
            chat.record_score(Score::numeric(format!("s{i}"), 1.0))
                .unwrap();
        }
        assert_eq!(
            chat.record_score(Score::numeric("one more", 1.0)),
            Err(ScoreError::TooMany)
        );
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert!(report.stats.scores_rejected >= 5, "{:?}", report.stats);
    assert_eq!(
        spans.span("chat").scores.len(),
        aitrace_core::MAX_SCORES_PER_SPAN
    );
}

#[test]
fn the_console_shows_scores_on_their_span_and_scores_sent_later_on_their_own_line() {
    let out = SharedBuffer::default();
    let (layer, guard) = builder()
        .exporter(ConsoleExporter::to_writer(out.clone(), false))
        .build_layer()
        .unwrap();
    with_default(tracing_subscriber::registry().with(layer), || {
        let chat = generation_span!("openai", "gpt-4o-mini");
        chat.record_score(Score::categorical("tone", "friendly"))
            .unwrap();
        let target = chat.score_target().unwrap();
        drop(chat);
        aitrace_core::score(
            target,
            Score::boolean("thumbs", false)
                .with_source(ScoreSource::Human)
                .with_comment("too long"),
        )
        .unwrap();
    });
    guard.shutdown(Duration::from_secs(10));
    let text = out.text();
    assert!(text.contains("score tone=friendly"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("score thumbs=false (human) \"too long\" → trace ")),
        "{text}"
    );
}
