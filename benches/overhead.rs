//! Per-span overhead, each case against its baseline in the same run (`cargo xtask bench` turns the
//! numbers into ratios):
//!
//! - `ai_span/*`: one realistic generation span (model, provider, 3 parameters, ~1 KB input and
//!   output, usage recorded late) through a bare registry, through `tracing-opentelemetry` with the
//!   SDK's `BatchSpanProcessor` and a no-op exporter, and through aitrace with a no-op exporter.
//!   Both background workers run while spans are timed; after each sample both are flushed outside
//!   the timed region, so neither side drops spans or lets its queue grow across samples (a
//!   measurement that ends with a full queue times the cheap drop path, not the span).
//! - `plain_span/*`: an application's own non-AI span with and without the aitrace layer installed.
//! - `app_event/*`: the application's own events (its layer filtered at INFO) with and without
//!   aitrace: a disabled `debug!`, and an enabled `info!` inside a request span with no AI span.
//! - `threads/*`: aitrace spans created concurrently on 1, 2 and 8 threads (time per span).

#[path = "shared/mod.rs"]
mod shared;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aitrace::{ExportConfig, ExportError, Exporter, SpanRecord};
use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::TracerProvider as _;
use shared::{generation, messages, otel_provider};
use tracing::field::Empty;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// A do-nothing exporter; `reads_content` says whether the worker parses content for it (the
/// exporters that ship to a backend all do).
struct Noop {
    reads_content: bool,
}
impl Exporter for Noop {
    fn name(&self) -> &str {
        "noop"
    }
    fn reads_content(&self) -> bool {
        self.reads_content
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        black_box(batch.len());
        Ok(())
    }
}

/// A stand-in for an application's own layer, so plain spans are enabled.
struct AppLayer;
impl<S: tracing::Subscriber> Layer<S> for AppLayer {
    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        black_box(id);
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        black_box(event.metadata());
    }
}

fn export_config() -> ExportConfig {
    ExportConfig::default()
        .with_queue_capacity(1 << 20)
        .with_queue_max_bytes(1 << 34)
}

/// Times `iters` spans, then lets the exporter catch up outside the timed region.
fn timed_then_flushed(iters: u64, input: &str, output: &str, flush: impl Fn()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        generation(input, output);
    }
    let elapsed = start.elapsed();
    flush();
    elapsed
}

/// Panics when the benchmark itself dropped spans: its numbers would time the drop path.
fn assert_nothing_dropped(guard: &aitrace::Guard) {
    let stats = guard.stats();
    let dropped: u64 = stats.exporters.iter().map(|e| e.dropped_queue_full).sum();
    assert_eq!(dropped, 0, "the benchmark's queue overflowed");
}

fn ai_span(c: &mut Criterion) {
    let (input, output) = (messages("user"), messages("assistant"));
    let mut g = c.benchmark_group("ai_span");
    g.bench_function("bare_registry", |b| {
        let _d = tracing::subscriber::set_default(tracing_subscriber::registry());
        b.iter(|| generation(&input, &output));
    });
    g.bench_function("tracing_opentelemetry", |b| {
        let provider = otel_provider(export_config().queue_capacity);
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let _d = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        b.iter_custom(|iters| {
            timed_then_flushed(iters, &input, &output, || {
                let _ = provider.force_flush();
            })
        });
        drop(_d);
        let _ = provider.shutdown();
    });
    let cases = [
        ("aitrace", false, false),
        ("aitrace_content_parsed", false, true),
        ("aitrace_with_redaction", true, true),
    ];
    for (name, redaction, reads_content) in cases {
        g.bench_function(name, |b| {
            let builder = aitrace::builder();
            let builder = if redaction {
                builder
            } else {
                builder.without_processor("sensitive-data-filter")
            };
            let (layer, guard) = builder
                .exporter_with_config(Noop { reads_content }, export_config())
                .build_layer()
                .unwrap();
            let _d = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
            b.iter_custom(|iters| {
                timed_then_flushed(iters, &input, &output, || {
                    guard.flush(Duration::from_secs(60));
                })
            });
            drop(_d);
            assert_nothing_dropped(&guard);
            guard.shutdown(Duration::from_secs(30));
        });
    }
    g.finish();
}

fn quiet_aitrace<S>() -> (aitrace::AiLayer<S>, aitrace::Guard)
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    aitrace::builder()
        .exporter_with_config(
            Noop {
                reads_content: false,
            },
            export_config(),
        )
        .build_layer()
        .unwrap()
}

fn plain_span(c: &mut Criterion) {
    let mut g = c.benchmark_group("plain_span");
    let work = || {
        let span = tracing::info_span!(
            "http_request",
            method = "GET",
            path = "/orders/1042",
            status = Empty
        );
        let _e = span.enter();
        span.record("status", 200u64);
    };
    g.bench_function("without_aitrace", |b| {
        let _d = tracing::subscriber::set_default(tracing_subscriber::registry().with(AppLayer));
        b.iter(work);
    });
    g.bench_function("with_aitrace", |b| {
        let (layer, guard) = quiet_aitrace();
        let _d = tracing::subscriber::set_default(
            tracing_subscriber::registry().with(AppLayer).with(layer),
        );
        b.iter(work);
        drop(_d);
        guard.shutdown(Duration::from_secs(30));
    });
    g.finish();
}

/// The application's own events with its layer filtered at INFO (as a `fmt` layer at INFO): a
/// `debug!` nobody wants must stay disabled, and an `info!` outside any AI span must stay cheap.
fn app_events(c: &mut Criterion) {
    use tracing_subscriber::filter::LevelFilter;
    let mut g = c.benchmark_group("app_event");
    for (name, with_aitrace) in [("without_aitrace", false), ("with_aitrace", true)] {
        let (layer, guard) = quiet_aitrace();
        let app = AppLayer.with_filter(LevelFilter::INFO);
        let dispatch = if with_aitrace {
            tracing::Dispatch::new(tracing_subscriber::registry().with(app).with(layer))
        } else {
            tracing::Dispatch::new(tracing_subscriber::registry().with(app))
        };
        let _d = tracing::dispatcher::set_default(&dispatch);
        g.bench_function(format!("disabled_debug_{name}"), |b| {
            b.iter(|| tracing::debug!(order = 1042u64, "cache lookup"))
        });
        let _request = tracing::info_span!("http_request").entered();
        g.bench_function(format!("enabled_info_in_request_{name}"), |b| {
            b.iter(|| tracing::info!(order = 1042u64, "order loaded"))
        });
        drop(_request);
        drop(_d);
        guard.shutdown(Duration::from_secs(30));
    }
    g.finish();
}

fn threads(c: &mut Criterion) {
    let (input, output) = (Arc::new(messages("user")), Arc::new(messages("assistant")));
    let mut g = c.benchmark_group("threads");
    for n in [1usize, 2, 8] {
        g.bench_function(format!("{n}"), |b| {
            let (layer, guard) = aitrace::builder()
                .without_processor("sensitive-data-filter")
                .exporter_with_config(
                    Noop {
                        reads_content: false,
                    },
                    export_config(),
                )
                .build_layer()
                .unwrap();
            let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
            b.iter_custom(|iters| {
                let per_thread = (iters as usize).div_ceil(n);
                let start = Instant::now();
                let handles: Vec<_> = (0..n)
                    .map(|_| {
                        let (d, i, o) = (dispatch.clone(), Arc::clone(&input), Arc::clone(&output));
                        std::thread::spawn(move || {
                            tracing::dispatcher::with_default(&d, || {
                                for _ in 0..per_thread {
                                    generation(&i, &o);
                                }
                            })
                        })
                    })
                    .collect();
                for h in handles {
                    let _ = h.join();
                }
                let elapsed = start.elapsed();
                guard.flush(Duration::from_secs(60));
                elapsed
            });
            assert_nothing_dropped(&guard);
            guard.shutdown(Duration::from_secs(30));
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = ai_span, plain_span, app_events, threads
}
criterion_main!(benches);
