//! The facade end to end, as a user's `main` would use it: settings from `AITRACE_*`, a global
//! install, spans from ordinary code, `aitrace::stats()`, flush on drop. One test per binary, since it
//! installs the process-wide subscriber and sets environment variables.

use aitrace::{agent_span, generation_span, AiSpanExt, Builder, InstallError, Usage};

#[test]
fn install_from_env_traces_to_jsonl_and_reports_stats() {
    let dir = std::env::temp_dir().join(format!("aitrace-install-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.jsonl");

    std::env::set_var("AITRACE_QUEUE_SIZE", "0");
    let err = Builder::from_env().unwrap_err();
    assert_eq!(err.setting, "AITRACE_QUEUE_SIZE");
    assert!(
        err.to_string().contains("must be greater than zero"),
        "{err}"
    );

    std::env::set_var("AITRACE_QUEUE_SIZE", "64");
    std::env::set_var("AITRACE_BATCH_SIZE", "8");
    std::env::set_var("AITRACE_JSONL_PATH", &path);
    std::env::set_var("AITRACE_CONSOLE", "false");
    assert!(aitrace::stats().is_none(), "nothing installed yet");
    let guard = Builder::from_env().unwrap().install().unwrap();

    // A second global install is a clear error, not a panic.
    match aitrace::builder().install() {
        Err(InstallError::AlreadyInstalled(_)) => {}
        other => panic!("expected AlreadyInstalled, got {other:?}"),
    }

    for user in ["u1", "u2", "u3"] {
        let agent = agent_span!("support");
        agent.set_user(user);
        let _a = agent.enter();
        let chat = generation_span!("openai", "gpt-4o-mini");
        chat.record_usage(Usage::new(100, 10));
    }
    let stats = aitrace::stats().expect("installed pipeline");
    assert_eq!(stats.spans_closed, 6);
    assert_eq!(stats.exporters[0].name, "jsonl");
    drop(guard);

    let spans = aitrace::jsonl::read_jsonl(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(spans.len(), 6);
    let billed = aitrace::testing::total_billable_usage(&spans);
    assert_eq!(billed, Usage::new(300, 30));
    let users: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "chat")
        .filter_map(|s| s.user_id.clone())
        .collect();
    assert_eq!(
        users,
        ["u1", "u2", "u3"],
        "user flows down from the agent to its generation"
    );
    let after = aitrace::stats().unwrap();
    assert_eq!(after.exporters[0].exported, 6);
    assert_eq!(after.total_dropped(), 0);

    // After shutdown, spans are counted as dropped, never exported, never a panic.
    generation_span!("openai", "gpt-4o-mini").in_scope(|| {});
    // The global subscriber still holds the (closed) pipeline, so its counters stay readable.
    assert_eq!(aitrace::stats().unwrap().dropped_after_shutdown, 1);
    std::fs::remove_dir_all(&dir).ok();
}
