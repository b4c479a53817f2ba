//! The `tracing` layer: turns AI spans into [`SpanRecord`]s and hands closed ones to the pipeline.
//!
//! [`AiLayer`] is a *global* layer (no per-layer filter): it sees the application's own spans too,
//! because an AI span's trace is decided by them. Every AI span under the same outermost application
//! span (a request, a job) joins one trace, whatever spans sit between; a span's parent is its
//! nearest AI ancestor. For the application's own spans the layer does almost nothing: a field-name
//! check when a span is created, and one atomic load of a counting filter over open AI span ids when
//! it is recorded or closed (see docs/PERFORMANCE.md).
//!
//! What it asks `tracing` for: AI spans down to `span_level`, events down to `event_level` (both
//! `INFO` by default), and the application spans [`ContextSpans`] names (a web framework's request
//! span at DEBUG, whatever the application's log filter says). Its `Interest::never` would disable a
//! callsite for every layer, so it says `never` only when it is the outermost layer and the layers
//! below it do not want the callsite's level either (asked again on every interest rebuild, so a
//! reloaded filter is honoured); otherwise it defers to them.

mod close;
pub(crate) mod context;
pub(crate) mod diagnostics;
mod request;
mod state;

pub(crate) use context::ContextSpans;

pub(crate) use state::{SpanState, StateAccess, TraceScope};

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event, Level, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, Layered};
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};

use crate::fields::{self, event_fields, is_ai_callsite, FieldMap};
#[cfg(feature = "tracing-opentelemetry")]
use crate::ids::SpanId;
use crate::ids::TraceId;
use crate::pipeline::Pipeline;
use crate::record::{unix_nanos, SpanEvent, SpanKind, SpanRecord};
use close::{decide_billing, inherit_from_ancestors, roll_up_first_token, take_chunks};
use request::{request_record, CallsiteSet};
use state::{origin, resolve_parent, scope, walk, JoinAs, Parent, RequestCapture};

/// Events kept per span; later ones are counted in [`SpanRecord::dropped_events`].
pub const MAX_EVENTS_PER_SPAN: usize = 128;

/// Open roots looked at when one closes (see `AiLayer::another_root_open`).
const ROOT_SCAN: usize = 64;

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
    context: ContextSpans,
    /// The most verbose level this layer itself asks for.
    own_level: LevelFilter,
    /// The layers below this one's hint as `on_layer` saw it; asked again through the dispatch later.
    inner_hint: Option<LevelFilter>,
    /// AI spans and requests holding AI spans open now: the application's other spans and events
    /// skip the span look-up.
    open_ai_spans: OpenAiSpans,
    /// Callsites whose spans are requests: their start and fields are kept from creation.
    captures: CallsiteSet,
    /// Context callsites nobody else wants: only their roots are enabled (see `root_only_enabled`).
    root_only: CallsiteSet,
    /// The layers below's hint as last asked (`encode_hint`), for `enabled`.
    cached_inner_hint: AtomicU8,
    /// AI spans open now with nothing above them (their trace's roots), with their trace id as last
    /// seen: a root that closes while another of its trace is open does not end the trace.
    open_roots: std::sync::Mutex<Vec<(Id, TraceId)>>,
    dispatch: OnceLock<tracing_core::dispatcher::WeakDispatch>,
    _subscriber: PhantomData<fn(S)>,
}

impl<S> std::fmt::Debug for AiLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiLayer")
            .field("event_level", &self.event_level)
            .field("span_level", &self.span_level)
            .field("context", &self.context)
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
        context: ContextSpans,
    ) -> Self {
        let own_level = event_level.max(span_level).max(context.max_level());
        AiLayer {
            pipeline,
            access: StateAccess {
                walk: walk::<S>,
                scope: scope::<S>,
                origin: origin::<S>,
            },
            event_level,
            span_level,
            context,
            own_level,
            inner_hint: Some(LevelFilter::OFF),
            open_ai_spans: OpenAiSpans::new(),
            captures: CallsiteSet::new(),
            root_only: CallsiteSet::new(),
            cached_inner_hint: AtomicU8::new(encode_hint(Some(LevelFilter::OFF))),
            open_roots: std::sync::Mutex::new(Vec::new()),
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
        if app_parent.is_some() {
            for ancestor in span.scope().skip(1) {
                if let Some(scope) = ancestor.extensions_mut().get_mut::<TraceScope>() {
                    scope.exported_elsewhere = true;
                }
            }
        }
        let mut ext = span.extensions_mut();
        if let Some(state) = ext.get_mut::<SpanState>() {
            state.record.trace_id = trace_id;
            state.record.span_id = span_id;
            if let Some(parent) = app_parent {
                state.record.parent_span_id = Some(parent);
                state.record.parent_is_remote = true;
                // The request is exported by tracing-opentelemetry, not as aitrace's record.
                state.record.request_span_id = None;
            }
            state.ids_adopted = true;
        }
    }

    /// Whether this layer records the callsite (`always`); records only its roots (`sometimes`, see
    /// `root_only_enabled`); or it is disabled for every layer because nothing below wants it either
    /// (`never`); else the layers below decide (`always`).
    fn interest_in(&self, meta: &Metadata<'_>, registering: bool) -> Interest {
        let level = *meta.level();
        // Nothing below this layer wants the callsite's level (and nothing above it can).
        let nobody_else = || match (self.is_outermost(), self.current_inner_hint()) {
            (true, Some(theirs)) => level > theirs,
            _ => false,
        };
        if meta.is_span() {
            let ai = is_ai_callsite(meta.fields());
            if ai && self.span_level >= level {
                return Interest::always();
            }
            if !ai && self.context.wants(meta) {
                let framework = context::is_framework_target(meta.target());
                // The spans that are requests below the usual log level: a web framework's, and
                // the app's own DEBUG ones (`#[instrument(level = "debug")]` handlers). Their
                // fields are read from creation, and if none of them ever arrives, a global filter
                // hid them.
                if registering && (level > Level::INFO || framework) {
                    self.captures.insert(meta);
                    if framework {
                        diagnostics::context_span_registered();
                    }
                }
                if !framework && level > Level::INFO && nobody_else() {
                    // Only a root of these can be a request: `enabled` lets roots through and keeps
                    // the nested ones (a debug helper inside a handler) disabled, as without
                    // aitrace. (INFO spans stay enabled, nested or not, as they always were.)
                    if registering {
                        self.root_only.insert(meta);
                    }
                    return Interest::sometimes();
                }
                return Interest::always();
            }
        } else if self.event_level >= level
            || (context::is_framework_response_event(meta) && self.context.wants(meta))
        {
            return Interest::always();
        }
        if nobody_else() {
            Interest::never()
        } else {
            Interest::always()
        }
    }

    /// `enabled` for a callsite only a root of which aitrace records: a root is a possible request;
    /// a nested span is enabled only if the layers below want its level.
    fn root_only_enabled(&self, meta: &Metadata<'_>, ctx: &Context<'_, S>) -> bool {
        if ctx.lookup_current().is_none() {
            // Wanted as a request: if it never arrives, a global filter hid it.
            diagnostics::context_span_registered();
            return true;
        }
        match decode_hint(self.cached_inner_hint.load(Ordering::Relaxed)) {
            Some(theirs) => *meta.level() <= theirs,
            None => true,
        }
    }

    /// A request span holding AI spans closes: its record goes out, and its callsite's later spans are
    /// captured from creation.
    fn close_request(&self, id: &Id, span: &SpanRef<'_, S>) {
        let record = {
            let mut ext = span.extensions_mut();
            let Some(scope) = ext.get_mut::<TraceScope>() else {
                return;
            };
            if scope.request_span_id.is_none() {
                return;
            }
            let end = unix_nanos(SystemTime::now());
            if scope.exported_elsewhere {
                // tracing-opentelemetry exports this request; its AI spans hang under it there.
                None
            } else {
                request_record(span.metadata(), scope, TraceId::random(), end)
            }
        };
        self.open_ai_spans.closed(id);
        self.captures.insert(span.metadata());
        if let Some(record) = record {
            self.pipeline.submit(record);
        }
    }

    /// Takes the closing root `id` off the open roots; true when another root of `trace_id` is still
    /// open (its trace id read again: `set_trace_id` may have moved it since it started). Only a
    /// root whose trace id was `chosen` looks. At most
    /// [`ROOT_SCAN`] roots are looked at; beyond that the trace ends here as before.
    fn another_root_open(
        &self,
        id: &Id,
        trace_id: TraceId,
        chosen: bool,
        ctx: &Context<'_, S>,
    ) -> bool {
        let Ok(mut roots) = self.open_roots.lock() else {
            return false;
        };
        let Some(at) = roots.iter().position(|(open, _)| open == id) else {
            return false;
        };
        roots.swap_remove(at);
        // Roots share a trace only through an id chosen for it (`set_trace_id`, a `traceparent`):
        // a root with its own random id closes its trace without looking at the others.
        if !chosen || roots.len() > ROOT_SCAN {
            return false;
        }
        for (open, seen) in roots.iter_mut() {
            if let Some(span) = ctx.span(open) {
                if let Some(state) = span.extensions().get::<SpanState>() {
                    *seen = state.record.trace_id;
                }
            }
            if *seen == trace_id {
                return true;
            }
        }
        false
    }

    /// tower-http's response event: its status goes onto the request it answers.
    fn record_response(&self, event: &Event<'_>, ctx: &Context<'_, S>) {
        let Some(current) = ctx.event_span(event) else {
            return;
        };
        for span in current.scope() {
            let mut ext = span.extensions_mut();
            let Some(scope) = ext.get_mut::<TraceScope>() else {
                continue;
            };
            if scope.request_span_id.is_none() {
                continue;
            }
            let mut fields = serde_json::Map::new();
            event.record(&mut FieldMap(&mut fields));
            if let Some(status) = fields.remove("status") {
                scope.capture_mut().fields.insert("status".into(), status);
            }
            return;
        }
    }

    /// The level hint of the layers below, read live (a reloaded filter changes it).
    fn current_inner_hint(&self) -> Option<LevelFilter> {
        if TypeId::of::<S>() == TypeId::of::<Registry>() {
            return Some(LevelFilter::OFF);
        }
        match self.dispatch.get().and_then(|d| d.upgrade()) {
            Some(dispatch) => match dispatch.downcast_ref::<S>() {
                Some(inner) => inner.max_level_hint(),
                None => self.inner_hint,
            },
            None => self.inner_hint,
        }
    }

    /// Whether this layer is the subscriber's outermost: then no layer above it wants a callsite this
    /// one and the layers below reject.
    fn is_outermost(&self) -> bool {
        self.dispatch
            .get()
            .and_then(|d| d.upgrade())
            .is_some_and(|d| d.is::<Layered<Self, S>>())
    }

    /// The span `id` when it is an AI span (checked on the callsite's field names, no lock taken).
    #[cfg(feature = "tracing-opentelemetry")]
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
        self.inner_hint = if TypeId::of::<S>() == TypeId::of::<Registry>() {
            Some(LevelFilter::OFF)
        } else {
            inner.max_level_hint()
        };
        self.cached_inner_hint = AtomicU8::new(encode_hint(self.inner_hint));
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // Asked again on every interest rebuild (a reloaded filter): kept for `enabled`.
        let theirs = self.current_inner_hint();
        self.cached_inner_hint
            .store(encode_hint(theirs), Ordering::Relaxed);
        // A `None` (no opinion: everything) from the layers below stays `None`.
        theirs.map(|theirs| std::cmp::max(theirs, self.own_level))
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.interest_in(meta, true)
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        if self.root_only.contains(meta) {
            return self.root_only_enabled(meta, &ctx);
        }
        // Asked for callsites whose interest is `sometimes` (another subscriber, a dynamic filter):
        // the same answer as `register_callsite`.
        !self.interest_in(meta, false).is_never()
    }

    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if !is_ai_callsite(meta.fields()) {
            if self.captures.contains(meta) || self.captures.on_probation() {
                diagnostics::context_span_seen();
                if let Some(span) = ctx.span(id) {
                    let mut capture = RequestCapture {
                        start_time_unix_nano: unix_nanos(SystemTime::now()),
                        fields: serde_json::Map::new(),
                    };
                    attrs.record(&mut FieldMap(&mut capture.fields));
                    span.extensions_mut().replace(TraceScope {
                        capture: Some(Box::new(capture)),
                        ..TraceScope::default()
                    });
                }
            }
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut record = SpanRecord::new(meta.name(), SpanKind::Generic);
        let mut ids_adopted = false;
        let mut orphan = false;
        let mut joined_request = None;
        let join_as = JoinAs::Span {
            start: record.start_time_unix_nano,
        };
        // An evaluation is a trace of its own, wherever it was opened.
        let evaluation = meta.fields().field(fields::EVALUATION_NAME).is_some();
        let parent = if evaluation {
            close::OPEN_EVALUATIONS.fetch_add(1, Ordering::Relaxed);
            Parent::None
        } else {
            resolve_parent(&span, false, join_as)
        };
        match parent {
            Parent::Ai { trace_id, span_id } => {
                record.trace_id = trace_id;
                record.parent_span_id = Some(span_id);
            }
            Parent::App(origin) => {
                record.trace_id = origin.trace_id;
                record.parent_span_id = origin.remote_parent;
                record.parent_is_remote = origin.remote_parent.is_some();
                record.request_span_id = Some(origin.request_span_id);
                ids_adopted = origin.explicit;
                joined_request = origin.newly_joined;
            }
            Parent::None => orphan = !evaluation,
        }
        let mut state = SpanState {
            record: crate::record::recycle::boxed(record),
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
        if evaluation {
            state.record.kind = SpanKind::Evaluation;
            if let Some(target) = crate::ext::evaluation_target(&state.record) {
                state.record.links.push(crate::record::SpanLink {
                    trace_id: target.trace_id().unwrap_or(state.record.trace_id),
                    span_id: target.span_id(),
                });
                state
                    .record
                    .links
                    .retain(|l| l.trace_id != state.record.trace_id);
            }
        }
        // Trace-level values known now are on the span even if its ancestors are gone when it closes.
        inherit_from_ancestors(&mut state, &span, false);
        let trace_id = state.record.trace_id;
        span.extensions_mut().replace(state);
        self.open_ai_spans.opened(id);
        if let Some(request) = joined_request {
            // Watched from now on: its close sends the request record.
            self.open_ai_spans.opened(&request);
        }
        if orphan {
            if let Ok(mut roots) = self.open_roots.lock() {
                roots.push((id.clone(), trace_id));
            }
            diagnostics::context_missing("an AI span started with no application span above it");
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if !self.open_ai_spans.may_be_ai(id) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if is_ai_callsite(span.metadata().fields()) {
            if let Some(state) = ext.get_mut::<SpanState>() {
                values.record(&mut state.filing());
            }
        } else if let Some(scope) = ext.get_mut::<TraceScope>() {
            if scope.request_span_id.is_some() {
                values.record(&mut FieldMap(&mut scope.capture_mut().fields));
            }
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
        if !self.open_ai_spans.any() {
            return;
        }
        if context::is_framework_response_event(meta) {
            self.record_response(event, &ctx);
            return;
        }
        if *meta.level() > self.event_level || meta.target().starts_with("aitrace::") {
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
        let (message, attributes) = event_fields(event);
        state.record.events.push(SpanEvent {
            name: message.unwrap_or_else(|| meta.name().to_string()),
            time_unix_nano: unix_nanos(SystemTime::now()),
            level: level_name(meta.level()).to_string(),
            target: meta.target().to_string(),
            attributes,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if !self.open_ai_spans.may_be_ai(&id) {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        if !is_ai_callsite(span.metadata().fields()) {
            self.close_request(&id, &span);
            return;
        }
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
        close::settle_tool_status(&mut state.record);
        if !state.record.scores.is_empty() {
            // The span's ids are final now: its scores name them.
            let target =
                crate::score::ScoreTarget::span(state.record.trace_id, state.record.span_id);
            for s in &mut state.record.scores {
                s.retarget(target.clone());
            }
        }
        if state.record.is_local_root() && state.record.request_span_id.is_none() {
            state.record.more_roots_open =
                self.another_root_open(&id, state.record.trace_id, state.ids_adopted, &ctx);
        }
        if let Some(request) = state.record.request_span_id {
            for ancestor in span.scope().skip(1) {
                let mut ext = ancestor.extensions_mut();
                if let Some(scope) = ext.get_mut::<TraceScope>() {
                    if scope.request_span_id == Some(request) {
                        request::absorb(scope, &state.record);
                        break;
                    }
                }
            }
        }
        if state.record.kind == SpanKind::Evaluation
            && span
                .metadata()
                .fields()
                .field(fields::EVALUATION_NAME)
                .is_some()
        {
            // Only now: the walks above must still stop at this evaluation's root.
            close::OPEN_EVALUATIONS.fetch_sub(1, Ordering::Relaxed);
        }
        self.pipeline.submit_boxed(state.record);
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
        } else if id == TypeId::of::<Arc<Pipeline>>() {
            Some(&self.pipeline as *const Arc<Pipeline> as *const ())
        } else {
            None
        }
    }
}

/// An `Option<LevelFilter>` hint in a byte (0: none, everything).
fn encode_hint(hint: Option<LevelFilter>) -> u8 {
    match hint {
        None => 0,
        Some(LevelFilter::OFF) => 1,
        Some(LevelFilter::ERROR) => 2,
        Some(LevelFilter::WARN) => 3,
        Some(LevelFilter::INFO) => 4,
        Some(LevelFilter::DEBUG) => 5,
        Some(_) => 6,
    }
}

fn decode_hint(byte: u8) -> Option<LevelFilter> {
    Some(match byte {
        0 => return None,
        1 => LevelFilter::OFF,
        2 => LevelFilter::ERROR,
        3 => LevelFilter::WARN,
        4 => LevelFilter::INFO,
        5 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    })
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
