//! A web service as users write one: axum, tower-http's `TraceLayer` with its defaults (its request
//! span is at DEBUG), an `#[instrument]`ed handler, async-openai traced with one line, and the log
//! output filtered per layer by `RUST_LOG`. Three requests, two model calls each: three traces, each
//! rooted at its HTTP request and carrying the request's user, session and tags.
//!
//! ```text
//! cargo run --example service                      # console + service.jsonl, then checks the file
//! RUST_LOG=warn cargo run --example service        # the same traces, whatever the log filter
//! cargo run --example service -- --global-filter   # the trap: a filter on every layer; aitrace warns
//! ```
//!
//! The model is the published OpenAI-compatible test server (`aitrace::testing::openai`), so it runs
//! offline.

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aitrace::{AiSpanExt, SpanKind, SpanRecord};
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::CreateChatCompletionRequest;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_http::trace::TraceLayer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

type Client = async_openai::Client<OpenAIConfig>;

/// How the service sets up its subscriber.
#[derive(Debug)]
pub(crate) struct Options {
    /// The log filter (`RUST_LOG`'s value; `None` as when it is unset).
    pub(crate) log_filter: Option<String>,
    /// Apply the log filter to every layer (`registry().with(EnvFilter)`) instead of to the log
    /// output alone: the trap aitrace warns about.
    pub(crate) global_filter: bool,
    /// Where the JSONL traces go.
    pub(crate) jsonl: PathBuf,
    /// Also print each trace to stderr.
    pub(crate) console: bool,
    /// Where the service's own log lines go (stderr when `None`).
    pub(crate) log_writer: Option<fmt::writer::BoxMakeWriter>,
}

fn env_filter(spec: &Option<String>) -> EnvFilter {
    // As `EnvFilter::from_default_env()` reads `RUST_LOG`: unset means ERROR only.
    EnvFilter::builder()
        .with_default_directive(tracing::level_filters::LevelFilter::ERROR.into())
        .parse_lossy(spec.as_deref().unwrap_or(""))
}

/// Builds the subscriber (the README's recipe, or the trap), serves three requests, shuts down.
pub(crate) fn run(options: Options) -> Result<(), Box<dyn Error>> {
    let _ = std::fs::remove_file(&options.jsonl);
    // The backends the environment configures (MLFLOW_TRACKING_URI, LANGSMITH_API_KEY, OTLP, ...)
    // are added too.
    let builder = aitrace::from_env()?
        .console(options.console)
        .jsonl(&options.jsonl);
    let writer = options
        .log_writer
        .unwrap_or_else(|| fmt::writer::BoxMakeWriter::new(std::io::stderr));
    let filter = env_filter(&options.log_filter);
    let (dispatch, guard) = if options.global_filter {
        let (layer, guard) = builder.build_layer()?;
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(fmt::layer().with_writer(writer))
            .with(layer);
        (tracing::Dispatch::new(subscriber), guard)
    } else {
        // README's recipe: the log filter on the log output; aitrace's layer added last.
        let (layer, guard) = builder.build_layer()?;
        let subscriber = tracing_subscriber::registry()
            .with(fmt::layer().with_writer(writer).with_filter(filter))
            .with(layer);
        (tracing::Dispatch::new(subscriber), guard)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tracing::dispatcher::with_default(&dispatch, || runtime.block_on(serve_three_requests()))?;
    let report = guard.shutdown(std::time::Duration::from_secs(5));
    if !report.completed || report.lost > 0 {
        return Err(format!("traces lost: {report:?}").into());
    }
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
struct Ask {
    user: String,
    session: String,
    question: String,
}

/// The handler: the request's user, session and tags for every AI call it makes, then two calls.
#[tracing::instrument(level = "debug", skip_all, fields(user = %ask.user))]
async fn chat(
    State(client): State<Arc<Client>>,
    Json(ask): Json<Ask>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let span = tracing::Span::current();
    span.set_user(&ask.user);
    span.set_session(&ask.session);
    span.add_tags(["support", "web"]);
    let call = |body: Value| {
        let client = Arc::clone(&client);
        async move {
            let request: CreateChatCompletionRequest = serde_json::from_value(body)
                .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
            client
                .chat()
                .create(request)
                .await
                .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))
        }
    };
    // Two top-level AI calls of one request: one trace.
    let topic = call(
        json!({"model": "gpt-4o-mini", "temperature": 0.0, "messages": [
        {"role": "system", "content": "Name the topic in one word."},
        {"role": "user", "content": ask.question}]}),
    )
    .await?;
    let answer = call(json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": ask.question}]}))
    .await?;
    Ok(Json(json!({
        "topic": topic.choices[0].message.content,
        "answer": answer.choices[0].message.content,
    })))
}

async fn serve_three_requests() -> Result<(), Box<dyn Error>> {
    let model = aitrace::testing::openai::OpenAiServer::fake();
    let config = OpenAIConfig::new()
        .with_api_base(model.base_url())
        .with_api_key("sk-local-test");
    let client = Arc::new(
        async_openai::Client::with_config(config)
            .with_http_service(aitrace::async_openai::service()),
    );
    let app = Router::new()
        .route("/chat", post(chat))
        .with_state(client)
        .layer(TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    for (user, session, question) in [
        ("ada", "s-1", "Where is my order?"),
        ("grace", "s-2", "Can I change my address?"),
        ("alan", "s-3", "Do you ship to Norway?"),
    ] {
        let body = json!({"user": user, "session": session, "question": question}).to_string();
        let (status, reply) = post_json(addr, "/chat", &body).await?;
        if status != 200 {
            return Err(format!("POST /chat answered {status}: {reply}").into());
        }
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// A plain HTTP/1.1 client, so the example needs no HTTP client crate of its own.
async fn post_json(addr: SocketAddr, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, reply))
}

/// What the JSONL file must hold: three traces, each rooted at its HTTP request, every span of it
/// carrying the request's user, session and tags, the AI calls under the request.
pub(crate) fn check_jsonl(path: &Path) -> Result<Vec<Vec<SpanRecord>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut traces: Vec<Vec<SpanRecord>> = Vec::new();
    for line in text.lines() {
        let r: SpanRecord = serde_json::from_str(line).map_err(|e| format!("{line}: {e}"))?;
        match traces.iter_mut().find(|t| t[0].trace_id == r.trace_id) {
            Some(t) => t.push(r),
            None => traces.push(vec![r]),
        }
    }
    if traces.len() != 3 {
        return Err(format!("3 requests gave {} traces", traces.len()));
    }
    for spans in &traces {
        let roots: Vec<&SpanRecord> = spans.iter().filter(|s| s.is_local_root()).collect();
        let [root] = roots[..] else {
            return Err(format!("a trace with {} roots: {spans:#?}", roots.len()));
        };
        let attr = |k: &str| root.attributes.get(k).cloned().unwrap_or(Value::Null);
        if root.kind != SpanKind::Request
            || attr("http.request.method") != "POST"
            || attr("url.path") != "/chat"
            || attr("http.response.status_code") != 200
        {
            return Err(format!("the root is not the HTTP request: {root:#?}"));
        }
        let chats = spans
            .iter()
            .filter(|s| s.kind == SpanKind::ModelGeneration)
            .count();
        if chats != 2 || spans.len() != 3 {
            return Err(format!("expected the request and its 2 calls: {spans:#?}"));
        }
        for s in spans {
            if s.user_id.is_none()
                || s.session_id.is_none()
                || s.tags != ["support", "web"]
                || s.user_id != root.user_id
            {
                return Err(format!(
                    "a span without the request's user, session or tags: {s:#?}"
                ));
            }
            if s.kind != SpanKind::Request && s.parent_span_id != Some(root.span_id) {
                return Err(format!("a call not under its request: {s:#?}"));
            }
        }
    }
    Ok(traces)
}

#[allow(dead_code)] // the tests include this file for `run` and `check_jsonl`
fn main() -> Result<(), Box<dyn Error>> {
    let global_filter = std::env::args().any(|a| a == "--global-filter");
    let jsonl = PathBuf::from(
        std::env::var("AITRACE_JSONL_PATH").unwrap_or_else(|_| "service.jsonl".to_string()),
    );
    run(Options {
        log_filter: std::env::var("RUST_LOG").ok(),
        global_filter,
        jsonl: jsonl.clone(),
        console: true,
        log_writer: None,
    })?;
    if global_filter {
        println!("with a global filter the request spans are gone (see aitrace's warning above)");
        return Ok(());
    }
    let traces = check_jsonl(&jsonl)?;
    println!(
        "{} requests, {} traces, each rooted at its HTTP request with its user, session and tags: {}",
        traces.len(),
        traces.len(),
        jsonl.display()
    );
    Ok(())
}
