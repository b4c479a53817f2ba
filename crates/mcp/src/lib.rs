//! MCP tool calls traced across the process boundary, for [rmcp](https://docs.rs/rmcp) 3.x: the
//! client's agent, its MCP requests, the server's handling of them and the server's own model calls
//! in one trace, by the GenAI MCP conventions (`mcp.md` of the OpenTelemetry GenAI conventions).
//!
//! One line on each side:
//!
//! ```ignore
//! // client: in place of `().serve(transport).await?`
//! let client = aitrace_mcp::serve_client((), transport).await?;
//! let weather = client.call_tool(CallToolRequestParams::new("get_weather")).await?;
//!
//! // server: in place of `Weather::new().serve(transport).await?`
//! let server = aitrace_mcp::serve_server(Weather::new(), rmcp::transport::stdio()).await?;
//! // or, over streamable HTTP, in rmcp's service factory:
//! StreamableHttpService::new(|| Ok(aitrace_mcp::TracedServer::new(Weather::new())), sessions, config);
//! ```
//!
//! **Spans.** Every request gets a client span (kind CLIENT) and a server span (kind SERVER) named
//! `{mcp.method.name} {target}` (`tools/call get_weather`, `prompts/get summarize`, `tools/list`).
//! Tool calls are `execute_tool` spans (aitrace's `mcp_tool_call` kind, `gen_ai.tool.name`,
//! `gen_ai.tool.type = extension`) with `gen_ai.tool.call.arguments` and `.result`; the other requests
//! are generic AI spans. Attributes: `mcp.method.name`, `mcp.protocol.version`, `mcp.session.id` (the
//! server reads streamable HTTP's `Mcp-Session-Id`), `mcp.resource.uri`, `gen_ai.prompt.name`,
//! `network.transport` (`pipe` for stdio and child processes, `tcp` for HTTP), `jsonrpc.request.id`,
//! `rpc.response.status_code` and `error.type` (the JSON-RPC error code; `tool_error` for a result
//! with `isError: true`; `timeout`, `cancelled`, `transport_closed` for a client that got no answer).
//! Notifications get no span.
//!
//! **One trace.** The client puts its span's `traceparent` into the request's `params._meta` (what
//! the request already carries there is kept); the server continues it, so a model call the server
//! makes bills inside the caller's trace, once. A request without one (a client without aitrace)
//! starts a trace of its own on the server.
//!
//! **The application's own tool span.** A `tools/call` made inside the application's (or its
//! framework's) tool span of the same tool adds the MCP attributes to that span instead of opening a
//! second one, as the conventions ask.
//!
//! **Content** (tool and prompt arguments, tool results) follows aitrace's policy: recorded by
//! default, never with `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false` or
//! `capture_content(false)`; aitrace's builder setting `capture_content(false)` strips it before
//! export either way, and the SensitiveDataFilter redacts secrets in what is kept.
#![deny(unsafe_code)]

mod attrs;
mod client;
mod server;
mod span;

use std::borrow::Cow;

pub use client::{serve_client, ServeOptions, TracedClient};
pub use server::TracedServer;

use rmcp::service::{RunningService, ServerInitializeError};
use rmcp::transport::IntoTransport;
use rmcp::{RoleServer, ServerHandler, ServiceExt};

/// Whether the content-capture environment setting allows content (unset: yes), as aitrace's
/// builder reads it.
fn content_allowed_by_env() -> bool {
    aitrace_core::capture_content_from_env()
        .ok()
        .flatten()
        .unwrap_or(true)
}

/// Serves `service` over `transport`, traced: the one line on the server side.
///
/// `aitrace_mcp::serve_server(handler, transport).await?` in place of
/// `handler.serve(transport).await?`; the same as `TracedServer::new(handler).serve(transport)`
/// with `network.transport` named from the transport's type (`pipe` for stdio).
pub async fn serve_server<S, T, E, A>(
    service: S,
    transport: T,
) -> Result<RunningService<RoleServer, TracedServer<S>>, ServerInitializeError>
where
    S: ServerHandler,
    T: IntoTransport<RoleServer, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut traced = TracedServer::new(service);
    if let Some(kind) = attrs::network_transport_of(std::any::type_name::<T>()) {
        traced = traced.network_transport(Cow::Borrowed(kind));
    }
    traced.serve(transport).await
}
