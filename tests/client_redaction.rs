//! A secret a user pastes into a chat, and one an API sends back in a tool call, never leave the
//! process when the call goes through the async-openai instrumentation: the default builder's
//! SensitiveDataFilter sees the instrumented spans like any other.

use aitrace_testkit::openai::OpenAiServer;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::CreateChatCompletionRequest;
use async_openai::Client;
use serde_json::json;

const SECRET: &str = "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";

#[test]
fn secrets_in_instrumented_messages_are_redacted_by_default() {
    let server = OpenAiServer::fake();
    let config = OpenAIConfig::new()
        .with_api_base(server.base_url())
        .with_api_key("sk-test-key");
    let client = Client::with_config(config).with_http_service(aitrace::async_openai::service());
    let tools = json!([{"type": "function", "function": {"name": "store_key",
        "parameters": {"type": "object", "properties": {"api_key": {"type": "string"}}}}}]);
    let call = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                // The fake model echoes the user's text into a tool call's arguments.
                let request: CreateChatCompletionRequest = serde_json::from_value(json!({
                    "model": "gpt-4o-mini", "tools": tools,
                    "messages": [{"role": "user", "content": SECRET}]}))
                .unwrap();
                client.chat().create(request).await.expect("an answer");
            })
    };
    // Without the filter the secret is there twice (the message and the tool call's arguments).
    let unfiltered = aitrace::testing::capture_with(
        aitrace::builder().without_processor("sensitive-data-filter"),
        call,
    );
    assert_eq!(
        serde_json::to_string(&unfiltered[0])
            .unwrap()
            .matches(SECRET)
            .count(),
        2
    );
    let records = aitrace::testing::capture(call);
    assert_eq!(records.len(), 1);
    let exported = serde_json::to_string(&records[0]).unwrap();
    assert!(!exported.contains(SECRET), "{exported}");
    assert!(records[0].input.is_some() && records[0].output.is_some());
    // The server did get the secret: the redaction is aitrace's, not a request that went unsent.
    assert!(server.exchanges()[0].request.to_string().contains(SECRET));
}
