//! The AI span as a new user builds it, timed against tracing-opentelemetry in alternating rounds in
//! one process (medians), outside criterion: `cargo bench --bench user_span`.
//!
//! - `generation`: `aitrace::builder()` with its defaults (SensitiveDataFilter, cost, chunk
//!   aggregation) and an exporter that reads content, against `tracing-opentelemetry` with the SDK's
//!   `BatchSpanProcessor`; one `chat` generation with model, provider, 3 parameters, ~1 KB input and
//!   output messages, usage recorded late. Both background workers run while spans are timed; both
//!   are flushed between rounds, outside the timed region.
//! - `chunks`: a streamed generation with 20 steps of 10 chunk spans each (200 chunks), timed per
//!   chunk span.
//! - `open spans`: bytes of heap held per open AI span, 10 000 open at once, before any closes
//!   (counted by a counting global allocator, so it is exact, not an RSS estimate).
//!
//! `USER_SPAN_PROFILE=aitrace|otel` runs 20 000 generations of one side only, untimed, for
//! `valgrind --tool=callgrind --separate-threads=yes`.

#[path = "shared/mod.rs"]
mod shared;

use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aitrace::{ExportConfig, ExportError, Exporter, SpanRecord};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use shared::{generation, messages, otel_provider};
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

/// Counts the bytes allocated and not yet freed, for the open-span row.
struct Counting;

static HELD: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);
/// Counting is on only while the open-span row measures: a counter every thread writes on every
/// allocation would slow both sides of the timed rows (the side allocating more, more).
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn count(bytes: isize) {
    if COUNTING.load(std::sync::atomic::Ordering::Relaxed) {
        HELD.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds `GlobalAlloc`'s
// contract; the counter only adds and subtracts the sizes it was given.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's layout, passed on.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        count(new as isize - layout.size() as isize);
        // SAFETY: as `alloc` and `dealloc`.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ROUNDS: usize = 15;
const SPANS_PER_ROUND: usize = 20_000;

/// A streamed generation: 20 steps of 10 chunks; returns the number of chunk spans.
fn streamed() -> usize {
    let chat = tracing::info_span!(
        "chat",
        aitrace.kind = "model_generation",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-4o",
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
    );
    let _chat = chat.enter();
    for step in 0..20u64 {
        let s = tracing::info_span!("step", aitrace.kind = "model_step", aitrace.step = step);
        let _s = s.enter();
        for _ in 0..10 {
            let c = tracing::info_span!("chunk", aitrace.kind = "model_chunk");
            black_box(&c);
        }
    }
    chat.record("gen_ai.usage.input_tokens", 812u64);
    chat.record("gen_ai.usage.output_tokens", 200u64);
    200
}

/// An exporter that reads content (the worker parses it for it), as every backend exporter does;
/// `ReadsContent(false)` is the analysis row's exporter that reads none.
struct ReadsContent(bool);
impl Exporter for ReadsContent {
    fn name(&self) -> &str {
        "reads-content"
    }
    fn reads_content(&self) -> bool {
        self.0
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        black_box(batch.len());
        Ok(())
    }
}

/// One side of the comparison: its dispatcher and how to drain its worker.
struct Side {
    name: &'static str,
    dispatch: tracing::Dispatch,
    flush: Box<dyn Fn()>,
}

/// aitrace as a user installs it; `light` is the analysis row: no redaction, an exporter that reads
/// no content (the worker does almost nothing per span).
fn aitrace_side(light: bool) -> (Side, Rc<aitrace::Guard>) {
    let config = ExportConfig::default()
        .with_queue_capacity(1 << 20)
        .with_queue_max_bytes(1 << 34);
    let builder = if light {
        aitrace::builder().without_processor("sensitive-data-filter")
    } else {
        aitrace::builder()
    };
    let (layer, guard) = builder
        .exporter_with_config(ReadsContent(!light), config)
        .build_layer()
        .expect("the default builder");
    let guard = Rc::new(guard);
    let flusher = Rc::clone(&guard);
    let side = Side {
        name: if light {
            "aitrace (worker idle)"
        } else {
            "aitrace"
        },
        dispatch: tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        flush: Box::new(move || {
            flusher.flush(Duration::from_secs(60));
        }),
    };
    (side, guard)
}

fn otel_side() -> (Side, SdkTracerProvider) {
    let provider = otel_provider(1 << 20);
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let flusher = provider.clone();
    let side = Side {
        name: "tracing-opentelemetry",
        dispatch: tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        flush: Box::new(move || {
            let _ = flusher.force_flush();
        }),
    };
    (side, provider)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Medians of `ROUNDS` alternating rounds, in nanoseconds per unit of `work` (which returns how many
/// units it did).
fn alternate(sides: &[&Side], mut work: impl FnMut() -> usize) -> Vec<f64> {
    let mut times = vec![Vec::new(); sides.len()];
    for _ in 0..ROUNDS {
        for (i, side) in sides.iter().enumerate() {
            let units = tracing::dispatcher::with_default(&side.dispatch, || {
                let start = Instant::now();
                let mut units = 0;
                while units < SPANS_PER_ROUND {
                    units += work();
                }
                let elapsed = start.elapsed();
                (side.flush)();
                (units, elapsed)
            });
            times[i].push(units.1.as_nanos() as f64 / units.0 as f64);
        }
    }
    times.into_iter().map(median).collect()
}

/// Heap bytes held per open AI span, 10 000 open at once (the counting allocator's count).
fn bytes_per_open_span(side: &Side) -> f64 {
    tracing::dispatcher::with_default(&side.dispatch, || {
        (side.flush)();
        COUNTING.store(true, std::sync::atomic::Ordering::SeqCst);
        let before = HELD.load(std::sync::atomic::Ordering::Relaxed);
        let open: Vec<tracing::Span> = (0..10_000)
            .map(|i| {
                tracing::info_span!(
                    "chat",
                    aitrace.kind = "model_generation",
                    gen_ai.provider.name = "openai",
                    gen_ai.request.model = "gpt-4o",
                    gen_ai.request.max_tokens = i as u64,
                )
            })
            .collect();
        let after = HELD.load(std::sync::atomic::Ordering::Relaxed);
        COUNTING.store(false, std::sync::atomic::Ordering::SeqCst);
        drop(open);
        (side.flush)();
        (after - before) as f64 / 10_000.0
    })
}

fn main() {
    let (input, output) = (messages("user"), messages("assistant"));
    let (aitrace, guard) = aitrace_side(false);
    let (light, light_guard) = aitrace_side(true);
    let (otel, provider) = otel_side();
    if let Ok(which) = std::env::var("USER_SPAN_PROFILE") {
        let side = if which == "otel" { &otel } else { &aitrace };
        tracing::dispatcher::with_default(&side.dispatch, || {
            for _ in 0..SPANS_PER_ROUND {
                generation(&input, &output);
            }
            (side.flush)();
        });
        return;
    }
    // Warm both up (the allocator's arenas, the callsites' interest).
    let _ = alternate(&[&aitrace, &otel], || {
        generation(&input, &output);
        1
    });
    let gen = alternate(&[&aitrace, &otel, &light], || {
        generation(&input, &output);
        1
    });
    let chunks = alternate(&[&aitrace, &otel, &light], streamed);
    let open = bytes_per_open_span(&aitrace);
    let open_otel = bytes_per_open_span(&otel);
    // Markdown, as `cargo xtask bench` puts it into docs/PERFORMANCE.md.
    println!("| case | {} | {} | ratio |", aitrace.name, otel.name);
    println!("|---|---:|---:|---:|");
    println!(
        "| generation, per span | {:.2} µs | {:.2} µs | {:.2}× |",
        gen[0] / 1e3,
        gen[1] / 1e3,
        gen[0] / gen[1]
    );
    println!(
        "| streamed generation (20 steps, 200 chunks), per chunk span | {:.2} µs | {:.2} µs | {:.2}× |",
        chunks[0] / 1e3,
        chunks[1] / 1e3,
        chunks[0] / chunks[1]
    );
    println!(
        "| heap held per open AI span (10 000 open) | {open:.0} B | {open_otel:.0} B | {:.2}× |",
        open / open_otel
    );
    println!();
    println!(
        "Analysis row, aitrace with its worker idle (no redaction, an exporter that reads no content): generation {:.2} µs ({:.2}×), chunk span {:.2} µs ({:.2}×).",
        gen[2] / 1e3,
        gen[2] / gen[1],
        chunks[2] / 1e3,
        chunks[2] / chunks[1]
    );
    let stats = guard.stats();
    let dropped: u64 = stats.exporters.iter().map(|e| e.dropped_queue_full).sum();
    assert_eq!(dropped, 0, "the benchmark's queue overflowed");
    drop((aitrace, light));
    for guard in [guard, light_guard] {
        if let Ok(guard) = Rc::try_unwrap(guard) {
            guard.shutdown(Duration::from_secs(30));
        }
    }
    let _ = provider.shutdown();
}
