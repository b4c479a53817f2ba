//! What a request and its outcome say, as the MCP conventions name it: pure functions, no spans.

use rmcp::model::{
    CallToolRequestMethod, CallToolResult, ClientRequest, ConstString, ContentBlock, ErrorCode,
    GetPromptRequestMethod, ServerResult,
};
use rmcp::ServiceError;
use serde_json::Value;

/// The facts of one request that name and describe its span.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RequestFacts {
    /// `mcp.method.name`: `tools/call`, `initialize`, ...
    pub method: String,
    /// `gen_ai.tool.name` of a `tools/call`.
    pub tool: Option<String>,
    /// `gen_ai.prompt.name` of a `prompts/get`.
    pub prompt: Option<String>,
    /// `mcp.resource.uri` of a `resources/read`, `resources/subscribe` or `resources/unsubscribe`.
    pub resource_uri: Option<String>,
    /// A tool's or prompt's arguments, as JSON text.
    pub arguments: Option<String>,
    /// The protocol version an `initialize` request asks for.
    pub protocol_version: Option<String>,
}

impl RequestFacts {
    /// The facts of a request as it goes over the wire.
    pub(crate) fn of(request: &ClientRequest) -> Self {
        let mut facts = RequestFacts {
            method: request.method().to_string(),
            ..Default::default()
        };
        match request {
            ClientRequest::CallToolRequest(r) => {
                facts.tool = Some(r.params.name.to_string());
                facts.arguments = r.params.arguments.as_ref().map(json_text);
            }
            ClientRequest::GetPromptRequest(r) => {
                facts.prompt = Some(r.params.name.clone());
                facts.arguments = r.params.arguments.as_ref().map(json_text);
            }
            ClientRequest::ReadResourceRequest(r) => {
                facts.resource_uri = Some(r.params.uri.clone())
            }
            #[allow(deprecated)]
            ClientRequest::SubscribeRequest(r) => facts.resource_uri = Some(r.params.uri.clone()),
            #[allow(deprecated)]
            ClientRequest::UnsubscribeRequest(r) => facts.resource_uri = Some(r.params.uri.clone()),
            ClientRequest::InitializeRequest(r) => {
                facts.protocol_version = Some(r.params.protocol_version.to_string())
            }
            _ => {}
        }
        facts
    }

    /// A `tools/call` of `tool` with these arguments (the client side builds them before a request
    /// exists).
    pub(crate) fn tool_call(
        tool: &str,
        arguments: Option<&serde_json::Map<String, Value>>,
    ) -> Self {
        RequestFacts {
            method: CallToolRequestMethod::VALUE.to_string(),
            tool: Some(tool.to_string()),
            arguments: arguments.map(json_text),
            ..Default::default()
        }
    }

    /// A request known by its method alone (`tools/list`, `ping`, ...).
    pub(crate) fn method(method: &str) -> Self {
        RequestFacts {
            method: method.to_string(),
            ..Default::default()
        }
    }

    /// A `prompts/get` of `prompt` with these arguments.
    pub(crate) fn prompt(prompt: &str, arguments: Option<&serde_json::Map<String, Value>>) -> Self {
        RequestFacts {
            method: GetPromptRequestMethod::VALUE.to_string(),
            prompt: Some(prompt.to_string()),
            arguments: arguments.map(json_text),
            ..Default::default()
        }
    }

    /// A request about one resource (`resources/read`, `resources/subscribe`, ...).
    pub(crate) fn resource(method: &str, uri: &str) -> Self {
        RequestFacts {
            method: method.to_string(),
            resource_uri: Some(uri.to_string()),
            ..Default::default()
        }
    }

    /// The span name: `{mcp.method.name} {target}`, the target being the tool or prompt name;
    /// never the resource URI (unbounded cardinality), as the conventions advise.
    pub(crate) fn span_name(&self) -> String {
        match self.tool.as_deref().or(self.prompt.as_deref()) {
            Some(target) => format!("{} {target}", self.method),
            None => self.method.clone(),
        }
    }

    /// Whether the span is an `execute_tool` span.
    pub(crate) fn is_tool_call(&self) -> bool {
        self.tool.is_some()
    }
}

fn json_text(map: &serde_json::Map<String, Value>) -> String {
    serde_json::to_string(map).unwrap_or_default()
}

/// How a request ended, as the span records it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Answered.
    Ok {
        /// What a tool call returned, as JSON text (structured content when the tool gave it, its
        /// text when it is one text block, else the content blocks).
        tool_result: Option<String>,
    },
    /// The call succeeded on the wire but the tool reported an error (`isError: true`).
    ToolError {
        /// The tool's own message.
        message: String,
        /// What the tool returned, for the span's output.
        tool_result: Option<String>,
    },
    /// A JSON-RPC error answer: `error.type` and `rpc.response.status_code` are its code.
    RpcError {
        /// The JSON-RPC error code.
        code: i32,
        /// The error's message.
        message: String,
    },
    /// No answer: the transport failed, the request timed out or was cancelled.
    Failed {
        /// A short class: `timeout`, `cancelled`, `transport_closed`, `transport_error`, ...
        error_type: &'static str,
        /// What went wrong, in words.
        message: String,
    },
}

impl Outcome {
    /// The outcome of a tool call's result.
    pub(crate) fn of_tool_result(result: &CallToolResult) -> Self {
        let tool_result = Some(tool_result_text(result));
        if result.is_error == Some(true) {
            let message = first_text(&result.content)
                .unwrap_or("the tool reported an error")
                .to_string();
            Outcome::ToolError {
                message,
                tool_result,
            }
        } else {
            Outcome::Ok { tool_result }
        }
    }

    /// The outcome of a server's answer to any request.
    pub(crate) fn of_server_result(result: &ServerResult) -> Self {
        match result {
            ServerResult::CallToolResult(r) => Outcome::of_tool_result(r),
            _ => Outcome::Ok { tool_result: None },
        }
    }

    /// The outcome of an error a handler returned (sent as a JSON-RPC error).
    pub(crate) fn of_error_data(error: &rmcp::ErrorData) -> Self {
        let ErrorCode(code) = error.code;
        Outcome::RpcError {
            code,
            message: error.message.to_string(),
        }
    }

    /// The outcome of a client-side failure.
    pub(crate) fn of_service_error(error: &ServiceError) -> Self {
        let error_type = match error {
            ServiceError::McpError(data) => return Outcome::of_error_data(data),
            ServiceError::Timeout { .. } => "timeout",
            ServiceError::Cancelled { .. } => "cancelled",
            ServiceError::TransportClosed => "transport_closed",
            ServiceError::TransportSend(_) => "transport_error",
            ServiceError::UnexpectedResponse => "unexpected_response",
            _ => "_OTHER",
        };
        Outcome::Failed {
            error_type,
            message: error.to_string(),
        }
    }
}

/// The text a span shows as a tool's result.
pub(crate) fn tool_result_text(result: &CallToolResult) -> String {
    if let Some(structured) = &result.structured_content {
        return structured.to_string();
    }
    match result.content.as_slice() {
        [one] => match one.as_text() {
            Some(text) => text.text.clone(),
            None => serde_json::to_string(&result.content).unwrap_or_default(),
        },
        _ => serde_json::to_string(&result.content).unwrap_or_default(),
    }
}

fn first_text(content: &[ContentBlock]) -> Option<&str> {
    content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.as_str()))
}

/// `network.transport` of a transport, from its type: `pipe` for stdio and child processes, `tcp`
/// for HTTP, `unix` for Unix sockets; `None` when the type does not tell.
pub(crate) fn network_transport_of(type_name: &str) -> Option<&'static str> {
    let t = type_name.to_ascii_lowercase();
    if t.contains("childprocess")
        || t.contains("stdin")
        || t.contains("stdout")
        || t.contains("stdio")
    {
        Some("pipe")
    } else if t.contains("unixsocket") || t.contains("unixstream") {
        Some("unix")
    } else if t.contains("streamablehttp") || t.contains("sse") || t.contains("tcpstream") {
        Some("tcp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolRequest, CallToolRequestParams, ContentBlock as Content};

    #[test]
    fn names_tool_calls_by_tool_and_other_requests_by_method() {
        let mut params = CallToolRequestParams::new("get_weather");
        params.arguments = serde_json::json!({"city": "Paris"}).as_object().cloned();
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let facts = RequestFacts::of(&request);
        assert_eq!(facts.span_name(), "tools/call get_weather");
        assert_eq!(facts.arguments.as_deref(), Some(r#"{"city":"Paris"}"#));
        assert!(facts.is_tool_call());
        let list = RequestFacts {
            method: "tools/list".into(),
            ..Default::default()
        };
        assert_eq!(list.span_name(), "tools/list");
        let read = RequestFacts {
            method: "resources/read".into(),
            resource_uri: Some("file:///a".into()),
            ..Default::default()
        };
        assert_eq!(read.span_name(), "resources/read");
    }

    #[test]
    fn tool_errors_and_rpc_errors_are_told_apart() {
        let failed = CallToolResult::error(vec![Content::text("city not found")]);
        assert_eq!(
            Outcome::of_tool_result(&failed),
            Outcome::ToolError {
                message: "city not found".into(),
                tool_result: Some("city not found".into())
            }
        );
        let ok = CallToolResult::success(vec![Content::text("14C")]);
        assert_eq!(
            Outcome::of_tool_result(&ok),
            Outcome::Ok {
                tool_result: Some("14C".into())
            }
        );
        let rpc = ServiceError::McpError(rmcp::ErrorData::invalid_params("no such tool", None));
        assert_eq!(
            Outcome::of_service_error(&rpc),
            Outcome::RpcError {
                code: -32602,
                message: "no such tool".into()
            }
        );
        assert!(matches!(
            Outcome::of_service_error(&ServiceError::TransportClosed),
            Outcome::Failed {
                error_type: "transport_closed",
                ..
            }
        ));
    }

    #[test]
    fn transports_are_named_from_their_types() {
        assert_eq!(
            network_transport_of("rmcp::transport::child_process::TokioChildProcess"),
            Some("pipe")
        );
        assert_eq!(
            network_transport_of("(tokio::io::stdin::Stdin, tokio::io::stdout::Stdout)"),
            Some("pipe")
        );
        assert_eq!(
            network_transport_of(
                "rmcp::transport::streamable_http_client::StreamableHttpClientTransport<reqwest::Client>"
            ),
            Some("tcp")
        );
        assert_eq!(network_transport_of("my::Transport"), None);
    }
}
