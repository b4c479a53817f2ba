//! [`ChunkAggregator`]: collapses per-chunk spans into the step or generation that streamed them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use aitrace_core::{Processor, SpanId, SpanKind, SpanRecord, Usage, Verdict};
use serde_json::Value;

/// Most parents with chunks waiting for them to close (oldest forgotten first).
const PENDING_PARENTS: usize = 10_000;

#[derive(Debug, Default)]
struct Aggregate {
    count: u64,
    first_start: u64,
    text: String,
    usage: Option<Usage>,
}

#[derive(Debug, Default)]
struct Pending {
    by_parent: HashMap<SpanId, Aggregate>,
    order: VecDeque<SpanId>,
}

/// A streamed answer can produce hundreds of chunk spans; backends bill, store and display each one.
/// This processor drops `ModelChunk` spans and puts on their parent, when it closes:
/// `aitrace.chunks.count`, the time to first token (from the first chunk, if none was recorded), the
/// usage a chunk carried (providers report it on the last chunk) if the parent has none, and, when
/// asked, the concatenated chunk text as the parent's output if it has none.
///
/// On by default in `aitrace::builder()`; `.without_processor("chunk-aggregator")` keeps chunks.
#[derive(Debug, Default)]
pub struct ChunkAggregator {
    collect_text: bool,
    pending: Mutex<Pending>,
    /// `pending.by_parent.len()`, readable without the lock: most spans close with nothing waiting
    /// for them and skip the lock.
    waiting: AtomicUsize,
}

impl ChunkAggregator {
    /// Drops chunks, keeps counts, timing and usage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also concatenates the chunks' text (their output) into the parent's output when it has none.
    pub fn collect_text(mut self, on: bool) -> Self {
        self.collect_text = on;
        self
    }
}

impl Processor for ChunkAggregator {
    fn name(&self) -> &str {
        "chunk-aggregator"
    }

    fn reads_content(&self) -> bool {
        false
    }

    fn process(&self, span: &mut SpanRecord) -> Verdict {
        if span.kind != SpanKind::ModelChunk && self.waiting.load(Ordering::Acquire) == 0 {
            return Verdict::Keep;
        }
        let Ok(mut pending) = self.pending.lock() else {
            return Verdict::Keep;
        };
        if span.kind == SpanKind::ModelChunk {
            let Some(parent) = span.parent_span_id.filter(|_| !span.parent_is_remote) else {
                return Verdict::Keep;
            };
            if !pending.by_parent.contains_key(&parent) {
                pending.order.push_back(parent);
                while pending.order.len() > PENDING_PARENTS {
                    if let Some(old) = pending.order.pop_front() {
                        pending.by_parent.remove(&old);
                    }
                }
            }
            let collect = self.collect_text;
            let agg = pending.by_parent.entry(parent).or_default();
            if agg.count == 0 || span.start_time_unix_nano < agg.first_start {
                agg.first_start = span.start_time_unix_nano;
            }
            agg.count += 1;
            if collect {
                if let Some(Value::String(t)) = &span.output {
                    agg.text.push_str(t);
                }
            }
            if span.usage.is_some() {
                agg.usage = span.usage;
            }
            self.waiting
                .store(pending.by_parent.len(), Ordering::Release);
            return Verdict::Drop;
        }
        if let Some(agg) = pending.by_parent.remove(&span.span_id) {
            pending.order.retain(|id| *id != span.span_id);
            self.waiting
                .store(pending.by_parent.len(), Ordering::Release);
            span.attributes
                .insert("aitrace.chunks.count".into(), Value::from(agg.count));
            if span.time_to_first_token_s.is_none() && agg.first_start >= span.start_time_unix_nano
            {
                span.time_to_first_token_s =
                    Some((agg.first_start - span.start_time_unix_nano) as f64 / 1e9);
            }
            if span.usage.is_none() {
                span.usage = agg.usage;
            }
            if self.collect_text && span.output.is_none() && !agg.text.is_empty() {
                span.output = Some(Value::String(agg.text));
            }
        }
        Verdict::Keep
    }
}
