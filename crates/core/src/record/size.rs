//! Sizes and truncation: how big a record is, and cutting it down to a backend's limits.

use serde_json::{Map, Value};

use super::SpanRecord;

impl SpanRecord {
    /// Cuts every string inside the record's content (input, output, instructions, tool definitions,
    /// arguments and results, metadata, attributes, events) to `max_value_bytes`, with a visible
    /// [`truncation_marker`]; then, while the record is still over `max_record_bytes`, halves that cap
    /// (down to 256 bytes). Returns whether anything was cut. Used by the `Truncator` processor and by
    /// exporters whose backend has a hard per-request limit, so one huge span is shortened instead of
    /// rejected.
    pub fn shrink_to(&mut self, max_value_bytes: usize, max_record_bytes: usize) -> bool {
        let mut max = max_value_bytes;
        let mut changed = self.cut_values(max);
        while self.estimated_size() > max_record_bytes && max > 256 {
            max /= 2;
            changed |= self.cut_values(max);
        }
        changed
    }

    fn cut_values(&mut self, max: usize) -> bool {
        self.decode_content();
        let mut changed = false;
        for v in [
            &mut self.input,
            &mut self.output,
            &mut self.system_instructions,
            &mut self.tool_definitions,
        ]
        .into_iter()
        .flatten()
        {
            changed |= truncate_strings(v, max);
        }
        if let Some(tool) = &mut self.tool {
            for v in [&mut tool.arguments, &mut tool.result]
                .into_iter()
                .flatten()
            {
                changed |= truncate_strings(v, max);
            }
        }
        for map in [
            &mut self.metadata,
            &mut self.trace_metadata,
            &mut self.attributes,
        ] {
            changed |= map
                .values_mut()
                .fold(false, |c, v| truncate_strings(v, max) | c);
        }
        for e in &mut self.events {
            changed |= cut_string(&mut e.name, max);
            changed |= e
                .attributes
                .values_mut()
                .fold(false, |c, v| truncate_strings(v, max) | c);
        }
        changed
    }

    /// A cheap estimate of the record's heap size in bytes, used for the queues' byte caps.
    pub fn estimated_size(&self) -> usize {
        fn map(m: &Map<String, Value>) -> usize {
            m.iter().map(|(k, v)| k.len() + value_size(v)).sum()
        }
        fn opt(v: &Option<Value>) -> usize {
            v.as_ref().map(value_size).unwrap_or(0)
        }
        fn s(v: &Option<String>) -> usize {
            v.as_ref().map(String::len).unwrap_or(0)
        }
        let tool = self
            .tool
            .as_ref()
            .map(|t| {
                s(&t.name) + s(&t.call_id) + s(&t.description) + opt(&t.arguments) + opt(&t.result)
            })
            .unwrap_or(0);
        std::mem::size_of::<SpanRecord>()
            + self.name.len()
            + s(&self.provider)
            + s(&self.request_model)
            + s(&self.response_model)
            + s(&self.response_id)
            + s(&self.session_id)
            + s(&self.user_id)
            + opt(&self.input)
            + opt(&self.output)
            + opt(&self.system_instructions)
            + opt(&self.tool_definitions)
            + tool
            + self.tags.iter().map(String::len).sum::<usize>()
            + map(&self.metadata)
            + map(&self.trace_metadata)
            + map(&self.attributes)
            + self
                .events
                .iter()
                .map(|e| 64 + e.name.len() + e.target.len() + map(&e.attributes))
                .sum::<usize>()
            + self.links.len() * std::mem::size_of::<super::SpanLink>()
            + self
                .scores
                .iter()
                .map(crate::score::ScoreRecord::estimated_size)
                .sum::<usize>()
    }
}

/// A rough heap size of a JSON value in bytes.
pub(crate) fn value_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
        Value::String(s) => s.len() + 8,
        Value::Array(a) => 8 + a.iter().map(value_size).sum::<usize>(),
        Value::Object(o) => {
            8 + o
                .iter()
                .map(|(k, v)| k.len() + value_size(v))
                .sum::<usize>()
        }
    }
}

/// The marker appended to a value [`SpanRecord::shrink_to`] cut.
pub fn truncation_marker(kept: usize, total: usize) -> String {
    format!("…[truncated: kept {kept} of {total} bytes]")
}

/// Cuts every string inside `value` longer than `max` bytes (at a character boundary), appending a
/// [`truncation_marker`]. Returns whether anything was cut.
pub fn truncate_strings(value: &mut Value, max: usize) -> bool {
    match value {
        Value::String(s) => cut_string(s, max),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, i| truncate_strings(i, max) | c),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |c, i| truncate_strings(i, max) | c),
        _ => false,
    }
}

fn cut_string(s: &mut String, max: usize) -> bool {
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
