//! What a failed request says to the person reading the log: the URL, and the cause in words
//! (connection refused, DNS, TLS, a timeout, or the HTTP status with the first line of the body).

use std::error::Error;
use std::fmt;
use std::io;

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Nothing listens at the address.
    Refused,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// No answer within the timeout.
    Timeout,
    /// The connection was reset or closed mid-request.
    Reset,
    /// Anything else.
    Other,
}

/// A request that got no HTTP answer, described from the client's error chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    /// The cause, as far as the error chain tells.
    pub cause: Cause,
    /// The innermost error's message.
    pub detail: String,
}

impl TransportFailure {
    /// Reads the cause off an HTTP client's error and its sources: I/O error kinds first, then the
    /// messages the resolvers and TLS stacks use. For the log only: retrying is decided elsewhere.
    pub fn of(err: &(dyn Error + 'static)) -> Self {
        let mut cause = Cause::Other;
        let mut detail = err.to_string();
        let mut next: Option<&(dyn Error + 'static)> = Some(err);
        while let Some(e) = next {
            detail = e.to_string();
            if let Some(io) = e.downcast_ref::<io::Error>() {
                match io.kind() {
                    io::ErrorKind::ConnectionRefused => cause = Cause::Refused,
                    io::ErrorKind::TimedOut => cause = Cause::Timeout,
                    io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof => cause = Cause::Reset,
                    _ => {}
                }
            }
            if cause == Cause::Other {
                cause = cause_in_text(&e.to_string());
            }
            next = e.source();
        }
        TransportFailure { cause, detail }
    }

    /// The same, from an error that is only text (a gRPC client's status message).
    pub fn from_message(message: &str) -> Self {
        TransportFailure {
            cause: cause_in_text(message),
            detail: message.to_string(),
        }
    }

    /// Whether the backend is unreachable as configured (refused, DNS, TLS): trying again in a few
    /// milliseconds, at shutdown, will not help.
    pub fn unreachable(&self) -> bool {
        matches!(self.cause, Cause::Refused | Cause::Dns | Cause::Tls)
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause {
            Cause::Refused => write!(f, "connection refused (is the backend running?)"),
            Cause::Dns => write!(f, "DNS lookup failed: {}", self.detail),
            Cause::Tls => write!(f, "TLS failed: {}", self.detail),
            Cause::Timeout => write!(f, "no answer before the timeout"),
            Cause::Reset => write!(f, "connection reset: {}", self.detail),
            Cause::Other => write!(f, "{}", self.detail),
        }
    }
}

/// The cause as the resolvers, TLS stacks and sockets word it.
fn cause_in_text(text: &str) -> Cause {
    let text = text.to_ascii_lowercase();
    if text.contains("dns error")
        || text.contains("failed to lookup address")
        || text.contains("name or service not known")
        || text.contains("no such host")
    {
        Cause::Dns
    } else if text.contains("certificate")
        || text.contains("tls")
        || text.contains("ssl")
        || text.contains("handshake")
    {
        Cause::Tls
    } else if text.contains("connection refused") {
        Cause::Refused
    } else if text.contains("timed out") || text.contains("timeout") {
        Cause::Timeout
    } else {
        Cause::Other
    }
}

/// `HTTP 503 Service Unavailable: <the body's first line>`, the body's line cut at 200 characters.
pub fn http_status_text(status: u16, body: &[u8]) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut text = format!("HTTP {status} {reason}").trim_end().to_string();
    let line = first_line(body, 200);
    if !line.is_empty() {
        text.push_str(": ");
        text.push_str(&line);
    }
    text
}

/// The first non-empty line of a body, at most `max` characters.
pub fn first_line(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(max).collect();
    if line.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(io::Error);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("error sending request")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_are_read_from_the_chain() {
        let refused = Wrapper(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        let f = TransportFailure::of(&refused);
        assert_eq!(f.cause, Cause::Refused);
        assert!(f.unreachable());
        assert!(f.to_string().starts_with("connection refused"));
        let dns = Wrapper(io::Error::other("failed to lookup address information"));
        assert_eq!(TransportFailure::of(&dns).cause, Cause::Dns);
        let tls = Wrapper(io::Error::other("invalid peer certificate: UnknownIssuer"));
        assert_eq!(TransportFailure::of(&tls).cause, Cause::Tls);
        let slow = Wrapper(io::Error::new(io::ErrorKind::TimedOut, "slow"));
        assert!(!TransportFailure::of(&slow).unreachable());
        let grpc = TransportFailure::from_message(
            "status: Unavailable, message: \"tcp connect error: Connection refused (os error 111)\"",
        );
        assert_eq!(grpc.cause, Cause::Refused);
    }

    #[test]
    fn statuses_read_with_their_reason_and_body() {
        assert_eq!(
            http_status_text(503, b"\n  overloaded, retry later\nmore"),
            "HTTP 503 Service Unavailable: overloaded, retry later"
        );
        assert_eq!(http_status_text(599, b""), "HTTP 599");
        assert_eq!(first_line("é".repeat(300).as_bytes(), 3), "ééé…");
    }
}
