//! `testing::capture` under the default (parallel) test runner: other threads running the same
//! instrumented code without a subscriber never make the capturing thread lose spans. These
//! callsites are used by this test binary only, so the first hits are the racy ones.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aitrace_core::testing::capture;
use aitrace_core::{generation_span, tool_span};

fn instrumented(n: usize) {
    for i in 0..n {
        generation_span!("openai", "gpt-4o", i = i).in_scope(|| tool_span!("t").in_scope(|| {}));
    }
}

#[test]
fn capture_loses_nothing_while_threads_without_a_subscriber_run_the_same_code() {
    let stop = Arc::new(AtomicBool::new(false));
    let others: Vec<_> = (0..3)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    instrumented(10);
                }
            })
        })
        .collect();
    let spans = capture(|| instrumented(500));
    stop.store(true, Ordering::Relaxed);
    for t in others {
        t.join().unwrap();
    }
    assert_eq!(
        spans.len(),
        1000,
        "every span of the capturing thread, no other thread's"
    );
}

#[test]
fn parallel_captures_each_see_their_own_spans() {
    let handles: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(|| capture(|| instrumented(100)).len()))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
}
