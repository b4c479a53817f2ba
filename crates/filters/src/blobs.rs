//! [`InlineBlobLimit`]: inline images and audio above a size are replaced by a marker saying what they
//! were, so one screenshot cannot fill an export batch or push a request over a backend's limit.

use aitrace_core::{Processor, SpanRecord, Verdict};
use serde_json::{json, Map, Value};

/// The `type` of the part that stands in for an inline blob left out. A part of a type the GenAI
/// conventions don't define is a generic part (`{"type": ..., ...}`), valid wherever a part is, and
/// shown as it is by backends that render unknown parts.
pub const OMITTED_BLOB_TYPE: &str = "omitted_blob";

/// Replaces every inline blob part (`{"type": "blob", "content": <base64>}`) and every `data:` URL
/// longer than the limit, in input, output, system instructions and tool arguments/results, by an
/// [`OMITTED_BLOB_TYPE`] part (or, for a URL in a string, a short text) that keeps its modality, media
/// type and size. The span's `aitrace.omitted_blobs` attribute counts them.
///
/// On by default in `aitrace::builder()`, at 100 kB (the `Truncator`'s per-value cap, which would
/// otherwise cut the base64 mid-way); raise it with [`InlineBlobLimit::new`] (added after
/// `.without_processor("inline-blob-limit")`) or turn it off with that call alone to send blobs whole.
#[derive(Debug, Clone)]
pub struct InlineBlobLimit {
    max_bytes: usize,
}

impl Default for InlineBlobLimit {
    fn default() -> Self {
        InlineBlobLimit {
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }
}

impl InlineBlobLimit {
    /// The default limit, in bytes of base64 text.
    pub const DEFAULT_MAX_BYTES: usize = 100_000;

    /// Leaves out inline data longer than `max_bytes` of base64 text.
    pub fn new(max_bytes: usize) -> Self {
        InlineBlobLimit { max_bytes }
    }

    /// Replaces what is over the limit inside `value`; returns how many it replaced.
    pub fn apply(&self, value: &mut Value) -> u64 {
        match value {
            Value::Object(map) => {
                if let Some(marker) = self.marker_for_blob(map) {
                    *value = marker;
                    return 1;
                }
                map.values_mut().map(|v| self.apply(v)).sum()
            }
            Value::Array(items) => items.iter_mut().map(|v| self.apply(v)).sum(),
            Value::String(s) if s.len() > self.max_bytes && s.starts_with("data:") => {
                let (media, _) = data_url_media(s);
                *s = format!(
                    "[{media} data URL of {} left out: over aitrace's {} byte inline limit]",
                    size_text(decoded_len(s.len())),
                    self.max_bytes
                );
                1
            }
            _ => 0,
        }
    }

    fn marker_for_blob(&self, part: &Map<String, Value>) -> Option<Value> {
        if part.get("type").and_then(Value::as_str) != Some("blob") {
            return None;
        }
        let content = part.get("content").and_then(Value::as_str)?;
        if content.len() <= self.max_bytes {
            return None;
        }
        let mut marker = json!({
            "type": OMITTED_BLOB_TYPE,
            "size_bytes": decoded_len(content.len()),
            "reason": format!(
                "inline {} over aitrace's {} byte limit (InlineBlobLimit) left out",
                size_text(decoded_len(content.len())),
                self.max_bytes
            ),
        });
        for key in ["modality", "mime_type"] {
            if let Some(v) = part.get(key).filter(|v| v.is_string()) {
                marker[key] = v.clone();
            }
        }
        Some(marker)
    }
}

/// The bytes a base64 text of `len` characters decodes to (about).
fn decoded_len(len: usize) -> usize {
    len / 4 * 3
}

fn size_text(bytes: usize) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.0} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

/// The media type of a `data:` URL (`image/png` in `data:image/png;base64,...`).
fn data_url_media(url: &str) -> (&str, &str) {
    let rest = &url["data:".len()..];
    let head = rest.split(',').next().unwrap_or("");
    let media = head.split(';').next().filter(|m| !m.is_empty());
    (media.unwrap_or("inline"), head)
}

impl Processor for InlineBlobLimit {
    fn name(&self) -> &str {
        "inline-blob-limit"
    }

    /// It parses and walks content: off the application's thread.
    fn offload(&self) -> bool {
        true
    }

    fn process(&self, span: &mut SpanRecord) -> Verdict {
        span.decode_content();
        let mut omitted = 0;
        for v in [
            &mut span.input,
            &mut span.output,
            &mut span.system_instructions,
        ]
        .into_iter()
        .flatten()
        {
            omitted += self.apply(v);
        }
        if let Some(tool) = &mut span.tool {
            for v in [&mut tool.arguments, &mut tool.result]
                .into_iter()
                .flatten()
            {
                omitted += self.apply(v);
            }
        }
        if omitted > 0 {
            span.attributes
                .insert("aitrace.omitted_blobs".into(), Value::from(omitted));
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_blob_becomes_a_marker_with_its_media_type_and_size_and_a_small_one_stays() {
        let limit = InlineBlobLimit::new(1_000);
        let big = "A".repeat(4_000);
        let mut v = json!([{"role": "user", "parts": [
            {"type": "text", "content": "what is this?"},
            {"type": "blob", "modality": "image", "mime_type": "image/png", "content": big},
            {"type": "blob", "modality": "audio", "content": "AAAA"},
        ]}]);
        assert_eq!(limit.apply(&mut v), 1);
        let parts = &v[0]["parts"];
        assert_eq!(parts[0]["content"], "what is this?");
        assert_eq!(parts[1]["type"], OMITTED_BLOB_TYPE);
        assert_eq!(parts[1]["modality"], "image");
        assert_eq!(parts[1]["mime_type"], "image/png");
        assert_eq!(parts[1]["size_bytes"], 3_000);
        assert!(parts[1].get("content").is_none());
        assert_eq!(parts[2]["content"], "AAAA");
    }

    #[test]
    fn a_long_data_url_is_replaced_and_named() {
        let limit = InlineBlobLimit::new(100);
        let mut v =
            json!({"image_url": format!("data:image/jpeg;base64,{}", "B".repeat(2_000_000))});
        assert_eq!(limit.apply(&mut v), 1);
        let text = v["image_url"].as_str().unwrap();
        assert!(
            text.starts_with("[image/jpeg data URL of 1.5 MB left out"),
            "{text}"
        );
        let mut short = json!("data:image/png;base64,AAAA");
        assert_eq!(limit.apply(&mut short), 0);
    }
}
