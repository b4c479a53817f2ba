//! [`ProviderError`]: what went wrong with a provider, and whether another try can help.

use std::fmt;
use std::time::Duration;

/// The class of a provider failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No answer in time (retryable).
    Timeout,
    /// Connection refused, reset, DNS (retryable).
    Connection,
    /// 429 (retryable).
    RateLimited,
    /// 5xx (retryable).
    Server,
    /// 401/403: the next try fails the same way (not retryable on this provider).
    Auth,
    /// 400/422: the request itself is wrong (not retryable on this provider).
    BadRequest,
    /// Anything else (not retryable).
    Other,
}

impl ErrorKind {
    /// The low-cardinality `error.type` recorded on spans.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Server => "server_error",
            ErrorKind::Auth => "auth",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Other => "other",
        }
    }
}

/// A provider failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// What went wrong, as far as retrying goes.
    pub kind: ErrorKind,
    /// The provider's message.
    pub message: String,
    /// A delay the provider asked for (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }
    /// A timeout.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    /// The error for an HTTP status (429 and 5xx retryable, 401/403 auth, other 4xx bad request).
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let kind = match status {
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            401 | 403 => ErrorKind::Auth,
            400..=499 => ErrorKind::BadRequest,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Other,
        };
        Self::new(kind, message)
    }
    /// Whether trying again (this provider or another) can help: timeouts, connection errors, 429, 5xx.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Timeout | ErrorKind::Connection | ErrorKind::RateLimited | ErrorKind::Server
        )
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for ProviderError {}

/// Every provider failed; one entry per try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllFailed {
    /// Each try, as `provider/model` and its error, in order.
    pub attempts: Vec<(String, ProviderError)>,
}

impl fmt::Display for AllFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("every provider failed: ")?;
        for (i, (who, e)) in self.attempts.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{who}: {e}")?;
        }
        Ok(())
    }
}

impl From<AllFailed> for ProviderError {
    fn from(all: AllFailed) -> Self {
        ProviderError::new(ErrorKind::Other, all.to_string())
    }
}
