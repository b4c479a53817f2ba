//! async-openai, traced with one line: a tool call, a streamed answer and an embedding, inside the
//! application's own request span, printed to the console.
//!
//! ```text
//! cargo run --example async_openai
//! ```
//!
//! Offline by default: the calls go to a small OpenAI-compatible test server started here. With
//! `OPENAI_API_KEY` set they go to OpenAI (or to `OPENAI_BASE_URL`), with `OPENAI_MODEL` (default
//! `gpt-4o-mini`) and `OPENAI_EMBEDDING_MODEL` (default `text-embedding-3-small`).

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::CreateChatCompletionRequest;
use async_openai::types::embeddings::CreateEmbeddingRequest;
use async_openai::Client;
use futures::StreamExt;
use serde_json::{json, Value};
use tracing::Instrument;

fn request<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid request")
}

fn get_weather(args: &Value) -> Value {
    json!({"city": args["city"], "temp_c": 14, "sky": "rain"})
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = aitrace::builder()
        .exporter(aitrace::ConsoleExporter::stdout())
        .install()?;

    // A real endpoint when a key is set, else the built-in test server.
    let local = std::env::var("OPENAI_API_KEY").is_err();
    let server = local.then(aitrace_testkit::openai::OpenAiServer::fake);
    let mut config = OpenAIConfig::new();
    if let Some(server) = &server {
        config = config
            .with_api_base(server.base_url())
            .with_api_key("sk-local-test");
    } else if let Ok(base) = std::env::var("OPENAI_BASE_URL") {
        config = config.with_api_base(base);
    }
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into());
    let embedding_model =
        std::env::var("OPENAI_EMBEDDING_MODEL").unwrap_or_else(|_| "text-embedding-3-small".into());

    // The one line: async-openai's HTTP stack, traced.
    let client = Client::with_config(config).with_http_service(aitrace::async_openai::service());

    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    async {
        // 1. A tool call, and the answer to its result.
        let mut messages = vec![
            json!({"role": "system", "content": "Answer in one sentence."}),
            json!({"role": "user", "content": "Paris"}),
        ];
        let first = client
            .chat()
            .create(request::<CreateChatCompletionRequest>(
                json!({"model": model, "messages": messages, "tools": tools}),
            ))
            .await?;
        let message = serde_json::to_value(&first.choices[0].message)?;
        messages.push(message.clone());
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            let args: Value = serde_json::from_str(
                call.pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}"),
            )?;
            println!("tool call: get_weather({args})");
            messages.push(json!({"role": "tool", "tool_call_id": call["id"],
                "content": get_weather(&args).to_string()}));
        }
        let answer = client
            .chat()
            .create(request::<CreateChatCompletionRequest>(
                json!({"model": model, "messages": messages, "tools": tools}),
            ))
            .await?;
        println!(
            "answer: {}",
            answer.choices[0].message.content.as_deref().unwrap_or("")
        );

        // 2. A streamed answer, usage in its last chunk.
        let mut stream = client
            .chat()
            .create_stream(request::<CreateChatCompletionRequest>(json!({
                "model": model, "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "Say hello to the trace viewer"}]})))
            .await?;
        print!("streamed: ");
        while let Some(chunk) = stream.next().await {
            if let Some(choice) = chunk?.choices.first() {
                print!("{}", choice.delta.content.as_deref().unwrap_or(""));
            }
        }
        println!();

        // 3. An embedding.
        let embedding = client
            .embeddings()
            .create(request::<CreateEmbeddingRequest>(
                json!({"model": embedding_model, "input": ["rainy Paris"]}),
            ))
            .await?;
        println!(
            "embedding: {} dimensions",
            embedding.data[0].embedding.len()
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .instrument(tracing::info_span!("handle_request", route = "/weather"))
    .await?;

    // Flushes: the console exporter prints the request's trace.
    drop(guard);
    Ok(())
}
