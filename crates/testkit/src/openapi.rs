//! Validates JSON against a schema of a vendor's OpenAPI document, for the subset of JSON Schema those
//! documents use here: `type`, `nullable`, `enum`, `properties`, `required`, `additionalProperties`,
//! `items`, `$ref` (to `#/components/schemas/...`), `oneOf`, `minimum`/`maximum`, `minLength`, and the
//! `date-time` format. Specs are JSON or YAML (`.yml`/`.yaml`).

use serde_json::Value;

/// The folder of the vendors' specs: `AITRACE_SPECS_DIR` (set by `cargo xtask ci` to `../shared/specs`).
/// `None` (and a note) when unset, as in a user's clone; a panic when set but missing.
pub fn load_spec(file: &str) -> Option<Value> {
    let Ok(dir) = std::env::var("AITRACE_SPECS_DIR") else {
        eprintln!("AITRACE_SPECS_DIR is not set: skipping validation against {file}");
        return None;
    };
    let path = std::path::Path::new(&dir).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "AITRACE_SPECS_DIR is set but {} cannot be read: {e}",
            path.display()
        )
    });
    if file.ends_with(".yml") || file.ends_with(".yaml") {
        return Some(
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        );
    }
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return false;
    }
    if !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &s[i..] {
        "Z" | "z" => true,
        tz => tz.len() == 6 && matches!(tz.as_bytes()[0], b'+' | b'-') && tz.as_bytes()[3] == b':',
    }
}

/// Every violation of `schema` by `value`, with its JSON path.
pub fn validate(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        match root["components"]["schemas"].get(name) {
            Some(target) => validate(root, target, value, path, errors),
            None => errors.push(format!("{path}: unresolved $ref {r}")),
        }
        return;
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                validate(root, o, value, path, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!(
                "{path}: {value} matches {matching} of the oneOf schemas, not exactly one"
            ));
        }
        return;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        if !options.contains(value) {
            errors.push(format!("{path}: {value} not in {options:?}"));
        }
        return;
    }
    let Some(ty) = schema.get("type").and_then(Value::as_str) else {
        return; // untyped: any JSON value
    };
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) {
            errors.push(format!("{path}: null but not nullable"));
        }
        return;
    }
    let ok = match ty {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        other => {
            errors.push(format!("{path}: unsupported schema type {other}"));
            return;
        }
    };
    if !ok {
        errors.push(format!("{path}: expected {ty}, got {value}"));
        return;
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            errors.push(format!("{path}: {n} < minimum {min}"));
        }
    }
    if let (Some(max), Some(n)) = (
        schema.get("maximum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n > max {
            errors.push(format!("{path}: {n} > maximum {max}"));
        }
    }
    if let (Some(min), Some(s)) = (
        schema.get("minLength").and_then(Value::as_u64),
        value.as_str(),
    ) {
        if (s.chars().count() as u64) < min {
            errors.push(format!("{path}: shorter than {min}"));
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time") {
        if let Some(s) = value.as_str() {
            if !is_rfc3339(s) {
                errors.push(format!("{path}: {s:?} is not an RFC 3339 date-time"));
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(root, item_schema, item, &format!("{path}[{i}]"), errors);
            }
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = required.as_str() {
                if !object.contains_key(k) {
                    errors.push(format!("{path}: missing required {k}"));
                }
            }
        }
        for (k, v) in object {
            let child = format!("{path}.{k}");
            match properties.and_then(|p| p.get(k)) {
                Some(s) => validate(root, s, v, &child, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{child}: not allowed")),
                    Some(s @ Value::Object(_)) => validate(root, s, v, &child, errors),
                    _ => {}
                },
            }
        }
    }
}

/// Validates `value` against `components.schemas.<name>`; returns the violations.
pub fn check(root: &Value, name: &str, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(
        root,
        &serde_json::json!({ "$ref": format!("#/components/schemas/{name}") }),
        value,
        name,
        &mut errors,
    );
    errors
}
