//! The GenAI mapping and the OpenInference dialect never panic, whatever a record holds, and never
//! write a deprecated attribute or usage on a non-billable span.

use aitrace_core::testing::Arbitrary;
use aitrace_otel::mapping::{to_span_data, MappingOptions, DEPRECATED_ATTRIBUTES};
use aitrace_otel::semconv::RENAMED_ATTRIBUTES;
use aitrace_otel::{Dialect, OpenInference, SemconvMode};

#[test]
fn mapping_arbitrary_records_never_panics_and_keeps_the_rules() {
    let (mut g, iterations) = Arbitrary::from_env(7, 2000);
    for _ in 0..iterations {
        let r = g.span_record();
        for options in [
            MappingOptions::default(),
            MappingOptions {
                capture_content: false,
                semconv_span_names: false,
                semconv: SemconvMode::Latest,
            },
            MappingOptions {
                semconv: SemconvMode::Latest,
                ..MappingOptions::default()
            },
        ] {
            let dialects: Vec<Box<dyn Dialect>> =
                vec![Box::new(OpenInference::new(options.capture_content))];
            let span = to_span_data(&r, &options, &dialects);
            let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
            assert!(
                !keys.iter().any(|k| DEPRECATED_ATTRIBUTES.contains(k)),
                "deprecated attribute in {keys:?}"
            );
            if options.semconv == SemconvMode::Latest {
                for (_, previous) in RENAMED_ATTRIBUTES {
                    let from_params = r.kind == aitrace_core::SpanKind::Retrieval
                        || previous.starts_with("gen_ai.usage.");
                    assert!(
                        !(from_params && keys.contains(previous)),
                        "{previous} in the latest mode: {keys:?}"
                    );
                }
            }
            if !r.billable {
                assert!(
                    !keys.iter().any(
                        |k| k.starts_with("gen_ai.usage.") || k.starts_with("llm.token_count.")
                    ),
                    "usage on a non-billable span"
                );
            }
            if !options.capture_content {
                assert!(!keys.contains(&"gen_ai.input.messages") && !keys.contains(&"input.value"));
            }
        }
    }
}
