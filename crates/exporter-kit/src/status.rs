//! HTTP outcomes as export errors, decided from the status value.

use std::time::Duration;

use aitrace_core::ExportError;

/// Whether a request that got this status may succeed later: 408 (timeout), 429 (throttled) and
/// every 5xx. Other 4xx would fail the same way again.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// Whether this status rejects the credentials (401, 403).
pub fn is_auth_status(status: u16) -> bool {
    matches!(status, 401 | 403)
}

/// A failed request's error from its status: retryable per [`is_retryable_status`] (with the
/// server's `Retry-After`, if any), fatal otherwise.
pub fn status_error(
    status: u16,
    message: impl Into<String>,
    retry_after: Option<Duration>,
) -> ExportError {
    let message = message.into();
    if is_retryable_status(status) {
        let e = ExportError::retryable(message);
        match retry_after {
            Some(d) => e.with_retry_after(d),
            None => e,
        }
    } else {
        ExportError::fatal(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_split_into_retryable_and_fatal() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!is_retryable_status(s), "{s}");
        }
        assert!(is_auth_status(401) && is_auth_status(403) && !is_auth_status(404));
        let e = status_error(503, "busy", Some(Duration::from_secs(2)));
        assert!(e.retryable);
        assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
        assert!(!status_error(400, "bad", Some(Duration::from_secs(2))).retryable);
    }
}
