//! [`OtelExporter`]: runs the mapping on aitrace's worker thread and hands the spans to any
//! `opentelemetry_sdk` [`SpanExporter`] — by default OTLP over HTTP/protobuf with a blocking client.

use std::fmt;
use std::time::Duration;

use aitrace_core::{ExportConfig, ExportError, Exporter, ScoreRecord, ScoreTargets, SpanRecord};
use aitrace_exporter_kit::rest::{JsonClient, RecentRoots};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::SpanExporter;
use opentelemetry_sdk::Resource;

use aitrace_exporter_kit::failure::TransportFailure;
use aitrace_exporter_kit::status::status_error;

use crate::http::LastResponse;
use crate::mapping::{Dialect, MappingOptions};
use crate::send::Delivery;

/// The OTLP exporter aitrace builds: HTTP/protobuf with a blocking client, or (feature `grpc`) gRPC
/// driven by a current-thread Tokio runtime that this value owns.
#[derive(Debug)]
pub struct OtlpTransport {
    pub(crate) exporter: opentelemetry_otlp::SpanExporter,
    #[cfg(feature = "grpc")]
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
}

impl OtlpTransport {
    /// True when sending over gRPC.
    pub fn is_grpc(&self) -> bool {
        #[cfg(feature = "grpc")]
        {
            self.runtime.is_some()
        }
        #[cfg(not(feature = "grpc"))]
        {
            false
        }
    }
}

impl SpanExporter for OtlpTransport {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        #[cfg(feature = "grpc")]
        if let Some(rt) = &self.runtime {
            return rt.block_on(self.exporter.export(batch));
        }
        self.exporter.export(batch).await
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.exporter.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.exporter.set_resource(resource)
    }
}

/// Exports aitrace spans through an OpenTelemetry `SpanExporter`.
pub struct OtelExporter<E = OtlpTransport> {
    pub(crate) inner: E,
    pub(crate) last_response: Option<LastResponse>,
    pub(crate) options: MappingOptions,
    pub(crate) dialects: Vec<Box<dyn Dialect>>,
    pub(crate) name: String,
    pub(crate) delivery: Delivery,
    /// The gRPC endpoint, for the log: the gRPC client's errors are text without it.
    pub(crate) grpc_target: Option<String>,
    /// The roots of the traces sent lately: a score about a whole trace hangs under its root.
    pub(crate) roots: RecentRoots,
    /// Vendors' own score routes beside OTLP (Phoenix annotations, LangSmith feedback, MLflow
    /// assessments).
    pub(crate) score_routes: Vec<Box<dyn ScoreRoute>>,
}

/// A backend's own route for scores, next to its OTLP spans: the exporter hands it every score, the
/// ones recorded on spans once those spans were sent, the ones sent later in their own batches.
/// Errors are retried like the spans' (a route must take the same score twice as one).
pub trait ScoreRoute: Send + 'static {
    /// The targets it takes.
    fn targets(&self) -> ScoreTargets;

    /// Whether scores sent later still go as zero-duration OTLP spans too. False for a backend that
    /// shows the scores of its own route and would list those spans as noise. Default true.
    fn keeps_score_spans(&self) -> bool {
        true
    }

    /// Sends `scores` (only targets it takes); `roots` knows the root span of each trace this
    /// exporter sent lately.
    fn send(&self, scores: &[&ScoreRecord], roots: &RecentRoots) -> Result<(), ExportError>;
}

/// Where a Phoenix server takes annotations: its base URL and a client with the OTLP headers.
#[derive(Debug)]
pub(crate) struct Annotations {
    pub(crate) base: String,
    pub(crate) client: JsonClient,
}

impl ScoreRoute for Annotations {
    fn targets(&self) -> ScoreTargets {
        ScoreTargets::ALL
    }

    /// Posts the annotations of `scores`, one request per route (span, trace, session).
    fn send(&self, scores: &[&ScoreRecord], _roots: &RecentRoots) -> Result<(), ExportError> {
        for route in [
            "/v1/span_annotations",
            "/v1/trace_annotations",
            "/v1/session_annotations",
        ] {
            let data: Vec<serde_json::Value> = scores
                .iter()
                .filter(|s| crate::scores::annotation_route(&s.target) == route)
                .map(|s| crate::scores::phoenix_annotation(s))
                .collect();
            if data.is_empty() {
                continue;
            }
            let body = serde_json::json!({ "data": data }).to_string().into_bytes();
            self.client.post(&format!("{}{route}", self.base), body)?;
        }
        Ok(())
    }
}

impl<E> OtelExporter<E> {
    /// The first pause after the backend rejects the credentials (see
    /// [`OtelExporterBuilder::auth_pause`](crate::OtelExporterBuilder::auth_pause)); for tests that
    /// cannot wait a minute.
    pub fn with_auth_cooldown(mut self, pause: Duration) -> Self {
        if let Some(auth) = &mut self.delivery.auth {
            auth.first = pause;
        }
        self
    }
}

impl<E: fmt::Debug> fmt::Debug for OtelExporter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelExporter")
            .field("inner", &self.inner)
            .field("options", &self.options)
            .field("dialects", &self.dialects.len())
            .finish()
    }
}

/// Maps the SDK's error to retryable or not, from the HTTP status the client saw (`None`: no answer
/// came, or the transport has no HTTP status). A status decides as [`status_error`] does; no answer
/// (connection refused or reset, DNS, a timeout) is worth retrying. Nothing is read from the error's
/// text.
pub fn classify(e: OTelSdkError, status: Option<u16>) -> ExportError {
    match e {
        OTelSdkError::Timeout(d) => ExportError::retryable(format!("export timed out after {d:?}")),
        OTelSdkError::AlreadyShutdown => {
            ExportError::fatal("the OpenTelemetry exporter was shut down")
        }
        OTelSdkError::InternalFailure(msg) => match status {
            Some(code) if !(200..300).contains(&code) => status_error(code, msg, None),
            _ => ExportError::retryable(msg),
        },
    }
}

/// An OTLP partial success as an export error. OTLP says how many spans were rejected, not which,
/// and forbids retrying them: that many of `sent` are reported failed (not retryable), so the
/// pipeline counts them as dropped and the rest as exported.
pub fn partial_success_error(
    rejected: &crate::http::Rejected,
    sent: impl ExactSizeIterator<Item = usize>,
) -> ExportError {
    let total = sent.len();
    let failed: Vec<usize> = sent
        .take(rejected.spans.min(total as u64) as usize)
        .collect();
    let reason = if rejected.message.is_empty() {
        "no reason given".to_string()
    } else {
        rejected.message.clone()
    };
    ExportError::partial(
        format!(
            "the backend rejected {} of {total} spans (OTLP partial success: {reason})",
            rejected.spans
        ),
        failed,
        false,
    )
}

impl<E: SpanExporter + 'static> Exporter for OtelExporter<E> {
    fn name(&self) -> &str {
        &self.name
    }

    fn needs_whole_traces(&self) -> bool {
        self.delivery.whole_traces
    }

    fn configure(&self, config: &mut ExportConfig) {
        if let Some(n) = self.delivery.batch_size {
            config.max_batch_size = n;
        }
        if let Some(d) = self.delivery.batch_age {
            config.max_batch_age = d;
        }
        if let Some(limit) = self.delivery.max_request_bytes {
            config.max_batch_bytes = config.max_batch_bytes.min(limit);
        }
    }

    /// Scores about spans and traces (as zero-duration spans), and whatever its vendor routes take
    /// (sessions, for Phoenix).
    fn score_targets(&self) -> ScoreTargets {
        self.score_routes
            .iter()
            .fold(ScoreTargets::TRACES_AND_SPANS, |all, r| {
                let t = r.targets();
                ScoreTargets {
                    traces: all.traces || t.traces,
                    spans: all.spans || t.spans,
                    sessions: all.sessions || t.sessions,
                }
            })
    }

    fn export_scores(&mut self, batch: &[ScoreRecord]) -> Result<(), ExportError> {
        let score_spans = self.score_routes.iter().all(|r| r.keeps_score_spans());
        let spans: Vec<SpanRecord> = batch
            .iter()
            .filter(|_| score_spans)
            .filter_map(|s| {
                let root = s.target.trace_id().and_then(|t| self.roots.root(t));
                crate::scores::score_span(s, root)
            })
            .collect();
        if !spans.is_empty() {
            // Not partial: a score is one span here, and every one is sent again on a retry (the
            // same span id, the same annotation identifier).
            self.send_spans(&spans).map_err(|mut e| {
                e.failed = None;
                e
            })?;
        }
        self.send_to_routes(batch.iter())
    }

    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        for r in batch {
            if r.is_local_root() {
                self.roots.note(r.trace_id, r.span_id);
            }
        }
        self.send_spans(batch)?;
        // The spans went. A route that may recover (a 503, a refused connection) has them sent again
        // with its scores: backends take the same span ids as the same spans, and the routes take a
        // score sent again as the same score. A route that refuses for good (a collector with no
        // annotation route answering 404) must not count delivered spans as lost: every span is
        // reported accepted and the error is noted (stats' last error, the exporter's WARN).
        match self.send_to_routes(batch.iter().flat_map(|r| &r.scores)) {
            Err(e) if !e.retryable => Err(ExportError::partial(
                format!("the spans were sent, their scores were not: {}", e.message),
                Vec::new(),
                false,
            )),
            other => other,
        }
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.inner.force_flush().map_err(|e| classify(e, None))
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.inner.shutdown().map_err(|e| classify(e, None))
    }
}

impl<E: SpanExporter + 'static> OtelExporter<E> {
    /// Hands each route the scores it takes.
    fn send_to_routes<'a>(
        &self,
        scores: impl Iterator<Item = &'a ScoreRecord> + Clone,
    ) -> Result<(), ExportError> {
        for route in &self.score_routes {
            let targets = route.targets();
            let mine: Vec<&ScoreRecord> = scores
                .clone()
                .filter(|s| targets.accepts(&s.target))
                .collect();
            if !mine.is_empty() {
                route.send(&mine, &self.roots)?;
            }
        }
        Ok(())
    }

    fn send_spans(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        let (inner, last_response, grpc_target) =
            (&self.inner, &self.last_response, &self.grpc_target);
        self.delivery
            .export(batch, &self.options, &self.dialects, |spans| {
                let result = futures_executor::block_on(inner.export(spans));
                let mut notes = last_response
                    .as_ref()
                    .map(LastResponse::take)
                    .unwrap_or_default();
                if let (None, Some(endpoint)) = (&notes.target, grpc_target) {
                    notes.target = Some(format!("gRPC {endpoint}"));
                    notes.failure = result
                        .as_ref()
                        .err()
                        .map(|e| TransportFailure::from_message(&e.to_string()));
                }
                (result, notes)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_are_classified_by_status() {
        // The text is never read: a message that names another status changes nothing.
        let f = |status: Option<u16>| {
            classify(
                OTelSdkError::InternalFailure("status code: 401".into()),
                status,
            )
            .retryable
        };
        assert!(f(Some(503)) && f(Some(429)) && f(Some(408)));
        assert!(f(None), "no answer: worth retrying");
        assert!(!f(Some(401)) && !f(Some(400)) && !f(Some(413)));
        assert!(classify(OTelSdkError::Timeout(Duration::from_secs(1)), None).retryable);
        assert!(!classify(OTelSdkError::AlreadyShutdown, None).retryable);
    }
}
