//! The `tracing` layer: turns AI spans into [`SpanRecord`]s and hands closed ones to the pipeline.
//!
//! [`AiLayer`] is a *global* layer (no per-layer filter): it sees the application's own spans too,
//! because an AI span's trace is decided by them. Every AI span under the same outermost application
//! span (a request, a job) joins one trace, whatever spans sit between; a span's parent is its
//! nearest AI ancestor. For the application's own spans the layer does almost nothing: a field-name
//! check when a span is created, and one atomic load of a counting filter over open AI span ids when
//! it is recorded or closed (see docs/PERFORMANCE.md).
//!
//! A global layer cannot abstain from a callsite (its `Interest::never` would disable the callsite for
//! every other layer too), so it never says `never`; it keeps the application's disabled callsites
//! disabled through its level hint instead: it wants spans down to `span_level` and events down to
//! `event_level` (both `INFO` by default), and its hint never asks for more than the layers beside it
//! already do.

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Event, Level, LevelFilter, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};

use crate::fields::{is_ai_callsite, EventFields, Filing};
use crate::ids::{SpanId, TraceId};
use crate::pipeline::Pipeline;
use crate::record::{unix_nanos, SpanEvent, SpanKind, SpanRecord, Usage};

/// Events kept per span; later ones are counted in [`SpanRecord::dropped_events`].
pub const MAX_EVENTS_PER_SPAN: usize = 128;

/// What the layer keeps in each AI span's extensions while it is open.
pub(crate) struct SpanState {
    pub(crate) record: SpanRecord,
    pub(crate) explicit_kind: bool,
    /// A billable span with usage closed below this one: this one must not bill the same call again.
    has_billable_descendant: bool,
    /// Usage of model steps below this span, billed here if the span records no usage itself.
    step_usage: Option<Usage>,
    /// Ids set from a `traceparent` or another layer: the parent must not overwrite them.
    pub(crate) ids_adopted: bool,
    /// The trace's name as known when the span started, used at close if its ancestors are gone.
    default_trace_name: Option<String>,
    /// The start of the first model step below and when its first token arrived (Unix ns): a
    /// billable span without a time to first token of its own takes it from its first step.
    first_token_at: Option<(u64, u64)>,
    /// Usage the streamed chunks below reported (providers send it on the last chunk): the call's
    /// usage when this span records none itself.
    chunk_usage: Option<Usage>,
    /// When the first chunk below started (Unix ns): the time to first token when none was recorded.
    first_chunk_at: Option<u64>,
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
}

/// Where a top-level AI span's trace comes from.
pub(crate) struct TraceOrigin {
    pub(crate) trace_id: TraceId,
    pub(crate) remote_parent: Option<SpanId>,
    pub(crate) explicit: bool,
}

/// Lets [`AiSpanExt`](crate::AiSpanExt) reach the state of a span through a type-erased `Dispatch`,
/// the same pattern `tracing-opentelemetry` uses: the layer hands out function pointers monomorphized
/// for its subscriber type.
#[derive(Clone, Copy)]
pub(crate) struct StateAccess {
    walk: WalkFn,
    scope: ScopeFn,
    origin: OriginFn,
}

/// `f(state, is_self)`: `is_self` is true for the span the walk started at.
type WalkFn = fn(&Dispatch, &Id, bool, &mut dyn FnMut(&mut SpanState, bool) -> bool) -> bool;
type ScopeFn = fn(&Dispatch, &Id, &mut dyn FnMut(&mut TraceScope)) -> bool;
type OriginFn = fn(&Dispatch, &Id) -> Option<TraceId>;

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

fn walk<S>(
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
            if !f(state, is_self) {
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

fn scope<S>(dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut TraceScope)) -> bool
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

fn origin<S>(dispatch: &Dispatch, id: &Id) -> Option<TraceId>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = dispatch.downcast_ref::<S>()?.span(id)?;
    if let Some(state) = span.extensions().get::<SpanState>() {
        return Some(state.record.trace_id);
    }
    match resolve_parent(&span, true) {
        Parent::Ai { trace_id, .. } => Some(trace_id),
        Parent::App(origin) => Some(origin.trace_id),
        Parent::None => None,
    }
}

/// What a new AI span hangs under.
enum Parent {
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
fn resolve_parent<S>(from: &SpanRef<'_, S>, include_self: bool) -> Parent
where
    S: for<'a> LookupSpan<'a>,
{
    let mut outermost = None;
    let skip = usize::from(!include_self);
    for ancestor in from.scope().skip(skip) {
        {
            let ext = ancestor.extensions();
            if let Some(p) = ext.get::<SpanState>() {
                return Parent::Ai {
                    trace_id: p.record.trace_id,
                    span_id: p.record.span_id,
                };
            }
            if let Some(scope) = ext.get::<TraceScope>() {
                if let (true, Some(trace_id)) = (scope.explicit, scope.trace_id) {
                    return Parent::App(TraceOrigin {
                        trace_id,
                        remote_parent: scope.remote_parent,
                        explicit: true,
                    });
                }
            }
        }
        outermost = Some(ancestor);
    }
    let Some(root) = outermost else {
        return Parent::None;
    };
    let mut ext = root.extensions_mut();
    if ext.get_mut::<TraceScope>().is_none() {
        ext.insert(TraceScope::default());
    }
    let scope = ext.get_mut::<TraceScope>().expect("inserted above");
    let trace_id = *scope.trace_id.get_or_insert_with(TraceId::random);
    Parent::App(TraceOrigin {
        trace_id,
        remote_parent: None,
        explicit: false,
    })
}

/// Slots of [`OpenAiSpans`]: 16 KiB per layer.
const OPEN_SPAN_SLOTS: usize = 4096;

/// A counting filter over the ids of open AI spans. A zero slot proves a span is not an AI span, so
/// the application's own spans are recorded and closed without a span look-up; a non-zero slot (an AI
/// span, or another span sharing its slot) falls back to the look-up. Never a false "not AI".
struct OpenAiSpans {
    slots: Box<[AtomicU32; OPEN_SPAN_SLOTS]>,
    total: AtomicUsize,
}

impl OpenAiSpans {
    fn new() -> Self {
        OpenAiSpans {
            slots: Box::new(std::array::from_fn(|_| AtomicU32::new(0))),
            total: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn slot(&self, id: &Id) -> &AtomicU32 {
        // Fibonacci hashing spreads the registry's packed slab indices over the slots.
        let hash = id.into_u64().wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.slots[(hash >> (64 - OPEN_SPAN_SLOTS.trailing_zeros())) as usize]
    }

    fn opened(&self, id: &Id) {
        self.slot(id).fetch_add(1, Ordering::Release);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    fn closed(&self, id: &Id) {
        self.slot(id).fetch_sub(1, Ordering::Release);
        self.total.fetch_sub(1, Ordering::Relaxed);
    }

    #[inline]
    fn may_be_ai(&self, id: &Id) -> bool {
        self.slot(id).load(Ordering::Acquire) != 0
    }

    fn any(&self) -> bool {
        self.total.load(Ordering::Relaxed) != 0
    }
}

/// The layer to add to a `tracing_subscriber::registry()`. Build it with
/// [`Builder::build_layer`](crate::Builder::build_layer).
pub struct AiLayer<S> {
    pipeline: Arc<Pipeline>,
    access: StateAccess,
    event_level: LevelFilter,
    span_level: LevelFilter,
    /// Computed in `on_layer` from the layers beside this one.
    hint: Option<LevelFilter>,
    /// AI spans open now: the application's spans and events skip the span look-up.
    open_ai_spans: OpenAiSpans,
    dispatch: OnceLock<tracing_core::dispatcher::WeakDispatch>,
    _subscriber: PhantomData<fn(S)>,
}

impl<S> std::fmt::Debug for AiLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiLayer")
            .field("event_level", &self.event_level)
            .field("span_level", &self.span_level)
            .field("stats", &self.pipeline.stats())
            .finish()
    }
}

impl<S> AiLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        event_level: LevelFilter,
        span_level: LevelFilter,
    ) -> Self {
        AiLayer {
            pipeline,
            access: StateAccess {
                walk: walk::<S>,
                scope: scope::<S>,
                origin: origin::<S>,
            },
            event_level,
            span_level,
            hint: Some(std::cmp::max(event_level, span_level)),
            open_ai_spans: OpenAiSpans::new(),
            dispatch: OnceLock::new(),
            _subscriber: PhantomData,
        }
    }

    #[cfg(feature = "tracing-opentelemetry")]
    fn adopt_otel_ids(&self, span: &SpanRef<'_, S>) {
        use opentelemetry::trace::TraceContextExt;
        {
            let ext = span.extensions();
            match ext.get::<SpanState>() {
                Some(state) if !state.ids_adopted => {}
                _ => return,
            }
        }
        let Some(dispatch) = self.dispatch.get().and_then(|d| d.upgrade()) else {
            return;
        };
        let otel_ids = |id: &Id| {
            let cx = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
            let sc = cx.span().span_context().clone();
            sc.is_valid().then(|| {
                (
                    TraceId::from_u128(u128::from_be_bytes(sc.trace_id().to_bytes())),
                    SpanId::from_u64(u64::from_be_bytes(sc.span_id().to_bytes())),
                )
            })
        };
        let Some((trace_id, span_id)) = otel_ids(&span.id()) else {
            return;
        };
        // A top-level AI span's parent is the application span tracing-opentelemetry exports: not
        // recorded by aitrace, so it is marked remote (exporters treat the span as a local root).
        let mut app_parent = None;
        for ancestor in span.scope().skip(1) {
            if ancestor.extensions().get::<SpanState>().is_some() {
                break;
            }
            if let Some((t, s)) = otel_ids(&ancestor.id()) {
                app_parent = (t == trace_id).then_some(s);
                break;
            }
        }
        let mut ext = span.extensions_mut();
        if let Some(state) = ext.get_mut::<SpanState>() {
            state.record.trace_id = trace_id;
            state.record.span_id = span_id;
            if let Some(parent) = app_parent {
                state.record.parent_span_id = Some(parent);
                state.record.parent_is_remote = true;
            }
            state.ids_adopted = true;
        }
    }

    /// The span `id` when it is an AI span (checked on the callsite's field names, no lock taken).
    #[inline]
    fn ai_span<'a>(&self, id: &Id, ctx: &'a Context<'_, S>) -> Option<SpanRef<'a, S>> {
        if !self.open_ai_spans.may_be_ai(id) {
            return None;
        }
        ctx.span(id)
            .filter(|span| is_ai_callsite(span.metadata().fields()))
    }
}

impl<S> Layer<S> for AiLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, inner: &mut S) {
        // Never ask for more than the layers beside this one already do, except for what aitrace
        // itself records: a `None` (no opinion) from them stays `None`.
        let ours = std::cmp::max(self.event_level, self.span_level);
        self.hint = if TypeId::of::<S>() == TypeId::of::<Registry>() {
            Some(ours)
        } else {
            inner
                .max_level_hint()
                .map(|theirs| std::cmp::max(theirs, ours))
        };
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.hint
    }

    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if !is_ai_callsite(meta.fields()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut record = SpanRecord::new(meta.name(), SpanKind::Generic);
        let mut ids_adopted = false;
        match resolve_parent(&span, false) {
            Parent::Ai { trace_id, span_id } => {
                record.trace_id = trace_id;
                record.parent_span_id = Some(span_id);
            }
            Parent::App(origin) => {
                record.trace_id = origin.trace_id;
                record.parent_span_id = origin.remote_parent;
                record.parent_is_remote = origin.remote_parent.is_some();
                ids_adopted = origin.explicit;
            }
            Parent::None => {}
        }
        let mut state = SpanState {
            record,
            explicit_kind: false,
            has_billable_descendant: false,
            step_usage: None,
            ids_adopted,
            default_trace_name: None,
            first_token_at: None,
            chunk_usage: None,
            first_chunk_at: None,
            hide_input: false,
            hide_output: false,
        };
        attrs.record(&mut state.filing());
        // Trace-level values known now are on the span even if its ancestors are gone when it closes.
        inherit_from_ancestors(&mut state, &span, false);
        span.extensions_mut().replace(state);
        self.open_ai_spans.opened(id);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = self.ai_span(id, &ctx) else {
            return;
        };
        let mut ext = span.extensions_mut();
        if let Some(state) = ext.get_mut::<SpanState>() {
            values.record(&mut state.filing());
        }
    }

    #[cfg(feature = "tracing-opentelemetry")]
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = self.ai_span(id, &ctx) {
            self.adopt_otel_ids(&span);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.event_level || !self.open_ai_spans.any() {
            return;
        }
        let Some(current) = ctx.event_span(event) else {
            return;
        };
        // The nearest AI span keeps the event (found on field names, no lock taken on the way).
        let Some(span) = current
            .scope()
            .find(|s| is_ai_callsite(s.metadata().fields()))
        else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(state) = ext.get_mut::<SpanState>() else {
            return;
        };
        if state.record.events.len() >= MAX_EVENTS_PER_SPAN {
            state.record.dropped_events = state.record.dropped_events.saturating_add(1);
            return;
        }
        let mut fields = EventFields {
            message: None,
            attributes: serde_json::Map::new(),
        };
        event.record(&mut fields);
        state.record.events.push(SpanEvent {
            name: fields.message.unwrap_or_else(|| meta.name().to_string()),
            time_unix_nano: unix_nanos(SystemTime::now()),
            level: level_name(meta.level()).to_string(),
            target: meta.target().to_string(),
            attributes: fields.attributes,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = self.ai_span(&id, &ctx) else {
            return;
        };
        #[cfg(feature = "tracing-opentelemetry")]
        self.adopt_otel_ids(&span);
        let Some(mut state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        self.open_ai_spans.closed(&id);
        state.record.end_time_unix_nano = unix_nanos(SystemTime::now());
        inherit_from_ancestors(&mut state, &span, true);
        if state.hide_input {
            state.record.strip_input();
        }
        if state.hide_output {
            state.record.strip_output();
        }
        take_chunks(&mut state, &span);
        roll_up_first_token(&mut state, &span);
        decide_billing(&mut state, &span);
        self.pipeline.submit(state.record);
    }

    // SAFETY: we return pointers to fields of `self` (or `self` itself) only when asked for exactly
    // their type, so the caller's cast back to that type is valid for as long as `self` lives, which is
    // what `downcast_raw`'s contract requires.
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == TypeId::of::<StateAccess>() {
            Some(&self.access as *const StateAccess as *const ())
        } else {
            None
        }
    }
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
fn inherit_from_ancestors<S>(state: &mut SpanState, span: &SpanRef<'_, S>, at_close: bool)
where
    S: for<'a> LookupSpan<'a>,
{
    let r = &mut state.record;
    let mut first_ai = true;
    let mut explicit_seen = false;
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
    for ancestor in span.scope().skip(1) {
        has_ancestors = true;
        let ext = ancestor.extensions();
        if let Some(p) = ext.get::<SpanState>() {
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
                top_ai = Some(p.record.what_ran());
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
        let default = has_ancestors
            .then(|| request_name(span))
            .flatten()
            .map(str::to_string)
            .or(top_ai)
            // A span at the top names its trace itself; at start that waits for its close.
            .or_else(|| (first_ai && at_close).then(|| r.what_ran()))
            .or_else(|| state.default_trace_name.take());
        if at_close {
            r.trace_name = default;
        } else {
            state.default_trace_name = default;
        }
    }
}

fn merge_tags(into: &mut Vec<String>, from: &[String]) {
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
fn take_chunks<S>(state: &mut SpanState, span: &SpanRef<'_, S>)
where
    S: for<'a> LookupSpan<'a>,
{
    let r = &mut state.record;
    if r.kind == SpanKind::ModelChunk {
        for ancestor in span.scope().skip(1) {
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
fn roll_up_first_token<S>(state: &mut SpanState, span: &SpanRef<'_, S>)
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
    for ancestor in span.scope().skip(1) {
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
fn request_name<S>(span: &SpanRef<'_, S>) -> Option<&'static str>
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

fn inherit_value(mine: &mut Option<String>, theirs: &Option<String>) {
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
fn decide_billing<S>(state: &mut SpanState, span: &SpanRef<'_, S>)
where
    S: for<'a> LookupSpan<'a>,
{
    let kind = state.record.kind;
    let r = &mut state.record;
    let billable_ancestor = || {
        span.scope().skip(1).find(|a| {
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
        for a in span.scope().skip(1) {
            if let Some(s) = a.extensions_mut().get_mut::<SpanState>() {
                s.has_billable_descendant = true;
            }
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}
