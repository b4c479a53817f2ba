//! The span of one MCP request, on either side, and what its outcome writes on it.

use aitrace_core::{AiSpanExt, SpanKind};
use serde_json::Value;
use tracing::field::Empty;
use tracing::Span;

use crate::attrs::{Outcome, RequestFacts};

/// Which end of the request a span stands for: its OTel span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    fn otel_kind(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// What a span records besides the request's facts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context<'a> {
    pub protocol_version: Option<&'a str>,
    pub network_transport: Option<&'a str>,
    pub network_protocol: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub request_id: Option<String>,
    pub capture_content: bool,
}

/// The span macro call of one request; `$($parent)*` is empty (the current span is the parent) or
/// `parent: None,`.
macro_rules! request_span {
    (($($parent:tt)*) $side:expr, $facts:expr, $cx:expr, $name:expr) => {
        if let Some(tool) = $facts.tool.as_deref() {
            tracing::info_span!(
                target: "aitrace_mcp",
                $($parent)*
                "execute_tool",
                otel.name = %$name,
                otel.kind = $side.otel_kind(),
                aitrace.kind = "mcp_tool_call",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.name = %tool,
                gen_ai.tool.type = "extension",
                gen_ai.tool.call.arguments = Empty,
                gen_ai.tool.call.result = Empty,
                mcp.method.name = %$facts.method,
                mcp.protocol.version = $cx.protocol_version,
                mcp.session.id = $cx.session_id,
                network.transport = $cx.network_transport,
                network.protocol.name = $cx.network_protocol,
                jsonrpc.request.id = $cx.request_id.as_deref(),
                rpc.response.status_code = Empty,
                error.type = Empty,
            )
        } else {
            tracing::info_span!(
                target: "aitrace_mcp",
                $($parent)*
                "mcp",
                otel.name = %$name,
                otel.kind = $side.otel_kind(),
                aitrace.kind = "generic",
                gen_ai.prompt.name = $facts.prompt.as_deref(),
                mcp.method.name = %$facts.method,
                mcp.resource.uri = $facts.resource_uri.as_deref(),
                mcp.protocol.version = $cx.protocol_version,
                mcp.session.id = $cx.session_id,
                network.transport = $cx.network_transport,
                network.protocol.name = $cx.network_protocol,
                jsonrpc.request.id = $cx.request_id.as_deref(),
                rpc.response.status_code = Empty,
                error.type = Empty,
            )
        }
    };
}

/// Opens the span of one request: an `execute_tool` span (kind `mcp_tool_call`) for a tool call,
/// else a generic AI span; named `{mcp.method.name} {target}` either way. A client span is a child
/// of the caller's current span; a server span is a root (the `traceparent` the request carries is
/// its parent): the server's ambient span is rmcp's own serve loop, which must not become a trace.
pub(crate) fn open(side: Side, facts: &RequestFacts, cx: &Context<'_>) -> Span {
    let name = facts.span_name();
    let span = match side {
        Side::Client => request_span!(() side, facts, cx, name),
        Side::Server => request_span!((parent: None,) side, facts, cx, name),
    };
    if cx.capture_content {
        if let Some(args) = facts.arguments.as_deref() {
            if facts.is_tool_call() {
                span.record("gen_ai.tool.call.arguments", args);
            } else {
                span.set_input(parse_json_or_text(args));
            }
        }
    }
    span
}

/// Adds the MCP attributes to the application's own tool span around the call instead of opening a
/// second one, as the conventions ask. True when `span`'s AI span is a tool span of `tool` that no
/// MCP request has claimed yet.
pub(crate) fn adopt_tool_span(span: &Span, facts: &RequestFacts, cx: &Context<'_>) -> bool {
    let Some(tool) = facts.tool.as_deref() else {
        return false;
    };
    let mut adopted = false;
    span.with_record(|r| {
        let is_tool = matches!(r.kind, SpanKind::ToolCall | SpanKind::McpToolCall);
        let same_tool = r.tool.as_ref().and_then(|t| t.name.as_deref()) == Some(tool);
        if !is_tool || !same_tool || r.attributes.contains_key("mcp.method.name") {
            return;
        }
        adopted = true;
        r.kind = SpanKind::McpToolCall;
        let attrs = &mut r.attributes;
        attrs.insert("mcp.method.name".into(), facts.method.clone().into());
        let optional = [
            ("mcp.protocol.version", cx.protocol_version),
            ("mcp.session.id", cx.session_id),
            ("network.transport", cx.network_transport),
            ("network.protocol.name", cx.network_protocol),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                attrs.insert(key.into(), v.into());
            }
        }
        if cx.capture_content {
            let info = r.tool.get_or_insert_with(Default::default);
            if info.arguments.is_none() {
                info.arguments = facts.arguments.as_deref().map(parse_json_or_text);
            }
        }
    });
    adopted
}

/// Records the JSON-RPC id of the request a span sent (known only once the client sent it).
pub(crate) fn record_request_id(span: &Span, id: &str, adopted: bool) {
    if adopted {
        span.with_record(|r| {
            r.attributes
                .insert("jsonrpc.request.id".into(), id.to_string().into());
        });
    } else {
        span.record("jsonrpc.request.id", id);
    }
}

/// Writes a request's outcome on its span: the tool's result (under the content policy), or the
/// error with `error.type` (`tool_error`, the JSON-RPC code, or the failure's class) and, for a
/// JSON-RPC error, `rpc.response.status_code`.
pub(crate) fn record_outcome(span: &Span, outcome: &Outcome, adopted: bool, capture_content: bool) {
    let result = match outcome {
        Outcome::Ok { tool_result } | Outcome::ToolError { tool_result, .. } => {
            tool_result.as_deref()
        }
        _ => None,
    };
    if let (true, Some(result)) = (capture_content, result) {
        if adopted {
            span.with_record(|r| {
                let info = r.tool.get_or_insert_with(Default::default);
                if info.result.is_none() {
                    info.result = Some(parse_json_or_text(result));
                }
            });
        } else {
            span.record("gen_ai.tool.call.result", result);
        }
    }
    match outcome {
        Outcome::Ok { .. } => {}
        Outcome::ToolError { message, .. } => {
            span.set_error("tool_error", message);
        }
        Outcome::RpcError { code, message } => {
            let code = code.to_string();
            if adopted {
                span.with_record(|r| {
                    r.attributes
                        .insert("rpc.response.status_code".into(), code.clone().into());
                });
            } else {
                span.record("rpc.response.status_code", code.as_str());
            }
            span.set_error(&code, message);
        }
        Outcome::Failed {
            error_type,
            message,
        } => {
            span.set_error(error_type, message);
        }
    }
}

fn parse_json_or_text(text: &str) -> Value {
    aitrace_core::fields::parse_json_or_string(text.to_string())
}
