//! Any span record (decoded from the fuzzer's bytes through its stable JSON form) through the OTel,
//! Langfuse and Braintrust mappings and through `shrink_to`: never panics, never writes the
//! deprecated `gen_ai.prompt`/`gen_ai.completion` attributes or usage on a non-billable span, and
//! Braintrust rows are JSON objects with their span type.
#![no_main]

use aitrace_core::{SpanRecord};
use aitrace_core::export::{Trace};
use aitrace_langfuse::{langfuse_attributes, Deployment, TraceContext};
use aitrace_otel::{to_span_data, MappingOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut record) = serde_json::from_slice::<SpanRecord>(data) else {
        return;
    };
    record.decode_content();
    let span = to_span_data(&record, &MappingOptions::default(), &[]);
    for kv in &span.attributes {
        let key = kv.key.as_str();
        assert!(
            key != "gen_ai.prompt" && key != "gen_ai.completion",
            "deprecated attribute {key}"
        );
        if !record.billable {
            assert!(
                !key.starts_with("gen_ai.usage."),
                "usage on a non-billable span: {key}"
            );
        }
    }
    let view = Trace {
        trace_id: record.trace_id,
        spans: vec![&record],
        indices: vec![0],
    };
    let context = TraceContext::of(&view);
    let _ = langfuse_attributes(&record, &context, &Deployment::default());
    let row = aitrace_braintrust::event(&record, &record.tags);
    assert!(row.is_object());
    assert_eq!(
        row["span_attributes"]["type"],
        aitrace_braintrust::span_type(&record)
    );
    let mut shrunk = record.clone();
    shrunk.shrink_to(1024, 16 * 1024);
});
