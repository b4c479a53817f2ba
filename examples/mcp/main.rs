//! MCP tool calls in one trace across the process boundary, offline: an agent calls tools of an MCP
//! server that runs as its child process (rmcp over stdio), one of which makes a model call inside
//! the server. The client's spans go to `mcp-client.jsonl`, the server's (written by the child) to
//! `mcp-server.jsonl`; the example then prints the trace both make together, and fails unless it is
//! one trace, parented right, with the server's tokens billed once and no secret in either file.
//! Backends named by the environment (as in the quickstart) get both sides too.
//!
//! Run: `cargo run --example mcp`

mod weather;

use std::error::Error;
use std::time::Duration;

use aitrace::{
    agent_span, ConsoleExporter, ExportConfig, Exporter, JsonlExporter, SpanKind, Usage,
};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use tracing::Instrument;

const CLIENT_JSONL: &str = "mcp-client.jsonl";
const SERVER_JSONL: &str = "mcp-server.jsonl";

fn main() -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--serve") {
        let path = args.next().unwrap_or_else(|| SERVER_JSONL.to_string());
        return runtime.block_on(serve(&path));
    }
    runtime.block_on(run_agent())
}

/// The server process: the weather server on stdio, traced with one line. Its spans go to a JSONL
/// file (and the environment's backends); stdout is the protocol, so nothing prints there.
async fn serve(jsonl: &str) -> Result<(), Box<dyn Error>> {
    let local = ExportConfig::default().with_max_batch_age(Duration::from_millis(50));
    let guard = aitrace::from_env()?
        .exporter_with_config(JsonlExporter::create(jsonl)?, local)
        .install()?;
    let server = aitrace::mcp::serve_server(weather::Weather, rmcp::transport::stdio()).await?;
    let _ = server.waiting().await;
    let report = guard.shutdown(Duration::from_secs(5));
    if report.lost > 0 {
        return Err(format!("the server lost spans: {report}").into());
    }
    Ok(())
}

/// A call of `tool` for `city`.
fn call(tool: &'static str, city: &str) -> CallToolRequestParams {
    let args = json!({"city": city})
        .as_object()
        .cloned()
        .unwrap_or_default();
    CallToolRequestParams::new(tool).with_arguments(args)
}

/// The client process: an agent that lists the server's tools and calls them.
async fn run_agent() -> Result<(), Box<dyn Error>> {
    let local = ExportConfig::default().with_max_batch_age(Duration::from_millis(50));
    let guard = aitrace::from_env()?
        .exporter_with_config(JsonlExporter::create(CLIENT_JSONL)?, local)
        .install()?;
    let mut server = tokio::process::Command::new(std::env::current_exe()?);
    server.arg("--serve").arg(SERVER_JSONL);
    // The one line on the client side.
    let client = aitrace::mcp::serve_client((), TokioChildProcess::new(server)?).await?;

    let agent = agent_span!("trip-planner");
    async {
        let tools = client.list_all_tools().await?;
        let reading = client.call_tool(call("get_weather", "Paris")).await?;
        let summary = client
            .call_tool(call("summarize_forecast", "Paris"))
            .await?;
        let nowhere = client.call_tool(call("get_weather", "Atlantis")).await?;
        println!(
            "{} tools; Paris: {}; summary: {}; Atlantis is an error: {}",
            tools.len(),
            first_text(&reading),
            first_text(&summary),
            nowhere.is_error == Some(true)
        );
        Ok::<_, Box<dyn Error>>(())
    }
    .instrument(agent)
    .await?;
    // Closing the client closes the child's stdin: it flushes its spans and exits.
    let _ = client.cancel().await;
    let report = guard.shutdown(Duration::from_secs(5));
    check_and_print(report.lost)
}

fn first_text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Reads both sides, prints their trace, and checks what CI relies on.
fn check_and_print(lost: u64) -> Result<(), Box<dyn Error>> {
    let client_text = std::fs::read_to_string(CLIENT_JSONL)?;
    let server_text = wait_for_file(SERVER_JSONL)?;
    for (file, text) in [(CLIENT_JSONL, &client_text), (SERVER_JSONL, &server_text)] {
        if text.contains(weather::STATION_KEY) {
            return Err(format!("the station's key reached {file}").into());
        }
    }
    let mut spans = aitrace::jsonl::read_jsonl(&client_text)?;
    let server_spans = aitrace::jsonl::read_jsonl(&server_text)?;
    let server_count = server_spans.len();
    spans.extend(server_spans);
    ConsoleExporter::stdout().export(&spans)?;

    let agent = spans
        .iter()
        .find(|s| s.kind == SpanKind::AgentRun)
        .ok_or("no agent span")?;
    let trace = agent.trace_id;
    let tool_spans = |side: &str| {
        spans
            .iter()
            .filter(|s| s.kind == SpanKind::McpToolCall)
            .filter(|s| s.attributes.get("otel.kind").and_then(|v| v.as_str()) == Some(side))
            .count()
    };
    // The client connected before the agent ran: `initialize` is a trace of its own, both sides of
    // it; everything else is the agent's.
    let initialize = spans
        .iter()
        .find(|s| s.name == "initialize")
        .map(|s| s.trace_id);
    let outside = spans
        .iter()
        .filter(|s| s.trace_id != trace)
        .filter(|s| !(s.name == "initialize" && Some(s.trace_id) == initialize))
        .count();
    let billed: Usage = spans
        .iter()
        .filter(|s| s.billable)
        .filter_map(|s| s.usage)
        .fold(Usage::default(), |sum, u| sum.add(&u));
    println!(
        "{} client spans in {CLIENT_JSONL}, {server_count} server spans in {SERVER_JSONL}; the agent's calls in one trace: {}; billed once: {} input / {} output tokens; lost: {lost}",
        spans.len() - server_count,
        outside == 0,
        billed.input_tokens.unwrap_or(0),
        billed.output_tokens.unwrap_or(0),
    );
    let want = Usage::new(weather::SUMMARY_USAGE.0, weather::SUMMARY_USAGE.1);
    if outside > 0 || tool_spans("client") != 3 || tool_spans("server") != 3 || lost > 0 {
        return Err(format!(
            "expected one trace with 3 client and 3 server tool spans, nothing lost; {outside} spans outside it"
        )
        .into());
    }
    if (billed.input_tokens, billed.output_tokens) != (want.input_tokens, want.output_tokens) {
        return Err(format!("the server's tokens billed {billed:?}, not once").into());
    }
    Ok(())
}

/// The child writes its file as it exits; give it a moment.
fn wait_for_file(path: &str) -> Result<String, Box<dyn Error>> {
    for _ in 0..50 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return Ok(text);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the server wrote no {path}").into())
}
