//! The blocking HTTP client behind the OTLP exporters. It remembers two things the OTLP exporter's
//! errors and results do not carry: the last `Retry-After` (so a 429 or 503 is retried no sooner than
//! the server asked) and the last OTLP partial success (spans the backend accepted the request for but
//! rejected, which must be counted as dropped rather than exported).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aitrace_core::export::parse_retry_after;
use aitrace_exporter_kit::failure::{http_status_text, TransportFailure};
use async_trait::async_trait;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;

/// Spans a backend rejected in an otherwise successful OTLP answer (`partial_success`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// How many spans were rejected (OTLP says how many, not which).
    pub spans: u64,
    /// The backend's reason, if it gave one.
    pub message: String,
}

/// What the HTTP client saw of the last answer, which the OTLP exporter's results do not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes {
    /// The HTTP status; `None` when no answer came (connection refused, reset, timeout).
    pub status: Option<u16>,
    /// The answer's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// The answer's OTLP partial success, on a success status.
    pub rejected: Option<Rejected>,
    /// Where the request went, as the log names it: `POST http://…/v1/traces`, `gRPC http://…:4317`.
    pub target: Option<String>,
    /// Why no answer came, when none did.
    pub failure: Option<TransportFailure>,
    /// `HTTP 503 Service Unavailable: <the body's first line>`, for an answer that is not a success.
    pub status_text: Option<String>,
}

/// The [`Notes`] of the last answer, shared by the client that writes them and the exporter that
/// reads them once per request.
#[derive(Debug, Clone, Default)]
pub struct LastResponse(Arc<Mutex<Notes>>);

impl LastResponse {
    /// Takes the notes of the last answer, so they apply to one request only: a request that gets
    /// no answer then finds none.
    pub fn take(&self) -> Notes {
        self.0
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    fn set(&self, notes: Notes) {
        if let Ok(mut n) = self.0.lock() {
            *n = notes;
        }
    }
}

/// `reqwest`'s blocking client (HTTPS through rustls) plus [`LastResponse`].
#[derive(Debug)]
pub struct RetryAfterClient {
    inner: reqwest::blocking::Client,
    seen: LastResponse,
}

impl RetryAfterClient {
    /// A client with this request timeout, and the handle to what its last response said.
    pub fn new(timeout: Duration) -> Result<(Self, LastResponse), String> {
        // Built on a helper thread: reqwest's blocking client must not be created inside an async
        // runtime, and the caller may be in one.
        let inner = std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .build()
        })
        .join()
        .map_err(|_| "the HTTP client builder panicked".to_string())?
        .map_err(|e| e.to_string())?;
        let seen = LastResponse::default();
        Ok((
            RetryAfterClient {
                inner,
                seen: seen.clone(),
            },
            seen,
        ))
    }
}

/// The `partial_success` of an OTLP trace export answer, protobuf or JSON. `None` when the answer
/// has none, rejects nothing, or cannot be read (a body that is not OTLP is not a rejection).
pub fn parse_partial_success(content_type: &str, body: &[u8]) -> Option<Rejected> {
    if body.is_empty() {
        return None;
    }
    let rejected = if content_type.contains("json") {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let p = v
            .get("partialSuccess")
            .or_else(|| v.get("partial_success"))?;
        let n = p.get("rejectedSpans").or_else(|| p.get("rejected_spans"));
        // Protobuf JSON writes int64 as a string; accept a number too.
        let spans = n.and_then(|n| {
            n.as_u64()
                .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
        })?;
        let message = p
            .get("errorMessage")
            .or_else(|| p.get("error_message"))
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        Rejected { spans, message }
    } else {
        let answer = ExportTraceServiceResponse::decode(body).ok()?;
        let p = answer.partial_success?;
        Rejected {
            spans: u64::try_from(p.rejected_spans).ok()?,
            message: p.error_message,
        }
    };
    (rejected.spans > 0).then_some(rejected)
}

#[async_trait]
impl HttpClient for RetryAfterClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let url = request.uri().to_string();
        let response = match self.inner.send_bytes(request).await {
            Ok(response) => response,
            Err(e) => {
                self.seen.set(Notes {
                    target: Some(format!("POST {url}")),
                    failure: Some(TransportFailure::of(&*e)),
                    ..Notes::default()
                });
                return Err(e);
            }
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        let after = parse_retry_after(header("retry-after"));
        let rejected = if response.status().is_success() {
            parse_partial_success(header("content-type"), response.body())
        } else {
            None
        };
        let status = response.status().as_u16();
        self.seen.set(Notes {
            status: Some(status),
            retry_after: after,
            rejected,
            target: Some(format!("POST {url}")),
            failure: None,
            status_text: (!response.status().is_success())
                .then(|| http_status_text(status, response.body())),
        });
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    #[test]
    fn partial_success_is_read_from_protobuf_and_json() {
        let answer = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "span too large".into(),
            }),
        };
        let expected = Rejected {
            spans: 3,
            message: "span too large".into(),
        };
        let proto = answer.encode_to_vec();
        assert_eq!(
            parse_partial_success("application/x-protobuf", &proto),
            Some(expected.clone())
        );
        let json = br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"span too large"}}"#;
        assert_eq!(
            parse_partial_success("application/json", json),
            Some(expected)
        );
        // Nothing rejected, an empty answer, or a body that is not OTLP: no rejection.
        let none = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 0,
                error_message: String::new(),
            }),
        };
        assert_eq!(
            parse_partial_success("application/x-protobuf", &none.encode_to_vec()),
            None
        );
        assert_eq!(parse_partial_success("application/x-protobuf", b""), None);
        assert_eq!(parse_partial_success("application/json", b"<html>"), None);
        assert_eq!(
            parse_partial_success("application/json", br#"{"partialSuccess":{}}"#),
            None
        );
    }
}
