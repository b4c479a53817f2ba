//! A scripted OpenAI-compatible server on loopback, for testing an application's AI calls the way
//! aitrace tests its instrumentation of real client libraries (async-openai, rig, genai), and for
//! examples that run offline: point the client's base URL at [`OpenAiServer::base_url`].
//!
//! ```
//! use aitrace_core::testing::openai::OpenAiServer;
//!
//! let server = OpenAiServer::fake();
//! let base_url = server.base_url(); // e.g. `http://127.0.0.1:38123/v1`
//! assert!(base_url.starts_with("http://127.0.0.1:"));
//! // ... run the client against it, then compare the trace with `server.exchanges()`.
//! ```
//!
//! [`FakeModel`] answers `/chat/completions`, `/responses` and `/embeddings` like a tiny
//! deterministic model: it calls the first tool offered when the last message is the user's, answers
//! a tool result in text, streams word by word (usage in the last chunk when asked), and reports
//! cached and reasoning tokens. A test can also script its own replies. Every exchange is kept, so a
//! test compares the trace with what the server really sent.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::read_request;

/// How the server answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A JSON body with this status.
    Json(u16, Value),
    /// Server-sent events, `first` after the headers and `gap` between events. Strings are sent as
    /// they are (`[DONE]`); other values as JSON.
    Sse {
        /// The `data:` payloads, in order.
        events: Vec<Value>,
        /// Wait before the first event (time to first token).
        first: Duration,
        /// Wait between events.
        gap: Duration,
    },
}

impl Reply {
    /// The usage the reply reported, in aitrace's terms: a unary body's, or the last stream event
    /// that had one (Chat Completions' last chunk, the Responses API's final `response`). Both APIs'
    /// names are read (`prompt_tokens` / `input_tokens`, their cached and reasoning details).
    pub fn usage(&self) -> Option<crate::Usage> {
        let usage = match self {
            Reply::Json(_, body) => Some(&body["usage"]).filter(|u| u.is_object()),
            Reply::Sse { events, .. } => events.iter().rev().find_map(|e| {
                e.get("usage")
                    .filter(|u| u.is_object())
                    .or_else(|| e.pointer("/response/usage").filter(|u| u.is_object()))
            }),
        }?;
        let n = |paths: [&str; 2]| {
            paths
                .iter()
                .find_map(|p| usage.pointer(p).and_then(Value::as_u64))
        };
        let u = crate::Usage {
            input_tokens: n(["/prompt_tokens", "/input_tokens"]),
            output_tokens: n(["/completion_tokens", "/output_tokens"]),
            total_tokens: n(["/total_tokens", "/total_tokens"]),
            cache_read_input_tokens: n([
                "/prompt_tokens_details/cached_tokens",
                "/input_tokens_details/cached_tokens",
            ]),
            reasoning_tokens: n([
                "/completion_tokens_details/reasoning_tokens",
                "/output_tokens_details/reasoning_tokens",
            ]),
            ..crate::Usage::default()
        };
        Some(u)
    }

    /// The response id and model the reply carried (a stream's first event, or the Responses API's
    /// `response` object).
    pub fn ids(&self) -> (Option<String>, Option<String>) {
        let first = match self {
            Reply::Json(_, body) => body,
            Reply::Sse { events, .. } => events
                .iter()
                .find_map(|e| e.get("response"))
                .unwrap_or(&events[0]),
        };
        let s = |k: &str| first[k].as_str().map(str::to_string);
        (s("id"), s("model"))
    }
}

/// One request and the reply it got.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The JSON body sent (`Null` when it was not JSON).
    pub request: Value,
    /// What the server answered.
    pub reply: Reply,
}

/// A script: the reply to a request's path and JSON body.
pub type Script = dyn Fn(&str, &Value) -> Reply + Send + Sync;

/// A running OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiServer {
    base_url: String,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl std::fmt::Debug for OpenAiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiServer")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl OpenAiServer {
    /// Serves [`FakeModel::default`].
    pub fn fake() -> Self {
        Self::fake_with(FakeModel::default())
    }

    /// Serves this fake model.
    pub fn fake_with(model: FakeModel) -> Self {
        Self::start(move |path, body| model.reply(path, body))
    }

    /// Serves whatever `script` answers.
    pub fn start(script: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let base_url = format!(
            "http://{}/v1",
            listener.local_addr().expect("local address")
        );
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let seen = Arc::clone(&exchanges);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, script) = (Arc::clone(&seen), Arc::clone(&script));
                std::thread::spawn(move || serve(stream, &seen, &*script));
            }
        });
        OpenAiServer {
            base_url,
            exchanges,
        }
    }

    /// The base URL clients take (`http://127.0.0.1:port/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every exchange so far, in the order the requests arrived.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Exchange>>, script: &Script) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((_method, path, _headers, body)) = read_request(&mut reader) {
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let reply = script(&path, &request);
        if let Ok(mut s) = seen.lock() {
            s.push(Exchange {
                path: path.clone(),
                request,
                reply: reply.clone(),
            });
        }
        if write_reply(&mut writer, &reply).is_err() {
            return;
        }
    }
}

fn write_reply(w: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    match reply {
        Reply::Json(status, body) => {
            let body = body.to_string();
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nx-request-id: req_{}\r\ncontent-length: {}\r\n\r\n",
                body.len(),
                body.len()
            );
            w.write_all(&[head.as_bytes(), body.as_bytes()].concat())
        }
        Reply::Sse { events, first, gap } => {
            w.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
            )?;
            w.flush()?;
            for (i, event) in events.iter().enumerate() {
                std::thread::sleep(if i == 0 { *first } else { *gap });
                let data = match event {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                let frame = format!("data: {data}\n\n");
                write!(w, "{:x}\r\n{frame}\r\n", frame.len())?;
                w.flush()?;
            }
            w.write_all(b"0\r\n\r\n")?;
            w.flush()
        }
    }
}

/// A deterministic fake model (see the module docs).
#[derive(Debug, Clone)]
pub struct FakeModel {
    /// Wait before a stream's first event.
    pub first_token: Duration,
    /// Wait between a stream's events.
    pub gap: Duration,
    /// Width of the vectors `/embeddings` returns (unless the request names `dimensions`).
    pub dimensions: usize,
    /// Calls answered, shared by clones: numbers the response ids.
    pub calls: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for FakeModel {
    fn default() -> Self {
        FakeModel {
            first_token: Duration::from_millis(40),
            gap: Duration::from_millis(5),
            dimensions: 8,
            calls: Arc::default(),
        }
    }
}

/// Words in a text: the fake model's token count.
pub fn count_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn message_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// What the fake model says to a conversation: a tool call (name, JSON arguments) or text.
enum Answer {
    Tool(String, String),
    Text(String),
}

/// The tool name and first property of the first tool offered, in either API's shape.
fn first_tool(tools: &Value) -> Option<(String, String)> {
    let tool = tools.as_array()?.first()?;
    let f = tool.get("function").unwrap_or(tool);
    let name = f.get("name")?.as_str()?.to_string();
    let prop = f
        .pointer("/parameters/properties")
        .and_then(Value::as_object)
        .and_then(|p| p.keys().next().cloned())
        .unwrap_or_else(|| "input".into());
    Some((name, prop))
}

impl FakeModel {
    /// The reply to one request.
    pub fn reply(&self, path: &str, body: &Value) -> Reply {
        let model = body["model"].as_str().unwrap_or("fake-model").to_string();
        if let Some(code) = model.strip_prefix("fail-") {
            let code: u16 = code.parse().unwrap_or(500);
            let kind = if code == 429 {
                "rate_limit_error"
            } else {
                "invalid_request_error"
            };
            return Reply::Json(
                code,
                json!({"error": {"message": format!("scripted failure {code}"), "type": kind, "code": null}}),
            );
        }
        if path.ends_with("/chat/completions") {
            self.chat(body, &model)
        } else if path.ends_with("/responses") {
            self.responses(body, &model)
        } else if path.ends_with("/embeddings") {
            self.embeddings(body, &model)
        } else {
            Reply::Json(
                404,
                json!({"error": {"message": "unknown path", "type": "invalid_request_error"}}),
            )
        }
    }

    fn next_call(&self) -> u64 {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    fn answer(last_role: &str, last_text: &str, tools: &Value) -> Answer {
        match (last_role, first_tool(tools)) {
            ("user", Some((name, prop))) => {
                Answer::Tool(name, json!({ prop: last_text }).to_string())
            }
            ("tool", _) => Answer::Text(format!("The tool answered: {last_text}")),
            _ => Answer::Text(format!("You said: {last_text}")),
        }
    }

    fn usage_numbers(prompt: u64, answer: &str) -> (u64, u64, u64, u64) {
        let reasoning = 2;
        let completion = count_tokens(answer) + reasoning;
        (prompt, completion, prompt / 4, reasoning)
    }

    fn chat(&self, body: &Value, model: &str) -> Reply {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let prompt: u64 = messages
            .iter()
            .map(|m| count_tokens(&message_text(&m["content"])) + 3)
            .sum();
        let last = messages.last().cloned().unwrap_or_default();
        let answer = Self::answer(
            last["role"].as_str().unwrap_or("user"),
            &message_text(&last["content"]),
            &body["tools"],
        );
        let spoken = match &answer {
            Answer::Text(t) => t.clone(),
            Answer::Tool(_, args) => args.clone(),
        };
        let (input, output, cached, reasoning) = Self::usage_numbers(prompt, &spoken);
        let usage = json!({
            "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning}
        });
        let id = format!("chatcmpl-{}", self.next_call());
        let created = 1_700_000_000;
        let response_model = format!("{model}-2024-08-06");
        if body["stream"] == json!(true) {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": response_model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            let mut events = vec![chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            )];
            let finish = match &answer {
                Answer::Text(text) => {
                    for (i, word) in text.split(' ').enumerate() {
                        let piece = if i == 0 {
                            word.to_string()
                        } else {
                            format!(" {word}")
                        };
                        events.push(chunk(json!({"content": piece}), Value::Null));
                    }
                    "stop"
                }
                Answer::Tool(name, args) => {
                    events.push(chunk(
                        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}]}),
                        Value::Null,
                    ));
                    let mid = args.len() / 2;
                    for part in [&args[..mid], &args[mid..]] {
                        events.push(chunk(
                            json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
                            Value::Null,
                        ));
                    }
                    "tool_calls"
                }
            };
            events.push(chunk(json!({}), json!(finish)));
            if body.pointer("/stream_options/include_usage") == Some(&json!(true)) {
                events.push(
                    json!({"id": id, "object": "chat.completion.chunk", "created": created,
                                   "model": response_model, "choices": [], "usage": usage}),
                );
            }
            events.push(json!("[DONE]"));
            return Reply::Sse {
                events,
                first: self.first_token,
                gap: self.gap,
            };
        }
        let (message, finish) = match answer {
            Answer::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
            Answer::Tool(name, args) => (
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": name, "arguments": args}}]}),
                "tool_calls",
            ),
        };
        Reply::Json(
            200,
            json!({"id": id, "object": "chat.completion", "created": created, "model": response_model,
                   "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
                   "usage": usage, "system_fingerprint": "fp_fake"}),
        )
    }

    fn responses(&self, body: &Value, model: &str) -> Reply {
        let (last_role, last_text, prompt) = match &body["input"] {
            Value::String(s) => ("user".to_string(), s.clone(), count_tokens(s) + 3),
            Value::Array(items) => {
                let prompt = items
                    .iter()
                    .map(|i| count_tokens(&message_text(&i["content"])) + 3)
                    .sum();
                let last = items.last().cloned().unwrap_or_default();
                if last["type"] == "function_call_output" {
                    (
                        "tool".into(),
                        last["output"].as_str().unwrap_or_default().to_string(),
                        prompt,
                    )
                } else {
                    ("user".into(), message_text(&last["content"]), prompt)
                }
            }
            _ => ("user".into(), String::new(), 3),
        };
        let answer = Self::answer(&last_role, &last_text, &body["tools"]);
        let spoken = match &answer {
            Answer::Text(t) => t.clone(),
            Answer::Tool(_, args) => args.clone(),
        };
        let (input, output, cached, reasoning) = Self::usage_numbers(prompt, &spoken);
        let id = format!("resp_{}", self.next_call());
        let item = match &answer {
            Answer::Text(text) => {
                json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]})
            }
            Answer::Tool(name, args) => {
                json!({"type": "function_call", "id": "fc_1", "call_id": "call_1",
                "name": name, "arguments": args, "status": "completed"})
            }
        };
        let response = json!({"id": id, "object": "response", "created_at": 1_700_000_000, "status": "completed",
            "model": format!("{model}-2024-08-06"), "output": [item],
            "usage": {"input_tokens": input, "output_tokens": output, "total_tokens": input + output,
                      "input_tokens_details": {"cached_tokens": cached},
                      "output_tokens_details": {"reasoning_tokens": reasoning}}});
        if body["stream"] == json!(true) {
            let mut created = response.clone();
            created["status"] = json!("in_progress");
            created["output"] = json!([]);
            created["usage"] = Value::Null;
            let mut events = vec![
                json!({"type": "response.created", "sequence_number": 0, "response": created}),
            ];
            if let Answer::Text(text) = &answer {
                for (i, word) in text.split(' ').enumerate() {
                    let piece = if i == 0 {
                        word.to_string()
                    } else {
                        format!(" {word}")
                    };
                    events.push(
                        json!({"type": "response.output_text.delta", "sequence_number": i + 1,
                        "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": piece}),
                    );
                }
            } else {
                events.push(
                    json!({"type": "response.function_call_arguments.delta", "sequence_number": 1,
                    "item_id": "fc_1", "output_index": 0, "delta": spoken}),
                );
            }
            let n = events.len();
            events.push(
                json!({"type": "response.completed", "sequence_number": n, "response": response}),
            );
            return Reply::Sse {
                events,
                first: self.first_token,
                gap: self.gap,
            };
        }
        Reply::Json(200, response)
    }

    fn embeddings(&self, body: &Value, model: &str) -> Reply {
        let inputs: Vec<String> = match &body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect(),
            _ => Vec::new(),
        };
        let dims = body["dimensions"]
            .as_u64()
            .map_or(self.dimensions, |d| d as usize);
        let tokens: u64 = inputs.iter().map(|t| count_tokens(t)).sum();
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let seed = text
                    .bytes()
                    .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
                let v: Vec<f64> = (0..dims)
                    .map(|d| ((seed >> (d % 32)) & 0xff) as f64 / 255.0)
                    .collect();
                json!({"object": "embedding", "index": i, "embedding": v})
            })
            .collect();
        Reply::Json(
            200,
            json!({"object": "list", "data": data, "model": format!("{model}-v1"),
                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
        )
    }
}
