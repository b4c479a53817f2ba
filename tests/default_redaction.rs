//! `aitrace::builder()` redacts secrets unless the user opts out explicitly.
#![cfg(feature = "filters")]

use aitrace::testing::capture_with;
use aitrace::{tool_span, AiSpanExt};

fn run(builder: aitrace::Builder) -> serde_json::Value {
    let spans = capture_with(builder, || {
        tool_span!("login")
            .set_input(serde_json::json!({"user": "ada", "password": "hunter2-canary"}));
    });
    spans[0].input.clone().unwrap()
}

#[test]
fn the_sensitive_data_filter_is_on_by_default_and_can_be_turned_off() {
    let defaults = [
        "chunk-aggregator",
        "inline-blob-limit",
        "cost",
        "sensitive-data-filter",
    ];
    assert_eq!(aitrace::builder().processor_names(), defaults);
    assert_eq!(aitrace::from_env().unwrap().processor_names(), defaults);
    assert_eq!(
        run(aitrace::builder()),
        serde_json::json!({"user": "ada", "password": "[REDACTED]"})
    );
    let off = aitrace::builder().without_processor("sensitive-data-filter");
    assert_eq!(
        off.processor_names(),
        ["chunk-aggregator", "inline-blob-limit", "cost"]
    );
    assert_eq!(run(off)["password"], "hunter2-canary");
}

#[test]
fn every_exporter_gets_the_same_cost_by_default() {
    let spans = capture_with(aitrace::builder(), || {
        aitrace::generation_span!("anthropic", "claude-3-5-haiku")
            .record_usage(aitrace::Usage::new(1000, 100));
    });
    let cost = spans[0]
        .cost
        .as_ref()
        .expect("priced by the default CostProcessor");
    assert!(cost.total().unwrap() > 0.0);
    let spans = capture_with(aitrace::builder().without_processor("cost"), || {
        aitrace::generation_span!("anthropic", "claude-3-5-haiku")
            .record_usage(aitrace::Usage::new(1000, 100));
    });
    assert!(spans[0].cost.is_none());
}

/// Every public way to build in the facade keeps the SensitiveDataFilter: a secret recorded through
/// each arrives redacted.
#[test]
fn every_way_to_build_redacts_by_default() {
    let ways: Vec<(&str, aitrace::Builder)> = vec![
        ("aitrace::builder()", aitrace::builder()),
        ("aitrace::from_env()", aitrace::from_env().unwrap()),
        ("aitrace::Builder::default()", aitrace::Builder::default()),
        ("aitrace::Builder::new()", aitrace::Builder::new()),
        (
            "aitrace::Builder::from_env()",
            aitrace::Builder::from_env().unwrap(),
        ),
        (
            "Builder::default().with_env_vars(..)",
            aitrace::Builder::default().with_env_vars(|_| None).unwrap(),
        ),
    ];
    for (way, builder) in ways {
        assert!(
            builder.processor_names().contains(&"sensitive-data-filter"),
            "{way}"
        );
        assert_eq!(run(builder)["password"], "[REDACTED]", "{way}");
    }
    // The testing helpers build like production.
    let spans = aitrace::testing::capture(|| {
        tool_span!("login").set_input(serde_json::json!({"password": "hunter2-canary"}));
    });
    assert_eq!(spans[0].input.as_ref().unwrap()["password"], "[REDACTED]");
}

/// The request span's own fields now leave the process (its request record): a secret in them is
/// redacted like one in an AI span, and the query string never leaves at all (`url.path` is the
/// path only).
#[test]
fn secrets_in_the_request_span_fields_are_redacted() {
    let spans = capture_with(aitrace::builder(), || {
        let request = tracing::info_span!(
            "request",
            method = "POST",
            uri = "/chat?api_key=sk-live-canary0123456789abcdef",
            authorization = "Bearer sk-proj-canary0123456789abcdefghij",
            password = "hunter2-canary"
        );
        request.in_scope(|| aitrace::generation_span!("openai", "gpt-4o").in_scope(|| {}));
    });
    let request = spans
        .iter()
        .find(|s| s.kind == aitrace::SpanKind::Request)
        .expect("the request record");
    let text = serde_json::to_string(request).unwrap();
    assert!(!text.contains("canary"), "{text}");
    assert_eq!(request.attributes["url.path"], "/chat");
}
