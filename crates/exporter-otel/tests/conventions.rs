//! The OTel exporter against the GenAI conventions it targets, semantic-conventions-genai v0.1.0, in
//! both modes:
//! - a registry check: every `gen_ai.*` attribute, event and metric name the exporter can write is a
//!   name of that registry (plus, in transition mode only, the v1.41 name it replaced), so a misspelt or
//!   retired name fails CI;
//! - the conventions' own conformance rules for the message attributes, tool definitions, tool call
//!   arguments/results and retrieved documents, checked on every value the exporter writes for every
//!   shape aitrace records;
//! - the mapping rules of v0.1.0 one by one.

use std::collections::BTreeSet;

use aitrace_core::testing::Arbitrary;
use aitrace_core::{
    AgentInfo, ChatMessage, KnownPart, Part, SpanKind as Kind, SpanRecord, Status, ToolInfo, Usage,
};
use aitrace_otel::mapping::{to_span_data, MappingOptions};
use aitrace_otel::semconv::{SemconvMode, KNOWN_PART_TYPES, RENAMED_ATTRIBUTES};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{json, Value as Json};

// ---------------------------------------------------------------------------------------------
// The registry, as read.

/// What the lists below were read from, and when.
const REGISTRY_SOURCE: &str = "open-telemetry/semantic-conventions-genai v0.1.0: \
     docs/registry/attributes/gen-ai.md, docs/gen-ai/non-normative/migration.md, \
     docs/gen-ai/gen-ai-exceptions.md, docs/gen-ai/gen-ai-metrics.md; read 2026-12-07";

/// Every attribute of the GenAI registry of v0.1.0 (`cache_creation` renamed `cache_write`,
/// `gen_ai.retrieval.top_k` added, per the migration guide).
const GENAI_ATTRIBUTES: &[&str] = &[
    "gen_ai.agent.description",
    "gen_ai.agent.id",
    "gen_ai.agent.name",
    "gen_ai.agent.version",
    "gen_ai.conversation.id",
    "gen_ai.data_source.id",
    "gen_ai.embeddings.dimension.count",
    "gen_ai.evaluation.explanation",
    "gen_ai.evaluation.name",
    "gen_ai.evaluation.score.label",
    "gen_ai.evaluation.score.value",
    "gen_ai.input.messages",
    "gen_ai.memory.query.text",
    "gen_ai.memory.record.count",
    "gen_ai.memory.record.id",
    "gen_ai.memory.records",
    "gen_ai.memory.store.id",
    "gen_ai.operation.name",
    "gen_ai.output.messages",
    "gen_ai.output.type",
    "gen_ai.prompt.name",
    "gen_ai.provider.name",
    "gen_ai.request.choice.count",
    "gen_ai.request.encoding_formats",
    "gen_ai.request.frequency_penalty",
    "gen_ai.request.max_tokens",
    "gen_ai.request.model",
    "gen_ai.request.presence_penalty",
    "gen_ai.request.seed",
    "gen_ai.request.stop_sequences",
    "gen_ai.request.stream",
    "gen_ai.request.temperature",
    "gen_ai.request.top_k",
    "gen_ai.request.top_p",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.retrieval.documents",
    "gen_ai.retrieval.query.text",
    "gen_ai.retrieval.top_k",
    "gen_ai.system_instructions",
    "gen_ai.token.cache",
    "gen_ai.token.modality",
    "gen_ai.token.phase",
    "gen_ai.token.type",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.id",
    "gen_ai.tool.call.result",
    "gen_ai.tool.definitions",
    "gen_ai.tool.description",
    "gen_ai.tool.name",
    "gen_ai.tool.type",
    "gen_ai.usage.audio.input_tokens",
    "gen_ai.usage.audio.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.image.input_tokens",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.text.input_tokens",
    "gen_ai.usage.text.output_tokens",
    "gen_ai.usage.video.input_tokens",
    "gen_ai.workflow.name",
];

/// Names of the main semantic conventions the GenAI spans and events reference.
const GENERAL_ATTRIBUTES: &[&str] = &[
    "error.type",
    "user.id",
    "server.address",
    "server.port",
    "exception.type",
    "exception.message",
];

/// The v1.41 names v0.1.0 renamed: allowed in transition mode only.
const V1_41_ATTRIBUTES: &[&str] = &["gen_ai.usage.cache_creation.input_tokens"];

/// The GenAI event names of v0.1.0 the exporter may write.
const GENAI_EVENTS: &[&str] = &[
    "gen_ai.client.operation.exception",
    "gen_ai.client.inference.operation.details",
    "gen_ai.evaluation.result",
];

/// The GenAI metrics of v0.1.0.
const GENAI_METRICS: &[&str] = &[
    "gen_ai.client.inference.duration",
    "gen_ai.client.inference.time_to_first_chunk",
    "gen_ai.client.inference.time_per_output_chunk",
    "gen_ai.client.inference.usage.input_tokens",
    "gen_ai.client.inference.usage.output_tokens",
    "gen_ai.client.inference.usage.cache_read.input_tokens",
    "gen_ai.client.inference.usage.cache_write.input_tokens",
    "gen_ai.client.inference.usage.reasoning.output_tokens",
    "gen_ai.client.inference.operation.input_tokens",
    "gen_ai.client.inference.operation.output_tokens",
    "gen_ai.client.operation.duration",
    "gen_ai.invoke_agent.duration",
    "gen_ai.invoke_workflow.duration",
    "gen_ai.execute_tool.duration",
    "gen_ai.invoke_agent.inference_calls",
    "gen_ai.invoke_agent.tool_calls",
];

/// The v1.41 metrics v0.1.0 replaced: allowed in transition mode only.
const V1_41_METRICS: &[&str] = &[
    "gen_ai.client.token.usage",
    "gen_ai.client.operation.time_to_first_chunk",
];

// ---------------------------------------------------------------------------------------------
// Records of every shape aitrace records.

fn blob(content: &str) -> Part {
    Part::Known(KnownPart::Blob {
        modality: "image".into(),
        mime_type: Some("image/png".into()),
        content: content.into(),
    })
}

fn messages(m: &[ChatMessage]) -> Json {
    aitrace_core::messages_to_value(m)
}

/// One record of each kind with every field set, and the message shapes: text, a tool call round
/// trip, reasoning, blobs, uri and file parts, server tool calls, generic parts, system instructions
/// with a part they may not hold.
fn shapes() -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let mut r = SpanRecord::new(format!("{} span", kind.as_str()), kind);
        r.billable = kind.is_billable_kind();
        r.provider = Some("openai".into());
        r.request_model = Some("gpt-4o".into());
        r.response_model = Some("gpt-4o-2024-08-06".into());
        r.response_id = Some("chatcmpl-1".into());
        let mut usage = Usage::new(1000, 200)
            .with_cache_read(600)
            .with_cache_creation(50)
            .with_reasoning(40);
        usage.input_audio_tokens = Some(10);
        usage.output_audio_tokens = Some(5);
        usage.input_text_tokens = Some(900);
        usage.input_image_tokens = Some(90);
        usage.output_text_tokens = Some(150);
        usage.output_image_tokens = Some(45);
        usage.tool_use_prompt_tokens = Some(7);
        usage.total_tokens = Some(1200);
        r.usage = Some(usage);
        r.cost = Some(aitrace_core::Cost::usd(0.01));
        r.params.temperature = Some(0.2);
        r.params.max_tokens = Some(512);
        r.params.top_p = Some(0.9);
        r.params.top_k = Some(5.0);
        r.params.frequency_penalty = Some(0.1);
        r.params.presence_penalty = Some(0.1);
        r.params.stop_sequences = vec!["END".into()];
        r.params.seed = Some(7);
        r.params.choice_count = Some(2);
        r.params.stream = Some(true);
        r.time_to_first_token_s = Some(0.3);
        r.session_id = Some("conv-1".into());
        r.user_id = Some("user-1".into());
        r.tags = vec!["beta".into()];
        r.metadata.insert("team".into(), json!("search"));
        r.attempt = (kind == Kind::FallbackAttempt).then_some(1);
        r.agent = Some(AgentInfo {
            id: Some("ag-1".into()),
            name: Some("support".into()),
            description: Some("answers".into()),
            version: Some("1.2".into()),
        });
        if matches!(kind, Kind::ToolCall | Kind::McpToolCall) {
            r.tool = Some(ToolInfo {
                name: Some("lookup_order".into()),
                call_id: Some("call_1".into()),
                tool_type: Some("function".into()),
                description: Some("finds an order".into()),
                arguments: Some(json!("{\"order_id\": \"1042\"}")),
                result: Some(json!("shipped")),
            });
        }
        r.attributes
            .insert("gen_ai.data_source.id".into(), json!("kb-orders"));
        r.attributes
            .insert("gen_ai.workflow.name".into(), json!("ingest"));
        r.tool_definitions = Some(json!([
            {"type": "function", "name": "lookup_order", "parameters": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"}
        ]));
        r.system_instructions = Some(json!([
            {"type": "text", "content": "Be brief."},
            {"type": "cache_marker", "ttl": "5m"},
            {"type": "blob", "modality": "image", "content": "AAAA"}
        ]));
        r.input = Some(match kind {
            Kind::Retrieval => json!("where is order 1042?"),
            Kind::Embedding => json!(["where is my order?", "order status"]),
            _ => messages(&[
                ChatMessage::user("Where is my order?")
                    .with_part(blob("iVBORw0K"))
                    .with_part(Part::Known(KnownPart::Uri {
                        modality: "image".into(),
                        mime_type: None,
                        uri: "https://example.com/a.png".into(),
                    })),
                ChatMessage::new(
                    "assistant",
                    vec![Part::tool_call(
                        "call_1",
                        "lookup_order",
                        json!({"order_id": "1042"}),
                    )],
                ),
                ChatMessage::tool_result("call_1", json!("shipped")),
                ChatMessage::new(
                    "user",
                    vec![Part::Known(KnownPart::File {
                        modality: "document".into(),
                        mime_type: Some("application/pdf".into()),
                        file_id: "file-1".into(),
                    })],
                ),
            ]),
        });
        r.output = Some(match kind {
            Kind::Retrieval => {
                json!([{"id": 42, "score": "0.91", "content": "shipped"}, "loose text"])
            }
            Kind::Embedding => json!(null),
            _ => messages(&[ChatMessage::new(
                "assistant",
                vec![
                    Part::reasoning("The order shipped yesterday."),
                    Part::Known(KnownPart::ServerToolCall {
                        id: Some("ws_1".into()),
                        name: "web_search".into(),
                        server_tool_call: json!({"type": "web_search", "query": "order 1042"}),
                    }),
                    Part::Known(KnownPart::ServerToolCallResponse {
                        id: Some("ws_1".into()),
                        server_tool_call_response: json!({"type": "web_search", "results": []}),
                    }),
                    Part::Other(
                        json!({"type": "redacted_thinking", "data": "xyz"})
                            .as_object()
                            .unwrap()
                            .clone(),
                    ),
                    Part::text("It shipped."),
                ],
            )
            .with_finish_reason("stop")]),
        });
        if kind == Kind::Embedding {
            r.output = None;
        }
        r.status = if kind == Kind::ModelGeneration {
            Status::Error {
                message: "rate limited".into(),
                error_type: Some("429".into()),
            }
        } else {
            Status::Ok
        };
        out.push(r);
    }
    // Plain text in and out of a generation, and a generation with no finish reason anywhere.
    let mut plain = SpanRecord::new("chat", Kind::ModelGeneration);
    plain.input = Some(json!("hello"));
    plain.output = Some(json!("hi!"));
    out.push(plain);
    out
}

fn options() -> Vec<MappingOptions> {
    let mut out = Vec::new();
    for semconv in [SemconvMode::Transition, SemconvMode::Latest] {
        for capture_content in [true, false] {
            out.push(MappingOptions {
                capture_content,
                semconv,
                ..MappingOptions::default()
            });
        }
    }
    out
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|KeyValue { value, .. }| value)
}

fn json_attr(span: &SpanData, key: &str) -> Option<Json> {
    attr(span, key).map(|v| {
        let Value::String(s) = v else {
            panic!("{key} is not a JSON string: {v:?}")
        };
        serde_json::from_str(s.as_str()).unwrap_or_else(|e| panic!("{key} is not JSON ({e}): {s}"))
    })
}

// ---------------------------------------------------------------------------------------------
// The registry check.

/// The names outside the record's own attributes that `span` carries and the registry does not
/// know, in `mode`.
fn unknown_names(span: &SpanData, r: &SpanRecord, mode: SemconvMode) -> Vec<String> {
    let mut out = Vec::new();
    let allowed = |k: &str| {
        GENAI_ATTRIBUTES.contains(&k)
            || GENERAL_ATTRIBUTES.contains(&k)
            || (mode == SemconvMode::Transition && V1_41_ATTRIBUTES.contains(&k))
            || k.starts_with("aitrace.")
    };
    for kv in &span.attributes {
        let k = kv.key.as_str();
        if !allowed(k) && !r.attributes.contains_key(k) {
            out.push(k.to_string());
        }
    }
    for e in &span.events.events {
        if e.name.starts_with("gen_ai.") && !GENAI_EVENTS.contains(&e.name.as_ref()) {
            out.push(format!("event {}", e.name));
        }
        if e.name.starts_with("gen_ai.") {
            for kv in &e.attributes {
                if !allowed(kv.key.as_str()) {
                    out.push(format!("{} on event {}", kv.key, e.name));
                }
            }
        }
    }
    out
}

#[test]
fn every_name_the_exporter_writes_is_in_the_registry_it_targets() {
    let (mut g, iterations) = Arbitrary::from_env(27, 1500);
    let mut records = shapes();
    records.extend((0..iterations).map(|_| g.span_record()));
    let mut written = BTreeSet::new();
    for r in &records {
        for options in options() {
            let span = to_span_data(r, &options, &[]);
            let unknown = unknown_names(&span, r, options.semconv);
            assert!(
                unknown.is_empty(),
                "{} ({:?}) writes names not in {REGISTRY_SOURCE}: {unknown:?}",
                r.name,
                options.semconv
            );
            written.extend(span.attributes.iter().map(|kv| kv.key.to_string()));
        }
    }
    // The check saw the names it guards: the renamed ones in both spellings, and content.
    for name in [
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.retrieval.top_k",
        "gen_ai.retrieval.query.text",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.result",
    ] {
        assert!(written.contains(name), "{name} never written");
    }
    // The pairs the transition mode writes are the registry's current and v1.41 names.
    for (current, previous) in RENAMED_ATTRIBUTES {
        assert!(GENAI_ATTRIBUTES.contains(current), "{current}");
        assert!(
            V1_41_ATTRIBUTES.contains(previous) || GENAI_ATTRIBUTES.contains(previous),
            "{previous}"
        );
    }
}

#[cfg(feature = "metrics")]
#[test]
fn every_metric_the_exporter_records_is_in_the_registry_it_targets() {
    use aitrace_core::Exporter;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    for mode in [SemconvMode::Transition, SemconvMode::Latest] {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let mut metrics = aitrace_otel::GenAiMetrics::with_mode(&provider.meter("test"), mode);
        let mut records = shapes();
        for r in &mut records {
            r.status = Status::Ok;
        }
        metrics.export(&records).unwrap();
        provider.force_flush().unwrap();
        let names: BTreeSet<String> = exporter
            .get_finished_metrics()
            .unwrap()
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|sm| sm.metrics())
            .map(|m| m.name().to_string())
            .collect();
        assert!(names.len() >= 10, "{names:?}");
        for name in &names {
            let known = GENAI_METRICS.contains(&name.as_str())
                || (mode == SemconvMode::Transition && V1_41_METRICS.contains(&name.as_str()));
            assert!(known, "{name} ({mode:?}) is not in {REGISTRY_SOURCE}");
        }
        let previous = names.iter().any(|n| V1_41_METRICS.contains(&n.as_str()));
        assert_eq!(previous, mode == SemconvMode::Transition, "{names:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The conformance rules, written from the JSON schemas `docs/gen-ai/gen-ai-input-messages.json`,
// `gen-ai-output-messages.json`, `gen-ai-system-instructions.json`, `model/gen-ai/
// gen-ai-retrieval-documents.json`, and the cases under `docs/gen-ai/non-normative/tests/cases/`
// (read 2026-12-07). Where a case lets a defined part type through as a generic part when its
// required fields are missing, aitrace takes the stricter reading the system-instructions case shows
// (a part of a defined type must be that type): it never writes such a part.

fn is_str(v: Option<&Json>) -> bool {
    v.is_some_and(Json::is_string)
}

fn str_or_null(v: Option<&Json>) -> bool {
    v.is_none_or(|v| v.is_string() || v.is_null())
}

/// The errors of one part (`path` names it).
fn part_errors(path: &str, part: &Json, errors: &mut Vec<String>) {
    let Some(p) = part.as_object() else {
        errors.push(format!("{path}: a part is an object, not {part}"));
        return;
    };
    let Some(kind) = p.get("type").and_then(Json::as_str) else {
        errors.push(format!("{path}: every part has a string `type`"));
        return;
    };
    let need = |field: &str, ok: bool, errors: &mut Vec<String>| {
        if !ok {
            errors.push(format!(
                "{path}: a `{kind}` part needs `{field}` of its type"
            ));
        }
    };
    match kind {
        "text" | "reasoning" => need("content", is_str(p.get("content")), errors),
        "tool_call" => {
            need("name", is_str(p.get("name")), errors);
            need("id", str_or_null(p.get("id")), errors);
        }
        "tool_call_response" => {
            need("response", p.contains_key("response"), errors);
            need("id", str_or_null(p.get("id")), errors);
        }
        "blob" => {
            need("modality", is_str(p.get("modality")), errors);
            need("content", is_str(p.get("content")), errors);
            need("mime_type", str_or_null(p.get("mime_type")), errors);
        }
        "file" => {
            need("modality", is_str(p.get("modality")), errors);
            need("file_id", is_str(p.get("file_id")), errors);
        }
        "uri" => {
            need("modality", is_str(p.get("modality")), errors);
            need("uri", is_str(p.get("uri")), errors);
        }
        "server_tool_call" => {
            need("name", is_str(p.get("name")), errors);
            need(
                "server_tool_call",
                is_str(p.get("server_tool_call").and_then(|c| c.get("type"))),
                errors,
            );
        }
        "server_tool_call_response" => need(
            "server_tool_call_response",
            is_str(
                p.get("server_tool_call_response")
                    .and_then(|c| c.get("type")),
            ),
            errors,
        ),
        // A generic part: any other type, any other properties.
        _ => {}
    }
}

/// The errors of an input (or, with `output`, an output) message list. `finish_reason`: `Some(true)`
/// requires it on every output message (the v1.41 schema), `Some(false)` forbids it (deprecated in
/// v0.1.0, so the latest mode leaves it out).
fn message_errors(v: &Json, finish_reason: Option<bool>) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(items) = v.as_array() else {
        return vec![format!("messages are an array, not {v}")];
    };
    for (i, m) in items.iter().enumerate() {
        let path = format!("$[{i}]");
        let Some(obj) = m.as_object() else {
            errors.push(format!("{path}: a message is an object"));
            continue;
        };
        match obj.get("role") {
            Some(Json::String(_)) => {}
            Some(_) => errors.push(format!("{path}.role is a string")),
            None => errors.push(format!("{path}: `role` is required")),
        }
        match obj.get("parts") {
            Some(Json::Array(parts)) => {
                for (j, p) in parts.iter().enumerate() {
                    part_errors(&format!("{path}.parts[{j}]"), p, &mut errors);
                }
            }
            Some(_) => errors.push(format!("{path}.parts is an array")),
            None => errors.push(format!("{path}: `parts` is required")),
        }
        if !str_or_null(obj.get("name")) {
            errors.push(format!("{path}.name is a string"));
        }
        match (obj.get("finish_reason"), finish_reason) {
            (Some(Json::String(_)), Some(false)) => {
                errors.push(format!("{path}.finish_reason is deprecated"))
            }
            (Some(Json::String(_)), _) => {}
            (Some(_), _) => errors.push(format!("{path}.finish_reason is a string")),
            (None, Some(true)) => errors.push(format!("{path}: `finish_reason` is required")),
            (None, _) => {}
        }
    }
    errors
}

/// System instructions: an array of text parts and generic parts; no other defined part type.
fn instruction_errors(v: &Json) -> Vec<String> {
    let Some(items) = v.as_array() else {
        return vec!["system instructions are an array of parts".into()];
    };
    let mut errors = Vec::new();
    for (i, p) in items.iter().enumerate() {
        let path = format!("$[{i}]");
        part_errors(&path, p, &mut errors);
        if let Some(kind) = p.get("type").and_then(Json::as_str) {
            if kind != "text" && KNOWN_PART_TYPES.contains(&kind) {
                errors.push(format!(
                    "{path}: a `{kind}` part is not a system instruction"
                ));
            }
        }
    }
    errors
}

/// Tool definitions: objects with a string `type` and `name`.
fn tool_definition_errors(v: &Json) -> Vec<String> {
    let Some(items) = v.as_array() else {
        return vec!["tool definitions are an array".into()];
    };
    let mut errors = Vec::new();
    for (i, d) in items.iter().enumerate() {
        for field in ["type", "name"] {
            if !is_str(d.get(field)) {
                errors.push(format!("$[{i}]: `{field}` is required"));
            }
        }
    }
    errors
}

/// Tool call arguments and results: an object.
fn tool_value_errors(v: &Json) -> Vec<String> {
    if v.is_object() {
        Vec::new()
    } else {
        vec![format!("{v} is not an object")]
    }
}

/// Retrieved documents: objects; `id` a string, `score` a number or null.
fn document_errors(v: &Json) -> Vec<String> {
    let Some(items) = v.as_array() else {
        return vec!["documents are an array".into()];
    };
    let mut errors = Vec::new();
    for (i, d) in items.iter().enumerate() {
        let Some(d) = d.as_object() else {
            errors.push(format!("$[{i}] is an object"));
            continue;
        };
        if d.get("id").is_some_and(|id| !id.is_string()) {
            errors.push(format!("$[{i}].id is a string"));
        }
        if d.get("score")
            .is_some_and(|s| !s.is_number() && !s.is_null())
        {
            errors.push(format!("$[{i}].score is a number"));
        }
    }
    errors
}

#[test]
fn the_rules_agree_with_the_conventions_cases() {
    // input-messages-text-messages / tool-call-round-trip / generic-part / unknown-part-type: valid.
    let round_trip = json!([
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c", "name": "weather", "arguments": {"city": "Oslo"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c", "response": "cold"}]},
        {"role": "user", "parts": [{"type": "search_result", "source": "https://example.org"}]}
    ]);
    assert_eq!(message_errors(&round_trip, None), Vec::<String>::new());
    // input-messages-message-missing-required: role and parts are required.
    assert_eq!(
        message_errors(&json!([{"role": "user"}, {"parts": []}]), None).len(),
        2
    );
    // output-messages-wrong-field-types: finish_reason a string, parts an array.
    let wrong = json!([
        {"role": "assistant", "parts": [], "finish_reason": 0},
        {"role": "assistant", "parts": {"type": "text", "content": "x"}}
    ]);
    assert_eq!(message_errors(&wrong, None).len(), 2);
    // output-messages-reasoning-and-generic-parts: valid.
    let reasoning = json!([{"role": "assistant", "parts": [
        {"type": "reasoning", "content": "short"}, {"type": "redacted_thinking", "data": "x"}
    ], "finish_reason": "stop"}]);
    assert!(message_errors(&reasoning, Some(true)).is_empty());
    // input-messages-parts-missing-required, read strictly (see above).
    let missing = json!([{"role": "user", "parts": [{"type": "text"}, {"type": "blob", "mime_type": "image/png"}]}]);
    assert_eq!(message_errors(&missing, None).len(), 3);
    // system-instructions-text-and-generic-parts / -unsupported-parts.
    assert!(instruction_errors(
        &json!([{"type": "text", "content": "Be kind."}, {"type": "cache_hint"}])
    )
    .is_empty());
    assert_eq!(
        instruction_errors(&json!(["bare string", {"type": "tool_call", "name": "w"}])).len(),
        2
    );
    // tool-definitions-*.
    assert!(tool_definition_errors(
        &json!([{"type": "function", "name": "w"}, {"type": "web_search_2025", "name": "s"}])
    )
    .is_empty());
    assert_eq!(
        tool_definition_errors(&json!([{"type": "function"}, {"name": "n"}])).len(),
        2
    );
    // tool-call-arguments-* / tool-call-result-*.
    assert!(tool_value_errors(&json!({"city": "Oslo"})).is_empty());
    assert_eq!(tool_value_errors(&json!("{\"city\": \"Oslo\"}")).len(), 1);
    assert_eq!(tool_value_errors(&json!([{"t": 1}])).len(), 1);
    // retrieval-documents-*.
    assert!(document_errors(&json!([{"id": "d1", "score": 0.9}])).is_empty());
    assert_eq!(
        document_errors(&json!([{"id": 42, "score": "0.91"}])).len(),
        2
    );
}

/// A rule: the errors of one attribute's value.
type Check<'a> = dyn Fn(&Json) -> Vec<String> + 'a;

#[test]
fn every_content_attribute_the_exporter_writes_follows_the_conventions_schemas() {
    let (mut g, iterations) = Arbitrary::from_env(2707, 1500);
    let mut records = shapes();
    records.extend((0..iterations).map(|_| g.span_record()));
    let mut checked = BTreeSet::new();
    for r in &records {
        for options in options().into_iter().filter(|o| o.capture_content) {
            let span = to_span_data(r, &options, &[]);
            let finish = Some(options.semconv == SemconvMode::Transition);
            let checks: [(&str, &Check<'_>); 7] = [
                ("gen_ai.input.messages", &|v| message_errors(v, None)),
                ("gen_ai.output.messages", &|v| message_errors(v, finish)),
                ("gen_ai.system_instructions", &instruction_errors),
                ("gen_ai.tool.definitions", &tool_definition_errors),
                ("gen_ai.tool.call.arguments", &tool_value_errors),
                ("gen_ai.tool.call.result", &tool_value_errors),
                ("gen_ai.retrieval.documents", &document_errors),
            ];
            for (key, check) in checks {
                if r.attributes.contains_key(key) {
                    continue; // recorded by hand, passed through as it was
                }
                if let Some(v) = json_attr(&span, key) {
                    let errors = check(&v);
                    assert!(
                        errors.is_empty(),
                        "{} ({:?}): {key} breaks the schema: {errors:?}\n{v}",
                        r.name,
                        options.semconv
                    );
                    checked.insert(key);
                }
            }
        }
    }
    assert_eq!(checked.len(), 7, "checked only {checked:?}");
}

// ---------------------------------------------------------------------------------------------
// The v0.1.0 mapping rules, one by one, in both modes.

fn span_of(kind: Kind, mode: SemconvMode) -> SpanData {
    let r = shapes().into_iter().find(|r| r.kind == kind).unwrap();
    map(&r, mode)
}

fn map(r: &SpanRecord, mode: SemconvMode) -> SpanData {
    let options = MappingOptions {
        semconv: mode,
        ..MappingOptions::default()
    };
    to_span_data(r, &options, &[])
}

#[test]
fn cache_writes_are_cache_write_and_in_transition_cache_creation_too_never_a_second_count() {
    let latest = span_of(Kind::ModelGeneration, SemconvMode::Latest);
    assert_eq!(
        attr(&latest, "gen_ai.usage.cache_write.input_tokens"),
        Some(&Value::I64(50))
    );
    assert_eq!(
        attr(&latest, "gen_ai.usage.cache_creation.input_tokens"),
        None
    );
    let transition = span_of(Kind::ModelGeneration, SemconvMode::Transition);
    assert_eq!(
        attr(&transition, "gen_ai.usage.cache_write.input_tokens"),
        Some(&Value::I64(50))
    );
    assert_eq!(
        attr(&transition, "gen_ai.usage.cache_creation.input_tokens"),
        Some(&Value::I64(50))
    );
    // Input still counts cached tokens once: the two names are one count under two spellings.
    assert_eq!(
        attr(&transition, "gen_ai.usage.input_tokens"),
        Some(&Value::I64(1000))
    );
    for span in [&latest, &transition] {
        assert_eq!(
            attr(span, "gen_ai.usage.reasoning.output_tokens"),
            Some(&Value::I64(40))
        );
        assert_eq!(
            attr(span, "gen_ai.usage.image.input_tokens"),
            Some(&Value::I64(90))
        );
        assert_eq!(
            attr(span, "gen_ai.usage.audio.output_tokens"),
            Some(&Value::I64(5))
        );
        assert_eq!(
            attr(span, "aitrace.usage.image.output_tokens"),
            Some(&Value::I64(45))
        );
        assert_eq!(attr(span, "gen_ai.usage.image.output_tokens"), None);
    }
}

#[test]
fn retrieval_spans_carry_the_retrieval_attributes() {
    for mode in [SemconvMode::Latest, SemconvMode::Transition] {
        let span = span_of(Kind::Retrieval, mode);
        assert_eq!(span.name, "retrieval kb-orders");
        assert_eq!(
            attr(&span, "gen_ai.operation.name")
                .map(Value::as_str)
                .as_deref(),
            Some("retrieval")
        );
        assert_eq!(
            attr(&span, "gen_ai.data_source.id")
                .map(Value::as_str)
                .as_deref(),
            Some("kb-orders")
        );
        assert_eq!(
            attr(&span, "gen_ai.retrieval.query.text")
                .map(Value::as_str)
                .as_deref(),
            Some("where is order 1042?")
        );
        assert_eq!(attr(&span, "gen_ai.retrieval.top_k"), Some(&Value::I64(5)));
        assert_eq!(
            json_attr(&span, "gen_ai.retrieval.documents").unwrap()[0],
            json!({"id": "42", "score": 0.91, "content": "shipped"})
        );
        assert_eq!(attr(&span, "aitrace.input"), None);
        // The v1.41 name of top_k on a retrieval only in transition.
        assert_eq!(
            attr(&span, "gen_ai.request.top_k").is_some(),
            mode == SemconvMode::Transition
        );
    }
    // A model call's top_k is an int now.
    let chat = span_of(Kind::ModelGeneration, SemconvMode::Latest);
    assert_eq!(attr(&chat, "gen_ai.request.top_k"), Some(&Value::I64(5)));
}

#[test]
fn streams_carry_stream_and_time_to_first_chunk() {
    let span = span_of(Kind::ModelGeneration, SemconvMode::Latest);
    assert_eq!(
        attr(&span, "gen_ai.request.stream"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        attr(&span, "gen_ai.response.time_to_first_chunk"),
        Some(&Value::F64(0.3))
    );
}

#[test]
fn internal_agent_spans_leave_out_provider_identity_and_cache_in_the_latest_mode() {
    let latest = span_of(Kind::AgentRun, SemconvMode::Latest);
    assert_eq!(latest.name, "invoke_agent support");
    assert_eq!(latest.span_kind, opentelemetry::trace::SpanKind::Internal);
    for gone in [
        "gen_ai.agent.id",
        "gen_ai.agent.version",
        "gen_ai.provider.name",
    ] {
        assert_eq!(attr(&latest, gone), None, "{gone}");
    }
    assert!(attr(&latest, "gen_ai.agent.name").is_some());
    assert!(attr(&latest, "gen_ai.agent.description").is_some());
    let transition = span_of(Kind::AgentRun, SemconvMode::Transition);
    assert!(attr(&transition, "gen_ai.agent.id").is_some());
    // A remote agent (a CLIENT span) keeps its id: the conventions define it there.
    let mut remote = shapes()
        .into_iter()
        .find(|r| r.kind == Kind::AgentRun)
        .unwrap();
    remote
        .attributes
        .insert("otel.kind".into(), json!("client"));
    let remote = map(&remote, SemconvMode::Latest);
    assert_eq!(remote.span_kind, opentelemetry::trace::SpanKind::Client);
    assert!(attr(&remote, "gen_ai.agent.id").is_some());
    assert!(attr(&remote, "gen_ai.provider.name").is_some());
    // The model calls an agent makes keep everything.
    let chat = span_of(Kind::ModelGeneration, SemconvMode::Latest);
    assert!(attr(&chat, "gen_ai.provider.name").is_some());
    assert!(attr(&chat, "gen_ai.usage.cache_read.input_tokens").is_some());
}

#[test]
fn workflows_are_invoke_workflow_spans() {
    for mode in [SemconvMode::Latest, SemconvMode::Transition] {
        let span = span_of(Kind::WorkflowRun, mode);
        assert_eq!(span.name, "invoke_workflow ingest");
        assert_eq!(span.span_kind, opentelemetry::trace::SpanKind::Internal);
        assert_eq!(
            attr(&span, "gen_ai.operation.name")
                .map(Value::as_str)
                .as_deref(),
            Some("invoke_workflow")
        );
        assert_eq!(
            attr(&span, "gen_ai.workflow.name")
                .map(Value::as_str)
                .as_deref(),
            Some("ingest")
        );
    }
}

#[test]
fn finish_reasons_live_in_the_response_attribute() {
    let mut r = shapes()
        .into_iter()
        .find(|r| r.kind == Kind::ModelGeneration)
        .unwrap();
    r.finish_reasons.clear();
    let latest = map(&r, SemconvMode::Latest);
    // Taken from the messages when the record has none of its own.
    assert_eq!(
        attr(&latest, "gen_ai.response.finish_reasons"),
        Some(&Value::Array(opentelemetry::Array::String(vec![
            "stop".into()
        ])))
    );
    let out = json_attr(&latest, "gen_ai.output.messages").unwrap();
    assert!(out[0].get("finish_reason").is_none(), "{out}");
    let transition = map(&r, SemconvMode::Transition);
    assert_eq!(
        json_attr(&transition, "gen_ai.output.messages").unwrap()[0]["finish_reason"],
        "stop"
    );
    // Plain text output: one assistant message, its reason filled in for v1.41 readers only.
    let plain = shapes().pop().unwrap();
    assert_eq!(
        json_attr(
            &map(&plain, SemconvMode::Transition),
            "gen_ai.output.messages"
        )
        .unwrap(),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "hi!"}], "finish_reason": "stop"}])
    );
    assert_eq!(
        json_attr(&map(&plain, SemconvMode::Latest), "gen_ai.output.messages").unwrap(),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "hi!"}]}])
    );
}

#[test]
fn system_instructions_hold_text_parts_and_the_rest_goes_to_the_chat_history() {
    for mode in [SemconvMode::Latest, SemconvMode::Transition] {
        let span = span_of(Kind::ModelGeneration, mode);
        assert_eq!(
            json_attr(&span, "gen_ai.system_instructions").unwrap(),
            json!([{"type": "text", "content": "Be brief."}, {"type": "cache_marker", "ttl": "5m"}])
        );
        let input = json_attr(&span, "gen_ai.input.messages").unwrap();
        assert_eq!(
            input[0],
            json!({"role": "system", "parts": [{"type": "blob", "modality": "image", "content": "AAAA"}]})
        );
        assert_eq!(input[1]["role"], "user");
    }
    let mut r = SpanRecord::new("chat", Kind::ModelGeneration);
    r.system_instructions = Some(json!("You are terse."));
    assert_eq!(
        json_attr(&map(&r, SemconvMode::Latest), "gen_ai.system_instructions").unwrap(),
        json!([{"type": "text", "content": "You are terse."}])
    );
}

#[test]
fn message_parts_of_every_type_reach_the_span() {
    let span = span_of(Kind::ModelGeneration, SemconvMode::Latest);
    let input = json_attr(&span, "gen_ai.input.messages").unwrap();
    let output = json_attr(&span, "gen_ai.output.messages").unwrap();
    let types: BTreeSet<String> = [&input, &output]
        .iter()
        .flat_map(|m| m.as_array().unwrap().iter())
        .flat_map(|m| m["parts"].as_array().unwrap().iter())
        .map(|p| p["type"].as_str().unwrap().to_string())
        .collect();
    for t in [
        "text",
        "tool_call",
        "tool_call_response",
        "reasoning",
        "blob",
        "uri",
        "file",
        "server_tool_call",
        "server_tool_call_response",
        "redacted_thinking",
    ] {
        assert!(types.contains(t), "{t} missing from {types:?}");
    }
    // Tool call arguments and results are objects.
    let tool = span_of(Kind::ToolCall, SemconvMode::Latest);
    assert_eq!(
        json_attr(&tool, "gen_ai.tool.call.arguments").unwrap(),
        json!({"order_id": "1042"})
    );
    assert_eq!(
        json_attr(&tool, "gen_ai.tool.call.result").unwrap(),
        json!({"value": "shipped"})
    );
}

#[test]
fn failed_client_calls_carry_error_type_and_the_exception_event() {
    for mode in [SemconvMode::Latest, SemconvMode::Transition] {
        let span = span_of(Kind::ModelGeneration, mode);
        assert_eq!(
            attr(&span, "error.type").map(Value::as_str).as_deref(),
            Some("429")
        );
        let event = span
            .events
            .events
            .iter()
            .find(|e| e.name == "gen_ai.client.operation.exception")
            .expect("exception event");
        let get = |k: &str| {
            event
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.as_str().to_string())
        };
        assert_eq!(get("exception.type").as_deref(), Some("429"));
        assert_eq!(get("exception.message").as_deref(), Some("rate limited"));
    }
    // Not on internal work, not on success.
    let tool = span_of(Kind::ToolCall, SemconvMode::Latest);
    assert!(tool
        .events
        .events
        .iter()
        .all(|e| e.name != "gen_ai.client.operation.exception"));
}
