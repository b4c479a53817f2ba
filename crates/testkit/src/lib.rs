//! A fault-injecting HTTP backend on loopback, for testing exporters the way real backends fail:
//! down (connection refused), hanging, slow, 5xx, 429 with `Retry-After`, 401/403, malformed or empty
//! bodies, a connection closed mid-response, or any answer a test computes (partial success). It
//! records every request it read, so a test can compare what arrived with what was produced.
#![deny(unsafe_code)]

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod backend;
pub mod fixtures;
pub mod openapi;
pub mod otlp;
pub mod vendors;
/// The scripted OpenAI-compatible server, published as `aitrace::testing::openai`.
pub use aitrace_core::testing::openai;

pub use backend::{Backend, Response};

/// How the server answers one request.
#[derive(Clone)]
pub enum Fault {
    /// 200 with the body the server's answer function gives.
    Ok,
    /// Waits, then answers like `Ok`.
    Slow(Duration),
    /// Reads the request and never answers (until the client gives up).
    Hang,
    /// This status, with an optional `Retry-After` (seconds) and a body.
    Status(u16, Option<u64>, String),
    /// 200 with a body that is not what the client expects.
    Malformed(String),
    /// Sends half of a response, then closes the connection.
    CloseMidResponse,
    /// Whatever this function answers to the request's path and body: status, content type, body
    /// (e.g. an OTLP partial success, or an acknowledgement of only some rows).
    Custom(Responder),
}

/// Status, content type and body for one request, from its path and body. A closure: it may keep
/// state (behind a lock: requests on several connections call it at once).
pub type Responder = Arc<dyn Fn(&str, &[u8]) -> (u16, &'static str, Vec<u8>) + Send + Sync>;

impl Fault {
    /// [`Fault::Custom`] from a function or closure.
    pub fn custom(
        respond: impl Fn(&str, &[u8]) -> (u16, &'static str, Vec<u8>) + Send + Sync + 'static,
    ) -> Self {
        Fault::Custom(Arc::new(respond))
    }
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Ok => f.write_str("Ok"),
            Fault::Slow(d) => f.debug_tuple("Slow").field(d).finish(),
            Fault::Hang => f.write_str("Hang"),
            Fault::Status(code, retry, body) => f
                .debug_tuple("Status")
                .field(code)
                .field(retry)
                .field(body)
                .finish(),
            Fault::Malformed(body) => f.debug_tuple("Malformed").field(body).finish(),
            Fault::CloseMidResponse => f.write_str("CloseMidResponse"),
            Fault::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Vec<u8>,
    /// How the server answered it.
    pub fault: Fault,
    /// When it was read.
    pub at: std::time::Instant,
}

impl Request {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as sent before `Content-Encoding: gzip` (the Langfuse exporter compresses).
    pub fn plain_body(&self) -> Vec<u8> {
        use std::io::Read as _;
        if self.header("content-encoding") != Some("gzip") {
            return self.body.clone();
        }
        let mut out = Vec::new();
        match flate2::read::GzDecoder::new(self.body.as_slice()).read_to_end(&mut out) {
            Ok(_) => out,
            Err(_) => self.body.clone(),
        }
    }
}

/// A normal answer as each vendor gives it: Braintrust's insert acknowledges every row id it got
/// (`{"row_ids": [...]}`), an OTLP endpoint (OTel, Langfuse) answers `{}`.
pub fn vendor_answer(path: &str, body: &[u8]) -> String {
    if path.contains("/v1/project_logs/") {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let ids: Vec<serde_json::Value> = v["events"]
            .as_array()
            .map(|e| e.iter().map(|x| x["id"].clone()).collect())
            .unwrap_or_default();
        return serde_json::json!({ "row_ids": ids }).to_string();
    }
    "{}".into()
}

/// The body of a normal answer, from the request's path and body (a closure: it may keep state).
pub type Answer = Arc<dyn Fn(&str, &[u8]) -> String + Send + Sync>;

/// A running fault-injecting server.
#[derive(Debug, Clone)]
pub struct FaultServer {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

struct Script {
    faults: std::collections::VecDeque<Fault>,
    otherwise: Fault,
}

use aitrace_core::testing::read_request;

impl FaultServer {
    /// Serves `faults` in order (one per request), then `otherwise` forever.
    pub fn start(
        faults: Vec<Fault>,
        otherwise: Fault,
        answer: impl Fn(&str, &[u8]) -> String + Send + Sync + 'static,
    ) -> Self {
        let answer: Answer = Arc::new(answer);
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(Script {
            faults: faults.into(),
            otherwise,
        }));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, script, answer) =
                    (Arc::clone(&seen), Arc::clone(&script), Arc::clone(&answer));
                std::thread::spawn(move || serve(stream, seen, script, answer));
            }
        });
        FaultServer { url, requests }
    }

    /// The base URL (`http://127.0.0.1:port`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request read so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn serve(
    stream: TcpStream,
    seen: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<Script>>,
    answer: Answer,
) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((method, path, headers, body)) = read_request(&mut reader) {
        let fault = script
            .lock()
            .map(|mut s| s.faults.pop_front().unwrap_or_else(|| s.otherwise.clone()))
            .unwrap_or(Fault::Ok);
        // The answer a healthy server would give (a computed one for `Custom`).
        let normal = match &fault {
            Fault::Custom(respond) => {
                let (status, content_type, body) = respond(&path, &body);
                raw_http(status, content_type, &body)
            }
            _ => http(200, None, &answer(&path, &body)),
        };
        if let Ok(mut r) = seen.lock() {
            r.push(Request {
                method,
                path,
                headers,
                body,
                fault: fault.clone(),
                at: std::time::Instant::now(),
            });
        }
        let response = match fault {
            Fault::Ok | Fault::Custom(_) => normal,
            Fault::Slow(d) => {
                std::thread::sleep(d);
                normal
            }
            Fault::Hang => {
                // Hold the connection open without answering, until the client gives up.
                let mut sink = [0u8; 1];
                let _ = reader
                    .get_mut()
                    .set_read_timeout(Some(Duration::from_secs(60)));
                let _ = reader.read(&mut sink);
                return;
            }
            Fault::Status(code, retry_after, body) => http(code, retry_after, &body),
            Fault::Malformed(body) => http(200, None, &body),
            Fault::CloseMidResponse => {
                let _ = writer.write_all(&normal[..normal.len() / 2]);
                return;
            }
        };
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}

fn http(code: u16, retry_after: Option<u64>, body: &str) -> Vec<u8> {
    let retry = retry_after
        .map(|s| format!("retry-after: {s}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\n{retry}content-length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body.as_bytes()].concat()
}

fn raw_http(code: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 {code} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

/// A URL where nothing listens (connection refused).
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    drop(listener);
    url
}
