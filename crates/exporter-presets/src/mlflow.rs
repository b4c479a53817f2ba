//! MLflow (open source): OTLP/HTTP protobuf to `<tracking URI>/v1/traces` with the experiment in
//! `x-mlflow-experiment-id`.
//!
//! What MLflow's ingestion reads, and what the preset sets so it reads right: every span's type
//! explicit in `mlflow.spanType` (`CHAT_MODEL` for chat generations, so the chat renders; `EMBEDDING`,
//! `RETRIEVER`, `TOOL`, `AGENT`, `RERANKER`, `LLM` for other model calls, `CHAIN` for the rest: its
//! translators guess `UNKNOWN` or `LLM` otherwise); aitrace's cost as `mlflow.llm.cost` (MLflow prices
//! a span from its own table, without the cache discount, only when that attribute is absent); user
//! and session as the trace metadata MLflow shows (`mlflow.trace.user`, `mlflow.trace.session`).
//!
//! Variables: `MLFLOW_TRACKING_URI` (an `http(s)` server; turns it on), `MLFLOW_EXPERIMENT_ID`
//! (default `0`, the default experiment).

use aitrace_core::{ConfigError, SpanKind, SpanRecord};
use aitrace_otel::{Dialect, OtelExporter};
use opentelemetry::KeyValue;
use serde_json::json;

use crate::common::{build, otlp, required, s, url_with_path, usd_cost, var};

/// Where to send.
#[derive(Debug, Clone)]
pub struct MlflowConfig {
    /// `MLFLOW_TRACKING_URI`: the tracking server (`http://127.0.0.1:5000`).
    pub tracking_uri: String,
    /// `MLFLOW_EXPERIMENT_ID` (default `0`).
    pub experiment_id: String,
}

impl MlflowConfig {
    /// The default experiment of the server at `tracking_uri`.
    pub fn new(tracking_uri: impl Into<String>) -> Self {
        MlflowConfig {
            tracking_uri: tracking_uri.into(),
            experiment_id: "0".into(),
        }
    }

    /// From MLflow's variables; `None` when `MLFLOW_TRACKING_URI` is unset. A tracking URI that is
    /// not an http(s) server (a local path, `databricks`) is an error: spans go to a server.
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(tracking_uri) = var(get, "MLFLOW_TRACKING_URI") else {
            if var(get, "MLFLOW_EXPERIMENT_ID").is_some() {
                required(get, "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID")?;
            }
            return Ok(None);
        };
        let experiment_id = var(get, "MLFLOW_EXPERIMENT_ID").unwrap_or_else(|| "0".into());
        if !experiment_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ConfigError::new(
                "MLFLOW_EXPERIMENT_ID",
                format!("{experiment_id:?} is not an experiment id"),
            ));
        }
        Ok(Some(MlflowConfig {
            tracking_uri,
            experiment_id,
        }))
    }

    /// The OTLP traces URL.
    pub fn traces_url(&self) -> Result<String, ConfigError> {
        url_with_path("MLFLOW_TRACKING_URI", &self.tracking_uri, "/v1/traces")
    }
}

/// The MLflow exporter.
pub fn exporter(config: MlflowConfig) -> Result<OtelExporter, ConfigError> {
    let b = otlp(
        "mlflow",
        "MLFLOW_TRACKING_URI",
        &config.traces_url()?,
        &[("x-mlflow-experiment-id", config.experiment_id.clone())],
    )?
    // MLflow's server reads uncompressed protobuf only in some versions: send it plain.
    .gzip(false)
    .dialect(MlflowDialect)
    .score_route(crate::scores::MlflowAssessments {
        base: config.tracking_uri.trim_end_matches('/').to_string(),
        client: aitrace_exporter_kit::rest::JsonClient::new(
            std::time::Duration::from_secs(10),
            Vec::new(),
            "MLFLOW_TRACKING_URI",
        )
        .map_err(|e| ConfigError::new("MLFLOW_TRACKING_URI", e))?,
    });
    build(b, "MLFLOW_TRACKING_URI")
}

/// The MLflow span type of a record.
pub fn span_type(r: &SpanRecord) -> &'static str {
    match r.kind {
        SpanKind::ModelGeneration => match r.operation_name() {
            Some("chat") | None => "CHAT_MODEL",
            _ => "LLM",
        },
        SpanKind::ImageGeneration | SpanKind::SpeechToText | SpanKind::TextToSpeech => "LLM",
        SpanKind::Embedding => "EMBEDDING",
        SpanKind::Retrieval | SpanKind::Memory => "RETRIEVER",
        SpanKind::ToolCall | SpanKind::McpToolCall => "TOOL",
        SpanKind::AgentRun => "AGENT",
        SpanKind::Rerank => "RERANKER",
        _ => "CHAIN",
    }
}

/// What MLflow reads beyond the GenAI attributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MlflowDialect;

impl Dialect for MlflowDialect {
    fn extend(&self, r: &SpanRecord, a: &mut Vec<KeyValue>) {
        a.push(s("mlflow.spanType", span_type(r)));
        if let Some((input, output, total)) = usd_cost(r) {
            let cost = json!({
                "input_cost": input.unwrap_or(0.0),
                "output_cost": output.unwrap_or(0.0),
                "total_cost": total,
            });
            a.push(s("mlflow.llm.cost", aitrace_core::export::json_text(&cost)));
        }
        if let Some(user) = &r.user_id {
            a.push(s("mlflow.trace.user", user.clone()));
        }
        if let Some(session) = &r.session_id {
            a.push(s("mlflow.trace.session", session.clone()));
        }
    }
}
