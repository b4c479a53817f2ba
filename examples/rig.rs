//! A rig agent, traced: a tool call, a streamed answer and an embedding, inside the application's
//! own request span, printed to the console. rig writes the spans; aitrace adds the time to first
//! token of streams (`TimedHttp`) and keeps the agent span inside the request (`agent_span!`).
//!
//! ```text
//! cargo run --example rig
//! ```
//!
//! Offline by default: the calls go to a small OpenAI-compatible test server started here. With
//! `OPENAI_API_KEY` set they go to OpenAI (or to `OPENAI_BASE_URL`), with `OPENAI_MODEL` (default
//! `gpt-4o-mini`) and `OPENAI_EMBEDDING_MODEL` (default `text-embedding-3-small`).

use futures::StreamExt;
use rig_agent::AgentBuilder;
use rig_core::providers::openai::OpenAIConfig;
use rig_core::tool::{Tool, ToolContext, ToolExecutionError};
use serde_json::{json, Value};
use tracing::Instrument;

struct GetWeather;

impl Tool for GetWeather {
    const NAME: &'static str = "get_weather";
    type Args = Value;
    type Output = Value;
    type Error = ToolExecutionError;

    fn description(&self) -> String {
        "Current weather in a city".into()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    }

    async fn call(&self, _: &mut ToolContext, args: Value) -> Result<Value, ToolExecutionError> {
        Ok(json!({"city": args["city"], "temp_c": 14, "sky": "rain"}))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = aitrace::builder()
        .exporter(aitrace::ConsoleExporter::stdout())
        .install()?;

    // A real endpoint when a key is set, else the built-in test server.
    let server = std::env::var("OPENAI_API_KEY")
        .is_err()
        .then(aitrace_testkit::openai::OpenAiServer::fake);
    let config = match &server {
        Some(server) => OpenAIConfig::new("sk-local-test").with_base_url(server.base_url()),
        None => OpenAIConfig::from_env()?,
    };
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into());
    let embedding_model =
        std::env::var("OPENAI_EMBEDDING_MODEL").unwrap_or_else(|_| "text-embedding-3-small".into());

    // Time to first token for streamed calls: send through `TimedHttp`.
    let openai = config.connect(aitrace::rig::TimedHttp::new(
        rig_reqwest::ReqwestClient::default(),
    ));
    let agent = AgentBuilder::new(openai.chat(model))
        .name("weather-agent")
        .preamble("Answer in one sentence.")
        .tool(GetWeather)
        .build();

    async {
        // 1. A run with a tool call; prompts and answers recorded (rig's opt-in).
        let answer = async {
            agent
                .prompt("Paris")
                .record_content_telemetry(true)
                .max_turns(3)
                .await
        }
        .instrument(aitrace::rig::agent_span!("weather-agent"))
        .await?;
        println!("answer: {}", answer.output());

        // 2. A streamed run.
        async {
            let mut stream = agent
                .prompt("Oslo")
                .record_content_telemetry(true)
                .max_turns(3)
                .stream();
            let mut items = 0;
            while let Some(item) = stream.next().await {
                item?;
                items += 1;
            }
            println!("streamed: {items} items");
            Ok::<_, Box<dyn std::error::Error>>(())
        }
        .instrument(aitrace::rig::agent_span!("weather-agent"))
        .await?;

        // 3. An embedding.
        let embedding = openai
            .embedding(embedding_model, None)
            .embed_text("rainy Paris")
            .await?;
        println!("embedding: {} dimensions", embedding.vec.len());
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .instrument(tracing::info_span!("handle_request", route = "/weather"))
    .await?;

    // Flushes: the console exporter prints the request's trace.
    drop(guard);
    Ok(())
}
