//! The Langfuse dialect never panics and always writes what Langfuse parses: JSON-object strings for
//! usage, cost and model parameters, non-negative integer usage.

use aitrace_core::export::Trace;
use aitrace_core::testing::Arbitrary;
use aitrace_langfuse::{langfuse_attributes, observation_type, Deployment, TraceContext};
use opentelemetry::Value;

#[test]
fn arbitrary_records_map_to_attributes_langfuse_accepts() {
    let (mut g, iterations) = Arbitrary::from_env(11, 2000);
    let deployment = Deployment {
        environment: Some("test".into()),
        ..Deployment::default()
    };
    for _ in 0..iterations {
        let records: Vec<_> = (0..3).map(|_| g.span_record()).collect();
        let view = Trace {
            trace_id: records[0].trace_id,
            spans: records.iter().collect(),
            indices: vec![0, 1, 2],
        };
        let ctx = TraceContext::of(&view);
        for r in &records {
            let attrs = langfuse_attributes(r, &ctx, &deployment);
            let get = |k: &str| {
                attrs
                    .iter()
                    .find(|kv| kv.key.as_str() == k)
                    .map(|kv| kv.value.clone())
            };
            assert_eq!(
                get("langfuse.observation.type"),
                Some(Value::String(observation_type(r).into()))
            );
            for k in [
                "langfuse.observation.usage_details",
                "langfuse.observation.cost_details",
                "langfuse.observation.model.parameters",
            ] {
                if let Some(Value::String(s)) = get(k) {
                    let v: serde_json::Value = serde_json::from_str(s.as_str())
                        .unwrap_or_else(|e| panic!("{k}: {e}: {s}"));
                    assert!(v.is_object(), "{k} must be a JSON object string");
                    if k.ends_with("usage_details") {
                        assert!(v.as_object().unwrap().values().all(|n| n.is_u64()), "{v}");
                    }
                } else {
                    assert!(get(k).is_none(), "{k} must be a string");
                }
            }
            if !r.billable {
                assert!(get("langfuse.observation.usage_details").is_none());
            }
        }
    }
}
