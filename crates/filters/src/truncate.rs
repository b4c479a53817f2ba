//! [`Truncator`]: caps the size of every value a span carries, with a visible marker of what was cut,
//! so one huge prompt can't exceed a backend's limits or fail a whole batch.

use aitrace_core::{Processor, SpanRecord, Verdict};

/// Caps each string inside input, output, instructions, tool definitions/arguments/results,
/// metadata, attributes and events, then, if the record is still larger than its budget, halves the
/// cap until it fits.
///
/// Defaults: 100 kB per value, 1 MB per record: under every supported backend's limits (Langfuse and
/// Braintrust accept far more per span; 1 MB is also the per-event cap older Langfuse SDKs enforced).
#[derive(Debug, Clone)]
pub struct Truncator {
    max_value_bytes: usize,
    max_record_bytes: usize,
}

impl Default for Truncator {
    fn default() -> Self {
        Truncator {
            max_value_bytes: 100_000,
            max_record_bytes: 1_000_000,
        }
    }
}

impl Truncator {
    /// Caps each value at `max_value_bytes` and each record at `max_record_bytes`.
    pub fn new(max_value_bytes: usize, max_record_bytes: usize) -> Self {
        Truncator {
            max_value_bytes: max_value_bytes.max(64),
            max_record_bytes: max_record_bytes.max(1024),
        }
    }
}

impl Processor for Truncator {
    fn name(&self) -> &str {
        "truncator"
    }

    fn process(&self, span: &mut SpanRecord) -> Verdict {
        span.shrink_to(self.max_value_bytes, self.max_record_bytes);
        Verdict::Keep
    }
}
