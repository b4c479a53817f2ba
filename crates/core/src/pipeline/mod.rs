//! From a closed span to the backends: processors, then one bounded queue and one worker thread per
//! exporter.
//!
//! The span-close path (`Pipeline::submit`) runs on the application's thread, so it does no I/O, never
//! blocks and never panics: processors run under `catch_unwind`, and a full queue drops the record and
//! counts it. Everything slow happens on the workers: batching by count, bytes and age; retry with
//! exponential backoff and `Retry-After`; isolating a panicking exporter.

mod config;
mod processor;
mod sink;
mod stats;
mod worker;

pub use config::ExportConfig;
pub use processor::{Processor, Verdict};
pub use stats::{ExporterStats, ShutdownReport, Stats};
pub use worker::EXPORT_LOG_TARGET;

use sink::Sink;
use worker::Control;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;

use crate::export::Exporter;
use crate::record::SpanRecord;
use crate::score::{ScoreError, ScoreRecord};

#[derive(Default)]
struct PipelineCounters {
    spans_closed: AtomicU64,
    dropped_by_processors: AtomicU64,
    processor_panics: AtomicU64,
    dropped_after_shutdown: AtomicU64,
    scores_sent: AtomicU64,
}

/// Scores refused before reaching any pipeline (invalid, no target, nothing installed).
static SCORES_REJECTED: AtomicU64 = AtomicU64::new(0);

/// Counts a refused score.
pub(crate) fn score_rejected() {
    SCORES_REJECTED.fetch_add(1, Relaxed);
}

/// The pipeline a score sent from this thread goes to: the current subscriber's aitrace layer,
/// else the globally installed one.
pub(crate) fn current_pipeline() -> Option<Arc<Pipeline>> {
    let local =
        tracing_core::dispatcher::get_default(|d| d.downcast_ref::<Arc<Pipeline>>().cloned());
    local.or_else(|| GLOBAL.lock().ok()?.as_ref()?.upgrade())
}

/// Sends a checked score to the current pipeline (see [`current_pipeline`]).
pub(crate) fn submit_score_anywhere(record: ScoreRecord) -> Result<(), ScoreError> {
    match current_pipeline() {
        Some(p) => p.submit_score(record),
        None => {
            score_rejected();
            Err(ScoreError::NotInstalled)
        }
    }
}

pub(crate) struct Pipeline {
    /// Inline processors (run on the span-close path).
    processors: Vec<Arc<dyn Processor>>,
    sinks: Vec<Sink>,
    counters: PipelineCounters,
    closed: AtomicBool,
}

static GLOBAL: Mutex<Option<Weak<Pipeline>>> = Mutex::new(None);

/// The counters of the pipeline installed globally by `install()`, if one is running.
pub fn stats() -> Option<Stats> {
    let global = GLOBAL.lock().ok()?.as_ref()?.upgrade()?;
    Some(global.stats())
}

pub(crate) fn set_global(pipeline: &Arc<Pipeline>) {
    if let Ok(mut g) = GLOBAL.lock() {
        *g = Some(Arc::downgrade(pipeline));
    }
}

impl Pipeline {
    pub(crate) fn new(
        processors: Vec<Box<dyn Processor>>,
        exporters: Vec<(Box<dyn Exporter>, ExportConfig)>,
    ) -> Result<Self, crate::ConfigError> {
        let (offloaded, inline): (Vec<_>, Vec<_>) = processors
            .into_iter()
            .map(Arc::<dyn Processor>::from)
            .partition(|p: &Arc<dyn Processor>| p.offload());
        let mut sinks = Vec::with_capacity(exporters.len());
        for (exporter, config) in exporters {
            config.validate()?;
            sinks.push(Sink::spawn(exporter, config, offloaded.clone())?);
        }
        Ok(Pipeline {
            processors: inline,
            sinks,
            counters: PipelineCounters::default(),
            closed: AtomicBool::new(false),
        })
    }

    /// The span-close path: processors, then a non-blocking offer to each exporter's queue.
    pub(crate) fn submit(&self, record: SpanRecord) {
        self.submit_boxed(Box::new(record));
    }

    /// [`submit`](Self::submit) for a record already on the heap (an AI span's): it reaches the
    /// exporters' queues without being copied on the application's thread.
    pub(crate) fn submit_boxed(&self, mut record: Box<SpanRecord>) {
        self.counters.spans_closed.fetch_add(1, Relaxed);
        if self.closed.load(Relaxed) {
            self.counters.dropped_after_shutdown.fetch_add(1, Relaxed);
            return;
        }
        for p in &self.processors {
            if p.reads_content() {
                record.decode_content();
            }
            match catch_unwind(AssertUnwindSafe(|| p.process(&mut record))) {
                Ok(Verdict::Keep) => {}
                Ok(Verdict::Drop) => {
                    self.counters.dropped_by_processors.fetch_add(1, Relaxed);
                    return;
                }
                Err(_) => {
                    self.counters.processor_panics.fetch_add(1, Relaxed);
                    return;
                }
            }
        }
        if self.sinks.is_empty() {
            return;
        }
        let size = record.estimated_size();
        let record = Arc::new(record);
        for sink in &self.sinks {
            sink.offer(Arc::clone(&record), size);
        }
    }

    /// A score's path: inline processors (`process_score`), then a non-blocking offer to each
    /// exporter that takes scores about its target.
    pub(crate) fn submit_score(&self, mut record: ScoreRecord) -> Result<(), ScoreError> {
        self.counters.scores_sent.fetch_add(1, Relaxed);
        if self.closed.load(Relaxed) {
            self.counters.dropped_after_shutdown.fetch_add(1, Relaxed);
            return Err(ScoreError::NotInstalled);
        }
        for p in &self.processors {
            match catch_unwind(AssertUnwindSafe(|| p.process_score(&mut record))) {
                Ok(Verdict::Keep) => {}
                Ok(Verdict::Drop) => {
                    self.counters.dropped_by_processors.fetch_add(1, Relaxed);
                    return Ok(());
                }
                Err(_) => {
                    self.counters.processor_panics.fetch_add(1, Relaxed);
                    return Ok(());
                }
            }
        }
        let size = record.estimated_size();
        let record = Arc::new(record);
        for sink in &self.sinks {
            sink.offer_score(Arc::clone(&record), size);
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            spans_closed: c.spans_closed.load(Relaxed),
            dropped_by_processors: c.dropped_by_processors.load(Relaxed),
            processor_panics: c.processor_panics.load(Relaxed),
            dropped_after_shutdown: c.dropped_after_shutdown.load(Relaxed),
            scores_sent: c.scores_sent.load(Relaxed),
            scores_rejected: SCORES_REJECTED.load(Relaxed),
            exporters: self.sinks.iter().map(Sink::stats).collect(),
        }
    }

    /// Exports everything queued so far; true when every exporter confirmed before the deadline.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let acks: Vec<_> = self
            .sinks
            .iter()
            .filter_map(|s| {
                let (tx, rx) = bounded(1);
                s.control.send(Control::Flush(tx)).ok().map(|_| rx)
            })
            .collect();
        let sent = acks.len() == self.sinks.len();
        acks.iter().all(|rx| rx.recv_deadline(deadline).is_ok()) && sent
    }

    /// Stops accepting spans, drains every queue within the deadline, shuts the exporters down.
    /// Idempotent: a second call only reports.
    pub(crate) fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let deadline = Instant::now() + timeout;
        let first = !self.closed.swap(true, Relaxed);
        let mut completed = true;
        if first {
            let acks: Vec<_> = self
                .sinks
                .iter()
                .map(|s| {
                    let (tx, rx) = bounded(1);
                    let sent = s.control.send(Control::Shutdown(deadline, tx)).is_ok();
                    (sent, rx)
                })
                .collect();
            for (sink, (sent, rx)) in self.sinks.iter().zip(acks) {
                if sent && rx.recv_deadline(deadline).is_ok() {
                    if let Ok(mut w) = sink.worker.lock() {
                        if let Some(handle) = w.take() {
                            let _ = handle.join();
                        }
                    }
                } else {
                    completed = false;
                }
            }
        }
        let stats = self.stats();
        // A worker stuck past the deadline still holds records; count them as lost now.
        let lost = stats
            .exporters
            .iter()
            .map(|e| {
                let settled = e.exported
                    + e.left_out
                    + e.dropped_after_retries
                    + e.dropped_by_processors
                    + e.lost_at_shutdown;
                // Includes records still queued, held for their trace, or in a hung export call.
                e.dropped_queue_full
                    + e.dropped_after_retries
                    + e.lost_at_shutdown
                    + e.enqueued.saturating_sub(settled)
            })
            .sum::<u64>()
            + stats.processor_panics
            + stats.dropped_after_shutdown;
        ShutdownReport {
            completed,
            lost,
            stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SpanKind;
    use crate::testing::TestExporter;

    #[test]
    fn a_full_batch_wakes_the_sleeping_worker() {
        let exporter = TestExporter::new();
        let config = ExportConfig {
            max_batch_size: 4,
            max_batch_age: Duration::from_secs(3600),
            ..ExportConfig::default()
        };
        let pipeline =
            Pipeline::new(Vec::new(), vec![(Box::new(exporter.clone()), config)]).unwrap();
        // Let the worker go to sleep (its tick and the batch age are an hour here).
        std::thread::sleep(Duration::from_millis(50));
        for i in 0..3 {
            pipeline.submit(SpanRecord::new(format!("s{i}"), SpanKind::Generic));
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            exporter.spans().is_empty(),
            "fewer than a batch stays queued"
        );
        pipeline.submit(SpanRecord::new("s3", SpanKind::Generic));
        let deadline = Instant::now() + Duration::from_secs(30);
        while exporter.spans().len() < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            exporter.spans().len(),
            4,
            "the fourth record rang the worker"
        );
        assert!(pipeline.shutdown(Duration::from_secs(5)).completed);
    }
}
