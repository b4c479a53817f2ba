//! The facade's [`Builder`]: the core builder with the default processors already in it, whichever
//! way it is made, so no documented way to build ships a span unredacted by accident.

use std::path::PathBuf;
use std::time::Duration;

use aitrace_core::{AiLayer, ConfigError, ExportConfig, Exporter, Guard, InstallError, Processor};
use tracing_core::{LevelFilter, Subscriber};
use tracing_subscriber::registry::LookupSpan;

/// Collects processors, exporters and settings. Every way to make one ([`builder`](crate::builder),
/// [`Builder::default`], [`Builder::new`], [`from_env`](crate::from_env), [`Builder::from_env`])
/// starts with the default processors (feature `filters`): the `ChunkAggregator`, the
/// `InlineBlobLimit`, the `CostProcessor` and the `SensitiveDataFilter`. Turn one off by name with
/// [`without_processor`](Self::without_processor). The core crate's `aitrace_core::Builder`, which
/// has none, is reached only through [`into_core`](Self::into_core).
#[derive(Debug)]
pub struct Builder(aitrace_core::Builder);

impl Default for Builder {
    fn default() -> Self {
        Builder(with_default_processors(aitrace_core::Builder::default()))
    }
}

/// Adds the default processors to a core builder.
pub(crate) fn with_default_processors(b: aitrace_core::Builder) -> aitrace_core::Builder {
    // Chunks first, so text and usage they hand to their parent are priced and redacted with it.
    #[cfg(feature = "filters")]
    let b = b
        .processor(crate::filters::ChunkAggregator::new())
        .processor(crate::filters::InlineBlobLimit::default())
        .processor(crate::filters::CostProcessor::default())
        .processor(crate::filters::SensitiveDataFilter::default());
    b
}

impl Builder {
    /// The same as [`Builder::default`]: the default processors, no exporter yet.
    pub fn new() -> Self {
        Builder::default()
    }

    /// A builder with the default processors, configured from the environment: the `AITRACE_*`
    /// settings ([`ENV_SETTINGS`](crate::ENV_SETTINGS)), and every backend whose own variables are
    /// set (OTLP, Langfuse, Braintrust and the presets, as far as their features are on), or exactly
    /// the ones `AITRACE_EXPORTERS` lists (`console,jsonl,langsmith`; `none` for none). An exporter
    /// you add in code replaces the one of the same name the environment added.
    pub fn from_env() -> Result<Self, ConfigError> {
        Builder::default().with_env_vars(|k| std::env::var(k).ok())
    }

    /// Applies settings from a lookup function (the environment in [`from_env`](Self::from_env)).
    pub fn with_env_vars(self, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let core = self.0.with_env_vars(&get)?;
        crate::env_exporters::add(core, &get).map(Builder)
    }

    /// The names of the exporters added so far, the environment's included.
    pub fn exporter_names(&self) -> Vec<&str> {
        self.0.exporter_names()
    }

    /// Adds a processor after the ones already there.
    pub fn processor(self, processor: impl Processor) -> Self {
        Builder(self.0.processor(processor))
    }

    /// Removes the processors named `name` (`"sensitive-data-filter"`, `"cost"`,
    /// `"inline-blob-limit"`, `"chunk-aggregator"`).
    pub fn without_processor(self, name: &str) -> Self {
        Builder(self.0.without_processor(name))
    }

    /// The processors' names, in order.
    pub fn processor_names(&self) -> Vec<&str> {
        self.0.processor_names()
    }

    /// Adds an exporter with the builder's export settings.
    pub fn exporter(self, exporter: impl Exporter) -> Self {
        Builder(self.0.exporter(exporter))
    }

    /// Adds an exporter with its own export settings.
    pub fn exporter_with_config(self, exporter: impl Exporter, config: ExportConfig) -> Self {
        Builder(self.0.exporter_with_config(exporter, config))
    }

    /// Export settings for exporters added without their own.
    pub fn export_config(self, config: ExportConfig) -> Self {
        Builder(self.0.export_config(config))
    }

    /// Records held per exporter at most.
    pub fn queue_capacity(self, records: usize) -> Self {
        Builder(self.0.queue_capacity(records))
    }

    /// Largest batch handed to an exporter.
    pub fn batch_size(self, records: usize) -> Self {
        Builder(self.0.batch_size(records))
    }

    /// How long a whole-trace exporter holds a trace whose root has not closed.
    pub fn trace_max_age(self, age: Duration) -> Self {
        Builder(self.0.trace_max_age(age))
    }

    /// Lowest level of `tracing` events recorded on AI spans.
    pub fn event_level(self, level: LevelFilter) -> Self {
        Builder(self.0.event_level(level))
    }

    /// Lowest level of AI spans recorded whatever the log filter wants (application spans:
    /// [`context_spans`](Self::context_spans)).
    pub fn span_level(self, level: LevelFilter) -> Self {
        Builder(self.0.span_level(level))
    }

    /// See [`aitrace_core::Builder::context_spans`].
    pub fn context_spans(self, directives: impl Into<String>) -> Self {
        Builder(self.0.context_spans(directives))
    }

    /// The content policy: whether exporters receive content (default true; also
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`).
    pub fn capture_content(self, on: bool) -> Self {
        Builder(self.0.capture_content(on))
    }

    /// Overrides the content policy for one exporter, by name.
    pub fn content_for(self, exporter: impl Into<String>, on: bool) -> Self {
        Builder(self.0.content_for(exporter, on))
    }

    /// How long dropping the [`Guard`] may wait for exporters.
    pub fn shutdown_timeout(self, timeout: Duration) -> Self {
        Builder(self.0.shutdown_timeout(timeout))
    }

    /// Prints each trace as a tree on stderr.
    pub fn console(self, on: bool) -> Self {
        Builder(self.0.console(on))
    }

    /// Appends every span as one JSON line to `path`.
    pub fn jsonl(self, path: impl Into<PathBuf>) -> Self {
        Builder(self.0.jsonl(path))
    }

    /// The layer to add to your own subscriber, and the guard that flushes it.
    pub fn build_layer<S>(self) -> Result<(AiLayer<S>, Guard), ConfigError>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.0.build_layer()
    }

    /// Installs a global subscriber (`registry()` + this layer).
    pub fn install(self) -> Result<Guard, InstallError> {
        self.0.install()
    }

    /// The core builder inside, for APIs of `aitrace_core` that take one.
    pub fn into_core(self) -> aitrace_core::Builder {
        self.0
    }
}
