//! [`Sampler`]: keeps or drops whole traces.
//!
//! The decision is a function of the trace, never of the span, so a trace is kept or dropped whole:
//! a ratio compares the trace id with the ratio the way OpenTelemetry's `TraceIdRatioBased` does, so
//! every service sampling at the same ratio makes the same decision; an incoming `traceparent` whose
//! sampled flag is off drops the trace (its upstream part was not recorded either). Errors can be
//! force-kept: an error span is kept, and so are the spans of its trace that close after it (its
//! ancestors), so the failure shows in context.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use aitrace_core::{ConfigError, Processor, SpanRecord, TraceId, Verdict};

type CustomDecision = Arc<dyn Fn(&SpanRecord) -> bool + Send + Sync>;

/// How traces are chosen.
#[derive(Clone)]
pub enum SamplingStrategy {
    /// Keep every trace.
    Always,
    /// Keep none (errors can still be force-kept).
    Never,
    /// Keep this fraction of traces, decided from the trace id.
    Ratio(f64),
    /// Your decision, made once per trace on the first span of it that closes, then remembered.
    Custom(CustomDecision),
}

impl std::fmt::Debug for SamplingStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SamplingStrategy::Always => f.write_str("Always"),
            SamplingStrategy::Never => f.write_str("Never"),
            SamplingStrategy::Ratio(r) => write!(f, "Ratio({r})"),
            SamplingStrategy::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Traces remembered for custom decisions and force-kept errors (oldest forgotten first).
const REMEMBERED: usize = 10_000;

#[derive(Default, Debug)]
struct Memory {
    decided: HashMap<TraceId, bool>,
    forced: HashSet<TraceId>,
    order: VecDeque<TraceId>,
}

impl Memory {
    fn remember(&mut self, trace: TraceId) {
        self.order.push_back(trace);
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.decided.remove(&old);
                self.forced.remove(&old);
            }
        }
    }
}

/// Keeps or drops whole traces; see the module docs.
///
/// ```
/// use aitrace_filters::Sampler;
/// let keep_a_tenth = Sampler::ratio(0.1).unwrap().keep_errors(true);
/// let only_paid = Sampler::custom(|span| span.metadata.get("plan").and_then(|p| p.as_str()) == Some("paid"));
/// # let _ = (keep_a_tenth, only_paid);
/// ```
#[derive(Debug)]
pub struct Sampler {
    strategy: SamplingStrategy,
    keep_errors: bool,
    honor_remote: bool,
    memory: Mutex<Memory>,
}

impl Sampler {
    fn new(strategy: SamplingStrategy) -> Self {
        Sampler {
            strategy,
            keep_errors: true,
            honor_remote: true,
            memory: Mutex::new(Memory::default()),
        }
    }
    /// Keep everything.
    pub fn always() -> Self {
        Self::new(SamplingStrategy::Always)
    }
    /// Keep nothing but (by default) errors.
    pub fn never() -> Self {
        Self::new(SamplingStrategy::Never)
    }
    /// Keep `ratio` of the traces (0.0 to 1.0); anything else is an error.
    pub fn ratio(ratio: f64) -> Result<Self, ConfigError> {
        if !(0.0..=1.0).contains(&ratio) || ratio.is_nan() {
            return Err(ConfigError::new(
                "sampling ratio",
                format!("must be between 0 and 1, got {ratio}"),
            ));
        }
        Ok(Self::new(SamplingStrategy::Ratio(ratio)))
    }
    /// Your own decision per trace.
    pub fn custom(decide: impl Fn(&SpanRecord) -> bool + Send + Sync + 'static) -> Self {
        Self::new(SamplingStrategy::Custom(Arc::new(decide)))
    }
    /// Keep error spans (and the rest of their trace that closes after them) whatever the decision
    /// (default true).
    pub fn keep_errors(mut self, on: bool) -> Self {
        self.keep_errors = on;
        self
    }
    /// Drop traces whose incoming `traceparent` was not sampled upstream (default true).
    pub fn honor_traceparent(mut self, on: bool) -> Self {
        self.honor_remote = on;
        self
    }

    /// The trace-id decision of a ratio: the low 63 bits of the trace id against ratio × 2^63, as in
    /// OpenTelemetry's `TraceIdRatioBased`.
    pub fn ratio_keeps(ratio: f64, trace: TraceId) -> bool {
        if ratio >= 1.0 {
            return true;
        }
        let bound = (ratio * (1u64 << 63) as f64) as u64;
        let low = (trace.to_u128() as u64) >> 1;
        low < bound
    }

    fn decide(&self, span: &SpanRecord, memory: &mut Memory) -> bool {
        if self.honor_remote && span.remote_sampled == Some(false) {
            return false;
        }
        match &self.strategy {
            SamplingStrategy::Always => true,
            SamplingStrategy::Never => false,
            SamplingStrategy::Ratio(r) => Self::ratio_keeps(*r, span.trace_id),
            SamplingStrategy::Custom(decide) => {
                if let Some(d) = memory.decided.get(&span.trace_id) {
                    return *d;
                }
                let d = decide(span);
                memory.decided.insert(span.trace_id, d);
                memory.remember(span.trace_id);
                d
            }
        }
    }
}

impl Processor for Sampler {
    fn name(&self) -> &str {
        "sampler"
    }

    /// Only a custom decision may look at content.
    fn reads_content(&self) -> bool {
        matches!(self.strategy, SamplingStrategy::Custom(_))
    }

    fn process(&self, span: &mut SpanRecord) -> Verdict {
        if matches!(self.strategy, SamplingStrategy::Always) && !self.honor_remote {
            return Verdict::Keep;
        }
        let Ok(mut memory) = self.memory.lock() else {
            return Verdict::Keep;
        };
        if self.keep_errors {
            if memory.forced.contains(&span.trace_id) {
                return Verdict::Keep;
            }
            if span.status.is_error() {
                if !self.decide(span, &mut memory) {
                    memory.forced.insert(span.trace_id);
                    memory.remember(span.trace_id);
                }
                return Verdict::Keep;
            }
        }
        if self.decide(span, &mut memory) {
            Verdict::Keep
        } else {
            Verdict::Drop
        }
    }

    /// A score follows its trace: about a trace this sampler drops, it is dropped too (a backend
    /// would hold a score for a trace it never receives). Scores about sessions, and about traces
    /// it has not decided (a custom decision not yet taken, here), are kept.
    fn process_score(&self, score: &mut aitrace_core::ScoreRecord) -> Verdict {
        let Some(trace) = score.target.trace_id() else {
            return Verdict::Keep;
        };
        let Ok(memory) = self.memory.lock() else {
            return Verdict::Keep;
        };
        if memory.forced.contains(&trace) {
            return Verdict::Keep;
        }
        let keep = match &self.strategy {
            SamplingStrategy::Always => true,
            SamplingStrategy::Never => false,
            SamplingStrategy::Ratio(r) => Self::ratio_keeps(*r, trace),
            SamplingStrategy::Custom(_) => memory.decided.get(&trace).copied().unwrap_or(true),
        };
        if keep {
            Verdict::Keep
        } else {
            Verdict::Drop
        }
    }
}
