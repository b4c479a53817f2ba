//! [`TraceAssembler`]: regroups the spans of a trace for exporters that need whole traces (the
//! console tree, trace-level names/users in vendor payloads), with bounded memory.
//!
//! Spans arrive in close order: children first, the local root last. A trace is released when its
//! local root arrives (for a trace that runs inside a request, the request's record, which closes
//! after every AI span of it: several top-level AI spans are one trace); traces whose root never comes (it is still running, or was dropped) are released
//! incomplete after `max_age` or when more than `max_traces` are pending (oldest first).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ids::{SpanId, TraceId};
use crate::record::SpanRecord;

/// What the assembler releases: one trace's spans, whole or not.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssembledTrace {
    /// In arrival order.
    pub(crate) spans: Vec<SpanRecord>,
    /// False when released before its root arrived.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) complete: bool,
}

/// The spans of one trace within a batch, borrowed, with their positions in the batch: how
/// exporters see traces ([`trace_views`]).
#[derive(Debug, Clone)]
pub struct Trace<'a> {
    /// The trace these spans belong to.
    pub trace_id: TraceId,
    /// Its spans, in the order they closed.
    pub spans: Vec<&'a SpanRecord>,
    /// `indices[i]` is the batch position of `spans[i]`.
    pub indices: Vec<usize>,
}

impl<'a> Trace<'a> {
    /// The local root span, if it is in the batch.
    pub fn root(&self) -> Option<&'a SpanRecord> {
        self.spans.iter().copied().find(|s| s.is_local_root())
    }

    /// The tags of every span of the trace, merged without duplicates: the root's first, then the
    /// others in the order their spans closed. For backends with trace-level tags.
    pub fn merged_tags(&self) -> Vec<String> {
        merge_tags(self.spans.iter().copied())
    }

    /// Whether the local root is here: the trace is whole (an exporter that asks for whole traces
    /// gets a trace without its root only when it was released incomplete).
    pub fn is_complete(&self) -> bool {
        self.root().is_some()
    }

    /// Spans whose parent is `parent` (or, for `None`, the spans with no parent in this trace),
    /// by start time. A span whose remote parent is in the view (an MCP server's span beside its
    /// client's) nests under it.
    pub fn children_of(&self, parent: Option<SpanId>) -> Vec<&'a SpanRecord> {
        let ids: std::collections::HashSet<SpanId> = self.spans.iter().map(|s| s.span_id).collect();
        let mut out: Vec<&'a SpanRecord> = self
            .spans
            .iter()
            .copied()
            .filter(|s| match parent {
                Some(p) => s.parent_span_id == Some(p),
                None => s.parent_span_id.is_none_or(|p| !ids.contains(&p)),
            })
            .collect();
        out.sort_by_key(|s| (s.start_time_unix_nano, s.span_id));
        out
    }
}

fn merge_tags<'a>(spans: impl Iterator<Item = &'a SpanRecord> + Clone) -> Vec<String> {
    let root = spans.clone().filter(|s| s.is_local_root());
    let rest = spans.filter(|s| !s.is_local_root());
    let mut tags: Vec<String> = Vec::new();
    for t in root.chain(rest).flat_map(|s| s.tags.iter()) {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    tags
}

/// Groups a batch by trace in one pass (traces in order of first appearance), without copying.
pub fn trace_views(batch: &[SpanRecord]) -> Vec<Trace<'_>> {
    let mut position: HashMap<TraceId, usize> = HashMap::new();
    let mut views: Vec<Trace<'_>> = Vec::new();
    for (i, span) in batch.iter().enumerate() {
        let at = *position.entry(span.trace_id).or_insert_with(|| {
            views.push(Trace {
                trace_id: span.trace_id,
                spans: Vec::new(),
                indices: Vec::new(),
            });
            views.len() - 1
        });
        views[at].spans.push(span);
        views[at].indices.push(i);
    }
    views
}

struct Pending {
    spans: Vec<SpanRecord>,
    since: Instant,
}

/// Groups spans by trace until each trace's local root arrives.
pub(crate) struct TraceAssembler {
    pending: HashMap<TraceId, Pending>,
    pending_spans: usize,
    max_traces: usize,
    max_spans_per_trace: usize,
    max_age: Duration,
}

impl std::fmt::Debug for TraceAssembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceAssembler")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Default for TraceAssembler {
    /// 1000 pending traces, 10 000 spans per trace, 60 s.
    fn default() -> Self {
        TraceAssembler::new(1000, 10_000, Duration::from_secs(60))
    }
}

impl TraceAssembler {
    /// An assembler holding at most `max_traces` pending traces of at most `max_spans_per_trace`
    /// spans, each for at most `max_age`.
    pub(crate) fn new(max_traces: usize, max_spans_per_trace: usize, max_age: Duration) -> Self {
        TraceAssembler {
            pending: HashMap::new(),
            pending_spans: 0,
            max_traces: max_traces.max(1),
            max_spans_per_trace: max_spans_per_trace.max(1),
            max_age,
        }
    }

    /// Number of traces waiting for their root.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether spans of `trace_id` are held, waiting for their root.
    pub(crate) fn holds(&self, trace_id: TraceId) -> bool {
        self.pending.contains_key(&trace_id)
    }

    /// Number of spans held, across all pending traces.
    pub(crate) fn pending_spans(&self) -> usize {
        self.pending_spans
    }

    fn release(&mut self, trace_id: TraceId, complete: bool) -> Option<AssembledTrace> {
        let p = self.pending.remove(&trace_id)?;
        self.pending_spans -= p.spans.len();
        Some(AssembledTrace {
            spans: p.spans,
            complete,
        })
    }

    /// Adds spans; returns every trace that is now complete, expired or evicted.
    pub(crate) fn push(
        &mut self,
        spans: impl IntoIterator<Item = SpanRecord>,
    ) -> Vec<AssembledTrace> {
        let mut out = Vec::new();
        for span in spans {
            let trace_id = span.trace_id;
            let is_root = span.ends_its_trace();
            let entry = self.pending.entry(trace_id).or_insert_with(|| Pending {
                spans: Vec::new(),
                since: Instant::now(),
            });
            entry.spans.push(span);
            let full = entry.spans.len() >= self.max_spans_per_trace;
            self.pending_spans += 1;
            if is_root || full {
                out.extend(self.release(trace_id, is_root));
            }
        }
        out.extend(self.expire());
        while self.pending.len() > self.max_traces {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.since)
                .map(|(id, _)| *id);
            match oldest.and_then(|id| self.release(id, false)) {
                Some(trace) => out.push(trace),
                None => break,
            }
        }
        out
    }

    /// Releases the traces that waited longer than `max_age`.
    pub(crate) fn expire(&mut self) -> Vec<AssembledTrace> {
        let expired: Vec<TraceId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.since.elapsed() >= self.max_age)
            .map(|(id, _)| *id)
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.release(id, false))
            .collect()
    }

    /// Releases everything (at flush and shutdown).
    pub(crate) fn drain(&mut self) -> Vec<AssembledTrace> {
        self.pending_spans = 0;
        let mut out: Vec<AssembledTrace> = self
            .pending
            .drain()
            .map(|(_, p)| AssembledTrace {
                spans: p.spans,
                complete: false,
            })
            .collect();
        out.sort_by_key(|t| t.spans.iter().map(|s| s.start_time_unix_nano).min());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SpanKind;

    fn child_of(parent: &SpanRecord, name: &str) -> SpanRecord {
        let mut s = SpanRecord::new(name, SpanKind::Generic);
        s.trace_id = parent.trace_id;
        s.parent_span_id = Some(parent.span_id);
        s
    }

    #[test]
    fn releases_a_trace_when_its_root_arrives() {
        let root = SpanRecord::new("root", SpanKind::AgentRun);
        let a = child_of(&root, "a");
        let b = child_of(&a, "b");
        let mut asm = TraceAssembler::default();
        assert!(asm.push([b.clone(), a.clone()]).is_empty());
        let done = asm.push([root.clone()]);
        assert_eq!(done.len(), 1);
        assert!(done[0].complete);
        // As an exporter sees it.
        let spans = done[0].spans.clone();
        let view = &trace_views(&spans)[0];
        assert!(view.is_complete());
        assert_eq!(view.root().unwrap().name, "root");
        assert_eq!(view.children_of(Some(root.span_id))[0].name, "a");
        assert_eq!(view.children_of(Some(a.span_id))[0].name, "b");
        assert_eq!(asm.pending(), 0);
    }

    #[test]
    fn memory_stays_bounded_without_roots() {
        let mut asm = TraceAssembler::new(3, 2, Duration::from_secs(3600));
        let mut released = 0;
        for _ in 0..10 {
            let root = SpanRecord::new("r", SpanKind::Generic);
            released += asm.push([child_of(&root, "orphan")]).len();
        }
        assert_eq!(asm.pending(), 3);
        assert_eq!(asm.pending_spans(), 3);
        assert_eq!(released, 7);
        // A trace never holds more than max_spans_per_trace.
        let root = SpanRecord::new("r", SpanKind::Generic);
        let out = asm.push([child_of(&root, "x"), child_of(&root, "y")]);
        assert!(out
            .iter()
            .any(|t| t.spans[0].trace_id == root.trace_id && !t.complete && t.spans.len() == 2));
        assert_eq!(asm.drain().len(), 3);
    }
}
