//! PostHog LLM analytics: OTLP to `<host>/i/v0/ai/otel` (that path as it is, no `/v1/traces`) with
//! the project token as a bearer token.
//!
//! PostHog's rules, and what the preset does about each:
//! - it refuses a whole request, without retry, above 100 AI spans or 4 MB: requests are cut at 100
//!   spans and well under 4 MB (a span over a third of that has its content shortened);
//! - it keeps a span only if an attribute key starts with `gen_ai.` (or a few other prefixes) and
//!   drops the others silently: a span with no GenAI attribute (a request, a step) gets its aitrace
//!   kind as `gen_ai.operation.name`;
//! - only `chat` is a generation and `embeddings` an embedding: a model call recorded as
//!   `generate_content` or `text_completion` is sent as `chat`;
//! - the distinct id comes from `posthog.distinct_id` (the user), the session from `$ai_session_id`;
//! - for Anthropic models it takes input tokens as exclusive of cache unless told otherwise:
//!   `$ai_cache_reporting_exclusive=false` (aitrace's counts include cache), cache writes under its
//!   name `gen_ai.usage.cache_creation.input_tokens`;
//! - aitrace's cost as `$ai_input_cost_usd`, `$ai_output_cost_usd`, `$ai_total_cost_usd`.
//!
//! Variables: `POSTHOG_API_KEY` (the `phc_` project token; turns it on), `POSTHOG_HOST` (default the
//! US cloud).

use aitrace_core::{ConfigError, SpanKind, SpanRecord};
use aitrace_otel::{Dialect, OtelExporter};
use opentelemetry::{KeyValue, Value};

use crate::common::{build, get, otlp, rename, required, s, url_with_path, usd_cost, var};

/// PostHog's US cloud ingestion host.
pub const DEFAULT_HOST: &str = "https://us.i.posthog.com";
const PATH: &str = "/i/v0/ai/otel";
/// Where PostHog takes OTLP logs: evaluations (`gen_ai.evaluation.result`) become `$ai_evaluation`.
const LOGS_PATH: &str = "/i/v0/ai/otel/v1/logs";
/// PostHog's limit of AI spans per request.
pub const MAX_SPANS_PER_REQUEST: usize = 100;
/// The estimated bytes per request aitrace sends (PostHog refuses bodies over 4 MB; each span's
/// expanded event must stay under about 900 kB).
pub const MAX_REQUEST_BYTES: usize = 2_400_000;

/// Where and as whom to send.
#[derive(Clone)]
pub struct PostHogConfig {
    /// `POSTHOG_API_KEY`: the project token (`phc_...`).
    pub api_key: String,
    /// `POSTHOG_HOST`: `https://us.i.posthog.com`, `https://eu.i.posthog.com` or your own.
    pub host: String,
}

impl std::fmt::Debug for PostHogConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostHogConfig")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl PostHogConfig {
    /// The US cloud.
    pub fn new(api_key: impl Into<String>) -> Self {
        PostHogConfig {
            api_key: api_key.into(),
            host: DEFAULT_HOST.into(),
        }
    }

    /// From PostHog's variables; `None` when `POSTHOG_API_KEY` is unset. A personal API key
    /// (`phx_`) is refused: ingestion takes the project token.
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(api_key) = var(get, "POSTHOG_API_KEY") else {
            if var(get, "POSTHOG_HOST").is_some() {
                required(get, "POSTHOG_API_KEY", "POSTHOG_HOST")?;
            }
            return Ok(None);
        };
        if api_key.starts_with("phx_") {
            return Err(ConfigError::new(
                "POSTHOG_API_KEY",
                "is a personal API key (phx_...); ingestion takes the project token (phc_...)",
            ));
        }
        Ok(Some(PostHogConfig {
            api_key,
            host: var(get, "POSTHOG_HOST").unwrap_or_else(|| DEFAULT_HOST.into()),
        }))
    }

    /// The OTLP endpoint.
    pub fn traces_url(&self) -> Result<String, ConfigError> {
        url_with_path("POSTHOG_HOST", &self.host, PATH)
    }
}

/// The PostHog exporter.
pub fn exporter(config: PostHogConfig) -> Result<OtelExporter, ConfigError> {
    let b = otlp(
        "posthog",
        "POSTHOG_HOST",
        &config.traces_url()?,
        &[("Authorization", format!("Bearer {}", config.api_key))],
    )?
    .max_request_spans(MAX_SPANS_PER_REQUEST)
    .max_request_bytes(MAX_REQUEST_BYTES)
    .dialect(PostHogDialect)
    .score_route(crate::scores::PostHogEvaluations {
        url: url_with_path("POSTHOG_HOST", &config.host, LOGS_PATH)?,
        client: aitrace_exporter_kit::rest::JsonClient::new(
            std::time::Duration::from_secs(10),
            [(
                "Authorization".to_string(),
                format!("Bearer {}", config.api_key),
            )],
            "POSTHOG_API_KEY",
        )
        .map_err(|e| ConfigError::new("POSTHOG_HOST", e))?,
    });
    build(b, "POSTHOG_HOST")
}

/// What PostHog reads beyond the GenAI attributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostHogDialect;

impl Dialect for PostHogDialect {
    fn extend(&self, r: &SpanRecord, a: &mut Vec<KeyValue>) {
        if !a.iter().any(|kv| kv.key.as_str().starts_with("gen_ai.")) {
            a.push(s("gen_ai.operation.name", r.kind.as_str()));
        }
        if r.kind == SpanKind::ModelGeneration {
            let op = get(a, "gen_ai.operation.name").map(Value::as_str);
            if op.as_deref() != Some("chat") {
                a.retain(|kv| kv.key.as_str() != "gen_ai.operation.name");
                a.push(s("gen_ai.operation.name", "chat"));
            }
        }
        if let Some(user) = &r.user_id {
            a.push(s("posthog.distinct_id", user.clone()));
        }
        if let Some(session) = &r.session_id {
            a.push(s("$ai_session_id", session.clone()));
        }
        if r.billable_usage().is_some() {
            a.push(KeyValue::new("$ai_cache_reporting_exclusive", false));
        }
        rename(
            a,
            "gen_ai.usage.cache_write.input_tokens",
            "gen_ai.usage.cache_creation.input_tokens",
        );
        if let Some((input, output, total)) = usd_cost(r) {
            if let Some(v) = input {
                a.push(KeyValue::new("$ai_input_cost_usd", v));
            }
            if let Some(v) = output {
                a.push(KeyValue::new("$ai_output_cost_usd", v));
            }
            a.push(KeyValue::new("$ai_total_cost_usd", total));
        }
    }
}
