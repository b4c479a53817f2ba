//! Endpoint-and-auth presets: backends that read the plain GenAI attributes (Honeycomb, Grafana
//! Cloud, LangWatch), and Laminar, whose views read its own `lmnr.*` attributes as well.
//!
//! Variables:
//! - Honeycomb: `HONEYCOMB_API_KEY` (turns it on), `HONEYCOMB_API_ENDPOINT` (default
//!   `https://api.honeycomb.io`; the EU: `https://api.eu1.honeycomb.io`), `HONEYCOMB_DATASET`
//!   (Classic environments only).
//! - Grafana Cloud: `GRAFANA_CLOUD_OTLP_ENDPOINT` (the stack's OTLP gateway,
//!   `https://otlp-gateway-<zone>.grafana.net/otlp`; turns it on), `GRAFANA_CLOUD_INSTANCE_ID`,
//!   `GRAFANA_CLOUD_API_KEY` (a token with traces write scope).
//! - LangWatch: `LANGWATCH_API_KEY` (turns it on), `LANGWATCH_ENDPOINT` (default
//!   `https://app.langwatch.ai`).
//! - Laminar: `LMNR_PROJECT_API_KEY` (turns it on), `LMNR_BASE_URL` (default `https://api.lmnr.ai`).

use aitrace_core::{ConfigError, SpanKind, SpanRecord};
use aitrace_otel::{Dialect, OtelExporter};
use base64::Engine as _;
use opentelemetry::KeyValue;

use crate::common::{build, otlp, required, s, url_with_path, var};

/// Honeycomb, from its variables; `None` when `HONEYCOMB_API_KEY` is unset.
pub fn honeycomb(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<OtelExporter>, ConfigError> {
    let Some(key) = var(get, "HONEYCOMB_API_KEY") else {
        for companion in ["HONEYCOMB_API_ENDPOINT", "HONEYCOMB_DATASET"] {
            if var(get, companion).is_some() {
                required(get, "HONEYCOMB_API_KEY", companion)?;
            }
        }
        return Ok(None);
    };
    let base =
        var(get, "HONEYCOMB_API_ENDPOINT").unwrap_or_else(|| "https://api.honeycomb.io".into());
    let url = url_with_path("HONEYCOMB_API_ENDPOINT", &base, "/v1/traces")?;
    let mut headers = vec![("x-honeycomb-team", key)];
    if let Some(dataset) = var(get, "HONEYCOMB_DATASET") {
        headers.push(("x-honeycomb-dataset", dataset));
    }
    let b = otlp("honeycomb", "HONEYCOMB_API_ENDPOINT", &url, &headers)?;
    build(b, "HONEYCOMB_API_ENDPOINT").map(Some)
}

/// Grafana Cloud, from its variables; `None` when `GRAFANA_CLOUD_OTLP_ENDPOINT` is unset.
pub fn grafana_cloud(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<OtelExporter>, ConfigError> {
    let Some(base) = var(get, "GRAFANA_CLOUD_OTLP_ENDPOINT") else {
        for companion in ["GRAFANA_CLOUD_INSTANCE_ID", "GRAFANA_CLOUD_API_KEY"] {
            if var(get, companion).is_some() {
                required(get, "GRAFANA_CLOUD_OTLP_ENDPOINT", companion)?;
            }
        }
        return Ok(None);
    };
    let because = "GRAFANA_CLOUD_OTLP_ENDPOINT";
    let instance = required(get, "GRAFANA_CLOUD_INSTANCE_ID", because)?;
    let token = required(get, "GRAFANA_CLOUD_API_KEY", because)?;
    let url = url_with_path("GRAFANA_CLOUD_OTLP_ENDPOINT", &base, "/v1/traces")?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{instance}:{token}"));
    let b = otlp(
        "grafana-cloud",
        "GRAFANA_CLOUD_OTLP_ENDPOINT",
        &url,
        &[("Authorization", format!("Basic {basic}"))],
    )?;
    build(b, "GRAFANA_CLOUD_OTLP_ENDPOINT").map(Some)
}

/// LangWatch, from its variables; `None` when `LANGWATCH_API_KEY` is unset.
pub fn langwatch(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<OtelExporter>, ConfigError> {
    let Some(key) = var(get, "LANGWATCH_API_KEY") else {
        if var(get, "LANGWATCH_ENDPOINT").is_some() {
            required(get, "LANGWATCH_API_KEY", "LANGWATCH_ENDPOINT")?;
        }
        return Ok(None);
    };
    let base = var(get, "LANGWATCH_ENDPOINT").unwrap_or_else(|| "https://app.langwatch.ai".into());
    let url = url_with_path("LANGWATCH_ENDPOINT", &base, "/api/otel/v1/traces")?;
    let b = otlp(
        "langwatch",
        "LANGWATCH_ENDPOINT",
        &url,
        &[("Authorization", format!("Bearer {key}"))],
    )?;
    build(b, "LANGWATCH_ENDPOINT").map(Some)
}

/// Laminar, from its variables; `None` when `LMNR_PROJECT_API_KEY` is unset.
pub fn laminar(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<OtelExporter>, ConfigError> {
    let Some(key) = var(get, "LMNR_PROJECT_API_KEY") else {
        if var(get, "LMNR_BASE_URL").is_some() {
            required(get, "LMNR_PROJECT_API_KEY", "LMNR_BASE_URL")?;
        }
        return Ok(None);
    };
    let base = var(get, "LMNR_BASE_URL").unwrap_or_else(|| "https://api.lmnr.ai".into());
    let url = url_with_path("LMNR_BASE_URL", &base, "/v1/traces")?;
    let b = otlp(
        "laminar",
        "LMNR_BASE_URL",
        &url,
        &[("Authorization", format!("Bearer {key}"))],
    )?
    .dialect(LaminarDialect);
    build(b, "LMNR_BASE_URL").map(Some)
}

/// Laminar's span type, session, user and tags.
#[derive(Debug, Clone, Copy, Default)]
pub struct LaminarDialect;

impl Dialect for LaminarDialect {
    fn extend(&self, r: &SpanRecord, a: &mut Vec<KeyValue>) {
        let kind = match r.kind {
            k if k.is_billable_kind() => "LLM",
            SpanKind::ToolCall | SpanKind::McpToolCall => "TOOL",
            _ => "DEFAULT",
        };
        a.push(s("lmnr.span.type", kind));
        if let Some(session) = &r.session_id {
            a.push(s("lmnr.association.properties.session_id", session.clone()));
        }
        if let Some(user) = &r.user_id {
            a.push(s("lmnr.association.properties.user_id", user.clone()));
        }
        if !r.tags.is_empty() {
            a.push(KeyValue::new(
                "lmnr.association.properties.tags",
                opentelemetry::Value::Array(opentelemetry::Array::String(
                    r.tags.iter().map(|t| t.clone().into()).collect(),
                )),
            ));
        }
    }
}
