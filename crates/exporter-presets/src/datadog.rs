//! Datadog LLM Observability: OTLP/HTTP protobuf to `https://otlp.<site>/v1/traces` with `dd-api-key`
//! and `dd-otlp-source: llmobs`, LLM Observability turned on by the `dd_llmobs_enabled=true` resource
//! attribute, the ML app as the service name.
//!
//! What Datadog derives, and what the preset adds so it derives right: span kinds come from
//! `gen_ai.operation.name` (`chat` → llm, `embeddings` → embedding, `execute_tool` → tool,
//! `invoke_agent` → agent, anything else → workflow); a retrieval is a `retrieval` span only through
//! OpenInference's `RETRIEVER`, so retrieval spans carry `openinference.span.kind`. The session is
//! `gen_ai.conversation.id`; metadata goes in `_dd.ml_obs.metadata` as a JSON object; model calls are
//! CLIENT spans.
//!
//! Variables: `DD_API_KEY` (turns it on), `DD_SITE` (default `datadoghq.com`), `DD_LLMOBS_ML_APP`,
//! `AITRACE_DATADOG_ENDPOINT` (the full traces URL: a proxy, an Agent, a test intake).

use aitrace_core::{ConfigError, SpanKind, SpanRecord};
use aitrace_otel::{Dialect, OtelExporter};
use opentelemetry::KeyValue;
use serde_json::Value as Json;

use crate::common::{build, otlp, required, s, var};

/// Datadog's default site.
pub const DEFAULT_SITE: &str = "datadoghq.com";

/// Where and as whom to send.
#[derive(Clone)]
pub struct DatadogConfig {
    /// `DD_API_KEY`.
    pub api_key: String,
    /// `DD_SITE` (`datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`, ...).
    pub site: String,
    /// `DD_LLMOBS_ML_APP`: the ML application the spans belong to (the service name).
    pub ml_app: Option<String>,
    /// `AITRACE_DATADOG_ENDPOINT`: the traces URL, instead of the site's intake.
    pub endpoint: Option<String>,
}

impl std::fmt::Debug for DatadogConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogConfig")
            .field("site", &self.site)
            .field("ml_app", &self.ml_app)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl DatadogConfig {
    /// The default site.
    pub fn new(api_key: impl Into<String>) -> Self {
        DatadogConfig {
            api_key: api_key.into(),
            site: DEFAULT_SITE.into(),
            ml_app: None,
            endpoint: None,
        }
    }

    /// From Datadog's variables; `None` when `DD_API_KEY` is unset. `DD_LLMOBS_ML_APP` or
    /// `AITRACE_DATADOG_ENDPOINT` without the key is an error naming `DD_API_KEY`.
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(api_key) = var(get, "DD_API_KEY") else {
            for companion in ["DD_LLMOBS_ML_APP", "AITRACE_DATADOG_ENDPOINT"] {
                if var(get, companion).is_some() {
                    required(get, "DD_API_KEY", companion)?;
                }
            }
            return Ok(None);
        };
        let site = var(get, "DD_SITE").unwrap_or_else(|| DEFAULT_SITE.into());
        if site.contains('/') || site.contains(' ') {
            return Err(ConfigError::new(
                "DD_SITE",
                format!("{site:?} is not a Datadog site (like datadoghq.com or datadoghq.eu)"),
            ));
        }
        Ok(Some(DatadogConfig {
            api_key,
            site,
            ml_app: var(get, "DD_LLMOBS_ML_APP"),
            endpoint: var(get, "AITRACE_DATADOG_ENDPOINT"),
        }))
    }

    /// The OTLP traces URL.
    pub fn traces_url(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://otlp.{}/v1/traces", self.site))
    }
}

/// The Datadog LLM Observability exporter.
pub fn exporter(config: DatadogConfig) -> Result<OtelExporter, ConfigError> {
    aitrace_core::register_metadata_namespace("datadog");
    let setting = if config.endpoint.is_some() {
        "AITRACE_DATADOG_ENDPOINT"
    } else {
        "DD_SITE"
    };
    let mut headers = vec![
        ("dd-api-key", config.api_key.clone()),
        ("dd-otlp-source", "llmobs".to_string()),
    ];
    if let Some(app) = &config.ml_app {
        headers.push(("dd-ml-app", app.clone()));
    }
    let mut b = otlp("datadog", setting, &config.traces_url(), &headers)?
        .resource_attribute("dd_llmobs_enabled", "true")
        .dialect(DatadogDialect);
    if let Some(app) = &config.ml_app {
        // The ML app is the root span's service name.
        b = b.resource_attribute("service.name", app.clone());
    }
    build(b, setting)
}

/// What Datadog reads beyond the GenAI attributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct DatadogDialect;

impl Dialect for DatadogDialect {
    fn extend(&self, r: &SpanRecord, a: &mut Vec<KeyValue>) {
        if matches!(r.kind, SpanKind::Retrieval | SpanKind::Memory) {
            a.push(s("openinference.span.kind", "RETRIEVER"));
        }
        let mut metadata = r.trace_metadata_for("datadog");
        metadata.extend(r.metadata_for("datadog"));
        if let Some(user) = &r.user_id {
            metadata.insert("user_id".into(), Json::from(user.clone()));
        }
        if !r.tags.is_empty() {
            metadata.insert("tags".into(), Json::from(r.tags.clone()));
        }
        if !metadata.is_empty() {
            a.push(s(
                "_dd.ml_obs.metadata",
                aitrace_core::export::json_text(&Json::Object(metadata)),
            ));
        }
    }
}
