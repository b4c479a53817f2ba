//! [`LangfuseExporter`]: OTLP/HTTP (protobuf, gzip) to `{base}/api/public/otel/v1/traces`, the way
//! Langfuse's own SDKs send, with the Langfuse dialect added to each span.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aitrace_core::export::SplitExport;
use aitrace_core::{
    ConfigError, ExportConfig, ExportError, Exporter, ScoreRecord, ScoreTargets, SpanRecord,
    TraceId,
};
use aitrace_exporter_kit::rest::JsonClient;
use aitrace_exporter_kit::settings::{first_set, validate_http_url};
use aitrace_otel::{OtelExporter, OtelExporterBuilder, OtlpTransport};
use base64::Engine as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanExporter;
use opentelemetry_sdk::Resource;
use sha2::{Digest, Sha256};

use crate::mapping::{Deployment, LangfuseDialect};

/// Langfuse Cloud (EU), the default like in Langfuse's SDKs.
pub const DEFAULT_BASE_URL: &str = "https://cloud.langfuse.com";
/// Where Langfuse receives OTLP traces, under the base URL.
pub const TRACES_PATH: &str = "/api/public/otel/v1/traces";
/// Where Langfuse receives scores, under the base URL (one per request).
pub const SCORES_PATH: &str = "/api/public/scores";
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

/// Exports aitrace spans to Langfuse: the OTel exporter with the Langfuse dialect, whole traces,
/// Langfuse's request size guidance, and a pause after rejected credentials. One OTLP client: what
/// Langfuse needs beyond OTLP is a set of options of [`OtelExporter`].
pub struct LangfuseExporter<E = OtlpTransport> {
    inner: OtelExporter<E>,
    config: LangfuseConfig,
    /// The scores route's client (`Err`: why it could not be built, reported by each score call).
    scores: Result<JsonClient, String>,
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

/// The OTel exporter's settings for Langfuse (no `OTEL_*` variable applies: Langfuse has its own).
fn settings(config: &LangfuseConfig) -> OtelExporterBuilder {
    let mut b = OtelExporter::builder()
        .name("langfuse")
        .read_env(false)
        .endpoint(config.endpoint())
        .timeout(config.timeout)
        .gzip(config.gzip)
        .resource(resource(config))
        .capture_content(config.capture_content)
        .trace_dialect(LangfuseDialect {
            deployment: config.deployment.clone(),
        })
        .max_request_bytes(MAX_REQUEST_BYTES)
        .batching(config.flush_at, config.flush_interval)
        .auth_pause(
            AUTH_COOLDOWN,
            AUTH_COOLDOWN_MAX,
            "Langfuse",
            format!(
                "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY for {}",
                config.base_url
            ),
        );
    for (k, v) in config.headers() {
        b = b.header(k, v);
    }
    b
}

impl LangfuseExporter {
    /// From the `LANGFUSE_*` environment variables; a missing key is an error naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(LangfuseConfig::from_env()?)
    }

    /// From explicit settings.
    pub fn new(config: LangfuseConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let inner = settings(&config)
            .build()
            .map_err(|e| ConfigError::new("LANGFUSE_BASE_URL", e.message))?;
        let scores = Ok(scores_client(&config)?);
        Ok(LangfuseExporter {
            inner,
            config,
            scores,
        })
    }
}

/// The client of the scores route: Basic auth and the SDK headers, like the OTLP one.
fn scores_client(config: &LangfuseConfig) -> Result<JsonClient, ConfigError> {
    JsonClient::new(
        config.timeout,
        config.headers(),
        format!(
            "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY for {}",
            config.base_url
        ),
    )
    .map_err(|e| ConfigError::new("LANGFUSE_BASE_URL", e))
}

impl<E: SpanExporter> LangfuseExporter<E> {
    /// Sends through any `SpanExporter` (tests, a proxy) instead of OTLP/HTTP.
    pub fn with_span_exporter(config: LangfuseConfig, inner: E) -> Self {
        let scores = scores_client(&config).map_err(|e| e.to_string());
        LangfuseExporter {
            inner: settings(&config).build_with(inner),
            config,
            scores,
        }
    }

    /// Posts each score (Langfuse takes one per request) and reports which of `owners` (indices
    /// into the exported batch, one per score) failed. A throttled answer stops the call: the rest
    /// are retried after its `Retry-After`.
    fn post_scores<'a>(
        &self,
        scores: impl Iterator<Item = (usize, &'a ScoreRecord)>,
        len: usize,
    ) -> Result<(), ExportError> {
        let url = format!(
            "{}{SCORES_PATH}",
            self.config.base_url.trim_end_matches('/')
        );
        let mut outcome = SplitExport::default();
        let mut failed_owner = None;
        for (owner, score) in scores {
            if outcome.throttled() {
                if failed_owner != Some(owner) {
                    outcome.not_sent([owner]);
                    failed_owner = Some(owner);
                }
                continue;
            }
            let body = crate::mapping::score_body(score, &self.config.deployment).to_string();
            let sent = match &self.scores {
                Ok(client) => client.post(&url, body.into_bytes()),
                Err(why) => Err(ExportError::fatal(why.clone())),
            };
            if let Err(e) = sent {
                let first = failed_owner != Some(owner);
                failed_owner = Some(owner);
                outcome.failed(first.then_some(owner), e);
            }
        }
        outcome.finish(len)
    }

    /// Sets the first pause after a credential rejection (default [`AUTH_COOLDOWN`]).
    pub fn with_auth_cooldown(mut self, pause: Duration) -> Self {
        self.inner = self.inner.with_auth_cooldown(pause);
        self
    }
}

impl<E: SpanExporter + 'static> Exporter for LangfuseExporter<E> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn needs_whole_traces(&self) -> bool {
        self.inner.needs_whole_traces()
    }

    /// The request a trace runs in names the trace (its name, user, session and tags are on every
    /// span); it is not an observation of its own.
    fn receives_request_spans(&self) -> bool {
        false
    }

    fn configure(&self, config: &mut ExportConfig) {
        self.inner.configure(config)
    }

    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        self.inner.export(batch)?;
        // Scores recorded on the spans. A span whose score failed is sent again with it: Langfuse
        // takes a span sent twice as one observation, and a score sent twice (same id) as one.
        let scores = batch
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.scores.iter().map(move |s| (i, s)));
        self.post_scores(scores, batch.len())
    }

    /// Every target: traces, observations and sessions.
    fn score_targets(&self) -> ScoreTargets {
        ScoreTargets::ALL
    }

    /// One `POST /api/public/scores` per score. Langfuse takes a score before its trace arrives,
    /// so none is held back.
    fn export_scores(&mut self, batch: &[ScoreRecord]) -> Result<(), ExportError> {
        self.post_scores(batch.iter().enumerate(), batch.len())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.inner.flush()
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.inner.shutdown()
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
