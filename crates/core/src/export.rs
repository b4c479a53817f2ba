//! What an exporter crate needs, in one place: the [`Exporter`] trait and its error type, splitting
//! a batch into requests ([`SplitExport`]), `Retry-After`, the traces of a batch ([`trace_views`]),
//! and the formatting and size helpers backends share (times, JSON text, truncation).

pub use crate::assembler::{trace_views, Trace};
pub use crate::record::{
    json_text, rfc3339, text_or_json, truncate_strings, truncation_marker, unix_nanos,
};

use std::fmt;
use std::time::Duration;

use crate::record::SpanRecord;
use crate::score::{ScoreRecord, ScoreTargets};

/// Sends finished spans to a backend. Called on the exporter's own worker thread (never on the
/// application's), so a blocking HTTP client is fine; no async runtime is required.
pub trait Exporter: Send + 'static {
    /// A short name for stats and logs (`console`, `jsonl`, `langfuse`, ...). Metadata keys under this
    /// name's namespace are routed to this exporter only.
    fn name(&self) -> &str;

    /// True when this exporter must receive whole traces (a trace's spans in one batch, released when
    /// its local root closes), e.g. to set trace-level fields from the root on every span. The worker
    /// then holds each trace's spans until its root closes (or the trace outlives `trace_max_age`)
    /// before calling `export`, so flush, shutdown, retry and the counters stay exact. Default
    /// false.
    fn needs_whole_traces(&self) -> bool {
        false
    }

    /// False when this exporter leaves out the request records
    /// ([`SpanKind::Request`](crate::SpanKind::Request): the HTTP request or job a trace runs in): it then sees each trace as
    /// its AI spans alone, top-level ones parented as without the request, and the trace's name, user,
    /// session and tags on every span. True (the default): request records arrive like other spans and
    /// the top-level AI spans of a request are their children.
    fn receives_request_spans(&self) -> bool {
        true
    }

    /// False when this exporter never looks at content (input, output, instructions, tool
    /// definitions, arguments and results), e.g. one that only records usage, cost or durations. Content
    /// recorded as JSON text is then not parsed on its worker (unless one of its offloaded processors
    /// reads content) and reaches `export` as that text. Default true.
    fn reads_content(&self) -> bool {
        true
    }

    /// Adjusts the builder's queue/batch/retry settings for this exporter (e.g. a shorter batch age
    /// for local output, a batch size from the vendor's own environment variable). Only called when
    /// the exporter was added without an explicit `ExportConfig`.
    fn configure(&self, config: &mut crate::ExportConfig) {
        let _ = config;
    }

    /// Exports one batch. Return a retryable error to have the pipeline retry with backoff; return
    /// [`ExportError::partial`] when the backend accepted some records and rejected others.
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError>;

    /// Which score targets [`export_scores`](Self::export_scores) takes. Default none: scores are not
    /// queued for this exporter and are counted as unsupported. (Scores recorded on a live span also
    /// arrive as [`SpanRecord::scores`] with the span, whatever this says.)
    fn score_targets(&self) -> ScoreTargets {
        ScoreTargets::NONE
    }

    /// Exports one batch of scores sent with [`crate::score()`] or produced by an evaluation
    /// (queued, batched, retried and counted like spans; never held for their trace, except by
    /// exporters that need whole traces, which get a score after the trace it targets). Only
    /// called with targets [`score_targets`](Self::score_targets) accepts.
    fn export_scores(&mut self, batch: &[ScoreRecord]) -> Result<(), ExportError> {
        let _ = batch;
        Ok(())
    }

    /// Pushes out anything the exporter buffers itself (called by `Guard::flush` and before shutdown).
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; called once, after the last batch and `flush`.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn needs_whole_traces(&self) -> bool {
        (**self).needs_whole_traces()
    }
    fn reads_content(&self) -> bool {
        (**self).reads_content()
    }
    fn receives_request_spans(&self) -> bool {
        (**self).receives_request_spans()
    }
    fn configure(&self, config: &mut crate::ExportConfig) {
        (**self).configure(config)
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        (**self).export(batch)
    }
    fn score_targets(&self) -> ScoreTargets {
        (**self).score_targets()
    }
    fn export_scores(&mut self, batch: &[ScoreRecord]) -> Result<(), ExportError> {
        (**self).export_scores(batch)
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        (**self).flush()
    }
    fn shutdown(&mut self) -> Result<(), ExportError> {
        (**self).shutdown()
    }
}

/// A `Retry-After` header's value in seconds (the HTTP-date form is rare for APIs and not read), for
/// exporters to pass to [`ExportError::with_retry_after`].
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Why an export failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    /// What went wrong, for logs (never contains credentials).
    pub message: String,
    /// Timeouts, connection errors, 429 and 5xx are retryable; auth and bad requests are not.
    pub retryable: bool,
    /// A server-requested delay (`Retry-After`) before the next try.
    pub retry_after: Option<Duration>,
    /// For partial failures: indices (into the batch) of the records that were rejected. `None` means
    /// the whole batch failed.
    pub failed: Option<Vec<usize>>,
    /// No answer came because the backend cannot be reached as configured (connection refused, DNS,
    /// TLS): retried while the application runs, given up at once at shutdown.
    pub unreachable: bool,
}

impl ExportError {
    /// A failure that may succeed if tried again.
    pub fn retryable(message: impl Into<String>) -> Self {
        ExportError {
            message: message.into(),
            retryable: true,
            retry_after: None,
            failed: None,
            unreachable: false,
        }
    }
    /// The backend cannot be reached (refused, DNS, TLS): retryable, and not waited for at shutdown.
    pub fn unreachable(message: impl Into<String>) -> Self {
        ExportError {
            unreachable: true,
            ..ExportError::retryable(message)
        }
    }
    /// A failure that will fail again (bad credentials, invalid payload).
    pub fn fatal(message: impl Into<String>) -> Self {
        ExportError {
            message: message.into(),
            retryable: false,
            retry_after: None,
            failed: None,
            unreachable: false,
        }
    }
    /// Some records (by batch index) were rejected; the rest were accepted.
    pub fn partial(message: impl Into<String>, failed: Vec<usize>, retryable: bool) -> Self {
        ExportError {
            message: message.into(),
            retryable,
            retry_after: None,
            failed: Some(failed),
            unreachable: false,
        }
    }
    /// The same failure, narrowed to the records at `failed` (its class and `Retry-After` kept).
    pub fn narrowed_to(mut self, failed: Vec<usize>) -> Self {
        self.failed = Some(failed);
        self
    }
    /// Asks the pipeline to wait at least this long before retrying.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }
}

/// The outcome of one `export` call that an exporter splits into several requests (row or byte
/// limits): which records failed, and the error to report. A throttled backend (an answer with
/// `Retry-After`) is not called again in the same call: the requests not yet sent fail as retryable,
/// and the pipeline waits the `Retry-After` before retrying them, whatever the split.
#[derive(Debug, Default)]
pub struct SplitExport {
    failed: Vec<usize>,
    error: Option<ExportError>,
}

impl SplitExport {
    /// Starts with records that already failed before any request (e.g. unwritable ones).
    pub fn new(failed: Vec<usize>, error: Option<ExportError>) -> Self {
        SplitExport { failed, error }
    }

    /// True once a request was answered with `Retry-After`: send no more requests in this call.
    pub fn throttled(&self) -> bool {
        self.error.as_ref().is_some_and(|e| e.retry_after.is_some())
    }

    /// The records at `indices` failed with `e`. The error reported keeps the first retryable one
    /// (so the batch is retried) and the longest `Retry-After` any request asked for.
    pub fn failed(&mut self, indices: impl IntoIterator<Item = usize>, e: ExportError) {
        self.failed.extend(indices);
        let retry_after = match (&self.error, e.retry_after) {
            (Some(prev), Some(d)) => Some(prev.retry_after.map_or(d, |p| p.max(d))),
            (Some(prev), None) => prev.retry_after,
            (None, d) => d,
        };
        let mut merged = match self.error.take() {
            Some(prev) if prev.retryable => prev,
            _ => e,
        };
        merged.retry_after = retry_after;
        self.error = Some(merged);
    }

    /// The records at `indices` were not sent because the backend is throttling: retryable.
    pub fn not_sent(&mut self, indices: impl IntoIterator<Item = usize>) {
        self.failed.extend(indices);
    }

    /// The result of the whole call for a batch of `len` records: `Ok`, the error for the whole
    /// batch, or a partial failure naming the failed records (class and `Retry-After` kept).
    pub fn finish(self, len: usize) -> Result<(), ExportError> {
        match self.error {
            None if self.failed.is_empty() => Ok(()),
            None => Err(ExportError::partial(
                "some records could not be sent",
                self.failed,
                false,
            )),
            Some(mut e) if self.failed.len() >= len => {
                e.failed = None;
                Err(e)
            }
            Some(e) => Err(e.narrowed_to(self.failed)),
        }
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.retryable { "retryable" } else { "fatal" };
        write!(f, "{kind} export error: {}", self.message)?;
        if let Some(failed) = &self.failed {
            write!(f, " ({} records rejected)", failed.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for ExportError {}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let retryable = matches!(
            e.kind(),
            Interrupted | WouldBlock | TimedOut | ConnectionRefused | ConnectionReset | BrokenPipe
        );
        ExportError {
            message: e.to_string(),
            retryable,
            retry_after: None,
            failed: None,
            unreachable: e.kind() == ConnectionRefused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_export_keeps_the_longest_retry_after_and_the_failed_records() {
        let mut outcome = SplitExport::new(vec![0], Some(ExportError::fatal("unwritable row")));
        assert!(!outcome.throttled());
        outcome.failed(
            [1, 2],
            ExportError::retryable("503").with_retry_after(Duration::from_secs(2)),
        );
        assert!(outcome.throttled());
        outcome.failed(
            [3],
            ExportError::retryable("429").with_retry_after(Duration::from_secs(1)),
        );
        outcome.not_sent([4]);
        let e = outcome.finish(6).unwrap_err();
        assert!(e.retryable);
        assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(e.failed, Some(vec![0, 1, 2, 3, 4]));
        // Everything failed: the error of the whole batch, Retry-After kept.
        let mut all = SplitExport::default();
        all.failed(
            [0, 1],
            ExportError::retryable("503").with_retry_after(Duration::from_secs(1)),
        );
        let e = all.finish(2).unwrap_err();
        assert_eq!(
            (e.failed, e.retry_after),
            (None, Some(Duration::from_secs(1)))
        );
        assert!(SplitExport::default().finish(3).is_ok());
    }
}
