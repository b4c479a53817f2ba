//! [`SensitiveDataFilter`]: redacts secrets from every part of a span before any exporter sees it.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use aitrace_core::{
    ConfigError, Processor, ScoreRecord, ScoreValue, SpanRecord, Status, TraceId, Verdict,
};
use regex::Regex;
use serde_json::{Map, Value};

use crate::keys::{key_words, KeyRule, DEFAULT_SENSITIVE_KEYS};

/// How a secret is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedactionStyle {
    /// The whole value becomes the token (`[REDACTED]`).
    #[default]
    Full,
    /// First and last 3 characters kept (`sk-…xyz`); values of 6 characters or fewer are fully
    /// redacted.
    Partial,
    /// Each distinct secret becomes a stable per-trace label (`[API_KEY_1]`), so a reader sees that two
    /// calls used the same key without seeing it.
    Indexed,
}

/// Secret shapes caught by value, whatever key holds them (defaults on).
pub const DEFAULT_VALUE_PATTERNS: &[(&str, &str)] = &[
    ("BEARER", r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*"),
    ("ANTHROPIC_KEY", r"\bsk-ant-[A-Za-z0-9_\-]{16,}"),
    ("OPENAI_KEY", r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}"),
    ("AWS_ACCESS_KEY", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    (
        "GITHUB_TOKEN",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
    ),
    (
        "JWT",
        r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}",
    ),
    ("SLACK_TOKEN", r"\bxox[baprs]-[A-Za-z0-9\-]{10,}"),
    ("GOOGLE_API_KEY", r"\bAIza[0-9A-Za-z_\-]{35}"),
];

/// JSON nested deeper than this is redacted whole rather than walked (fail closed, bounded stack).
pub const MAX_DEPTH: usize = 64;

/// The marker that replaces a field the filter could not process: it is never sent raw.
pub fn error_marker() -> Value {
    serde_json::json!({"error": {"processor": "sensitive-data-filter"}})
}

const TRACES_REMEMBERED: usize = 1000;
const VALUES_PER_TRACE: usize = 1000;

/// Labels given in one trace: (label, secret) → number, and the last number per label.
type TraceLabels = (HashMap<(String, String), usize>, HashMap<String, usize>);

#[derive(Default)]
struct Indexes {
    traces: HashMap<TraceId, TraceLabels>,
    order: VecDeque<TraceId>,
}

/// Redacts secrets by key (see [`crate::keys`]) and by value shape, deeply: input, output, system
/// instructions, tool definitions, tool arguments and results, metadata, attributes, events and error
/// messages, including inside chat-message parts and inside strings that hold JSON.
///
/// ```
/// use aitrace_filters::{RedactionStyle, SensitiveDataFilter};
/// let filter = SensitiveDataFilter::builder()
///     .add_keys(["internal_ref"])          // extend the defaults
///     .remove_keys(["auth"])               // or drop one
///     .style(RedactionStyle::Indexed)
///     .build()
///     .unwrap();
/// # let _ = filter;
/// ```
pub struct SensitiveDataFilter {
    rules: Vec<KeyRule>,
    patterns: Vec<(String, Regex)>,
    text: TextShapes,
    style: RedactionStyle,
    token: String,
    indexes: Mutex<Indexes>,
    /// Which rule each key seen falls under (`None`: not sensitive): the same few keys (`role`,
    /// `parts`, `content`, `type`) come in every message of every span, and splitting a key into
    /// words allocates. At most [`KEYS_REMEMBERED`] keys of at most 64 bytes.
    key_rules: Mutex<std::collections::HashMap<Box<str>, Option<usize>>>,
}

/// Keys whose rule the filter remembers.
const KEYS_REMEMBERED: usize = 4096;

impl std::fmt::Debug for SensitiveDataFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensitiveDataFilter")
            .field(
                "keys",
                &self
                    .rules
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field(
                "patterns",
                &self
                    .patterns
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("style", &self.style)
            .finish()
    }
}

impl Default for SensitiveDataFilter {
    /// The default keys and value patterns, full redaction with `[REDACTED]`.
    fn default() -> Self {
        SensitiveDataFilter::builder()
            .build()
            .unwrap_or_else(|_| unreachable!("the default patterns compile"))
    }
}

/// Secrets written into text rather than under a JSON key: a password in a URL
/// (`postgres://app:hunter2@db/x`), `key=value` pairs (form-encoded bodies, query strings, log
/// lines), fields of a `Debug`-printed struct (`Config { db_password: "hunter2" }`). The key-based
/// ones apply only when the key is sensitive, so `max_tokens=100` or `model: "gpt-4o"` stay.
struct TextShapes {
    url_userinfo: Regex,
    key_value: Regex,
    debug_field: Regex,
}

impl TextShapes {
    fn new() -> Self {
        let re =
            |r: &str| Regex::new(r).unwrap_or_else(|_| unreachable!("the text shapes compile"));
        TextShapes {
            // scheme://user:PASSWORD@host
            url_userinfo: re(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:([^\s@/]+)@"),
            // key=VALUE, up to `&`, whitespace or a quote
            key_value: re(r#"([A-Za-z0-9_.\-]+)=([^&\s"']+)"#),
            // field: "VALUE" or field: Some("VALUE"), as `{:?}` prints them
            debug_field: re(r#"([A-Za-z_][A-Za-z0-9_]*): (?:Some\()?"((?:[^"\\]|\\.)*)""#),
        }
    }
}

/// Settings of a [`SensitiveDataFilter`].
#[derive(Debug, Clone)]
pub struct SensitiveDataFilterBuilder {
    keys: Vec<String>,
    patterns: Vec<(String, String)>,
    style: RedactionStyle,
    token: String,
}

impl SensitiveDataFilterBuilder {
    /// Adds sensitive keys to the current list (the defaults, unless replaced).
    pub fn add_keys<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.keys.extend(keys.into_iter().map(Into::into));
        self
    }
    /// Replaces the whole key list (the defaults are gone).
    pub fn replace_keys<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.keys = keys.into_iter().map(Into::into).collect();
        self
    }
    /// Removes keys from the list (compared as words: `apiKey` removes `api_key`).
    pub fn remove_keys<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        let remove: Vec<Vec<String>> = keys.into_iter().map(|k| key_words(&k.into())).collect();
        self.keys.retain(|k| !remove.contains(&key_words(k)));
        self
    }
    /// Turns the value patterns (bearer tokens, API-key shapes, JWTs) on or off.
    pub fn value_patterns(mut self, on: bool) -> Self {
        if !on {
            self.patterns.clear();
        } else if self.patterns.is_empty() {
            self.patterns = defaults_patterns();
        }
        self
    }
    /// Adds a value pattern (a regular expression); `label` names it in the indexed style.
    pub fn add_pattern(mut self, label: impl Into<String>, regex: impl Into<String>) -> Self {
        self.patterns.push((label.into(), regex.into()));
        self
    }
    /// The redaction style (default full).
    pub fn style(mut self, style: RedactionStyle) -> Self {
        self.style = style;
        self
    }
    /// The replacement text (default `[REDACTED]`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }
    /// Compiles the patterns; an invalid one is an error naming it.
    pub fn build(self) -> Result<SensitiveDataFilter, ConfigError> {
        let mut patterns = Vec::with_capacity(self.patterns.len());
        for (label, re) in self.patterns {
            let compiled = Regex::new(&re).map_err(|e| {
                ConfigError::new(format!("sensitive data pattern {label}"), e.to_string())
            })?;
            patterns.push((label, compiled));
        }
        Ok(SensitiveDataFilter {
            rules: self.keys.iter().filter_map(|k| KeyRule::new(k)).collect(),
            patterns,
            text: TextShapes::new(),
            style: self.style,
            token: self.token,
            indexes: Mutex::new(Indexes::default()),
            key_rules: Mutex::new(std::collections::HashMap::new()),
        })
    }
}

fn defaults_patterns() -> Vec<(String, String)> {
    DEFAULT_VALUE_PATTERNS
        .iter()
        .map(|(l, r)| (l.to_string(), r.to_string()))
        .collect()
}

/// Per-record context of one filtering pass.
struct Pass<'a> {
    filter: &'a SensitiveDataFilter,
    trace: TraceId,
}

impl SensitiveDataFilter {
    /// Default keys, default patterns, full style; adjust before `build()`.
    pub fn builder() -> SensitiveDataFilterBuilder {
        SensitiveDataFilterBuilder {
            keys: DEFAULT_SENSITIVE_KEYS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            patterns: defaults_patterns(),
            style: RedactionStyle::Full,
            token: "[REDACTED]".to_string(),
        }
    }

    /// The rule a key falls under, if it is sensitive.
    pub fn sensitive_rule(&self, key: &str) -> Option<&KeyRule> {
        let known = self.key_rules.lock().ok().and_then(|k| k.get(key).copied());
        let rule = match known {
            Some(rule) => rule,
            None => {
                let words = key_words(key);
                let rule = self.rules.iter().position(|r| r.matches(&words));
                if let Ok(mut keys) = self.key_rules.lock() {
                    if keys.len() < KEYS_REMEMBERED && key.len() <= 64 {
                        keys.insert(key.into(), rule);
                    }
                }
                rule
            }
        };
        rule.map(|i| &self.rules[i])
    }

    /// Redacts a JSON value in place (as the processor does for one field). Returns whether anything
    /// changed.
    pub fn redact_value(&self, trace: TraceId, value: &mut Value) -> bool {
        Pass {
            filter: self,
            trace,
        }
        .value(value, 0)
    }

    /// Whether a string is this filter's own output (the token or an indexed label).
    fn is_redaction(&self, s: &str) -> bool {
        s == self.token
            || (self.style == RedactionStyle::Indexed
                && s.len() > 4
                && s.starts_with('[')
                && s.ends_with(']')
                && s[1..s.len() - 1]
                    .rsplit_once('_')
                    .is_some_and(|(label, n)| {
                        !label.is_empty()
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                            && n.bytes().all(|b| b.is_ascii_digit())
                    }))
    }

    fn replacement(&self, trace: TraceId, label: &str, secret: &str) -> String {
        match self.style {
            RedactionStyle::Full => self.token.clone(),
            RedactionStyle::Partial => {
                let chars: Vec<char> = secret.chars().collect();
                if chars.len() <= 6 {
                    self.token.clone()
                } else {
                    let head: String = chars[..3].iter().collect();
                    let tail: String = chars[chars.len() - 3..].iter().collect();
                    format!("{head}…{tail}")
                }
            }
            RedactionStyle::Indexed => {
                let Ok(mut idx) = self.indexes.lock() else {
                    return self.token.clone();
                };
                let idx = &mut *idx;
                if !idx.traces.contains_key(&trace) {
                    if idx.order.len() >= TRACES_REMEMBERED {
                        if let Some(old) = idx.order.pop_front() {
                            idx.traces.remove(&old);
                        }
                    }
                    idx.order.push_back(trace);
                }
                let (seen, counters) = idx.traces.entry(trace).or_default();
                let key = (label.to_string(), secret.to_string());
                if let Some(n) = seen.get(&key) {
                    return format!("[{label}_{n}]");
                }
                if seen.len() >= VALUES_PER_TRACE {
                    return self.token.clone();
                }
                let n = counters.entry(label.to_string()).or_insert(0);
                *n += 1;
                seen.insert(key, *n);
                format!("[{label}_{n}]")
            }
        }
    }

    fn redact_field(&self, trace: TraceId, field: &mut Option<Value>) {
        if let Some(v) = field {
            let result = catch_unwind(AssertUnwindSafe(|| {
                self.redact_value(trace, v);
            }));
            if result.is_err() {
                *v = error_marker();
            }
        }
    }

    fn redact_map(&self, trace: TraceId, map: &mut Map<String, Value>) {
        if map.is_empty() {
            return;
        }
        let mut value = Value::Object(std::mem::take(map));
        let ok = catch_unwind(AssertUnwindSafe(|| {
            self.redact_value(trace, &mut value);
        }))
        .is_ok();
        *map = match (ok, value) {
            (true, Value::Object(m)) => m,
            _ => match error_marker() {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        };
    }

    fn redact_text(&self, trace: TraceId, text: &mut String) {
        let mut v = Value::String(std::mem::take(text));
        let ok = catch_unwind(AssertUnwindSafe(|| {
            self.redact_value(trace, &mut v);
        }))
        .is_ok();
        *text = match (ok, v) {
            (true, Value::String(s)) => s,
            (true, other) => other.to_string(),
            (false, _) => self.token.clone(),
        };
    }
}

/// Objects and arrays at most looked for inside one text (a bound on the work per string).
const EMBEDDED_JSON_MAX: usize = 16;

impl Pass<'_> {
    /// JSON inside a sentence (`request failed: {"api_key":"..."}`): each object or array that
    /// parses is filtered like JSON and written back in place when something in it changed.
    fn embedded_json(&self, s: &mut String, depth: usize) -> bool {
        if !(s.contains("{\"") || s.contains("[{")) {
            return false;
        }
        let mut changed = false;
        let mut from = 0;
        let mut tries = 0;
        while let Some(offset) = s[from..].find(['{', '[']) {
            let start = from + offset;
            tries += 1;
            if tries > EMBEDDED_JSON_MAX {
                break;
            }
            let mut values = serde_json::Deserializer::from_str(&s[start..]).into_iter::<Value>();
            match values.next() {
                Some(Ok(mut inner)) if inner.is_object() || inner.is_array() => {
                    let end = start + values.byte_offset();
                    if self.value(&mut inner, depth + 1) {
                        let text = inner.to_string();
                        s.replace_range(start..end, &text);
                        from = start + text.len();
                        changed = true;
                    } else {
                        from = end;
                    }
                }
                _ => from = start + 1,
            }
        }
        changed
    }

    /// Secrets in text shapes: URL passwords, `key=value` pairs, `Debug` struct fields.
    fn text_shapes(&self, s: &mut String) -> bool {
        let filter = self.filter;
        let shapes = &filter.text;
        let mut changed = false;
        let mut replace =
            |s: &mut String, re: &Regex, key_group: Option<usize>, value_group: usize| {
                let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
                for caps in re.captures_iter(s) {
                    let Some(value) = caps.get(value_group) else {
                        continue;
                    };
                    if filter.is_redaction(value.as_str()) || value.as_str().is_empty() {
                        continue;
                    }
                    let label = match key_group {
                        Some(k) => match filter.sensitive_rule(&caps[k]) {
                            Some(rule) => rule.label(),
                            None => continue,
                        },
                        None => "PASSWORD".to_string(),
                    };
                    let replacement = filter.replacement(self.trace, &label, value.as_str());
                    edits.push((value.range(), replacement));
                }
                for (range, text) in edits.into_iter().rev() {
                    s.replace_range(range, &text);
                    changed = true;
                }
            };
        replace(s, &shapes.url_userinfo, None, 1);
        replace(s, &shapes.key_value, Some(1), 2);
        replace(s, &shapes.debug_field, Some(1), 2);
        changed
    }

    /// Walks a value whose key is not sensitive.
    fn value(&self, v: &mut Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            *v = Value::String(format!("{} (nested too deep)", self.filter.token));
            return true;
        }
        match v {
            Value::Object(map) => {
                let mut changed = false;
                for (k, child) in map.iter_mut() {
                    changed |= match self.filter.sensitive_rule(k) {
                        Some(rule) => self.secret(child, &rule.label(), depth + 1),
                        None => self.value(child, depth + 1),
                    };
                }
                changed
            }
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |c, item| self.value(item, depth + 1) | c),
            Value::String(s) => self.string(s, depth),
            _ => false,
        }
    }

    /// Walks a value held by a sensitive key: scalars are secrets; containers are walked, so that
    /// `auth: {user_id, token}` keeps the user id and loses the token.
    fn secret(&self, v: &mut Value, label: &str, depth: usize) -> bool {
        let text = match &mut *v {
            Value::Object(_) => return self.value(v, depth),
            Value::Array(items) => {
                return items
                    .iter_mut()
                    .fold(false, |c, item| self.secret(item, label, depth + 1) | c)
            }
            Value::Null => return false,
            // Already redacted (a second pass, or a value that went through another filter).
            Value::String(s) if self.filter.is_redaction(s) => return false,
            Value::String(s) => std::mem::take(s),
            other => other.to_string(),
        };
        let replacement = self.filter.replacement(self.trace, label, &text);
        let changed = replacement != text;
        *v = Value::String(replacement);
        changed
    }

    /// A string: JSON inside is parsed, filtered and re-serialized (only when something changed, so a
    /// non-secret is never reformatted); otherwise value patterns apply.
    fn string(&self, s: &mut String, depth: usize) -> bool {
        let t = s.trim_start();
        // JSON inside the string; also JSON stringified twice (a JSON string literal holding JSON).
        if t.starts_with('{') || t.starts_with('[') || t.starts_with('"') {
            if let Ok(mut inner) = serde_json::from_str::<Value>(s) {
                if self.value(&mut inner, depth + 1) {
                    *s = inner.to_string();
                    return true;
                }
                return false;
            }
        }
        let mut changed = false;
        for (label, re) in &self.filter.patterns {
            if re.is_match(s) {
                let replaced = re.replace_all(s, |caps: &regex::Captures<'_>| {
                    self.filter.replacement(self.trace, label, &caps[0])
                });
                *s = replaced.into_owned();
                changed = true;
            }
        }
        // Text shapes first: a secret they cut can be what kept a JSON object in the text from
        // parsing. Then again until nothing changes (bounded), so a second pass finds nothing left.
        for _ in 0..4 {
            let round = self.text_shapes(s) | self.embedded_json(s, depth);
            changed |= round;
            if !round {
                break;
            }
        }
        // Text that was not JSON only because of the secret (a raw tab after `Bearer` inside a JSON
        // string) is JSON now: filter it as JSON too, or its sensitive keys would keep their values
        // until a second pass (the fuzzer found this).
        let t = s.trim_start();
        if changed && (t.starts_with('{') || t.starts_with('[')) {
            if let Ok(mut inner) = serde_json::from_str::<Value>(s) {
                if self.value(&mut inner, depth + 1) {
                    *s = inner.to_string();
                }
            }
        }
        changed
    }
}

impl Processor for SensitiveDataFilter {
    fn name(&self) -> &str {
        "sensitive-data-filter"
    }

    /// Redaction walks every value deeply; it runs on the exporter workers, never on the thread that
    /// closed the span. Records are redacted before any exporter sees them.
    fn offload(&self) -> bool {
        true
    }

    fn process(&self, span: &mut SpanRecord) -> Verdict {
        let trace = span.trace_id;
        self.redact_field(trace, &mut span.input);
        self.redact_field(trace, &mut span.output);
        self.redact_field(trace, &mut span.system_instructions);
        self.redact_field(trace, &mut span.tool_definitions);
        if let Some(tool) = &mut span.tool {
            self.redact_field(trace, &mut tool.arguments);
            self.redact_field(trace, &mut tool.result);
        }
        self.redact_map(trace, &mut span.metadata);
        self.redact_map(trace, &mut span.trace_metadata);
        self.redact_map(trace, &mut span.attributes);
        for event in &mut span.events {
            self.redact_text(trace, &mut event.name);
            self.redact_map(trace, &mut event.attributes);
        }
        if let Status::Error { message, .. } = &mut span.status {
            self.redact_text(trace, message);
        }
        for score in &mut span.scores {
            self.redact_score(trace, score);
        }
        Verdict::Keep
    }

    fn process_score(&self, score: &mut ScoreRecord) -> Verdict {
        // A session's score has no trace: its labels are numbered on their own.
        let trace = score.target.trace_id().unwrap_or(TraceId::from_u128(1));
        self.redact_score(trace, score);
        Verdict::Keep
    }
}

impl SensitiveDataFilter {
    /// A score's free text: its comment, label and metadata (a user's feedback can quote a secret).
    fn redact_score(&self, trace: TraceId, score: &mut ScoreRecord) {
        if let Some(comment) = &mut score.score.comment {
            self.redact_text(trace, comment);
        }
        if let ScoreValue::Categorical(label) = &mut score.score.value {
            self.redact_text(trace, label);
        }
        self.redact_map(trace, &mut score.score.metadata);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redacted(text: &str) -> String {
        let mut v = Value::String(text.to_string());
        SensitiveDataFilter::default().redact_value(TraceId::from_u128(1), &mut v);
        v.as_str().unwrap().to_string()
    }

    #[test]
    fn secrets_written_into_text_are_redacted_and_look_alikes_stay() {
        for (text, expected) in [
            (
                "connecting to postgres://app:hunter2@db:5432/orders",
                "connecting to postgres://app:[REDACTED]@db:5432/orders",
            ),
            (
                "body: user=ada&password=hunter2&token=abc123&lang=en",
                "body: user=ada&password=[REDACTED]&token=[REDACTED]&lang=en",
            ),
            (
                r#"loaded Config { host: "db", db_password: "hunter2", api_key: Some("k-123") }"#,
                r#"loaded Config { host: "db", db_password: "[REDACTED]", api_key: Some("[REDACTED]") }"#,
            ),
            (
                r#"request failed: {"api_key":"plain-secret-1","model":"gpt-4o"} (retrying)"#,
                r#"request failed: {"api_key":"[REDACTED]","model":"gpt-4o"} (retrying)"#,
            ),
        ] {
            assert_eq!(redacted(text), expected);
            assert_eq!(redacted(expected), expected, "idempotent");
        }
        // Found by the fuzzer: a secret with a control character kept the object from parsing, so
        // the object inside was filtered only on a second pass.
        let text = "{\"a\":\"token=ab\u{0}c\",\"b\":\"[{\\\"token\\\":\\\"t\\\"}]\"}}";
        let once = redacted(text);
        assert_eq!(redacted(&once), once, "idempotent: {once}");
        assert!(
            !once.contains("ab\u{0}c") && once.contains("[REDACTED]"),
            "{once}"
        );
        for innocent in [
            "see https://docs.example.com/a:b/c and mail ada@example.com",
            "http://host:8080/@handle",
            "max_tokens=100&temperature=0.2&top_p=0.9",
            r#"Request { model: "gpt-4o", max_tokens: 5, prompt_tokens: 12 }"#,
            r#"the set {1, 2} and the list [a, b] and {"model":"gpt-4o"}"#,
            "x = y, a==b, =value, key=",
        ] {
            assert_eq!(redacted(innocent), innocent);
        }
    }

    /// A small deterministic generator of JSON values (no external fuzzing crate needed for this).
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
        fn value(&mut self, depth: u32, keys: &[&str], strings: &[&str]) -> Value {
            match (self.next() % if depth == 0 { 4 } else { 7 }, depth) {
                (0, _) => Value::Null,
                (1, _) => json!(self.next() % 1000),
                (2, _) => json!(self.next() % 2 == 0),
                (3, _) => json!(self.pick(strings)),
                (4, d) => Value::Array(
                    (0..self.next() % 4)
                        .map(|_| self.value(d - 1, keys, strings))
                        .collect(),
                ),
                (5, d) => {
                    let inner = self.value(d - 1, keys, strings);
                    json!(inner.to_string())
                }
                (_, d) => Value::Object(
                    (0..self.next() % 5)
                        .map(|_| {
                            (
                                self.pick(keys).to_string(),
                                self.value(d - 1, keys, strings),
                            )
                        })
                        .collect(),
                ),
            }
        }
    }

    const INNOCENT_KEYS: &[&str] = &[
        "model",
        "prompt_tokens",
        "keyword",
        "role",
        "content",
        "parts",
        "max_tokens",
        "session_id",
        "token_count",
        "Content-Type",
    ];
    const ALL_KEYS: &[&str] = &[
        "model",
        "prompt_tokens",
        "password",
        "apiKey",
        "x-api-key",
        "authToken",
        "content",
        "auth",
        "cookie",
        "parts",
    ];
    const INNOCENT_STRINGS: &[&str] = &[
        "hello",
        "",
        "{not json",
        "[1,2",
        "gpt-4o",
        "ünïcödé ✓",
        "sk-short",
        "Bearer",
    ];
    const ALL_STRINGS: &[&str] = &[
        "hello",
        "sk-proj-abcdefghijklmnopqrstuvwxyz12",
        "Bearer abcdefghijkl",
        "{\"password\":\"x1\"}",
        "[{\"token\":1}]",
        "AKIAABCDEFGHIJKLMNOP",
        "{bad json",
    ];

    /// Seed and iterations, from `AITRACE_FUZZ_SEED` / `AITRACE_FUZZ_ITERATIONS` when set.
    fn fuzz(seed: u64, n: usize) -> (Gen, usize) {
        let (g, n) = aitrace_core::testing::Arbitrary::from_env(seed, n);
        (Gen(g.clone().next_u64() | 1), n)
    }

    #[test]
    fn text_that_becomes_json_once_a_secret_is_cut_is_filtered_as_json() {
        let filter = SensitiveDataFilter::default();
        let trace = TraceId::random();
        // A raw tab inside a JSON string makes the text invalid JSON until the bearer token is cut.
        let mut v =
            Value::String("{\"note\":\"bearer\tabcdefgh12345\",\"password\":\"hunter2\"}".into());
        filter.redact_value(trace, &mut v);
        let text = v.as_str().unwrap().to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("abcdefgh"),
            "{text}"
        );
        let once = v.clone();
        filter.redact_value(trace, &mut v);
        assert_eq!(v, once);
    }

    #[test]
    fn random_json_never_panics_and_redaction_is_idempotent() {
        let filter = SensitiveDataFilter::default();
        let trace = TraceId::random();
        let (mut g, n) = fuzz(0x9E37_79B9_7F4A_7C15, 3000);
        for _ in 0..n {
            let original = g.value(6, ALL_KEYS, ALL_STRINGS);
            let mut once = original.clone();
            filter.redact_value(trace, &mut once);
            let mut twice = once.clone();
            assert!(
                !filter.redact_value(trace, &mut twice),
                "second pass changed {once}"
            );
            assert_eq!(once, twice);
            let text = once.to_string();
            for secret in ["abcdefghijklmnopqrstuvwxyz12", "x1\\", "ABCDEFGHIJKLMNOP"] {
                assert!(!text.contains(secret), "{secret} survived in {text}");
            }
        }
    }

    #[test]
    fn values_without_secrets_are_never_changed() {
        let filter = SensitiveDataFilter::default();
        let (mut g, n) = fuzz(42, 3000);
        for _ in 0..n {
            let original = g.value(6, INNOCENT_KEYS, INNOCENT_STRINGS);
            let mut v = original.clone();
            assert!(!filter.redact_value(TraceId::random(), &mut v));
            assert_eq!(v, original);
        }
    }

    #[test]
    fn pathological_nesting_is_cut_not_walked() {
        let mut v = json!({"password": "deep-secret"});
        // Far beyond MAX_DEPTH (serde_json's own parser stops at 128), yet small enough that building
        // and dropping it is safe on a test thread's stack.
        for _ in 0..1000 {
            v = json!([v]);
        }
        let filter = SensitiveDataFilter::default();
        assert!(filter.redact_value(TraceId::random(), &mut v));
        let text = v.to_string();
        assert!(!text.contains("deep-secret"));
        assert!(text.contains("nested too deep"));
        // Dropping the cut value is shallow now.
        drop(v);
    }

    #[test]
    fn sensitive_containers_are_walked_not_blanked() {
        let filter = SensitiveDataFilter::default();
        let mut v = json!({"auth": {"user_id": "u-1", "token": "t0k3n-value"}, "cookies": ["a=1", "b=2"], "cvv": 123});
        filter.redact_value(TraceId::random(), &mut v);
        assert_eq!(
            v,
            json!({"auth": {"user_id": "u-1", "token": "[REDACTED]"}, "cookies": ["[REDACTED]", "[REDACTED]"], "cvv": "[REDACTED]"})
        );
    }

    #[test]
    fn a_user_list_extends_or_replaces_the_defaults() {
        let extended = SensitiveDataFilter::builder()
            .add_keys(["internal_ref"])
            .build()
            .unwrap();
        assert!(
            extended.sensitive_rule("internalRef").is_some()
                && extended.sensitive_rule("password").is_some()
        );
        let replaced = SensitiveDataFilter::builder()
            .replace_keys(["customSecret"])
            .build()
            .unwrap();
        assert!(replaced.sensitive_rule("custom_secret").is_some());
        assert!(replaced.sensitive_rule("password").is_none());
        let removed = SensitiveDataFilter::builder()
            .remove_keys(["AUTH"])
            .build()
            .unwrap();
        assert!(
            removed.sensitive_rule("auth").is_none()
                && removed.sensitive_rule("authToken").is_some()
        );
        let err = SensitiveDataFilter::builder()
            .add_pattern("BROKEN", "(unclosed")
            .build()
            .unwrap_err();
        assert_eq!(err.setting, "sensitive data pattern BROKEN");
        let no_patterns = SensitiveDataFilter::builder()
            .value_patterns(false)
            .build()
            .unwrap();
        let mut v = json!({"note": "sk-proj-abcdefghijklmnopqrstuvwxyz12"});
        assert!(!no_patterns.redact_value(TraceId::random(), &mut v));
    }

    #[test]
    fn indexed_labels_are_bounded_per_trace() {
        let filter = SensitiveDataFilter::builder()
            .style(RedactionStyle::Indexed)
            .build()
            .unwrap();
        let trace = TraceId::random();
        let mut last = String::new();
        for i in 0..(VALUES_PER_TRACE + 5) {
            let mut v = json!({"password": format!("pw-{i}")});
            filter.redact_value(trace, &mut v);
            last = v["password"].as_str().unwrap().to_string();
        }
        assert_eq!(
            last, "[REDACTED]",
            "beyond the bound, values get the plain token"
        );
        let other = TraceId::random();
        let mut v = json!({"password": "pw-0"});
        filter.redact_value(other, &mut v);
        assert_eq!(v["password"], "[PASSWORD_1]", "labels restart per trace");
    }
}
