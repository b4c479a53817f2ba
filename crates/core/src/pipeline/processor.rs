//! Processors: what runs on each closed span before it is queued for exporters.

use crate::record::SpanRecord;
use crate::score::ScoreRecord;

/// What a processor decides for a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the (possibly modified) span on.
    Keep,
    /// Drop the span; later processors and the exporters never see it. Counted in
    /// [`Stats::dropped_by_processors`](crate::Stats::dropped_by_processors).
    Drop,
}

/// Runs synchronously on every closed span, in the order processors were added, before any exporter
/// sees it: redaction, sampling, cost, truncation. Keep it cheap: it runs on the application's thread.
///
/// A processor that panics drops the span (fail closed: a crashed redactor must not let a secret
/// through) and is counted in [`Stats::processor_panics`](crate::Stats::processor_panics).
pub trait Processor: Send + Sync + 'static {
    /// Inspects or modifies the span.
    fn process(&self, span: &mut SpanRecord) -> Verdict;

    /// Inspects or modifies a score sent with [`crate::score()`] or by an evaluation, before any
    /// exporter sees it (a redactor scrubs its comment and metadata). Scores recorded on a live span
    /// reach [`process`](Self::process) with their span, in [`SpanRecord::scores`]. Default: keep.
    fn process_score(&self, score: &mut ScoreRecord) -> Verdict {
        let _ = score;
        Verdict::Keep
    }

    /// A stable name (`sensitive-data-filter`, `sampler`), used by
    /// [`Builder::without_processor`](crate::Builder::without_processor).
    fn name(&self) -> &str {
        "processor"
    }

    /// True to run on each exporter's worker thread instead of the span-close path: for expensive
    /// work (regex-heavy scans, lookups) that must not slow the application. Offloaded processors run
    /// after the inline ones, once per exporter; their drops and panics are counted per exporter in
    /// [`ExporterStats::dropped_by_processors`](crate::ExporterStats::dropped_by_processors). Default false.
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
