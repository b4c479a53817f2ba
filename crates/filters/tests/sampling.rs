//! Sampling keeps or drops traces whole, consistently across services.

use aitrace_core::testing::capture_with;
use aitrace_core::{
    agent_span, builder, generation_span, tool_span, AiSpanExt, SpanRecord, TraceId,
};
use aitrace_filters::Sampler;
use std::collections::HashMap;

fn traces(spans: &[SpanRecord]) -> HashMap<TraceId, usize> {
    let mut m = HashMap::new();
    for s in spans {
        *m.entry(s.trace_id).or_insert(0) += 1;
    }
    m
}

fn three_span_traces(n: usize) {
    for _ in 0..n {
        agent_span!("a").in_scope(|| {
            generation_span!("openai", "gpt-4o").in_scope(|| tool_span!("t").in_scope(|| {}));
        });
    }
}

#[test]
fn a_ratio_keeps_or_drops_each_trace_whole() {
    let spans = capture_with(builder().processor(Sampler::ratio(0.5).unwrap()), || {
        three_span_traces(2000)
    });
    let kept = traces(&spans);
    assert!(kept.values().all(|n| *n == 3), "a trace was split");
    let fraction = kept.len() as f64 / 2000.0;
    assert!((0.4..0.6).contains(&fraction), "kept {fraction}");
    for s in &spans {
        assert!(Sampler::ratio_keeps(0.5, s.trace_id));
    }
}

#[test]
fn the_ratio_decision_is_a_function_of_the_trace_id_alone() {
    let low = TraceId::from_u128(0xffff_ffff_ffff_ffff_0000_0000_0000_0001);
    let high = TraceId::from_u128(0x0000_0000_0000_0001_ffff_ffff_ffff_ffff);
    assert!(Sampler::ratio_keeps(0.01, low));
    assert!(!Sampler::ratio_keeps(0.99, high));
    assert!(Sampler::ratio_keeps(1.0, high));
    assert!(!Sampler::ratio_keeps(0.0, low));
    for bad in [-0.1, 1.5, f64::NAN] {
        assert_eq!(Sampler::ratio(bad).unwrap_err().setting, "sampling ratio");
    }
}

#[test]
fn an_unsampled_traceparent_drops_the_trace() {
    let spans = capture_with(builder().processor(Sampler::always()), || {
        for (i, flags) in ["00", "01"].iter().enumerate() {
            let agent = agent_span!("server", i = i);
            agent
                .set_parent_traceparent(&format!(
                    "00-4bf92f3577b34da6a3ce929d0e0e473{i}-00f067aa0ba902b7-{flags}"
                ))
                .unwrap();
            agent.in_scope(|| tool_span!("t").in_scope(|| {}));
        }
    });
    assert_eq!(spans.len(), 2);
    assert!(spans
        .iter()
        .all(|s| s.trace_id.to_string().ends_with('1') && s.remote_sampled == Some(true)));
}

#[test]
fn errors_are_force_kept_with_the_rest_of_their_trace() {
    let spans = capture_with(builder().processor(Sampler::never()), || {
        three_span_traces(5);
        agent_span!("failing").in_scope(|| {
            tool_span!("ok_before").in_scope(|| {});
            tool_span!("broken").in_scope(|| tracing::Span::current().set_error("timeout", "slow"));
        });
    });
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    // The error and the agent that closes after it; the sibling that closed before was already gone.
    assert_eq!(names, ["execute_tool", "invoke_agent"]);
    assert!(spans[0].status.is_error());
    let none = capture_with(
        builder().processor(Sampler::never().keep_errors(false)),
        || {
            tool_span!("broken").in_scope(|| tracing::Span::current().set_error("timeout", "slow"));
        },
    );
    assert!(none.is_empty());
}

#[test]
fn a_custom_decision_is_made_once_per_trace() {
    let spans = capture_with(
        builder().processor(Sampler::custom(|s| {
            s.user_id.as_deref() == Some("paid-user")
        })),
        || {
            for user in ["free-user", "paid-user"] {
                let agent = agent_span!("a");
                agent.set_user(user);
                agent.in_scope(|| {
                    generation_span!("openai", "gpt-4o")
                        .in_scope(|| tool_span!("t").in_scope(|| {}));
                });
            }
        },
    );
    assert_eq!(spans.len(), 3);
    assert!(spans
        .iter()
        .all(|s| s.user_id.as_deref() == Some("paid-user")));
}
