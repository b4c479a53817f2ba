//! What exporters that call a vendor's REST API next to their span route share (scores, feedback,
//! annotations): one blocking JSON client whose answers become retryable or fatal export errors,
//! and a bounded memory of the traces an exporter sent (their root span), so a score about a whole
//! trace can name the span the backend keeps the trace's scores on.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use aitrace_core::export::parse_retry_after;
use aitrace_core::{ExportError, SpanId, TraceId};

use crate::failure::{http_status_text, TransportFailure};
use crate::status::{is_auth_status, status_error};

/// A blocking HTTP client for a vendor's JSON API, used on an exporter's worker thread.
#[derive(Debug, Clone)]
pub struct JsonClient {
    http: reqwest::blocking::Client,
    headers: Vec<(String, String)>,
    /// Which setting holds the credentials, for the message of a 401/403.
    credentials: String,
}

impl JsonClient {
    /// A client with a per-request `timeout`, these headers on every request (auth), and the name
    /// of the setting to check when the backend rejects them.
    pub fn new(
        timeout: Duration,
        headers: impl IntoIterator<Item = (String, String)>,
        credentials: impl Into<String>,
    ) -> Result<Self, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(JsonClient {
            http,
            headers: headers.into_iter().collect(),
            credentials: credentials.into(),
        })
    }

    /// POSTs `body` (JSON) to `url` and returns the answer's text on 2xx. No answer (refused, DNS,
    /// TLS, a timeout), 408, 429 and 5xx are retryable (with the server's `Retry-After`); 401/403
    /// name the credentials' setting; other 4xx are fatal, with the first line of the answer.
    pub fn post(&self, url: &str, body: Vec<u8>) -> Result<String, ExportError> {
        self.post_as(url, "application/json", body)
    }

    /// [`post`](Self::post) with another content type (an OTLP protobuf body, say).
    pub fn post_as(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<String, ExportError> {
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let response = request.send().map_err(|e| {
            let failure = TransportFailure::of(&e);
            let message = format!("POST {url}: {failure}");
            if failure.unreachable() {
                ExportError::unreachable(message)
            } else {
                ExportError::retryable(message)
            }
        })?;
        let status = response.status().as_u16();
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = response.text().unwrap_or_default();
        match status {
            200..=299 => Ok(text),
            s if is_auth_status(s) => Err(ExportError::fatal(format!(
                "POST {url}: the backend rejected the credentials ({s}): check {}",
                self.credentials
            ))),
            s => Err(status_error(
                s,
                format!("POST {url}: {}", http_status_text(s, text.as_bytes())),
                wait,
            )),
        }
    }
}

/// The root span of each recently exported trace (the first local root seen), at most `capacity`
/// traces, the oldest forgotten first: bounded whatever the traffic.
#[derive(Debug)]
pub struct RecentRoots {
    roots: HashMap<TraceId, SpanId>,
    order: VecDeque<TraceId>,
    capacity: usize,
}

impl RecentRoots {
    /// Remembers at most `capacity` traces (at least one).
    pub fn new(capacity: usize) -> Self {
        RecentRoots {
            roots: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Notes `root` as the root of `trace` unless one is known.
    pub fn note(&mut self, trace: TraceId, root: SpanId) {
        if self.roots.contains_key(&trace) {
            return;
        }
        if self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.roots.remove(&old);
            }
        }
        self.roots.insert(trace, root);
        self.order.push_back(trace);
    }

    /// The root of `trace`, if it was exported recently.
    pub fn root(&self, trace: TraceId) -> Option<SpanId> {
        self.roots.get(&trace).copied()
    }

    /// Traces remembered now.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}

impl Default for RecentRoots {
    /// 10 000 traces (about half a megabyte).
    fn default() -> Self {
        RecentRoots::new(10_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_roots_keep_the_first_root_and_forget_the_oldest_trace() {
        let mut roots = RecentRoots::new(2);
        let (a, b, c) = (TraceId::random(), TraceId::random(), TraceId::random());
        let (ra, other) = (SpanId::random(), SpanId::random());
        roots.note(a, ra);
        roots.note(a, other);
        assert_eq!(roots.root(a), Some(ra));
        roots.note(b, SpanId::random());
        roots.note(c, SpanId::random());
        assert_eq!(roots.len(), 2);
        assert_eq!(roots.root(a), None, "the oldest went first");
        assert!(roots.root(c).is_some());
    }
}
