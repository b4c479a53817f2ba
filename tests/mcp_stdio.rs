//! MCP over stdio to a child process, the transport most MCP servers use: this test binary runs
//! itself as the server (the weather server of the `mcp` example, `aitrace::mcp::serve_server` on
//! stdin/stdout), so the two sides are two processes with two pipelines. Both export OTLP to one
//! loopback double: the spans the two processes sent must form one trace (the client's CLIENT spans,
//! the server's SERVER spans under them, the server's model call under its tool span), billed once,
//! with `network.transport = pipe` and no secret from the tool result.
//!
//! A test without libtest's harness (`harness = false`): libtest writes to stdout, which is the MCP
//! server's protocol stream.

#[path = "../examples/mcp/weather.rs"]
mod weather;

use std::time::Duration;

use aitrace::{agent_span, ExportConfig, SpanKind};
use aitrace_testkit::{otlp, vendor_answer, Fault, FaultServer};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use tracing::Instrument;

/// Set in the child: serve, exporting OTLP to this endpoint.
const SERVE_ENV: &str = "AITRACE_MCP_TEST_SERVE_OTLP";

fn otel_to(endpoint: &str) -> aitrace::otel::OtelExporter {
    aitrace::otel::OtelExporter::builder()
        .read_env(false)
        .endpoint(endpoint)
        .build()
        .expect("an OTLP exporter")
}

fn fast() -> ExportConfig {
    ExportConfig::default().with_max_batch_age(Duration::from_millis(20))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The child: the weather server on stdio, traced with one line.
fn serve(endpoint: &str) {
    let guard = aitrace::builder()
        .exporter_with_config(otel_to(endpoint), fast())
        .install()
        .expect("the server's pipeline");
    runtime().block_on(async {
        let server = aitrace::mcp::serve_server(weather::Weather, rmcp::transport::stdio())
            .await
            .expect("the server starts");
        let _ = server.waiting().await;
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.lost, 0, "the server lost spans: {report}");
}

fn call(tool: &'static str, city: &str) -> CallToolRequestParams {
    let args = json!({"city": city}).as_object().cloned().unwrap();
    CallToolRequestParams::new(tool).with_arguments(args)
}

fn main() {
    if let Ok(endpoint) = std::env::var(SERVE_ENV) {
        return serve(&endpoint);
    }
    let collector = FaultServer::start(vec![], Fault::Ok, vendor_answer);
    let endpoint = format!("{}/v1/traces", collector.url());
    let memory = aitrace::testing::TestExporter::new();
    let guard = aitrace::builder()
        .exporter(memory.clone())
        .exporter_with_config(otel_to(&endpoint), fast())
        .install()
        .expect("the client's pipeline");
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap());
    child.env(SERVE_ENV, &endpoint);
    runtime().block_on(async {
        let client = aitrace::mcp::serve_client((), TokioChildProcess::new(child).unwrap())
            .await
            .expect("the client starts");
        async {
            let summary = client
                .call_tool(call("summarize_forecast", "Lyon"))
                .await
                .unwrap();
            assert_ne!(summary.is_error, Some(true));
            let reading = client.call_tool(call("get_weather", "Lyon")).await.unwrap();
            assert_ne!(reading.is_error, Some(true));
            let nowhere = client
                .call_tool(call("get_weather", "Atlantis"))
                .await
                .unwrap();
            assert_eq!(nowhere.is_error, Some(true));
        }
        .instrument(agent_span!("trip-planner"))
        .await;
        // Closing the client closes the child's stdin: it flushes and exits.
        let _ = client.cancel().await;
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.lost, 0, "{report}");

    let agent = memory
        .spans()
        .into_iter()
        .find(|s| s.kind == SpanKind::AgentRun)
        .unwrap();
    let trace = agent.trace_id.to_string();
    // Both processes' spans, as the collector holds them (the child's arrive as it exits).
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = collector
            .requests()
            .iter()
            .flat_map(|r| otlp::decode(&r.plain_body()).unwrap_or_default())
            .filter(|s| s.trace_id == trace)
            .collect::<Vec<_>>();
        if spans.iter().filter(|s| s.kind == 2).count() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for r in collector.requests() {
        let body = String::from_utf8_lossy(&r.plain_body()).to_string();
        assert!(
            !body.contains(weather::STATION_KEY),
            "a secret reached the collector"
        );
    }
    let mcp = |kind: i32| -> Vec<&otlp::OtlpSpan> {
        spans
            .iter()
            .filter(|s| s.kind == kind && s.str("mcp.method.name").is_some())
            .collect()
    };
    let (clients, servers) = (mcp(3), mcp(2));
    assert_eq!((clients.len(), servers.len()), (3, 3), "{spans:#?}");
    for server in &servers {
        let parent = server.parent.as_deref().unwrap();
        let client = clients.iter().find(|c| c.span_id == parent).unwrap();
        assert_eq!(client.name, server.name);
        assert_eq!(
            client.parent.as_deref(),
            Some(agent.span_id.to_string().as_str())
        );
        assert_eq!(
            client.str("jsonrpc.request.id"),
            server.str("jsonrpc.request.id")
        );
        for side in [*client, *server] {
            assert_eq!(side.str("network.transport"), Some("pipe"));
            assert_eq!(side.str("mcp.method.name"), Some("tools/call"));
        }
    }
    let failed: Vec<&&otlp::OtlpSpan> = servers
        .iter()
        .chain(clients.iter())
        .filter(|s| s.status_code == 2)
        .collect();
    assert_eq!(failed.len(), 2, "Atlantis, on both sides");
    assert!(failed
        .iter()
        .all(|s| s.str("error.type") == Some("tool_error")));
    let generation = spans
        .iter()
        .find(|s| s.str("gen_ai.operation.name") == Some("chat"))
        .expect("the server's model call, in the caller's trace");
    let summary = servers
        .iter()
        .find(|s| s.name == "tools/call summarize_forecast")
        .unwrap();
    assert_eq!(generation.parent.as_deref(), Some(summary.span_id.as_str()));
    let billed: i64 = spans
        .iter()
        .filter_map(|s| s.int("gen_ai.usage.input_tokens"))
        .sum();
    assert_eq!(billed, weather::SUMMARY_USAGE.0 as i64, "billed once");
    println!(
        "mcp over stdio: one trace of {} spans across two processes",
        spans.len()
    );
}
