//! SensitiveDataFilter on any JSON (or any text, as a string and as JSON inside a string): never
//! panics (libFuzzer's panic hook aborts even on panics the filter would catch), and redacting twice
//! changes nothing more.
#![no_main]

use std::sync::OnceLock;

use aitrace_core::TraceId;
use aitrace_filters::SensitiveDataFilter;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

static FILTER: OnceLock<SensitiveDataFilter> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let filter = FILTER.get_or_init(SensitiveDataFilter::default);
    let trace = TraceId::from_u128(0x0707_0707);
    let value = serde_json::from_slice::<Value>(data)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(data).into_owned()));
    let inside_a_string = Value::String(value.to_string());
    for mut v in [value, inside_a_string] {
        filter.redact_value(trace, &mut v);
        let once = v.clone();
        filter.redact_value(trace, &mut v);
        assert_eq!(v, once, "redaction is not idempotent");
    }
});
