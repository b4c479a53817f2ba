//! The client side: a running rmcp client whose requests open CLIENT spans in the caller's context
//! and carry that context to the server in `params._meta`.
//!
//! rmcp sends from a task of its own, where the caller's span is gone; so the span is opened (and its
//! `traceparent` put into the request's parameters) by [`TracedClient`]'s methods, on the caller's
//! task, and the transport wrapper that [`serve_client`] installs only writes down the JSON-RPC id the
//! request went out with, finding the span by that `traceparent`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use aitrace_core::{AiSpanExt, SpanId, TraceParent};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientJsonRpcMessage, ClientRequest,
    GetPromptRequestParams, GetPromptResult, JsonRpcMessage, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResult, RequestMetaObject, RequestParamsMeta,
    ServerJsonRpcMessage, ServerResult, Tool,
};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::{IntoTransport, Transport};
use rmcp::{RoleClient, Service, ServiceError, ServiceExt};
use tracing::{Instrument, Span};

use crate::attrs::{network_transport_of, Outcome, RequestFacts};
use crate::span::{self, Context, Side};

/// Most requests kept waiting for their JSON-RPC id at once; past it, a request's span simply goes
/// without `jsonrpc.request.id` (never a growing map in the host).
const MAX_PENDING: usize = 4096;

/// What the client and its transport wrapper share.
#[derive(Debug)]
struct Shared {
    network_transport: Option<&'static str>,
    capture_content: bool,
    /// Spans whose request is in flight, by their span id (the `traceparent` they sent).
    pending: Mutex<HashMap<SpanId, Pending>>,
    /// The span of `initialize` while the client starts.
    startup: Mutex<Option<Span>>,
}

#[derive(Debug)]
struct Pending {
    span: Span,
    adopted: bool,
}

impl Shared {
    /// Called by the transport for each message it sends, on rmcp's task.
    fn on_send(&self, message: &mut ClientJsonRpcMessage) {
        let JsonRpcMessage::Request(request) = message else {
            return;
        };
        let id = request.id.to_string();
        let request = &mut request.request;
        if matches!(
            request,
            ClientRequest::InitializeRequest(_) | ClientRequest::DiscoverRequest(_)
        ) {
            let startup = lock(&self.startup).clone();
            if let Some(span) = startup {
                if let Some(traceparent) = span.current_traceparent() {
                    request_meta(request).set_traceparent(traceparent);
                }
                span.record("mcp.method.name", request.method());
                span::record_request_id(&span, &id, false);
            }
            return;
        }
        let Some(span_id) = sent_traceparent(request) else {
            return;
        };
        if let Some(p) = lock(&self.pending).get(&span_id) {
            span::record_request_id(&p.span, &id, p.adopted);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The request's envelope metadata (what rmcp merges over the parameters' `_meta` on the wire).
fn request_meta(request: &mut ClientRequest) -> &mut RequestMetaObject {
    rmcp::model::GetMeta::get_meta_mut(request)
}

/// The span id in the `traceparent` a request carries, in its envelope or its parameters.
fn sent_traceparent(request: &ClientRequest) -> Option<SpanId> {
    let envelope = rmcp::model::GetMeta::get_meta(request).get_traceparent();
    let params = match request {
        ClientRequest::CallToolRequest(r) => r.params.traceparent(),
        ClientRequest::GetPromptRequest(r) => r.params.traceparent(),
        ClientRequest::ReadResourceRequest(r) => r.params.traceparent(),
        ClientRequest::ListToolsRequest(r) => r.params.as_ref().and_then(|p| p.traceparent()),
        ClientRequest::ListPromptsRequest(r) => r.params.as_ref().and_then(|p| p.traceparent()),
        ClientRequest::ListResourcesRequest(r) => r.params.as_ref().and_then(|p| p.traceparent()),
        ClientRequest::ListResourceTemplatesRequest(r) => {
            r.params.as_ref().and_then(|p| p.traceparent())
        }
        _ => None,
    };
    let header = envelope.or(params)?;
    TraceParent::parse(header).ok().map(|tp| tp.parent_span_id)
}

/// The transport [`serve_client`] puts between rmcp and the application's transport.
struct RecordingTransport<T> {
    inner: T,
    shared: Arc<Shared>,
}

impl<T> Transport<RoleClient> for RecordingTransport<T>
where
    T: Transport<RoleClient>,
{
    type Error = T::Error;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn send(
        &mut self,
        mut item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.shared.on_send(&mut item);
        self.inner.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.inner.receive()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

/// Starts an rmcp client over `transport`, traced: the one line on the client side.
///
/// `aitrace_mcp::serve_client(handler, transport).await?` in place of
/// `handler.serve(transport).await?`. The `initialize` exchange gets a span in the current trace, and
/// every request made through the returned [`TracedClient`] a CLIENT span whose context the server
/// continues. `network.transport` comes from the transport's type (`pipe` for a child process or
/// stdio, `tcp` for streamable HTTP); [`ServeOptions`] names it otherwise.
pub async fn serve_client<S, T, E, A>(
    service: S,
    transport: T,
) -> Result<TracedClient<S>, ClientInitializeError>
where
    S: Service<RoleClient>,
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    ServeOptions::default()
        .serve_client(service, transport)
        .await
}

/// How [`serve_client`] traces, for the cases its defaults miss.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    network_transport: Option<&'static str>,
    capture_content: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            network_transport: None,
            capture_content: crate::content_allowed_by_env(),
        }
    }
}

impl ServeOptions {
    /// Names `network.transport` (`pipe`, `tcp`, `quic`, `unix`) when the transport's type does not
    /// tell.
    pub fn network_transport(mut self, transport: &'static str) -> Self {
        self.network_transport = Some(transport);
        self
    }

    /// Whether tool and prompt arguments and tool results are recorded (default: on, unless
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false`).
    pub fn capture_content(mut self, on: bool) -> Self {
        self.capture_content = on;
        self
    }

    /// [`serve_client`] with these options.
    pub async fn serve_client<S, T, E, A>(
        self,
        service: S,
        transport: T,
    ) -> Result<TracedClient<S>, ClientInitializeError>
    where
        S: Service<RoleClient>,
        T: IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let network_transport = self
            .network_transport
            .or_else(|| network_transport_of(std::any::type_name::<T>()));
        let shared = Arc::new(Shared {
            network_transport,
            capture_content: self.capture_content,
            pending: Mutex::new(HashMap::new()),
            startup: Mutex::new(None),
        });
        let facts = RequestFacts::method("initialize");
        let cx = Context {
            network_transport,
            capture_content: self.capture_content,
            ..Default::default()
        };
        let span = span::open(Side::Client, &facts, &cx);
        *lock(&shared.startup) = Some(span.clone());
        let transport = RecordingTransport {
            inner: transport.into_transport(),
            shared: Arc::clone(&shared),
        };
        let started = service.serve(transport).instrument(span.clone()).await;
        lock(&shared.startup).take();
        match started {
            Ok(inner) => {
                if let Some(info) = inner.peer_info() {
                    span.record(
                        "mcp.protocol.version",
                        info.protocol_version.to_string().as_str(),
                    );
                }
                Ok(TracedClient { inner, shared })
            }
            Err(error) => {
                span.set_error("initialize_failed", &error);
                Err(error)
            }
        }
    }
}

/// A running rmcp client whose requests are traced (from [`serve_client`]).
///
/// `call_tool`, `list_tools`, `list_all_tools`, `get_prompt`, `list_prompts`, `read_resource`,
/// `list_resources`, `list_resource_templates` and `send_request` each open a CLIENT span in the
/// caller's context (or, for a `tools/call` inside the application's own tool span of that tool, add
/// the MCP attributes to that span) and put its `traceparent` into the request's `_meta`. Everything
/// else of rmcp's `RunningService` is reached through `Deref`, untraced.
#[derive(Debug)]
pub struct TracedClient<S: Service<RoleClient>> {
    inner: RunningService<RoleClient, S>,
    shared: Arc<Shared>,
}

impl<S: Service<RoleClient>> Deref for TracedClient<S> {
    type Target = RunningService<RoleClient, S>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

/// Takes a span off the in-flight map when its request ends, however it ends (a dropped future too).
struct PendingGuard<'a> {
    shared: &'a Shared,
    key: Option<SpanId>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            lock(&self.shared.pending).remove(&key);
        }
    }
}

impl<S: Service<RoleClient>> TracedClient<S> {
    /// The rmcp client underneath.
    pub fn into_inner(self) -> RunningService<RoleClient, S> {
        self.inner
    }

    /// Stops the client (rmcp's `RunningService::cancel`).
    pub async fn cancel(self) -> Result<rmcp::service::QuitReason, tokio::task::JoinError> {
        self.inner.cancel().await
    }

    fn context(&self) -> (Option<String>, Option<&'static str>) {
        let version = self
            .inner
            .peer_info()
            .map(|info| info.protocol_version.to_string());
        (version, self.shared.network_transport)
    }

    /// Runs one request in its span: `send` gets the `traceparent` to put into the request.
    async fn traced<T, F, Fut>(
        &self,
        facts: RequestFacts,
        send: F,
        outcome: impl FnOnce(&T) -> Outcome,
    ) -> Result<T, ServiceError>
    where
        F: FnOnce(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let (version, network_transport) = self.context();
        let cx = Context {
            protocol_version: version.as_deref(),
            network_transport,
            capture_content: self.shared.capture_content,
            ..Default::default()
        };
        let current = Span::current();
        let adopted = span::adopt_tool_span(&current, &facts, &cx);
        let span = if adopted {
            current
        } else {
            span::open(Side::Client, &facts, &cx)
        };
        let traceparent = span.current_traceparent();
        let key = traceparent
            .as_deref()
            .and_then(|tp| TraceParent::parse(tp).ok())
            .map(|tp| tp.parent_span_id);
        let mut guard = PendingGuard {
            shared: &self.shared,
            key: None,
        };
        if let Some(key) = key {
            let mut pending = lock(&self.shared.pending);
            if pending.len() < MAX_PENDING {
                pending.insert(
                    key,
                    Pending {
                        span: span.clone(),
                        adopted,
                    },
                );
                guard.key = Some(key);
            }
        }
        let result = send(traceparent).instrument(span.clone()).await;
        drop(guard);
        let ended = match &result {
            Ok(answer) => outcome(answer),
            Err(error) => Outcome::of_service_error(error),
        };
        span::record_outcome(&span, &ended, adopted, self.shared.capture_content);
        result
    }

    /// `tools/call`, traced as an `execute_tool` span with the arguments and result.
    pub async fn call_tool(
        &self,
        params: CallToolRequestParams,
    ) -> Result<CallToolResult, ServiceError> {
        let facts = RequestFacts::tool_call(&params.name, params.arguments.as_ref());
        self.traced(
            facts,
            |tp| self.inner.call_tool(carrying(params, tp)),
            Outcome::of_tool_result,
        )
        .await
    }

    /// `tools/list`, one page.
    pub async fn list_tools(
        &self,
        params: Option<PaginatedRequestParams>,
    ) -> Result<ListToolsResult, ServiceError> {
        let facts = RequestFacts::method("tools/list");
        self.traced(
            facts,
            |tp| self.inner.list_tools(with_traceparent(params, tp)),
            ok,
        )
        .await
    }

    /// Every tool, one traced `tools/list` per page.
    pub async fn list_all_tools(&self) -> Result<Vec<Tool>, ServiceError> {
        let mut tools = Vec::new();
        let mut cursor = None;
        loop {
            let mut params = PaginatedRequestParams::default();
            params.cursor = cursor;
            let page = self.list_tools(Some(params)).await?;
            tools.extend(page.tools);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(tools),
            }
        }
    }

    /// `prompts/get`, named by the prompt (`gen_ai.prompt.name`).
    pub async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
    ) -> Result<GetPromptResult, ServiceError> {
        let facts = RequestFacts::prompt(&params.name, params.arguments.as_ref());
        self.traced(facts, |tp| self.inner.get_prompt(carrying(params, tp)), ok)
            .await
    }

    /// `prompts/list`, one page.
    pub async fn list_prompts(
        &self,
        params: Option<PaginatedRequestParams>,
    ) -> Result<ListPromptsResult, ServiceError> {
        self.traced(
            RequestFacts::method("prompts/list"),
            |tp| self.inner.list_prompts(with_traceparent(params, tp)),
            ok,
        )
        .await
    }

    /// `resources/read`, with `mcp.resource.uri`.
    pub async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
    ) -> Result<ReadResourceResult, ServiceError> {
        let facts = RequestFacts::resource("resources/read", &params.uri);
        self.traced(
            facts,
            |tp| self.inner.read_resource(carrying(params, tp)),
            ok,
        )
        .await
    }

    /// `resources/list`, one page.
    pub async fn list_resources(
        &self,
        params: Option<PaginatedRequestParams>,
    ) -> Result<ListResourcesResult, ServiceError> {
        self.traced(
            RequestFacts::method("resources/list"),
            |tp| self.inner.list_resources(with_traceparent(params, tp)),
            ok,
        )
        .await
    }

    /// `resources/templates/list`, one page.
    pub async fn list_resource_templates(
        &self,
        params: Option<PaginatedRequestParams>,
    ) -> Result<ListResourceTemplatesResult, ServiceError> {
        self.traced(
            RequestFacts::method("resources/templates/list"),
            |tp| {
                self.inner
                    .list_resource_templates(with_traceparent(params, tp))
            },
            ok,
        )
        .await
    }

    /// Any request, traced by its method (the ones above have their own helpers).
    pub async fn send_request(
        &self,
        mut request: ClientRequest,
    ) -> Result<ServerResult, ServiceError> {
        let facts = RequestFacts::of(&request);
        self.traced(
            facts,
            |traceparent| {
                if let Some(tp) = traceparent {
                    request_meta(&mut request).set_traceparent(tp);
                }
                self.inner.send_request(request)
            },
            Outcome::of_server_result,
        )
        .await
    }
}

fn ok<T>(_: &T) -> Outcome {
    Outcome::Ok { tool_result: None }
}

/// `params` carrying the span's `traceparent` in their `_meta` (what they already carry there is
/// kept).
fn carrying<P: RequestParamsMeta>(mut params: P, traceparent: Option<String>) -> P {
    if let Some(tp) = traceparent {
        params.set_traceparent(&tp);
    }
    params
}

/// [`carrying`] for the optional parameters of the list requests.
fn with_traceparent(
    params: Option<PaginatedRequestParams>,
    traceparent: Option<String>,
) -> Option<PaginatedRequestParams> {
    match traceparent {
        Some(_) => Some(carrying(params.unwrap_or_default(), traceparent)),
        None => params,
    }
}
