//! Usage of a streamed model call is billed once, wherever the client put it: on the generation, on
//! the step, only on the last chunk (OpenAI's `stream_options.include_usage`), or on all three; with
//! the ChunkAggregator on or off; for steps under a generation, a step alone, and chunks directly
//! under a generation.

use aitrace_core::testing::{capture_with, total_billable_usage};
use aitrace_core::{chunk_span, generation_span, step_span, AiSpanExt, SpanKind, Usage};
use aitrace_filters::ChunkAggregator;

const TRUTH: Usage = Usage::new(333, 33);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    StepsUnderAGeneration,
    AStepAlone,
    ChunksUnderAGeneration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Where {
    Generation,
    Step,
    LastChunk,
    AllThree,
}

/// Three chunks; with `usage_on_last`, the last one carries the call's usage.
fn chunks(usage_on_last: bool) {
    for i in 0..3 {
        let chunk = chunk_span!();
        chunk.set_output(format!("part {i} "));
        if usage_on_last && i == 2 {
            chunk.record_usage(TRUTH);
        }
    }
}

fn stream(shape: Shape, at: Where) {
    let on = |w: Where| at == w || at == Where::AllThree;
    let step = |usage: bool| {
        let s = step_span!(0u32);
        s.in_scope(|| chunks(on(Where::LastChunk)));
        if usage {
            s.record_usage(TRUTH);
        }
    };
    match shape {
        Shape::StepsUnderAGeneration => {
            let g = generation_span!("openai", "gpt-4o");
            g.in_scope(|| step(on(Where::Step)));
            if on(Where::Generation) {
                g.record_usage(TRUTH);
            }
        }
        Shape::AStepAlone => step(on(Where::Step)),
        Shape::ChunksUnderAGeneration => {
            let g = generation_span!("openai", "gpt-4o");
            g.in_scope(|| chunks(on(Where::LastChunk)));
            if on(Where::Generation) {
                g.record_usage(TRUTH);
            }
        }
    }
}

#[test]
fn streamed_usage_is_billed_once_wherever_it_was_reported() {
    let shapes = [
        Shape::StepsUnderAGeneration,
        Shape::AStepAlone,
        Shape::ChunksUnderAGeneration,
    ];
    let places = [
        Where::Generation,
        Where::Step,
        Where::LastChunk,
        Where::AllThree,
    ];
    let mut cases = 0;
    for shape in shapes {
        for at in places {
            // A place the shape does not have is not a case.
            let applies = !matches!(
                (shape, at),
                (Shape::AStepAlone, Where::Generation)
                    | (Shape::ChunksUnderAGeneration, Where::Step)
            );
            if !applies {
                continue;
            }
            for aggregator in [true, false] {
                let builder = if aggregator {
                    aitrace_core::builder().processor(ChunkAggregator::new())
                } else {
                    aitrace_core::builder()
                };
                let spans = capture_with(builder, || stream(shape, at));
                let case = format!("{shape:?}, usage on {at:?}, aggregator {aggregator}");
                assert_eq!(total_billable_usage(&spans), TRUTH, "{case}: {spans:#?}");
                assert_eq!(
                    spans
                        .iter()
                        .filter(|s| s.billable_usage().is_some())
                        .count(),
                    1,
                    "{case}: billed on exactly one span"
                );
                let chunk_spans = spans
                    .iter()
                    .filter(|s| s.kind == SpanKind::ModelChunk)
                    .count();
                assert_eq!(chunk_spans, if aggregator { 0 } else { 3 }, "{case}");
                // The call's time to first token comes from its first chunk when nothing else says.
                let billed = spans.iter().find(|s| s.billable_usage().is_some()).unwrap();
                assert!(billed.time_to_first_token_s.is_some(), "{case}");
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 2 * (4 + 3 + 3));
}
