//! Golden mapping tests: AI spans through the aitrace pipeline and `OtelExporter` into an
//! `InMemorySpanExporter`, checked attribute by attribute against the GenAI conventions.

use std::collections::HashMap;
use std::time::Duration;

use aitrace_core::testing::TestExporter;
use aitrace_core::{
    agent_span, attempt_span, builder, embedding_span, generation_span, retrieval_span, step_span,
    tool_span, workflow_span, AiSpanExt, ChatMessage, Part, SpanRecord, Usage,
};
use aitrace_otel::{OtelExporter, SemconvMode};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

/// The true usage of the workload's model calls.
const CHAT: Usage = Usage::new(500, 60)
    .with_cache_read(200)
    .with_cache_creation(10)
    .with_reasoning(5);

fn workload() {
    let agent = agent_span!("support", gen_ai.agent.id = "ag-1");
    agent.set_session("conv-1");
    agent.set_user("user-1");
    agent.set_input("Where is my order?");
    let _a = agent.enter();
    let emb = embedding_span!("openai", "text-embedding-3-small");
    emb.set_input(json!(["Where is my order?", "order status"]));
    emb.record_usage(Usage::input_only(12));
    emb.record("gen_ai.embeddings.dimension.count", 1536);
    drop(emb);
    let r = retrieval_span!("kb-orders");
    r.set_output(json!([{"id": "doc-1", "score": 0.9}]));
    drop(r);
    let gen = generation_span!(
        "openai",
        "gpt-4o",
        gen_ai.request.temperature = 0.2,
        gen_ai.request.max_tokens = 512u64
    );
    gen.set_input_messages(&[
        ChatMessage::system("be brief"),
        ChatMessage::user("Where is my order?"),
    ]);
    let _g = gen.enter();
    let step = step_span!(0);
    step.in_scope(|| {
        attempt_span!(0u32, "openai", "gpt-4o").in_scope(|| {
            tracing::Span::current().set_error("timeout", "primary timed out");
        });
        attempt_span!(1u32, "anthropic", "claude-3-5-haiku").in_scope(|| {
            step.restamp_model("anthropic", "claude-3-5-haiku");
        });
    });
    // The same usage on the step (display) and the generation (billed): sent once.
    step.record_usage(CHAT);
    drop(step);
    tool_span!("lookup_order", gen_ai.tool.call.id = "call_1").in_scope(|| {
        let t = tracing::Span::current();
        t.record("gen_ai.tool.call.arguments", r#"{"order_id":"1042"}"#);
        t.record("gen_ai.tool.call.result", r#"{"status":"shipped"}"#);
        tracing::info!(rows = 1, "order found");
    });
    gen.record_usage(CHAT);
    gen.record("gen_ai.response.id", "msg_1");
    gen.set_output_messages(&[ChatMessage::new(
        "assistant",
        vec![
            Part::text("It shipped."),
            Part::tool_call("call_2", "notify", json!({"x": 1})),
        ],
    )
    .with_finish_reason("stop")]);
    gen.set_metadata("otel.team", "search");
    // The app also exports to Langfuse (which registers its namespace): its keys stay there.
    aitrace_core::register_metadata_namespace("langfuse");
    gen.set_metadata("langfuse.promptName", "never-in-otel");
    drop(_g);
    workflow_span!("ingest").in_scope(|| {});
}

fn export(otel: aitrace_otel::OtelExporterBuilder) -> (Vec<SpanData>, Vec<SpanRecord>) {
    let memory = InMemorySpanExporter::default();
    let records = TestExporter::new();
    let (layer, guard) = builder()
        .exporter(otel.build_with(memory.clone()))
        .exporter(records.clone())
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), workload);
    // Read before shutdown: the in-memory exporter forgets everything when shut down.
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = memory.get_finished_spans().unwrap();
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.lost, 0);
    (spans, records.spans())
}

fn attrs(span: &SpanData) -> HashMap<String, Value> {
    span.attributes
        .iter()
        .map(|KeyValue { key, value, .. }| (key.to_string(), value.clone()))
        .collect()
}

fn by_name<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "one span named {name:?} in {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

fn s(v: &str) -> Value {
    Value::String(v.to_string().into())
}

#[test]
fn span_names_kinds_and_ids_follow_the_conventions() {
    let (spans, records) = export(OtelExporter::builder());
    assert_eq!(spans.len(), records.len());
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    for expected in [
        "invoke_agent support",
        "embeddings text-embedding-3-small",
        "retrieval kb-orders",
        "chat claude-3-5-haiku",
        "step",
        "fallback_attempt",
        "execute_tool lookup_order",
        "invoke_workflow ingest",
    ] {
        assert!(names.contains(&expected), "{expected:?} not in {names:?}");
    }
    assert_eq!(
        by_name(&spans, "chat claude-3-5-haiku").span_kind,
        SpanKind::Client
    );
    assert_eq!(
        by_name(&spans, "embeddings text-embedding-3-small").span_kind,
        SpanKind::Client
    );
    assert_eq!(
        by_name(&spans, "execute_tool lookup_order").span_kind,
        SpanKind::Internal
    );
    assert_eq!(
        by_name(&spans, "invoke_agent support").span_kind,
        SpanKind::Internal
    );
    // Ids and parent links are the records' own.
    for r in &records {
        let s = spans
            .iter()
            .find(|s| s.span_context.span_id().to_string() == r.span_id.to_string())
            .unwrap();
        assert_eq!(
            s.span_context.trace_id().to_string(),
            r.trace_id.to_string()
        );
        let parent = r
            .parent_span_id
            .map(|p| p.to_string())
            .unwrap_or_else(|| "0000000000000000".into());
        assert_eq!(s.parent_span_id.to_string(), parent);
        assert_eq!(s.start_time, r.start_time());
        assert_eq!(s.end_time, r.end_time());
        assert_eq!(
            attrs(s)["aitrace.span.name"],
            Value::String(r.name.clone().into())
        );
    }
}

#[test]
fn generation_attributes_carry_the_answering_model_usage_and_messages() {
    let (spans, _) = export(OtelExporter::builder().semconv(SemconvMode::Transition));
    let chat = attrs(by_name(&spans, "chat claude-3-5-haiku"));
    assert_eq!(chat["gen_ai.operation.name"], s("chat"));
    assert_eq!(chat["gen_ai.provider.name"], s("anthropic"));
    assert_eq!(chat["gen_ai.request.model"], s("claude-3-5-haiku"));
    assert_eq!(chat["gen_ai.request.temperature"], Value::F64(0.2));
    assert_eq!(chat["gen_ai.request.max_tokens"], Value::I64(512));
    assert_eq!(chat["gen_ai.response.id"], s("msg_1"));
    assert_eq!(chat["gen_ai.usage.input_tokens"], Value::I64(500));
    assert_eq!(chat["gen_ai.usage.output_tokens"], Value::I64(60));
    assert_eq!(
        chat["gen_ai.usage.cache_read.input_tokens"],
        Value::I64(200)
    );
    // The current name, and in the transition mode the v1.41 one with the same count.
    assert_eq!(
        chat["gen_ai.usage.cache_write.input_tokens"],
        Value::I64(10)
    );
    assert_eq!(
        chat["gen_ai.usage.cache_creation.input_tokens"],
        Value::I64(10)
    );
    assert_eq!(chat["gen_ai.usage.reasoning.output_tokens"], Value::I64(5));
    assert_eq!(chat["gen_ai.conversation.id"], s("conv-1"));
    assert_eq!(
        chat["gen_ai.agent.name"],
        s("support"),
        "agent attributes on the chat spans it makes"
    );
    assert_eq!(chat["gen_ai.agent.id"], s("ag-1"));
    assert_eq!(chat["user.id"], s("user-1"));
    assert_eq!(chat["aitrace.billable"], Value::Bool(true));
    assert_eq!(chat["aitrace.metadata.team"], s("search"));
    assert!(
        !chat.keys().any(|k| k.contains("promptName")),
        "another exporter's metadata leaked"
    );
    let input: serde_json::Value =
        serde_json::from_str(&chat["gen_ai.input.messages"].as_str()).unwrap();
    assert_eq!(
        input[0],
        json!({"role": "system", "parts": [{"type": "text", "content": "be brief"}]})
    );
    let output: serde_json::Value =
        serde_json::from_str(&chat["gen_ai.output.messages"].as_str()).unwrap();
    assert_eq!(output[0]["finish_reason"], "stop");
    assert_eq!(
        output[0]["parts"][1],
        json!({"type": "tool_call", "id": "call_2", "name": "notify", "arguments": {"x": 1}})
    );
    assert_eq!(
        chat["gen_ai.response.finish_reasons"],
        Value::Array(opentelemetry::Array::String(vec!["stop".into()]))
    );
    for deprecated in aitrace_otel::mapping::DEPRECATED_ATTRIBUTES {
        assert!(
            spans.iter().all(|s| !attrs(s).contains_key(*deprecated)),
            "{deprecated} written"
        );
    }
}

#[test]
fn usage_is_written_once_per_model_call() {
    let (spans, records) = export(OtelExporter::builder());
    let sum = |key: &str| -> i64 {
        spans
            .iter()
            .filter_map(|s| match attrs(s).get(key) {
                Some(Value::I64(v)) => Some(*v),
                _ => None,
            })
            .sum()
    };
    let truth = aitrace_core::testing::total_billable_usage(&records);
    assert_eq!(
        sum("gen_ai.usage.input_tokens") as u64,
        truth.input_tokens.unwrap()
    );
    assert_eq!(sum("gen_ai.usage.input_tokens"), 500 + 12);
    assert_eq!(sum("gen_ai.usage.output_tokens"), 60);
    let step = attrs(by_name(&spans, "step"));
    assert!(
        !step.keys().any(|k| k.starts_with("gen_ai.usage")),
        "the step repeats no usage"
    );
    assert_eq!(step["aitrace.billable"], Value::Bool(false));
}

#[test]
fn embeddings_tools_retrieval_attempts_and_errors() {
    let (spans, _) = export(OtelExporter::builder());
    let emb = attrs(by_name(&spans, "embeddings text-embedding-3-small"));
    assert_eq!(emb["gen_ai.operation.name"], s("embeddings"));
    assert_eq!(emb["gen_ai.request.model"], s("text-embedding-3-small"));
    assert_eq!(emb["gen_ai.provider.name"], s("openai"));
    assert_eq!(emb["gen_ai.usage.input_tokens"], Value::I64(12));
    assert_eq!(emb["gen_ai.embeddings.dimension.count"], Value::I64(1536));
    assert_eq!(emb["aitrace.embeddings.input_count"], Value::I64(2));

    let tool_span = by_name(&spans, "execute_tool lookup_order");
    let tool = attrs(tool_span);
    assert_eq!(tool["gen_ai.operation.name"], s("execute_tool"));
    assert_eq!(tool["gen_ai.tool.name"], s("lookup_order"));
    assert_eq!(tool["gen_ai.tool.call.id"], s("call_1"));
    assert_eq!(
        tool["gen_ai.tool.call.arguments"],
        s(r#"{"order_id":"1042"}"#)
    );
    assert_eq!(
        tool["gen_ai.tool.call.result"],
        s(r#"{"status":"shipped"}"#)
    );
    assert_eq!(tool_span.events.events.len(), 1);
    assert_eq!(tool_span.events.events[0].name, "order found");

    let ret = attrs(by_name(&spans, "retrieval kb-orders"));
    assert_eq!(ret["gen_ai.operation.name"], s("retrieval"));
    assert!(ret["gen_ai.retrieval.documents"].as_str().contains("doc-1"));

    let attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "fallback_attempt")
        .collect();
    assert_eq!(attempts.len(), 2);
    let failed = attempts
        .iter()
        .find(|s| attrs(s)["aitrace.fallback.attempt"] == Value::I64(0))
        .unwrap();
    let a = attrs(failed);
    assert_eq!(a["gen_ai.request.model"], s("gpt-4o"));
    assert_eq!(a["error.type"], s("timeout"));
    assert_eq!(failed.status, Status::error("primary timed out"));
    let ok = attempts
        .iter()
        .find(|s| attrs(s)["aitrace.fallback.attempt"] == Value::I64(1))
        .unwrap();
    assert_eq!(attrs(ok)["gen_ai.provider.name"], s("anthropic"));
    assert_eq!(
        attrs(by_name(&spans, "invoke_workflow ingest"))["gen_ai.operation.name"],
        s("invoke_workflow")
    );
    // Agent input as text becomes a user message.
    let agent = attrs(by_name(&spans, "invoke_agent support"));
    assert!(agent["gen_ai.input.messages"]
        .as_str()
        .contains(r#""role":"user""#));
}

#[test]
fn capture_content_off_sends_no_content() {
    let (spans, _) = export(
        OtelExporter::builder()
            .capture_content(false)
            .openinference(true),
    );
    for span in &spans {
        for key in attrs(span).keys() {
            assert!(
                !matches!(
                    key.as_str(),
                    "gen_ai.input.messages"
                        | "gen_ai.output.messages"
                        | "gen_ai.tool.call.arguments"
                        | "gen_ai.tool.call.result"
                        | "gen_ai.retrieval.documents"
                        | "aitrace.input"
                        | "aitrace.output"
                        | "input.value"
                        | "output.value"
                ) && !key.starts_with("llm.input_messages")
                    && !key.starts_with("llm.output_messages"),
                "{key} sent with capture_content(false)"
            );
        }
    }
    // Usage and models still go out.
    assert_eq!(
        attrs(by_name(&spans, "chat claude-3-5-haiku"))["gen_ai.usage.input_tokens"],
        Value::I64(500)
    );
}

#[test]
fn openinference_dialect_for_phoenix() {
    let (spans, _) = export(
        OtelExporter::builder()
            .openinference(true)
            .semconv_span_names(false),
    );
    let by = |n: &str| attrs(spans.iter().find(|s| s.name == n).unwrap());
    let chat = by("chat");
    assert_eq!(chat["openinference.span.kind"], s("LLM"));
    assert_eq!(chat["llm.model_name"], s("claude-3-5-haiku"));
    assert_eq!(chat["llm.token_count.prompt"], Value::I64(500));
    assert_eq!(chat["llm.token_count.completion"], Value::I64(60));
    assert_eq!(chat["llm.token_count.total"], Value::I64(560));
    assert_eq!(
        chat["llm.token_count.prompt_details.cache_read"],
        Value::I64(200)
    );
    assert_eq!(chat["llm.input_messages.1.message.role"], s("user"));
    assert_eq!(
        chat["llm.input_messages.1.message.content"],
        s("Where is my order?")
    );
    assert_eq!(
        chat["llm.output_messages.0.message.tool_calls.0.tool_call.function.name"],
        s("notify")
    );
    assert_eq!(chat["session.id"], s("conv-1"));
    // Non-billable and non-model spans are never LLM spans in Phoenix.
    assert_eq!(by("step")["openinference.span.kind"], s("CHAIN"));
    assert!(!by("step").contains_key("llm.token_count.prompt"));
    let attempt = spans.iter().find(|s| s.name == "fallback_attempt").unwrap();
    assert_eq!(attrs(attempt)["openinference.span.kind"], s("CHAIN"));
    assert_eq!(by("execute_tool")["openinference.span.kind"], s("TOOL"));
    assert_eq!(
        by("execute_tool")["input.value"],
        s(r#"{"order_id":"1042"}"#)
    );
    assert_eq!(by("invoke_agent")["openinference.span.kind"], s("AGENT"));
    assert_eq!(by("embeddings")["openinference.span.kind"], s("EMBEDDING"));
    assert_eq!(
        by("embeddings")["embedding.model_name"],
        s("text-embedding-3-small")
    );
    assert_eq!(by("retrieval")["openinference.span.kind"], s("RETRIEVER"));
    assert_eq!(by("invoke_workflow")["openinference.span.kind"], s("CHAIN"));
}

#[test]
fn otel_kind_names_the_span_kind_and_is_not_sent_as_an_attribute() {
    let mut r = SpanRecord::new("chat gpt-4o-mini", aitrace_core::SpanKind::ModelGeneration);
    assert_eq!(aitrace_otel::mapping::span_kind(&r), SpanKind::Client);
    r.attributes.insert("otel.kind".into(), json!("server"));
    assert_eq!(aitrace_otel::mapping::span_kind(&r), SpanKind::Server);
    let span = aitrace_otel::to_span_data(&r, &aitrace_otel::MappingOptions::default(), &[]);
    assert_eq!(span.span_kind, SpanKind::Server);
    assert!(span
        .attributes
        .iter()
        .all(|kv| kv.key.as_str() != "otel.kind"));
}

/// A web framework's request span (tower-http's shape: DEBUG, `method`/`uri`, the status in its
/// response event) holding two top-level AI calls: one trace whose root is the request, kind SERVER,
/// with the HTTP conventions' attributes and its own name; the calls are its children.
#[test]
fn the_request_is_the_root_server_span_of_its_ai_calls() {
    let memory = InMemorySpanExporter::default();
    let (layer, guard) = builder()
        .exporter(aitrace_otel::OtelExporter::builder().build_with(memory.clone()))
        .build_layer()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    aitrace_core::testing::with_default(subscriber, || {
        let request = tracing::debug_span!(
            target: "tower_http::trace::make_span",
            "request",
            method = %"POST",
            uri = %"/chat?lang=en",
            version = ?"HTTP/1.1"
        );
        request.in_scope(|| {
            generation_span!("openai", "gpt-4o-mini").record_usage(Usage::new(3, 1));
            generation_span!("openai", "gpt-4o").record_usage(Usage::new(5, 2));
            tracing::debug!(
                target: "tower_http::trace::on_response",
                latency = 3,
                status = 200,
                "finished processing request"
            );
        });
    });
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = memory.get_finished_spans().unwrap();
    assert_eq!(guard.shutdown(Duration::from_secs(10)).lost, 0);
    let request = by_name(&spans, "request");
    assert_eq!(request.span_kind, SpanKind::Server);
    assert_eq!(
        request.parent_span_id,
        opentelemetry::trace::SpanId::INVALID
    );
    let a = attrs(request);
    assert_eq!(a["http.request.method"], s("POST"));
    assert_eq!(a["url.path"], s("/chat"));
    assert_eq!(a["http.response.status_code"], Value::I64(200));
    assert_eq!(request.status, Status::Ok);
    assert!(
        !a.keys().any(|k| k.starts_with("gen_ai.")),
        "no GenAI attributes on the request: {a:?}"
    );
    let chats: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat"))
        .collect();
    assert_eq!(chats.len(), 2);
    for chat in chats {
        assert_eq!(
            chat.span_context.trace_id(),
            request.span_context.trace_id()
        );
        assert_eq!(chat.parent_span_id, request.span_context.span_id());
        assert!(chat.start_time >= request.start_time && chat.end_time <= request.end_time);
    }
}
