//! The `service` example as a test: a fresh axum service with tower-http's `TraceLayer` at its
//! defaults and the log filter on the log output only. Whatever `RUST_LOG` says (unset, `info`,
//! `warn`), three requests give exactly three traces, each rooted at its HTTP request with the
//! request's user, session and tags, read back from the JSONL file.

#[path = "../examples/service.rs"]
mod service;

#[test]
fn three_requests_are_three_whole_traces_whatever_the_log_filter() {
    for log_filter in [None, Some("info"), Some("warn")] {
        let jsonl = std::env::temp_dir().join(format!(
            "aitrace-service-{}-{}.jsonl",
            std::process::id(),
            log_filter.unwrap_or("unset")
        ));
        service::run(service::Options {
            log_filter: log_filter.map(str::to_string),
            global_filter: false,
            jsonl: jsonl.clone(),
            console: false,
            log_writer: Some(tracing_subscriber::fmt::writer::BoxMakeWriter::new(
                std::io::sink,
            )),
        })
        .unwrap();
        let traces =
            service::check_jsonl(&jsonl).unwrap_or_else(|e| panic!("RUST_LOG={log_filter:?}: {e}"));
        let users: Vec<_> = traces
            .iter()
            .map(|t| t[0].user_id.clone().unwrap())
            .collect();
        assert_eq!(users, ["ada", "grace", "alan"], "RUST_LOG={log_filter:?}");
        let _ = std::fs::remove_file(&jsonl);
    }
}
