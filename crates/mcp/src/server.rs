//! The server side: a handler wrapper that runs every request inside a SERVER span continued from
//! the trace context in the request's `params._meta`.
//!
//! It is a `ServerHandler` (not only a `Service`) because rmcp's streamable HTTP server takes
//! handlers; each request method opens its span and calls the wrapped handler's, the rest pass
//! through. The wrapper names every method of rmcp 3.11's `ServerHandler`, which is why the crate
//! pins rmcp to 3.11: a method added by a later rmcp would otherwise fall back to its default here
//! instead of reaching the application's handler.

use std::borrow::Cow;
use std::future::Future;

use aitrace_core::AiSpanExt;
use rmcp::model::*;
use rmcp::service::{
    MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
};
use rmcp::{ErrorData, ServerHandler};
use tracing::Instrument;

use crate::attrs::{Outcome, RequestFacts};
use crate::span::{self, Context, Side};

/// An rmcp server whose requests are traced: `TracedServer::new(handler)` serves wherever the
/// handler did (`.serve(transport)`, or the factory of rmcp's `StreamableHttpService`).
///
/// Each request runs inside a span of its own (kind SERVER): `tools/call` as an `execute_tool` span
/// with the arguments and result, every other request as a generic AI span, both named
/// `{mcp.method.name} {target}`. A request whose `params._meta` carries a `traceparent` joins that
/// trace under the caller's span, so the handler's own model calls bill in the caller's trace; one
/// without starts a trace of its own. Notifications get no span.
#[derive(Debug, Clone)]
pub struct TracedServer<H> {
    inner: H,
    network_transport: Option<Cow<'static, str>>,
    capture_content: bool,
}

impl<H> TracedServer<H> {
    /// Wraps a server handler.
    pub fn new(inner: H) -> Self {
        TracedServer {
            inner,
            network_transport: None,
            capture_content: crate::content_allowed_by_env(),
        }
    }

    /// Names `network.transport` (`pipe` for stdio, `tcp`, `unix`). [`crate::serve_server`] sets it
    /// from the transport's type; requests over rmcp's streamable HTTP server are `tcp` by
    /// themselves.
    pub fn network_transport(mut self, transport: impl Into<Cow<'static, str>>) -> Self {
        self.network_transport = Some(transport.into());
        self
    }

    /// Whether tool arguments and results (and prompt arguments) are recorded at all (default: on,
    /// unless `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false`). aitrace's own
    /// content policy and the SensitiveDataFilter still apply to what is recorded.
    pub fn capture_content(mut self, on: bool) -> Self {
        self.capture_content = on;
        self
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The span of one request, its parent taken from the request's `_meta`.
    fn open_span(
        &self,
        facts: &RequestFacts,
        context: &RequestContext<RoleServer>,
    ) -> tracing::Span {
        let parts = context.extensions.get::<http::request::Parts>();
        let session_id = parts
            .and_then(|p| p.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok());
        let protocol_version = facts
            .protocol_version
            .clone()
            .or_else(|| context.protocol_version().map(|v| v.to_string()));
        let (network_transport, network_protocol) = match parts {
            Some(_) => (Some("tcp"), Some("http")),
            None => (self.network_transport.as_deref(), None),
        };
        let cx = Context {
            protocol_version: protocol_version.as_deref(),
            network_transport,
            network_protocol,
            session_id,
            request_id: Some(context.id.to_string()),
            capture_content: self.capture_content,
        };
        let span = span::open(Side::Server, facts, &cx);
        if let Some(traceparent) = context.meta.get_traceparent() {
            // A malformed traceparent leaves the span in a trace of its own.
            let _ = span.set_parent_traceparent(traceparent);
        }
        span
    }

    /// Runs the wrapped handler's answer to one request inside its span and records how it ended.
    fn traced<'a, T: 'a>(
        &'a self,
        span: tracing::Span,
        call: impl Future<Output = Result<T, ErrorData>> + MaybeSendFuture + 'a,
        outcome: fn(&T) -> Outcome,
    ) -> impl Future<Output = Result<T, ErrorData>> + MaybeSendFuture + 'a {
        let capture = self.capture_content;
        async move {
            let result = call.instrument(span.clone()).await;
            let ended = match &result {
                Ok(answer) => outcome(answer),
                Err(error) => Outcome::of_error_data(error),
            };
            span::record_outcome(&span, &ended, false, capture);
            result
        }
    }
}

fn answered<T>(_: &T) -> Outcome {
    Outcome::Ok { tool_result: None }
}

fn tool_response(response: &CallToolResponse) -> Outcome {
    match response {
        CallToolResponse::Complete(result) => Outcome::of_tool_result(result),
        _ => Outcome::Ok { tool_result: None },
    }
}

impl<H: ServerHandler> ServerHandler for TracedServer<H> {
    fn ping(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(&RequestFacts::method(PingRequestMethod::VALUE), &context);
        self.traced(span, self.inner.ping(context), answered)
    }

    fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<InitializeResult, ErrorData>> + MaybeSendFuture + '_ {
        let mut facts = RequestFacts::method(InitializeResultMethod::VALUE);
        facts.protocol_version = Some(request.protocol_version.to_string());
        let span = self.open_span(&facts, &context);
        let call = self.inner.initialize(request, context);
        // The version the handler agreed to, not the one the client asked for.
        let agreed = span.clone();
        let call = async move {
            let answer = call.await;
            if let Ok(result) = &answer {
                agreed.record("mcp.protocol.version", result.protocol_version.as_str());
            }
            answer
        };
        self.traced(span, call, answered)
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, ErrorData> {
        self.inner.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<DiscoverResult, ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(
            &RequestFacts::method(DiscoverRequestMethod::VALUE),
            &context,
        );
        self.traced(span, self.inner.discover(context), answered)
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CompleteResult, ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(
            &RequestFacts::method(CompleteRequestMethod::VALUE),
            &context,
        );
        self.traced(span, self.inner.complete(request, context), answered)
    }

    #[allow(deprecated)]
    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(
            &RequestFacts::method(SetLevelRequestMethod::VALUE),
            &context,
        );
        self.traced(span, self.inner.set_level(request, context), answered)
    }

    fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetPromptResponse, ErrorData>> + MaybeSendFuture + '_ {
        let facts = RequestFacts::prompt(&request.name, request.arguments.as_ref());
        let span = self.open_span(&facts, &context);
        self.traced(span, self.inner.get_prompt(request, context), answered)
    }

    fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListPromptsResult, ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(
            &RequestFacts::method(ListPromptsRequestMethod::VALUE),
            &context,
        );
        self.traced(span, self.inner.list_prompts(request, context), answered)
    }

    fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourcesResult, ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(
            &RequestFacts::method(ListResourcesRequestMethod::VALUE),
            &context,
        );
        self.traced(span, self.inner.list_resources(request, context), answered)
    }

    fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, ErrorData>> + MaybeSendFuture + '_
    {
        let span = self.open_span(
            &RequestFacts::method(ListResourceTemplatesRequestMethod::VALUE),
            &context,
        );
        let call = self.inner.list_resource_templates(request, context);
        self.traced(span, call, answered)
    }

    fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceResponse, ErrorData>> + MaybeSendFuture + '_ {
        let facts = RequestFacts::resource(ReadResourceRequestMethod::VALUE, &request.uri);
        let span = self.open_span(&facts, &context);
        self.traced(span, self.inner.read_resource(request, context), answered)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    /// A subscription lives as long as the client listens: it gets no span (its requests do).
    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.inner.listen(context)
    }

    #[allow(deprecated)]
    fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let facts = RequestFacts::resource(SubscribeRequestMethod::VALUE, &request.uri);
        let span = self.open_span(&facts, &context);
        self.traced(span, self.inner.subscribe(request, context), answered)
    }

    #[allow(deprecated)]
    fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let facts = RequestFacts::resource(UnsubscribeRequestMethod::VALUE, &request.uri);
        let span = self.open_span(&facts, &context);
        self.traced(span, self.inner.unsubscribe(request, context), answered)
    }

    fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CallToolResponse, ErrorData>> + MaybeSendFuture + '_ {
        let facts = RequestFacts::tool_call(&request.name, request.arguments.as_ref());
        let span = self.open_span(&facts, &context);
        self.traced(span, self.inner.call_tool(request, context), tool_response)
    }

    fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(
            &RequestFacts::method(ListToolsRequestMethod::VALUE),
            &context,
        );
        self.traced(span, self.inner.list_tools(request, context), answered)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(&RequestFacts::method(&request.method), &context);
        self.traced(
            span,
            self.inner.on_custom_request(request, context),
            answered,
        )
    }

    fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_cancelled(notification, context)
    }

    fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_progress(notification, context)
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_initialized(context)
    }

    fn on_roots_list_changed(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_roots_list_changed(context)
    }

    fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_custom_notification(notification, context)
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetTaskResult, ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(&RequestFacts::method(GetTaskMethod::VALUE), &context);
        self.traced(span, self.inner.get_task(request, context), answered)
    }

    fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(&RequestFacts::method(UpdateTaskMethod::VALUE), &context);
        self.traced(span, self.inner.update_task(request, context), answered)
    }

    fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(&RequestFacts::method(CancelTaskMethod::VALUE), &context);
        self.traced(span, self.inner.cancel_task(request, context), answered)
    }

    fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListSkillsResult, ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(
            &RequestFacts::method(ListSkillsRequestMethod::VALUE),
            &context,
        );
        self.traced(span, self.inner.list_skills(request, context), answered)
    }

    fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetSkillResult, ErrorData>> + MaybeSendFuture + '_ {
        let span = self.open_span(
            &RequestFacts::method(GetSkillRequestMethod::VALUE),
            &context,
        );
        self.traced(span, self.inner.get_skill(request, context), answered)
    }

    fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceDirectoryResult, ErrorData>> + MaybeSendFuture + '_
    {
        let span = self.open_span(
            &RequestFacts::method(ReadResourceDirectoryRequestMethod::VALUE),
            &context,
        );
        let call = self.inner.read_resource_directory(request, context);
        self.traced(span, call, answered)
    }
}
