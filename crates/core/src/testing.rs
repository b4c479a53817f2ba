//! [`TestExporter`]: an in-memory exporter for tests (yours and every aitrace crate's), and
//! [`capture`] to record the AI spans of a closure.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::export::{ExportError, Exporter};
use crate::ids::TraceId;
use crate::record::{SpanRecord, Usage};

/// Keeps every exported record in memory. Clones share the same store.
#[derive(Clone, Default, Debug)]
pub struct TestExporter {
    spans: Arc<Mutex<Vec<SpanRecord>>>,
}

impl TestExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<SpanRecord>> {
        self.spans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every record exported so far, in export order.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.lock().clone()
    }

    /// Records with this name.
    pub fn spans_named(&self, name: &str) -> Vec<SpanRecord> {
        self.lock()
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    /// The one record with this name; panics (it is a test helper) when there are none or several.
    pub fn span(&self, name: &str) -> SpanRecord {
        let mut found = self.spans_named(name);
        assert_eq!(found.len(), 1, "expected exactly one span named {name:?}");
        found.remove(0)
    }

    /// Records of one trace.
    pub fn trace(&self, trace_id: TraceId) -> Vec<SpanRecord> {
        self.lock()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing was exported.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets everything exported so far.
    pub fn clear(&self) {
        self.lock().clear()
    }

    /// The usage a backend would bill for a trace: the sum over its billable records only. Every
    /// exporter's tests compare this with the true usage of the calls made.
    pub fn total_billable_usage(&self, trace_id: TraceId) -> Usage {
        total_billable_usage(self.lock().iter().filter(|s| s.trace_id == trace_id))
    }
}

/// Sums the usage of the billable records among `spans`.
pub fn total_billable_usage<'a>(spans: impl IntoIterator<Item = &'a SpanRecord>) -> Usage {
    spans
        .into_iter()
        .filter_map(SpanRecord::billable_usage)
        .fold(Usage::default(), |acc, u| acc.add(u))
}

impl Exporter for TestExporter {
    fn name(&self) -> &str {
        "test"
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }
}

/// A variable lookup from fixed pairs, for testing `from_env`-style constructors without touching the
/// process environment: `Builder::default().with_env_vars(env_vars(&[("AITRACE_QUEUE_SIZE", "10")]))`.
pub fn env_vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// Runs `f` with a thread-local subscriber that records AI spans, and returns every record once all
/// were exported.
///
/// Run such tests with `--test-threads=1`: tracing-core caches callsite interest globally, and a
/// callsite first hit on a thread without a subscriber while another thread registers its subscriber
/// can be cached as "never", so a parallel test may miss a span.
pub fn capture(f: impl FnOnce()) -> Vec<SpanRecord> {
    capture_with(crate::builder(), f)
}

/// [`capture`] with a builder of your own (processors, settings); a [`TestExporter`] is added to it.
pub fn capture_with(builder: crate::Builder, f: impl FnOnce()) -> Vec<SpanRecord> {
    use tracing_subscriber::layer::SubscriberExt;
    let exporter = TestExporter::new();
    let (layer, guard) = match builder.exporter(exporter.clone()).build_layer() {
        Ok(built) => built,
        Err(e) => panic!("capture_with: {e}"),
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    guard.shutdown(Duration::from_secs(10));
    exporter.spans()
}
