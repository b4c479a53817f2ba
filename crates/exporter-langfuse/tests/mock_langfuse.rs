//! The Langfuse exporter against a loopback mock of Langfuse's OTLP endpoint that parses the request
//! like the server does and applies its observation-type and usage rules.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aitrace_core::{
    agent_span, builder, embedding_span, generation_span, retrieval_span, step_span, tool_span,
    AiSpanExt, ChatMessage, Cost, ExportConfig, Exporter, Part, SpanKind, SpanRecord, Usage,
};
use aitrace_langfuse::{LangfuseConfig, LangfuseExporter};
use aitrace_testkit::fixtures::{fallback_attempts, fast_export_config, CUT, EMBED, STEP0, STEP1};
use aitrace_testkit::{Backend, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use prost::Message;
use serde_json::{json, Map, Value};
use tracing_subscriber::layer::SubscriberExt;

const PK: &str = "pk-lf-test";
const SK: &str = "sk-lf-test";

/// One observation as Langfuse would store it.
#[derive(Debug, Clone)]
struct Observation {
    trace_id: String,
    id: String,
    parent: Option<String>,
    name: String,
    kind: String,
    model: Option<String>,
    usage: Map<String, Value>,
    /// What Langfuse's v4 write path would cost this observation at.
    cost: f64,
    attrs: HashMap<String, Value>,
}

/// The keys Langfuse's server takes a model from, on any observation type (`extractModelName`).
const MODEL_KEYS: &[&str] = &[
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "ai.model.id",
    "gen_ai.request.model",
    "llm.response.model",
    "llm.model_name",
    "model",
];

/// The mock's price table, per token (input, output), like Langfuse's model definitions.
fn price(model: &str) -> Option<(f64, f64)> {
    Some(match model {
        "gpt-4o" => (2.5e-6, 1e-5),
        "gpt-4o-mini" => (1.5e-7, 6e-7),
        "claude-3-5-haiku" => (8e-7, 4e-6),
        "text-embedding-3-small" => (2e-8, 0.0),
        _ => return None,
    })
}

/// Langfuse v4 prices every observation that has a model: explicit cost details, else usage at the
/// model's price, else its input and output tokenized (about four characters a token).
fn cost_of(model: Option<&str>, usage: &Map<String, Value>, a: &HashMap<String, Value>) -> f64 {
    if let Some(Value::String(s)) = a.get("langfuse.observation.cost_details") {
        let c: Map<String, Value> =
            serde_json::from_str(s).expect("cost_details is a JSON object string");
        return c
            .get("total")
            .and_then(Value::as_f64)
            .unwrap_or_else(|| c.values().filter_map(Value::as_f64).sum());
    }
    let Some((input, output)) = model.and_then(price) else {
        return 0.0;
    };
    let tokens = |keys: &[&str]| -> f64 {
        keys.iter()
            .filter_map(|k| usage.get(*k).and_then(Value::as_u64))
            .sum::<u64>() as f64
    };
    if !usage.is_empty() {
        return tokens(&["input", "input_cached_tokens", "input_cache_creation"]) * input
            + tokens(&["output", "output_reasoning_tokens"]) * output;
    }
    let chars = |k: &str| a.get(k).and_then(Value::as_str).map_or(0, str::len) as f64;
    (chars("langfuse.observation.input") / 4.0).ceil() * input
        + (chars("langfuse.observation.output") / 4.0).ceil() * output
}

#[derive(Default)]
struct Mock {
    observations: Vec<Observation>,
    requests: usize,
    rejected: Vec<u16>,
}

fn any_to_json(v: &Option<AnyValue>) -> Value {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(s)) => json!(s),
        Some(Any::BoolValue(b)) => json!(b),
        Some(Any::IntValue(i)) => json!(i),
        Some(Any::DoubleValue(d)) => json!(d),
        Some(Any::ArrayValue(a)) => Value::Array(
            a.values
                .iter()
                .map(|v| any_to_json(&Some(v.clone())))
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Langfuse's ObservationTypeMapper, in priority order.
fn observation_type(a: &HashMap<String, Value>) -> String {
    if let Some(t) = a.get("langfuse.observation.type").and_then(Value::as_str) {
        return t.to_string();
    }
    if let Some(k) = a.get("openinference.span.kind").and_then(Value::as_str) {
        return if k == "LLM" {
            "generation".into()
        } else {
            k.to_lowercase()
        };
    }
    match a.get("gen_ai.operation.name").and_then(Value::as_str) {
        Some("chat" | "text_completion" | "generate_content") => return "generation".into(),
        Some("embeddings") => return "embedding".into(),
        Some("invoke_agent" | "create_agent") => return "agent".into(),
        Some("execute_tool") => return "tool".into(),
        _ => {}
    }
    if a.contains_key("gen_ai.tool.name") {
        return "tool".into();
    }
    let model_based = [
        "langfuse.observation.model.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "llm.model_name",
    ];
    if model_based.iter().any(|k| a.contains_key(*k)) {
        return "generation".into();
    }
    "span".into()
}

/// Langfuse's usage extraction: explicit usage_details (a JSON *string*), else every gen_ai.usage.*.
fn usage(a: &HashMap<String, Value>) -> Map<String, Value> {
    if let Some(Value::String(s)) = a.get("langfuse.observation.usage_details") {
        return serde_json::from_str(s).expect("usage_details is a JSON object string");
    }
    let get = |k: &str| a.get(k).and_then(Value::as_u64);
    let mut m = Map::new();
    let cached = get("gen_ai.usage.cache_read.input_tokens").unwrap_or(0);
    if let Some(i) = get("gen_ai.usage.input_tokens") {
        m.insert("input".into(), json!(i - cached));
        m.insert("input_cached_tokens".into(), json!(cached));
    }
    if let Some(o) = get("gen_ai.usage.output_tokens") {
        m.insert("output".into(), json!(o));
    }
    m
}

fn handle(
    mock: &Mutex<Mock>,
    line: &str,
    headers: &HashMap<String, String>,
    body: Vec<u8>,
    script: &mut Vec<u16>,
) -> u16 {
    let mut m = mock.lock().unwrap();
    m.requests += 1;
    let reject = |m: &mut Mock, code| {
        m.rejected.push(code);
        code
    };
    if !line.starts_with("POST /api/public/otel/v1/traces ") {
        return reject(&mut m, 404);
    }
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PK}:{SK}"))
    );
    if headers.get("authorization") != Some(&expected) {
        return reject(&mut m, 401);
    }
    if !headers
        .get("content-type")
        .is_some_and(|c| c.contains("application/x-protobuf"))
    {
        return reject(&mut m, 400);
    }
    if headers
        .get("x-langfuse-ingestion-version")
        .and_then(|v| v.parse::<u32>().ok())
        .is_none_or(|v| v > 4)
    {
        return reject(&mut m, 400);
    }
    if !script.is_empty() {
        let code = script.remove(0);
        if code != 200 {
            return reject(&mut m, code);
        }
    }
    let body = if headers.get("content-encoding").is_some_and(|e| e == "gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        body
    };
    let Ok(req) = ExportTraceServiceRequest::decode(body.as_slice()) else {
        return reject(&mut m, 400);
    };
    let spans: Vec<_> = req
        .resource_spans
        .iter()
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter())
        .collect();
    // One malformed id rejects the whole request, as Langfuse does.
    let bad = |b: &[u8], n| b.len() != n || b.iter().all(|x| *x == 0);
    if spans
        .iter()
        .any(|s| bad(&s.trace_id, 16) || bad(&s.span_id, 8))
    {
        return reject(&mut m, 400);
    }
    for s in spans {
        let attrs: HashMap<String, Value> = s
            .attributes
            .iter()
            .map(|kv| (kv.key.clone(), any_to_json(&kv.value)))
            .collect();
        let kind = observation_type(&attrs);
        // The server skips model, usage and cost for agent aggregates only; everything else with a
        // model is priced, whatever its type.
        let aggregate = matches!(
            attrs.get("gen_ai.operation.name").and_then(Value::as_str),
            Some("invoke_agent" | "agent_step")
        );
        let model = MODEL_KEYS
            .iter()
            .find_map(|k| attrs.get(*k).and_then(Value::as_str).map(str::to_string))
            .filter(|_| !aggregate);
        let usage = usage(&attrs);
        let cost = cost_of(model.as_deref(), &usage, &attrs);
        m.observations.push(Observation {
            trace_id: hex(&s.trace_id),
            id: hex(&s.span_id),
            parent: (!s.parent_span_id.is_empty()).then(|| hex(&s.parent_span_id)),
            name: s.name.clone(),
            usage,
            cost,
            model,
            kind,
            attrs,
        });
    }
    200
}

fn mock_langfuse(script: Vec<u16>) -> (String, Arc<Mutex<Mock>>) {
    let mock = Arc::new(Mutex::new(Mock::default()));
    let m = mock.clone();
    let script = Mutex::new(script);
    let backend = Backend::start(move |req| {
        let line = format!("{} {} HTTP/1.1", req.method, req.path);
        let headers: HashMap<String, String> = req.headers.iter().cloned().collect();
        let status = handle(
            &m,
            &line,
            &headers,
            req.body.clone(),
            &mut script.lock().unwrap(),
        );
        Response::json(status, "{}")
    });
    (backend.url().to_string(), mock)
}

fn config(url: &str) -> LangfuseConfig {
    let mut c = LangfuseConfig::new(PK, SK);
    c.base_url = url.to_string();
    c.deployment.environment = Some("test".into());
    c.deployment.release = Some("1.0.0".into());
    c
}

fn fast() -> ExportConfig {
    fast_export_config()
}

/// An agent with a fallback and nested steps; returns the records aitrace produced.
fn agent_trace(
    exporter: LangfuseExporter,
    export: ExportConfig,
) -> (Vec<SpanRecord>, aitrace_core::ShutdownReport) {
    let memory = aitrace_core::testing::TestExporter::new();
    let (layer, guard) = builder()
        .exporter_with_config(exporter, export)
        .exporter(memory.clone())
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let agent = agent_span!("support-agent");
        agent.set_user("user-1");
        agent.set_session("session-42");
        agent.add_tags(["prod"]);
        agent.set_input("Where is order #1042?");
        agent.set_metadata("langfuse.customer", "acme");
        let _a = agent.enter();
        embedding_span!("openai", "text-embedding-3-small").in_scope(|| {
            let e = tracing::Span::current();
            e.set_input("Where is order #1042?");
            e.record_usage(EMBED);
        });
        retrieval_span!("kb-orders").in_scope(|| {
            let r = tracing::Span::current();
            r.record("gen_ai.retrieval.query.text", "order status 1042");
            r.set_output(json!([{"id": "n1"}]));
        });
        let gen = generation_span!("openai", "gpt-4o", gen_ai.request.temperature = 0.2);
        gen.set_input_messages(&[ChatMessage::user("Where is order #1042?")]);
        gen.set_metadata("langfuse.promptName", "support");
        gen.set_metadata("langfuse.promptVersion", 3);
        gen.record_cost(Cost::usd_split(0.001, 0.0002));
        let _g = gen.enter();
        for (i, usage) in [STEP0, STEP1].into_iter().enumerate() {
            let step = step_span!(i as u64);
            step.set_input_messages(&[ChatMessage::user(
                "Where is order #1042? Look it up and tell me when it arrives.",
            )]);
            step.set_output_messages(&[ChatMessage::assistant(
                "Order #1042 shipped yesterday and arrives on Thursday.",
            )]);
            step.with_record(|r| r.time_to_first_token_s = Some(0.25));
            let _s = step.enter();
            fallback_attempts(&step, i == 0, || {});
            step.record_usage(usage);
            if i == 0 {
                tool_span!("lookup_order", gen_ai.tool.call.id = "call_1").in_scope(|| {
                    let t = tracing::Span::current();
                    t.record("gen_ai.tool.call.arguments", r#"{"order_id":"1042"}"#);
                    t.record("gen_ai.tool.call.result", r#"{"status":"shipped"}"#);
                    t.add_tags(["tools-used"]);
                });
            }
        }
        gen.set_output_messages(&[
            ChatMessage::new("assistant", vec![Part::text("It shipped.")])
                .with_finish_reason("stop"),
        ]);
        drop(_g);
        drop(gen);
        let cut = generation_span!("openai", "gpt-4o-mini");
        cut.record_usage(CUT);
        cut.record("gen_ai.response.finish_reasons", "length");
    });
    let report = guard.shutdown(Duration::from_secs(20));
    (memory.spans(), report)
}

#[test]
fn a_full_agent_trace_lands_as_langfuse_expects() {
    let (url, mock) = mock_langfuse(vec![]);
    let (records, report) = agent_trace(LangfuseExporter::new(config(&url)).unwrap(), fast());
    assert_eq!(report.lost, 0, "{report:?}");
    let m = mock.lock().unwrap();
    assert!(m.rejected.is_empty(), "rejected: {:?}", m.rejected);
    let obs = &m.observations;
    assert_eq!(obs.len(), records.len());

    // Exactly one costed observation per model call.
    let kinds = |k: &str| obs.iter().filter(|o| o.kind == k).count();
    assert_eq!(
        kinds("generation"),
        2,
        "the generation and the cut-off one: {obs:#?}"
    );
    assert_eq!(kinds("embedding"), 1);
    assert_eq!(kinds("agent"), 1);
    assert_eq!(kinds("tool"), 1);
    assert_eq!(kinds("retriever"), 1);
    assert_eq!(kinds("span"), 2 + 3, "two steps, three attempts");

    // Usage totals as Langfuse adds them up equal the true usage of the calls.
    let total = |keys: &[&str]| -> u64 {
        obs.iter()
            .flat_map(|o| {
                keys.iter()
                    .filter_map(|k| o.usage.get(*k).and_then(Value::as_u64))
            })
            .sum()
    };
    let truth = [STEP0, STEP1, CUT, EMBED]
        .iter()
        .fold(Usage::default(), |a, u| a.add(u));
    assert_eq!(truth, aitrace_core::testing::total_billable_usage(&records));
    assert_eq!(
        total(&["input", "input_cached_tokens", "input_cache_creation"]),
        truth.input_tokens.unwrap()
    );
    assert_eq!(
        total(&["output", "output_reasoning_tokens"]),
        truth.output_tokens.unwrap()
    );

    let gen = obs
        .iter()
        .find(|o| o.kind == "generation" && o.name.starts_with("chat claude"))
        .expect("generation named after the answering model");
    assert_eq!(gen.model.as_deref(), Some("claude-3-5-haiku"));
    assert_eq!(gen.attrs["langfuse.observation.prompt.name"], "support");
    assert_eq!(gen.attrs["langfuse.observation.prompt.version"], 3);
    let cost: Value = serde_json::from_str(
        gen.attrs["langfuse.observation.cost_details"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    // A sum of prices: compared within rounding (serde_json's `float_roundtrip`, which a dependency
    // may turn on, keeps the last bit).
    let total = cost["total"].as_f64().unwrap();
    assert!((total - 0.0012).abs() < 1e-12, "{total}");
    let input: Value =
        serde_json::from_str(gen.attrs["langfuse.observation.input"].as_str().unwrap()).unwrap();
    assert_eq!(
        input,
        json!([{"role": "user", "content": "Where is order #1042?"}])
    );
    let params: Value = serde_json::from_str(
        gen.attrs["langfuse.observation.model.parameters"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(params["temperature"], 0.2);

    let cut = obs
        .iter()
        .find(|o| o.model.as_deref() == Some("gpt-4o-mini"))
        .unwrap();
    assert_eq!(cut.attrs["langfuse.observation.level"], "WARNING");
    let failed = obs
        .iter()
        .find(|o| o.attrs.get("langfuse.observation.level") == Some(&json!("ERROR")))
        .unwrap();
    assert!(failed.attrs["langfuse.observation.status_message"]
        .as_str()
        .unwrap()
        .contains("timeout"));
    assert_eq!(
        failed.kind, "span",
        "a failed attempt that names a model is not a costed generation"
    );

    // Trace attributes on every observation; tags merged from the whole trace.
    let root = obs.iter().find(|o| o.parent.is_none()).unwrap();
    for o in obs {
        assert_eq!(o.trace_id, root.trace_id);
        assert_eq!(o.attrs["user.id"], "user-1", "{}", o.name);
        assert_eq!(o.attrs["session.id"], "session-42", "{}", o.name);
        assert_eq!(
            o.attrs["langfuse.trace.name"], "support-agent",
            "{}: the trace is named after what ran",
            o.name
        );
        assert_eq!(
            o.attrs["langfuse.trace.tags"],
            json!(["prod", "tools-used"]),
            "{}",
            o.name
        );
        assert_eq!(o.attrs["langfuse.trace.metadata.customer"], "acme");
        assert_eq!(o.attrs["langfuse.environment"], "test");
        assert_eq!(o.attrs["langfuse.release"], "1.0.0");
    }
    assert_eq!(root.attrs["langfuse.trace.input"], "Where is order #1042?");
    assert_eq!(root.attrs["langfuse.internal.is_app_root"], true);
    assert!(obs
        .iter()
        .filter(|o| o.parent.is_some())
        .all(|o| !o.attrs.contains_key("langfuse.internal.is_app_root")));

    // Only the observation that bills a call names a model, so Langfuse prices nothing twice: the
    // total cost it computes is the true cost of the calls.
    for o in obs
        .iter()
        .filter(|o| !matches!(o.kind.as_str(), "generation" | "embedding"))
    {
        assert!(
            MODEL_KEYS.iter().all(|k| !o.attrs.contains_key(*k)),
            "{} ({}) carries a model key: {:?}",
            o.name,
            o.kind,
            o.attrs.keys().collect::<Vec<_>>()
        );
        assert_eq!(o.cost, 0.0, "{} is not costed", o.name);
    }
    let step = obs.iter().find(|o| o.name == "step").unwrap();
    assert_eq!(
        step.attrs["langfuse.observation.metadata.model"], "claude-3-5-haiku",
        "the model a step used stays visible as metadata"
    );
    let true_cost: f64 = records
        .iter()
        .filter(|r| r.billable)
        .map(|r| match &r.cost {
            Some(c) => c.total().unwrap(),
            None => {
                let (i, o) = price(r.model().unwrap()).unwrap();
                let u = r.usage.unwrap();
                u.input_tokens.unwrap_or(0) as f64 * i + u.output_tokens.unwrap_or(0) as f64 * o
            }
        })
        .sum();
    let langfuse_cost: f64 = obs.iter().map(|o| o.cost).sum();
    assert!(
        (langfuse_cost - true_cost).abs() < 1e-12,
        "Langfuse would cost {langfuse_cost}, the calls cost {true_cost}"
    );

    // Time to first token: the generation's is its first step's, measured from its own start.
    let completion_start = gen.attrs["langfuse.observation.completion_start_time"]
        .as_str()
        .expect("the generation says when its first token came");
    let gen_record = records
        .iter()
        .find(|r| r.span_id.to_string() == gen.id)
        .unwrap();
    let first_step = records
        .iter()
        .filter(|r| r.kind == SpanKind::ModelStep)
        .min_by_key(|r| r.start_time_unix_nano)
        .unwrap();
    assert_eq!(
        completion_start,
        aitrace_core::export::rfc3339(first_step.start_time_unix_nano + 250_000_000)
    );
    assert!(gen_record.time_to_first_token_s.unwrap() >= 0.25);

    // Nothing Langfuse would copy into metadata.attributes: only what it reads.
    for o in obs {
        for k in o.attrs.keys() {
            assert!(
                k.starts_with("langfuse.") || k == "user.id" || k == "session.id",
                "{}: {k} would land in metadata.attributes",
                o.name
            );
        }
        let metadata = o
            .attrs
            .keys()
            .filter(|k| k.starts_with("langfuse.observation.metadata."))
            .count();
        assert!(metadata <= 4, "{}: {metadata} metadata keys", o.name);
    }
    // The retriever shows its query as input and its documents as output.
    let retriever = obs.iter().find(|o| o.kind == "retriever").unwrap();
    assert_eq!(
        retriever.attrs["langfuse.observation.input"],
        "order status 1042"
    );
    assert!(retriever.attrs["langfuse.observation.output"]
        .as_str()
        .unwrap()
        .contains("n1"));
    // Parent links are the records' own.
    let by_id: HashMap<String, &SpanRecord> =
        records.iter().map(|r| (r.span_id.to_string(), r)).collect();
    for o in obs {
        assert_eq!(o.parent, by_id[&o.id].parent_span_id.map(|p| p.to_string()));
    }
    assert!(records.iter().any(|r| r.kind == SpanKind::FallbackAttempt));
}

#[test]
fn throttling_and_server_errors_are_retried_bad_keys_are_not() {
    let (url, mock) = mock_langfuse(vec![429, 503]);
    let (records, report) = agent_trace(LangfuseExporter::new(config(&url)).unwrap(), fast());
    let e = report.stats.exporter("langfuse").unwrap();
    assert_eq!(
        (e.retries, e.exported, e.dropped()),
        (2, records.len() as u64, 0),
        "{e:?}"
    );
    assert_eq!(mock.lock().unwrap().rejected, [429, 503]);

    let (url, mock) = mock_langfuse(vec![]);
    let mut wrong = config(&url);
    wrong.secret_key = "sk-lf-wrong".into();
    let (records, report) = agent_trace(LangfuseExporter::new(wrong).unwrap(), fast());
    let e = report.stats.exporter("langfuse").unwrap();
    assert_eq!(
        (e.retries, e.exported, e.dropped_after_retries),
        (0, 0, records.len() as u64),
        "{e:?}"
    );
    let err = e.last_error.as_deref().unwrap();
    assert!(
        err.contains("401") && err.contains("LANGFUSE_SECRET_KEY"),
        "{err}"
    );
    assert_eq!(
        mock.lock().unwrap().requests,
        1,
        "one clear failure, no retry storm"
    );
}

#[test]
fn a_span_with_an_invalid_id_is_dropped_before_it_can_fail_the_request() {
    let (url, mock) = mock_langfuse(vec![]);
    let mut exporter = LangfuseExporter::new(config(&url)).unwrap();
    let good = SpanRecord::new("ok", SpanKind::ToolCall);
    let mut bad = SpanRecord::new("bad", SpanKind::ToolCall);
    bad.span_id = aitrace_core::SpanId::from_u64(0);
    let err = exporter.export(&[good.clone(), bad]).unwrap_err();
    assert_eq!(err.failed, Some(vec![1]));
    assert!(!err.retryable);
    let m = mock.lock().unwrap();
    assert!(m.rejected.is_empty());
    assert_eq!(
        m.observations
            .iter()
            .map(|o| o.id.clone())
            .collect::<Vec<_>>(),
        [good.span_id.to_string()]
    );
}

#[test]
fn large_batches_are_split_under_the_request_limit() {
    let (url, mock) = mock_langfuse(vec![]);
    let mut exporter = LangfuseExporter::new(config(&url)).unwrap();
    let big = "x".repeat(400_000);
    let records: Vec<SpanRecord> = (0..20)
        .map(|_| {
            let mut r = SpanRecord::new("t", SpanKind::ToolCall);
            r.input = Some(json!(big));
            r
        })
        .collect();
    exporter.export(&records).unwrap();
    let m = mock.lock().unwrap();
    assert_eq!(m.observations.len(), 20);
    assert!(
        m.requests >= 3,
        "8 MB of spans went in {} requests",
        m.requests
    );
}

#[test]
fn after_a_credential_rejection_sending_pauses_then_resumes() {
    let (url, mock) = mock_langfuse(vec![401]);
    let mut exporter = LangfuseExporter::new(config(&url))
        .unwrap()
        .with_auth_cooldown(Duration::from_millis(200));
    let span = || vec![SpanRecord::new("t", SpanKind::ToolCall)];
    let first = exporter.export(&span()).unwrap_err();
    assert!(!first.retryable && first.message.contains("LANGFUSE_PUBLIC_KEY"));
    // Within the pause: dropped with the same clear error, no request made.
    for _ in 0..5 {
        assert!(exporter
            .export(&span())
            .unwrap_err()
            .message
            .contains("paused"));
    }
    assert_eq!(mock.lock().unwrap().requests, 1);
    std::thread::sleep(Duration::from_millis(250));
    exporter.export(&span()).unwrap();
    let m = mock.lock().unwrap();
    assert_eq!((m.requests, m.observations.len()), (2, 1));
}

/// A run longer than the pipeline holds an incomplete trace: the spans that closed early are sent
/// without their root, and must still carry the trace's name, tags, metadata, user and session.
#[test]
fn a_run_longer_than_the_pipeline_holds_a_trace_keeps_its_trace_fields() {
    let (url, mock) = mock_langfuse(vec![]);
    let (layer, guard) = builder()
        .trace_max_age(Duration::from_millis(100))
        .exporter_with_config(
            LangfuseExporter::new(config(&url)).unwrap(),
            fast().with_trace_max_age(Duration::from_millis(100)),
        )
        .build_layer()
        .unwrap();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let agent = agent_span!("support-agent");
        agent.set_user("user-1");
        agent.set_session("session-42");
        agent.add_tags(["prod"]);
        agent.set_metadata("customer", "acme");
        let _a = agent.enter();
        embedding_span!("openai", "text-embedding-3-small")
            .in_scope(|| tracing::Span::current().record_usage(EMBED));
        retrieval_span!("kb-orders").in_scope(|| {});
        // Longer than the pipeline holds the trace: those two go out without their root.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while mock.lock().unwrap().observations.len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        generation_span!("openai", "gpt-4o").in_scope(|| {
            tracing::Span::current().record_usage(Usage::new(10, 2));
        });
    });
    let report = guard.shutdown(Duration::from_secs(20));
    assert_eq!(report.lost, 0, "{report:?}");
    let m = mock.lock().unwrap();
    assert_eq!(m.observations.len(), 4);
    assert!(
        m.requests >= 2,
        "the early spans went out before the root closed"
    );
    for o in &m.observations {
        assert_eq!(
            o.attrs["langfuse.trace.name"], "support-agent",
            "{}",
            o.name
        );
        assert_eq!(
            o.attrs["langfuse.trace.tags"],
            json!(["prod"]),
            "{}",
            o.name
        );
        assert_eq!(
            o.attrs["langfuse.trace.metadata.customer"], "acme",
            "{}",
            o.name
        );
        assert_eq!(o.attrs["user.id"], "user-1", "{}", o.name);
        assert_eq!(o.attrs["session.id"], "session-42", "{}", o.name);
    }
}
