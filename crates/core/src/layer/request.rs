//! The request record: the application span a trace runs in (an HTTP request, a job), sent when it
//! closes if AI spans ran inside it. It is the trace's root for the exporters that show it, and its
//! close tells the trace assembler the trace is whole however many top-level AI spans it had.
//!
//! Its fields are read when the span is created, which costs a clock read and a copy: that is paid
//! only for the callsites whose spans are requests, the web frameworks' (known when the callsite is
//! registered) and any other whose span has already held AI spans (learned at its first close), and
//! for the first [`PROBATION`] application spans of the process, so the first request of a callsite
//! not yet learned is whole too. After that a span of any other callsite pays one atomic load. A
//! request of an unlearned callsite created later has its name and later-recorded fields, and
//! starts at its first AI span.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use serde_json::{Map, Value};
use tracing_core::Metadata;

use super::state::TraceScope;
use crate::ids::TraceId;
use crate::record::{SpanKind, SpanRecord, Status};

const SLOTS: usize = 256;
/// Application spans captured whatever their callsite, at the start of the process.
pub(super) const PROBATION: u32 = 256;
const PROBES: usize = 8;

/// A lock-free set of callsites (by metadata address): those whose spans are captured as requests,
/// those only whose roots are enabled. Looking up a span costs one atomic load while the set is
/// empty, a hash and a few loads after.
pub(super) struct CallsiteSet {
    slots: Box<[AtomicUsize; SLOTS]>,
    len: AtomicUsize,
    probation_left: AtomicU32,
}

impl CallsiteSet {
    pub(super) fn new() -> Self {
        CallsiteSet {
            slots: Box::new(std::array::from_fn(|_| AtomicUsize::new(0))),
            len: AtomicUsize::new(0),
            probation_left: AtomicU32::new(PROBATION),
        }
    }

    #[inline]
    fn key(meta: &Metadata<'_>) -> usize {
        meta as *const Metadata<'_> as *const () as usize
    }

    #[inline]
    fn start(key: usize) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> 8) % SLOTS
    }

    /// Adds the callsite; a full neighbourhood leaves it out (its requests then start at their first
    /// AI span).
    pub(super) fn insert(&self, meta: &Metadata<'_>) {
        let key = Self::key(meta);
        let start = Self::start(key);
        for i in 0..PROBES {
            let slot = &self.slots[(start + i) % SLOTS];
            match slot.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    self.len.fetch_add(1, Ordering::Release);
                    return;
                }
                Err(existing) if existing == key => return,
                Err(_) => {}
            }
        }
    }

    /// True for the first [`PROBATION`] calls.
    #[inline]
    pub(super) fn on_probation(&self) -> bool {
        self.probation_left.load(Ordering::Relaxed) > 0
            && self
                .probation_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
    }

    #[inline]
    pub(super) fn contains(&self, meta: &Metadata<'_>) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let key = Self::key(meta);
        let start = Self::start(key);
        (0..PROBES).any(|i| self.slots[(start + i) % SLOTS].load(Ordering::Acquire) == key)
    }
}

/// The fields the web frameworks name differently, as the OTel HTTP conventions name them.
const HTTP_ALIASES: &[(&str, &str)] = &[
    ("method", "http.request.method"),
    ("http.method", "http.request.method"),
    ("http.request.method", "http.request.method"),
    ("route", "http.route"),
    ("matched_path", "http.route"),
    ("http.route", "http.route"),
    ("uri", "url.path"),
    ("http.target", "url.path"),
    ("url.path", "url.path"),
    ("path", "url.path"),
    ("status", "http.response.status_code"),
    ("http.status_code", "http.response.status_code"),
    ("http.response.status_code", "http.response.status_code"),
];

/// The record of a request span closing now, from its scope; `None` when no AI span ran in it.
pub(super) fn request_record(
    meta: &Metadata<'_>,
    scope: &mut TraceScope,
    trace_id_fallback: TraceId,
    end: u64,
) -> Option<SpanRecord> {
    let span_id = scope.request_span_id?;
    let capture = scope.capture.take();
    let (start, fields) = match capture {
        Some(c) => (c.start_time_unix_nano, c.fields),
        None => (scope.first_ai_start, Map::new()),
    };
    let name = fields
        .get("otel.name")
        .and_then(Value::as_str)
        .map_or_else(|| meta.name().to_string(), str::to_string);
    let mut r = SpanRecord::new(name, SpanKind::Request);
    r.trace_id = scope.trace_id.unwrap_or(trace_id_fallback);
    r.span_id = span_id;
    r.parent_span_id = scope.remote_parent;
    r.parent_is_remote = scope.remote_parent.is_some();
    r.remote_sampled = scope.remote_sampled;
    r.start_time_unix_nano = start.min(end);
    r.end_time_unix_nano = end;
    let spans = scope.from_ai_spans.take().unwrap_or_default();
    r.user_id = scope.user_id.clone().or(spans.user_id);
    r.session_id = scope.session_id.clone().or(spans.session_id);
    r.tags.clone_from(&scope.tags);
    for tag in spans.tags {
        if !r.tags.contains(&tag) {
            r.tags.push(tag);
        }
    }
    r.metadata.clone_from(&scope.metadata);
    r.trace_metadata = spans.trace_metadata;
    for (k, v) in &scope.metadata {
        r.trace_metadata
            .entry(k.clone())
            .or_insert_with(|| v.clone());
    }
    r.trace_name = Some(
        scope
            .trace_name
            .clone()
            .or(spans.trace_name)
            .unwrap_or_else(|| r.name.clone()),
    );
    let mut http = false;
    for (key, value) in fields {
        if key == "otel.name" {
            continue;
        }
        let alias = HTTP_ALIASES.iter().find(|(from, _)| *from == key);
        // A `status` that is not an HTTP status code (a job's `status = "done"`) stays itself.
        let alias = alias
            .filter(|(_, to)| *to != "http.response.status_code" || status_code(&value).is_some());
        match alias {
            Some((_, to)) => {
                http |= *to == "http.request.method";
                let value = match *to {
                    "url.path" => value
                        .as_str()
                        .map(|uri| Value::from(path_of(uri)))
                        .unwrap_or(value),
                    "http.response.status_code" => status_code(&value).map_or(value, Value::from),
                    _ => value,
                };
                r.attributes.entry(to.to_string()).or_insert(value);
            }
            None => {
                r.attributes.insert(key, value);
            }
        }
    }
    if http && !r.attributes.contains_key("otel.kind") {
        r.attributes
            .insert("otel.kind".into(), Value::from("server"));
    }
    let status = r
        .attributes
        .get("http.response.status_code")
        .and_then(Value::as_u64);
    // The HTTP conventions: a server span is an error for 5xx answers only.
    r.status = match status {
        Some(code) if code >= 500 => Status::Error {
            message: format!("HTTP {code}"),
            error_type: Some(code.to_string()),
        },
        Some(_) => Status::Ok,
        None => Status::Unset,
    };
    r.attributes
        .entry("aitrace.target".to_string())
        .or_insert_with(|| Value::from(meta.target()));
    Some(r)
}

/// A top-level AI span of the request closes: what it says about the trace reaches the request's
/// record (the first value wins; tags and metadata merge).
pub(super) fn absorb(scope: &mut TraceScope, r: &SpanRecord) {
    let v = scope.from_ai_spans.get_or_insert_with(Default::default);
    if v.user_id.is_none() {
        v.user_id.clone_from(&r.user_id);
    }
    if v.session_id.is_none() {
        v.session_id.clone_from(&r.session_id);
    }
    if v.trace_name.is_none() {
        v.trace_name.clone_from(&r.trace_name);
    }
    for tag in &r.tags {
        if !v.tags.contains(tag) {
            v.tags.push(tag.clone());
        }
    }
    for (k, val) in &r.trace_metadata {
        v.trace_metadata
            .entry(k.clone())
            .or_insert_with(|| val.clone());
    }
}

/// The path of a URI (`http://host/a?b` → `/a`, `/a?b` → `/a`).
fn path_of(uri: &str) -> String {
    let rest = match uri.split_once("://") {
        Some((_, after)) => after.find('/').map_or("/", |i| &after[i..]),
        None => uri,
    };
    rest.split(['?', '#']).next().unwrap_or(rest).to_string()
}

/// A status code recorded as a number or as text (`200 OK`, tower-http's `Debug` of it).
fn status_code(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s
            .split_whitespace()
            .next()
            .and_then(|code| code.parse().ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_fields_are_read_as_the_conventions_name_them() {
        assert_eq!(path_of("/chat?x=1"), "/chat");
        assert_eq!(path_of("http://localhost:3000/v1/chat#a"), "/v1/chat");
        assert_eq!(path_of("http://localhost:3000"), "/");
        assert_eq!(status_code(&Value::from("200 OK")), Some(200));
        assert_eq!(status_code(&Value::from(503)), Some(503));
        assert_eq!(status_code(&Value::from("later")), None);
    }
}
