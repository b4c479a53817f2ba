//! [`Builder`]: processors + exporters → an [`AiLayer`] and the [`Guard`] that flushes it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing_core::{LevelFilter, Subscriber};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::console::ConsoleExporter;
use crate::error::{ConfigError, InstallError};
use crate::export::Exporter;
use crate::jsonl::JsonlExporter;
use crate::layer::context::CONTEXT_SPANS_ENV;
use crate::layer::{AiLayer, ContextSpans};
use crate::pipeline::{self, ExportConfig, Pipeline, Processor, ShutdownReport, Stats};

/// Starts a [`Builder`].
pub fn builder() -> Builder {
    Builder::default()
}

/// Collects processors, exporters and settings; see the crate docs for an example.
pub struct Builder {
    processors: Vec<Box<dyn Processor>>,
    exporters: Vec<(Box<dyn Exporter>, Option<ExportConfig>)>,
    /// Names of the exporters the environment added: one added in code with the same name replaces it.
    from_env: Vec<String>,
    export_config: ExportConfig,
    event_level: LevelFilter,
    span_level: LevelFilter,
    /// `AITRACE_CONTEXT_SPANS` / `context_spans` as parsed (an error fails the build); `None`: the
    /// default.
    context_spans: Option<Result<ContextSpans, ConfigError>>,
    shutdown_timeout: Duration,
    console: bool,
    jsonl_path: Option<PathBuf>,
    /// Where the JSONL path came from, for errors: `AITRACE_JSONL_PATH` or `jsonl`.
    jsonl_setting: &'static str,
    /// The content policy: whether exporters receive message content (default true).
    capture_content: bool,
    /// Per-exporter overrides of the content policy, by exporter name.
    content_for: Vec<(String, bool)>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            processors: Vec::new(),
            exporters: Vec::new(),
            from_env: Vec::new(),
            export_config: ExportConfig::default(),
            event_level: LevelFilter::INFO,
            span_level: LevelFilter::INFO,
            context_spans: None,
            shutdown_timeout: Duration::from_secs(5),
            console: false,
            jsonl_path: None,
            jsonl_setting: "jsonl",
            capture_content: true,
            content_for: Vec::new(),
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("processors", &self.processors.len())
            .field(
                "exporters",
                &self
                    .exporters
                    .iter()
                    .map(|(e, _)| e.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .field("export_config", &self.export_config)
            .field("event_level", &self.event_level)
            .field("span_level", &self.span_level)
            .field("context_spans", &self.context_spans)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("console", &self.console)
            .field("jsonl_path", &self.jsonl_path)
            .finish()
    }
}

/// Environment variables read by [`Builder::from_env`].
pub const ENV_SETTINGS: &[(&str, &str)] = &[
    (
        "AITRACE_QUEUE_SIZE",
        "records per exporter queue (default 2048)",
    ),
    (
        "AITRACE_QUEUE_BYTES",
        "estimated bytes per exporter queue (default 67108864)",
    ),
    (
        "AITRACE_BATCH_SIZE",
        "records per export call (default 512)",
    ),
    (
        "AITRACE_BATCH_AGE_MS",
        "export a partial batch after this many ms (default 1000)",
    ),
    (
        "AITRACE_TRACE_MAX_AGE_MS",
        "how long exporters that send whole traces hold a trace whose root has not closed, in ms (default 30000)",
    ),
    (
        "AITRACE_MAX_RETRIES",
        "retries of a retryable export failure (default 5)",
    ),
    (
        "AITRACE_CONSOLE",
        "print each trace as a tree to stderr: true/false (default false)",
    ),
    (
        "AITRACE_JSONL_PATH",
        "append every span as one JSON line to this file",
    ),
    (
        "AITRACE_EVENT_LEVEL",
        "lowest level of tracing events kept on AI spans (default info)",
    ),
    (
        "AITRACE_SPAN_LEVEL",
        "lowest level of AI spans (the span macros, instrumented clients) recorded whatever the log filter wants (default info); application spans: AITRACE_CONTEXT_SPANS",
    ),
    (
        CONTEXT_SPANS_ENV,
        "application spans recorded as a trace's context (the request a trace hangs under) whatever the log filter wants, as `level,target=level` (default info, the web frameworks' and the app crate's own at debug)",
    ),
    (
        CAPTURE_CONTENT_ENV,
        "whether exporters receive message content, tool arguments/results and documents: true/false (default true)",
    ),
    (
        "AITRACE_SHUTDOWN_TIMEOUT_MS",
        "how long dropping the guard may wait (default 5000)",
    ),
];

fn parse_positive(name: &str, v: &str) -> Result<usize, ConfigError> {
    match v.trim().parse::<usize>() {
        Ok(0) => Err(ConfigError::new(name, "must be greater than zero")),
        Ok(n) => Ok(n),
        Err(_) => Err(ConfigError::new(
            name,
            format!("expected a positive integer, got {v:?}"),
        )),
    }
}

/// The GenAI conventions' content switch, read by the builder and by the client instrumentations.
pub const CAPTURE_CONTENT_ENV: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// [`CAPTURE_CONTENT_ENV`] as the builder reads it: `None` when unset, an error naming it when it
/// is not a boolean. Instrumentations that record content use this, so one value means one thing.
pub fn capture_content_from_env() -> Result<Option<bool>, ConfigError> {
    std::env::var(CAPTURE_CONTENT_ENV)
        .ok()
        .map(|v| parse_bool(CAPTURE_CONTENT_ENV, &v))
        .transpose()
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::new(
            name,
            format!("expected true or false, got {v:?}"),
        )),
    }
}

fn parse_level(name: &str, v: &str) -> Result<LevelFilter, ConfigError> {
    v.trim().parse::<LevelFilter>().map_err(|_| {
        ConfigError::new(
            name,
            format!("expected off/error/warn/info/debug/trace, got {v:?}"),
        )
    })
}

impl Builder {
    /// A builder configured from the `AITRACE_*` environment variables ([`ENV_SETTINGS`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Builder::default().with_env_vars(|k| std::env::var(k).ok())
    }

    /// Applies settings from a lookup function (the environment in [`from_env`](Self::from_env)).
    pub fn with_env_vars(
        mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let c = &mut self.export_config;
        if let Some(v) = get("AITRACE_QUEUE_SIZE") {
            c.queue_capacity = parse_positive("AITRACE_QUEUE_SIZE", &v)?;
        }
        if let Some(v) = get("AITRACE_QUEUE_BYTES") {
            c.queue_max_bytes = parse_positive("AITRACE_QUEUE_BYTES", &v)?;
        }
        if let Some(v) = get("AITRACE_BATCH_SIZE") {
            c.max_batch_size = parse_positive("AITRACE_BATCH_SIZE", &v)?;
        }
        if let Some(v) = get("AITRACE_BATCH_AGE_MS") {
            c.max_batch_age =
                Duration::from_millis(parse_positive("AITRACE_BATCH_AGE_MS", &v)? as u64);
        }
        if let Some(v) = get("AITRACE_TRACE_MAX_AGE_MS") {
            c.trace_max_age =
                Duration::from_millis(parse_positive("AITRACE_TRACE_MAX_AGE_MS", &v)? as u64);
        }
        if let Some(v) = get("AITRACE_MAX_RETRIES") {
            c.max_retries = v.trim().parse().map_err(|_| {
                ConfigError::new(
                    "AITRACE_MAX_RETRIES",
                    format!("expected a number, got {v:?}"),
                )
            })?;
        }
        if let Some(v) = get("AITRACE_CONSOLE") {
            self.console = parse_bool("AITRACE_CONSOLE", &v)?;
        }
        if let Some(v) = get("AITRACE_JSONL_PATH") {
            if v.trim().is_empty() {
                return Err(ConfigError::new("AITRACE_JSONL_PATH", "must not be empty"));
            }
            self.jsonl_path = Some(PathBuf::from(v));
            self.jsonl_setting = "AITRACE_JSONL_PATH";
        }
        if let Some(v) = get("AITRACE_EVENT_LEVEL") {
            self.event_level = parse_level("AITRACE_EVENT_LEVEL", &v)?;
        }
        if let Some(v) = get("AITRACE_SPAN_LEVEL") {
            self.span_level = parse_level("AITRACE_SPAN_LEVEL", &v)?;
        }
        if let Some(v) = get(CONTEXT_SPANS_ENV) {
            self.context_spans = Some(Ok(ContextSpans::parse(CONTEXT_SPANS_ENV, &v)?));
        }
        if let Some(v) = get(CAPTURE_CONTENT_ENV) {
            self.capture_content = parse_bool(CAPTURE_CONTENT_ENV, &v)?;
        }
        if let Some(v) = get("AITRACE_SHUTDOWN_TIMEOUT_MS") {
            self.shutdown_timeout =
                Duration::from_millis(parse_positive("AITRACE_SHUTDOWN_TIMEOUT_MS", &v)? as u64);
        }
        Ok(self)
    }

    /// Adds a processor; processors run in the order added.
    pub fn processor(mut self, processor: impl Processor) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Removes the processors of this name (e.g. `sensitive-data-filter`, which `aitrace::builder()`
    /// adds by default).
    pub fn without_processor(mut self, name: &str) -> Self {
        self.processors.retain(|p| p.name() != name);
        self
    }

    /// Names of the processors, in the order they run.
    pub fn processor_names(&self) -> Vec<&str> {
        self.processors.iter().map(|p| p.name()).collect()
    }

    /// Adds an exporter with the builder's export settings. It replaces an exporter of the same name
    /// that the environment added ([`exporter_from_env`](Self::exporter_from_env)), so code that
    /// configures a backend itself never sends to it twice.
    pub fn exporter(self, exporter: impl Exporter) -> Self {
        self.push_exporter(Box::new(exporter), None)
    }

    /// Adds an exporter with its own queue/batch/retry settings (replacing one of the same name that
    /// the environment added).
    pub fn exporter_with_config(self, exporter: impl Exporter, config: ExportConfig) -> Self {
        self.push_exporter(Box::new(exporter), Some(config))
    }

    fn push_exporter(mut self, exporter: Box<dyn Exporter>, config: Option<ExportConfig>) -> Self {
        let name = exporter.name().to_string();
        if let Some(at) = self.from_env.iter().position(|n| *n == name) {
            self.from_env.remove(at);
            self.exporters.retain(|(e, _)| e.name() != name);
        }
        self.exporters.push((exporter, config));
        self
    }

    /// Adds an exporter the environment configured: an exporter of the same name added later in code
    /// replaces it.
    pub fn exporter_from_env(mut self, exporter: impl Exporter) -> Self {
        self.from_env.push(exporter.name().to_string());
        self.exporters.push((Box::new(exporter), None));
        self
    }

    /// The names of the exporters added so far (the console and JSONL ones are added at build).
    pub fn exporter_names(&self) -> Vec<&str> {
        self.exporters.iter().map(|(e, _)| e.name()).collect()
    }

    /// Export settings for exporters added with [`exporter`](Self::exporter).
    pub fn export_config(mut self, config: ExportConfig) -> Self {
        self.export_config = config;
        self
    }

    /// Queue capacity (records) of each exporter.
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.export_config.queue_capacity = records;
        self
    }

    /// Largest batch handed to an exporter.
    pub fn batch_size(mut self, records: usize) -> Self {
        self.export_config.max_batch_size = records;
        self
    }

    /// How long an exporter that sends whole traces (Langfuse, Braintrust, the console) holds a trace
    /// whose root has not closed yet before sending what it has (default 30 s). Every span carries the
    /// trace's name, user, session, tags and metadata, so a trace sent in parts still reads as one.
    pub fn trace_max_age(mut self, age: Duration) -> Self {
        self.export_config.trace_max_age = age;
        self
    }

    /// Lowest level of `tracing` events recorded on AI spans (default `INFO`; `OFF` keeps none).
    pub fn event_level(mut self, level: LevelFilter) -> Self {
        self.event_level = level;
        self
    }

    /// Lowest level of AI spans (the span macros, the instrumented clients' spans) recorded whatever
    /// the application's log filter wants (default `INFO`: every span macro is at `INFO`). An AI span
    /// below it is still recorded when another layer enables it; `TRACE` records them all. It does not
    /// choose which application spans give a trace its context: that is
    /// [`context_spans`](Self::context_spans).
    pub fn span_level(mut self, level: LevelFilter) -> Self {
        self.span_level = level;
        self
    }

    /// Which application spans are recorded as a trace's context, whatever the application's log
    /// filter wants: directives like `RUST_LOG`'s (`info,tower_http=debug,my_app=debug`). The context
    /// of a trace is the outermost recorded application span above its AI spans (the request): it
    /// holds the user, session, tags and name `set_user` & co. give it, and every AI span below joins
    /// its trace. Default: INFO from every target, DEBUG from the web frameworks
    /// ([`FRAMEWORK_TARGETS`](crate::FRAMEWORK_TARGETS): tower-http's `TraceLayer`
    /// and axum's request spans are at DEBUG) and from the running executable's own crate
    /// (`#[instrument(level = "debug")]` handlers). Spans outside it that no other layer wants stay
    /// disabled; it does not change what the application logs, and AI spans follow
    /// [`span_level`](Self::span_level). Invalid directives fail the build.
    pub fn context_spans(mut self, directives: impl Into<String>) -> Self {
        self.context_spans = Some(ContextSpans::parse("context_spans", &directives.into()));
        self
    }

    /// The content policy: whether exporters receive content (messages, system instructions, tool
    /// definitions, arguments and results, retrieved documents, embeddings inputs). Default true:
    /// the backends aitrace feeds (Langfuse, Braintrust, Phoenix) are where users read their
    /// conversations, and the SensitiveDataFilter redacts secrets in them. False (or
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false`) keeps content out of every
    /// exporter; usage, models, timing, tool names and errors still flow. Per exporter:
    /// [`content_for`](Self::content_for); per span: `AiSpanExt::hide_input` / `hide_output`.
    pub fn capture_content(mut self, on: bool) -> Self {
        self.capture_content = on;
        self
    }

    /// Overrides the content policy for the exporter named `exporter` (`"langfuse"`,
    /// `"braintrust"`, `"otel"`, `"jsonl"`, `"console"`, ...): full content to a self-hosted backend,
    /// none to a SaaS one. An exporter added with its own `ExportConfig::capture_content` keeps that.
    pub fn content_for(mut self, exporter: impl Into<String>, on: bool) -> Self {
        self.content_for.push((exporter.into(), on));
        self
    }

    /// How long dropping the [`Guard`] may wait for exporters (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Also print every trace as a tree on stderr.
    pub fn console(mut self, on: bool) -> Self {
        self.console = on;
        self
    }

    /// Also append every span as a JSON line to `path`.
    pub fn jsonl(mut self, path: impl Into<PathBuf>) -> Self {
        self.jsonl_path = Some(path.into());
        self.jsonl_setting = "jsonl";
        self
    }

    fn build_pipeline(self) -> Result<(Arc<Pipeline>, Levels, Duration), ConfigError> {
        self.export_config.validate()?;
        let mut added: Vec<(Box<dyn Exporter>, Option<ExportConfig>)> = Vec::new();
        if self.console {
            added.push((Box::new(ConsoleExporter::stderr()), None));
        }
        if let Some(path) = &self.jsonl_path {
            let jsonl = JsonlExporter::append(path).map_err(|e| {
                ConfigError::new(
                    self.jsonl_setting,
                    format!("cannot open {}: {e}", path.display()),
                )
            })?;
            added.push((Box::new(jsonl), None));
        }
        added.extend(self.exporters);
        let (policy, overrides) = (self.capture_content, &self.content_for);
        let exporters = added
            .into_iter()
            .map(|(e, c)| {
                // Its name is a metadata namespace: `name.key` metadata goes to it alone.
                crate::record::register_metadata_namespace(e.name());
                let mut config = c.unwrap_or_else(|| {
                    let mut config = self.export_config.clone();
                    e.configure(&mut config);
                    config
                });
                let named = overrides
                    .iter()
                    .rev()
                    .find(|(name, _)| name == e.name())
                    .map(|(_, on)| *on);
                config.capture_content = config.capture_content.or(named).or(Some(policy));
                (e, config)
            })
            .collect();
        let pipeline = Pipeline::new(self.processors, exporters)?;
        let context = match self.context_spans {
            Some(parsed) => parsed?,
            None => ContextSpans::default_for_app(),
        };
        let levels = Levels {
            event: self.event_level,
            span: self.span_level,
            context,
        };
        Ok((Arc::new(pipeline), levels, self.shutdown_timeout))
    }

    /// The layer to add to your own subscriber, and the guard that flushes it:
    /// `registry().with(fmt::layer()).with(layer)`.
    pub fn build_layer<S>(self) -> Result<(AiLayer<S>, Guard), ConfigError>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let (pipeline, levels, timeout) = self.build_pipeline()?;
        let layer = AiLayer::new(
            Arc::clone(&pipeline),
            levels.event,
            levels.span,
            levels.context,
        );
        Ok((layer, Guard::new(pipeline, timeout)))
    }

    /// Installs a global subscriber (`registry()` + this layer). [`stats`](crate::stats) reports on it.
    pub fn install(self) -> Result<Guard, InstallError> {
        let (pipeline, levels, timeout) = self.build_pipeline()?;
        let layer = AiLayer::new(
            Arc::clone(&pipeline),
            levels.event,
            levels.span,
            levels.context,
        );
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .map_err(|e| InstallError::AlreadyInstalled(e.to_string()))?;
        pipeline::set_global(&pipeline);
        Ok(Guard::new(pipeline, timeout))
    }
}

/// The levels the layer records at.
struct Levels {
    event: LevelFilter,
    span: LevelFilter,
    context: ContextSpans,
}

/// Owns the export pipeline. Dropping it flushes and shuts the exporters down, waiting at most the
/// builder's `shutdown_timeout`; call [`shutdown`](Self::shutdown) to choose the deadline and see what
/// was lost.
#[must_use = "dropping the guard shuts the exporters down"]
pub struct Guard {
    pipeline: Arc<Pipeline>,
    shutdown_timeout: Duration,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Guard {
    fn new(pipeline: Arc<Pipeline>, shutdown_timeout: Duration) -> Self {
        Guard {
            pipeline,
            shutdown_timeout,
        }
    }

    /// Counters of this pipeline.
    pub fn stats(&self) -> Stats {
        self.pipeline.stats()
    }

    /// Exports everything queued so far. True when every exporter confirmed within `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.pipeline.flush(timeout)
    }

    /// Stops accepting spans, exports what is queued, shuts exporters down; returns within `timeout`
    /// (plus a few milliseconds) even if a backend hangs, reporting what was lost. Later calls and the
    /// drop only report.
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        self.pipeline.shutdown(timeout)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.pipeline.shutdown(self.shutdown_timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::env_vars as env;

    #[test]
    fn env_settings_are_applied() {
        let b = Builder::default()
            .with_env_vars(env(&[
                ("AITRACE_QUEUE_SIZE", "10"),
                ("AITRACE_BATCH_SIZE", "3"),
                ("AITRACE_TRACE_MAX_AGE_MS", "45000"),
                ("AITRACE_CONSOLE", "on"),
                ("AITRACE_EVENT_LEVEL", "debug"),
                ("AITRACE_SPAN_LEVEL", "trace"),
                ("AITRACE_JSONL_PATH", "/tmp/x.jsonl"),
            ]))
            .unwrap();
        assert_eq!(b.export_config.queue_capacity, 10);
        assert_eq!(b.export_config.max_batch_size, 3);
        assert_eq!(b.export_config.trace_max_age, Duration::from_secs(45));
        assert!(b.console);
        assert_eq!(b.event_level, LevelFilter::DEBUG);
        assert_eq!(b.span_level, LevelFilter::TRACE);
        assert_eq!(
            b.jsonl_path.as_deref(),
            Some(std::path::Path::new("/tmp/x.jsonl"))
        );
    }

    #[test]
    fn invalid_env_settings_name_the_variable() {
        for (k, v) in [
            ("AITRACE_QUEUE_SIZE", "0"),
            ("AITRACE_QUEUE_SIZE", "many"),
            ("AITRACE_CONSOLE", "maybe"),
            ("AITRACE_EVENT_LEVEL", "loud"),
            ("AITRACE_SPAN_LEVEL", "everything"),
            ("AITRACE_CONTEXT_SPANS", "info,axum=loud"),
            ("AITRACE_JSONL_PATH", " "),
            ("AITRACE_BATCH_AGE_MS", "-1"),
            ("AITRACE_TRACE_MAX_AGE_MS", "soon"),
        ] {
            let err = Builder::default()
                .with_env_vars(env(&[(k, v)]))
                .unwrap_err();
            assert_eq!(err.setting, k);
            assert!(err.to_string().contains(k), "{err}");
        }
    }

    #[test]
    fn invalid_builder_settings_fail_at_build_time() {
        let err = builder()
            .batch_size(0)
            .build_layer::<tracing_subscriber::Registry>()
            .unwrap_err();
        assert_eq!(err.setting, "max_batch_size");
        let err = builder()
            .context_spans("info,tower_http=")
            .build_layer::<tracing_subscriber::Registry>()
            .unwrap_err();
        assert_eq!(err.setting, "context_spans");
        let err = builder()
            .jsonl("/nonexistent-dir/for/sure/x.jsonl")
            .build_layer::<tracing_subscriber::Registry>()
            .unwrap_err();
        assert_eq!(err.setting, "jsonl");
        // A path from the environment that cannot be opened names the variable.
        let err = Builder::default()
            .with_env_vars(env(&[(
                "AITRACE_JSONL_PATH",
                "/nonexistent-dir/for/sure/x.jsonl",
            )]))
            .unwrap()
            .build_layer::<tracing_subscriber::Registry>()
            .unwrap_err();
        assert_eq!(err.setting, "AITRACE_JSONL_PATH");
    }
}
