//! [`Truncator`]: caps the size of every value a span carries, with a visible marker of what was cut,
//! so one huge prompt can't exceed a backend's limits or fail a whole batch.

use aitrace_core::{Processor, SpanRecord, Verdict};
use serde_json::Value;

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

/// The marker appended to a cut value.
pub fn truncation_marker(kept: usize, total: usize) -> String {
    format!("…[truncated: kept {kept} of {total} bytes]")
}

fn cut(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let total = s.len();
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(&truncation_marker(end, total));
    true
}

fn walk(v: &mut Value, max: usize) -> bool {
    match v {
        Value::String(s) => cut(s, max),
        Value::Array(items) => items.iter_mut().fold(false, |c, i| walk(i, max) | c),
        Value::Object(map) => map.values_mut().fold(false, |c, i| walk(i, max) | c),
        _ => false,
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

    fn apply(span: &mut SpanRecord, max: usize) -> bool {
        let mut changed = false;
        for v in [
            &mut span.input,
            &mut span.output,
            &mut span.system_instructions,
            &mut span.tool_definitions,
        ]
        .into_iter()
        .flatten()
        {
            changed |= walk(v, max);
        }
        if let Some(tool) = &mut span.tool {
            for v in [&mut tool.arguments, &mut tool.result]
                .into_iter()
                .flatten()
            {
                changed |= walk(v, max);
            }
        }
        for map in [&mut span.metadata, &mut span.attributes] {
            changed |= map.values_mut().fold(false, |c, v| walk(v, max) | c);
        }
        for e in &mut span.events {
            changed |= cut(&mut e.name, max);
            changed |= e
                .attributes
                .values_mut()
                .fold(false, |c, v| walk(v, max) | c);
        }
        changed
    }
}

impl Processor for Truncator {
    fn name(&self) -> &str {
        "truncator"
    }

    fn process(&self, span: &mut SpanRecord) -> Verdict {
        let mut max = self.max_value_bytes;
        Self::apply(span, max);
        while span.estimated_size() > self.max_record_bytes && max > 256 {
            max /= 2;
            Self::apply(span, max);
        }
        Verdict::Keep
    }
}
