//! Scores: a user's thumbs up, an LLM judge's verdict, a guardrail's pass/fail, attached to a trace, a
//! span of a trace, or a session.
//!
//! A [`Score`] is backend-neutral; a [`ScoreRecord`] is one score with its [`ScoreTarget`] and its id,
//! as exporters receive it. Two ways to attach one, neither ever blocking or failing the app:
//! [`AiSpanExt::record_score`](crate::AiSpanExt::record_score) on a live span, and [`score`] later,
//! from anywhere, with a target the app kept
//! ([`AiSpanExt::score_target`](crate::AiSpanExt::score_target)).

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{SpanId, TraceId};
use crate::record::unix_nanos;

/// A score's value: a number, a pass/fail, or a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ScoreValue {
    /// Any finite number (a rating, a similarity, a 0..1 verdict).
    Numeric(f64),
    /// Pass / fail, thumbs up / down.
    Boolean(bool),
    /// A label (`"relevant"`, `"toxic"`).
    Categorical(String),
}

impl ScoreValue {
    /// The value as a number where it has one: numbers as they are, booleans as 1 / 0.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            ScoreValue::Numeric(v) => Some(*v),
            ScoreValue::Boolean(b) => Some(if *b { 1.0 } else { 0.0 }),
            ScoreValue::Categorical(_) => None,
        }
    }

    /// The label of a categorical score; `"true"` / `"false"` for a boolean one.
    pub fn label(&self) -> Option<&str> {
        match self {
            ScoreValue::Numeric(_) => None,
            ScoreValue::Boolean(true) => Some("true"),
            ScoreValue::Boolean(false) => Some("false"),
            ScoreValue::Categorical(s) => Some(s),
        }
    }
}

/// Who produced a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreSource {
    /// A person: an end user's feedback, a reviewer's annotation.
    Human,
    /// A model: an LLM-as-judge.
    Model,
    /// Code: a guardrail, a regex, a unit-test-like check.
    Code,
}

impl ScoreSource {
    /// `human`, `model` or `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreSource::Human => "human",
            ScoreSource::Model => "model",
            ScoreSource::Code => "code",
        }
    }
}

/// One score, before it is attached: name, value and what explains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// What is scored (`helpfulness`, `user_feedback`, `toxicity`).
    pub name: String,
    /// The value.
    pub value: ScoreValue,
    /// A comment or the judge's explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ScoreSource>,
    /// The evaluator or the backend's score config this score follows (Langfuse `configId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_id: Option<String>,
    /// Anything else worth keeping with it.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// The score's id. A score sent again with the same id overwrites the first (a retried request,
    /// a user changing their thumbs). Unset: derived from the target and the name, so one score per
    /// name and target; set distinct ids to keep several (one per user, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Score {
    fn new(name: impl Into<String>, value: ScoreValue) -> Self {
        Score {
            name: name.into(),
            value,
            comment: None,
            source: None,
            config_id: None,
            metadata: Map::new(),
            id: None,
        }
    }

    /// A numeric score.
    pub fn numeric(name: impl Into<String>, value: f64) -> Self {
        Score::new(name, ScoreValue::Numeric(value))
    }

    /// A boolean score (thumbs up = true).
    pub fn boolean(name: impl Into<String>, value: bool) -> Self {
        Score::new(name, ScoreValue::Boolean(value))
    }

    /// A categorical score (a label).
    pub fn categorical(name: impl Into<String>, label: impl Into<String>) -> Self {
        Score::new(name, ScoreValue::Categorical(label.into()))
    }

    /// With a comment or explanation.
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// With who produced it.
    pub fn with_source(mut self, source: ScoreSource) -> Self {
        self.source = Some(source);
        self
    }

    /// With the evaluator's or score config's id.
    pub fn with_config_id(mut self, id: impl Into<String>) -> Self {
        self.config_id = Some(id.into());
        self
    }

    /// With one metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// With an explicit id (see [`Score::id`]).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Checks what every backend would reject: an empty or over-long name, a value that is not a
    /// finite number, an empty or over-long label or id.
    pub fn validate(&self) -> Result<(), ScoreError> {
        if self.name.trim().is_empty() {
            return Err(ScoreError::EmptyName);
        }
        if self.name.len() > MAX_NAME_BYTES {
            return Err(ScoreError::TooLong("name"));
        }
        match &self.value {
            ScoreValue::Numeric(v) if !v.is_finite() => return Err(ScoreError::NotFinite(*v)),
            ScoreValue::Categorical(s) if s.trim().is_empty() => {
                return Err(ScoreError::EmptyLabel)
            }
            ScoreValue::Categorical(s) if s.len() > MAX_LABEL_BYTES => {
                return Err(ScoreError::TooLong("label"))
            }
            _ => {}
        }
        if let Some(id) = &self.id {
            if id.trim().is_empty() || id.len() > MAX_ID_BYTES || id.contains(['\r', '\n']) {
                return Err(ScoreError::BadId);
            }
        }
        Ok(())
    }
}

/// Longest score name accepted (Langfuse's limit on names).
pub const MAX_NAME_BYTES: usize = 1000;
/// Longest categorical label accepted (Langfuse's limit on text values).
pub const MAX_LABEL_BYTES: usize = 500;
/// Longest score id accepted (Langfuse's limit on ids).
pub const MAX_ID_BYTES: usize = 800;

/// What a score is about, named by ids the app kept: the compact text form
/// (`<trace id>`, `<trace id>-<span id>`, `session:<id>`) is what a handler hands its frontend and
/// parses back with [`str::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScoreTarget {
    /// A whole trace (a request, a conversation turn).
    Trace {
        /// The trace.
        trace_id: TraceId,
    },
    /// One span (an observation) of a trace: a generation, a tool call.
    Span {
        /// Its trace.
        trace_id: TraceId,
        /// The span.
        span_id: SpanId,
    },
    /// A session (a conversation of several traces).
    Session {
        /// The session id, as set with [`AiSpanExt::set_session`](crate::AiSpanExt::set_session).
        session_id: String,
    },
}

impl ScoreTarget {
    /// A trace.
    pub fn trace(trace_id: TraceId) -> Self {
        ScoreTarget::Trace { trace_id }
    }

    /// A span of a trace.
    pub fn span(trace_id: TraceId, span_id: SpanId) -> Self {
        ScoreTarget::Span { trace_id, span_id }
    }

    /// A session.
    pub fn session(session_id: impl Into<String>) -> Self {
        ScoreTarget::Session {
            session_id: session_id.into(),
        }
    }

    /// The trace, unless the target is a session.
    pub fn trace_id(&self) -> Option<TraceId> {
        match self {
            ScoreTarget::Trace { trace_id } | ScoreTarget::Span { trace_id, .. } => Some(*trace_id),
            ScoreTarget::Session { .. } => None,
        }
    }

    /// The span of a span target.
    pub fn span_id(&self) -> Option<SpanId> {
        match self {
            ScoreTarget::Span { span_id, .. } => Some(*span_id),
            _ => None,
        }
    }

    /// The session of a session target.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            ScoreTarget::Session { session_id } => Some(session_id),
            _ => None,
        }
    }
}

impl fmt::Display for ScoreTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScoreTarget::Trace { trace_id } => write!(f, "{trace_id}"),
            ScoreTarget::Span { trace_id, span_id } => write!(f, "{trace_id}-{span_id}"),
            ScoreTarget::Session { session_id } => write!(f, "session:{session_id}"),
        }
    }
}

impl FromStr for ScoreTarget {
    type Err = ScoreError;

    /// Parses the text form; a trace id of `traceparent` shape (`00-<trace>-<span>-01`) names that span.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ScoreError::BadTarget(s.chars().take(80).collect());
        let s = s.trim();
        if let Some(session) = s.strip_prefix("session:") {
            if session.is_empty() || session.len() > MAX_ID_BYTES {
                return Err(bad());
            }
            return Ok(ScoreTarget::session(session));
        }
        let parts: Vec<&str> = s.split('-').collect();
        let (trace, span) = match parts.as_slice() {
            [trace] => (*trace, None),
            [trace, span] => (*trace, Some(*span)),
            ["00", trace, span, _flags] => (*trace, Some(*span)),
            _ => return Err(bad()),
        };
        let trace_id = TraceId::from_hex(trace).map_err(|_| bad())?;
        match span {
            None => Ok(ScoreTarget::trace(trace_id)),
            Some(span) => Ok(ScoreTarget::span(
                trace_id,
                SpanId::from_hex(span).map_err(|_| bad())?,
            )),
        }
    }
}

/// Which targets an exporter sends scores for ([`Exporter::score_targets`](crate::Exporter::score_targets)):
/// a score about another kind of target is not queued for it, and counted in
/// [`ExporterStats::scores_unsupported`](crate::ExporterStats::scores_unsupported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScoreTargets {
    /// Whole traces.
    pub traces: bool,
    /// Spans of traces.
    pub spans: bool,
    /// Sessions.
    pub sessions: bool,
}

impl ScoreTargets {
    /// No scores (an exporter that has no place for them).
    pub const NONE: ScoreTargets = ScoreTargets {
        traces: false,
        spans: false,
        sessions: false,
    };
    /// Traces and their spans, not sessions (the backends without sessions).
    pub const TRACES_AND_SPANS: ScoreTargets = ScoreTargets {
        traces: true,
        spans: true,
        sessions: false,
    };
    /// Every target.
    pub const ALL: ScoreTargets = ScoreTargets {
        traces: true,
        spans: true,
        sessions: true,
    };

    /// Whether scores about `target` are sent.
    pub fn accepts(&self, target: &ScoreTarget) -> bool {
        match target {
            ScoreTarget::Trace { .. } => self.traces,
            ScoreTarget::Span { .. } => self.spans,
            ScoreTarget::Session { .. } => self.sessions,
        }
    }
}

/// One score attached to its target, as processors and exporters receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRecord {
    /// The score's id: [`Score::id`], else derived from the target and the name (stable across
    /// processes, so the same score sent twice is one score).
    pub id: String,
    /// What it is about.
    pub target: ScoreTarget,
    /// The score.
    pub score: Score,
    /// When it was recorded, unix nanoseconds.
    pub time_unix_nano: u64,
    /// The evaluation span that produced it (a `scorer_span!`), if any: its trace and span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<(TraceId, SpanId)>,
}

impl ScoreRecord {
    /// A checked record of `score` on `target`, recorded now.
    pub fn new(target: ScoreTarget, score: Score) -> Result<Self, ScoreError> {
        score.validate()?;
        if let ScoreTarget::Session { session_id } = &target {
            if session_id.trim().is_empty() || session_id.len() > MAX_ID_BYTES {
                return Err(ScoreError::BadTarget(session_id.chars().take(80).collect()));
            }
        }
        let id = score
            .id
            .clone()
            .unwrap_or_else(|| derived_id(&target, &score.name));
        Ok(ScoreRecord {
            id,
            target,
            score,
            time_unix_nano: unix_nanos(SystemTime::now()),
            evaluation: None,
        })
    }

    /// Points the score at `target` (the layer does so when a span's ids settle at close); a
    /// derived id follows the new target.
    pub fn retarget(&mut self, target: ScoreTarget) {
        if self.target == target {
            return;
        }
        if self.score.id.is_none() {
            self.id = derived_id(&target, &self.score.name);
        }
        self.target = target;
    }

    /// A rough size in bytes, for the queues' byte caps.
    pub fn estimated_size(&self) -> usize {
        let metadata: usize = self
            .score
            .metadata
            .iter()
            .map(|(k, v)| k.len() + crate::record::value_size(v))
            .sum();
        160 + self.id.len()
            + self.score.name.len()
            + self.score.comment.as_ref().map_or(0, String::len)
            + self.score.value.label().map_or(0, str::len)
            + self.target.session_id().map_or(0, str::len)
            + metadata
    }

    /// The score's id as a UUID (`8-4-4-4-12` hex), for backends whose ids must be UUIDs: the id itself
    /// when it is one, else a stable hash of it.
    pub fn uuid(&self) -> String {
        if is_uuid(&self.id) {
            return self.id.to_ascii_lowercase();
        }
        uuid_of(self.id.as_bytes())
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The id of a score without one: a UUID hashed from the target's text form and the name, the same
/// in every process and every build.
fn derived_id(target: &ScoreTarget, name: &str) -> String {
    let mut key = target.to_string().into_bytes();
    key.push(0);
    key.extend_from_slice(name.as_bytes());
    uuid_of(&key)
}

/// 128 bits of two FNV-1a 64 hashes with different offsets, formatted as a version-8 UUID.
fn uuid_of(bytes: &[u8]) -> String {
    let fnv = |offset: u64| {
        bytes.iter().fold(offset, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let hi = fnv(0xcbf2_9ce4_8422_2325);
    let lo = fnv(0x84222325_cbf29ce4 ^ 0x9e37_79b9_7f4a_7c15);
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&hi.to_be_bytes());
    b[8..].copy_from_slice(&lo.to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: custom
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Why a score was not recorded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScoreError {
    /// The score has no name.
    EmptyName,
    /// A numeric value that is NaN or infinite.
    NotFinite(f64),
    /// A categorical score with an empty label.
    EmptyLabel,
    /// A name, label or id over the limits every backend accepts.
    TooLong(&'static str),
    /// An explicit id that is empty, too long or has line breaks.
    BadId,
    /// The span already holds [`MAX_SCORES_PER_SPAN`](crate::MAX_SCORES_PER_SPAN) scores.
    TooMany,
    /// A target text that is not `<trace id>`, `<trace id>-<span id>` or `session:<id>`.
    BadTarget(String),
    /// The span is not in a trace aitrace records (disabled, or no aitrace layer).
    NoTarget,
    /// No aitrace pipeline is running (not installed, or shut down).
    NotInstalled,
}

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScoreError::EmptyName => write!(f, "a score needs a name"),
            ScoreError::NotFinite(v) => write!(f, "a score's value must be a finite number, not {v}"),
            ScoreError::EmptyLabel => write!(f, "a categorical score needs a label"),
            ScoreError::TooLong(what) => write!(f, "the score's {what} is too long"),
            ScoreError::BadId => write!(
                f,
                "a score id must be 1..={MAX_ID_BYTES} bytes with no line breaks"
            ),
            ScoreError::BadTarget(s) => write!(
                f,
                "`{s}` is not a score target (`<trace id>`, `<trace id>-<span id>` or `session:<id>`)"
            ),
            ScoreError::TooMany => write!(
                f,
                "the span already holds {} scores",
                crate::MAX_SCORES_PER_SPAN
            ),
            ScoreError::NoTarget => write!(
                f,
                "the span is not part of a trace aitrace records (disabled, or no aitrace layer)"
            ),
            ScoreError::NotInstalled => write!(f, "no aitrace pipeline is running"),
        }
    }
}

impl std::error::Error for ScoreError {}

/// Sends `score` about `target` to every exporter of the running pipeline: the subscriber's aitrace
/// layer where the calling thread has one, else the one `install()` set globally. Never blocks: the
/// score joins each exporter's bounded queue (a full queue drops and counts it) and is retried like
/// spans. Works after the target's trace was exported, from another request, thread or process.
pub fn score(target: ScoreTarget, score: Score) -> Result<(), ScoreError> {
    let record =
        ScoreRecord::new(target, score).inspect_err(|_| crate::pipeline::score_rejected())?;
    crate::pipeline::submit_score_anywhere(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_through_their_text_form() {
        let t = TraceId::random();
        let s = SpanId::random();
        for target in [
            ScoreTarget::trace(t),
            ScoreTarget::span(t, s),
            ScoreTarget::session("chat-42"),
        ] {
            assert_eq!(target.to_string().parse::<ScoreTarget>(), Ok(target));
        }
        let tp = format!("00-{t}-{s}-01");
        assert_eq!(tp.parse(), Ok(ScoreTarget::span(t, s)));
        for bad in ["", "xyz", "session:", &format!("{t}-zz"), "0-0-0-0-0"] {
            assert!(matches!(
                bad.parse::<ScoreTarget>(),
                Err(ScoreError::BadTarget(_))
            ));
        }
    }

    #[test]
    fn bad_scores_are_errors() {
        assert_eq!(
            Score::numeric("", 1.0).validate(),
            Err(ScoreError::EmptyName)
        );
        assert!(matches!(
            Score::numeric("x", f64::NAN).validate(),
            Err(ScoreError::NotFinite(_))
        ));
        assert!(Score::numeric("x", f64::INFINITY).validate().is_err());
        assert_eq!(
            Score::categorical("x", " ").validate(),
            Err(ScoreError::EmptyLabel)
        );
        assert_eq!(
            Score::boolean("x", true).with_id("a\nb").validate(),
            Err(ScoreError::BadId)
        );
        assert!(Score::boolean("x", true).validate().is_ok());
    }

    #[test]
    fn ids_are_stable_per_target_and_name_and_explicit_ids_win() {
        let target = ScoreTarget::span(TraceId::random(), SpanId::random());
        let a = ScoreRecord::new(target.clone(), Score::boolean("thumbs", true)).unwrap();
        let b = ScoreRecord::new(target.clone(), Score::boolean("thumbs", false)).unwrap();
        let c = ScoreRecord::new(target.clone(), Score::boolean("other", false)).unwrap();
        assert_eq!(a.id, b.id, "the same name on the same target overwrites");
        assert_ne!(a.id, c.id);
        assert!(is_uuid(&a.id));
        let fixed = ScoreRecord::new(
            ScoreTarget::session("s"),
            Score::numeric("n", 1.0).with_id("mine"),
        )
        .unwrap();
        assert_eq!(fixed.id, "mine");
        assert!(is_uuid(&fixed.uuid()));
        assert_eq!(fixed.uuid(), fixed.uuid());
        // Fixed across builds: a target's score id from another process is the same.
        let known = ScoreRecord::new(ScoreTarget::session("s"), Score::numeric("n", 1.0)).unwrap();
        assert_eq!(known.id, derived_id(&ScoreTarget::session("s"), "n"));
    }
}
