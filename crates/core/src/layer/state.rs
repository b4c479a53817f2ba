//! What the layer keeps on each span while it is open, and how a span finds its parent and trace.

use serde_json::{Map, Value};
use tracing_core::span::Id;
use tracing_core::{Dispatch, Subscriber};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::fields::Filing;
use crate::ids::{SpanId, TraceId};
use crate::record::{SpanRecord, Usage};

/// What the layer keeps in each AI span's extensions while it is open.
pub(crate) struct SpanState {
    /// On the heap from the span's start to its export: the record (~1.8 KB) moves between the
    /// span's extensions, the close path and the exporters' queues as one pointer.
    pub(crate) record: Box<SpanRecord>,
    pub(crate) explicit_kind: bool,
    /// A billable span with usage closed below this one: this one must not bill the same call again.
    pub(super) has_billable_descendant: bool,
    /// Usage of model steps below this span, billed here if the span records no usage itself.
    pub(super) step_usage: Option<Usage>,
    /// Ids set from a `traceparent` or another layer: the parent must not overwrite them.
    pub(crate) ids_adopted: bool,
    /// The trace's name as known when the span started, used at close if its ancestors are gone.
    pub(super) default_trace_name: Option<String>,
    /// The start of the first model step below and when its first token arrived (Unix ns): a
    /// billable span without a time to first token of its own takes it from its first step.
    pub(super) first_token_at: Option<(u64, u64)>,
    /// Usage the streamed chunks below reported (providers send it on the last chunk): the call's
    /// usage when this span records none itself.
    pub(super) chunk_usage: Option<Usage>,
    /// When the first chunk below started (Unix ns): the time to first token when none was recorded.
    pub(super) first_chunk_at: Option<u64>,
    /// Set by `AiSpanExt::hide_input` / `hide_output`: that content is removed when the span closes,
    /// whenever it was recorded.
    pub(crate) hide_input: bool,
    pub(crate) hide_output: bool,
}

impl SpanState {
    pub(crate) fn filing(&mut self) -> Filing<'_> {
        Filing {
            record: &mut self.record,
            explicit_kind: &mut self.explicit_kind,
        }
    }
}

/// What belongs to the whole trace, kept on an application (non-AI) span: set through
/// [`AiSpanExt`](crate::AiSpanExt) on a request span, or the trace id its first AI span assigned.
/// Every AI span below it carries these values.
#[derive(Debug, Default)]
pub(crate) struct TraceScope {
    /// The trace of the AI spans below: explicit (a `traceparent`, `set_trace_id`) or assigned.
    pub(crate) trace_id: Option<TraceId>,
    /// Set by a `traceparent` or `set_trace_id`: a trace starts here even under other spans.
    pub(crate) explicit: bool,
    /// The remote parent of a `traceparent`: the parent of the trace's top-level AI spans.
    pub(crate) remote_parent: Option<SpanId>,
    pub(crate) remote_sampled: Option<bool>,
    pub(crate) user_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) trace_name: Option<String>,
    /// The span id of this span's request record, assigned when the first AI span joins the trace
    /// here: the record is sent when the span closes.
    pub(crate) request_span_id: Option<SpanId>,
    /// When the span started and the fields it was created with: kept for the callsites whose spans
    /// are requests (a web framework's, or one already seen holding AI spans).
    pub(crate) capture: Option<Box<RequestCapture>>,
    /// The start of the first AI span that joined, for a request whose start was not captured.
    pub(crate) first_ai_start: u64,
    /// Another layer (tracing-opentelemetry) exports this span: no request record of aitrace's.
    pub(crate) exported_elsewhere: bool,
    /// What the top-level AI spans that closed said about the whole trace, for the request record.
    pub(crate) from_ai_spans: Option<Box<TraceValues>>,
}

/// The trace-level values of the AI spans of a request (the first one's user, session and name;
/// every tag and trace metadata entry).
#[derive(Debug, Default)]
pub(crate) struct TraceValues {
    pub(crate) user_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) trace_name: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) trace_metadata: Map<String, Value>,
}

impl TraceScope {
    /// What the request records of itself, made when first needed (a field recorded later, the
    /// status of its response) for a request whose creation was not captured: it then starts at its
    /// first AI span.
    pub(crate) fn capture_mut(&mut self) -> &mut RequestCapture {
        let start = self.first_ai_start;
        self.capture.get_or_insert_with(|| {
            Box::new(RequestCapture {
                start_time_unix_nano: start,
                fields: Map::new(),
            })
        })
    }
}

/// What a request span was created with.
#[derive(Debug, Default)]
pub(crate) struct RequestCapture {
    pub(crate) start_time_unix_nano: u64,
    pub(crate) fields: Map<String, Value>,
}

/// Where a top-level AI span's trace comes from.
pub(crate) struct TraceOrigin {
    pub(crate) trace_id: TraceId,
    pub(crate) remote_parent: Option<SpanId>,
    pub(crate) explicit: bool,
    /// The request record the span runs in.
    pub(crate) request_span_id: SpanId,
    /// Set when this span is the first AI span of that request: the request span's id, which the
    /// layer then watches for its close.
    pub(crate) newly_joined: Option<Id>,
}

/// Lets [`AiSpanExt`](crate::AiSpanExt) reach the state of a span through a type-erased `Dispatch`,
/// the same pattern `tracing-opentelemetry` uses: the layer hands out function pointers monomorphized
/// for its subscriber type.
#[derive(Clone, Copy)]
pub(crate) struct StateAccess {
    pub(super) walk: WalkFn,
    pub(super) scope: ScopeFn,
    pub(super) origin: OriginFn,
}

/// `f(state, is_self)`: `is_self` is true for the span the walk started at.
pub(super) type WalkFn =
    fn(&Dispatch, &Id, bool, &mut dyn FnMut(&mut SpanState, bool) -> bool) -> bool;
pub(super) type ScopeFn = fn(&Dispatch, &Id, &mut dyn FnMut(&mut TraceScope)) -> bool;
pub(super) type OriginFn = fn(&Dispatch, &Id) -> Option<TraceId>;

impl StateAccess {
    /// Calls `f` on the state of span `id`, then (when `ancestors`) on each enclosing AI span, nearest
    /// first, while `f` returns true. Returns whether `f` was called at all.
    pub(crate) fn walk(
        &self,
        dispatch: &Dispatch,
        id: &Id,
        ancestors: bool,
        f: &mut dyn FnMut(&mut SpanState, bool) -> bool,
    ) -> bool {
        (self.walk)(dispatch, id, ancestors, f)
    }

    /// Calls `f` on the trace scope of application span `id` (created when missing). False when `id`
    /// is an AI span or unknown.
    pub(crate) fn scope(
        &self,
        dispatch: &Dispatch,
        id: &Id,
        f: &mut dyn FnMut(&mut TraceScope),
    ) -> bool {
        (self.scope)(dispatch, id, f)
    }

    /// The trace id AI spans created under application span `id` will have.
    pub(crate) fn trace_of_app_span(&self, dispatch: &Dispatch, id: &Id) -> Option<TraceId> {
        (self.origin)(dispatch, id)
    }
}

pub(super) fn walk<S>(
    dispatch: &Dispatch,
    id: &Id,
    ancestors: bool,
    f: &mut dyn FnMut(&mut SpanState, bool) -> bool,
) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(subscriber) = dispatch.downcast_ref::<S>() else {
        return false;
    };
    let mut called = false;
    let mut span = subscriber.span(id);
    let mut is_self = true;
    while let Some(s) = span {
        if let Some(state) = s.extensions_mut().get_mut::<SpanState>() {
            called = true;
            // An evaluation's trace ends at its root: nothing above it is the evaluation's.
            if !f(state, is_self) || super::close::is_evaluation_root(&state.record) {
                break;
            }
        }
        is_self = false;
        if !ancestors {
            break;
        }
        span = s.parent();
    }
    called
}

pub(super) fn scope<S>(dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut TraceScope)) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = dispatch.downcast_ref::<S>().and_then(|s| s.span(id)) else {
        return false;
    };
    let mut ext = span.extensions_mut();
    if ext.get_mut::<SpanState>().is_some() {
        return false;
    }
    if ext.get_mut::<TraceScope>().is_none() {
        ext.insert(TraceScope::default());
    }
    if let Some(scope) = ext.get_mut::<TraceScope>() {
        f(scope);
    }
    true
}

pub(super) fn origin<S>(dispatch: &Dispatch, id: &Id) -> Option<TraceId>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = dispatch.downcast_ref::<S>()?.span(id)?;
    if let Some(state) = span.extensions().get::<SpanState>() {
        return Some(state.record.trace_id);
    }
    match resolve_parent(&span, true, JoinAs::Look) {
        Parent::Ai { trace_id, .. } => Some(trace_id),
        Parent::App(origin) => Some(origin.trace_id),
        Parent::None => None,
    }
}

/// What a new AI span hangs under.
pub(super) enum Parent {
    /// Its nearest AI ancestor.
    Ai { trace_id: TraceId, span_id: SpanId },
    /// No AI ancestor, but application spans: the trace of the request they form.
    App(TraceOrigin),
    /// Nothing: it starts a trace of its own.
    None,
}

/// Finds what the span `from` (and its ancestors when `include_self`, else only its ancestors) puts
/// a new AI span under: the nearest AI ancestor; else the nearest application span that starts a
/// trace explicitly (`traceparent`, `set_trace_id`); else the outermost application span, whose trace
/// id is assigned here on first use, so every AI span of one request shares it.
pub(super) fn resolve_parent<S>(
    from: &SpanRef<'_, S>,
    include_self: bool,
    join_as: JoinAs,
) -> Parent
where
    S: for<'a> LookupSpan<'a>,
{
    let mut outermost = None;
    let skip = usize::from(!include_self);
    for ancestor in from.scope().skip(skip) {
        let explicit = {
            let ext = ancestor.extensions();
            if let Some(p) = ext.get::<SpanState>() {
                return Parent::Ai {
                    trace_id: p.record.trace_id,
                    span_id: p.record.span_id,
                };
            }
            ext.get::<TraceScope>()
                .is_some_and(|scope| scope.explicit && scope.trace_id.is_some())
        };
        if explicit {
            return Parent::App(join(&ancestor, join_as));
        }
        outermost = Some(ancestor);
    }
    match outermost {
        Some(root) => Parent::App(join(&root, join_as)),
        None => Parent::None,
    }
}

/// Whether [`resolve_parent`] is asked for an AI span being created (which joins the request) or
/// only looks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinAs {
    /// An AI span starting at `start` (Unix ns) joins the request.
    Span { start: u64 },
    /// Nothing joins: the trace id is still assigned, so later spans agree with it.
    Look,
}

/// The trace an AI span joins at the request span `root` (assigning its trace id on first use).
fn join<S>(root: &SpanRef<'_, S>, join_as: JoinAs) -> TraceOrigin
where
    S: for<'a> LookupSpan<'a>,
{
    let mut ext = root.extensions_mut();
    if ext.get_mut::<TraceScope>().is_none() {
        ext.insert(TraceScope::default());
    }
    let scope = ext.get_mut::<TraceScope>().expect("inserted above");
    let trace_id = *scope.trace_id.get_or_insert_with(TraceId::random);
    let mut newly_joined = None;
    let request_span_id = match (scope.request_span_id, join_as) {
        (Some(id), _) => id,
        (None, JoinAs::Span { start }) => {
            scope.first_ai_start = start;
            newly_joined = Some(root.id());
            *scope.request_span_id.insert(SpanId::random())
        }
        (None, JoinAs::Look) => SpanId::random(),
    };
    TraceOrigin {
        trace_id,
        remote_parent: scope.remote_parent,
        explicit: scope.explicit,
        request_span_id,
        newly_joined,
    }
}
