//! The one warning aitrace gives about the application's subscriber: a request span below the usual
//! log level exists (a web framework's, an `#[instrument(level = "debug")]` handler's: its callsite
//! was registered) but no such span ever reached aitrace, because a filter that applies to every
//! layer (`registry().with(EnvFilter)`) disables it. Every AI call of a request then
//! starts a trace of its own, without the request's user or session.

use std::sync::atomic::{AtomicBool, Ordering};

/// The target of aitrace's own diagnostics; the layer never records events of it.
pub const DIAGNOSTICS_TARGET: &str = "aitrace::diagnostics";

static CONTEXT_SPAN_REGISTERED: AtomicBool = AtomicBool::new(false);
static CONTEXT_SPAN_SEEN: AtomicBool = AtomicBool::new(false);
static WARNED: AtomicBool = AtomicBool::new(false);

pub(super) fn context_span_registered() {
    CONTEXT_SPAN_REGISTERED.store(true, Ordering::Relaxed);
}

#[inline]
pub(super) fn context_span_seen() {
    if !CONTEXT_SPAN_SEEN.load(Ordering::Relaxed) {
        CONTEXT_SPAN_SEEN.store(true, Ordering::Relaxed);
    }
}

/// Called where request context was expected but none was found (an AI span with no application
/// span above it, `set_user` on a disabled span): warns once when the cause is a global filter.
/// Call it with no span extension locked: the warning is an event like any other.
pub(crate) fn context_missing(what: &str) {
    if !CONTEXT_SPAN_REGISTERED.load(Ordering::Relaxed)
        || CONTEXT_SPAN_SEEN.load(Ordering::Relaxed)
        || WARNED.swap(true, Ordering::Relaxed)
    {
        return;
    }
    let message = format!(
        "{what}, and no request span ever reached aitrace: a global log filter \
         (`registry().with(EnvFilter)`) disables them for every layer (tower-http's TraceLayer and \
         axum record theirs at DEBUG, as do `#[instrument(level = \"debug\")]` handlers), so each AI \
         call starts a trace of its own without the request's user, session or tags. Fix: filter \
         the log output \
         per layer, `registry().with(fmt::layer().with_filter(EnvFilter::from_default_env())).with(aitrace_layer)`, \
         or let the global filter through `tower_http=debug` (AITRACE_CONTEXT_SPANS names the spans \
         aitrace records as context)"
    );
    if tracing::enabled!(target: DIAGNOSTICS_TARGET, tracing::Level::WARN) {
        tracing::warn!(target: DIAGNOSTICS_TARGET, "{message}");
    } else {
        // The same filter hides warnings too: this one line must still be seen once.
        eprintln!("WARN {DIAGNOSTICS_TARGET}: {message}");
    }
}
