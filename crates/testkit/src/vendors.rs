//! Loopback doubles of the OTLP intakes of LangSmith, Datadog LLM Observability, Sentry and PostHog:
//! each checks a request the way that vendor's ingestion does (path, auth, limits), keeps the spans
//! its filters keep, and answers as it does, including its refusals; the tests then read the spans
//! with that vendor's rules (the functions here). The rules are those of
//! `shared/vendor-notes/vendors-otlp.md` and the vendors' code cited there.

use std::sync::{Arc, Mutex};

use crate::otlp::{decode, decode_logs, OtlpLog, OtlpSpan};
use crate::{Backend, Request, Response};

/// What a double received: every request's path, headers and answer status, and the spans kept.
#[derive(Debug, Default)]
pub struct Received {
    /// (path, status) of every request.
    pub requests: Vec<(String, u16)>,
    /// Header sets of every request.
    pub headers: Vec<Vec<(String, String)>>,
    /// The spans the vendor kept, in arrival order.
    pub spans: Vec<OtlpSpan>,
    /// JSON bodies the vendor accepted on its REST routes (scores, feedback): (path, body).
    pub json: Vec<(String, serde_json::Value)>,
    /// OTLP log records (events) received on `/v1/logs`.
    pub logs: Vec<OtlpLog>,
}

/// A running double.
#[derive(Debug, Clone)]
pub struct Intake {
    /// Its base URL.
    pub url: String,
    /// What it received.
    pub received: Arc<Mutex<Received>>,
}

impl Intake {
    /// The kept spans.
    pub fn spans(&self) -> Vec<OtlpSpan> {
        self.received
            .lock()
            .map(|r| r.spans.clone())
            .unwrap_or_default()
    }
    /// The OTLP log records received.
    pub fn logs(&self) -> Vec<OtlpLog> {
        self.received
            .lock()
            .map(|r| r.logs.clone())
            .unwrap_or_default()
    }
    /// The JSON bodies accepted on the vendor's REST routes.
    pub fn json(&self) -> Vec<(String, serde_json::Value)> {
        self.received
            .lock()
            .map(|r| r.json.clone())
            .unwrap_or_default()
    }
    /// Every request's (path, status).
    pub fn requests(&self) -> Vec<(String, u16)> {
        self.received
            .lock()
            .map(|r| r.requests.clone())
            .unwrap_or_default()
    }
}

/// A vendor's acceptance rule: the spans it keeps, or the answer it refuses the request with.
pub type Rule = fn(&Request, Vec<OtlpSpan>) -> Result<Vec<OtlpSpan>, Response>;

/// A vendor's rule for a JSON request on its REST routes: `Ok` keeps the body, `Err` is its refusal.
pub type JsonRule = fn(&Request, &serde_json::Value) -> Result<(), Response>;

/// Starts a double applying `rule` (JSON requests are refused: the vendor has no such route here).
pub fn start(rule: Rule) -> Intake {
    start_with_json(rule, |_, _| Err(Response::empty(404)))
}

/// Starts a double applying `rule` to OTLP requests and `json_rule` to JSON ones.
pub fn start_with_json(rule: Rule, json_rule: JsonRule) -> Intake {
    let received = Arc::new(Mutex::new(Received::default()));
    let r = Arc::clone(&received);
    let backend = Backend::start(move |req: &Request| {
        if req.header("content-type") == Some("application/json") {
            let answer = match serde_json::from_slice::<serde_json::Value>(&req.plain_body()) {
                Ok(body) => json_rule(req, &body).map(|()| body),
                Err(_) => Err(refuse(400, "not JSON")),
            };
            let mut got = r.lock().expect("lock");
            return match answer {
                Ok(body) => {
                    got.requests.push((req.path.clone(), 200));
                    got.json.push((req.path.clone(), body));
                    Response::json(200, "{}")
                }
                Err(refusal) => {
                    got.requests.push((req.path.clone(), refusal.status));
                    refusal
                }
            };
        }
        if req.path.ends_with("/v1/logs") {
            let mut got = r.lock().expect("lock");
            return match decode_logs(&req.plain_body()) {
                Some(logs) if req.header("content-type") == Some("application/x-protobuf") => {
                    got.requests.push((req.path.clone(), 200));
                    got.logs.extend(logs);
                    Response::json(200, "{}")
                }
                _ => {
                    got.requests.push((req.path.clone(), 400));
                    refuse(400, "not an OTLP logs protobuf request")
                }
            };
        }
        let answer = match decode(&req.plain_body()) {
            None => Err(Response::json(
                400,
                r#"{"error":"not an OTLP protobuf request"}"#,
            )),
            Some(spans) if req.header("content-type") != Some("application/x-protobuf") => {
                let _ = spans;
                Err(Response::json(415, r#"{"error":"protobuf only"}"#))
            }
            Some(spans) => rule(req, spans),
        };
        let mut got = r.lock().expect("lock");
        got.headers.push(req.headers.clone());
        match answer {
            Ok(kept) => {
                got.requests.push((req.path.clone(), 200));
                got.spans.extend(kept);
                Response::json(200, "{}")
            }
            Err(refusal) => {
                got.requests.push((req.path.clone(), refusal.status));
                refusal
            }
        }
    });
    Intake {
        url: backend.url().to_string(),
        received,
    }
}

fn refuse(status: u16, why: &str) -> Response {
    Response::json(status, serde_json::json!({ "error": why }).to_string())
}

/// PostHog (`rust/capture/src/otel`): `POST /i/v0/ai/otel` with `Bearer phc_...`; the body at most
/// 4 MB, at most 1000 raw spans; a span is kept only with an attribute key of an AI prefix; more than
/// 100 kept spans is a 400 for the whole request.
pub mod posthog {
    use super::*;

    /// The `$ai_evaluation` event PostHog's logs intake makes of a record (`otel/logs.rs`): only a
    /// `gen_ai.evaluation.result` event with a non-blank `gen_ai.evaluation.name` and a score value
    /// or a non-blank label; `None` for anything else (dropped).
    pub fn evaluation(l: &OtlpLog) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::Value;
        if l.event_name != "gen_ai.evaluation.result" {
            return None;
        }
        let a = &l.attributes;
        let name = a["gen_ai.evaluation.name"].as_str()?.trim();
        if name.is_empty() {
            return None;
        }
        let label = a
            .get("gen_ai.evaluation.score.label")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let value = a
            .get("gen_ai.evaluation.score.value")
            .and_then(Value::as_f64);
        if label.is_none() && value.is_none() {
            return None;
        }
        let mut p = serde_json::Map::new();
        p.insert("$ai_evaluation_name".into(), name.into());
        if l.trace_id.len() == 32 {
            p.insert("$ai_trace_id".into(), l.trace_id.clone().into());
        }
        if l.span_id.len() == 16 {
            p.insert("$ai_target_span_id".into(), l.span_id.clone().into());
        }
        if let Some(label) = label {
            p.insert("$ai_evaluation_score_label".into(), label.into());
        }
        if let Some(v) = value {
            p.insert("$ai_evaluation_score_value".into(), v.into());
        }
        if let Some(e) = a
            .get("gen_ai.evaluation.explanation")
            .and_then(Value::as_str)
        {
            p.insert("$ai_evaluation_reasoning".into(), e.into());
        }
        Some(p)
    }

    /// The attribute prefixes PostHog keeps a span for (`providers.rs`).
    pub const KEPT_PREFIXES: &[&str] = &[
        "gen_ai.",
        "ai.",
        "eve.",
        "traceloop.",
        "pydantic_ai.",
        "llm.request.type",
    ];

    /// The acceptance rule.
    pub fn rule(req: &Request, spans: Vec<OtlpSpan>) -> Result<Vec<OtlpSpan>, Response> {
        if req.path != "/i/v0/ai/otel" {
            return Err(refuse(404, "not found"));
        }
        if !req
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer phc_"))
        {
            return Err(refuse(401, "no project token"));
        }
        if req.body.len() > 4 * 1024 * 1024 {
            return Err(refuse(413, "body over 4 MB"));
        }
        if spans.len() > 1000 {
            return Err(refuse(400, "too many spans"));
        }
        let kept: Vec<OtlpSpan> = spans
            .into_iter()
            .filter(|s| {
                s.attributes
                    .keys()
                    .any(|k| KEPT_PREFIXES.iter().any(|p| k.starts_with(p)))
            })
            .collect();
        if kept.len() > 100 {
            return Err(refuse(400, "Too many AI spans"));
        }
        Ok(kept)
    }

    /// The event type of a kept span (`gen_ai.operation.name`: only `chat` is a generation and
    /// `embeddings` an embedding; a root `$ai_span` is the `$ai_trace`).
    pub fn event(s: &OtlpSpan) -> &'static str {
        match s.str("gen_ai.operation.name") {
            Some("chat") => "$ai_generation",
            Some("embeddings") => "$ai_embedding",
            _ if s.parent.is_none() => "$ai_trace",
            _ => "$ai_span",
        }
    }

    /// The distinct id (`identity.rs`): `posthog.distinct_id`, else `user.id`.
    pub fn distinct_id(s: &OtlpSpan) -> Option<&str> {
        s.str("posthog.distinct_id").or(s.str("user.id"))
    }

    /// The input tokens PostHog bills: for Anthropic it takes `$ai_input_tokens` as exclusive of cache
    /// unless `$ai_cache_reporting_exclusive` is false, and adds the cache counts on top.
    pub fn billed_input_tokens(s: &OtlpSpan) -> i64 {
        let input = s.int("gen_ai.usage.input_tokens").unwrap_or(0);
        let anthropic = s.str("gen_ai.provider.name") == Some("anthropic")
            || s.str("gen_ai.response.model")
                .or(s.str("gen_ai.request.model"))
                .is_some_and(|m| m.starts_with("claude"));
        let exclusive = s
            .attributes
            .get("$ai_cache_reporting_exclusive")
            .and_then(|v| v.as_bool())
            != Some(false);
        if anthropic && exclusive {
            input
                + s.int("gen_ai.usage.cache_read.input_tokens").unwrap_or(0)
                + s.int("gen_ai.usage.cache_creation.input_tokens")
                    .unwrap_or(0)
        } else {
            input
        }
    }
}

/// Sentry (`getsentry/relay`): `POST /api/<project>/integration/otlp/v1/traces` with
/// `x-sentry-auth: sentry sentry_key=...`; span events dropped; the op `sentry.op` as sent, else
/// `gen_ai.<operation>`.
pub mod sentry {
    use super::*;

    /// The acceptance rule (events are dropped).
    pub fn rule(req: &Request, spans: Vec<OtlpSpan>) -> Result<Vec<OtlpSpan>, Response> {
        let ok_path =
            req.path.starts_with("/api/") && req.path.ends_with("/integration/otlp/v1/traces");
        if !ok_path {
            return Err(Response::empty(404));
        }
        if !req
            .header("x-sentry-auth")
            .is_some_and(|a| a.starts_with("sentry sentry_key="))
        {
            return Err(refuse(401, "missing x-sentry-auth"));
        }
        Ok(spans
            .into_iter()
            .map(|mut s| {
                s.events.clear();
                s
            })
            .collect())
    }

    /// The span op.
    pub fn op(s: &OtlpSpan) -> String {
        s.str("sentry.op")
            .map(str::to_string)
            .or_else(|| {
                s.str("gen_ai.operation.name")
                    .map(|o| format!("gen_ai.{o}"))
            })
            .unwrap_or_else(|| "default".into())
    }
}

/// Datadog LLM Observability: `POST /v1/traces` with `dd-api-key` and `dd-otlp-source: llmobs`,
/// protobuf only; LLM Observability needs the `dd_llmobs_enabled=true` resource attribute.
pub mod datadog {
    use super::*;

    /// The acceptance rule.
    pub fn rule(req: &Request, spans: Vec<OtlpSpan>) -> Result<Vec<OtlpSpan>, Response> {
        if req.path != "/v1/traces" {
            return Err(Response::empty(404));
        }
        if req.header("dd-api-key").is_none_or(str::is_empty) {
            return Err(refuse(403, "missing dd-api-key"));
        }
        if req.header("dd-otlp-source") != Some("llmobs") {
            return Err(refuse(400, "dd-otlp-source must be llmobs"));
        }
        Ok(spans)
    }

    /// The LLM Observability span kind Datadog derives (OpenInference's `RETRIEVER` first, then
    /// `gen_ai.operation.name`).
    pub fn kind(s: &OtlpSpan) -> &'static str {
        if s.str("openinference.span.kind") == Some("RETRIEVER") {
            return "retrieval";
        }
        match s.str("gen_ai.operation.name") {
            Some("chat" | "generate_content" | "text_completion" | "completion") => "llm",
            Some("embeddings" | "embedding") => "embedding",
            Some("execute_tool") => "tool",
            Some("invoke_agent" | "create_agent") => "agent",
            _ => "workflow",
        }
    }
}

/// LangSmith's OTLP intake: `POST /otel/v1/traces` with `x-api-key`.
pub mod langsmith {
    use super::*;

    /// The acceptance rule.
    pub fn rule(req: &Request, spans: Vec<OtlpSpan>) -> Result<Vec<OtlpSpan>, Response> {
        if !req.path.ends_with("/otel/v1/traces") {
            return Err(Response::empty(404));
        }
        if req.header("x-api-key").is_none_or(str::is_empty) {
            return Err(refuse(401, "missing x-api-key"));
        }
        Ok(spans)
    }

    /// `POST /api/v1/feedback` (the API's `FeedbackCreateSchema` as its SDKs send it): `x-api-key`,
    /// UUID `id`, `trace_id` and `run_id`, a `key`, a numeric `score` or a `value`, a comment, and
    /// `feedback_source.type` `api`, `model` or `app`.
    pub fn feedback_rule(req: &Request, body: &serde_json::Value) -> Result<(), Response> {
        if req.path != "/api/v1/feedback" {
            return Err(Response::empty(404));
        }
        if req.header("x-api-key").is_none_or(str::is_empty) {
            return Err(refuse(401, "missing x-api-key"));
        }
        let uuid = |v: &serde_json::Value| {
            v.as_str().is_some_and(|s| {
                s.len() == 36
                    && s.char_indices().all(|(i, c)| match i {
                        8 | 13 | 18 | 23 => c == '-',
                        _ => c.is_ascii_hexdigit(),
                    })
            })
        };
        let bad = |why: &str| Err(refuse(422, why));
        if !uuid(&body["id"]) || !uuid(&body["trace_id"]) {
            return bad("id and trace_id must be UUIDs");
        }
        if !body["run_id"].is_null() && !uuid(&body["run_id"]) {
            return bad("run_id must be a UUID");
        }
        if body["key"].as_str().is_none_or(str::is_empty) {
            return bad("key is required");
        }
        if !body["score"].is_null() && !body["score"].is_number() && !body["score"].is_boolean() {
            return bad("score must be a number or a boolean");
        }
        if !matches!(
            body["feedback_source"]["type"].as_str(),
            Some("api" | "model" | "app")
        ) {
            return bad("feedback_source.type must be api, model or app");
        }
        Ok(())
    }

    /// The run type: `langsmith.span.kind`, else LangSmith's fallbacks.
    pub fn run_type(s: &OtlpSpan) -> &str {
        if let Some(k) = s.str("langsmith.span.kind") {
            return k;
        }
        match s.str("gen_ai.operation.name") {
            Some("chat" | "completion") => "llm",
            Some("embedding") => "embedding",
            _ if s.str("gen_ai.tool.name").is_some() => "tool",
            _ => "chain",
        }
    }
}
