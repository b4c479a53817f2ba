//! One `export` call of an [`OtelExporter`](crate::OtelExporter): records mapped to spans (trace by
//! trace, for a vendor dialect that needs the trace), cut into requests under a byte limit, sent, and
//! the answers turned into one outcome. What a vendor on OTLP needs beyond plain OTLP (Langfuse:
//! whole traces, its own attribute names, a request size limit, a pause after rejected credentials)
//! are options here, so there is one OTLP client.

use std::time::{Duration, Instant};

use aitrace_core::export::{trace_views, SplitExport, Trace};
use aitrace_core::{ExportError, SpanRecord};
use aitrace_exporter_kit::status::is_auth_status;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;

use crate::http::Notes;
use crate::mapping::{span_data_with, to_span_data, Dialect, MappingOptions};

/// The attributes of a backend that reads its own names and needs the whole trace to write them
/// (Langfuse's trace name, user and tags on every observation). They replace the GenAI attributes.
pub trait TraceDialect: Send + Sync + 'static {
    /// The attributes of every span of `trace`, in the order of `trace.spans`.
    fn trace_attributes(&self, trace: &Trace<'_>) -> Vec<Vec<KeyValue>>;
}

/// After the backend rejects the credentials (401/403): no request for a while, doubling on each
/// rejection, and one clear error saying what to check.
#[derive(Debug, Clone)]
pub(crate) struct AuthPause {
    pub first: Duration,
    pub longest: Duration,
    /// The backend, as the error names it (`Langfuse`).
    pub who: String,
    /// What to check (`LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY for https://...`).
    pub check: String,
    /// No request before this instant, and how long that pause is.
    pub until: Option<(Instant, Duration)>,
}

impl AuthPause {
    fn error(&self, status: &str) -> ExportError {
        ExportError::fatal(format!(
            "{} rejected the credentials ({status}): check {}; sending paused",
            self.who, self.check
        ))
    }

    /// The error of a call made while paused.
    fn refuse(&self) -> Option<ExportError> {
        let (until, _) = self.until?;
        (Instant::now() < until).then(|| self.error("earlier 401/403"))
    }

    /// A rejection: pause (twice as long as the last pause, up to `longest`).
    fn rejected(&mut self, status: u16) -> ExportError {
        let pause = match self.until {
            Some((_, last)) => (last * 2).min(self.longest),
            None => self.first,
        };
        self.until = Some((Instant::now() + pause, pause));
        self.error(&status.to_string())
    }
}

/// How an exporter delivers beyond plain OTLP.
#[derive(Default)]
pub(crate) struct Delivery {
    pub trace_dialect: Option<Box<dyn TraceDialect>>,
    /// Ask the pipeline for whole traces.
    pub whole_traces: bool,
    /// Most estimated bytes per request; larger batches go in several requests, a larger span has
    /// its content shortened.
    pub max_request_bytes: Option<usize>,
    /// Most spans per request, whatever the batch size (PostHog refuses a request of more than 100
    /// AI spans, whole and without retry).
    pub max_request_spans: Option<usize>,
    /// Most records per batch, and how long a batch waits (the vendor's flush settings).
    pub batch_size: Option<usize>,
    pub batch_age: Option<Duration>,
    pub auth: Option<AuthPause>,
}

/// Shortens the content of spans too large for one request (a third of it, leaving room for the
/// envelope), with a visible marker, so they still arrive and never fail their batch.
fn shorten(batch: &[SpanRecord], limit: Option<usize>) -> Option<Vec<SpanRecord>> {
    let max_span = limit? / 3;
    batch
        .iter()
        .any(|r| r.estimated_size() > max_span)
        .then(|| {
            batch
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    if r.estimated_size() > max_span {
                        r.shrink_to(max_span / 2, max_span);
                    }
                    r
                })
                .collect()
        })
}

impl Delivery {
    /// The spans of a batch with their positions, and the positions of records whose ids a backend
    /// would reject (one bad id fails a whole OTLP request, so they are left out).
    fn map(
        &self,
        batch: &[SpanRecord],
        options: &MappingOptions,
        dialects: &[Box<dyn Dialect>],
    ) -> (Vec<(usize, SpanData)>, Vec<usize>) {
        let valid = |r: &SpanRecord| r.trace_id.is_valid() && r.span_id.is_valid();
        let mut mapped = Vec::with_capacity(batch.len());
        let mut invalid = Vec::new();
        match &self.trace_dialect {
            Some(dialect) => {
                for trace in trace_views(batch) {
                    let attributes = dialect.trace_attributes(&trace);
                    for ((&r, &index), attrs) in
                        trace.spans.iter().zip(&trace.indices).zip(attributes)
                    {
                        if valid(r) {
                            mapped.push((index, span_data_with(r, options, attrs)));
                        } else {
                            invalid.push(index);
                        }
                    }
                }
            }
            None => {
                for (index, r) in batch.iter().enumerate() {
                    if valid(r) {
                        mapped.push((index, to_span_data(r, options, dialects)));
                    } else {
                        invalid.push(index);
                    }
                }
            }
        }
        (mapped, invalid)
    }

    /// Exports `batch` with `send`, one request per chunk under the byte limit; `send` returns the
    /// transport's result and what the HTTP client saw of the answer.
    pub(crate) fn export(
        &mut self,
        batch: &[SpanRecord],
        options: &MappingOptions,
        dialects: &[Box<dyn Dialect>],
        mut send: impl FnMut(
            Vec<SpanData>,
        ) -> (Result<(), opentelemetry_sdk::error::OTelSdkError>, Notes),
    ) -> Result<(), ExportError> {
        if let Some(e) = self.auth.as_ref().and_then(AuthPause::refuse) {
            return Err(e);
        }
        let shortened = shorten(batch, self.max_request_bytes);
        let batch = shortened.as_deref().unwrap_or(batch);
        let (mapped, invalid) = self.map(batch, options, dialects);
        let mut outcome = SplitExport::new(Vec::new(), None);
        if !invalid.is_empty() {
            outcome.failed(
                invalid,
                ExportError::fatal("spans with invalid ids were not sent"),
            );
        }
        for request in split(
            mapped,
            batch,
            self.max_request_bytes,
            self.max_request_spans,
        ) {
            let indices: Vec<usize> = request.iter().map(|(i, _)| *i).collect();
            if outcome.throttled() {
                outcome.not_sent(indices);
                continue;
            }
            let (result, notes) = send(request.into_iter().map(|(_, s)| s).collect());
            match result {
                Ok(()) => {
                    if let Some(auth) = &mut self.auth {
                        auth.until = None;
                    }
                    if let Some(rejected) = notes.rejected {
                        let e = crate::partial_success_error(&rejected, indices.into_iter());
                        let rejected = e.failed.clone().unwrap_or_default();
                        outcome.failed(rejected, e);
                    }
                }
                Err(e) => {
                    let mut e = crate::classify(e, notes.status);
                    if let Some(target) = &notes.target {
                        // The log line a person reads: where it went and why it failed.
                        let cause = match (&notes.failure, &notes.status_text) {
                            (Some(failure), _) => failure.to_string(),
                            (None, Some(text)) => text.clone(),
                            (None, None) => e.message.clone(),
                        };
                        e.message = format!("{target}: {cause}");
                        e.unreachable = notes.failure.as_ref().is_some_and(|f| f.unreachable());
                    }
                    if let Some(d) = notes.retry_after.filter(|_| e.retryable) {
                        e = e.with_retry_after(d);
                    }
                    match (&mut self.auth, notes.status) {
                        (Some(auth), Some(status)) if is_auth_status(status) => {
                            e = auth.rejected(status);
                        }
                        (Some(auth), _) => auth.until = None,
                        _ => {}
                    }
                    outcome.failed(indices, e);
                }
            }
        }
        outcome.finish(batch.len())
    }
}

/// The spans cut into requests of at most `limit` estimated bytes and `max_spans` spans (a span is
/// never split; without limits, one request).
fn split(
    mapped: Vec<(usize, SpanData)>,
    batch: &[SpanRecord],
    limit: Option<usize>,
    max_spans: Option<usize>,
) -> Vec<Vec<(usize, SpanData)>> {
    if limit.is_none() && max_spans.is_none() {
        return if mapped.is_empty() {
            Vec::new()
        } else {
            vec![mapped]
        };
    }
    let limit = limit.unwrap_or(usize::MAX);
    let max_spans = max_spans.unwrap_or(usize::MAX).max(1);
    let mut requests: Vec<Vec<(usize, SpanData)>> = vec![Vec::new()];
    let mut bytes: usize = 0;
    for (index, span) in mapped {
        let size = batch[index].estimated_size();
        let full = requests.last().is_some_and(|r| r.len() >= max_spans);
        if (full || bytes.saturating_add(size) > limit)
            && !requests.last().is_some_and(Vec::is_empty)
        {
            requests.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(last) = requests.last_mut() {
            last.push((index, span));
        }
    }
    requests.retain(|r| !r.is_empty());
    requests
}
