//! Chunk aggregation keeps usage totals and timing; truncation keeps records under their budget.

use aitrace_core::testing::{capture_with, total_billable_usage};
use aitrace_core::{builder, chunk_span, generation_span, tool_span, AiSpanExt, SpanRecord, Usage};
use aitrace_filters::{ChunkAggregator, Truncator};
use serde_json::json;

fn streamed() {
    let g = generation_span!("openai", "gpt-4o");
    g.in_scope(|| {
        std::thread::sleep(std::time::Duration::from_millis(5));
        for i in 0..50 {
            let c = chunk_span!(index = i);
            c.set_output(format!("w{i} "));
            if i == 49 {
                // Providers report usage on the final chunk.
                c.record_usage(Usage::new(300, 50));
            }
        }
    });
}

#[test]
fn chunks_collapse_into_their_parent_and_usage_totals_are_preserved() {
    let raw = capture_with(builder(), streamed);
    assert_eq!(raw.len(), 51);
    // Usage only on the last chunk is the call's: billed once, on the generation, with or without
    // the aggregator (the chunk keeps it for display, not billed).
    assert_eq!(total_billable_usage(&raw), Usage::new(300, 50));
    assert!(raw.iter().find(|s| s.name == "chat").unwrap().billable);

    let spans = capture_with(
        builder().processor(ChunkAggregator::new().collect_text(true)),
        streamed,
    );
    assert_eq!(spans.len(), 1, "chunks never reach exporters");
    let g = &spans[0];
    assert_eq!(g.attributes["aitrace.chunks.count"], 50);
    assert_eq!(total_billable_usage(&spans), Usage::new(300, 50));
    assert!(
        g.time_to_first_token_s.unwrap() >= 0.005,
        "first chunk came after 5 ms"
    );
    let text = g.output.as_ref().unwrap().as_str().unwrap();
    assert!(text.starts_with("w0 w1 ") && text.ends_with("w49 "));

    let without_text = capture_with(builder().processor(ChunkAggregator::new()), streamed);
    assert!(without_text[0].output.is_none());
}

#[test]
fn truncation_keeps_records_under_budget_with_a_visible_marker() {
    let big = "é".repeat(2_500_000); // 5 MB of 2-byte characters
    let spans = capture_with(builder().processor(Truncator::default()), || {
        let t = tool_span!("fetch");
        t.set_input(json!({"doc": big, "small": "keep me"}));
        t.set_output(big.as_str());
        t.set_metadata("note", "short");
    });
    let t: &SpanRecord = &spans[0];
    assert!(t.estimated_size() <= 1_000_000, "{}", t.estimated_size());
    let doc = t.input.as_ref().unwrap()["doc"].as_str().unwrap();
    assert!(
        doc.contains("…[truncated: kept ") && doc.ends_with(" of 5000000 bytes]"),
        "{}",
        &doc[doc.len() - 60..]
    );
    assert!(doc.starts_with("ééé"));
    assert_eq!(t.input.as_ref().unwrap()["small"], "keep me");
    assert_eq!(t.metadata["note"], "short");
    let custom = capture_with(builder().processor(Truncator::new(100, 1_000_000)), || {
        tool_span!("t").set_input("x".repeat(150));
    });
    assert_eq!(
        custom[0].input.as_ref().unwrap().as_str().unwrap(),
        format!(
            "{}{}",
            "x".repeat(100),
            aitrace_filters::truncation_marker(100, 150)
        )
    );
}
