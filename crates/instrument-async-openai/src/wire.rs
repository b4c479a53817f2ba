//! The OpenAI wire format, read into aitrace's terms: pure functions from request and response JSON
//! to chat messages, usage and finish reasons. No I/O and no spans here.

use aitrace_core::{ChatMessage, KnownPart, Part, Usage};
use serde_json::{json, Map, Value};

/// The API a request calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /chat/completions`.
    Chat,
    /// `POST /responses`.
    Responses,
    /// `POST /embeddings`.
    Embeddings,
}

impl Endpoint {
    /// The endpoint a request's method and path call; `None` for the ones not traced.
    pub(crate) fn of(method: &http::Method, path: &str) -> Option<Endpoint> {
        if method != http::Method::POST {
            return None;
        }
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Some(Endpoint::Chat)
        } else if path.ends_with("/responses") {
            Some(Endpoint::Responses)
        } else if path.ends_with("/embeddings") {
            Some(Endpoint::Embeddings)
        } else {
            None
        }
    }
}

/// The provider a base URL's host belongs to (`gen_ai.provider.name`). An OpenAI-compatible server
/// we do not know is `openai`: the wire format it speaks, as OpenTelemetry's own OpenAI
/// instrumentations report it (set the provider on the layer to override).
pub(crate) fn provider_for_host(host: &str) -> &'static str {
    let host = host.to_ascii_lowercase();
    let known: &[(&str, &str)] = &[
        (".openai.azure.com", "azure.ai.openai"),
        ("api.groq.com", "groq"),
        ("api.deepseek.com", "deepseek"),
        ("api.x.ai", "x_ai"),
        ("api.mistral.ai", "mistral_ai"),
        ("api.perplexity.ai", "perplexity"),
        ("generativelanguage.googleapis.com", "gcp.gemini"),
        ("api.together.xyz", "together_ai"),
        ("openrouter.ai", "openrouter"),
        ("api.fireworks.ai", "fireworks_ai"),
    ];
    known
        .iter()
        .find(|(suffix, _)| host == suffix.trim_start_matches('.') || host.ends_with(suffix))
        .map_or("openai", |(_, provider)| provider)
}

/// What a request asked for, read from its JSON body.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CallRequest {
    pub model: Option<String>,
    pub stream: bool,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub top_p: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub choice_count: Option<u64>,
    /// `json` when a structured answer was asked for, `text` for plain text.
    pub output_type: Option<&'static str>,
    /// Embeddings: the dimensions asked for, and the encoding.
    pub dimensions: Option<u64>,
    pub encoding_format: Option<String>,
    /// Chat input as GenAI messages (system messages included, as the conventions place them).
    pub input: Vec<ChatMessage>,
    /// The Responses API's `instructions`.
    pub system_instructions: Option<Value>,
    /// Tools in the conventions' flat shape: `{type, name, description, parameters}`.
    pub tools: Option<Value>,
    /// Embeddings: the texts embedded.
    pub embedding_input: Option<Value>,
}

impl CallRequest {
    /// Reads a request body. A body that is not JSON yields an empty request: the call is still
    /// traced, with what the URL tells.
    pub(crate) fn parse(endpoint: Endpoint, body: &[u8]) -> CallRequest {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return CallRequest::default();
        };
        let stop = match &v["stop"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let format_type = v
            .pointer("/response_format/type")
            .or_else(|| v.pointer("/text/format/type"))
            .and_then(Value::as_str);
        let mut r = CallRequest {
            model: v["model"].as_str().map(str::to_string),
            stream: v["stream"].as_bool().unwrap_or(false),
            temperature: v["temperature"].as_f64(),
            max_tokens: v["max_completion_tokens"]
                .as_u64()
                .or_else(|| v["max_tokens"].as_u64())
                .or_else(|| v["max_output_tokens"].as_u64()),
            top_p: v["top_p"].as_f64(),
            frequency_penalty: v["frequency_penalty"].as_f64(),
            presence_penalty: v["presence_penalty"].as_f64(),
            stop,
            seed: v["seed"].as_i64(),
            choice_count: v["n"].as_u64().filter(|n| *n != 1),
            output_type: format_type.map(|t| if t == "text" { "text" } else { "json" }),
            dimensions: v["dimensions"].as_u64(),
            encoding_format: v["encoding_format"].as_str().map(str::to_string),
            ..CallRequest::default()
        };
        match endpoint {
            Endpoint::Chat => {
                r.input = v["messages"]
                    .as_array()
                    .map(|m| m.iter().map(chat_message).collect())
                    .unwrap_or_default();
                r.tools = tool_definitions(&v["tools"]);
            }
            Endpoint::Responses => {
                r.input = responses_input(&v["input"]);
                r.system_instructions = v["instructions"]
                    .as_str()
                    .map(|s| json!([{"type": "text", "content": s}]));
                r.tools = tool_definitions(&v["tools"]);
            }
            Endpoint::Embeddings => {
                r.embedding_input = match &v["input"] {
                    Value::Null => None,
                    other => Some(other.clone()),
                };
            }
        }
        r
    }
}

/// A tool call's arguments: the JSON they encode, or the text when it is not JSON.
fn arguments(raw: &Value) -> Value {
    match raw {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        other => other.clone(),
    }
}

/// One content part of a chat or Responses message, in GenAI form.
fn content_part(p: &Value) -> Part {
    let text = p["text"].as_str().or_else(|| p["refusal"].as_str());
    match (p["type"].as_str().unwrap_or(""), text) {
        ("text" | "input_text" | "output_text" | "refusal", Some(t)) => Part::text(t),
        ("image_url", _) | ("input_image", _) => {
            let url = p
                .pointer("/image_url/url")
                .or_else(|| p.get("image_url"))
                .and_then(Value::as_str);
            match url {
                Some(url) => data_or_uri("image", url),
                None => match p["file_id"].as_str() {
                    Some(id) => Part::Known(KnownPart::File {
                        modality: "image".into(),
                        mime_type: None,
                        file_id: id.into(),
                    }),
                    None => other_part(p),
                },
            }
        }
        ("input_audio", _) => Part::Known(KnownPart::Blob {
            modality: "audio".into(),
            mime_type: p
                .pointer("/input_audio/format")
                .and_then(Value::as_str)
                .map(|f| format!("audio/{f}")),
            content: p
                .pointer("/input_audio/data")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
        }),
        _ => other_part(p),
    }
}

fn other_part(p: &Value) -> Part {
    match p {
        Value::Object(m) => Part::Other(m.clone()),
        other => Part::text(other.to_string()),
    }
}

/// A `data:` URL becomes an inline blob (which the content filters and size caps see); any other URL a
/// reference.
fn data_or_uri(modality: &str, url: &str) -> Part {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            let mime = meta.trim_end_matches(";base64");
            return Part::Known(KnownPart::Blob {
                modality: modality.into(),
                mime_type: (!mime.is_empty()).then(|| mime.to_string()),
                content: data.into(),
            });
        }
    }
    Part::Known(KnownPart::Uri {
        modality: modality.into(),
        mime_type: None,
        uri: url.into(),
    })
}

fn content_parts(content: &Value) -> Vec<Part> {
    match content {
        Value::String(s) => vec![Part::text(s.clone())],
        Value::Array(parts) => parts.iter().map(content_part).collect(),
        _ => Vec::new(),
    }
}

/// One Chat Completions message (request or response) as a GenAI message.
pub(crate) fn chat_message(m: &Value) -> ChatMessage {
    let role = m["role"].as_str().unwrap_or("user").to_string();
    let mut parts = Vec::new();
    if let Some(reasoning) = m["reasoning_content"]
        .as_str()
        .or_else(|| m["reasoning"].as_str())
    {
        parts.push(Part::reasoning(reasoning));
    }
    if role == "tool" {
        let response = match &m["content"] {
            Value::String(s) => arguments(&Value::String(s.clone())),
            Value::Array(_) => Value::String(
                content_parts(&m["content"])
                    .iter()
                    .filter_map(Part::as_text)
                    .collect(),
            ),
            other => other.clone(),
        };
        parts.push(Part::tool_result(
            m["tool_call_id"].as_str().unwrap_or_default(),
            response,
        ));
    } else {
        parts.extend(content_parts(&m["content"]));
        if let Some(refusal) = m["refusal"].as_str() {
            parts.push(Part::text(refusal));
        }
    }
    for call in m["tool_calls"].as_array().into_iter().flatten() {
        parts.push(Part::tool_call(
            call["id"].as_str().unwrap_or_default(),
            call.pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            arguments(call.pointer("/function/arguments").unwrap_or(&Value::Null)),
        ));
    }
    let mut msg = ChatMessage::new(role, parts);
    msg.name = m["name"].as_str().map(str::to_string);
    msg
}

/// The Responses API's `input`: a string (one user message) or a list of items.
fn responses_input(input: &Value) -> Vec<ChatMessage> {
    match input {
        Value::String(s) => vec![ChatMessage::user(s.clone())],
        Value::Array(items) => items.iter().map(responses_item).collect(),
        _ => Vec::new(),
    }
}

/// One Responses item (input or output) as a GenAI message.
fn responses_item(item: &Value) -> ChatMessage {
    match item["type"].as_str() {
        Some("function_call") => ChatMessage::new(
            "assistant",
            vec![Part::tool_call(
                item["call_id"].as_str().unwrap_or_default(),
                item["name"].as_str().unwrap_or_default(),
                arguments(&item["arguments"]),
            )],
        ),
        Some("function_call_output") => ChatMessage::tool_result(
            item["call_id"].as_str().unwrap_or_default(),
            arguments(&item["output"]),
        ),
        Some("reasoning") => {
            let text: Vec<&str> = item["summary"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["text"].as_str())
                .collect();
            ChatMessage::new("assistant", vec![Part::reasoning(text.join("\n"))])
        }
        Some("message") | None if item.get("role").is_some() => ChatMessage::new(
            item["role"].as_str().unwrap_or("user"),
            content_parts(&item["content"]),
        ),
        _ => ChatMessage::new("assistant", vec![other_part(item)]),
    }
}

/// Tools as the conventions list them (`gen_ai.tool.definitions`): the Chat Completions shape
/// `{type, function: {name, ...}}` flattened; the Responses shape is flat already.
fn tool_definitions(tools: &Value) -> Option<Value> {
    let tools = tools.as_array().filter(|t| !t.is_empty())?;
    Some(Value::Array(
        tools
            .iter()
            .map(|t| match t.get("function") {
                Some(Value::Object(f)) => {
                    let mut out = Map::new();
                    out.insert("type".into(), t["type"].clone());
                    for (k, v) in f {
                        out.insert(k.clone(), v.clone());
                    }
                    Value::Object(out)
                }
                _ => t.clone(),
            })
            .collect(),
    ))
}

/// The conventions' finish reason for a provider's (`tool_calls` -> `tool_call`).
pub(crate) fn convention_finish_reason(raw: &str) -> String {
    match raw {
        "tool_calls" | "function_call" => "tool_call".into(),
        "max_output_tokens" | "max_tokens" => "length".into(),
        other => other.into(),
    }
}

/// Usage in either API's naming (`prompt_tokens` or `input_tokens`, and their details).
pub(crate) fn usage(u: &Value) -> Option<Usage> {
    if !u.is_object() {
        return None;
    }
    let n = |paths: &[&str]| {
        paths
            .iter()
            .find_map(|p| u.pointer(p).and_then(Value::as_u64))
    };
    let usage = Usage {
        input_tokens: n(&["/prompt_tokens", "/input_tokens"]),
        output_tokens: n(&["/completion_tokens", "/output_tokens"]),
        total_tokens: n(&["/total_tokens"]),
        cache_read_input_tokens: n(&[
            "/prompt_tokens_details/cached_tokens",
            "/input_tokens_details/cached_tokens",
        ]),
        reasoning_tokens: n(&[
            "/completion_tokens_details/reasoning_tokens",
            "/output_tokens_details/reasoning_tokens",
        ]),
        input_audio_tokens: n(&["/prompt_tokens_details/audio_tokens"]),
        output_audio_tokens: n(&["/completion_tokens_details/audio_tokens"]),
        ..Usage::default()
    };
    (!usage.is_empty()).then_some(usage)
}

/// What a call produced, from its answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub response_id: Option<String>,
    pub response_model: Option<String>,
    pub usage: Option<Usage>,
    /// As the provider sent them.
    pub finish_reasons: Vec<String>,
    pub output: Vec<ChatMessage>,
    pub embedding_dimensions: Option<u64>,
    /// `error.type` and message.
    pub error: Option<(String, String)>,
}

impl Outcome {
    /// A unary JSON answer with a success status.
    pub(crate) fn from_answer(endpoint: Endpoint, v: &Value) -> Outcome {
        match endpoint {
            Endpoint::Chat => chat_answer(v),
            Endpoint::Responses => responses_answer(v),
            Endpoint::Embeddings => Outcome {
                response_model: v["model"].as_str().map(str::to_string),
                usage: usage(&v["usage"]),
                embedding_dimensions: v
                    .pointer("/data/0/embedding")
                    .and_then(Value::as_array)
                    .map(|e| e.len() as u64),
                ..Outcome::default()
            },
        }
    }

    /// An answer with an error status: OpenAI's `{"error": {message, type, code}}`, or any body.
    /// `error.type` is the API's error type (or code) when it gives one, else the HTTP status.
    pub(crate) fn from_error(status: u16, body: &[u8]) -> Outcome {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let err = v.get("error").unwrap_or(&v);
        let kind = err["type"]
            .as_str()
            .filter(|t| !t.is_empty())
            .or_else(|| err["code"].as_str())
            .map_or_else(|| status.to_string(), str::to_string);
        let message = err["message"].as_str().map_or_else(
            || {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {}", cut(text, 512))
                }
            },
            str::to_string,
        );
        Outcome {
            error: Some((kind, message)),
            ..Outcome::default()
        }
    }
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn chat_answer(v: &Value) -> Outcome {
    let mut out = Outcome {
        response_id: v["id"].as_str().map(str::to_string),
        response_model: v["model"].as_str().map(str::to_string),
        usage: usage(&v["usage"]),
        ..Outcome::default()
    };
    for choice in v["choices"].as_array().into_iter().flatten() {
        let mut msg = chat_message(&choice["message"]);
        if msg.role.is_empty() {
            msg.role = "assistant".into();
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            out.finish_reasons.push(reason.to_string());
            msg.finish_reason = Some(convention_finish_reason(reason));
        }
        out.output.push(msg);
    }
    out
}

/// A Responses API `response` object (the unary answer, or the one a stream's last event carries).
pub(crate) fn responses_answer(v: &Value) -> Outcome {
    let mut parts = Vec::new();
    let mut called_tool = false;
    for item in v["output"].as_array().into_iter().flatten() {
        let msg = responses_item(item);
        called_tool |= item["type"] == "function_call";
        parts.extend(msg.parts);
    }
    let status = v["status"].as_str().unwrap_or("completed");
    let reason = match status {
        "incomplete" => v
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
            .unwrap_or("incomplete")
            .to_string(),
        "failed" => "error".into(),
        _ if called_tool => "tool_calls".into(),
        _ => "stop".into(),
    };
    let mut out = Outcome {
        response_id: v["id"].as_str().map(str::to_string),
        response_model: v["model"].as_str().map(str::to_string),
        usage: usage(&v["usage"]),
        finish_reasons: vec![reason.clone()],
        ..Outcome::default()
    };
    if status == "failed" {
        let err = &v["error"];
        out.error = Some((
            err["code"]
                .as_str()
                .unwrap_or("response_failed")
                .to_string(),
            err["message"]
                .as_str()
                .unwrap_or("the response failed")
                .to_string(),
        ));
    }
    if !parts.is_empty() {
        out.output.push(
            ChatMessage::new("assistant", parts)
                .with_finish_reason(convention_finish_reason(&reason)),
        );
    }
    out
}

/// Longest text kept while a stream is assembled: beyond it the output is cut (and says so), so a
/// runaway stream cannot grow memory without bound.
const MAX_ASSEMBLED: usize = 1 << 20;

fn push_capped(into: &mut String, piece: &str) {
    if into.len() < MAX_ASSEMBLED {
        into.push_str(cut(piece, MAX_ASSEMBLED - into.len()));
    }
}

#[derive(Debug, Default)]
struct ChoiceSoFar {
    text: String,
    reasoning: String,
    /// By the stream's tool-call index: id, name, arguments text.
    tool_calls: std::collections::BTreeMap<u64, (String, String, String)>,
    finish_reason: Option<String>,
}

/// A streamed answer as it arrives, assembled into the same [`Outcome`] a unary answer gives.
#[derive(Debug)]
pub(crate) struct StreamSoFar {
    endpoint: Endpoint,
    response_id: Option<String>,
    response_model: Option<String>,
    usage: Option<Usage>,
    choices: std::collections::BTreeMap<u64, ChoiceSoFar>,
    /// The Responses API's final `response` object, once its last event came.
    final_response: Option<Value>,
    error: Option<(String, String)>,
}

/// What one event meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// Carried content (text, reasoning or a tool call): the first one is the first token.
    Content,
    /// Anything else (role, usage, bookkeeping).
    Other,
    /// The stream said it is over (`[DONE]`, or the Responses API's last event).
    End,
}

impl StreamSoFar {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        StreamSoFar {
            endpoint,
            response_id: None,
            response_model: None,
            usage: None,
            choices: Default::default(),
            final_response: None,
            error: None,
        }
    }

    /// Takes one event's `data`.
    pub(crate) fn absorb(&mut self, data: &str) -> Event {
        let data = data.trim();
        if data == "[DONE]" {
            return Event::End;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return Event::Other;
        };
        match self.endpoint {
            Endpoint::Responses => self.absorb_responses(&v),
            _ => self.absorb_chat(&v),
        }
    }

    fn absorb_chat(&mut self, v: &Value) -> Event {
        if let Some(err) = v.get("error") {
            self.error = Some((
                err["type"].as_str().unwrap_or("stream_error").to_string(),
                err["message"].as_str().unwrap_or_default().to_string(),
            ));
            return Event::Other;
        }
        if let Some(id) = v["id"].as_str().filter(|s| !s.is_empty()) {
            self.response_id.get_or_insert_with(|| id.to_string());
        }
        if let Some(m) = v["model"].as_str().filter(|s| !s.is_empty()) {
            self.response_model = Some(m.to_string());
        }
        if let Some(u) = usage(&v["usage"]) {
            self.usage = Some(u);
        }
        let mut content = false;
        for c in v["choices"].as_array().into_iter().flatten() {
            let choice = self
                .choices
                .entry(c["index"].as_u64().unwrap_or(0))
                .or_default();
            let delta = &c["delta"];
            if let Some(t) = delta["content"]
                .as_str()
                .or_else(|| delta["refusal"].as_str())
            {
                content |= !t.is_empty();
                push_capped(&mut choice.text, t);
            }
            if let Some(t) = delta["reasoning_content"]
                .as_str()
                .or_else(|| delta["reasoning"].as_str())
            {
                content |= !t.is_empty();
                push_capped(&mut choice.reasoning, t);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                content = true;
                let slot = choice
                    .tool_calls
                    .entry(call["index"].as_u64().unwrap_or(0))
                    .or_default();
                if let Some(id) = call["id"].as_str() {
                    slot.0 = id.to_string();
                }
                if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                    slot.1.push_str(name);
                }
                if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str) {
                    push_capped(&mut slot.2, args);
                }
            }
            if let Some(reason) = c["finish_reason"].as_str() {
                choice.finish_reason = Some(reason.to_string());
            }
        }
        if content {
            Event::Content
        } else {
            Event::Other
        }
    }

    fn absorb_responses(&mut self, v: &Value) -> Event {
        let kind = v["type"].as_str().unwrap_or_default();
        match kind {
            "response.completed" | "response.incomplete" | "response.failed" => {
                self.final_response = Some(v["response"].clone());
                Event::End
            }
            "response.created" | "response.in_progress" => {
                if let Some(id) = v.pointer("/response/id").and_then(Value::as_str) {
                    self.response_id = Some(id.to_string());
                }
                if let Some(m) = v.pointer("/response/model").and_then(Value::as_str) {
                    self.response_model = Some(m.to_string());
                }
                Event::Other
            }
            "error" => {
                self.error = Some((
                    v["code"].as_str().unwrap_or("stream_error").to_string(),
                    v["message"].as_str().unwrap_or_default().to_string(),
                ));
                Event::End
            }
            _ if kind.ends_with(".delta") => {
                let choice = self.choices.entry(0).or_default();
                if let Some(d) = v["delta"].as_str() {
                    if kind.contains("reasoning") {
                        push_capped(&mut choice.reasoning, d);
                    } else if kind == "response.output_text.delta" {
                        push_capped(&mut choice.text, d);
                    }
                }
                Event::Content
            }
            _ => Event::Other,
        }
    }

    /// The outcome assembled so far (all of it once the stream ended).
    pub(crate) fn outcome(&self) -> Outcome {
        if let Some(resp) = &self.final_response {
            let mut out = responses_answer(resp);
            out.response_id = out.response_id.or_else(|| self.response_id.clone());
            out.response_model = out.response_model.or_else(|| self.response_model.clone());
            return out;
        }
        let mut out = Outcome {
            response_id: self.response_id.clone(),
            response_model: self.response_model.clone(),
            usage: self.usage,
            error: self.error.clone(),
            ..Outcome::default()
        };
        for choice in self.choices.values() {
            let mut parts = Vec::new();
            if !choice.reasoning.is_empty() {
                parts.push(Part::reasoning(choice.reasoning.clone()));
            }
            if !choice.text.is_empty() {
                parts.push(Part::text(choice.text.clone()));
            }
            for (id, name, args) in choice.tool_calls.values() {
                parts.push(Part::tool_call(
                    id.clone(),
                    name.clone(),
                    arguments(&Value::String(args.clone())),
                ));
            }
            let mut msg = ChatMessage::new("assistant", parts);
            if let Some(reason) = &choice.finish_reason {
                out.finish_reasons.push(reason.clone());
                msg.finish_reason = Some(convention_finish_reason(reason));
            }
            out.output.push(msg);
        }
        out
    }
}

/// Splits a byte stream into server-sent events' `data`, however the bytes are cut. A line longer
/// than [`MAX_EVENT`] is dropped (and counted), so a peer that never ends a line cannot grow memory.
#[derive(Debug, Default)]
pub(crate) struct SseSplitter {
    buf: Vec<u8>,
    data: String,
    pub dropped_events: u32,
    skipping: bool,
}

/// Largest event kept.
const MAX_EVENT: usize = 8 << 20;

impl SseSplitter {
    /// Feeds bytes; calls `on_event` with each complete event's data.
    pub(crate) fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(&str) -> bool) -> bool {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut stop = false;
        while let Some(nl) = self.buf[start..].iter().position(|b| *b == b'\n') {
            let line = &self.buf[start..start + nl];
            start += nl + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if self.skipping {
                self.skipping = false;
                continue;
            }
            if line.is_empty() {
                if !self.data.is_empty() {
                    let data = std::mem::take(&mut self.data);
                    if on_event(&data) {
                        stop = true;
                        break;
                    }
                }
                continue;
            }
            if let Some(d) = line.strip_prefix(b"data:") {
                let d = d.strip_prefix(b" ").unwrap_or(d);
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(d));
                if self.data.len() > MAX_EVENT {
                    self.data.clear();
                    self.dropped_events += 1;
                }
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_EVENT {
            self.buf.clear();
            self.skipping = true;
            self.dropped_events += 1;
        }
        stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_request_reads_messages_tools_and_parameters() {
        let body = json!({
            "model": "gpt-4o-mini", "temperature": 0.2, "max_completion_tokens": 100, "stop": "END",
            "seed": 7, "response_format": {"type": "json_schema"}, "stream": true,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "{\"seen\":\"cat\"}"}
            ],
            "tools": [{"type": "function", "function": {"name": "look", "description": "d", "parameters": {"type": "object"}}}]
        });
        let r = CallRequest::parse(Endpoint::Chat, body.to_string().as_bytes());
        assert_eq!(r.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            (r.temperature, r.max_tokens, r.seed),
            (Some(0.2), Some(100), Some(7))
        );
        assert_eq!(r.stop, vec!["END"]);
        assert!(r.stream);
        assert_eq!(r.output_type, Some("json"));
        assert_eq!(
            aitrace_core::messages_to_value(&r.input),
            json!([
                {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
                {"role": "user", "parts": [{"type": "text", "content": "what is this?"},
                    {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "AAAA"}]},
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "look", "arguments": {"x": 1}}]},
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": {"seen": "cat"}}]}
            ])
        );
        assert_eq!(
            r.tools,
            Some(
                json!([{"type": "function", "name": "look", "description": "d", "parameters": {"type": "object"}}])
            )
        );
    }

    #[test]
    fn responses_request_reads_instructions_and_items() {
        let body = json!({"model": "gpt-4.1", "instructions": "be kind", "max_output_tokens": 50,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                      {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                      {"type": "function_call_output", "call_id": "c1", "output": "42"}]});
        let r = CallRequest::parse(Endpoint::Responses, body.to_string().as_bytes());
        assert_eq!(r.max_tokens, Some(50));
        assert_eq!(
            r.system_instructions,
            Some(json!([{"type": "text", "content": "be kind"}]))
        );
        assert_eq!(r.input.len(), 3);
        assert_eq!(r.input[2].role, "tool");
        assert_eq!(r.input[2].parts, vec![Part::tool_result("c1", json!(42))]);
    }

    #[test]
    fn usage_reads_both_namings() {
        let chat = usage(&json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}}))
        .unwrap();
        let resp = usage(&json!({"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
            "input_tokens_details": {"cached_tokens": 4}, "output_tokens_details": {"reasoning_tokens": 2}}))
        .unwrap();
        assert_eq!(chat, resp);
        assert_eq!(
            (
                chat.input_tokens,
                chat.output_tokens,
                chat.cache_read_input_tokens,
                chat.reasoning_tokens
            ),
            (Some(10), Some(5), Some(4), Some(2))
        );
        assert_eq!(usage(&Value::Null), None);
    }

    #[test]
    fn chat_stream_assembles_text_tool_calls_and_late_usage() {
        let mut s = StreamSoFar::new(Endpoint::Chat);
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "x1", "model": "m-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).to_string()
        };
        assert_eq!(
            s.absorb(&chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null
            )),
            Event::Other
        );
        assert_eq!(
            s.absorb(&chunk(json!({"content": "Hel"}), Value::Null)),
            Event::Content
        );
        s.absorb(&chunk(json!({"content": "lo"}), Value::Null));
        s.absorb(&chunk(json!({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{\"a\""}}]}), Value::Null));
        s.absorb(&chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
            Value::Null,
        ));
        s.absorb(&chunk(json!({}), json!("tool_calls")));
        s.absorb(&json!({"id": "x1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}).to_string());
        assert_eq!(s.absorb("[DONE]"), Event::End);
        let out = s.outcome();
        assert_eq!(out.response_id.as_deref(), Some("x1"));
        assert_eq!(out.usage.unwrap().output_tokens, Some(4));
        assert_eq!(out.finish_reasons, vec!["tool_calls"]);
        assert_eq!(
            out.output,
            vec![ChatMessage::new(
                "assistant",
                vec![
                    Part::text("Hello"),
                    Part::tool_call("c1", "f", json!({"a": 1}))
                ]
            )
            .with_finish_reason("tool_call")]
        );
    }

    #[test]
    fn sse_splitter_handles_any_cut_and_crlf() {
        let stream = b"data: {\"a\":1}\r\n\r\n: comment\n\nevent: x\ndata: [DONE]\n\n";
        for cut_at in 0..stream.len() {
            let mut s = SseSplitter::default();
            let mut seen = Vec::new();
            s.feed(&stream[..cut_at], |d| {
                seen.push(d.to_string());
                false
            });
            s.feed(&stream[cut_at..], |d| {
                seen.push(d.to_string());
                false
            });
            assert_eq!(seen, vec!["{\"a\":1}", "[DONE]"], "cut at {cut_at}");
        }
    }

    #[test]
    fn error_bodies_name_the_api_error_or_the_status() {
        let e = Outcome::from_error(
            429,
            br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
        );
        assert_eq!(
            e.error,
            Some(("rate_limit_error".into(), "slow down".into()))
        );
        let e = Outcome::from_error(502, b"bad gateway");
        assert_eq!(
            e.error,
            Some(("502".into(), "HTTP 502: bad gateway".into()))
        );
    }

    #[test]
    fn hosts_map_to_providers() {
        assert_eq!(provider_for_host("api.openai.com"), "openai");
        assert_eq!(
            provider_for_host("myco.openai.azure.com"),
            "azure.ai.openai"
        );
        assert_eq!(provider_for_host("api.groq.com"), "groq");
        assert_eq!(provider_for_host("127.0.0.1"), "openai");
    }
}
