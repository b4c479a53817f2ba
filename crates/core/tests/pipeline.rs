//! The export pipeline: bounded queues, batching, retry, isolation, shutdown, and the counters that
//! account for every record.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use aitrace_core::testing::TestExporter;
use aitrace_core::{
    builder, generation_span, tool_span, AiSpanExt, ExportConfig, ExportError, Exporter,
    JsonlExporter, SpanRecord, Usage, Verdict,
};
use tracing_subscriber::layer::SubscriberExt;

/// Runs `f` on another thread and fails the test if it has not finished within a generous limit:
/// the way to prove "the application is never blocked" without timing anything.
fn must_finish<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} was blocked"))
}

fn fast_config() -> ExportConfig {
    ExportConfig::default()
        .with_max_batch_age(Duration::from_millis(20))
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(50))
}

/// An exporter that blocks in `export` until released (never, unless the test says so).
struct BlockingExporter {
    release: Arc<Mutex<mpsc::Receiver<()>>>,
    entered: mpsc::Sender<()>,
}

impl Exporter for BlockingExporter {
    fn name(&self) -> &str {
        "blocking"
    }
    fn export(&mut self, _batch: &[SpanRecord]) -> Result<(), ExportError> {
        let _ = self.entered.send(());
        let _ = self.release.lock().unwrap().recv();
        Ok(())
    }
}

/// An exporter that blocks forever once called, and the receiver that says it was called. The
/// release sender is returned too: dropping it would unblock the exporter.
fn blocked_exporter() -> (BlockingExporter, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (entered_tx, entered_rx) = mpsc::channel();
    let exporter = BlockingExporter {
        release: Arc::new(Mutex::new(release_rx)),
        entered: entered_tx,
    };
    (exporter, entered_rx, release_tx)
}

#[test]
fn a_blocked_exporter_never_blocks_the_app_and_drops_are_counted() {
    let (exporter, entered_rx, _release_tx) = blocked_exporter();
    let config = fast_config().with_queue_capacity(8).with_max_batch_size(4);
    let (layer, guard) = builder()
        .exporter_with_config(exporter, config)
        .build_layer()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let produced = 1000;
    let guard = must_finish("span creation with a hung exporter", move || {
        aitrace_core::testing::with_default(subscriber, || {
            generation_span!("openai", "gpt-4o").in_scope(|| {});
            // Wait until the worker is stuck inside export, so the rest can only queue or drop.
            entered_rx
                .recv_timeout(Duration::from_secs(30))
                .expect("worker entered export");
            for _ in 1..produced {
                generation_span!("openai", "gpt-4o").in_scope(|| {});
            }
        });
        guard
    });
    let stats = guard.stats();
    let e = &stats.exporters[0];
    assert_eq!(stats.spans_closed, produced);
    assert_eq!(e.enqueued + e.dropped_queue_full, produced, "{e:?}");
    // One span is inside the stuck export call and counts against the cap: 7 more wait behind it.
    assert_eq!(e.enqueued, 8, "{e:?}");
    assert_eq!(e.queued, 8, "everything held is reported: {e:?}");
    assert_eq!(e.dropped_queue_full, produced - 8);
    assert_eq!(e.exported, 0);

    let report = must_finish("shutdown with a hung exporter", move || {
        guard.shutdown(Duration::from_millis(200))
    });
    assert!(!report.completed);
    assert_eq!(
        report.lost, produced,
        "everything was lost and reported: {report:?}"
    );
}

#[test]
fn shutdown_delivers_everything_produced_before_it() {
    let spans = TestExporter::new();
    // Long batch age: only the shutdown drain can deliver the tail.
    let config = ExportConfig::default()
        .with_max_batch_age(Duration::from_secs(3600))
        .with_max_batch_size(64);
    let (layer, guard) = builder()
        .exporter_with_config(spans.clone(), config)
        .build_layer()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    aitrace_core::testing::with_default(subscriber, || {
        for i in 0..1000u64 {
            let g = generation_span!("openai", "gpt-4o", i = i);
            g.record_usage(Usage::new(i, 1));
        }
    });
    let report = guard.shutdown(Duration::from_secs(30));
    assert!(report.completed);
    assert_eq!(report.lost, 0);
    assert_eq!(spans.len(), 1000);
    let mut seen: Vec<u64> = spans
        .spans()
        .iter()
        .map(|s| s.attributes["i"].as_u64().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    let e = &report.stats.exporters[0];
    assert_eq!((e.enqueued, e.exported, e.queued), (1000, 1000, 0));
}

#[test]
fn flush_exports_what_is_queued_without_shutting_down() {
    let spans = TestExporter::new();
    let config = ExportConfig::default().with_max_batch_age(Duration::from_secs(3600));
    let (layer, guard) = builder()
        .exporter_with_config(spans.clone(), config)
        .build_layer()
        .unwrap();
    aitrace_core::testing::isolate_thread_local_subscribers();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || tool_span!("a").in_scope(|| {}));
    assert!(guard.flush(Duration::from_secs(10)));
    assert_eq!(spans.len(), 1);
    tracing::dispatcher::with_default(&dispatch, || tool_span!("b").in_scope(|| {}));
    assert!(guard.flush(Duration::from_secs(10)));
    assert_eq!(spans.len(), 2);
    guard.shutdown(Duration::from_secs(10));
    tracing::dispatcher::with_default(&dispatch, || tool_span!("late").in_scope(|| {}));
    let stats = guard.stats();
    assert_eq!(stats.dropped_after_shutdown, 1);
    assert_eq!(spans.len(), 2);
}

struct PanickingExporter {
    calls: Arc<AtomicUsize>,
}

impl Exporter for PanickingExporter {
    fn name(&self) -> &str {
        "panicky"
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if batch.iter().any(|s| s.name == "execute_tool") {
            panic!("exporter bug");
        }
        Ok(())
    }
}

#[test]
fn a_panicking_exporter_or_processor_does_not_take_down_the_app() {
    let calls = Arc::new(AtomicUsize::new(0));
    let healthy = TestExporter::new();
    let config = fast_config().with_max_batch_size(1);
    let (layer, guard) = builder()
        .processor(|s: &mut SpanRecord| {
            if s.name == "invoke_agent" {
                panic!("processor bug");
            }
            Verdict::Keep
        })
        .exporter_with_config(
            PanickingExporter {
                calls: calls.clone(),
            },
            config.clone(),
        )
        .exporter_with_config(healthy.clone(), config)
        .build_layer()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    aitrace_core::testing::with_default(subscriber, || {
        tool_span!("boom").in_scope(|| {});
        aitrace_core::agent_span!("a").in_scope(|| {});
        generation_span!("openai", "gpt-4o").in_scope(|| {});
    });
    let report = guard.shutdown(Duration::from_secs(10));
    let [panicky, ok] = &report.stats.exporters[..] else {
        panic!()
    };
    assert_eq!(
        report.stats.processor_panics, 1,
        "the agent span was dropped, fail closed"
    );
    assert_eq!(
        (
            panicky.panics,
            panicky.dropped_after_retries,
            panicky.exported
        ),
        (1, 1, 1)
    );
    assert_eq!(
        panicky.last_error.as_deref(),
        Some("the exporter panicked: exporter bug"),
        "the panic's message is kept"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the panicking exporter kept working afterwards"
    );
    assert_eq!(ok.exported, 2);
    assert_eq!(
        healthy
            .spans()
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["execute_tool", "chat"]
    );
}

/// Fails according to a script, recording when each call happened.
struct ScriptedExporter {
    script: Vec<Result<(), ExportError>>,
    calls: Arc<Mutex<Vec<(Instant, usize)>>>,
    accepted: Arc<Mutex<Vec<String>>>,
}

impl Exporter for ScriptedExporter {
    fn name(&self) -> &str {
        "scripted"
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        self.calls
            .lock()
            .unwrap()
            .push((Instant::now(), batch.len()));
        let outcome = if self.script.is_empty() {
            Ok(())
        } else {
            self.script.remove(0)
        };
        let rejected: Vec<usize> = match &outcome {
            Ok(()) => vec![],
            Err(e) => e
                .failed
                .clone()
                .unwrap_or_else(|| (0..batch.len()).collect()),
        };
        let mut accepted = self.accepted.lock().unwrap();
        for (i, s) in batch.iter().enumerate() {
            if !rejected.contains(&i) {
                accepted.push(s.attributes["n"].to_string());
            }
        }
        outcome
    }
}

fn run_scripted(
    script: Vec<Result<(), ExportError>>,
    spans: u64,
    config: ExportConfig,
) -> (
    aitrace_core::ShutdownReport,
    Vec<(Instant, usize)>,
    Vec<String>,
) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let exporter = ScriptedExporter {
        script,
        calls: calls.clone(),
        accepted: accepted.clone(),
    };
    let (layer, guard) = builder()
        .exporter_with_config(exporter, config)
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        for n in 0..spans {
            tool_span!("t", n = n).in_scope(|| {});
        }
    });
    let report = guard.shutdown(Duration::from_secs(30));
    let calls = calls.lock().unwrap().clone();
    let accepted = accepted.lock().unwrap().clone();
    (report, calls, accepted)
}

#[test]
fn retryable_errors_are_retried_with_backoff_and_retry_after() {
    let config = fast_config()
        .with_max_batch_size(10)
        .with_max_batch_age(Duration::from_secs(3600));
    let script = vec![
        Err(ExportError::retryable("503")),
        Err(ExportError::retryable("429").with_retry_after(Duration::from_millis(40))),
        Ok(()),
    ];
    let (report, calls, accepted) = run_scripted(script, 10, config);
    let e = &report.stats.exporters[0];
    assert_eq!(
        (e.exported, e.retries, e.failed_batches, e.dropped()),
        (10, 2, 0, 0),
        "{e:?}"
    );
    assert_eq!(calls.len(), 3);
    assert_eq!(accepted.len(), 10);
    // The second retry waited at least what Retry-After asked for.
    assert!(calls[2].0 - calls[1].0 >= Duration::from_millis(40));
    assert!(e.last_error.as_deref().unwrap().contains("429"));
}

#[test]
fn fatal_errors_and_exhausted_retries_drop_the_batch_and_count_it() {
    let config = fast_config()
        .with_max_batch_size(5)
        .with_max_batch_age(Duration::from_secs(3600))
        .with_max_retries(2);
    let script = vec![
        Err(ExportError::fatal(
            "401 unauthorized: check LANGFUSE_SECRET_KEY",
        )),
        Err(ExportError::retryable("500")),
        Err(ExportError::retryable("500")),
        Err(ExportError::retryable("500")),
    ];
    let (report, calls, accepted) = run_scripted(script, 15, config);
    let e = &report.stats.exporters[0];
    // Batch 1: fatal, dropped at once. Batch 2: 1 try + 2 retries, dropped. Batch 3: fine.
    assert_eq!(calls.len(), 1 + 3 + 1);
    assert_eq!(
        (
            e.exported,
            e.dropped_after_retries,
            e.failed_batches,
            e.retries
        ),
        (5, 10, 2, 2),
        "{e:?}"
    );
    assert_eq!(accepted.len(), 5);
    assert_eq!(e.enqueued, e.exported + e.dropped_after_retries);
    assert_eq!(report.lost, 10);
}

#[test]
fn partial_failures_retry_only_the_rejected_records() {
    let config = fast_config()
        .with_max_batch_size(6)
        .with_max_batch_age(Duration::from_secs(3600));
    let script = vec![
        Err(ExportError::partial("2 events rejected", vec![1, 4], true)),
        Err(ExportError::partial("1 event invalid", vec![0, 99], false)),
    ];
    let (report, calls, accepted) = run_scripted(script, 6, config);
    let e = &report.stats.exporters[0];
    assert_eq!(calls.iter().map(|c| c.1).collect::<Vec<_>>(), [6, 2]);
    // 4 accepted at first, then of the 2 retried one accepted and one rejected for good.
    assert_eq!((e.exported, e.dropped_after_retries), (5, 1), "{e:?}");
    assert_eq!(accepted.len(), 5);
    assert_eq!(e.enqueued, 6);
}

#[test]
fn the_queue_is_capped_by_bytes_too() {
    let (exporter, entered_rx, _release_tx) = blocked_exporter();
    let config = fast_config()
        .with_queue_capacity(10_000)
        .with_queue_max_bytes(1 << 20)
        .with_max_batch_size(1);
    let (layer, guard) = builder()
        .exporter_with_config(exporter, config)
        .build_layer()
        .unwrap();
    let big = "x".repeat(100_000);
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        tool_span!("first").in_scope(|| {});
        entered_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        for _ in 0..50 {
            tool_span!("big").set_input(big.as_str());
        }
    });
    let e = guard.stats().exporters[0].clone();
    assert!(e.queued_bytes <= 1 << 20, "{e:?}");
    // ~100 kB each under a 1 MiB cap, beside the small one stuck in export: at most 10 fit.
    assert!(e.queued <= 11 && e.queued >= 10, "{e:?}");
    assert_eq!(e.dropped_queue_full, 51 - e.queued, "{e:?}");
    drop(guard.shutdown(Duration::from_millis(100)));
}

#[test]
fn many_threads_lose_nothing_when_the_queue_is_large_enough() {
    let spans = TestExporter::new();
    let config = fast_config().with_queue_capacity(100_000);
    let (layer, guard) = builder()
        .exporter_with_config(spans.clone(), config)
        .build_layer()
        .unwrap();
    aitrace_core::testing::isolate_thread_local_subscribers();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let threads = 8;
    let per_thread = 500;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..per_thread {
                        let agent = aitrace_core::agent_span!("worker", thread = t, i = i);
                        let _a = agent.enter();
                        let g = generation_span!("openai", "gpt-4o");
                        g.record_usage(Usage::new(10, 1));
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(30));
    assert!(report.completed);
    assert_eq!(report.lost, 0);
    let all = spans.spans();
    assert_eq!(all.len(), threads * per_thread * 2);
    let mut ids: Vec<_> = all.iter().map(|s| s.span_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "span ids are unique");
    // Every generation is parented to its own thread's agent, never another thread's.
    let agents: std::collections::HashMap<_, _> = all
        .iter()
        .filter(|s| s.name == "invoke_agent")
        .map(|s| (s.span_id, s.trace_id))
        .collect();
    for g in all.iter().filter(|s| s.name == "chat") {
        assert_eq!(agents.get(&g.parent_span_id.unwrap()), Some(&g.trace_id));
    }
    let total = aitrace_core::testing::total_billable_usage(&all);
    assert_eq!(total.input_tokens, Some(10 * (threads * per_thread) as u64));
}

#[test]
fn jsonl_round_trips_every_record() {
    let dir = std::env::temp_dir().join(format!("aitrace-jsonl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("spans.jsonl");
    let memory = TestExporter::new();
    let (layer, guard) = builder()
        .exporter(JsonlExporter::create(&path).unwrap())
        .exporter(memory.clone())
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let agent = aitrace_core::agent_span!("a");
        agent
            .set_parent_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
        let _a = agent.enter();
        let g = generation_span!(
            "anthropic",
            "claude",
            gen_ai.request.temperature = 0.5,
            gen_ai.request.stop_sequences = "END"
        );
        g.set_input_messages(&[aitrace_core::ChatMessage::user(
            "héllo \"quoted\" \n newline",
        )]);
        g.record_usage(Usage::new(3, 4).with_reasoning(1));
        let mut cost = aitrace_core::Cost::default().in_currency("EUR");
        cost.input = Some(0.1);
        g.record_cost(cost);
        g.set_metadata("langfuse.promptName", "p");
        g.in_scope(|| tracing::warn!(attempt = 2, "retrying"));
        g.set_error("timeout", "took too long");
        tool_span!("t").set_output(serde_json::json!({"nested": [1, 2, {"k": null}]}));
    });
    guard.shutdown(Duration::from_secs(10));
    let text = std::fs::read_to_string(&path).unwrap();
    let from_file = aitrace_core::jsonl::read_jsonl(&text).unwrap();
    let mut expected = memory.spans();
    let mut got = from_file.clone();
    expected.sort_by_key(|s| s.span_id);
    got.sort_by_key(|s| s.span_id);
    assert_eq!(got, expected);
    assert_eq!(text.lines().count(), 3);
    // The documented schema: snake_case kinds, hex ids, unix-nano times, tagged status.
    let first: serde_json::Value =
        serde_json::from_str(text.lines().find(|l| l.contains("\"chat\"")).unwrap()).unwrap();
    assert_eq!(first["kind"], "model_generation");
    assert_eq!(first["status"]["code"], "error");
    assert_eq!(first["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(first["start_time_unix_nano"].is_u64());
    assert_eq!(first["usage"]["reasoning_tokens"], 1);
    assert!(aitrace_core::jsonl::read_jsonl("{\"not\":\"a span\"}")
        .unwrap_err()
        .starts_with("line 1:"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Records each batch it receives; asks for whole traces.
#[derive(Clone, Default)]
struct TraceBatches {
    batches: Arc<Mutex<Vec<Vec<SpanRecord>>>>,
}

impl Exporter for TraceBatches {
    fn name(&self) -> &str {
        "traces"
    }
    fn needs_whole_traces(&self) -> bool {
        true
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        self.batches.lock().unwrap().push(batch.to_vec());
        Ok(())
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn whole_trace_exporters_get_each_trace_in_one_batch() {
    let exporter = TraceBatches::default();
    let config = fast_config()
        .with_max_batch_size(3)
        .with_trace_max_age(Duration::from_secs(3600));
    let (layer, guard) = builder()
        .exporter_with_config(exporter.clone(), config)
        .build_layer()
        .unwrap();
    aitrace_core::testing::isolate_thread_local_subscribers();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let _d = tracing::dispatcher::set_default(&dispatch);
    // Two traces interleaved, each larger than a batch.
    let a = aitrace_core::agent_span!("a");
    let b = aitrace_core::agent_span!("b");
    for _ in 0..3 {
        a.in_scope(|| tool_span!("ta").in_scope(|| {}));
        b.in_scope(|| tool_span!("tb").in_scope(|| {}));
    }
    let (a_trace, b_trace) = (a.ai_trace_id().unwrap(), b.ai_trace_id().unwrap());
    drop(a);
    wait_until("trace a", || {
        exporter.batches.lock().unwrap().iter().flatten().count() == 4
    });
    let stats = guard.stats().exporters[0].clone();
    assert_eq!(
        stats.waiting_for_trace, 3,
        "b's three tools wait for b's root: {stats:?}"
    );
    assert_eq!(stats.exported, 4);
    drop(b);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.lost, 0);
    let batches = exporter.batches.lock().unwrap().clone();
    for trace in [a_trace, b_trace] {
        let holding: Vec<&Vec<SpanRecord>> = batches
            .iter()
            .filter(|b| b.iter().any(|s| s.trace_id == trace))
            .collect();
        assert_eq!(holding.len(), 1, "trace split across batches");
        assert_eq!(holding[0].iter().filter(|s| s.trace_id == trace).count(), 4);
    }
    let e = &report.stats.exporters[0];
    assert_eq!((e.enqueued, e.exported, e.waiting_for_trace), (8, 8, 0));
}

#[test]
fn spans_whose_root_never_closes_are_released_after_trace_max_age_and_at_shutdown() {
    let exporter = TraceBatches::default();
    let config = fast_config().with_trace_max_age(Duration::from_millis(50));
    let (layer, guard) = builder()
        .exporter_with_config(exporter.clone(), config)
        .build_layer()
        .unwrap();
    aitrace_core::testing::isolate_thread_local_subscribers();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let _d = tracing::dispatcher::set_default(&dispatch);
    let open = aitrace_core::agent_span!("long_running");
    open.in_scope(|| tool_span!("early").in_scope(|| {}));
    wait_until("the rootless span", || {
        exporter.batches.lock().unwrap().iter().flatten().count() == 1
    });
    assert_eq!(guard.stats().exporters[0].waiting_for_trace, 0);
    // Held at shutdown: delivered, not lost.
    let long = fast_config().with_trace_max_age(Duration::from_secs(3600));
    let held = TraceBatches::default();
    let (layer2, guard2) = builder()
        .exporter_with_config(held.clone(), long)
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer2), || {
        let _open = aitrace_core::agent_span!("never_closed_before_shutdown").entered();
        tool_span!("t").in_scope(|| {});
        let report = guard2.shutdown(Duration::from_secs(10));
        assert_eq!((report.lost, report.stats.exporters[0].exported), (0, 1));
    });
    assert_eq!(held.batches.lock().unwrap().iter().flatten().count(), 1);
    drop(open);
    guard.shutdown(Duration::from_secs(10));
}

/// Records which thread it ran on; drops spans named `drop_me`; panics on `boom`.
struct Offloaded {
    threads: Arc<Mutex<Vec<String>>>,
}

impl aitrace_core::Processor for Offloaded {
    fn process(&self, span: &mut SpanRecord) -> Verdict {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().name().unwrap_or("?").to_string());
        match span.attributes.get("what").and_then(|v| v.as_str()) {
            Some("drop_me") => Verdict::Drop,
            Some("boom") => panic!("offloaded processor bug"),
            _ => {
                span.tags.push("scanned".into());
                Verdict::Keep
            }
        }
    }
    fn name(&self) -> &str {
        "offloaded"
    }
    fn offload(&self) -> bool {
        true
    }
}

#[test]
fn offloaded_processors_run_on_each_exporter_worker() {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (
        TestExporter::new(),
        JsonlExporter::to_writer(std::io::sink()),
    );
    let (layer, guard) = builder()
        .processor(Offloaded {
            threads: threads.clone(),
        })
        .exporter_with_config(a.clone(), fast_config())
        .exporter_with_config(b, fast_config())
        .build_layer()
        .unwrap();
    let app_thread = std::thread::current().name().unwrap_or("?").to_string();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        for what in ["keep", "drop_me", "boom", "keep"] {
            tool_span!("t", what = what).in_scope(|| {});
        }
    });
    let report = guard.shutdown(Duration::from_secs(10));
    let ran_on = threads.lock().unwrap().clone();
    assert_eq!(ran_on.len(), 8, "once per span per exporter");
    assert!(
        ran_on
            .iter()
            .all(|t| t.starts_with("aitrace-") && *t != app_thread),
        "{ran_on:?}"
    );
    assert_eq!(a.len(), 2);
    assert!(a.spans().iter().all(|s| s.tags == ["scanned"]));
    for e in &report.stats.exporters {
        assert_eq!(
            (e.enqueued, e.exported, e.dropped_by_processors),
            (4, 2, 2),
            "{e:?}"
        );
    }
    assert_eq!(report.lost, 0, "processor drops are decisions, not losses");
    assert_eq!(
        report.stats.dropped_by_processors, 0,
        "nothing dropped on the span-close path"
    );
}

/// A [`TestExporter`] that says it never reads content.
struct ContentBlind(TestExporter);

impl Exporter for ContentBlind {
    fn name(&self) -> &str {
        "content-blind"
    }
    fn reads_content(&self) -> bool {
        false
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        self.0.export(batch)
    }
}

#[test]
fn content_is_parsed_only_for_exporters_and_processors_that_read_it() {
    let messages = r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#;
    let run = |with_content_processor: bool| {
        let (reader, blind) = (TestExporter::new(), TestExporter::new());
        let mut b = builder()
            .exporter_with_config(reader.clone(), fast_config())
            .exporter_with_config(ContentBlind(blind.clone()), fast_config());
        if with_content_processor {
            b = b.processor(Offloaded {
                threads: Arc::default(),
            });
        }
        let (layer, guard) = b.build_layer().unwrap();
        aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
            generation_span!("openai", "gpt-4o", gen_ai.input.messages = messages).in_scope(|| {});
        });
        assert!(guard.shutdown(Duration::from_secs(10)).completed);
        (reader.span("chat").input, blind.span("chat").input)
    };
    let parsed: serde_json::Value = serde_json::from_str(messages).unwrap();
    let (read, blind) = run(false);
    assert_eq!(read, Some(parsed.clone()));
    assert_eq!(blind, Some(serde_json::Value::String(messages.into())));
    // An offloaded processor reads content (the default), so both get it parsed.
    let (read, blind) = run(true);
    assert_eq!((read, blind), (Some(parsed.clone()), Some(parsed)));
}

/// The memory promise under a backend that stalls once the queue is full: the worker has taken a
/// whole queue's worth into its batch and is stuck delivering it. Those records still count against
/// both caps, so nothing more is admitted until they leave (before, a second queue's worth was).
#[test]
fn records_a_stalled_worker_holds_still_count_against_both_caps() {
    for (capacity, max_bytes, content) in [
        (64usize, 1usize << 30, 10usize),
        (100_000, 1 << 20, 100_000),
    ] {
        let (exporter, entered_rx, release_tx) = blocked_exporter();
        let config = fast_config()
            .with_queue_capacity(capacity)
            .with_queue_max_bytes(max_bytes)
            .with_max_batch_size(capacity)
            .with_max_batch_bytes(max_bytes);
        let (layer, guard) = builder()
            .exporter_with_config(exporter, config)
            .build_layer()
            .unwrap();
        let input = "x".repeat(content);
        let guard = must_finish("span creation with a stalled backend", move || {
            aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
                // Fill the queue; the worker takes it all and stalls in export.
                for _ in 0..2000 {
                    tool_span!("t").set_input(input.as_str());
                }
                entered_rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("worker entered export");
                for _ in 0..2000 {
                    tool_span!("t").set_input(input.as_str());
                }
            });
            guard
        });
        let e = guard.stats().exporters[0].clone();
        assert_eq!(e.exported, 0, "{e:?}");
        assert!(e.queued as usize <= capacity, "records held: {e:?}");
        assert!(e.queued_bytes as usize <= max_bytes, "bytes held: {e:?}");
        assert_eq!(
            e.enqueued, e.queued,
            "nothing left: all admitted are held {e:?}"
        );
        assert_eq!(e.enqueued + e.dropped_queue_full, 4000, "{e:?}");
        if capacity == 64 {
            assert_eq!(e.enqueued, 64, "{e:?}");
        } else {
            // ~100 kB each under a 1 MiB cap.
            assert!((9..=10).contains(&e.enqueued), "{e:?}");
        }
        // Once the backend answers, what was held leaves the count.
        drop(release_tx);
        let report = guard.shutdown(Duration::from_secs(30));
        let e = &report.stats.exporters[0];
        assert_eq!((e.queued, e.queued_bytes), (0, 0), "{e:?}");
        assert_eq!(e.exported, e.enqueued, "{e:?}");
    }
}
