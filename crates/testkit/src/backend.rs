//! A loopback HTTP/1.1 backend whose answers a closure computes from each request: the one server
//! the mock vendors (Langfuse, Braintrust, an OTLP collector) and the benchmark sinks are written
//! on. It keeps connections alive, answers each request once it is read whole, and keeps nothing
//! itself: the closure records what a test needs.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use crate::{read_request, Request};

/// What a [`Backend`] answers to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Headers besides `content-length`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON body with this status.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into().into_bytes(),
        }
    }

    /// This status and no body.
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// With one more header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} X\r\n", self.status);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", self.body.len()));
        [head.as_bytes(), &self.body].concat()
    }
}

type Respond = dyn Fn(&Request) -> Response + Send + Sync;

/// A running backend (see the module docs).
#[derive(Debug, Clone)]
pub struct Backend {
    url: String,
}

impl Backend {
    /// Serves every request with what `respond` computes. The closure may keep state (behind a lock:
    /// requests on several connections call it at once) and may wait (a slow backend).
    pub fn start(respond: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let respond: Arc<Respond> = Arc::new(respond);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let respond = Arc::clone(&respond);
                std::thread::spawn(move || serve(stream, &*respond));
            }
        });
        Backend { url }
    }

    /// The base URL (`http://127.0.0.1:port`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

fn serve(stream: TcpStream, respond: &Respond) {
    // One write per response, no Nagle: a backend must not add delayed-ACK stalls.
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((method, path, headers, body)) = read_request(&mut reader) {
        let request = Request {
            method,
            path,
            headers,
            body,
            fault: crate::Fault::Ok,
            at: std::time::Instant::now(),
        };
        if writer.write_all(&respond(&request).to_bytes()).is_err() {
            return;
        }
    }
}
