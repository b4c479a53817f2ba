//! LangSmith: OTLP to `<endpoint>/otel/v1/traces` with `x-api-key`, and the `langsmith.*` attributes
//! LangSmith reads (its OpenTelemetry mapping): the run type of every span, the trace name, tags,
//! metadata, the thread on every run, provider and model for its price map, usage with the cache and
//! reasoning breakdown.
//!
//! Variables: `LANGSMITH_API_KEY` (turns it on), `LANGSMITH_ENDPOINT` (default the US cloud; the EU
//! cloud or a self-hosted `https://host/api/v1` too), `LANGSMITH_PROJECT`.

use aitrace_core::{ConfigError, SpanKind, SpanRecord};
use aitrace_otel::{Dialect, OtelExporter};
use opentelemetry::KeyValue;
use serde_json::{json, Map, Value as Json};

use crate::common::{build, otlp, required, s, url_with_path, usd_cost, var};

/// LangSmith's US cloud API.
pub const DEFAULT_ENDPOINT: &str = "https://api.smith.langchain.com";
const TRACES_PATH: &str = "/otel/v1/traces";

/// Where and as whom to send.
#[derive(Clone)]
pub struct LangSmithConfig {
    /// The API key (`LANGSMITH_API_KEY`).
    pub api_key: String,
    /// The API URL (`LANGSMITH_ENDPOINT`): `https://api.smith.langchain.com`,
    /// `https://eu.api.smith.langchain.com`, or a self-hosted `https://host/api/v1`.
    pub endpoint: String,
    /// The project runs go to (`LANGSMITH_PROJECT`; LangSmith's default project when unset).
    pub project: Option<String>,
}

impl std::fmt::Debug for LangSmithConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LangSmithConfig")
            .field("endpoint", &self.endpoint)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl LangSmithConfig {
    /// The US cloud, the default project.
    pub fn new(api_key: impl Into<String>) -> Self {
        LangSmithConfig {
            api_key: api_key.into(),
            endpoint: DEFAULT_ENDPOINT.to_string(),
            project: None,
        }
    }

    /// From LangSmith's variables; `None` when `LANGSMITH_API_KEY` is unset.
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(api_key) = var(get, "LANGSMITH_API_KEY") else {
            if var(get, "LANGSMITH_PROJECT").is_some() {
                required(get, "LANGSMITH_API_KEY", "LANGSMITH_PROJECT")?;
            }
            return Ok(None);
        };
        Ok(Some(LangSmithConfig {
            api_key,
            endpoint: var(get, "LANGSMITH_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.into()),
            project: var(get, "LANGSMITH_PROJECT"),
        }))
    }

    /// The OTLP traces URL.
    pub fn traces_url(&self) -> Result<String, ConfigError> {
        url_with_path("LANGSMITH_ENDPOINT", &self.endpoint, TRACES_PATH)
    }
}

/// The LangSmith exporter.
pub fn exporter(config: LangSmithConfig) -> Result<OtelExporter, ConfigError> {
    aitrace_core::register_metadata_namespace("langsmith");
    let mut headers = vec![("x-api-key", config.api_key.clone())];
    if let Some(p) = &config.project {
        headers.push(("Langsmith-Project", p.clone()));
    }
    let b = otlp(
        "langsmith",
        "LANGSMITH_ENDPOINT",
        &config.traces_url()?,
        &headers,
    )?
    .dialect(LangSmithDialect)
    .score_route(
        crate::scores::LangSmithFeedback::new(&config.endpoint, &config.api_key)
            .map_err(|e| ConfigError::new("LANGSMITH_ENDPOINT", e))?,
    );
    build(b, "LANGSMITH_ENDPOINT")
}

/// LangSmith's run type of a span: agents, workflows and steps are `chain` (LangSmith has no agent
/// type, and guesses wrong without one).
pub fn run_type(r: &SpanRecord) -> &'static str {
    match r.kind {
        SpanKind::ModelGeneration | SpanKind::ImageGeneration => "llm",
        SpanKind::Embedding => "embedding",
        SpanKind::ToolCall | SpanKind::McpToolCall => "tool",
        SpanKind::Retrieval | SpanKind::Memory => "retriever",
        _ => "chain",
    }
}

/// LangSmith's `usage_metadata`: input tokens inclusive of cache, with the cache and reasoning
/// breakdown, and aitrace's cost.
pub fn usage_metadata(r: &SpanRecord) -> Option<Json> {
    let u = r.billable_usage()?;
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<u64>| {
        if let Some(v) = v {
            m.insert(k.into(), Json::from(v));
        }
    };
    put("input_tokens", u.input_tokens);
    put("output_tokens", u.output_tokens);
    put("total_tokens", u.total());
    let mut input = Map::new();
    if let Some(v) = u.cache_read_input_tokens {
        input.insert("cache_read".into(), Json::from(v));
    }
    if let Some(v) = u.cache_creation_input_tokens {
        input.insert("cache_creation".into(), Json::from(v));
    }
    if let Some(v) = u.input_audio_tokens {
        input.insert("audio".into(), Json::from(v));
    }
    if !input.is_empty() {
        m.insert("input_token_details".into(), Json::Object(input));
    }
    let mut output = Map::new();
    if let Some(v) = u.reasoning_tokens {
        output.insert("reasoning".into(), Json::from(v));
    }
    if let Some(v) = u.output_audio_tokens {
        output.insert("audio".into(), Json::from(v));
    }
    if !output.is_empty() {
        m.insert("output_token_details".into(), Json::Object(output));
    }
    if let Some((input, output, total)) = usd_cost(r) {
        if let Some(v) = input {
            m.insert("input_cost".into(), json!(v));
        }
        if let Some(v) = output {
            m.insert("output_cost".into(), json!(v));
        }
        m.insert("total_cost".into(), json!(total));
    }
    Some(Json::Object(m))
}

/// The `langsmith.*` attributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct LangSmithDialect;

impl Dialect for LangSmithDialect {
    fn extend(&self, r: &SpanRecord, a: &mut Vec<KeyValue>) {
        a.push(s("langsmith.span.kind", run_type(r)));
        if r.is_local_root() {
            let name = r.trace_name.clone().unwrap_or_else(|| r.what_ran());
            a.push(s("langsmith.trace.name", name));
        }
        if !r.tags.is_empty() {
            a.push(s("langsmith.span.tags", r.tags.join(",")));
        }
        let mut metadata = r.trace_metadata_for("langsmith");
        metadata.extend(r.metadata_for("langsmith"));
        // The thread on every run, child runs included: LangSmith's thread views and totals read it
        // per run.
        if let Some(session) = &r.session_id {
            metadata.insert("thread_id".into(), Json::from(session.clone()));
        }
        if let Some(user) = &r.user_id {
            metadata.insert("user_id".into(), Json::from(user.clone()));
        }
        if r.billable {
            if let Some(p) = &r.provider {
                metadata.insert("ls_provider".into(), Json::from(p.clone()));
            }
            if let Some(m) = r.model() {
                metadata.insert("ls_model_name".into(), Json::from(m));
            }
        }
        for (k, v) in metadata {
            let text = match v {
                Json::String(s) => s,
                other => aitrace_core::export::json_text(&other),
            };
            a.push(s(format!("langsmith.metadata.{k}"), text));
        }
        if let Some(usage) = usage_metadata(r) {
            a.push(s(
                "langsmith.usage_metadata",
                aitrace_core::export::json_text(&usage),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_takes_the_otel_path_once() {
        let mut c = LangSmithConfig::new("k");
        assert_eq!(
            c.traces_url().unwrap(),
            "https://api.smith.langchain.com/otel/v1/traces"
        );
        c.endpoint = "https://ls.example.com/api/v1/".into();
        assert_eq!(
            c.traces_url().unwrap(),
            "https://ls.example.com/api/v1/otel/v1/traces"
        );
        c.endpoint = "https://ls.example.com/api/v1/otel/v1/traces".into();
        assert_eq!(
            c.traces_url().unwrap(),
            "https://ls.example.com/api/v1/otel/v1/traces"
        );
        c.endpoint = "ls.example.com".into();
        assert_eq!(c.traces_url().unwrap_err().setting, "LANGSMITH_ENDPOINT");
    }
}
