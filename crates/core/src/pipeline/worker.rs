//! One exporter's worker thread: batches by count, bytes and age, retries with backoff and
//! `Retry-After`, assembles whole traces for exporters that want them, and survives a panicking
//! exporter.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use crate::assembler::TraceAssembler;
use crate::export::{ExportError, Exporter};
use crate::record::{SpanKind, SpanRecord};
use crate::score::ScoreRecord;

use super::config::ExportConfig;
use super::processor::{Processor, Verdict};
use super::stats::SinkCounters;

pub(super) enum Control {
    Flush(Sender<()>),
    Shutdown(Instant, Sender<()>),
    /// A batch's worth of records is queued.
    Wake,
}

/// Longest sleep of an idle worker between looks at its queue. Unit tests make it an hour, so a
/// test that sees records arrive proves the producer's wake-up works.
pub(super) const TICK: Duration = if cfg!(test) {
    Duration::from_secs(3600)
} else {
    Duration::from_millis(250)
};

/// Queue length and bytes at which a producer wakes a sleeping worker: a batch's worth, or half the
/// queue when the queue is smaller than a batch.
pub(super) fn wake_threshold(config: &ExportConfig) -> (u64, usize) {
    (
        config.max_batch_size.min(config.queue_capacity / 2).max(1) as u64,
        config
            .max_batch_bytes
            .min(config.queue_max_bytes / 2)
            .max(1),
    )
}

/// A closed span's record shared by the exporters' queues. The box is the one the span's record
/// lived in from its start (and goes back to the application's threads after export, see
/// `record::recycle`): sharing it costs the application's thread a small `Arc`, not a copy of the
/// ~1.8 KB record, which is why the `Box` is not folded into the `Arc`.
#[allow(clippy::redundant_allocation)]
pub(super) type SharedRecord = Arc<Box<SpanRecord>>;

pub(super) struct Item {
    pub(super) record: SharedRecord,
    pub(super) size: usize,
}

/// What producers put on an exporter's queue: a closed span, or a score with its size.
pub(super) enum Queued {
    Span(Item),
    Score(Arc<ScoreRecord>, usize),
}

impl Queued {
    fn size(&self) -> usize {
        match self {
            Queued::Span(item) => item.size,
            Queued::Score(_, size) => *size,
        }
    }
}

/// Scores taken off the queue and not yet exported: batched by count and age like spans, and, for
/// exporters that need whole traces, held while the trace they target is still being assembled (so
/// a Braintrust row exists before its feedback arrives).
#[derive(Default)]
pub(super) struct ScoreBatch {
    ready: Vec<ScoreRecord>,
    sizes: Vec<usize>,
    since: Option<Instant>,
    waiting: Vec<(ScoreRecord, usize)>,
}

pub(super) struct Worker {
    /// False when the content policy keeps content away from this exporter.
    pub(super) capture_content: bool,
    /// Offloaded processors, run here before batching.
    pub(super) processors: Vec<Arc<dyn Processor>>,
    /// Regroups spans by trace for exporters that need whole traces.
    pub(super) assembler: Option<TraceAssembler>,
    /// Whether content recorded as JSON text is parsed here: the exporter or an offloaded processor
    /// reads it.
    pub(super) decode_content: bool,
    /// Whether the exporter receives request records; else they only end their trace's assembly.
    pub(super) receives_requests: bool,
    /// The queue length and bytes at which producers ring (see [`wake_threshold`]).
    pub(super) wake_at: (u64, usize),
    pub(super) exporter: Box<dyn Exporter>,
    pub(super) config: ExportConfig,
    pub(super) rx: Receiver<Queued>,
    pub(super) control: Receiver<Control>,
    pub(super) counters: Arc<SinkCounters>,
    /// Control messages that arrived while a retry was waiting.
    pub(super) stashed: VecDeque<Control>,
    /// Scores waiting for export.
    pub(super) scores: ScoreBatch,
    /// Set once shutdown was requested.
    pub(super) deadline: Option<Instant>,
    /// Failed attempts since the exporter last succeeded; `Some` while it is failing.
    pub(super) failing: Option<u64>,
    /// The last attempt found the backend unreachable (refused, DNS, TLS): at shutdown nothing
    /// waits for it.
    pub(super) unreachable: bool,
}

/// The target of the exporters' health lines (one WARN when an exporter starts failing, one INFO
/// when it recovers). The layer never records events of `aitrace::*` targets.
pub const EXPORT_LOG_TARGET: &str = "aitrace::export";

pub(super) struct Batch {
    pub(super) records: Vec<SpanRecord>,
    /// The held size of each record (what leaves the byte cap's count with it).
    pub(super) sizes: Vec<usize>,
    pub(super) bytes: usize,
    pub(super) since: Option<Instant>,
}

impl Batch {
    pub(super) fn take(&mut self) -> (Vec<SpanRecord>, Vec<usize>) {
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
    pub(super) fn run(mut self) {
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
            self.release_waiting_scores(false);
            if self.scores_due() {
                // The spans first: a score may name a span of this very batch (a Braintrust row
                // must exist before its feedback).
                let (records, sizes) = batch.take();
                self.deliver(records, sizes);
                self.deliver_scores();
            }
            let oldest = match (batch.since, self.scores.since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut wait = match oldest {
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
    pub(super) fn receive_queued(&mut self, batch: &mut Batch) -> bool {
        let queued = self.rx.len();
        let mut items: Vec<Queued> = Vec::with_capacity(queued);
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
        let bytes: usize = items.iter().map(Queued::size).sum();
        // Off the channel, still held: the caps keep counting them until they leave the worker.
        self.counters
            .in_channel
            .fetch_sub(items.len() as u64, Relaxed);
        self.counters.in_channel_bytes.fetch_sub(bytes, Relaxed);
        for item in items {
            match item {
                Queued::Span(item) => self.push(item, batch),
                Queued::Score(score, size) => self.push_score(score, size),
            }
        }
        connected
    }

    /// One score taken off the queue: offloaded processors, then the score batch (or, while the
    /// trace it targets is still assembled here, the waiting list).
    fn push_score(&mut self, score: Arc<ScoreRecord>, size: usize) {
        let mut score = Arc::try_unwrap(score).unwrap_or_else(|shared| (*shared).clone());
        for p in &self.processors {
            let verdict = catch_unwind(AssertUnwindSafe(|| p.process_score(&mut score)));
            if !matches!(verdict, Ok(Verdict::Keep)) {
                self.counters.dropped_by_processors.fetch_add(1, Relaxed);
                self.release(1, size);
                return;
            }
        }
        let held_back = match (&self.assembler, score.target.trace_id()) {
            (Some(a), Some(trace)) => a.holds(trace),
            _ => false,
        };
        if held_back {
            self.scores.waiting.push((score, size));
        } else {
            self.add_score(score, size);
        }
    }

    fn add_score(&mut self, score: ScoreRecord, size: usize) {
        self.scores.since.get_or_insert_with(Instant::now);
        self.scores.ready.push(score);
        self.scores.sizes.push(size);
    }

    /// Whether the score batch is due: full, or as old as a batch may get.
    fn scores_due(&self) -> bool {
        self.scores.ready.len() >= self.config.max_batch_size
            || self
                .scores
                .since
                .is_some_and(|s| s.elapsed() >= self.config.max_batch_age)
    }

    /// Moves waiting scores whose trace left the assembler (or all of them) to the batch.
    fn release_waiting_scores(&mut self, all: bool) {
        if self.scores.waiting.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.scores.waiting);
        for (score, size) in waiting {
            let held = !all
                && match (&self.assembler, score.target.trace_id()) {
                    (Some(a), Some(trace)) => a.holds(trace),
                    _ => false,
                };
            if held {
                self.scores.waiting.push((score, size));
            } else {
                self.add_score(score, size);
            }
        }
    }

    fn deliver_scores(&mut self) {
        self.scores.since = None;
        let ready = std::mem::take(&mut self.scores.ready);
        let sizes = std::mem::take(&mut self.scores.sizes);
        if ready.is_empty() {
            return;
        }
        let before = self.counters.exported.load(Relaxed);
        self.deliver_with(ready, sizes, |e, b| e.export_scores(b));
        let sent = self.counters.exported.load(Relaxed).saturating_sub(before);
        self.counters.scores_exported.fetch_add(sent, Relaxed);
    }

    /// One record taken off the queue (the channel counters were already updated).
    pub(super) fn push(&mut self, item: Item, batch: &mut Batch) {
        // The last exporter to receive a record takes it without copying.
        let mut record: SpanRecord = match Arc::try_unwrap(item.record) {
            // Its box goes back to the application's threads for their next span.
            Ok(boxed) => crate::record::recycle::unbox(boxed),
            Err(shared) => SpanRecord::clone(&shared),
        };
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
        if self.receives_requests {
            // The top-level AI spans of a request are its children here.
            if let Some(request) = record.request_span_id {
                record.parent_span_id = Some(request);
                record.parent_is_remote = false;
            }
        } else if record.kind == SpanKind::Request && self.assembler.is_none() {
            self.counters.left_out.fetch_add(1, Relaxed);
            self.release(1, size);
            return;
        }
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

    pub(super) fn note_assembler(&self) {
        if let Some(a) = &self.assembler {
            self.counters
                .waiting_for_trace
                .store(a.pending_spans() as u64, Relaxed);
        }
    }

    pub(super) fn add(&mut self, mut records: Vec<SpanRecord>, batch: &mut Batch) {
        if !self.receives_requests {
            // Their trace is whole: the request records' work is done.
            let before = records.len();
            let mut bytes = 0;
            records.retain(|r| {
                let keep = r.kind != SpanKind::Request;
                if !keep {
                    bytes += r.estimated_size();
                }
                keep
            });
            let left = before - records.len();
            if left > 0 {
                self.counters.left_out.fetch_add(left as u64, Relaxed);
                self.release(left, bytes);
            }
            if records.is_empty() {
                return;
            }
        }
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
    pub(super) fn add_sized(&mut self, records: Vec<(SpanRecord, usize)>, batch: &mut Batch) {
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
    pub(super) fn handle_control(&mut self, ctl: Control, batch: &mut Batch) -> bool {
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

    pub(super) fn drain(&mut self, batch: &mut Batch) {
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
        self.release_waiting_scores(true);
        self.deliver_scores();
    }

    pub(super) fn finish(&mut self) {
        self.guarded(|e| e.flush());
        self.guarded(|e| e.shutdown());
    }

    pub(super) fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    pub(super) fn guarded(&mut self, f: impl FnOnce(&mut dyn Exporter) -> Result<(), ExportError>) {
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
    pub(super) fn note_panic(&self, panic: &(dyn std::any::Any + Send)) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic payload".to_string());
        if let Ok(mut last) = self.counters.last_error.lock() {
            *last = Some(format!("the exporter panicked: {message}"));
        }
    }

    /// At shutdown, a backend found unreachable is not tried again: what it would get is lost now.
    fn give_up_at_shutdown(&self) -> bool {
        self.deadline.is_some() && self.unreachable
    }

    pub(super) fn note_error(&mut self, e: &ExportError) {
        if let Ok(mut last) = self.counters.last_error.lock() {
            *last = Some(e.to_string());
        }
        self.unreachable = e.unreachable;
        self.note_failure(&e.message);
    }

    /// One WARN when the exporter starts failing, never one per batch.
    fn note_failure(&mut self, message: &str) {
        match &mut self.failing {
            Some(n) => *n += 1,
            None => {
                self.failing = Some(1);
                tracing::warn!(
                    target: EXPORT_LOG_TARGET,
                    exporter = self.exporter.name(),
                    "aitrace's {} exporter is failing: {message}. Spans are retried with backoff \
                     and counted in stats() while it lasts; the next line says when it recovers",
                    self.exporter.name()
                );
            }
        }
    }

    /// One INFO when an exporter that was failing succeeds again.
    fn note_success(&mut self) {
        self.unreachable = false;
        if let Some(failed) = self.failing.take() {
            tracing::info!(
                target: EXPORT_LOG_TARGET,
                exporter = self.exporter.name(),
                "aitrace's {} exporter recovered after {failed} failed attempt{}",
                self.exporter.name(),
                if failed == 1 { "" } else { "s" }
            );
        }
    }

    /// Records leave what this exporter holds (exported, dropped or lost): the caps admit more.
    pub(super) fn release(&self, records: usize, bytes: usize) {
        self.counters.held.fetch_sub(records as u64, Relaxed);
        self.counters.held_bytes.fetch_sub(bytes, Relaxed);
    }

    /// Exports one batch, retrying what can be retried, and accounts for every record. `sizes[i]`
    /// is the held size of `pending[i]`.
    pub(super) fn deliver(&mut self, pending: Vec<SpanRecord>, sizes: Vec<usize>) {
        self.deliver_with(pending, sizes, |e, b| e.export(b));
    }

    /// [`deliver`](Self::deliver) for any kind of record, sent with `call`.
    fn deliver_with<T>(
        &mut self,
        mut pending: Vec<T>,
        mut sizes: Vec<usize>,
        call: fn(&mut dyn Exporter, &[T]) -> Result<(), ExportError>,
    ) {
        let c = Arc::clone(&self.counters);
        let mut attempt = 0u32;
        let settle = |counter: &AtomicU64, pending: &[T], sizes: &[usize]| {
            counter.fetch_add(pending.len() as u64, Relaxed);
            c.held.fetch_sub(pending.len() as u64, Relaxed);
            c.held_bytes.fetch_sub(sizes.iter().sum::<usize>(), Relaxed);
        };
        while !pending.is_empty() {
            if self.past_deadline() || self.give_up_at_shutdown() {
                settle(&c.lost_at_shutdown, &pending, &sizes);
                return;
            }
            let result = catch_unwind(AssertUnwindSafe(|| call(&mut *self.exporter, &pending)));
            let err = match result {
                Ok(Ok(())) => {
                    self.note_success();
                    settle(&c.exported, &pending, &sizes);
                    return;
                }
                Ok(Err(e)) => e,
                Err(panic) => {
                    self.note_panic(panic.as_ref());
                    self.note_failure("the exporter panicked");
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
            if self.give_up_at_shutdown() {
                settle(&c.lost_at_shutdown, &pending, &sizes);
                return;
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

    pub(super) fn backoff(&self, attempt: u32) -> Duration {
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
    pub(super) fn wait(&mut self, delay: Duration) -> bool {
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
                    if self.unreachable {
                        // Waiting to retry a backend that refuses connections helps nobody.
                        return false;
                    }
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
