//! The vendor presets as a user meets them: chosen by the vendor's own variables through
//! `aitrace::from_env`, the quickstart-shaped trace sent to a loopback double of each vendor's intake
//! that applies its ingestion rules (`aitrace_testkit::vendors`), and read back by those rules: kinds,
//! model, tokens billed once as that vendor sums them, cost, messages, user/session, no secret, no
//! request over its limits.
#![cfg(all(feature = "presets", feature = "filters"))]

use std::collections::HashMap;
use std::time::Duration;

use aitrace::testing::total_billable_usage;
use aitrace::{
    agent_span, embedding_span, generation_span, retrieval_span, step_span, tool_span, AiSpanExt,
    ChatMessage, SpanRecord, Usage,
};
use aitrace_testkit::otlp::OtlpSpan;
use aitrace_testkit::vendors;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

/// A secret in a tool result: no vendor may receive it.
const CANARY: &str = "sk-proj-CANARYcanary1234567890abcdef";

fn workload() {
    let agent = agent_span!("support-agent");
    agent.set_session("session-42");
    agent.set_user("user-1");
    agent.add_tags(["beta"]);
    agent.set_input("Where is order #1042?");
    let _a = agent.enter();
    embedding_span!("openai", "text-embedding-3-small").in_scope(|| {
        tracing::Span::current().record_usage(Usage::input_only(9));
    });
    retrieval_span!("kb-orders").in_scope(|| {
        let r = tracing::Span::current();
        r.record("gen_ai.retrieval.query.text", "order 1042");
        r.set_output(json!([{"id": "note-17", "score": 0.82}]));
    });
    let chat = generation_span!("anthropic", "claude-3-5-haiku");
    chat.set_input_messages(&[ChatMessage::user("Where is order #1042?")]);
    chat.in_scope(|| {
        let step = step_span!(0);
        step.record_usage(Usage::new(412, 23).with_cache_read(128));
        drop(step);
        tool_span!("lookup_order").in_scope(|| {
            let t = tracing::Span::current();
            t.record("gen_ai.tool.call.arguments", r#"{"order_id":"1042"}"#);
            t.record(
                "gen_ai.tool.call.result",
                format!(r#"{{"status":"shipped","api_key":"{CANARY}"}}"#).as_str(),
            );
        });
    });
    chat.set_output_messages(&[ChatMessage::assistant("It shipped yesterday.")]);
    chat.record_usage(
        Usage::new(910, 40)
            .with_cache_read(512)
            .with_cache_creation(64),
    );
    drop(chat);
}

/// Runs the workload with the exporters `vars` configure (and a memory exporter for the truth).
fn run(vars: &[(&str, String)]) -> Vec<SpanRecord> {
    run_workload(vars, workload)
}

/// [`run`] with another workload.
fn run_workload(vars: &[(&str, String)], workload: fn()) -> Vec<SpanRecord> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let memory = aitrace::testing::TestExporter::new();
    let (layer, guard) = aitrace::Builder::default()
        .with_env_vars(|k| vars.get(k).cloned())
        .unwrap()
        .export_config(
            aitrace::ExportConfig::default().with_max_batch_age(Duration::from_millis(20)),
        )
        .exporter(memory.clone())
        .build_layer()
        .unwrap();
    aitrace::testing::with_default(tracing_subscriber::registry().with(layer), workload);
    let report = guard.shutdown(Duration::from_secs(30));
    assert_eq!(report.lost, 0, "{report}");
    memory.spans()
}

fn no_canary(spans: &[OtlpSpan]) {
    for s in spans {
        let text = serde_json::to_string(&s.attributes).unwrap();
        assert!(
            !text.contains(CANARY),
            "secret reached the vendor in {}",
            s.name
        );
    }
}

#[test]
fn the_environment_chooses_the_backends_and_code_replaces_them() {
    let vars: HashMap<&str, &str> = HashMap::from([
        ("LANGSMITH_API_KEY", "lsv2-key"),
        ("POSTHOG_API_KEY", "phc_token"),
        ("SENTRY_DSN", "https://pub@o1.ingest.us.sentry.io/2"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("DD_API_KEY", "dd-key"),
        ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"),
    ]);
    let get = |k: &str| vars.get(k).map(|v| v.to_string());
    let b = aitrace::Builder::default().with_env_vars(get).unwrap();
    assert_eq!(
        b.exporter_names(),
        [
            "otel",
            "langsmith",
            "datadog",
            "sentry",
            "posthog",
            "mlflow"
        ]
    );
    // The one in code replaces the environment's: LangSmith is sent to once.
    let explicit = aitrace::presets::langsmith::exporter(
        aitrace::presets::langsmith::LangSmithConfig::new("other-key"),
    )
    .unwrap();
    let b = b.exporter(explicit);
    assert_eq!(
        b.exporter_names()
            .iter()
            .filter(|n| **n == "langsmith")
            .count(),
        1
    );

    // AITRACE_EXPORTERS picks exactly those listed.
    let listed = |list: &str| {
        let mut v = vars.clone();
        v.insert("AITRACE_EXPORTERS", list);
        aitrace::Builder::default().with_env_vars(move |k| v.get(k).map(|x| x.to_string()))
    };
    assert_eq!(
        listed("console,posthog").unwrap().exporter_names(),
        ["posthog"]
    );
    assert!(listed("none").unwrap().exporter_names().is_empty());
    let err = listed("console,honeycomb").unwrap_err();
    assert_eq!(err.setting, "HONEYCOMB_API_KEY", "{err}");
    let err = listed("splunk").unwrap_err();
    assert_eq!(err.setting, "AITRACE_EXPORTERS", "{err}");
    let err = listed("jsonl").unwrap_err();
    assert_eq!(err.setting, "AITRACE_JSONL_PATH", "{err}");
}

#[test]
fn a_partly_set_or_invalid_preset_is_an_error_naming_the_variable() {
    for (vars, setting) in [
        (vec![("DD_LLMOBS_ML_APP", "shop")], "DD_API_KEY"),
        (vec![("LANGSMITH_PROJECT", "p")], "LANGSMITH_API_KEY"),
        (vec![("SENTRY_DSN", "not a dsn")], "SENTRY_DSN"),
        (vec![("POSTHOG_API_KEY", "phx_personal")], "POSTHOG_API_KEY"),
        (
            vec![
                ("POSTHOG_API_KEY", "phc_x"),
                ("POSTHOG_HOST", "eu.i.posthog.com"),
            ],
            "POSTHOG_HOST",
        ),
        (vec![("MLFLOW_EXPERIMENT_ID", "3")], "MLFLOW_TRACKING_URI"),
        (
            vec![("MLFLOW_TRACKING_URI", "databricks")],
            "MLFLOW_TRACKING_URI",
        ),
        (
            vec![(
                "GRAFANA_CLOUD_OTLP_ENDPOINT",
                "https://otlp.grafana.net/otlp",
            )],
            "GRAFANA_CLOUD_INSTANCE_ID",
        ),
        (
            vec![("LANGFUSE_PUBLIC_KEY", "pk-lf")],
            "LANGFUSE_SECRET_KEY",
        ),
    ] {
        let map: HashMap<&str, &str> = vars.into_iter().collect();
        let err = aitrace::Builder::default()
            .with_env_vars(|k| map.get(k).map(|v| v.to_string()))
            .err()
            .unwrap_or_else(|| panic!("{map:?} was accepted"));
        assert_eq!(err.setting, setting, "{map:?}: {err}");
    }
}

#[test]
fn posthog_keeps_every_span_bills_once_and_never_gets_a_request_it_refuses() {
    let intake = vendors::start(vendors::posthog::rule);
    let records = run(&[
        ("POSTHOG_API_KEY", "phc_project".into()),
        ("POSTHOG_HOST", intake.url.clone()),
    ]);
    let spans = intake.spans();
    assert!(
        intake.requests().iter().all(|(_, status)| *status == 200),
        "{:?}",
        intake.requests()
    );
    // Keep filter (`providers.rs`): every span carries a kept key, so none is dropped.
    assert_eq!(spans.len(), records.len(), "PostHog dropped spans");
    no_canary(&spans);
    let truth = total_billable_usage(&records);
    // Token sums over generations and embeddings, as PostHog bills them (Anthropic cache rule).
    let billed: i64 = spans
        .iter()
        .filter(|s| {
            matches!(
                vendors::posthog::event(s),
                "$ai_generation" | "$ai_embedding"
            )
        })
        .map(vendors::posthog::billed_input_tokens)
        .sum();
    assert_eq!(Some(billed as u64), truth.input_tokens);
    let generations: Vec<&OtlpSpan> = spans
        .iter()
        .filter(|s| vendors::posthog::event(s) == "$ai_generation")
        .collect();
    assert_eq!(generations.len(), 1, "one billed model call");
    let g = generations[0];
    assert_eq!(g.str("gen_ai.request.model"), Some("claude-3-5-haiku"));
    assert_eq!(g.int("gen_ai.usage.cache_creation.input_tokens"), Some(64));
    assert!(
        g.attributes["$ai_total_cost_usd"].as_f64().unwrap() > 0.0,
        "aitrace's cost"
    );
    assert!(
        g.json("gen_ai.input.messages").is_some() && g.json("gen_ai.output.messages").is_some()
    );
    for s in &spans {
        assert_eq!(
            vendors::posthog::distinct_id(s),
            Some("user-1"),
            "{}",
            s.name
        );
        assert_eq!(s.str("$ai_session_id"), Some("session-42"), "{}", s.name);
    }
    assert!(spans
        .iter()
        .any(|s| vendors::posthog::event(s) == "$ai_trace"));
}

#[test]
fn posthog_requests_stay_under_its_100_ai_span_limit() {
    let intake = vendors::start(vendors::posthog::rule);
    let vars: HashMap<&str, String> = HashMap::from([
        ("POSTHOG_API_KEY", "phc_project".to_string()),
        ("POSTHOG_HOST", intake.url.clone()),
    ]);
    let (layer, guard) = aitrace::Builder::default()
        .with_env_vars(|k| vars.get(k).cloned())
        .unwrap()
        .export_config(aitrace::ExportConfig::default().with_max_batch_size(1000))
        .build_layer()
        .unwrap();
    aitrace::testing::with_default(tracing_subscriber::registry().with(layer), || {
        let agent = agent_span!("bulk").entered();
        for _ in 0..250 {
            tool_span!("t").in_scope(|| {});
        }
        drop(agent);
    });
    let report = guard.shutdown(Duration::from_secs(30));
    assert_eq!(report.lost, 0, "{report}");
    let requests = intake.requests();
    assert!(requests.len() >= 3, "{requests:?}");
    assert!(
        requests.iter().all(|(_, s)| *s == 200),
        "PostHog refused: {requests:?}"
    );
    assert_eq!(intake.spans().len(), 251);
}

#[test]
fn sentry_gets_ops_names_messages_as_attributes_and_raw_sums_that_bill_once() {
    let intake = vendors::start(vendors::sentry::rule);
    let host = intake.url.trim_start_matches("http://");
    let records = run(&[("SENTRY_DSN", format!("http://pubkey@{host}/77"))]);
    let spans = intake.spans();
    assert_eq!(spans.len(), records.len());
    no_canary(&spans);
    let op = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .map(vendors::sentry::op)
    };
    assert_eq!(op("chat claude-3-5-haiku").as_deref(), Some("gen_ai.chat"));
    assert_eq!(
        op("invoke_agent support-agent").as_deref(),
        Some("gen_ai.invoke_agent")
    );
    assert_eq!(
        op("execute_tool lookup_order").as_deref(),
        Some("gen_ai.execute_tool")
    );
    assert_eq!(
        op("embeddings text-embedding-3-small").as_deref(),
        Some("gen_ai.embeddings")
    );
    // Sentry sums usage over every span: only billing spans carry it.
    let truth = total_billable_usage(&records);
    let sum = |k: &str| spans.iter().filter_map(|s| s.int(k)).sum::<i64>() as u64;
    assert_eq!(Some(sum("gen_ai.usage.input_tokens")), truth.input_tokens);
    assert_eq!(Some(sum("gen_ai.usage.output_tokens")), truth.output_tokens);
    assert_eq!(sum("gen_ai.usage.cache_creation.input_tokens"), 64);
    let chat = spans
        .iter()
        .find(|s| s.name == "chat claude-3-5-haiku")
        .unwrap();
    assert!(
        chat.json("gen_ai.input.messages").is_some(),
        "messages are attributes"
    );
}

#[test]
fn datadog_derives_every_kind_and_reads_session_and_metadata() {
    let intake = vendors::start(vendors::datadog::rule);
    let records = run(&[
        ("DD_API_KEY", "dd-key".into()),
        ("DD_LLMOBS_ML_APP", "shop".into()),
        (
            "AITRACE_DATADOG_ENDPOINT",
            format!("{}/v1/traces", intake.url),
        ),
    ]);
    let spans = intake.spans();
    assert_eq!(spans.len(), records.len());
    no_canary(&spans);
    let kind = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .map(vendors::datadog::kind)
    };
    assert_eq!(kind("chat claude-3-5-haiku"), Some("llm"));
    assert_eq!(kind("embeddings text-embedding-3-small"), Some("embedding"));
    assert_eq!(kind("retrieval kb-orders"), Some("retrieval"));
    assert_eq!(kind("execute_tool lookup_order"), Some("tool"));
    assert_eq!(kind("invoke_agent support-agent"), Some("agent"));
    let chat = spans
        .iter()
        .find(|s| s.name == "chat claude-3-5-haiku")
        .unwrap();
    assert_eq!(chat.kind, 3, "LLM spans are CLIENT spans");
    assert_eq!(chat.resource["dd_llmobs_enabled"], "true");
    assert_eq!(chat.resource["service.name"], "shop");
    for s in &spans {
        assert_eq!(
            s.str("gen_ai.conversation.id"),
            Some("session-42"),
            "{}",
            s.name
        );
        let m = s
            .json("_dd.ml_obs.metadata")
            .expect("metadata is a JSON object");
        assert_eq!(m["user_id"], "user-1");
    }
    let truth = total_billable_usage(&records);
    let llm_tokens: i64 = spans
        .iter()
        .filter(|s| matches!(vendors::datadog::kind(s), "llm" | "embedding"))
        .filter_map(|s| s.int("gen_ai.usage.input_tokens"))
        .sum();
    assert_eq!(Some(llm_tokens as u64), truth.input_tokens);
}

#[test]
fn langsmith_gets_run_types_threads_on_every_run_and_usage_with_its_breakdown() {
    let intake = vendors::start(vendors::langsmith::rule);
    let records = run(&[
        ("LANGSMITH_API_KEY", "lsv2-key".into()),
        ("LANGSMITH_ENDPOINT", intake.url.clone()),
        ("LANGSMITH_PROJECT", "shop".into()),
    ]);
    let spans = intake.spans();
    assert_eq!(spans.len(), records.len());
    no_canary(&spans);
    let run_type = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .map(|s| vendors::langsmith::run_type(s).to_string())
    };
    assert_eq!(run_type("chat claude-3-5-haiku").as_deref(), Some("llm"));
    assert_eq!(
        run_type("invoke_agent support-agent").as_deref(),
        Some("chain")
    );
    assert_eq!(
        run_type("execute_tool lookup_order").as_deref(),
        Some("tool")
    );
    assert_eq!(
        run_type("retrieval kb-orders").as_deref(),
        Some("retriever")
    );
    assert_eq!(
        run_type("embeddings text-embedding-3-small").as_deref(),
        Some("embedding")
    );
    for s in &spans {
        assert!(
            s.str("langsmith.span.kind").is_some(),
            "{}: explicit run type",
            s.name
        );
        assert_eq!(
            s.str("langsmith.metadata.thread_id"),
            Some("session-42"),
            "{}",
            s.name
        );
    }
    let root = spans.iter().find(|s| s.parent.is_none()).unwrap();
    assert_eq!(root.str("langsmith.trace.name"), Some("support-agent"));
    let chat = spans
        .iter()
        .find(|s| s.name == "chat claude-3-5-haiku")
        .unwrap();
    let usage = chat.json("langsmith.usage_metadata").unwrap();
    assert_eq!(usage["input_tokens"], 910, "inclusive of cache");
    assert_eq!(usage["input_token_details"]["cache_read"], 512);
    assert_eq!(usage["input_token_details"]["cache_creation"], 64);
    assert!(usage["total_cost"].as_f64().unwrap() > 0.0);
    assert_eq!(
        chat.str("langsmith.metadata.ls_provider"),
        Some("anthropic")
    );
    assert_eq!(
        chat.str("langsmith.metadata.ls_model_name"),
        Some("claude-3-5-haiku")
    );
    let with_usage = spans
        .iter()
        .filter(|s| s.str("langsmith.usage_metadata").is_some())
        .count();
    assert_eq!(with_usage, 2, "the generation and the embedding only");
}

/// What an endpoint double answered, with the spans of each request.
type Received = Vec<(u16, Vec<OtlpSpan>)>;

/// A double for the endpoint-and-auth presets: the path and header each vendor documents.
fn endpoint_rule(
    path: &'static str,
    header: &'static str,
    value_prefix: &'static str,
) -> impl Fn(&aitrace_testkit::Request) -> aitrace_testkit::Response + Send + Sync + 'static {
    move |req| {
        let authorized = req
            .header(header)
            .is_some_and(|v| v.starts_with(value_prefix));
        if req.path != path {
            aitrace_testkit::Response::empty(404)
        } else if !authorized {
            aitrace_testkit::Response::empty(401)
        } else {
            aitrace_testkit::Response::json(200, "{}")
        }
    }
}

#[test]
fn honeycomb_grafana_langwatch_and_laminar_receive_the_trace_at_their_endpoints() {
    use std::sync::{Arc, Mutex};
    let cases: [(&str, &str, &str, &'static str, &'static str, &'static str); 4] = [
        (
            "HONEYCOMB_API_KEY",
            "hc-key",
            "HONEYCOMB_API_ENDPOINT",
            "/v1/traces",
            "x-honeycomb-team",
            "hc-key",
        ),
        (
            "LANGWATCH_API_KEY",
            "lw-key",
            "LANGWATCH_ENDPOINT",
            "/api/otel/v1/traces",
            "authorization",
            "Bearer lw-key",
        ),
        (
            "LMNR_PROJECT_API_KEY",
            "lm-key",
            "LMNR_BASE_URL",
            "/v1/traces",
            "authorization",
            "Bearer lm-key",
        ),
        (
            "GRAFANA_CLOUD_API_KEY",
            "gc-token",
            "GRAFANA_CLOUD_OTLP_ENDPOINT",
            "/otlp/v1/traces",
            "authorization",
            "Basic ",
        ),
    ];
    for (key_var, key, url_var, path, header, prefix) in cases {
        let got: Arc<Mutex<Received>> = Arc::default();
        let sink = Arc::clone(&got);
        let rule = endpoint_rule(path, header, prefix);
        let backend = aitrace_testkit::Backend::start(move |req| {
            let answer = rule(req);
            let spans = aitrace_testkit::otlp::decode(&req.plain_body()).unwrap_or_default();
            sink.lock().unwrap().push((answer.status, spans));
            answer
        });
        let base = if url_var == "GRAFANA_CLOUD_OTLP_ENDPOINT" {
            format!("{}/otlp", backend.url())
        } else {
            backend.url().to_string()
        };
        let mut vars = vec![(key_var, key.to_string()), (url_var, base)];
        if key_var == "GRAFANA_CLOUD_API_KEY" {
            vars.push(("GRAFANA_CLOUD_INSTANCE_ID", "12345".into()));
        }
        let records = run(&vars);
        let got = got.lock().unwrap();
        assert!(
            got.iter().all(|(status, _)| *status == 200),
            "{key_var}: refused"
        );
        let spans: Vec<OtlpSpan> = got.iter().flat_map(|(_, s)| s.clone()).collect();
        assert_eq!(spans.len(), records.len(), "{key_var}: every span");
        no_canary(&spans);
        let chat = spans
            .iter()
            .find(|s| s.name == "chat claude-3-5-haiku")
            .unwrap();
        assert_eq!(
            chat.int("gen_ai.usage.input_tokens"),
            Some(910),
            "{key_var}"
        );
        if key_var == "LMNR_PROJECT_API_KEY" {
            assert_eq!(chat.str("lmnr.span.type"), Some("LLM"));
            assert_eq!(
                chat.str("lmnr.association.properties.session_id"),
                Some("session-42")
            );
        }
    }
}

#[test]
fn langsmith_gets_scores_as_feedback_on_its_runs_and_no_score_spans() {
    let intake =
        vendors::start_with_json(vendors::langsmith::rule, vendors::langsmith::feedback_rule);
    let records = run_workload(
        &[
            ("LANGSMITH_API_KEY", "lsv2-key".into()),
            ("LANGSMITH_ENDPOINT", intake.url.clone()),
        ],
        scores_workload,
    );
    let chat = records.iter().find(|r| r.name == "chat").unwrap();
    let request = records
        .iter()
        .find(|r| r.kind == aitrace::SpanKind::Request)
        .unwrap();
    let feedback: Vec<serde_json::Value> = intake.json().into_iter().map(|(_, b)| b).collect();
    assert_eq!(feedback.len(), 3, "{:?}", intake.requests());
    let key = |k: &str| feedback.iter().find(|f| f["key"] == k).unwrap();
    let run = aitrace::presets::scores::langsmith_run_id;
    assert_eq!(key("json_valid")["run_id"], run(chat.span_id));
    assert_eq!(key("json_valid")["score"], 1.0);
    let thumbs = key("user_feedback");
    assert_eq!(
        thumbs["run_id"],
        run(request.span_id),
        "the trace's root run"
    );
    assert_eq!(
        thumbs["trace_id"],
        aitrace::presets::scores::langsmith_trace_id(chat.trace_id)
    );
    assert_eq!(thumbs["comment"], "wrong");
    assert_eq!(key("tone")["value"], "curt");
    assert_eq!(key("tone")["feedback_source"]["type"], "model");
    assert!(
        intake
            .spans()
            .iter()
            .all(|s| s.name != "gen_ai.evaluation.result"),
        "LangSmith shows feedback, not score spans"
    );
}

/// A request whose chat records a guardrail's score, then feedback on the whole request and a
/// judge's label on the chat, sent after the trace was exported.
fn scores_workload() {
    let request = tracing::info_span!("handle_chat");
    let chat = request.in_scope(|| {
        let chat = generation_span!("openai", "gpt-4o-mini");
        chat.record_usage(Usage::new(5, 1));
        chat.record_score(aitrace::Score::boolean("json_valid", true))
            .unwrap();
        chat.score_target().unwrap()
    });
    let whole = request.score_target().unwrap();
    drop(request);
    std::thread::sleep(Duration::from_millis(100));
    aitrace::score(
        whole,
        aitrace::Score::boolean("user_feedback", false).with_comment("wrong"),
    )
    .unwrap();
    aitrace::score(
        chat,
        aitrace::Score::categorical("tone", "curt").with_source(aitrace::ScoreSource::Model),
    )
    .unwrap();
}

#[test]
fn posthog_gets_scores_as_evaluation_events_on_its_logs_intake() {
    let intake = vendors::start(vendors::posthog::rule);
    let records = run_workload(
        &[
            ("POSTHOG_API_KEY", "phc_test".into()),
            ("POSTHOG_HOST", intake.url.clone()),
        ],
        scores_workload,
    );
    let chat = records.iter().find(|r| r.name == "chat").unwrap();
    let events: Vec<_> = intake
        .logs()
        .iter()
        .filter_map(vendors::posthog::evaluation)
        .collect();
    assert_eq!(
        events.len(),
        3,
        "every score is an $ai_evaluation: {:?}",
        intake.logs()
    );
    let named = |n: &str| {
        events
            .iter()
            .find(|e| e["$ai_evaluation_name"] == n)
            .unwrap()
    };
    let trace = chat.trace_id.to_string();
    let span = chat.span_id.to_string();
    assert_eq!(named("json_valid")["$ai_trace_id"], trace.as_str());
    assert_eq!(named("json_valid")["$ai_target_span_id"], span.as_str());
    assert_eq!(named("json_valid")["$ai_evaluation_score_value"], 1.0);
    let thumbs = named("user_feedback");
    assert_eq!(thumbs["$ai_trace_id"], trace.as_str());
    assert!(
        thumbs.get("$ai_target_span_id").is_none(),
        "the whole trace"
    );
    assert_eq!(thumbs["$ai_evaluation_reasoning"], "wrong");
    assert_eq!(named("tone")["$ai_evaluation_score_label"], "curt");
    let logs_requests: Vec<_> = intake
        .requests()
        .into_iter()
        .filter(|(p, _)| p.ends_with("/v1/logs"))
        .collect();
    assert!(logs_requests
        .iter()
        .all(|(p, status)| p == "/i/v0/ai/otel/v1/logs" && *status == 200));
    assert!(
        intake
            .spans()
            .iter()
            .all(|s| s.name != "gen_ai.evaluation.result"),
        "no score spans: they would be $ai_span events"
    );
}
