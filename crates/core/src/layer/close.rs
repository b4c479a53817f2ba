//! What the layer settles when a span starts and closes: values inherited from the spans above it,
//! usage and first-token times handed up from chunks and steps, and which span is billed.

use serde_json::{Map, Value};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::state::{SpanState, TraceScope};
use crate::fields::is_ai_callsite;
use crate::record::{SpanKind, SpanRecord, Usage};

/// Evaluation spans open now, in every layer: while there are none, walks up a span's ancestors
/// skip the check for an evaluation's boundary.
pub(super) static OPEN_EVALUATIONS: AtomicUsize = AtomicUsize::new(0);

/// Whether `r` is the root of an evaluation's own trace (a `scorer_span!`).
pub(crate) fn is_evaluation_root(r: &SpanRecord) -> bool {
    r.kind == SpanKind::Evaluation && r.parent_span_id.is_none()
}

/// The ancestors of `span` that belong to its trace, nearest first. An evaluation runs as a trace of
/// its own under whatever span started it (often the very request it judges): the walk ends at the
/// evaluation's root, so nothing is inherited from, billed to or rolled up into the judged trace.
pub(super) fn trace_ancestors<'a, S>(
    own_is_evaluation_root: bool,
    span: &SpanRef<'a, S>,
) -> impl Iterator<Item = SpanRef<'a, S>>
where
    S: for<'b> LookupSpan<'b>,
{
    let check = OPEN_EVALUATIONS.load(Relaxed) > 0;
    let mut done = check && own_is_evaluation_root;
    span.scope().skip(1).take_while(move |a| {
        if done {
            return false;
        }
        if check
            && a.extensions()
                .get::<SpanState>()
                .is_some_and(|s| is_evaluation_root(&s.record))
        {
            done = true;
        }
        true
    })
}

/// Fills in what the span's ancestors say about it, when it starts and again when it closes (the
/// latest values win; at start, so nothing is lost if an ancestor closes first):
///
/// - parent ids are read again (a `traceparent` or another layer may have changed them since the
///   span was created);
/// - agent, session, user and the remote sampled flag flow down from the nearest ancestor that has
///   them to spans that don't name their own, so every chat span an agent makes says which agent,
///   conversation and user it belongs to;
/// - what belongs to the whole trace reaches every span, however late the root closes: tags (merged),
///   the trace's metadata (the top-level AI span's metadata and the request span's), and its name;
/// - what the application set on its own spans (user, session, tags, metadata, trace name) reaches
///   every AI span below them, the span's own values first.
pub(super) fn inherit_from_ancestors<S>(
    state: &mut SpanState,
    span: &SpanRef<'_, S>,
    at_close: bool,
) where
    S: for<'a> LookupSpan<'a>,
{
    let ancestors = trace_ancestors(is_evaluation_root(&state.record), span);
    let r = &mut state.record;
    let mut first_ai = true;
    let mut explicit_seen = false;
    // Inside an evaluation, the application spans above belong to the judged trace.
    let mut in_evaluation = false;
    // The trace's metadata, nearest first (a key found first wins).
    let mut trace_metadata = Map::new();
    let add_all = |into: &mut Map<String, Value>, from: &Map<String, Value>| {
        for (k, v) in from {
            if !into.contains_key(k) {
                into.insert(k.clone(), v.clone());
            }
        }
    };
    // What the outermost AI ancestor ran (the trace's name when nothing else names it).
    let mut top_ai: Option<String> = None;
    let mut has_ancestors = false;
    for ancestor in ancestors {
        has_ancestors = true;
        let ext = ancestor.extensions();
        if let Some(p) = ext.get::<SpanState>() {
            in_evaluation |= is_evaluation_root(&p.record);
            if first_ai {
                first_ai = false;
                if !state.ids_adopted || r.trace_id == p.record.trace_id {
                    r.trace_id = p.record.trace_id;
                    r.parent_span_id = Some(p.record.span_id);
                    r.parent_is_remote = false;
                }
            }
            if r.kind != SpanKind::AgentRun && r.agent.is_none() {
                r.agent.clone_from(&p.record.agent);
            }
            inherit_value(&mut r.session_id, &p.record.session_id);
            inherit_value(&mut r.user_id, &p.record.user_id);
            inherit_value(&mut r.trace_name, &p.record.trace_name);
            if r.remote_sampled.is_none() {
                r.remote_sampled = p.record.remote_sampled;
            }
            merge_tags(&mut r.tags, &p.record.tags);
            if p.record.is_local_root() {
                add_all(&mut trace_metadata, &p.record.metadata);
            }
            add_all(&mut trace_metadata, &p.record.trace_metadata);
            if r.trace_name.is_none() {
                top_ai = Some(root_name(&p.record, ancestor.metadata().name()));
            }
        } else if let Some(scope) = ext.get::<TraceScope>() {
            inherit_value(&mut r.session_id, &scope.session_id);
            inherit_value(&mut r.user_id, &scope.user_id);
            inherit_value(&mut r.trace_name, &scope.trace_name);
            merge_tags(&mut r.tags, &scope.tags);
            add_all(&mut r.metadata, &scope.metadata);
            add_all(&mut trace_metadata, &scope.metadata);
            if r.remote_sampled.is_none() {
                r.remote_sampled = scope.remote_sampled;
            }
            if first_ai && !explicit_seen && scope.explicit {
                explicit_seen = true;
                // A top-level span: a traceparent set on its request after it was created.
                if let (false, Some(trace_id)) = (state.ids_adopted, scope.trace_id) {
                    r.trace_id = trace_id;
                    r.parent_span_id = scope.remote_parent;
                    r.parent_is_remote = scope.remote_parent.is_some();
                }
            }
        }
    }
    if first_ai && !r.metadata.is_empty() {
        // The top-level AI span: its own metadata is the trace's, before the request's.
        let mut own = r.metadata.clone();
        add_all(&mut own, &trace_metadata);
        trace_metadata = own;
    }
    // Fresh values win over those seen at start; those seen at start stay if an ancestor is gone.
    if !r.trace_metadata.is_empty() {
        add_all(&mut trace_metadata, &r.trace_metadata);
    }
    r.trace_metadata = trace_metadata;
    if r.trace_name.is_none() {
        let default = (has_ancestors && !in_evaluation)
            .then(|| request_name(span))
            .flatten()
            .map(str::to_string)
            .or(top_ai)
            // A span at the top names its trace itself; at start that waits for its close.
            .or_else(|| (first_ai && at_close).then(|| root_name(r, span.metadata().name())))
            .or_else(|| state.default_trace_name.take());
        if at_close {
            r.trace_name = default;
        } else {
            state.default_trace_name = default;
        }
    }
}

pub(super) fn merge_tags(into: &mut Vec<String>, from: &[String]) {
    for tag in from {
        if !into.contains(tag) {
            into.push(tag.clone());
        }
    }
}

/// Streamed chunks and the call they belong to, decided when each closes (before billing, so the
/// usage a provider reports only on the last chunk is billed): a chunk hands its usage (merged,
/// the later numbers win, as providers report running totals) and its start to the nearest model
/// step or billable span above it; that span, if it records no usage or time to first token of its
/// own, takes them.
pub(super) fn take_chunks<S>(state: &mut SpanState, span: &SpanRef<'_, S>)
where
    S: for<'a> LookupSpan<'a>,
{
    let r = &mut state.record;
    if r.kind == SpanKind::ModelChunk {
        for ancestor in trace_ancestors(false, span) {
            let mut ext = ancestor.extensions_mut();
            let Some(p) = ext.get_mut::<SpanState>() else {
                continue;
            };
            if p.record.kind != SpanKind::ModelStep && !p.record.kind.is_billable_kind() {
                continue;
            }
            if let Some(u) = &r.usage {
                let merged = p.chunk_usage.get_or_insert_with(Usage::default);
                merged.merge_from(u);
            }
            let start = r.start_time_unix_nano;
            p.first_chunk_at = Some(p.first_chunk_at.map_or(start, |t| t.min(start)));
            return;
        }
        return;
    }
    if r.usage.is_none() {
        r.usage = state.chunk_usage.take();
    }
    if let (None, Some(at)) = (r.time_to_first_token_s, state.first_chunk_at) {
        r.time_to_first_token_s = Some(at.saturating_sub(r.start_time_unix_nano) as f64 / 1e9);
    }
}

/// A billable span with no time to first token of its own takes it from its first model step: the
/// first token of the call arrived when its first step's did, measured from the span's own start.
pub(super) fn roll_up_first_token<S>(state: &mut SpanState, span: &SpanRef<'_, S>)
where
    S: for<'a> LookupSpan<'a>,
{
    let r = &mut state.record;
    if r.kind.is_billable_kind() && r.time_to_first_token_s.is_none() {
        if let Some((_, at)) = state.first_token_at {
            let waited = at.saturating_sub(r.start_time_unix_nano);
            r.time_to_first_token_s = Some(waited as f64 / 1e9);
        }
    }
    let Some(ttft) = r
        .time_to_first_token_s
        .filter(|t| r.kind == SpanKind::ModelStep && t.is_finite() && *t >= 0.0)
    else {
        return;
    };
    let at = r.start_time_unix_nano.saturating_add((ttft * 1e9) as u64);
    for ancestor in trace_ancestors(is_evaluation_root(r), span) {
        let mut ext = ancestor.extensions_mut();
        if let Some(p) = ext.get_mut::<SpanState>() {
            if p.record.kind.is_billable_kind() {
                let step = (r.start_time_unix_nano, at);
                if p.first_token_at.is_none_or(|(start, _)| step.0 < start) {
                    p.first_token_at = Some(step);
                }
                return;
            }
        }
    }
}

/// The name of the application span a trace runs in: among the application spans above the
/// outermost AI span, the nearest one that starts a trace explicitly, else the outermost. `None` when
/// an AI span is at the top (it names its own trace).
pub(super) fn request_name<S>(span: &SpanRef<'_, S>) -> Option<&'static str>
where
    S: for<'a> LookupSpan<'a>,
{
    let mut name = None;
    for s in span.scope().from_root() {
        if is_ai_callsite(s.metadata().fields()) {
            break;
        }
        let explicit = s
            .extensions()
            .get::<TraceScope>()
            .is_some_and(|scope| scope.explicit);
        if name.is_none() || explicit {
            name = Some(s.name());
        }
    }
    name
}

/// What a trace rooted at this span is named after, when nothing named the trace: the name the user
/// gave the span (`aitrace.name`, `otel.name`: it differs from the callsite's), else what it ran
/// ([`SpanRecord::what_ran`]: the agent's or workflow's name, else the generated display name).
/// Langfuse's SDKs name a trace after its root observation the same way.
fn root_name(r: &crate::record::SpanRecord, callsite_name: &str) -> String {
    if !r.name.is_empty() && r.name != callsite_name {
        r.name.clone()
    } else {
        r.what_ran()
    }
}

pub(super) fn inherit_value(mine: &mut Option<String>, theirs: &Option<String>) {
    if mine.is_none() {
        mine.clone_from(theirs);
    }
}

/// The usage invariant: a model call's usage is billed on exactly one span.
///
/// - A billable-kind span (generation, embedding, STT, TTS) is billable unless a billable span with
///   usage closed below it (then that inner span is the model call, and this one only displays usage).
/// - A billable span that records no usage itself bills the sum of its model steps' usage.
/// - A model step is billable only when no billable-kind span encloses it (it is then the only record
///   of the call); otherwise its usage is displayed and rolled up into that span.
/// - Chunks, fallback attempts and every other kind are never billable.
pub(super) fn decide_billing<S>(state: &mut SpanState, span: &SpanRef<'_, S>)
where
    S: for<'a> LookupSpan<'a>,
{
    let kind = state.record.kind;
    let eval_root = is_evaluation_root(&state.record);
    let r = &mut state.record;
    let billable_ancestor = || {
        trace_ancestors(eval_root, span).find(|a| {
            a.extensions()
                .get::<SpanState>()
                .is_some_and(|s| s.record.kind.is_billable_kind())
        })
    };
    if kind.is_billable_kind() {
        r.billable = !state.has_billable_descendant;
        if r.billable && r.usage.is_none() {
            r.usage = state.step_usage.take();
        }
    } else if kind == SpanKind::ModelStep && r.usage.is_some() && !state.has_billable_descendant {
        match billable_ancestor() {
            Some(a) => {
                if let Some(s) = a.extensions_mut().get_mut::<SpanState>() {
                    let usage = r.usage.unwrap_or_default();
                    s.step_usage = Some(s.step_usage.map_or(usage, |u| u.add(&usage)));
                }
            }
            None => r.billable = true,
        }
    } else {
        r.billable = false;
    }
    if (r.billable && r.usage.is_some()) || state.has_billable_descendant {
        for a in trace_ancestors(eval_root, span) {
            if let Some(s) = a.extensions_mut().get_mut::<SpanState>() {
                s.has_billable_descendant = true;
            }
        }
    }
}

/// A tool span that closes without an error returned: its status is ok, as a chat's is when its
/// answer arrives. One closed while its thread unwinds panicked.
pub(super) fn settle_tool_status(r: &mut crate::record::SpanRecord) {
    use crate::record::Status;
    if !matches!(r.kind, SpanKind::ToolCall | SpanKind::McpToolCall) || r.status != Status::Unset {
        return;
    }
    r.status = if std::thread::panicking() {
        Status::Error {
            message: "the tool panicked".to_string(),
            error_type: Some("panic".to_string()),
        }
    } else {
        Status::Ok
    };
}
