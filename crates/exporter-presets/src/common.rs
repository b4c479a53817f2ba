//! What every preset shares: the OTel exporter's settings for a vendor endpoint, and reading the
//! vendor's own variables.

use aitrace_core::{ConfigError, SpanRecord};
use aitrace_exporter_kit::settings::{validate_header, validate_http_url};
use aitrace_otel::{OtelExporter, OtelExporterBuilder, SemconvMode};
use opentelemetry::{KeyValue, Value};

/// A variable's value, trimmed; `None` when unset or blank.
pub(crate) fn var(get: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A variable that must be set because `because` is.
pub(crate) fn required(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    because: &str,
) -> Result<String, ConfigError> {
    var(get, name).ok_or_else(|| ConfigError::new(name, format!("must be set when {because} is")))
}

/// `base` (checked as the setting `setting`) with `path` appended, unless it already ends with it.
pub(crate) fn url_with_path(setting: &str, base: &str, path: &str) -> Result<String, ConfigError> {
    validate_http_url(setting, base)?;
    let base = base.trim().trim_end_matches('/');
    Ok(if base.ends_with(path) {
        base.to_string()
    } else {
        format!("{base}{path}")
    })
}

/// The OTel exporter's settings for a vendor: its name, endpoint and headers, no `OTEL_*` variable
/// (the vendor's own ones decide), the current GenAI names (a preset writes what its backend reads,
/// whatever `OTEL_SEMCONV_STABILITY_OPT_IN` says).
pub(crate) fn otlp(
    name: &str,
    setting: &'static str,
    endpoint: &str,
    headers: &[(&str, String)],
) -> Result<OtelExporterBuilder, ConfigError> {
    validate_http_url(setting, endpoint)?;
    let mut b = OtelExporter::builder()
        .name(name)
        .read_env(false)
        .endpoint(endpoint)
        .semconv(SemconvMode::Latest)
        .gzip(true);
    for (k, v) in headers {
        validate_header(setting, k, v)?;
        b = b.header(*k, v.clone());
    }
    Ok(b)
}

/// Builds, naming `setting` in an error.
pub(crate) fn build(
    b: OtelExporterBuilder,
    setting: &'static str,
) -> Result<OtelExporter, ConfigError> {
    b.build().map_err(|e| ConfigError::new(setting, e.message))
}

/// The value of attribute `key` in `a`, if written.
pub(crate) fn get<'a>(a: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    a.iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// Renames attribute `from` to `to` (for a backend that reads another spelling).
pub(crate) fn rename(a: &mut [KeyValue], from: &str, to: &'static str) {
    for kv in a.iter_mut().filter(|kv| kv.key.as_str() == from) {
        *kv = KeyValue::new(to, kv.value.clone());
    }
}

/// A string attribute.
pub(crate) fn s(key: impl Into<opentelemetry::Key>, v: impl Into<String>) -> KeyValue {
    KeyValue::new(key, Value::String(v.into().into()))
}

/// A call's cost in USD as (input incl. cache reads and writes, output incl. reasoning, total): what
/// vendors take as their cost fields. `None` unless in USD with a total.
pub(crate) fn usd_cost(r: &SpanRecord) -> Option<(Option<f64>, Option<f64>, f64)> {
    let cost = r
        .cost
        .as_ref()
        .filter(|c| c.currency == "USD" && r.billable)?;
    let total = cost.total()?;
    let sum = |parts: &[Option<f64>]| {
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum::<f64>())
    };
    let input = sum(&[cost.input, cost.cache_read_input, cost.cache_creation_input]);
    let output = sum(&[cost.output, cost.reasoning]);
    Some((input, output, total))
}
