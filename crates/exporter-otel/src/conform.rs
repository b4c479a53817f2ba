//! Content values shaped the way the conventions' JSON schemas require, whatever an instrumentation
//! recorded: every message part has a string `type`; tool call arguments and results are objects;
//! retrieved documents are objects with a string `id` and a numeric `score`. Pure functions, run on the
//! worker thread as part of the mapping.

use serde_json::{Map, Value as Json};

/// Gives every part of every message a string `type`: a part recorded without one is a generic part of
/// type `unknown`; a non-string type is kept as its JSON text.
pub(crate) fn message_parts(messages: &mut Json) {
    let Json::Array(items) = messages else {
        return;
    };
    for m in items {
        let Some(Json::Array(parts)) = m.get_mut("parts") else {
            continue;
        };
        for part in parts {
            let Json::Object(p) = part else { continue };
            match p.get("type") {
                Some(Json::String(_)) => {}
                Some(other) => {
                    let text = other.to_string();
                    p.insert("type".into(), Json::String(text));
                }
                None => {
                    p.insert("type".into(), Json::from("unknown"));
                }
            }
        }
    }
}

/// Tool call arguments and results as the objects the conventions require: an object as it is, JSON
/// text of an object parsed, anything else (a plain string, a number, an array) under `value`.
pub(crate) fn tool_object(v: &Json) -> Json {
    match v {
        Json::Object(_) => v.clone(),
        Json::String(text) => match serde_json::from_str::<Json>(text) {
            Ok(parsed @ Json::Object(_)) => parsed,
            _ => wrap(v.clone()),
        },
        other => wrap(other.clone()),
    }
}

fn wrap(v: Json) -> Json {
    let mut m = Map::with_capacity(1);
    m.insert("value".into(), v);
    Json::Object(m)
}

/// Retrieved documents as the conventions' schema has them: an array of objects, `id` a string,
/// `score` a number (a numeric string is parsed; any other score is kept as `aitrace.score`). A
/// document that is not an object becomes `{"content": ...}`.
pub(crate) fn retrieval_documents(v: &Json) -> Json {
    let items = match v {
        Json::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    Json::Array(
        items
            .into_iter()
            .map(|d| {
                let mut doc = match d {
                    Json::Object(m) => m,
                    other => {
                        let mut m = Map::with_capacity(1);
                        m.insert("content".into(), other);
                        m
                    }
                };
                if let Some(id) = doc.get("id").filter(|id| !id.is_string() && !id.is_null()) {
                    let text = match id {
                        Json::Number(n) => n.to_string(),
                        other => other.to_string(),
                    };
                    doc.insert("id".into(), Json::String(text));
                }
                match doc.get("score") {
                    None | Some(Json::Number(_)) | Some(Json::Null) => {}
                    Some(Json::String(s)) if s.trim().parse::<f64>().is_ok() => {
                        let n = s.trim().parse::<f64>().unwrap_or_default();
                        doc.insert("score".into(), Json::from(n));
                    }
                    Some(_) => {
                        if let Some(score) = doc.remove("score") {
                            doc.insert("aitrace.score".into(), score);
                        }
                    }
                }
                Json::Object(doc)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_take_the_shapes_the_schemas_require() {
        assert_eq!(tool_object(&json!({"a": 1})), json!({"a": 1}));
        assert_eq!(tool_object(&json!("{\"a\": 1}")), json!({"a": 1}));
        assert_eq!(tool_object(&json!("rainy")), json!({"value": "rainy"}));
        assert_eq!(tool_object(&json!([1, 2])), json!({"value": [1, 2]}));
        assert_eq!(
            retrieval_documents(
                &json!([{"id": 42, "score": "0.91"}, "plain", {"id": "d", "score": "high"}])
            ),
            json!([{"id": "42", "score": 0.91}, {"content": "plain"}, {"id": "d", "aitrace.score": "high"}])
        );
        let mut m = json!([{"role": "user", "parts": [{"content": "x"}, {"type": 3}]}]);
        message_parts(&mut m);
        assert_eq!(
            m,
            json!([{"role": "user", "parts": [{"content": "x", "type": "unknown"}, {"type": "3"}]}])
        );
    }
}
