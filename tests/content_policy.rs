//! The content policy: with content off (globally, by the standard environment variable, per
//! exporter, or per span), no exporter's payload holds messages, tool arguments/results, retrieved
//! documents or embeddings inputs; usage, models, timing, tool names and errors still flow.
#![cfg(all(feature = "otel", feature = "langfuse", feature = "braintrust"))]

use std::time::Duration;

use aitrace::{
    agent_span, embedding_span, generation_span, retrieval_span, tool_span, AiSpanExt, ChatMessage,
    ExportConfig, SpanRecord, Usage,
};
use aitrace_testkit::{Fault, FaultServer, Request};
use tracing_subscriber::layer::SubscriberExt;

/// Every piece of content below starts with this; none may reach an exporter with content off.
const MARK: &str = "CONTENTMARK";

fn workload() {
    let agent = agent_span!("support");
    let _a = agent.enter();
    embedding_span!("openai", "text-embedding-3-small").in_scope(|| {
        let e = tracing::Span::current();
        e.set_input(format!("{MARK} embed me"));
        e.record_usage(Usage::new(9, 0));
    });
    retrieval_span!("kb").in_scope(|| {
        let r = tracing::Span::current();
        r.record(
            "gen_ai.retrieval.query.text",
            format!("{MARK} query").as_str(),
        );
        r.set_output(serde_json::json!([{"id": "d1", "content": format!("{MARK} document")}]));
    });
    let chat = generation_span!("openai", "gpt-4o");
    chat.set_input_messages(&[
        ChatMessage::system(format!("{MARK} system")),
        ChatMessage::user(format!("{MARK} user prompt")),
    ]);
    chat.in_scope(|| {
        tool_span!("lookup_order").in_scope(|| {
            let t = tracing::Span::current();
            t.record(
                "gen_ai.tool.call.arguments",
                format!(r#"{{"q":"{MARK} args"}}"#).as_str(),
            );
            t.record(
                "gen_ai.tool.call.result",
                format!(r#"{{"r":"{MARK} result"}}"#).as_str(),
            );
            t.set_error("upstream", "the CRM timed out");
        });
    });
    chat.set_output_messages(&[ChatMessage::assistant(format!("{MARK} answer"))]);
    chat.record_usage(Usage::new(321, 12));
}

fn body(r: &Request) -> String {
    String::from_utf8_lossy(&r.plain_body()).into_owned()
}

struct Run {
    memory: Vec<SpanRecord>,
    jsonl: String,
    /// Exporter name -> every request body it sent.
    bodies: Vec<(&'static str, String)>,
}

fn run(builder: aitrace::Builder) -> Run {
    run_workload(builder, workload)
}

fn run_workload(builder: aitrace::Builder, workload: fn()) -> Run {
    let servers = [
        (
            "otel",
            FaultServer::start(vec![], Fault::Ok, aitrace_testkit::vendor_answer),
        ),
        (
            "langfuse",
            FaultServer::start(vec![], Fault::Ok, aitrace_testkit::vendor_answer),
        ),
        (
            "braintrust",
            FaultServer::start(vec![], Fault::Ok, aitrace_testkit::vendor_answer),
        ),
    ];
    let path = std::env::temp_dir().join(format!(
        "aitrace-content-{}-{:?}.jsonl",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    let memory = aitrace::testing::TestExporter::new();
    let mut lf = aitrace::langfuse::LangfuseConfig::new("pk-lf-1", "sk-lf-1");
    lf.base_url = servers[1].1.url().to_string();
    let mut bt = aitrace::braintrust::BraintrustConfig::new("bt-key", "tests");
    bt.api_url = servers[2].1.url().to_string();
    bt.project = aitrace::braintrust::ProjectRef::Id("p-1".into());
    let fast = ExportConfig::default().with_max_batch_age(Duration::from_millis(20));
    let (layer, guard) = builder
        .jsonl(&path)
        .exporter(memory.clone())
        .export_config(fast)
        .exporter(
            aitrace::otel::OtelExporter::builder()
                .endpoint(format!("{}/v1/traces", servers[0].1.url()))
                .build()
                .unwrap(),
        )
        .exporter(aitrace::langfuse::LangfuseExporter::new(lf).unwrap())
        .exporter(aitrace::braintrust::BraintrustExporter::new(bt).unwrap())
        .build_layer()
        .unwrap();
    aitrace::testing::with_default(tracing_subscriber::registry().with(layer), workload);
    let report = guard.shutdown(Duration::from_secs(30));
    assert_eq!(report.lost, 0, "{report:?}");
    let jsonl = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let bodies = servers
        .iter()
        .flat_map(|(name, s)| {
            s.requests()
                .iter()
                .map(|r| (*name, body(r)))
                .collect::<Vec<_>>()
        })
        .collect();
    Run {
        memory: memory.spans(),
        jsonl,
        bodies,
    }
}

/// What must still flow with content off.
fn assert_facts_flow(spans: &[SpanRecord]) {
    let chat = spans.iter().find(|s| s.name == "chat").unwrap();
    assert_eq!(chat.usage, Some(Usage::new(321, 12)));
    assert_eq!(chat.model(), Some("gpt-4o"));
    assert!(chat.end_time_unix_nano >= chat.start_time_unix_nano);
    let tool = spans.iter().find(|s| s.name == "execute_tool").unwrap();
    assert_eq!(
        tool.tool.as_ref().unwrap().name.as_deref(),
        Some("lookup_order")
    );
    assert!(tool.status.is_error());
}

#[test]
fn with_content_off_no_exporter_receives_content() {
    let run = run(aitrace::builder().capture_content(false));
    let memory = serde_json::to_string(&run.memory).unwrap();
    assert!(!memory.contains(MARK), "test exporter: {memory}");
    assert!(!run.jsonl.contains(MARK), "jsonl: {}", run.jsonl);
    for name in ["otel", "langfuse", "braintrust"] {
        let sent: Vec<&String> = run
            .bodies
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, b)| b)
            .collect();
        assert!(!sent.is_empty(), "{name} sent nothing");
        for b in sent {
            assert!(!b.contains(MARK), "{name} received content");
            assert!(
                b.contains("lookup_order"),
                "{name}: the tool name still flows"
            );
        }
    }
    assert_facts_flow(&run.memory);
}

#[test]
fn content_is_on_by_default_and_can_be_turned_off_per_exporter() {
    let run = run(aitrace::builder().content_for("braintrust", false));
    assert!(serde_json::to_string(&run.memory).unwrap().contains(MARK));
    assert!(run.jsonl.contains(MARK));
    for (_, body) in run.bodies.iter().filter(|(n, _)| *n == "braintrust") {
        assert!(!body.contains(MARK), "braintrust received content");
    }
    // The others received it (Langfuse's protobuf requests hold the strings as bytes).
    assert!(run
        .bodies
        .iter()
        .any(|(n, b)| *n == "langfuse" && b.contains(MARK)));
    assert_facts_flow(&run.memory);
}

#[test]
fn the_standard_environment_variable_turns_content_off() {
    let builder = aitrace::Builder::default()
        .with_env_vars(|k| {
            (k == "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT").then(|| "false".into())
        })
        .unwrap();
    let spans = aitrace::testing::capture_with(builder, workload);
    assert!(!serde_json::to_string(&spans).unwrap().contains(MARK));
    assert_facts_flow(&spans);
    let err = aitrace::Builder::default()
        .with_env_vars(|k| {
            (k == "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT").then(|| "maybe".into())
        })
        .unwrap_err();
    assert_eq!(
        err.setting,
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    );
}

#[test]
fn a_span_can_hide_its_input_or_output() {
    let spans = aitrace::testing::capture(|| {
        let chat = generation_span!("openai", "gpt-4o");
        // Hidden before the instrumentation records it: still never sent.
        chat.hide_input();
        chat.set_input_messages(&[ChatMessage::user(format!("{MARK} private question"))]);
        chat.set_output_messages(&[ChatMessage::assistant("a public answer")]);
        chat.record_usage(Usage::new(5, 2));
        let tool = tool_span!("t");
        tool.hide_output();
        tool.record("gen_ai.tool.call.arguments", r#"{"q":"public"}"#);
        tool.record(
            "gen_ai.tool.call.result",
            format!(r#"{{"r":"{MARK}"}}"#).as_str(),
        );
    });
    assert!(!serde_json::to_string(&spans).unwrap().contains(MARK));
    let chat = spans.iter().find(|s| s.name == "chat").unwrap();
    assert!(chat.input.is_none() && chat.output.is_some());
    assert_eq!(chat.usage, Some(Usage::new(5, 2)));
    let tool = spans.iter().find(|s| s.name == "execute_tool").unwrap();
    let tool = tool.tool.as_ref().unwrap();
    assert!(tool.arguments.is_some() && tool.result.is_none());
}

/// A prompt with a screenshot: 3 MB of base64.
fn screenshot_workload() {
    let chat = generation_span!("openai", "gpt-4o");
    chat.set_input_messages(&[ChatMessage::new(
        "user",
        vec![
            aitrace::Part::text("what is on my screen?"),
            aitrace::Part::Known(aitrace::KnownPart::Blob {
                modality: "image".into(),
                mime_type: Some("image/png".into()),
                content: "iVBORw0K".repeat(375_000),
            }),
        ],
    )]);
    chat.set_output_messages(&[ChatMessage::assistant("a terminal")]);
    chat.record_usage(Usage::new(1200, 4));
}

#[test]
fn a_screenshot_reaches_every_exporter_as_a_marker_unless_asked_for_whole() {
    let r = run_workload(aitrace::builder(), screenshot_workload);
    let part = &r.memory[0].input.as_ref().unwrap()[0]["parts"][1];
    assert_eq!(part["type"], aitrace::filters::OMITTED_BLOB_TYPE);
    assert_eq!(part["mime_type"], "image/png");
    assert_eq!(part["size_bytes"], 2_250_000);
    assert_eq!(r.memory[0].attributes["aitrace.omitted_blobs"], 1);
    assert!(
        r.jsonl.len() < 10_000,
        "JSONL line of {} bytes",
        r.jsonl.len()
    );
    for name in ["otel", "langfuse", "braintrust"] {
        let sent: Vec<&String> = r
            .bodies
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, b)| b)
            .collect();
        assert!(!sent.is_empty(), "{name} sent nothing");
        assert!(
            sent.iter().all(|b| b.len() < 50_000),
            "{name} sent the blob"
        );
        assert!(
            sent.iter().any(|b| b.contains("omitted_blob")),
            "{name} lost the marker"
        );
        assert!(
            sent.iter().any(|b| b.contains("a terminal")),
            "{name} lost the answer"
        );
    }
    let whole = run_workload(
        aitrace::builder().without_processor("inline-blob-limit"),
        screenshot_workload,
    );
    let part = &whole.memory[0].input.as_ref().unwrap()[0]["parts"][1];
    assert_eq!(part["content"].as_str().map(str::len), Some(3_000_000));
}
