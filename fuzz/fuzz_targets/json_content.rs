//! The JSON-in-string parser behind `gen_ai.input.messages = "[...]"`: never panics, keeps text it
//! does not parse exactly as it was, and what it parses is an array or object that re-serializes to
//! valid JSON. (Values are not compared after a round trip: serde_json's default float parsing may
//! differ in the last bit for very long numbers, a documented trade-off of its fast path.)
#![no_main]

use aitrace_core::fields::parse_json_or_string;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let parsed = parse_json_or_string(text.clone());
    match &parsed {
        Value::String(s) => assert_eq!(s, &text, "unparsed text must be kept as it was"),
        v => {
            assert!(
                v.is_array() || v.is_object(),
                "only arrays and objects are parsed"
            );
            let again: Value = serde_json::from_str(&v.to_string()).expect("valid JSON");
            assert_eq!(again.is_array(), v.is_array());
        }
    }
});
