//! The trap: the same service with the log filter on every layer (`registry().with(EnvFilter)`).
//! tower-http's DEBUG request span is then disabled for aitrace too, so the request's context is
//! lost; aitrace says so once, as a WARN on `aitrace::diagnostics` with the fix. A process of its
//! own: the warning is given once per process.

#[path = "../examples/service.rs"]
mod service;

#[test]
fn a_global_filter_that_hides_the_request_span_is_named_once_with_the_fix() {
    let log = aitrace::testing::SharedBuffer::default();
    let writer = log.clone();
    let jsonl = std::env::temp_dir().join(format!(
        "aitrace-service-global-{}.jsonl",
        std::process::id()
    ));
    service::run(service::Options {
        log_filter: Some("info".into()),
        global_filter: true,
        jsonl: jsonl.clone(),
        console: false,
        log_writer: Some(tracing_subscriber::fmt::writer::BoxMakeWriter::new(
            move || writer.clone(),
        )),
    })
    .unwrap();
    let warnings = log.lines_with(&["WARN", "aitrace::diagnostics"]);
    assert_eq!(warnings.len(), 1, "{}", log.text());
    assert!(
        warnings[0].contains("with_filter(EnvFilter::from_default_env())")
            && warnings[0].contains("tower_http=debug"),
        "the fix is in the message: {}",
        warnings[0]
    );
    // The consequence it names: no request, so each call is a trace of its own.
    assert!(service::check_jsonl(&jsonl).is_err());
    let _ = std::fs::remove_file(&jsonl);
}
