//! The `tracing` layer: turns AI spans into [`SpanRecord`]s and hands closed ones to the pipeline.
//!
//! [`AiLayer`] is a [`Filtered`] layer: the [`AiFilter`] gives every callsite that is not an AI span
//! `Interest::never` *for this layer only*, so an application's own spans keep working for its other
//! layers and cost this one nothing. Because the filter is per-layer, `tracing-subscriber` already
//! resolves "nearest enabled ancestor" for us: a span's parent is its nearest AI ancestor, across any
//! number of non-AI spans in between.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event, Level, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::fields::{is_ai_callsite, EventFields, Filing};
#[cfg(feature = "tracing-opentelemetry")]
use crate::ids::{SpanId, TraceId};
use crate::pipeline::Pipeline;
use crate::record::{unix_nanos, SpanEvent, SpanKind, SpanRecord, Usage};

/// Events kept per span; later ones are counted in [`SpanRecord::dropped_events`].
pub const MAX_EVENTS_PER_SPAN: usize = 128;

/// The layer to add to a `tracing_subscriber::registry()`. Build it with
/// [`Builder::build_layer`](crate::Builder::build_layer).
pub type AiLayer<S> = Filtered<AiRecorder<S>, AiFilter, S>;

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
}

impl SpanState {
    pub(crate) fn filing(&mut self) -> Filing<'_> {
        Filing {
            record: &mut self.record,
            explicit_kind: &mut self.explicit_kind,
        }
    }
}

/// The per-layer filter: AI span callsites are always interesting, other spans never; events are
/// interesting at or above the configured level and are then kept only inside an AI span.
#[derive(Debug, Clone)]
pub struct AiFilter {
    event_level: LevelFilter,
}

impl AiFilter {
    pub(crate) fn new(event_level: LevelFilter) -> Self {
        AiFilter { event_level }
    }
}

impl<S> Filter<S> for AiFilter {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        if meta.is_span() {
            is_ai_callsite(meta.fields())
        } else {
            meta.level() <= &self.event_level
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let wanted = if meta.is_span() {
            is_ai_callsite(meta.fields())
        } else {
            meta.level() <= &self.event_level
        };
        if wanted {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

/// Lets [`AiSpanExt`](crate::AiSpanExt) reach the state of a span through a type-erased `Dispatch`,
/// the same pattern `tracing-opentelemetry` uses: the layer hands out a function pointer monomorphized
/// for its subscriber type.
#[derive(Clone, Copy)]
pub(crate) struct StateAccess {
    walk: WalkFn,
}

/// `f(state, is_self)`: `is_self` is true for the span the walk started at.
type WalkFn = fn(&Dispatch, &Id, bool, &mut dyn FnMut(&mut SpanState, bool) -> bool) -> bool;

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

/// The recording half of [`AiLayer`]. Not used on its own: the filter is what keeps it cheap.
pub struct AiRecorder<S> {
    pipeline: Arc<Pipeline>,
    access: StateAccess,
    dispatch: OnceLock<tracing_core::dispatcher::WeakDispatch>,
    _subscriber: PhantomData<fn(S)>,
}

impl<S> std::fmt::Debug for AiRecorder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiRecorder")
            .field("stats", &self.pipeline.stats())
            .finish()
    }
}

impl<S> AiRecorder<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> Self {
        AiRecorder {
            pipeline,
            access: StateAccess { walk: walk::<S> },
            dispatch: OnceLock::new(),
            _subscriber: PhantomData,
        }
    }

    #[cfg(feature = "tracing-opentelemetry")]
    fn adopt_otel_ids(&self, id: &Id, ctx: &Context<'_, S>) {
        use opentelemetry::trace::TraceContextExt;
        let Some(span) = ctx.span(id) else { return };
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
        let Some(cx) = tracing_opentelemetry::get_otel_context(id, &dispatch) else {
            return;
        };
        let otel = cx.span().span_context().clone();
        if !otel.is_valid() {
            return;
        }
        let mut ext = span.extensions_mut();
        if let Some(state) = ext.get_mut::<SpanState>() {
            state.record.trace_id =
                TraceId::from_u128(u128::from_be_bytes(otel.trace_id().to_bytes()));
            state.record.span_id = SpanId::from_u64(u64::from_be_bytes(otel.span_id().to_bytes()));
            state.ids_adopted = true;
        }
    }
}

impl<S> Layer<S> for AiRecorder<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut record = SpanRecord::new(attrs.metadata().name(), SpanKind::Generic);
        if let Some(parent) = span.parent() {
            if let Some(p) = parent.extensions().get::<SpanState>() {
                record.trace_id = p.record.trace_id;
                record.parent_span_id = Some(p.record.span_id);
            }
        }
        let mut state = SpanState {
            record,
            explicit_kind: false,
            has_billable_descendant: false,
            step_usage: None,
            ids_adopted: false,
        };
        attrs.record(&mut state.filing());
        span.extensions_mut().replace(state);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(state) = ext.get_mut::<SpanState>() {
            values.record(&mut state.filing());
        }
    }

    #[cfg(feature = "tracing-opentelemetry")]
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.adopt_otel_ids(id, &ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
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
        let meta = event.metadata();
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
        #[cfg(feature = "tracing-opentelemetry")]
        self.adopt_otel_ids(&id, &ctx);
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        state.record.end_time_unix_nano = unix_nanos(SystemTime::now());
        inherit_from_ancestors(&mut state, &span);
        decide_billing(&mut state, &span);
        self.pipeline.submit(state.record);
    }

    // SAFETY: we return pointers to fields of `self` (or `self` itself) only when asked for exactly
    // their type, so the caller's cast back to that type is valid for as long as `self` lives, which is
    // what `downcast_raw`'s contract requires.
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == std::any::TypeId::of::<StateAccess>() {
            Some(&self.access as *const StateAccess as *const ())
        } else {
            None
        }
    }
}

/// Parent ids are read again at close (a `traceparent` or another layer may have changed them since
/// the child was created); agent, session, user and the remote sampled flag flow down from the nearest
/// ancestor that has them to spans that don't name their own, so every chat span an agent makes says
/// which agent, conversation and user it belongs to.
fn inherit_from_ancestors<S>(state: &mut SpanState, span: &SpanRef<'_, S>)
where
    S: for<'a> LookupSpan<'a>,
{
    let r = &mut state.record;
    let mut first = true;
    for ancestor in span.scope().skip(1) {
        let ext = ancestor.extensions();
        let Some(p) = ext.get::<SpanState>() else {
            continue;
        };
        if first {
            first = false;
            if !state.ids_adopted || r.trace_id == p.record.trace_id {
                r.trace_id = p.record.trace_id;
                r.parent_span_id = Some(p.record.span_id);
                r.parent_is_remote = false;
            }
        }
        if r.kind != SpanKind::AgentRun && r.agent.is_none() {
            r.agent.clone_from(&p.record.agent);
        }
        if r.session_id.is_none() {
            r.session_id.clone_from(&p.record.session_id);
        }
        if r.user_id.is_none() {
            r.user_id.clone_from(&p.record.user_id);
        }
        if r.remote_sampled.is_none() {
            r.remote_sampled = p.record.remote_sampled;
        }
        let complete = r.session_id.is_some()
            && r.user_id.is_some()
            && r.remote_sampled.is_some()
            && (r.agent.is_some() || r.kind == SpanKind::AgentRun);
        if complete {
            break;
        }
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
