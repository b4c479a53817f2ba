//! Costs computed from the price table match hand-computed values.

use aitrace_core::testing::capture_with;
use aitrace_core::{
    builder, generation_span, step_span, AiSpanExt, Cost, SpanKind, SpanRecord, Usage,
};
use aitrace_filters::{CostProcessor, ModelPrice, PriceTable};

fn record(provider: &str, model: &str, usage: Usage) -> SpanRecord {
    let mut r = SpanRecord::new("chat", SpanKind::ModelGeneration);
    r.provider = Some(provider.into());
    r.response_model = Some(model.into());
    r.usage = Some(usage);
    r.billable = true;
    r
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn costs_match_hand_computed_values() {
    let p = CostProcessor::default();
    // gpt-4o: 600 uncached × 2.50 + 400 cached × 1.25 + 200 out × 10.00 (per million)
    let c = p
        .cost_of(&record(
            "openai",
            "gpt-4o-2024-08-06",
            Usage::new(1000, 200).with_cache_read(400),
        ))
        .unwrap();
    assert!(
        close(c.input.unwrap(), 0.0015)
            && close(c.cache_read_input.unwrap(), 0.0005)
            && close(c.output.unwrap(), 0.002)
    );
    assert!(close(c.total.unwrap(), 0.004), "{c:?}");
    // claude-3-5-haiku: 500 uncached × 0.80 + 1000 read × 0.08 + 500 write × 1.00 + 100 out × 4.00
    let u = Usage::new(2000, 100)
        .with_cache_read(1000)
        .with_cache_creation(500);
    let c = p
        .cost_of(&record("anthropic", "claude-3-5-haiku-20241022", u))
        .unwrap();
    assert!(
        close(c.total.unwrap(), 0.0004 + 0.00008 + 0.0005 + 0.0004),
        "{c:?}"
    );
    // o4-mini: reasoning billed at the output price: 100 × 1.10 + 200 × 4.40 + 800 × 4.40
    let c = p
        .cost_of(&record(
            "openai",
            "o4-mini",
            Usage::new(100, 1000).with_reasoning(800),
        ))
        .unwrap();
    assert!(
        close(c.reasoning.unwrap(), 0.00352)
            && close(c.total.unwrap(), 0.00011 + 0.00088 + 0.00352),
        "{c:?}"
    );
    // Embeddings: a million tokens of text-embedding-3-small.
    let c = p
        .cost_of(&record("openai", "text-embedding-3-small", {
            let mut u = Usage::default();
            u.input_tokens = Some(1_000_000);
            u
        }))
        .unwrap();
    assert!(close(c.total.unwrap(), 0.02));
    assert_eq!(c.currency, "USD");
}

#[test]
fn unknown_models_get_no_cost_and_lookups_do_not_confuse_siblings() {
    let p = CostProcessor::default();
    assert!(p
        .cost_of(&record("openai", "my-finetune-v3", Usage::new(10, 10)))
        .is_none());
    assert!(
        p.cost_of(&record("anthropic", "gpt-4o", Usage::new(10, 10)))
            .is_none(),
        "provider must agree"
    );
    let table = PriceTable::builtin();
    assert_eq!(
        table
            .lookup(Some("openai"), "gpt-4o-mini-2024-07-18")
            .unwrap()
            .model,
        "gpt-4o-mini"
    );
    assert_eq!(
        table.lookup(None, "gpt-4o-mini").unwrap().model,
        "gpt-4o-mini"
    );
    assert_eq!(
        table
            .lookup(None, "claude-sonnet-4-5-20250929")
            .unwrap()
            .model,
        "claude-sonnet-4-5"
    );
    assert!(table.lookup(None, "gpt-4o-experimental").is_none());
    assert!(table.as_of.is_some(), "the built-in table is dated");
}

#[test]
fn overrides_from_code_and_files_win_and_bad_tables_are_errors() {
    let table = PriceTable::builtin().with(ModelPrice {
        provider: Some("openai".into()),
        model: "gpt-4o".into(),
        input: 1.0,
        output: 2.0,
        cache_read: None,
        cache_write: None,
        reasoning: None,
        input_audio: None,
        output_audio: None,
    });
    let c = CostProcessor::new(table)
        .cost_of(&record(
            "openai",
            "gpt-4o",
            Usage::new(1_000_000, 1_000_000),
        ))
        .unwrap();
    assert!(close(c.total.unwrap(), 3.0));
    let dir = std::env::temp_dir().join(format!("aitrace-prices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("prices.json");
    std::fs::write(
        &path,
        r#"{"currency":"EUR","models":[{"model":"house-model","input":4,"output":8}]}"#,
    )
    .unwrap();
    let c = CostProcessor::new(PriceTable::from_file(&path).unwrap())
        .cost_of(&record(
            "self-hosted",
            "house-model",
            Usage::new(500_000, 250_000),
        ))
        .unwrap();
    assert!(close(c.total.unwrap(), 4.0) && c.currency == "EUR");
    std::fs::write(&path, r#"{"models":[{"model":"x","input":-1,"output":1}]}"#).unwrap();
    assert_eq!(
        PriceTable::from_file(&path).unwrap_err().setting,
        "price table"
    );
    assert!(PriceTable::from_file(dir.join("missing.json")).is_err());
    assert!(PriceTable::from_json("{not json").is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_processor_costs_billable_spans_only_and_keeps_user_costs() {
    let spans = capture_with(builder().processor(CostProcessor::default()), || {
        let g = generation_span!("openai", "gpt-4o-mini");
        g.in_scope(|| step_span!(0).record_usage(Usage::new(1000, 100)));
        let mine = generation_span!("openai", "gpt-4o", aitrace.name = "mine");
        mine.record_usage(Usage::new(1, 1));
        mine.record_cost(Cost::usd(42.0));
    });
    let g = spans.iter().find(|s| s.name == "chat").unwrap();
    // The generation bills its step's usage: 1000 × 0.15 + 100 × 0.60 per million.
    assert!(close(
        g.cost.as_ref().unwrap().total.unwrap(),
        0.00015 + 0.00006
    ));
    assert!(
        spans
            .iter()
            .find(|s| s.name == "step")
            .unwrap()
            .cost
            .is_none(),
        "the step is not billed"
    );
    assert_eq!(
        spans
            .iter()
            .find(|s| s.name == "mine")
            .unwrap()
            .cost
            .as_ref()
            .unwrap()
            .total,
        Some(42.0)
    );
}
