//! The trap without a web framework: an `#[instrument(level = "debug")]` handler under a global
//! filter at INFO is disabled for every layer, so its AI calls lose the request's context; aitrace
//! says so once. A process of its own: the warning is given once per process.

use tracing_subscriber::layer::SubscriberExt;

#[tracing::instrument(level = "debug")]
fn handle(user: &str) {
    use aitrace::AiSpanExt;
    tracing::Span::current().set_user(user);
    aitrace::generation_span!("openai", "gpt-4o-mini").in_scope(|| {});
    aitrace::generation_span!("openai", "gpt-4o").in_scope(|| {});
}

#[test]
fn a_debug_handler_hidden_by_a_global_filter_is_named_once() {
    let log = aitrace::testing::SharedBuffer::default();
    let writer = log.clone();
    let (layer, guard) = aitrace::builder().build_layer().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(layer);
    aitrace::testing::with_default(subscriber, || {
        handle("ada");
        handle("grace");
    });
    guard.shutdown(std::time::Duration::from_secs(10));
    let warnings = log.lines_with(&["WARN", "aitrace::diagnostics"]);
    assert_eq!(warnings.len(), 1, "{}", log.text());
    assert!(
        warnings[0].contains("instrument(level") && warnings[0].contains("with_filter"),
        "{}",
        warnings[0]
    );
}
