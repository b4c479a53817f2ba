//! Sentry (AI Agents): OTLP to the project's `/api/<project>/integration/otlp/v1/traces`, with the
//! `x-sentry-auth` header, both from the DSN.
//!
//! What Sentry's AI views read: the span op `gen_ai.<operation>` (`sentry.op`, kept by Relay as
//! sent), the span names `chat <model>`, `invoke_agent <agent>`, `execute_tool <tool>`, messages as
//! attributes (Sentry drops span events), input tokens inclusive of cache and cache writes under
//! `gen_ai.usage.cache_creation.input_tokens` (Sentry's conventions' name), and usage only on the
//! spans that bill it: Sentry's raw sums add every span's usage.
//!
//! Variable: `SENTRY_DSN`.

use aitrace_core::{ConfigError, SpanRecord};
use aitrace_otel::{Dialect, OtelExporter};
use opentelemetry::KeyValue;

use crate::common::{build, otlp, rename, s, var};

/// A parsed DSN: `https://<public key>@<host>/<project id>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SentryDsn {
    /// `https` or `http`.
    pub scheme: String,
    /// The public key (the DSN's user).
    pub public_key: String,
    /// Host and port.
    pub host: String,
    /// A path prefix before the project id (self-hosted behind a path), without slashes at its ends.
    pub path: String,
    /// The project id.
    pub project_id: String,
}

impl std::fmt::Debug for SentryDsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentryDsn")
            .field("host", &self.host)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl SentryDsn {
    /// Parses a DSN; an error names `setting`.
    pub fn parse(setting: &str, dsn: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| {
            ConfigError::new(
                setting,
                format!(
                    "not a Sentry DSN ({why}); expected https://<public key>@<host>/<project id>"
                ),
            )
        };
        let (scheme, rest) = dsn
            .trim()
            .split_once("://")
            .ok_or_else(|| bad("no scheme"))?;
        if !matches!(scheme, "http" | "https") {
            return Err(bad("the scheme must be https or http"));
        }
        let (user, rest) = rest.split_once('@').ok_or_else(|| bad("no public key"))?;
        let public_key = user.split(':').next().unwrap_or_default();
        if public_key.is_empty() {
            return Err(bad("no public key"));
        }
        let (host, path) = rest.split_once('/').ok_or_else(|| bad("no project id"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = path.trim_end_matches('/');
        let (prefix, project_id) = match path.rsplit_once('/') {
            Some((prefix, id)) => (prefix.trim_matches('/'), id),
            None => ("", path),
        };
        if project_id.is_empty() || !project_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the project id must be a number"));
        }
        Ok(SentryDsn {
            scheme: scheme.into(),
            public_key: public_key.into(),
            host: host.into(),
            path: prefix.into(),
            project_id: project_id.into(),
        })
    }

    /// The OTLP traces URL of the project.
    pub fn traces_url(&self) -> String {
        let prefix = if self.path.is_empty() {
            String::new()
        } else {
            format!("/{}", self.path)
        };
        format!(
            "{}://{}{prefix}/api/{}/integration/otlp/v1/traces",
            self.scheme, self.host, self.project_id
        )
    }

    /// The `x-sentry-auth` header value.
    pub fn auth_header(&self) -> String {
        format!("sentry sentry_key={}", self.public_key)
    }
}

/// From `SENTRY_DSN`; `None` when it is unset.
pub fn dsn_from_vars(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SentryDsn>, ConfigError> {
    var(get, "SENTRY_DSN")
        .map(|dsn| SentryDsn::parse("SENTRY_DSN", &dsn))
        .transpose()
}

/// The Sentry exporter.
pub fn exporter(dsn: SentryDsn) -> Result<OtelExporter, ConfigError> {
    let b = otlp(
        "sentry",
        "SENTRY_DSN",
        &dsn.traces_url(),
        &[("x-sentry-auth", dsn.auth_header())],
    )?
    .dialect(SentryDialect);
    build(b, "SENTRY_DSN")
}

/// What Sentry's AI views read beyond the GenAI attributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SentryDialect;

impl Dialect for SentryDialect {
    fn extend(&self, r: &SpanRecord, a: &mut Vec<KeyValue>) {
        if let Some(op) = r.operation_name() {
            a.push(s("sentry.op", format!("gen_ai.{op}")));
        }
        rename(
            a,
            "gen_ai.usage.cache_write.input_tokens",
            "gen_ai.usage.cache_creation.input_tokens",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dsn_gives_the_otlp_url_and_the_auth_header() {
        let d = SentryDsn::parse("SENTRY_DSN", "https://abc123@o42.ingest.us.sentry.io/7").unwrap();
        assert_eq!(
            d.traces_url(),
            "https://o42.ingest.us.sentry.io/api/7/integration/otlp/v1/traces"
        );
        assert_eq!(d.auth_header(), "sentry sentry_key=abc123");
        let self_hosted =
            SentryDsn::parse("SENTRY_DSN", "http://key:secret@sentry.local:9000/base/12").unwrap();
        assert_eq!(
            self_hosted.traces_url(),
            "http://sentry.local:9000/base/api/12/integration/otlp/v1/traces"
        );
        for bad in [
            "abc@o42.ingest.sentry.io/7",
            "https://o42.ingest.sentry.io/7",
            "https://k@h/x",
        ] {
            assert_eq!(
                SentryDsn::parse("SENTRY_DSN", bad).unwrap_err().setting,
                "SENTRY_DSN",
                "{bad}"
            );
        }
    }
}
