//! MCP across a real transport, in one process: rmcp's streamable HTTP server on loopback (the
//! weather server of the `mcp` example, wrapped in `TracedServer`) and an rmcp client through
//! `aitrace::mcp::serve_client`. An agent lists the tools and calls them, one inside its own tool
//! span, one making a model call inside the server, one failing with `isError`, one unknown (a
//! JSON-RPC error). Every exporter (memory, JSONL, OTLP, Langfuse, Braintrust: loopback doubles)
//! must show one trace with the parent links right, the server's tokens billed once, the errors
//! typed, and no secret from a tool result. A client without aitrace gets the server's spans in
//! traces of their own.
#![cfg(all(feature = "otel", feature = "langfuse", feature = "braintrust"))]

mod common;
#[path = "../examples/mcp/weather.rs"]
mod weather;

use std::sync::Arc;
use std::time::Duration;

use aitrace::mcp::TracedServer;
use aitrace::{agent_span, tool_span, ExportConfig, SpanKind, SpanRecord, TraceId, Usage};
use aitrace_testkit::{otlp, Fault};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{
    StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ServiceError, ServiceExt};
use serde_json::{json, Value};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// Serves the weather server over streamable HTTP on a loopback port; returns its URL.
async fn start_server() -> String {
    let service = StreamableHttpService::new(
        || Ok(TracedServer::new(weather::Weather)),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/mcp")
}

/// A runtime whose threads (where rmcp's and axum's tasks run) trace to `dispatch`, as a service's
/// would with a global subscriber; each test here has its own.
fn runtime_with(dispatch: &tracing::Dispatch) -> tokio::runtime::Runtime {
    let dispatch = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // The thread's default for its whole life.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .unwrap()
}

/// Runs `work` to completion on a runtime traced like the current thread (see [`runtime_with`]).
fn block_on_traced<T>(work: impl std::future::Future<Output = T>) -> T {
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let runtime = runtime_with(&dispatch);
    let out = runtime.block_on(work.with_subscriber(dispatch));
    drop(runtime);
    out
}

/// A pipeline with only a `TestExporter`, installed for the current thread.
fn memory_pipeline() -> (
    aitrace::testing::TestExporter,
    aitrace::Guard,
    tracing::subscriber::DefaultGuard,
) {
    let memory = aitrace::testing::TestExporter::new();
    let (layer, guard) = aitrace::builder()
        .exporter(memory.clone())
        .build_layer()
        .unwrap();
    let default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (memory, guard, default)
}

fn call(tool: &'static str, city: &str) -> CallToolRequestParams {
    let args = json!({"city": city}).as_object().cloned().unwrap();
    CallToolRequestParams::new(tool).with_arguments(args)
}

fn side(s: &SpanRecord) -> Option<&str> {
    s.attributes.get("otel.kind").and_then(Value::as_str)
}

fn attr<'a>(s: &'a SpanRecord, key: &str) -> Option<&'a str> {
    s.attributes.get(key).and_then(Value::as_str)
}

/// The spans of `trace` named `name` on `side` (`client` / `server`).
fn named<'a>(spans: &'a [SpanRecord], trace: TraceId, name: &str, on: &str) -> Vec<&'a SpanRecord> {
    spans
        .iter()
        .filter(|s| s.trace_id == trace && s.name == name && side(s) == Some(on))
        .collect()
}

#[test]
fn one_trace_from_the_agent_through_the_server_in_every_exporter() {
    let backends = common::Backends::start("mcp", Fault::Ok);
    let fast = ExportConfig::default().with_max_batch_age(Duration::from_millis(20));
    let (layer, guard) = backends
        .add_to(aitrace::builder(), fast)
        .build_layer()
        .unwrap();
    let (otel, langfuse, braintrust) = (&backends.otel, &backends.langfuse, &backends.braintrust);
    let memory = &backends.memory;
    let subscriber = tracing_subscriber::registry().with(layer);
    let _default = tracing::subscriber::set_default(subscriber);
    let unknown_tool = block_on_traced(async {
        let url = start_server().await;
        let transport = StreamableHttpClientTransport::from_uri(url);
        let client = aitrace::mcp::serve_client((), transport).await.unwrap();
        let agent = agent_span!("trip-planner");
        let unknown = async {
            let tools = client.list_all_tools().await.unwrap();
            assert_eq!(tools.len(), 2);
            // The agent's own tool span: the MCP call adds to it instead of opening another.
            let reading = client
                .call_tool(call("get_weather", "Paris"))
                .instrument(tool_span!("get_weather"))
                .await
                .unwrap();
            assert_ne!(reading.is_error, Some(true));
            client
                .call_tool(call("summarize_forecast", "Paris"))
                .await
                .unwrap();
            let nowhere = client
                .call_tool(call("get_weather", "Atlantis"))
                .await
                .unwrap();
            assert_eq!(nowhere.is_error, Some(true));
            client.call_tool(call("get_time", "Paris")).await
        }
        .instrument(agent)
        .await;
        let _ = client.cancel().await;
        unknown
    });
    match unknown_tool {
        Err(ServiceError::McpError(e)) => assert_eq!(e.code.0, -32602),
        other => panic!("an unknown tool is a JSON-RPC error: {other:?}"),
    }
    let report = guard.shutdown(Duration::from_secs(20));
    assert_eq!(report.lost, 0, "{report}");

    // The app's own view: one trace from the agent to the server's generation.
    let spans = memory.spans();
    let agent = spans.iter().find(|s| s.kind == SpanKind::AgentRun).unwrap();
    let trace = agent.trace_id;
    let generation = spans
        .iter()
        .find(|s| s.kind == SpanKind::ModelGeneration)
        .unwrap();
    assert_eq!(
        generation.trace_id, trace,
        "the server's model call is in the caller's trace"
    );
    assert_eq!(memory.total_billable_usage(trace), Usage::new(120, 18));
    let billable: Vec<&SpanRecord> = spans.iter().filter(|s| s.billable).collect();
    assert_eq!(billable.len(), 1, "billed once");

    // Client spans under the agent; each server span under its client span. The call made inside
    // the agent's own tool span added the MCP attributes to that span (it keeps its name): two
    // client spans for two calls, not three.
    let client_calls: Vec<&SpanRecord> = spans
        .iter()
        .filter(|s| s.trace_id == trace && s.kind == SpanKind::McpToolCall)
        .filter(|s| s.tool.as_ref().and_then(|t| t.name.as_deref()) == Some("get_weather"))
        .filter(|s| side(s) != Some("server"))
        .collect();
    assert_eq!(client_calls.len(), 2, "{client_calls:#?}");
    let adopted = client_calls
        .iter()
        .find(|s| s.name == "execute_tool")
        .expect("the agent's tool span");
    assert_eq!(attr(adopted, "mcp.method.name"), Some("tools/call"));
    assert_eq!(
        adopted.tool.as_ref().and_then(|t| t.arguments.clone()),
        Some(json!({"city": "Paris"}))
    );
    assert!(adopted
        .tool
        .as_ref()
        .and_then(|t| t.result.as_ref())
        .is_some());
    let server_calls = named(&spans, trace, "tools/call get_weather", "server");
    assert_eq!(server_calls.len(), 2);
    for s in &server_calls {
        let parent = s.parent_span_id.unwrap();
        let client = client_calls.iter().find(|c| c.span_id == parent).unwrap();
        assert_eq!(client.parent_span_id, Some(agent.span_id));
        assert_eq!(
            attr(s, "jsonrpc.request.id"),
            attr(client, "jsonrpc.request.id")
        );
        assert!(attr(s, "jsonrpc.request.id").is_some());
        assert_eq!(attr(client, "network.transport"), Some("tcp"));
        assert_eq!(attr(s, "network.transport"), Some("tcp"));
        assert!(
            attr(s, "mcp.session.id").is_some(),
            "streamable HTTP names the session"
        );
        assert!(attr(s, "mcp.protocol.version").is_some());
        assert_eq!(attr(s, "mcp.method.name"), Some("tools/call"));
    }
    let summary_client = named(&spans, trace, "tools/call summarize_forecast", "client")[0];
    let summary_server = named(&spans, trace, "tools/call summarize_forecast", "server")[0];
    assert_eq!(summary_server.parent_span_id, Some(summary_client.span_id));
    assert_eq!(generation.parent_span_id, Some(summary_server.span_id));
    let list_client = named(&spans, trace, "tools/list", "client")[0];
    let list_server = named(&spans, trace, "tools/list", "server")[0];
    assert_eq!(list_server.parent_span_id, Some(list_client.span_id));

    // Errors: the tool's own, and the JSON-RPC one, each typed on both sides.
    for s in client_calls.iter().chain(server_calls.iter()).copied() {
        if s.status.is_error() {
            assert_eq!(s.status.error_type_or_other(), Some("tool_error"));
        }
    }
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.status.error_type_or_other() == Some("tool_error"))
            .count(),
        2
    );
    let unknown: Vec<&SpanRecord> = spans
        .iter()
        .filter(|s| s.name == "tools/call get_time")
        .collect();
    assert_eq!(unknown.len(), 2);
    for s in &unknown {
        assert_eq!(s.status.error_type_or_other(), Some("-32602"));
        assert_eq!(attr(s, "rpc.response.status_code"), Some("-32602"));
    }
    // `initialize` ran before the agent: its own trace, client and server.
    let init: Vec<&SpanRecord> = spans.iter().filter(|s| s.name == "initialize").collect();
    assert_eq!(init.len(), 2);
    assert_eq!(init[0].trace_id, init[1].trace_id);
    assert_ne!(init[0].trace_id, trace);
    // Nothing else: no trace made of rmcp's own serve loop.
    for s in &spans {
        assert!(
            s.trace_id == trace || s.name == "initialize",
            "a span outside the agent's trace: {s:#?}"
        );
    }
    // No secret from the tool result, anywhere.
    for s in &spans {
        let text = serde_json::to_string(s).unwrap();
        assert!(!text.contains(weather::STATION_KEY), "memory: {}", s.name);
    }

    // JSONL: the same trace.
    let text = backends.jsonl_text();
    assert!(
        !text.contains(weather::STATION_KEY),
        "a secret reached the JSONL file"
    );
    assert!(
        text.contains("wx-17"),
        "the rest of the tool result is there"
    );
    let lines = aitrace::jsonl::read_jsonl(&text).unwrap();
    assert_eq!(lines.len(), spans.len());
    let line_of = |id| lines.iter().find(|l| l.span_id == id).unwrap();
    assert_eq!(
        line_of(summary_server.span_id).parent_span_id,
        Some(summary_client.span_id)
    );
    assert_eq!(line_of(generation.span_id).usage, Some(Usage::new(120, 18)));

    // Every backend, secret-free.
    for (name, server) in [
        ("otel", &otel),
        ("langfuse", &langfuse),
        ("braintrust", &braintrust),
    ] {
        for r in server.requests() {
            let body = String::from_utf8_lossy(&r.plain_body()).to_string();
            assert!(
                !body.contains(weather::STATION_KEY),
                "a secret reached {name}: {}",
                r.path
            );
        }
    }

    // OTLP: CLIENT and SERVER spans by the conventions, parented across the boundary.
    let otlp_spans: Vec<otlp::OtlpSpan> = otel
        .requests()
        .iter()
        .flat_map(|r| otlp::decode(&r.plain_body()).unwrap_or_default())
        .collect();
    let by_id = |id: &str| otlp_spans.iter().find(|s| s.span_id == id).unwrap();
    let summary_otlp = by_id(&summary_server.span_id.to_string());
    assert_eq!(summary_otlp.name, "tools/call summarize_forecast");
    assert_eq!(summary_otlp.kind, 2, "SERVER");
    assert_eq!(summary_otlp.trace_id, trace.to_string());
    assert_eq!(
        summary_otlp.parent.as_deref(),
        Some(summary_client.span_id.to_string().as_str())
    );
    assert_eq!(
        summary_otlp.str("gen_ai.operation.name"),
        Some("execute_tool")
    );
    assert_eq!(
        summary_otlp.str("gen_ai.tool.name"),
        Some("summarize_forecast")
    );
    assert_eq!(summary_otlp.str("mcp.method.name"), Some("tools/call"));
    let client_otlp = by_id(&summary_client.span_id.to_string());
    assert_eq!(client_otlp.kind, 3, "CLIENT");
    assert!(client_otlp.str("jsonrpc.request.id").is_some());
    let list_otlp = by_id(&list_client.span_id.to_string());
    assert_eq!(list_otlp.name, "tools/list");
    assert!(
        list_otlp.str("gen_ai.operation.name").is_none(),
        "only tool calls are execute_tool"
    );
    let unknown_otlp = by_id(&unknown[0].span_id.to_string());
    assert_eq!(unknown_otlp.status_code, 2);
    assert_eq!(unknown_otlp.str("error.type"), Some("-32602"));
    assert_eq!(otlp_spans.len(), spans.len());

    // Langfuse: tool observations with input and output, in the one trace.
    let lf_spans: Vec<otlp::OtlpSpan> = langfuse
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/v1/traces"))
        .flat_map(|r| otlp::decode(&r.plain_body()).unwrap_or_default())
        .collect();
    let lf_summary = lf_spans
        .iter()
        .find(|s| s.span_id == summary_server.span_id.to_string())
        .unwrap();
    assert_eq!(lf_summary.str("langfuse.observation.type"), Some("tool"));
    assert!(lf_summary
        .str("langfuse.observation.input")
        .unwrap()
        .contains("Paris"));
    assert!(lf_summary
        .str("langfuse.observation.output")
        .unwrap()
        .contains("Rain in Paris"));
    assert!(lf_spans.iter().all(|s| s.trace_id == trace.to_string()
        || init.iter().any(|i| i.trace_id.to_string() == s.trace_id)));
    let lf_generation = lf_spans
        .iter()
        .find(|s| s.span_id == generation.span_id.to_string())
        .unwrap();
    assert_eq!(
        lf_generation.parent.as_deref(),
        Some(summary_server.span_id.to_string().as_str())
    );

    // Braintrust: tool rows under their parents; the tokens once.
    let rows: Vec<Value> = braintrust
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/insert"))
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.plain_body()).unwrap();
            body["events"].as_array().cloned().unwrap_or_default()
        })
        .collect();
    let row = |id: String| rows.iter().find(|r| r["id"] == id.as_str()).unwrap();
    let bt_summary = row(summary_server.span_id.to_string());
    assert_eq!(bt_summary["span_attributes"]["type"], "tool");
    // The server's span continues a remote caller: Braintrust's rule names it in metadata (the
    // caller's row may live in another project), and the trace groups the rows as one.
    assert_eq!(
        bt_summary["metadata"]["remote_parent_span_id"],
        summary_client.span_id.to_string()
    );
    assert_eq!(
        row(generation.span_id.to_string())["span_parents"][0],
        summary_server.span_id.to_string()
    );
    assert_eq!(
        bt_summary["root_span_id"],
        row(agent.span_id.to_string())["root_span_id"]
    );
    let tokens: i64 = rows
        .iter()
        .filter_map(|r| r["metrics"]["prompt_tokens"].as_i64())
        .sum();
    assert_eq!(tokens, 120, "billed once in Braintrust");
}

/// A client without aitrace sends no `_meta` trace context: each request the server handles is a
/// trace of its own, the server's model call inside its tool span, and nothing breaks.
#[test]
fn a_server_called_without_trace_context_starts_its_own_traces() {
    let (memory, guard, _default) = memory_pipeline();
    block_on_traced(async {
        let url = start_server().await;
        // Plain rmcp: no aitrace on the client side.
        let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();
        let summary = client
            .call_tool(call("summarize_forecast", "Oslo"))
            .await
            .unwrap();
        assert_ne!(summary.is_error, Some(true));
        let _ = client.cancel().await;
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.lost, 0, "{report}");
    let spans = memory.spans();
    let server = spans
        .iter()
        .find(|s| s.name == "tools/call summarize_forecast")
        .unwrap();
    assert_eq!(side(server), Some("server"));
    assert_eq!(server.parent_span_id, None, "a root: nothing to continue");
    let generation = spans
        .iter()
        .find(|s| s.kind == SpanKind::ModelGeneration)
        .unwrap();
    assert_eq!(generation.trace_id, server.trace_id);
    assert_eq!(generation.parent_span_id, Some(server.span_id));
    assert_eq!(
        memory.total_billable_usage(server.trace_id),
        Usage::new(120, 18)
    );
    let init = spans.iter().find(|s| s.name == "initialize").unwrap();
    assert_ne!(init.trace_id, server.trace_id, "one trace per request");
    assert!(spans
        .iter()
        .all(|s| side(s) == Some("server") || s.kind == SpanKind::ModelGeneration));
}

use tracing::instrument::WithSubscriber;

/// Calls in parallel from one client: each client span gets its own request's id, and each server
/// span lands under the client span that sent it.
#[test]
fn parallel_calls_keep_their_own_spans_and_ids() {
    let (memory, guard, _default) = memory_pipeline();
    block_on_traced(async {
        let url = start_server().await;
        let transport = StreamableHttpClientTransport::from_uri(url);
        let client = aitrace::mcp::serve_client((), transport).await.unwrap();
        let cities: Vec<String> = (0..16).map(|i| format!("city-{i}")).collect();
        let calls = cities
            .iter()
            .map(|c| client.call_tool(call("get_weather", c)));
        let results = futures::future::join_all(calls)
            .instrument(agent_span!("fan-out"))
            .await;
        assert!(results.iter().all(|r| r.is_ok()));
        let _ = client.cancel().await;
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.lost, 0, "{report}");
    let spans = memory.spans();
    let calls = |on: &str| -> Vec<&SpanRecord> {
        spans
            .iter()
            .filter(|s| s.name == "tools/call get_weather" && side(s) == Some(on))
            .collect()
    };
    let (clients, servers) = (calls("client"), calls("server"));
    assert_eq!((clients.len(), servers.len()), (16, 16));
    let ids: std::collections::BTreeSet<&str> = clients
        .iter()
        .filter_map(|c| attr(c, "jsonrpc.request.id"))
        .collect();
    assert_eq!(ids.len(), 16, "one id per call");
    for s in &servers {
        let client = clients
            .iter()
            .find(|c| Some(c.span_id) == s.parent_span_id)
            .unwrap();
        assert_eq!(
            attr(client, "jsonrpc.request.id"),
            attr(s, "jsonrpc.request.id")
        );
        assert_eq!(
            client.tool.as_ref().and_then(|t| t.arguments.clone()),
            s.tool.as_ref().and_then(|t| t.arguments.clone())
        );
    }
}
