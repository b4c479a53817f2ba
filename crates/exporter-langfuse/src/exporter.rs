//! [`LangfuseExporter`]: OTLP/HTTP (protobuf, gzip) to `{base}/api/public/otel/v1/traces`, the way
//! Langfuse's own SDKs send, with the Langfuse dialect added to each span.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aitrace_core::export::{trace_views, SplitExport};
use aitrace_core::{ConfigError, ExportConfig, ExportError, Exporter, SpanRecord, TraceId};
use aitrace_exporter_kit::settings::{first_set, validate_http_url};
use aitrace_exporter_kit::status::is_auth_status;
use aitrace_otel::http::{LastResponse, Notes, RetryAfterClient};
use aitrace_otel::mapping::span_data_with;
use aitrace_otel::{classify, partial_success_error, MappingOptions};
use base64::Engine as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Compression, Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use sha2::{Digest, Sha256};

use crate::mapping::{langfuse_attributes, Deployment, TraceContext};

/// Langfuse Cloud (EU), the default like in Langfuse's SDKs.
pub const DEFAULT_BASE_URL: &str = "https://cloud.langfuse.com";
/// Where Langfuse receives OTLP traces, under the base URL.
pub const TRACES_PATH: &str = "/api/public/otel/v1/traces";
/// Keep each request well under Langfuse's 3.5 MB request guidance.
pub const MAX_REQUEST_BYTES: usize = 3_000_000;
/// A span larger than this (estimated) has its content shortened before it is sent, leaving room in
/// the request for the OTLP envelope and attribute copies.
pub const MAX_SPAN_BYTES: usize = MAX_REQUEST_BYTES / 3;

/// A trace id derived from your own id (a request id, a conversation id), as Langfuse's SDKs derive it
/// (`sha256(seed)`, first 32 hex digits), so the same seed finds the same trace from any SDK.
pub fn trace_id_from_seed(seed: &str) -> TraceId {
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let id = TraceId::from_u128(u128::from_be_bytes(bytes));
    if id.is_valid() {
        id
    } else {
        TraceId::from_u128(1)
    }
}

/// Settings of a [`LangfuseExporter`]; `from_env` reads the variables Langfuse's SDKs use.
#[derive(Clone)]
pub struct LangfuseConfig {
    /// The project's public key (`LANGFUSE_PUBLIC_KEY`).
    pub public_key: String,
    /// The project's secret key (`LANGFUSE_SECRET_KEY`).
    pub secret_key: String,
    /// Default `https://cloud.langfuse.com`.
    pub base_url: String,
    /// Environment and release every trace is tagged with.
    pub deployment: Deployment,
    /// Per-request timeout (default 10 s; `LANGFUSE_TIMEOUT` in seconds).
    pub timeout: Duration,
    /// Spans per export call (`LANGFUSE_FLUSH_AT`).
    pub flush_at: Option<usize>,
    /// Longest wait before a partial batch is sent (`LANGFUSE_FLUSH_INTERVAL`, seconds).
    pub flush_interval: Option<Duration>,
    /// Gzip request bodies (default on).
    pub gzip: bool,
    /// Send message contents and tool arguments/results (default on).
    pub capture_content: bool,
}

impl fmt::Debug for LangfuseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LangfuseConfig")
            .field("public_key", &self.public_key)
            .field("secret_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("deployment", &self.deployment)
            .field("timeout", &self.timeout)
            .field("flush_at", &self.flush_at)
            .field("gzip", &self.gzip)
            .finish()
    }
}

impl LangfuseConfig {
    /// Keys and defaults for everything else.
    pub fn new(public_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        LangfuseConfig {
            public_key: public_key.into(),
            secret_key: secret_key.into(),
            base_url: DEFAULT_BASE_URL.to_string(),
            deployment: Deployment::default(),
            timeout: Duration::from_secs(10),
            flush_at: None,
            flush_interval: None,
            gzip: true,
            capture_content: true,
        }
    }

    /// Reads `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` (required), `LANGFUSE_BASE_URL` (or the older
    /// `LANGFUSE_HOST`), `LANGFUSE_TRACING_ENVIRONMENT`, `LANGFUSE_RELEASE`, `LANGFUSE_FLUSH_AT`,
    /// `LANGFUSE_FLUSH_INTERVAL`, `LANGFUSE_TIMEOUT`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// [`from_env`](Self::from_env) with any lookup (tests).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let require = |k: &str| {
            get(k).ok_or_else(|| {
                ConfigError::new(k, "is not set (find it in your Langfuse project settings)")
            })
        };
        let mut c = LangfuseConfig::new(
            require("LANGFUSE_PUBLIC_KEY")?,
            require("LANGFUSE_SECRET_KEY")?,
        );
        // The error names the variable the user set (LANGFUSE_HOST is the older name).
        if let Some((name, url)) = first_set(&["LANGFUSE_BASE_URL", "LANGFUSE_HOST"], &get) {
            validate_http_url(name, &url)?;
            c.base_url = url;
        }
        c.deployment.environment = get("LANGFUSE_TRACING_ENVIRONMENT");
        c.deployment.release = get("LANGFUSE_RELEASE");
        let number = |k: &str| -> Result<Option<f64>, ConfigError> {
            get(k)
                .map(|v| match v.trim().parse::<f64>() {
                    Ok(n) if n > 0.0 && n.is_finite() => Ok(n),
                    _ => Err(ConfigError::new(
                        k,
                        format!("expected a positive number, got {v:?}"),
                    )),
                })
                .transpose()
        };
        c.flush_at = get("LANGFUSE_FLUSH_AT")
            .map(|v| match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(ConfigError::new(
                    "LANGFUSE_FLUSH_AT",
                    format!("expected a positive whole number of spans, got {v:?}"),
                )),
            })
            .transpose()?;
        c.flush_interval = number("LANGFUSE_FLUSH_INTERVAL")?.map(Duration::from_secs_f64);
        if let Some(t) = number("LANGFUSE_TIMEOUT")? {
            c.timeout = Duration::from_secs_f64(t);
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks keys, URL and environment name; names the bad setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.public_key.trim().is_empty() {
            return Err(ConfigError::new("LANGFUSE_PUBLIC_KEY", "is empty"));
        }
        if self.secret_key.trim().is_empty() {
            return Err(ConfigError::new("LANGFUSE_SECRET_KEY", "is empty"));
        }
        validate_http_url("LANGFUSE_BASE_URL", &self.base_url)?;
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "LANGFUSE_TIMEOUT",
                "must be longer than zero",
            ));
        }
        if let Some(env) = &self.deployment.environment {
            let ok = !env.is_empty()
                && env.len() <= 40
                && !env.starts_with("langfuse")
                && env.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !ok {
                return Err(ConfigError::new(
                    "LANGFUSE_TRACING_ENVIRONMENT",
                    format!("{env:?}: use 1-40 lowercase letters, digits, '-' or '_', not starting with \"langfuse\""),
                ));
            }
        }
        Ok(())
    }

    /// The OTLP traces endpoint.
    pub fn endpoint(&self) -> String {
        format!("{}{TRACES_PATH}", self.base_url.trim_end_matches('/'))
    }

    /// The request headers Langfuse expects from a direct OTel exporter.
    pub fn headers(&self) -> HashMap<String, String> {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.public_key, self.secret_key));
        HashMap::from([
            ("Authorization".to_string(), format!("Basic {token}")),
            ("x-langfuse-sdk-name".to_string(), "aitrace".to_string()),
            (
                "x-langfuse-sdk-version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            ("x-langfuse-public-key".to_string(), self.public_key.clone()),
            ("x-langfuse-ingestion-version".to_string(), "4".to_string()),
        ])
    }
}

/// First pause after Langfuse rejects the credentials; doubles on each rejection, up to
/// [`AUTH_COOLDOWN_MAX`].
pub const AUTH_COOLDOWN: Duration = Duration::from_secs(60);
/// Longest pause after repeated credential rejections.
pub const AUTH_COOLDOWN_MAX: Duration = Duration::from_secs(15 * 60);

/// Exports aitrace spans to Langfuse.
pub struct LangfuseExporter<E = opentelemetry_otlp::SpanExporter> {
    inner: E,
    config: LangfuseConfig,
    options: MappingOptions,
    /// After a 401/403: no request before this instant, and how long the last pause was.
    auth_pause: Option<(std::time::Instant, Duration)>,
    auth_cooldown: Duration,
    /// The last `Retry-After` Langfuse sent (OTLP/HTTP transport only).
    last_response: Option<LastResponse>,
}

impl<E> fmt::Debug for LangfuseExporter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LangfuseExporter")
            .field("config", &self.config)
            .finish()
    }
}

fn resource(config: &LangfuseConfig) -> Resource {
    let mut attrs = Vec::new();
    if let Some(env) = &config.deployment.environment {
        attrs.push(KeyValue::new("langfuse.environment", env.clone()));
    }
    if let Some(release) = &config.deployment.release {
        attrs.push(KeyValue::new("langfuse.release", release.clone()));
    }
    Resource::builder().with_attributes(attrs).build()
}

impl LangfuseExporter {
    /// From the `LANGFUSE_*` environment variables; a missing key is an error naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(LangfuseConfig::from_env()?)
    }

    /// From explicit settings.
    pub fn new(config: LangfuseConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let (client, last_response) = RetryAfterClient::new(config.timeout).map_err(|e| {
            ConfigError::new(
                "LANGFUSE_BASE_URL",
                format!("cannot build the HTTP client: {e}"),
            )
        })?;
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.endpoint())
            .with_headers(config.headers())
            .with_timeout(config.timeout)
            // aitrace's pipeline retries (with Retry-After); one policy, not two.
            .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled());
        if config.gzip {
            builder = builder.with_compression(Compression::Gzip);
        }
        let inner = builder.build().map_err(|e| {
            ConfigError::new(
                "LANGFUSE_BASE_URL",
                format!("cannot build the exporter: {e}"),
            )
        })?;
        let mut exporter = Self::with_span_exporter(config, inner);
        exporter.last_response = Some(last_response);
        Ok(exporter)
    }
}

impl<E: SpanExporter> LangfuseExporter<E> {
    /// Sends through any `SpanExporter` (tests, a proxy) instead of OTLP/HTTP.
    pub fn with_span_exporter(config: LangfuseConfig, mut inner: E) -> Self {
        inner.set_resource(&resource(&config));
        let options = MappingOptions {
            capture_content: config.capture_content,
            ..MappingOptions::default()
        };
        LangfuseExporter {
            inner,
            config,
            options,
            auth_pause: None,
            auth_cooldown: AUTH_COOLDOWN,
            last_response: None,
        }
    }

    /// Sets the first pause after a credential rejection (default [`AUTH_COOLDOWN`]).
    pub fn with_auth_cooldown(mut self, pause: Duration) -> Self {
        self.auth_cooldown = pause;
        self
    }

    /// A failed request as an export error: with the server's `Retry-After` when retryable; a 401/403
    /// starts (or doubles) the pause before the next try and names the key variables.
    fn request_error(
        &mut self,
        e: opentelemetry_sdk::error::OTelSdkError,
        notes: &Notes,
    ) -> ExportError {
        let mut e = classify(e, notes.status);
        if let Some(d) = notes.retry_after.filter(|_| e.retryable) {
            e = e.with_retry_after(d);
        }
        if let Some(status) = notes.status.filter(|s| is_auth_status(*s)) {
            let pause = match self.auth_pause {
                Some((_, last)) => (last * 2).min(AUTH_COOLDOWN_MAX),
                None => self.auth_cooldown,
            };
            self.auth_pause = Some((std::time::Instant::now() + pause, pause));
            e = self.auth_error(&status.to_string());
        } else {
            self.auth_pause = None;
        }
        e
    }

    fn auth_error(&self, status: &str) -> ExportError {
        ExportError::fatal(format!(
            "Langfuse rejected the credentials ({status}): check LANGFUSE_PUBLIC_KEY and \
             LANGFUSE_SECRET_KEY for {}; sending paused",
            self.config.base_url
        ))
    }

    /// Maps a batch of whole traces to spans with the Langfuse dialect, dropping (and reporting the
    /// index of) any span whose ids Langfuse would reject, since one bad id fails the whole request.
    pub fn map_batch(&self, batch: &[SpanRecord]) -> (Vec<(usize, SpanData)>, Vec<usize>) {
        let mut mapped = Vec::with_capacity(batch.len());
        let mut invalid = Vec::new();
        for trace in trace_views(batch) {
            let ctx = TraceContext::of(&trace);
            for (&r, &index) in trace.spans.iter().zip(&trace.indices) {
                if !r.trace_id.is_valid() || !r.span_id.is_valid() {
                    invalid.push(index);
                    continue;
                }
                let attributes = langfuse_attributes(r, &ctx, &self.config.deployment);
                mapped.push((index, span_data_with(r, &self.options, attributes)));
            }
        }
        (mapped, invalid)
    }
}

impl<E: SpanExporter + 'static> Exporter for LangfuseExporter<E> {
    fn name(&self) -> &str {
        "langfuse"
    }

    fn needs_whole_traces(&self) -> bool {
        true
    }

    fn configure(&self, config: &mut ExportConfig) {
        if let Some(n) = self.config.flush_at {
            config.max_batch_size = n;
        }
        if let Some(d) = self.config.flush_interval {
            config.max_batch_age = d;
        }
        config.max_batch_bytes = config.max_batch_bytes.min(MAX_REQUEST_BYTES);
    }

    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        // Bad credentials fail every request the same way: say it once, pause, and count the drops
        // instead of sending each batch to be rejected again.
        if let Some((until, _)) = self.auth_pause {
            if std::time::Instant::now() < until {
                return Err(self.auth_error("earlier 401/403"));
            }
        }
        // A span alone over the request limit would be refused: shorten its content instead (with a
        // visible marker), so it still arrives and never fails the batch it came in.
        let shortened: Vec<SpanRecord>;
        let batch = if batch.iter().any(|r| r.estimated_size() > MAX_SPAN_BYTES) {
            shortened = batch
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    if r.estimated_size() > MAX_SPAN_BYTES {
                        r.shrink_to(MAX_SPAN_BYTES / 2, MAX_SPAN_BYTES);
                    }
                    r
                })
                .collect();
            &shortened[..]
        } else {
            batch
        };
        let (mapped, mut failed) = self.map_batch(batch);
        // Split into requests under the size limit, never splitting a span.
        let mut requests: Vec<Vec<(usize, SpanData)>> = vec![Vec::new()];
        let mut bytes = 0;
        for (index, span) in mapped {
            let size = batch[index].estimated_size();
            if bytes + size > MAX_REQUEST_BYTES && !requests.last().is_some_and(Vec::is_empty) {
                requests.push(Vec::new());
                bytes = 0;
            }
            bytes += size;
            if let Some(last) = requests.last_mut() {
                last.push((index, span));
            }
        }
        let mut outcome = SplitExport::new(Vec::new(), None);
        if !failed.is_empty() {
            // One bad id fails a whole OTLP request, so those spans were left out: never resent.
            let e = ExportError::fatal("spans with invalid ids were not sent");
            outcome.failed(std::mem::take(&mut failed), e);
        }
        for request in requests.into_iter().filter(|r| !r.is_empty()) {
            let indices: Vec<usize> = request.iter().map(|(i, _)| *i).collect();
            if outcome.throttled() {
                outcome.not_sent(indices);
                continue;
            }
            let spans = request.into_iter().map(|(_, s)| s).collect();
            let result = futures_executor::block_on(self.inner.export(spans));
            let notes = self
                .last_response
                .as_ref()
                .map(LastResponse::take)
                .unwrap_or_default();
            match result {
                Ok(()) => {
                    if let Some(rejected) = notes.rejected {
                        let e = partial_success_error(&rejected, indices.into_iter());
                        let rejected = e.failed.clone().unwrap_or_default();
                        outcome.failed(rejected, e);
                    }
                }
                Err(e) => {
                    let e = self.request_error(e, &notes);
                    outcome.failed(indices, e);
                }
            }
        }
        outcome.finish(batch.len())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.inner.force_flush().map_err(|e| classify(e, None))
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.inner.shutdown().map_err(|e| classify(e, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aitrace_core::testing::env_vars as vars;

    #[test]
    fn seeded_trace_ids_match_the_langfuse_sdks() {
        // sha256("my-request-1") starts with these 32 hex digits (the SDKs' create_trace_id(seed)).
        let id = trace_id_from_seed("my-request-1");
        let expected = {
            let d = Sha256::digest(b"my-request-1");
            d[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(id.to_string(), expected);
        assert_eq!(trace_id_from_seed("my-request-1"), id);
        assert_ne!(trace_id_from_seed("my-request-2"), id);
    }

    #[test]
    fn env_config_names_missing_or_bad_settings() {
        let err = LangfuseConfig::from_vars(vars(&[("LANGFUSE_SECRET_KEY", "sk")])).unwrap_err();
        assert_eq!(err.setting, "LANGFUSE_PUBLIC_KEY");
        let err = LangfuseConfig::from_vars(vars(&[("LANGFUSE_PUBLIC_KEY", "pk")])).unwrap_err();
        assert_eq!(err.setting, "LANGFUSE_SECRET_KEY");
        let base = [
            ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
            ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
        ];
        let c = LangfuseConfig::from_vars(vars(&base)).unwrap();
        assert_eq!(
            c.endpoint(),
            "https://cloud.langfuse.com/api/public/otel/v1/traces"
        );
        for (k, v) in [
            ("LANGFUSE_BASE_URL", "cloud.langfuse.com"),
            ("LANGFUSE_TRACING_ENVIRONMENT", "Production"),
            ("LANGFUSE_TRACING_ENVIRONMENT", "langfuse-prod"),
            ("LANGFUSE_FLUSH_AT", "0"),
            ("LANGFUSE_TIMEOUT", "soon"),
            ("LANGFUSE_TIMEOUT", "0"),
            ("LANGFUSE_BASE_URL", "http://bad host"),
            ("LANGFUSE_HOST", "http://bad host"),
            ("LANGFUSE_HOST", "localhost:3000"),
            ("LANGFUSE_FLUSH_AT", "2.5"),
        ] {
            let mut all = base.to_vec();
            all.push((k, v));
            assert_eq!(
                LangfuseConfig::from_vars(vars(&all)).unwrap_err().setting,
                k,
                "{k}={v}"
            );
        }
        let mut all = base.to_vec();
        all.extend([
            ("LANGFUSE_HOST", "http://localhost:3000/"),
            ("LANGFUSE_TRACING_ENVIRONMENT", "staging"),
            ("LANGFUSE_RELEASE", "1.2.3"),
            ("LANGFUSE_FLUSH_AT", "50"),
            ("LANGFUSE_TIMEOUT", "2.5"),
        ]);
        let c = LangfuseConfig::from_vars(vars(&all)).unwrap();
        assert_eq!(
            c.endpoint(),
            "http://localhost:3000/api/public/otel/v1/traces"
        );
        assert_eq!(c.flush_at, Some(50));
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.deployment.release.as_deref(), Some("1.2.3"));
        let h = c.headers();
        assert_eq!(h["Authorization"], "Basic cGstbGYtMTpzay1sZi0x");
        assert_eq!(h["x-langfuse-ingestion-version"], "4");
        assert!(
            !format!("{c:?}").contains("sk-lf-1"),
            "the secret never appears in Debug output"
        );
    }
}
