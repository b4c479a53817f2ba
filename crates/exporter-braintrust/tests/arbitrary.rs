//! Braintrust rows built from arbitrary records never panic and always validate against Braintrust's
//! official `InsertProjectLogsEvent` schema (when the specs folder is available).

mod support;

use aitrace_braintrust::{event, span_type};
use aitrace_core::testing::Arbitrary;
use support::openapi;

#[test]
fn arbitrary_records_make_valid_rows() {
    let spec = openapi::load_spec("braintrust-openapi.json");
    let (mut g, iterations) = Arbitrary::from_env(13, 2000);
    for _ in 0..iterations {
        let r = g.span_record();
        let row = event(&r, &r.tags);
        assert_eq!(row["span_attributes"]["type"], span_type(&r));
        if span_type(&r) != "llm" {
            assert!(
                row["metrics"].get("prompt_tokens").is_none(),
                "tokens on a non-llm row"
            );
        }
        if let Some(spec) = &spec {
            let errors = openapi::check(spec, "InsertProjectLogsEvent", &row);
            assert!(errors.is_empty(), "{errors:#?}\n{row}");
        }
    }
}
