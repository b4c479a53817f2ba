//! From a closed span to the backends: processors, then one bounded queue and one worker thread per
//! exporter.
//!
//! The span-close path (`Pipeline::submit`) runs on the application's thread, so it does no I/O, never
//! blocks and never panics: processors run under `catch_unwind`, and a full queue drops the record and
//! counts it. Everything slow happens on the workers: batching by count, bytes and age; retry with
//! exponential backoff and `Retry-After`; isolating a panicking exporter.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{
    bounded, unbounded, Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError,
};
use serde::Serialize;

use crate::assembler::TraceAssembler;
use crate::export::{ExportError, Exporter};
use crate::record::SpanRecord;

/// What a processor decides for a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the (possibly modified) span on.
    Keep,
    /// Drop the span; later processors and the exporters never see it. Counted in
    /// [`Stats::dropped_by_processors`].
    Drop,
}

/// Runs synchronously on every closed span, in the order processors were added, before any exporter
/// sees it: redaction, sampling, cost, truncation. Keep it cheap: it runs on the application's thread.
///
/// A processor that panics drops the span (fail closed: a crashed redactor must not let a secret
/// through) and is counted in [`Stats::processor_panics`].
pub trait Processor: Send + Sync + 'static {
    /// Inspects or modifies the span.
    fn process(&self, span: &mut SpanRecord) -> Verdict;

    /// A stable name (`sensitive-data-filter`, `sampler`), used by
    /// [`Builder::without_processor`](crate::Builder::without_processor).
    fn name(&self) -> &str {
        "processor"
    }

    /// True to run on each exporter's worker thread instead of the span-close path: for expensive
    /// work (regex-heavy scans, lookups) that must not slow the application. Offloaded processors run
    /// after the inline ones, once per exporter; their drops and panics are counted per exporter in
    /// [`ExporterStats::dropped_by_processors`]. Default false.
    fn offload(&self) -> bool {
        false
    }

    /// Whether this processor reads input, output, instructions or tool content. Content recorded as
    /// JSON text is parsed before the first inline processor that says so, otherwise only on the
    /// exporter workers, off the application's thread. Default true (always correct).
    fn reads_content(&self) -> bool {
        true
    }
}

impl<F> Processor for F
where
    F: Fn(&mut SpanRecord) -> Verdict + Send + Sync + 'static,
{
    fn process(&self, span: &mut SpanRecord) -> Verdict {
        self(span)
    }
}

/// Queueing, batching and retry settings of one exporter. Defaults suit a network backend.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// Most records waiting in the queue; more are dropped and counted (default 2048).
    pub queue_capacity: usize,
    /// Most estimated bytes waiting in the queue (default 64 MiB).
    pub queue_max_bytes: usize,
    /// Most records per `export` call (default 512).
    pub max_batch_size: usize,
    /// Most estimated bytes per `export` call (default 4 MiB; a single larger record goes alone).
    pub max_batch_bytes: usize,
    /// A non-full batch is exported once its oldest record waited this long (default 1 s).
    pub max_batch_age: Duration,
    /// Retries of a retryable failure before the batch is dropped (default 5).
    pub max_retries: u32,
    /// First backoff delay; doubles per retry with ±20 % jitter (default 200 ms).
    pub initial_backoff: Duration,
    /// Largest backoff delay of the pipeline's own (default 30 s). A server's `Retry-After` is always
    /// honoured, even when longer.
    pub max_backoff: Duration,
    /// For exporters that need whole traces: how long spans wait for their trace's root before they
    /// are exported without it (default 30 s).
    pub trace_max_age: Duration,
    /// For exporters that need whole traces: most traces waiting for their root; the oldest is
    /// exported incomplete beyond this (default 1000).
    pub trace_max_pending: usize,
    /// Whether this exporter receives content (messages, tool arguments and results, documents,
    /// embeddings inputs). `None`: the builder's policy ([`Builder::capture_content`](crate::Builder::capture_content)).
    pub capture_content: Option<bool>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            queue_capacity: 2048,
            queue_max_bytes: 64 << 20,
            max_batch_size: 512,
            max_batch_bytes: 4 << 20,
            max_batch_age: Duration::from_secs(1),
            max_retries: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            trace_max_age: Duration::from_secs(30),
            trace_max_pending: 1000,
            capture_content: None,
        }
    }
}

impl ExportConfig {
    /// Checks that every limit is usable; names the bad setting.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        let checks = [
            ("queue_capacity", self.queue_capacity == 0),
            ("queue_max_bytes", self.queue_max_bytes == 0),
            ("max_batch_size", self.max_batch_size == 0),
            ("max_batch_bytes", self.max_batch_bytes == 0),
            ("max_batch_age", self.max_batch_age.is_zero()),
            ("trace_max_age", self.trace_max_age.is_zero()),
            ("trace_max_pending", self.trace_max_pending == 0),
        ];
        for (name, bad) in checks {
            if bad {
                return Err(crate::ConfigError::new(name, "must be greater than zero"));
            }
        }
        if self.initial_backoff > self.max_backoff {
            return Err(crate::ConfigError::new(
                "initial_backoff",
                "must not exceed max_backoff",
            ));
        }
        Ok(())
    }
}

/// Counters of one exporter. At any moment
/// `enqueued == exported + dropped_after_retries + dropped_by_processors + lost_at_shutdown + queued +
/// waiting_for_trace + in_flight`, and every record offered to the exporter is either `enqueued` or `dropped_queue_full`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExporterStats {
    /// The exporter's [`Exporter::name`].
    pub name: String,
    /// Records accepted into the queue.
    pub enqueued: u64,
    /// Records the backend accepted.
    pub exported: u64,
    /// Records refused because the queue was full (by count or bytes) or the exporter had shut down.
    pub dropped_queue_full: u64,
    /// Records given up on: non-retryable errors, retries exhausted, or a panicking exporter.
    pub dropped_after_retries: u64,
    /// Records an offloaded processor dropped (or panicked on) on this exporter's worker.
    pub dropped_by_processors: u64,
    /// Records still queued or being retried when the shutdown deadline passed.
    pub lost_at_shutdown: u64,
    /// `export` calls that ended in a drop.
    pub failed_batches: u64,
    /// Retries made.
    pub retries: u64,
    /// Panics caught in the exporter.
    pub panics: u64,
    /// Records held for this exporter now: in its queue, taken by its worker, in an export call or
    /// waiting for a retry, or held until their trace's root closes. What the queue caps bound.
    pub queued: u64,
    /// Records held until their trace's root closes (exporters that need whole traces).
    pub waiting_for_trace: u64,
    /// Estimated bytes of the records in [`queued`](Self::queued), the ones the byte cap bounds.
    pub queued_bytes: u64,
    /// The last error the exporter returned, if any.
    pub last_error: Option<String>,
}

impl ExporterStats {
    /// Every record this exporter lost, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_after_retries + self.lost_at_shutdown
    }
}

/// Counters of a whole pipeline, from [`crate::Guard::stats`] or [`crate::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// AI spans that closed.
    pub spans_closed: u64,
    /// Spans a processor dropped on purpose (sampling, filtering).
    pub dropped_by_processors: u64,
    /// Spans dropped because a processor panicked.
    pub processor_panics: u64,
    /// Spans that closed after shutdown.
    pub dropped_after_shutdown: u64,
    /// One entry per exporter, in the order they were added.
    pub exporters: Vec<ExporterStats>,
}

impl Stats {
    /// Records lost by all exporters plus spans lost before reaching them (panics, shutdown).
    pub fn total_dropped(&self) -> u64 {
        self.processor_panics
            + self.dropped_after_shutdown
            + self
                .exporters
                .iter()
                .map(ExporterStats::dropped)
                .sum::<u64>()
    }
}

/// What `shutdown` achieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShutdownReport {
    /// True when every exporter drained and shut down before the deadline.
    pub completed: bool,
    /// Records lost: dropped at any point, plus those still queued or in flight at the deadline.
    pub lost: u64,
    /// The counters at the end.
    pub stats: Stats,
}

#[derive(Default)]
struct SinkCounters {
    enqueued: AtomicU64,
    exported: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_after_retries: AtomicU64,
    dropped_by_processors: AtomicU64,
    lost_at_shutdown: AtomicU64,
    failed_batches: AtomicU64,
    retries: AtomicU64,
    panics: AtomicU64,
    /// Records held for the exporter anywhere (queue, worker, export call, retry, trace assembly):
    /// the caps apply to these.
    held: AtomicU64,
    held_bytes: AtomicUsize,
    /// Records and bytes in the channel only: how producers know a batch's worth is waiting.
    in_channel: AtomicU64,
    in_channel_bytes: AtomicUsize,
    waiting_for_trace: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Set while the worker sleeps between ticks: the producer that fills a batch rings once.
    worker_asleep: AtomicBool,
}

enum Control {
    Flush(Sender<()>),
    Shutdown(Instant, Sender<()>),
    /// A batch's worth of records is queued.
    Wake,
}

/// Longest sleep of an idle worker between looks at its queue. Unit tests make it an hour, so a
/// test that sees records arrive proves the producer's wake-up works.
const TICK: Duration = if cfg!(test) {
    Duration::from_secs(3600)
} else {
    Duration::from_millis(250)
};

/// Queue length and bytes at which a producer wakes a sleeping worker: a batch's worth, or half the
/// queue when the queue is smaller than a batch.
fn wake_threshold(config: &ExportConfig) -> (u64, usize) {
    (
        config.max_batch_size.min(config.queue_capacity / 2).max(1) as u64,
        config
            .max_batch_bytes
            .min(config.queue_max_bytes / 2)
            .max(1),
    )
}

struct Item {
    record: Arc<SpanRecord>,
    size: usize,
}

struct Sink {
    name: String,
    tx: Sender<Item>,
    control: Sender<Control>,
    counters: Arc<SinkCounters>,
    max_records: u64,
    max_bytes: usize,
    /// Queue length and bytes at which a sleeping worker is woken.
    wake_at: (u64, usize),
    worker: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct PipelineCounters {
    spans_closed: AtomicU64,
    dropped_by_processors: AtomicU64,
    processor_panics: AtomicU64,
    dropped_after_shutdown: AtomicU64,
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
    pub(crate) fn submit(&self, mut record: SpanRecord) {
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

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            spans_closed: c.spans_closed.load(Relaxed),
            dropped_by_processors: c.dropped_by_processors.load(Relaxed),
            processor_panics: c.processor_panics.load(Relaxed),
            dropped_after_shutdown: c.dropped_after_shutdown.load(Relaxed),
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

impl Sink {
    fn spawn(
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
        let decode_content =
            exporter.reads_content() || processors.iter().any(|p| p.reads_content());
        let worker = Worker {
            capture_content: config.capture_content.unwrap_or(true),
            decode_content,
            wake_at,
            processors,
            assembler,
            exporter,
            config,
            rx,
            control: control_rx,
            counters: Arc::clone(&counters),
            stashed: VecDeque::new(),
            deadline: None,
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
    fn offer(&self, record: Arc<SpanRecord>, size: usize) {
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
        match self.tx.try_send(Item { record, size }) {
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

    fn stats(&self) -> ExporterStats {
        let c = &self.counters;
        ExporterStats {
            name: self.name.clone(),
            enqueued: c.enqueued.load(Relaxed),
            exported: c.exported.load(Relaxed),
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
            last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

struct Worker {
    /// False when the content policy keeps content away from this exporter.
    capture_content: bool,
    /// Offloaded processors, run here before batching.
    processors: Vec<Arc<dyn Processor>>,
    /// Regroups spans by trace for exporters that need whole traces.
    assembler: Option<TraceAssembler>,
    /// Whether content recorded as JSON text is parsed here: the exporter or an offloaded processor
    /// reads it.
    decode_content: bool,
    /// The queue length and bytes at which producers ring (see [`wake_threshold`]).
    wake_at: (u64, usize),
    exporter: Box<dyn Exporter>,
    config: ExportConfig,
    rx: Receiver<Item>,
    control: Receiver<Control>,
    counters: Arc<SinkCounters>,
    /// Control messages that arrived while a retry was waiting.
    stashed: VecDeque<Control>,
    /// Set once shutdown was requested.
    deadline: Option<Instant>,
}

struct Batch {
    records: Vec<SpanRecord>,
    /// The held size of each record (what leaves the byte cap's count with it).
    sizes: Vec<usize>,
    bytes: usize,
    since: Option<Instant>,
}

impl Batch {
    fn take(&mut self) -> (Vec<SpanRecord>, Vec<usize>) {
        self.bytes = 0;
        self.since = None;
        (
            std::mem::take(&mut self.records),
            std::mem::take(&mut self.sizes),
        )
    }
}

impl Worker {
    /// Drains the queue in bulk on a timer (or when a producer rings because a batch is full)
    /// instead of waking per record: a producer then never pays for waking a blocked thread, and the
    /// shared counters are touched once per drain, not once per record.
    fn run(mut self) {
        let mut batch = Batch {
            records: Vec::new(),
            sizes: Vec::new(),
            bytes: 0,
            since: None,
        };
        let tick = (self.config.max_batch_age / 4).clamp(Duration::from_millis(1), TICK);
        loop {
            if let Some(ctl) = self.stashed.pop_front() {
                if self.handle_control(ctl, &mut batch) {
                    return;
                }
                continue;
            }
            if !self.receive_queued(&mut batch) {
                // Every sender is gone: the pipeline was dropped without shutdown.
                self.drain(&mut batch);
                self.finish();
                return;
            }
            let expired = self
                .assembler
                .as_mut()
                .map(TraceAssembler::expire)
                .unwrap_or_default();
            for trace in expired {
                self.add(trace.spans, &mut batch);
            }
            self.note_assembler();
            if batch
                .since
                .is_some_and(|s| s.elapsed() >= self.config.max_batch_age)
            {
                let (records, sizes) = batch.take();
                self.deliver(records, sizes);
            }
            let mut wait = match batch.since {
                Some(since) => self.config.max_batch_age.saturating_sub(since.elapsed()),
                None => tick,
            };
            wait = wait.min(tick);
            if self.assembler.as_ref().is_some_and(|a| a.pending() > 0) {
                // Wake up to release traces whose root never came.
                wait = wait.min((self.config.trace_max_age / 4).max(Duration::from_millis(10)));
            }
            self.counters.worker_asleep.store(true, SeqCst);
            // A producer that filled a batch between the drain and the store above saw the worker
            // awake and did not ring: look again before sleeping.
            let (records, bytes) = self.wake_at;
            if self.counters.in_channel.load(SeqCst) >= records
                || self.counters.in_channel_bytes.load(SeqCst) >= bytes
            {
                self.counters.worker_asleep.store(false, SeqCst);
                continue;
            }
            let ctl = self.control.recv_timeout(wait);
            self.counters.worker_asleep.store(false, SeqCst);
            match ctl {
                Ok(Control::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Ok(ctl) => {
                    if self.handle_control(ctl, &mut batch) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.drain(&mut batch);
                    self.finish();
                    return;
                }
            }
        }
    }

    /// Takes the records queued now, no more (a producer as fast as this loop must not keep it going
    /// forever), updates the counters once, then processes them. False when every sender is gone.
    fn receive_queued(&mut self, batch: &mut Batch) -> bool {
        let queued = self.rx.len();
        let mut items = Vec::with_capacity(queued);
        let mut connected = true;
        // One look even when the queue is empty: that is how a dropped pipeline is noticed.
        for _ in 0..queued.max(1) {
            match self.rx.try_recv() {
                Ok(item) => items.push(item),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    connected = false;
                    break;
                }
            }
        }
        let bytes: usize = items.iter().map(|i| i.size).sum();
        // Off the channel, still held: the caps keep counting them until they leave the worker.
        self.counters
            .in_channel
            .fetch_sub(items.len() as u64, Relaxed);
        self.counters.in_channel_bytes.fetch_sub(bytes, Relaxed);
        for item in items {
            self.push(item, batch);
        }
        connected
    }

    /// One record taken off the queue (the channel counters were already updated).
    fn push(&mut self, item: Item, batch: &mut Batch) {
        // The last exporter to receive a record takes it without copying.
        let mut record = Arc::try_unwrap(item.record).unwrap_or_else(|shared| (*shared).clone());
        // The content policy first: content this exporter must not get is never parsed or redacted.
        let stripped = !self.capture_content && record.strip_content();
        let changes = stripped
            || (self.decode_content && record.has_pending_content())
            || !self.processors.is_empty();
        if self.decode_content {
            record.decode_content();
        }
        for p in &self.processors {
            let verdict = catch_unwind(AssertUnwindSafe(|| p.process(&mut record)));
            if !matches!(verdict, Ok(Verdict::Keep)) {
                self.counters.dropped_by_processors.fetch_add(1, Relaxed);
                self.release(1, item.size);
                return;
            }
        }
        // From here on the record no longer changes. Without an assembler the admitted size leaves
        // the caps' count with the record; an assembler hands records back with their size estimated
        // again, so the count moves to that estimate now (the record no longer changes, so the two
        // agree) and what leaves is exactly what was counted.
        let size = if changes && self.assembler.is_some() {
            let now = record.estimated_size();
            if now >= item.size {
                self.counters.held_bytes.fetch_add(now - item.size, Relaxed);
            } else {
                self.counters.held_bytes.fetch_sub(item.size - now, Relaxed);
            }
            now
        } else {
            item.size
        };
        match self.assembler.as_mut() {
            None => self.add_sized(vec![(record, size)], batch),
            Some(assembler) => {
                let released = assembler.push([record]);
                self.note_assembler();
                for trace in released {
                    self.add(trace.spans, batch);
                }
            }
        }
    }

    fn note_assembler(&self) {
        if let Some(a) = &self.assembler {
            self.counters
                .waiting_for_trace
                .store(a.pending_spans() as u64, Relaxed);
        }
    }

    fn add(&mut self, records: Vec<SpanRecord>, batch: &mut Batch) {
        let sized = records
            .into_iter()
            .map(|r| {
                let size = r.estimated_size();
                (r, size)
            })
            .collect();
        self.add_sized(sized, batch);
    }

    /// Adds records that belong together (one record, or one whole trace) to the batch: they are never
    /// split across two `export` calls, so a trace may exceed the batch limits.
    fn add_sized(&mut self, records: Vec<(SpanRecord, usize)>, batch: &mut Batch) {
        let bytes: usize = records.iter().map(|(_, s)| s).sum();
        let full = !batch.records.is_empty()
            && (batch.bytes + bytes > self.config.max_batch_bytes
                || batch.records.len() + records.len() > self.config.max_batch_size);
        if full {
            let (ready, sizes) = batch.take();
            self.deliver(ready, sizes);
        }
        batch.since.get_or_insert_with(Instant::now);
        batch.bytes += bytes;
        for (record, size) in records {
            batch.records.push(record);
            batch.sizes.push(size);
        }
        if batch.records.len() >= self.config.max_batch_size
            || batch.bytes >= self.config.max_batch_bytes
        {
            let (ready, sizes) = batch.take();
            self.deliver(ready, sizes);
        }
    }

    /// Exports everything already queued. Returns true when the worker must stop.
    fn handle_control(&mut self, ctl: Control, batch: &mut Batch) -> bool {
        match ctl {
            Control::Flush(ack) => {
                self.drain(batch);
                self.guarded(|e| e.flush());
                let _ = ack.send(());
                false
            }
            Control::Wake => false,
            Control::Shutdown(deadline, ack) => {
                self.deadline = Some(deadline);
                self.drain(batch);
                self.finish();
                let _ = ack.send(());
                true
            }
        }
    }

    fn drain(&mut self, batch: &mut Batch) {
        self.receive_queued(batch);
        let held = self
            .assembler
            .as_mut()
            .map(TraceAssembler::drain)
            .unwrap_or_default();
        for trace in held {
            self.add(trace.spans, batch);
        }
        self.note_assembler();
        let (records, sizes) = batch.take();
        self.deliver(records, sizes);
    }

    fn finish(&mut self) {
        self.guarded(|e| e.flush());
        self.guarded(|e| e.shutdown());
    }

    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn guarded(&mut self, f: impl FnOnce(&mut dyn Exporter) -> Result<(), ExportError>) {
        match catch_unwind(AssertUnwindSafe(|| f(&mut *self.exporter))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.note_error(&e),
            Err(panic) => {
                self.note_panic(panic.as_ref());
                self.counters.panics.fetch_add(1, Relaxed);
            }
        }
    }

    /// Keeps a panic's message as the exporter's last error, so `stats()` says why it failed.
    fn note_panic(&self, panic: &(dyn std::any::Any + Send)) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic payload".to_string());
        if let Ok(mut last) = self.counters.last_error.lock() {
            *last = Some(format!("the exporter panicked: {message}"));
        }
    }

    fn note_error(&self, e: &ExportError) {
        if let Ok(mut last) = self.counters.last_error.lock() {
            *last = Some(e.to_string());
        }
    }

    /// Records leave what this exporter holds (exported, dropped or lost): the caps admit more.
    fn release(&self, records: usize, bytes: usize) {
        self.counters.held.fetch_sub(records as u64, Relaxed);
        self.counters.held_bytes.fetch_sub(bytes, Relaxed);
    }

    /// Exports one batch, retrying what can be retried, and accounts for every record. `sizes[i]`
    /// is the held size of `pending[i]`.
    fn deliver(&mut self, mut pending: Vec<SpanRecord>, mut sizes: Vec<usize>) {
        let c = Arc::clone(&self.counters);
        let mut attempt = 0u32;
        let settle = |counter: &AtomicU64, pending: &[SpanRecord], sizes: &[usize]| {
            counter.fetch_add(pending.len() as u64, Relaxed);
            c.held.fetch_sub(pending.len() as u64, Relaxed);
            c.held_bytes.fetch_sub(sizes.iter().sum::<usize>(), Relaxed);
        };
        while !pending.is_empty() {
            if self.past_deadline() {
                settle(&c.lost_at_shutdown, &pending, &sizes);
                return;
            }
            let result = catch_unwind(AssertUnwindSafe(|| self.exporter.export(&pending)));
            let err = match result {
                Ok(Ok(())) => {
                    settle(&c.exported, &pending, &sizes);
                    return;
                }
                Ok(Err(e)) => e,
                Err(panic) => {
                    self.note_panic(panic.as_ref());
                    c.panics.fetch_add(1, Relaxed);
                    c.failed_batches.fetch_add(1, Relaxed);
                    settle(&c.dropped_after_retries, &pending, &sizes);
                    return;
                }
            };
            self.note_error(&err);
            if let Some(failed) = &err.failed {
                let mut keep = vec![false; pending.len()];
                for &i in failed {
                    if let Some(k) = keep.get_mut(i) {
                        *k = true;
                    }
                }
                let (mut accepted, mut accepted_bytes) = (0usize, 0usize);
                let mut kept_records = Vec::with_capacity(failed.len());
                let mut kept_sizes = Vec::with_capacity(failed.len());
                for ((record, size), keep) in pending.into_iter().zip(sizes).zip(keep) {
                    if keep {
                        kept_records.push(record);
                        kept_sizes.push(size);
                    } else {
                        accepted += 1;
                        accepted_bytes += size;
                    }
                }
                (pending, sizes) = (kept_records, kept_sizes);
                c.exported.fetch_add(accepted as u64, Relaxed);
                self.release(accepted, accepted_bytes);
                if pending.is_empty() {
                    return;
                }
            }
            if !err.retryable || attempt >= self.config.max_retries {
                c.failed_batches.fetch_add(1, Relaxed);
                settle(&c.dropped_after_retries, &pending, &sizes);
                return;
            }
            // A throttled backend is never called before its Retry-After (the shutdown deadline
            // still bounds the wait).
            let delay = self
                .backoff(attempt)
                .max(err.retry_after.unwrap_or_default());
            if !self.wait(delay) {
                settle(&c.lost_at_shutdown, &pending, &sizes);
                return;
            }
            attempt += 1;
            c.retries.fetch_add(1, Relaxed);
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .config
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.config.max_backoff);
        // ±20 % jitter so many clients don't retry in lockstep.
        let jitter = (crate::ids::SpanId::random().to_u64() % 401) as f64 / 1000.0 + 0.8;
        base.mul_f64(jitter).min(self.config.max_backoff)
    }

    /// Sleeps for `delay` while still receiving control messages. False when the shutdown deadline
    /// comes first.
    fn wait(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            if let Some(d) = self.deadline {
                if until > d {
                    return false;
                }
            }
            match self.control.recv_deadline(until) {
                Ok(Control::Shutdown(deadline, ack)) => {
                    self.deadline = Some(deadline);
                    self.stashed.push_back(Control::Shutdown(deadline, ack));
                }
                Ok(Control::Wake) => {}
                Ok(other) => self.stashed.push_back(other),
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(until.saturating_duration_since(Instant::now()));
                    return true;
                }
            }
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
