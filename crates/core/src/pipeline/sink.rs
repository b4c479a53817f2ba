//! One exporter's bounded queue, as the application's thread sees it: admission against the caps,
//! waking the worker, flush and shutdown.

use std::collections::VecDeque;
use std::sync::atomic::{Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, unbounded, Sender, TrySendError};

use crate::assembler::TraceAssembler;
use crate::export::Exporter;
use crate::score::{ScoreRecord, ScoreTargets};

use super::config::ExportConfig;
use super::processor::Processor;
use super::stats::{ExporterStats, SinkCounters};
use super::worker::{wake_threshold, Control, Item, Queued, Worker};

pub(super) struct Sink {
    pub(super) name: String,
    pub(super) tx: Sender<Queued>,
    /// The targets whose scores this exporter takes.
    pub(super) score_targets: ScoreTargets,
    pub(super) control: Sender<Control>,
    pub(super) counters: Arc<SinkCounters>,
    pub(super) max_records: u64,
    pub(super) max_bytes: usize,
    /// Queue length and bytes at which a sleeping worker is woken.
    pub(super) wake_at: (u64, usize),
    pub(super) worker: Mutex<Option<JoinHandle<()>>>,
}

impl Sink {
    pub(super) fn spawn(
        exporter: Box<dyn Exporter>,
        config: ExportConfig,
        processors: Vec<Arc<dyn Processor>>,
    ) -> Result<Self, crate::ConfigError> {
        let name = exporter.name().to_string();
        let (tx, rx) = bounded(config.queue_capacity);
        let (control, control_rx) = unbounded();
        let counters = Arc::new(SinkCounters::default());
        let max_bytes = config.queue_max_bytes;
        let max_records = config.queue_capacity as u64;
        let wake_at = wake_threshold(&config);
        let assembler = exporter
            .needs_whole_traces()
            .then(|| TraceAssembler::new(config.trace_max_pending, 10_000, config.trace_max_age));
        let receives_requests = exporter.receives_request_spans();
        let score_targets = exporter.score_targets();
        let decode_content =
            exporter.reads_content() || processors.iter().any(|p| p.reads_content());
        let worker = Worker {
            capture_content: config.capture_content.unwrap_or(true),
            decode_content,
            receives_requests,
            wake_at,
            processors,
            assembler,
            exporter,
            config,
            rx,
            control: control_rx,
            counters: Arc::clone(&counters),
            stashed: VecDeque::new(),
            scores: super::worker::ScoreBatch::default(),
            deadline: None,
            failing: None,
            unreachable: false,
        };
        let handle = std::thread::Builder::new()
            .name(format!("aitrace-{name}"))
            .spawn(move || worker.run())
            .map_err(|e| {
                crate::ConfigError::new("exporter", format!("cannot start worker thread: {e}"))
            })?;
        Ok(Sink {
            name,
            tx,
            score_targets,
            control,
            counters,
            max_records,
            max_bytes,
            wake_at,
            worker: Mutex::new(Some(handle)),
        })
    }

    /// Admits a record when what the exporter holds, wherever it is, stays under both caps; else
    /// drops and counts it. Never blocks.
    pub(super) fn offer(&self, record: super::worker::SharedRecord, size: usize) {
        self.offer_item(Queued::Span(Item { record, size }), size);
    }

    /// Admits a score like a span, when this exporter takes scores about its target.
    pub(super) fn offer_score(&self, score: Arc<ScoreRecord>, size: usize) {
        if !self.score_targets.accepts(&score.target) {
            self.counters.scores_unsupported.fetch_add(1, Relaxed);
            return;
        }
        self.offer_item(Queued::Score(score, size), size);
    }

    fn offer_item(&self, item: Queued, size: usize) {
        let c = &self.counters;
        let before = c.held_bytes.fetch_add(size, Relaxed);
        if before.saturating_add(size) > self.max_bytes {
            c.held_bytes.fetch_sub(size, Relaxed);
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return;
        }
        if c.held.fetch_add(1, Relaxed) >= self.max_records {
            c.held.fetch_sub(1, Relaxed);
            c.held_bytes.fetch_sub(size, Relaxed);
            c.dropped_queue_full.fetch_add(1, Relaxed);
            return;
        }
        // Count before sending: the worker may pop the item before `try_send` returns.
        let queued = c.in_channel.fetch_add(1, Relaxed) + 1;
        let queued_bytes = c.in_channel_bytes.fetch_add(size, Relaxed) + size;
        c.enqueued.fetch_add(1, Relaxed);
        match self.tx.try_send(item) {
            Ok(()) => {
                // The worker drains the queue on a timer; a full batch wakes it early, once.
                let full = queued >= self.wake_at.0 || queued_bytes >= self.wake_at.1;
                if full && c.worker_asleep.load(Relaxed) && c.worker_asleep.swap(false, SeqCst) {
                    let _ = self.control.send(Control::Wake);
                }
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                c.in_channel.fetch_sub(1, Relaxed);
                c.in_channel_bytes.fetch_sub(size, Relaxed);
                c.held.fetch_sub(1, Relaxed);
                c.held_bytes.fetch_sub(size, Relaxed);
                c.enqueued.fetch_sub(1, Relaxed);
                c.dropped_queue_full.fetch_add(1, Relaxed);
            }
        }
    }

    pub(super) fn stats(&self) -> ExporterStats {
        let c = &self.counters;
        ExporterStats {
            name: self.name.clone(),
            enqueued: c.enqueued.load(Relaxed),
            exported: c.exported.load(Relaxed),
            left_out: c.left_out.load(Relaxed),
            dropped_queue_full: c.dropped_queue_full.load(Relaxed),
            dropped_after_retries: c.dropped_after_retries.load(Relaxed),
            dropped_by_processors: c.dropped_by_processors.load(Relaxed),
            lost_at_shutdown: c.lost_at_shutdown.load(Relaxed),
            failed_batches: c.failed_batches.load(Relaxed),
            retries: c.retries.load(Relaxed),
            panics: c.panics.load(Relaxed),
            queued: c.held.load(Relaxed),
            queued_bytes: c.held_bytes.load(Relaxed) as u64,
            waiting_for_trace: c.waiting_for_trace.load(Relaxed),
            scores_exported: c.scores_exported.load(Relaxed),
            scores_unsupported: c.scores_unsupported.load(Relaxed),
            last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}
