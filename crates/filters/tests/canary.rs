//! The canary-secret suite: a unique canary secret under every default key and in every place a
//! secret hides in AI traces (nested messages, tool arguments and results, JSON inside strings, events,
//! metadata, error messages, value shapes under innocent keys). None may reach an exporter, through
//! the in-memory exporter or the JSONL file; every non-secret must arrive unchanged.

use std::time::Duration;

use aitrace_core::testing::TestExporter;
use aitrace_core::{
    builder, generation_span, tool_span, AiSpanExt, ChatMessage, JsonlExporter, Part, SpanRecord,
};
use aitrace_filters::{RedactionStyle, SensitiveDataFilter, DEFAULT_SENSITIVE_KEYS};
use serde_json::{json, Map, Value};
use tracing_subscriber::layer::SubscriberExt;

fn canary(key: &str) -> String {
    format!("CANARY{}x9f8e7d6c", key.replace(['-', '_', '.'], ""))
}

/// Spellings of each default key as they show up in the wild.
fn spellings(key: &str) -> Vec<String> {
    let words = aitrace_filters::key_words(key);
    let camel: String = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.clone()
            } else {
                w[..1].to_uppercase() + &w[1..]
            }
        })
        .collect();
    vec![
        key.to_string(),
        words.join("-").to_uppercase(),
        camel,
        format!("x_{key}"),
        format!("db_{key}"),
    ]
}

/// Value-shaped secrets under innocent keys.
const SHAPED: &[&str] = &[
    "sk-proj-CANARYabcdefghijklmnopqrstuvwx",
    "sk-ant-api03-CANARYabcdefghijklmnop",
    "AKIACANARY0123456789",
    "ghp_CANARYabcdefghijklmnopqrstuvwxyz0123",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJDQU5BUlkifQ.c2lnbmF0dXJlQ0FOQVJZ",
];

fn secrets_object() -> (Map<String, Value>, Vec<String>) {
    let mut m = Map::new();
    let mut canaries = Vec::new();
    for key in DEFAULT_SENSITIVE_KEYS {
        for k in spellings(key) {
            let c = canary(&k);
            m.insert(k, json!(c));
            canaries.push(c);
        }
    }
    (m, canaries)
}

fn emit() -> Vec<String> {
    let (secrets, mut canaries) = secrets_object();
    canaries.extend(SHAPED.iter().map(|s| s.to_string()));
    let secrets = Value::Object(secrets);
    // The request span of a handler: its metadata reaches every AI span below, as span metadata and
    // as the trace's metadata.
    let request = tracing::info_span!("handle_request");
    request.set_metadata("upstream", json!({"api_key": "CANARYrequestmeta1"}));
    let _request = request.enter();
    let chat = generation_span!("openai", "gpt-4o", metadata.api_key = "CANARYmetaapikey123");
    chat.set_input_messages(&[
        ChatMessage::system(format!(
            "use Bearer {} for the tool",
            "CANARYbearertoken0123"
        )),
        ChatMessage::user("look up my order"),
        ChatMessage::new(
            "assistant",
            vec![Part::tool_call(
                "c1",
                "crm",
                json!({"query": "order", "auth": secrets.clone()}),
            )],
        ),
        // A tool result nested in the next step's input messages (the seed bug), as a JSON string.
        ChatMessage::tool_result(
            "c1",
            json!(
                json!({"rows": [{"customer": "acme", "password": "CANARYtoolresultpw"}]})
                    .to_string()
            ),
        ),
        ChatMessage::user(format!("my key is {}", SHAPED[0])),
    ]);
    chat.set_output(json!({"text": "done", "debug": {"headers": {
        "Authorization": "CANARYauthheader99", "Content-Type": "application/json"}}}));
    chat.set_metadata("config", json!({"nested": {"deeper": [secrets.clone()]}}));
    chat.set_metadata("innocent", json!(SHAPED[2]));
    chat.in_scope(|| {
        let tool = tool_span!("crm");
        let args = json!({"client_secret": "CANARYclientsecret1", "q": "order"}).to_string();
        tool.record("gen_ai.tool.call.arguments", args.as_str());
        let result =
            json!({"session_token": "CANARYsessiontok12", "ok": true, "jwt_like": SHAPED[4]})
                .to_string();
        tool.record("gen_ai.tool.call.result", result.as_str());
        tool.in_scope(|| {
            tracing::warn!(
                password = "CANARYeventpw1234",
                retry = 2,
                "login failed for {}",
                SHAPED[3]
            );
        });
        tool.set_error("auth_failed", format!("upstream rejected {}", SHAPED[1]));
    });
    chat.record_usage(aitrace_core::Usage::new(120, 30));
    // Secrets written into text: a URL password, a form body, a `Debug`-printed struct recorded
    // with `?value`, JSON inside a sentence; and their innocent look-alikes, which stay.
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Config {
        host: &'static str,
        db_password: &'static str,
        max_tokens: u32,
    }
    let config = Config {
        host: "db",
        db_password: "CANARYdebugpw77",
        max_tokens: 512,
    };
    let connect = tool_span!("connect", config = ?config);
    connect.set_input("postgres://app:CANARYurlpw42@db:5432/orders?sslmode=require");
    connect
        .set_output("sent user=ada&password=CANARYformpw55&token=CANARYformtok66&max_tokens=100");
    connect.set_error(
        "upstream",
        r#"request failed: {"api_key":"CANARYjsonsentence88","model":"gpt-4o"}"#,
    );
    drop(connect);
    canaries.extend(
        [
            "CANARYmetaapikey123",
            "CANARYrequestmeta1",
            "CANARYbearertoken0123",
            "CANARYtoolresultpw",
            "CANARYauthheader99",
            "CANARYclientsecret1",
            "CANARYsessiontok12",
            "CANARYeventpw1234",
            "CANARYdebugpw77",
            "CANARYurlpw42",
            "CANARYformpw55",
            "CANARYformtok66",
            "CANARYjsonsentence88",
        ]
        .map(String::from),
    );
    canaries
}

fn run(filter: SensitiveDataFilter, jsonl: &std::path::Path) -> (Vec<SpanRecord>, Vec<String>) {
    let memory = TestExporter::new();
    let (layer, guard) = builder()
        .processor(filter)
        .exporter(memory.clone())
        .exporter(JsonlExporter::create(jsonl).unwrap())
        .build_layer()
        .unwrap();
    let mut canaries = Vec::new();
    aitrace_core::testing::with_default(tracing_subscriber::registry().with(layer), || {
        canaries = emit()
    });
    assert_eq!(guard.shutdown(Duration::from_secs(10)).lost, 0);
    (memory.spans(), canaries)
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aitrace-canary-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("spans.jsonl")
}

#[test]
fn no_canary_reaches_any_exporter_and_non_secrets_survive() {
    let path = temp("full");
    let (spans, canaries) = run(SensitiveDataFilter::default(), &path);
    let file = std::fs::read_to_string(&path).unwrap();
    let memory = serde_json::to_string(&spans).unwrap();
    assert!(canaries.len() > 150, "{} canaries", canaries.len());
    for c in &canaries {
        assert!(!file.contains(c.as_str()), "{c} leaked into the JSONL file");
        assert!(
            !memory.contains(c.as_str()),
            "{c} leaked to the in-memory exporter"
        );
    }
    assert!(!file.contains("CANARY"), "a piece of a canary leaked");
    // Everything that is not a secret is intact.
    let chat = spans.iter().find(|s| s.name == "chat").unwrap();
    assert_eq!(chat.usage.unwrap().input_tokens, Some(120));
    let input = chat.input.as_ref().unwrap();
    assert_eq!(input[1]["parts"][0]["content"], "look up my order");
    assert_eq!(input[2]["parts"][0]["arguments"]["query"], "order");
    let output = chat.output.as_ref().unwrap();
    assert_eq!(
        output["debug"]["headers"]["Content-Type"],
        "application/json"
    );
    assert_eq!(output["text"], "done");
    // The request span's metadata arrived, on the span and as the trace's, redacted in both.
    assert_eq!(chat.metadata["upstream"]["api_key"], "[REDACTED]");
    assert_eq!(chat.trace_metadata["upstream"]["api_key"], "[REDACTED]");
    assert!(
        chat.trace_metadata.contains_key("config"),
        "the top AI span's metadata is the trace's"
    );
    let connect = spans
        .iter()
        .find(|s| s.tool.as_ref().and_then(|t| t.name.as_deref()) == Some("connect"))
        .unwrap();
    assert_eq!(
        connect.input.as_ref().unwrap(),
        "postgres://app:[REDACTED]@db:5432/orders?sslmode=require"
    );
    assert_eq!(
        connect.output.as_ref().unwrap(),
        "sent user=ada&password=[REDACTED]&token=[REDACTED]&max_tokens=100"
    );
    let config = connect.attributes["config"].as_str().unwrap();
    assert!(
        config.contains(r#"db_password: "[REDACTED]""#) && config.contains("max_tokens: 512"),
        "{config}"
    );
    let tool = spans
        .iter()
        .find(|s| s.tool.as_ref().and_then(|t| t.name.as_deref()) == Some("crm"))
        .unwrap();
    let args = tool.tool.as_ref().unwrap().arguments.as_ref().unwrap();
    assert_eq!(args["q"], "order");
    assert_eq!(args["client_secret"], "[REDACTED]");
    assert_eq!(
        tool.tool.as_ref().unwrap().result.as_ref().unwrap()["ok"],
        true
    );
    assert_eq!(tool.events[0].attributes["retry"], 2);
    assert!(
        tool.events[0]
            .name
            .starts_with("login failed for [REDACTED]"),
        "{}",
        tool.events[0].name
    );
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn indexed_and_partial_styles_also_keep_every_canary_out() {
    for style in [RedactionStyle::Indexed, RedactionStyle::Partial] {
        let path = temp(&format!("{style:?}"));
        let (spans, canaries) = run(
            SensitiveDataFilter::builder().style(style).build().unwrap(),
            &path,
        );
        let file = std::fs::read_to_string(&path).unwrap();
        for c in &canaries {
            assert!(!file.contains(c.as_str()), "{style:?}: {c} leaked");
        }
        let chat = spans.iter().find(|s| s.name == "chat").unwrap();
        let args = &chat.input.as_ref().unwrap()[2]["parts"][0]["arguments"]["auth"];
        match style {
            RedactionStyle::Indexed => {
                // Stable per trace: the same secret gets the same label everywhere.
                assert!(
                    args["password"].as_str().unwrap().starts_with("[PASSWORD_"),
                    "{args}"
                );
                assert_eq!(
                    chat.metadata["config"]["nested"]["deeper"][0]["password"],
                    args["password"]
                );
                assert_ne!(args["password"], args["PASSWORD"]);
            }
            _ => {
                let p = args["password"].as_str().unwrap();
                assert!(
                    p.starts_with("CAN") && p.ends_with("d6c") && p.contains('…'),
                    "{p}"
                );
            }
        }
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
}
