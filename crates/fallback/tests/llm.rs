//! The LLM fallback adapter: behaviour (order, timeouts, retries, no switch after chunks, recovery) and
//! the trace it leaves (attempts, re-stamped model, usage once).

use std::sync::Arc;
use std::time::Duration;

use aitrace_core::testing::{capture, total_billable_usage};
use aitrace_core::{agent_span, generation_span, step_span, SpanKind, SpanRecord, Usage};
use aitrace_fallback::testing::{Behavior, ScriptedLlm};
use aitrace_fallback::{
    AvailabilityChanged, ChatChunk, ChatRequest, ErrorKind, LlmFallback, LlmFallbackConfig,
    LlmProvider, ProviderError,
};
use futures::executor::block_on;
use futures::StreamExt;

const BACKUP_USAGE: Usage = Usage::new(120, 30).with_cache_read(20);

fn config() -> LlmFallbackConfig {
    LlmFallbackConfig {
        attempt_timeout: Duration::from_millis(100),
        retry_interval: Duration::from_millis(5),
        recovery_interval: Duration::from_secs(3600),
        ..LlmFallbackConfig::default()
    }
}

fn server_error() -> ProviderError {
    ProviderError::new(ErrorKind::Server, "503 from provider")
}

fn collect(llm: &LlmFallback) -> Result<Vec<ChatChunk>, ProviderError> {
    block_on(async {
        let mut stream = llm.chat(ChatRequest::default()).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.push(chunk?);
        }
        Ok(out)
    })
}

fn text(chunks: &[ChatChunk]) -> String {
    chunks.iter().filter_map(|c| c.text.clone()).collect()
}

fn attempts(spans: &[SpanRecord]) -> Vec<&SpanRecord> {
    let mut a: Vec<&SpanRecord> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::FallbackAttempt)
        .collect();
    a.sort_by_key(|s| s.attempt);
    a
}

#[test]
fn the_backup_answers_and_every_record_names_it_with_usage_billed_once() {
    let primary = Arc::new(ScriptedLlm::scripted(
        "openai",
        "gpt-4o",
        vec![Behavior::Fail(server_error())],
        Behavior::Hang,
    ));
    let backup = Arc::new(ScriptedLlm::answering(
        "anthropic",
        "claude-3-5-haiku",
        "It shipped yesterday.",
        BACKUP_USAGE,
    ));
    let llm = LlmFallback::with_config(vec![primary.clone(), backup.clone()], config()).unwrap();
    let mut answer = String::new();
    let spans = capture(|| {
        let _agent = agent_span!("support").entered();
        let gen = generation_span!("openai", "gpt-4o");
        let _g = gen.enter();
        let _step = step_span!(0).entered();
        answer = text(&collect(&llm).unwrap());
    });
    assert_eq!(answer, "It shipped yesterday.");
    assert_eq!((primary.calls(), backup.calls()), (1, 1));
    // The generation (billable) and the step (the caller) name the backup.
    for name in ["chat", "step"] {
        let s = spans.iter().find(|s| s.name == name).unwrap();
        assert_eq!(s.provider.as_deref(), Some("anthropic"), "{name}");
        assert_eq!(s.model(), Some("claude-3-5-haiku"), "{name}");
    }
    let agent = spans.iter().find(|s| s.kind == SpanKind::AgentRun).unwrap();
    assert!(agent.request_model.is_none(), "the agent is never stamped");
    // Usage: exactly the backup's, once.
    assert_eq!(total_billable_usage(&spans), BACKUP_USAGE);
    let a = attempts(&spans);
    assert_eq!(
        a.iter().map(|s| s.attempt).collect::<Vec<_>>(),
        [Some(0), Some(1)]
    );
    assert!(a.iter().all(|s| s.usage.is_none() && !s.billable));
    assert_eq!(a[0].provider.as_deref(), Some("openai"));
    assert!(a[0].status.is_error());
    assert_eq!(a[1].provider.as_deref(), Some("anthropic"));
    assert!(!a[1].status.is_error());
    assert!(a[1].time_to_first_token_s.is_some());
    let step = spans.iter().find(|s| s.name == "step").unwrap();
    assert!(
        a.iter().all(|s| s.parent_span_id == Some(step.span_id)),
        "attempts are children of the caller"
    );
}

#[test]
fn a_silent_primary_times_out_and_the_backup_answers() {
    let primary = Arc::new(ScriptedLlm::scripted(
        "openai",
        "gpt-4o",
        vec![],
        Behavior::Hang,
    ));
    let backup = Arc::new(ScriptedLlm::answering(
        "anthropic",
        "claude",
        "ok",
        Usage::new(1, 1),
    ));
    let llm = LlmFallback::with_config(vec![primary, backup], config()).unwrap();
    let spans = capture(|| {
        let _g = generation_span!("openai", "gpt-4o").entered();
        assert_eq!(text(&collect(&llm).unwrap()), "ok");
    });
    let a = attempts(&spans);
    assert_eq!(
        a[0].status,
        aitrace_core::Status::Error {
            message: "no answer within 100ms".into(),
            error_type: Some("timeout".into()),
        }
    );
    // What the user waited is measured from their span's start, the primary's timeout included;
    // the backup's own attempt measures only itself.
    let generation = spans
        .iter()
        .find(|s| s.kind == aitrace_core::SpanKind::ModelGeneration)
        .unwrap();
    let waited = generation.time_to_first_token_s.unwrap();
    assert!(waited >= 0.1, "time to first token {waited}s");
    assert!(a[1].time_to_first_token_s.unwrap() < waited);
}

#[test]
fn no_switch_after_chunks_were_sent_unless_allowed() {
    let failing = || {
        Arc::new(ScriptedLlm::scripted(
            "openai",
            "gpt-4o",
            vec![],
            Behavior::FailAfter(2, server_error()),
        ))
    };
    let backup = Arc::new(ScriptedLlm::answering(
        "anthropic",
        "claude",
        "from backup",
        Usage::new(5, 5),
    ));
    let llm = LlmFallback::with_config(vec![failing(), backup.clone()], config()).unwrap();
    let result = block_on(async {
        let mut s = llm.chat(ChatRequest::default()).await.unwrap();
        let mut got = Vec::new();
        while let Some(c) = s.next().await {
            got.push(c);
        }
        got
    });
    assert_eq!(result.len(), 3);
    assert_eq!(result[0].as_ref().unwrap().text.as_deref(), Some("part0 "));
    assert_eq!(result[2].as_ref().unwrap_err().kind, ErrorKind::Server);
    assert_eq!(
        backup.calls(),
        0,
        "the caller already had text: no silent switch"
    );

    let allowed = LlmFallback::with_config(
        vec![failing(), backup.clone()],
        LlmFallbackConfig {
            retry_on_chunk_sent: true,
            ..config()
        },
    )
    .unwrap();
    let chunks = collect(&allowed).unwrap();
    assert_eq!(text(&chunks), "part0 part1 from backup");
    assert_eq!(backup.calls(), 1);
}

#[test]
fn retries_per_provider_and_non_retryable_errors_move_on_at_once() {
    let flaky = Arc::new(ScriptedLlm::scripted(
        "openai",
        "gpt-4o",
        vec![
            Behavior::Fail(server_error()),
            Behavior::Fail(server_error()),
        ],
        Behavior::Answer {
            chunks: vec!["third time".into()],
            usage: Usage::new(3, 3),
        },
    ));
    let llm = LlmFallback::with_config(
        vec![flaky.clone()],
        LlmFallbackConfig {
            max_retry_per_provider: 2,
            ..config()
        },
    )
    .unwrap();
    assert_eq!(text(&collect(&llm).unwrap()), "third time");
    assert_eq!(flaky.calls(), 3);

    let bad_key = Arc::new(ScriptedLlm::scripted(
        "openai",
        "gpt-4o",
        vec![],
        Behavior::Fail(ProviderError::new(ErrorKind::Auth, "401")),
    ));
    let backup = Arc::new(ScriptedLlm::answering(
        "anthropic",
        "claude",
        "ok",
        Usage::new(1, 1),
    ));
    let llm = LlmFallback::with_config(
        vec![bad_key.clone(), backup],
        LlmFallbackConfig {
            max_retry_per_provider: 5,
            ..config()
        },
    )
    .unwrap();
    collect(&llm).unwrap();
    assert_eq!(
        bad_key.calls(),
        1,
        "auth errors are not retried on the same provider"
    );
}

#[test]
fn when_every_provider_fails_all_are_tried_and_each_failure_is_listed() {
    let a = Arc::new(ScriptedLlm::scripted(
        "openai",
        "gpt-4o",
        vec![],
        Behavior::Fail(server_error()),
    ));
    let b = Arc::new(ScriptedLlm::scripted(
        "anthropic",
        "claude",
        vec![],
        Behavior::Fail(ProviderError::new(ErrorKind::RateLimited, "429")),
    ));
    let llm = LlmFallback::with_config(vec![a.clone(), b.clone()], config()).unwrap();
    let spans = capture(|| {
        let _g = generation_span!("openai", "gpt-4o").entered();
        let err = collect(&llm).unwrap_err();
        assert!(
            err.message.contains("openai/gpt-4o: server_error: 503")
                && err.message.contains("anthropic/claude: rate_limited: 429"),
            "{err}"
        );
    });
    assert!(!llm.is_available(0) && !llm.is_available(1));
    // Both unavailable: the next request still tries both before giving up.
    assert!(collect(&llm).is_err());
    assert_eq!((a.calls(), b.calls()), (2, 2));
    let chat = spans.iter().find(|s| s.name == "chat").unwrap();
    assert!(chat.status.is_error());
    assert_eq!(total_billable_usage(&spans), Usage::default());
}

#[test]
fn availability_changes_are_announced_and_failed_providers_are_skipped_then_retried_lazily() {
    let primary = Arc::new(ScriptedLlm::scripted(
        "openai",
        "gpt-4o",
        vec![Behavior::Fail(server_error())],
        Behavior::Answer {
            chunks: vec!["primary again".into()],
            usage: Usage::new(1, 1),
        },
    ));
    let backup = Arc::new(ScriptedLlm::answering(
        "anthropic",
        "claude",
        "backup",
        Usage::new(1, 1),
    ));
    let llm = LlmFallback::with_config(
        vec![primary.clone(), backup.clone()],
        LlmFallbackConfig {
            recovery_interval: Duration::from_millis(150),
            ..config()
        },
    )
    .unwrap();
    let mut events = llm.availability_changed();
    assert_eq!(text(&collect(&llm).unwrap()), "backup");
    assert_eq!(
        llm.active(),
        ("anthropic".to_string(), "claude".to_string())
    );
    // Within the recovery interval the failed primary is skipped.
    assert_eq!(text(&collect(&llm).unwrap()), "backup");
    assert_eq!(primary.calls(), 1);
    std::thread::sleep(Duration::from_millis(200));
    // After it, the next request probes the primary, which recovered.
    assert_eq!(text(&collect(&llm).unwrap()), "primary again");
    let seen: Vec<AvailabilityChanged> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert_eq!(
        seen.iter()
            .map(|e| (e.index, e.available))
            .collect::<Vec<_>>(),
        [(0, false), (0, true)]
    );
    assert_eq!(seen[0].provider, "openai");
}

#[tokio::test(flavor = "current_thread")]
async fn a_spawner_probes_failed_providers_in_the_background() {
    let primary = Arc::new(ScriptedLlm::scripted(
        "openai",
        "gpt-4o",
        vec![
            Behavior::Fail(server_error()),
            Behavior::Fail(server_error()),
        ],
        Behavior::Answer {
            chunks: vec!["recovered".into()],
            usage: Usage::new(1, 1),
        },
    ));
    let backup = Arc::new(ScriptedLlm::answering(
        "anthropic",
        "claude",
        "backup",
        Usage::new(1, 1),
    ));
    let handle = tokio::runtime::Handle::current();
    let adapter = LlmFallback::with_config(
        vec![primary.clone(), backup],
        LlmFallbackConfig {
            recovery_interval: Duration::from_millis(20),
            ..config()
        },
    )
    .unwrap();
    // Cloned before the spawner is set (as an app that hands the adapter around does): every clone
    // still probes with it.
    let llm = adapter.clone();
    let _spawning = adapter.with_spawner(move |task| {
        handle.spawn(task);
    });
    let mut events = llm.availability_changed();
    let mut s = llm.chat(ChatRequest::default()).await.unwrap();
    while s.next().await.is_some() {}
    assert!(!llm.is_available(0));
    // The background probe fails once more, then succeeds: the primary is back without any request.
    let recovered = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(e) = events.next().await {
                if e.index == 0 && e.available {
                    return e;
                }
            }
        }
    })
    .await
    .expect("the probe brought the primary back");
    assert_eq!(recovered.provider, "openai");
    assert!(llm.is_available(0));
    assert_eq!(primary.calls(), 3, "one real call and two probes");
}

#[test]
fn without_a_generation_span_the_adapter_opens_one_so_usage_is_billed() {
    let primary = Arc::new(ScriptedLlm::scripted(
        "openai",
        "gpt-4o",
        vec![Behavior::Fail(server_error())],
        Behavior::Hang,
    ));
    let backup = Arc::new(ScriptedLlm::answering(
        "anthropic",
        "claude",
        "Hi there",
        BACKUP_USAGE,
    ));
    let llm = LlmFallback::with_config(vec![primary, backup], config()).unwrap();
    let spans = capture(|| {
        let _agent = agent_span!("bot").entered();
        block_on(async {
            let request = ChatRequest {
                messages: vec![aitrace_core::ChatMessage::user("hello")],
                ..ChatRequest::default()
            };
            let mut s = llm.chat(request).await.unwrap();
            while s.next().await.is_some() {}
        });
    });
    let chat = spans
        .iter()
        .find(|s| s.kind == SpanKind::ModelGeneration)
        .expect("a generation span");
    assert!(chat.billable);
    assert_eq!(chat.model(), Some("claude"));
    assert_eq!(chat.usage, Some(BACKUP_USAGE));
    assert_eq!(
        chat.input.as_ref().unwrap()[0]["parts"][0]["content"],
        "hello"
    );
    assert_eq!(
        chat.output.as_ref().unwrap()[0]["parts"][0]["content"],
        "Hi there"
    );
    assert_eq!(total_billable_usage(&spans), BACKUP_USAGE);
    let agent = spans.iter().find(|s| s.kind == SpanKind::AgentRun).unwrap();
    assert_eq!(chat.parent_span_id, Some(agent.span_id));
    assert!(attempts(&spans)
        .iter()
        .all(|a| a.parent_span_id == Some(chat.span_id)));
}

#[test]
fn adapters_nest() {
    let inner = LlmFallback::with_config(
        vec![
            Arc::new(ScriptedLlm::scripted(
                "openai",
                "gpt-4o",
                vec![],
                Behavior::Fail(server_error()),
            )),
            Arc::new(ScriptedLlm::answering(
                "openai",
                "gpt-4o-mini",
                "inner backup",
                Usage::new(2, 2),
            )),
        ],
        config(),
    )
    .unwrap();
    let outer = LlmFallback::with_config(
        vec![
            Arc::new(inner) as Arc<dyn LlmProvider>,
            Arc::new(ScriptedLlm::answering(
                "anthropic",
                "claude",
                "outer",
                Usage::new(9, 9),
            )),
        ],
        config(),
    )
    .unwrap();
    let spans = capture(|| {
        let _g = generation_span!("openai", "gpt-4o").entered();
        assert_eq!(text(&collect(&outer).unwrap()), "inner backup");
    });
    let chat = spans.iter().find(|s| s.name == "chat").unwrap();
    assert_eq!(
        chat.model(),
        Some("gpt-4o-mini"),
        "the innermost provider that answered wins"
    );
    assert_eq!(chat.request_model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(
        chat.provider.as_deref(),
        Some("openai"),
        "never the adapter's own name"
    );
    assert_eq!(total_billable_usage(&spans), Usage::new(2, 2));
}

#[test]
fn several_calls_under_one_generation_add_up() {
    let llm = LlmFallback::with_config(
        vec![Arc::new(ScriptedLlm::scripted(
            "openai",
            "gpt-4o",
            vec![Behavior::ToolCall {
                id: "call_1".into(),
                name: "lookup".into(),
                arguments: serde_json::json!({"id": 7}),
                usage: Usage::new(100, 10),
            }],
            Behavior::Answer {
                chunks: vec!["done".into()],
                usage: Usage::new(200, 20),
            },
        ))],
        config(),
    )
    .unwrap();
    let (mut args, mut names) = (String::new(), Vec::new());
    let spans = capture(|| {
        let _g = generation_span!("openai", "gpt-4o").entered();
        // Without steps: both calls add up on the generation.
        for chunk in collect(&llm).unwrap() {
            for t in chunk.tool_calls {
                args.push_str(&t.arguments);
                names.extend(t.name);
            }
        }
        collect(&llm).unwrap();
    });
    assert_eq!(
        (args.as_str(), names),
        (r#"{"id":7}"#, vec!["lookup".to_string()])
    );
    assert_eq!(total_billable_usage(&spans), Usage::new(300, 30));
    // With steps: each step keeps its call's usage; the generation bills their sum.
    let spans = capture(|| {
        let _g = generation_span!("openai", "gpt-4o").entered();
        for i in 0..2u64 {
            let _s = step_span!(i).entered();
            collect(&llm).unwrap();
        }
    });
    assert_eq!(total_billable_usage(&spans), Usage::new(400, 40));
    assert!(spans
        .iter()
        .filter(|s| s.name == "step")
        .all(|s| s.usage == Some(Usage::new(200, 20)) && !s.billable));
}

#[test]
fn invalid_adapter_settings_are_errors_naming_the_setting() {
    assert_eq!(LlmFallback::new(vec![]).unwrap_err().setting, "providers");
    let one = || {
        vec![Arc::new(ScriptedLlm::answering(
            "openai",
            "gpt-4o",
            "x",
            Usage::new(1, 1),
        )) as Arc<dyn LlmProvider>]
    };
    let zero = LlmFallbackConfig {
        attempt_timeout: Duration::ZERO,
        ..config()
    };
    assert_eq!(
        LlmFallback::with_config(one(), zero).unwrap_err().setting,
        "attempt_timeout"
    );
    assert_eq!(
        aitrace_fallback::TtsFallback::new(vec![])
            .unwrap_err()
            .setting,
        "providers"
    );
    assert_eq!(
        aitrace_fallback::SttFallback::new(vec![])
            .unwrap_err()
            .setting,
        "providers"
    );
}

/// A provider whose stream ends with what OpenAI-compatible APIs send on the last chunk.
struct StopsAtLength;

#[aitrace_fallback::async_trait]
impl LlmProvider for StopsAtLength {
    fn provider(&self) -> &str {
        "openai"
    }
    fn model(&self) -> &str {
        "gpt-4o"
    }
    async fn chat(&self, _: ChatRequest) -> Result<aitrace_fallback::ChatStream, ProviderError> {
        let chunks = [
            ChatChunk {
                text: Some("The order".into()),
                ..ChatChunk::default()
            },
            ChatChunk {
                text: Some(" ships".into()),
                finish_reason: Some("length".into()),
                response_id: Some("chatcmpl-42".into()),
                response_model: Some("gpt-4o-2024-08-06".into()),
                usage: Some(Usage::new(20, 2)),
                ..ChatChunk::default()
            },
        ];
        Ok(futures::stream::iter(chunks.map(Ok)).boxed())
    }
}

#[test]
fn the_answer_s_finish_reason_id_and_model_reach_the_user_s_generation() {
    let llm = LlmFallback::with_config(vec![Arc::new(StopsAtLength)], config()).unwrap();
    for with_step in [false, true] {
        let spans = capture(|| {
            let _g = generation_span!("openai", "gpt-4o").entered();
            let _s = with_step.then(|| aitrace_core::step_span!(0u32).entered());
            collect(&llm).unwrap();
        });
        let generation = spans
            .iter()
            .find(|s| s.kind == aitrace_core::SpanKind::ModelGeneration)
            .unwrap();
        assert_eq!(generation.finish_reasons, ["length"], "step: {with_step}");
        assert_eq!(generation.response_id.as_deref(), Some("chatcmpl-42"));
        assert_eq!(
            generation.response_model.as_deref(),
            Some("gpt-4o-2024-08-06")
        );
        if with_step {
            let step = spans.iter().find(|s| s.name == "step").unwrap();
            assert_eq!(step.finish_reasons, ["length"]);
        }
    }
}
