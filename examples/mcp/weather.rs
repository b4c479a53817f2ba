//! The weather MCP server of the `mcp` example (the MCP tests serve it too): an rmcp `ServerHandler`
//! as users write one, with no tracing code of its own; `aitrace_mcp::TracedServer` traces it.
//!
//! Tools: `get_weather` (a station's reading; `isError` for a city without a station), and
//! `summarize_forecast`, which makes a model call inside the server (scripted here: no network), so
//! its tokens must bill in the caller's trace. Any other name is a JSON-RPC invalid-params error.

use aitrace::{generation_span, AiSpanExt, ChatMessage, Usage};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};

/// A credential the weather station's answer leaks into the tool result: the SensitiveDataFilter
/// must keep it out of every backend.
pub(crate) const STATION_KEY: &str = "wx-live-4f9a1c2e8b7d";

/// Tokens the server's own model call uses (the caller's trace must bill them, once).
pub(crate) const SUMMARY_USAGE: (u64, u64) = (120, 18);

/// The weather server.
#[derive(Debug, Clone, Default)]
pub(crate) struct Weather;

fn city_schema() -> serde_json::Map<String, Value> {
    json!({
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"]
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn city_of(request: &CallToolRequestParams) -> Result<String, ErrorData> {
    request
        .arguments
        .as_ref()
        .and_then(|a| a.get("city"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ErrorData::invalid_params("`city` is required", None))
}

/// The server's own model call: a summary of the reading (scripted; a real server calls its
/// provider here, with any instrumented client).
fn summarize(city: &str) -> String {
    let chat = generation_span!("openai", "gpt-4o-mini");
    chat.set_input_messages(&[
        ChatMessage::system("Summarize the forecast in one sentence."),
        ChatMessage::user(format!("{city}: 14°C, rain")),
    ]);
    let answer = format!("Rain in {city} all afternoon, around 14°C.");
    chat.set_output_messages(&[ChatMessage::assistant(answer.clone())]);
    chat.record_usage(Usage::new(SUMMARY_USAGE.0, SUMMARY_USAGE.1));
    answer
}

impl ServerHandler for Weather {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("weather", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "get_weather",
                "The current reading of a city's station",
                city_schema(),
            ),
            Tool::new(
                "summarize_forecast",
                "A one-sentence forecast for a city, written by a model",
                city_schema(),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match request.name.as_ref() {
            "get_weather" => {
                let city = city_of(&request)?;
                if city == "Atlantis" {
                    CallToolResult::error(vec![ContentBlock::text("no station in Atlantis")])
                } else {
                    let reading = json!({
                        "city": city,
                        "temp_c": 14,
                        "sky": "rain",
                        "station": {"id": "wx-17", "api_key": STATION_KEY},
                    });
                    CallToolResult::success(vec![ContentBlock::text(reading.to_string())])
                }
            }
            "summarize_forecast" => {
                let city = city_of(&request)?;
                CallToolResult::success(vec![ContentBlock::text(summarize(&city))])
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("no tool named {other}"),
                    None,
                ))
            }
        };
        Ok(result.into())
    }
}
