//! The blocking HTTP client behind the OTLP exporters, remembering the last `Retry-After` so a 429 or
//! 503 is retried no sooner than the server asked (the OTLP exporter's errors only carry the status).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// The `Retry-After` of the last response, if it had one.
#[derive(Debug, Clone, Default)]
pub struct RetryAfter(Arc<Mutex<Option<Duration>>>);

impl RetryAfter {
    /// Takes the last value (so it applies to one failure only).
    pub fn take(&self) -> Option<Duration> {
        self.0.lock().ok().and_then(|mut v| v.take())
    }

    fn set(&self, value: Option<Duration>) {
        if let Ok(mut v) = self.0.lock() {
            *v = value;
        }
    }
}

/// `reqwest`'s blocking client (HTTPS through rustls) plus [`RetryAfter`].
#[derive(Debug)]
pub struct RetryAfterClient {
    inner: reqwest::blocking::Client,
    seen: RetryAfter,
}

impl RetryAfterClient {
    /// A client with this request timeout, and the handle to its last `Retry-After`.
    pub fn new(timeout: Duration) -> Result<(Self, RetryAfter), String> {
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
        let seen = RetryAfter::default();
        Ok((
            RetryAfterClient {
                inner,
                seen: seen.clone(),
            },
            seen,
        ))
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and not read).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[async_trait]
impl HttpClient for RetryAfterClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let response = self.inner.send_bytes(request).await?;
        let after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        self.seen.set(after);
        Ok(response)
    }
}
