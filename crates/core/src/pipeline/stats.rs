//! Counters: what each exporter received, sent, dropped and holds.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Mutex;

use serde::Serialize;

/// Counters of one exporter. At any moment
/// `enqueued == exported + left_out + dropped_after_retries + dropped_by_processors + lost_at_shutdown +
/// queued + waiting_for_trace + in_flight`, and every record offered to the exporter is either `enqueued` or `dropped_queue_full`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ExporterStats {
    /// The exporter's [`Exporter::name`](crate::Exporter::name).
    pub name: String,
    /// Records accepted into the queue.
    pub enqueued: u64,
    /// Records the backend accepted.
    pub exported: u64,
    /// Request records this exporter does not receive
    /// ([`Exporter::receives_request_spans`](crate::Exporter::receives_request_spans)): they only told
    /// its worker that their trace was whole. Not lost.
    pub left_out: u64,
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
    /// Scores the backend accepted (also counted in [`exported`](Self::exported); every counter
    /// above counts spans and scores alike).
    pub scores_exported: u64,
    /// Scores not queued because this exporter has no place for their target (a session score for
    /// an OTLP backend): see [`Exporter::score_targets`](crate::Exporter::score_targets).
    pub scores_unsupported: u64,
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
#[non_exhaustive]
pub struct Stats {
    /// AI spans that closed.
    pub spans_closed: u64,
    /// Spans a processor dropped on purpose (sampling, filtering).
    pub dropped_by_processors: u64,
    /// Spans dropped because a processor panicked.
    pub processor_panics: u64,
    /// Spans (and scores) that closed or were sent after shutdown.
    pub dropped_after_shutdown: u64,
    /// Scores sent with [`crate::score()`] or by an evaluation to this pipeline (scores recorded on a
    /// live span travel with it and are not counted here).
    pub scores_sent: u64,
    /// Scores refused before any queue: invalid (NaN, no name, a bad target), no target, or no
    /// pipeline running. Counted process-wide, since a refused score may name no pipeline.
    pub scores_rejected: u64,
    /// One entry per exporter, in the order they were added.
    pub exporters: Vec<ExporterStats>,
}

impl Stats {
    /// The counters of the exporter named `name` (the first one, if several share it).
    pub fn exporter(&self, name: &str) -> Option<&ExporterStats> {
        self.exporters.iter().find(|e| e.name == name)
    }

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
#[non_exhaustive]
pub struct ShutdownReport {
    /// True when every exporter drained and shut down before the deadline.
    pub completed: bool,
    /// Records lost: dropped at any point, plus those still queued or in flight at the deadline.
    pub lost: u64,
    /// The counters at the end.
    pub stats: Stats,
}

impl std::fmt::Display for ExporterStats {
    /// `otel: 10 sent, 2 lost (2 at shutdown); last error: POST http://…: connection refused`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} sent", self.name, self.exported)?;
        let lost = self.dropped();
        if lost > 0 {
            let why: Vec<String> = [
                (self.dropped_queue_full, "queue full"),
                (self.dropped_after_retries, "export failed"),
                (self.lost_at_shutdown, "at shutdown"),
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, why)| format!("{n} {why}"))
            .collect();
            write!(f, ", {lost} lost ({})", why.join(", "))?;
        }
        if self.dropped_by_processors > 0 {
            write!(f, ", {} dropped by processors", self.dropped_by_processors)?;
        }
        if self.queued > 0 {
            write!(f, ", {} still held", self.queued)?;
        }
        if let Some(e) = &self.last_error {
            if lost > 0 || self.failed_batches > 0 {
                write!(f, "; last error: {e}")?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for ShutdownReport {
    /// One line for the pipeline, then one per exporter:
    ///
    /// ```text
    /// aitrace shut down: 2 of 12 spans lost
    ///   console: 12 sent
    ///   otel: 10 sent, 2 lost (2 at shutdown); last error: POST http://localhost:4318/v1/traces: connection refused (is the backend running?)
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.stats;
        match (self.completed, self.lost) {
            (true, 0) => write!(f, "aitrace shut down: {} spans, none lost", s.spans_closed)?,
            (true, lost) => write!(f, "aitrace shut down: {lost} lost of {} spans", s.spans_closed)?,
            (false, lost) => write!(
                f,
                "aitrace shut down at its deadline with exporters still busy: {lost} lost of {} spans",
                s.spans_closed
            )?,
        }
        let before = s.dropped_by_processors + s.processor_panics + s.dropped_after_shutdown;
        if before > 0 {
            write!(
                f,
                " ({} dropped by processors, {} by panicking processors, {} closed after shutdown)",
                s.dropped_by_processors, s.processor_panics, s.dropped_after_shutdown
            )?;
        }
        for e in &s.exporters {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

#[derive(Default)]
pub(super) struct SinkCounters {
    pub(super) enqueued: AtomicU64,
    pub(super) exported: AtomicU64,
    pub(super) left_out: AtomicU64,
    pub(super) dropped_queue_full: AtomicU64,
    pub(super) dropped_after_retries: AtomicU64,
    pub(super) dropped_by_processors: AtomicU64,
    pub(super) lost_at_shutdown: AtomicU64,
    pub(super) failed_batches: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) panics: AtomicU64,
    /// Records held for the exporter anywhere (queue, worker, export call, retry, trace assembly):
    /// the caps apply to these.
    pub(super) held: AtomicU64,
    pub(super) held_bytes: AtomicUsize,
    /// Records and bytes in the channel only: how producers know a batch's worth is waiting.
    pub(super) in_channel: AtomicU64,
    pub(super) in_channel_bytes: AtomicUsize,
    pub(super) waiting_for_trace: AtomicU64,
    pub(super) scores_exported: AtomicU64,
    pub(super) scores_unsupported: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
    /// Set while the worker sleeps between ticks: the producer that fills a batch rings once.
    pub(super) worker_asleep: AtomicBool,
}
