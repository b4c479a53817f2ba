//! [`BraintrustExporter`]: `POST /v1/project_logs/{project_id}/insert` with one complete row per span,
//! on aitrace's worker thread with a blocking HTTP client.

use std::fmt;
use std::time::Duration;

use aitrace_core::export::{json_text, parse_retry_after, truncate_strings, SplitExport};
use aitrace_core::{
    ConfigError, ExportConfig, ExportError, Exporter, ScoreRecord, ScoreTarget, ScoreTargets,
    SpanRecord,
};
use aitrace_exporter_kit::failure::{http_status_text, TransportFailure};
use aitrace_exporter_kit::rest::RecentRoots;
use aitrace_exporter_kit::settings::{validate_header, validate_http_url};
use serde::Serialize;
use serde_json::{json, Value};

use crate::mapping::rows;

/// Braintrust's API, the default like in its SDKs.
pub const DEFAULT_API_URL: &str = "https://api.braintrust.dev";
/// Rows per insert request (the SDKs' default batch size).
pub const MAX_ROWS_PER_REQUEST: usize = 100;
/// Bytes per insert request, well under the 6 MiB the API accepts.
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// A single field longer than this is cut with a marker so one row never exceeds a request.
pub const MAX_FIELD_BYTES: usize = 1024 * 1024;

/// Which project the logs go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectRef {
    /// By name: resolved once with `POST /v1/project {name}` (which returns the existing project).
    Name(String),
    /// By id: used as is.
    Id(String),
}

/// Settings of a [`BraintrustExporter`].
#[derive(Clone)]
pub struct BraintrustConfig {
    /// The API key (`BRAINTRUST_API_KEY`).
    pub api_key: String,
    /// Default `https://api.braintrust.dev`.
    pub api_url: String,
    /// The project logs go to, by name or id.
    pub project: ProjectRef,
    /// Per-request timeout (default 30 s).
    pub timeout: Duration,
}

impl fmt::Debug for BraintrustConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BraintrustConfig")
            .field("api_key", &"<redacted>")
            .field("api_url", &self.api_url)
            .field("project", &self.project)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl BraintrustConfig {
    /// A key and a project name.
    pub fn new(api_key: impl Into<String>, project_name: impl Into<String>) -> Self {
        BraintrustConfig {
            api_key: api_key.into(),
            api_url: DEFAULT_API_URL.to_string(),
            project: ProjectRef::Name(project_name.into()),
            timeout: Duration::from_secs(30),
        }
    }

    /// Reads `BRAINTRUST_API_KEY` (required), `BRAINTRUST_API_URL`, and the project from
    /// `BRAINTRUST_PROJECT_ID`, else `BRAINTRUST_PROJECT`, else `default_project`.
    pub fn from_env(default_project: &str) -> Result<Self, ConfigError> {
        Self::from_vars(default_project, |k| {
            std::env::var(k).ok().filter(|v| !v.trim().is_empty())
        })
    }

    /// [`from_env`](Self::from_env) with any lookup (tests).
    pub fn from_vars(
        default_project: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let key = get("BRAINTRUST_API_KEY").ok_or_else(|| {
            ConfigError::new(
                "BRAINTRUST_API_KEY",
                "is not set (create an API key in your Braintrust settings)",
            )
        })?;
        let mut c = BraintrustConfig::new(key, default_project);
        if let Some(url) = get("BRAINTRUST_API_URL") {
            validate_http_url("BRAINTRUST_API_URL", &url)?;
            c.api_url = url;
        }
        if let Some(id) = get("BRAINTRUST_PROJECT_ID") {
            c.project = ProjectRef::Id(id);
        } else if let Some(name) = get("BRAINTRUST_PROJECT") {
            c.project = ProjectRef::Name(name);
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the key, the URL and the project; names the bad setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.api_key.trim().is_empty() {
            return Err(ConfigError::new("BRAINTRUST_API_KEY", "is empty"));
        }
        validate_http_url("BRAINTRUST_API_URL", &self.api_url)?;
        validate_header(
            "BRAINTRUST_API_KEY",
            "authorization",
            &format!("Bearer {}", self.api_key),
        )?;
        if self.timeout.is_zero() {
            return Err(ConfigError::new("timeout", "must be longer than zero"));
        }
        match &self.project {
            ProjectRef::Name(n) if n.trim().is_empty() => {
                Err(ConfigError::new("BRAINTRUST_PROJECT", "is empty"))
            }
            ProjectRef::Id(i) if i.trim().is_empty() || i.contains('/') => Err(ConfigError::new(
                "BRAINTRUST_PROJECT_ID",
                format!("{i:?} is not a project id"),
            )),
            _ => Ok(()),
        }
    }
}

/// Exports aitrace spans to Braintrust project logs.
pub struct BraintrustExporter {
    config: BraintrustConfig,
    http: reqwest::blocking::Client,
    project_id: Option<String>,
    /// The first root row of each trace sent lately: feedback about a whole trace goes there.
    roots: RecentRoots,
}

impl fmt::Debug for BraintrustExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BraintrustExporter")
            .field("config", &self.config)
            .field("project_id", &self.project_id)
            .finish()
    }
}

/// The answer's `Retry-After`, if it has one.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?)
}

impl BraintrustExporter {
    /// From `BRAINTRUST_*` variables; `default_project` is the project name when none is set.
    pub fn from_env(default_project: &str) -> Result<Self, ConfigError> {
        Self::new(BraintrustConfig::from_env(default_project)?)
    }

    /// From explicit settings.
    pub fn new(config: BraintrustConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("aitrace-braintrust/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ConfigError::new(
                    "BRAINTRUST_API_URL",
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        let project_id = match &config.project {
            ProjectRef::Id(id) => Some(id.clone()),
            ProjectRef::Name(_) => None,
        };
        Ok(BraintrustExporter {
            config,
            http,
            project_id,
            roots: RecentRoots::default(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_url.trim_end_matches('/'))
    }

    /// Sends a JSON body and classifies the answer like the SDKs: 429/5xx/connection errors retry,
    /// 401/403 name the key variable, other 4xx are fatal.
    fn post(&self, path: &str, body: Vec<u8>) -> Result<Value, ExportError> {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.config.api_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .map_err(|e| {
                let failure = TransportFailure::of(&e);
                let message = format!("POST {}: {failure}", self.url(path));
                if failure.unreachable() {
                    ExportError::unreachable(message)
                } else {
                    ExportError::retryable(message)
                }
            })?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let text = response.text().unwrap_or_default();
        let snippet: String = text.chars().take(300).collect();
        match status {
            200..=299 => serde_json::from_str(&text).map_err(|e| {
                ExportError::retryable(format!("POST {path}: unreadable response ({e}): {snippet}"))
            }),
            401 | 403 => Err(ExportError::fatal(format!(
                "Braintrust rejected the API key ({status}): check BRAINTRUST_API_KEY for {}",
                self.config.api_url
            ))),
            408 | 429 | 500..=599 => {
                let e = ExportError::retryable(format!(
                    "POST {}: {}",
                    self.url(path),
                    http_status_text(status, text.as_bytes())
                ));
                Err(match wait {
                    Some(d) => e.with_retry_after(d),
                    None => e,
                })
            }
            _ => Err(ExportError::fatal(format!(
                "POST {}: {}",
                self.url(path),
                http_status_text(status, text.as_bytes())
            ))),
        }
    }

    /// The project id: configured, or resolved once by name and cached.
    pub fn project_id(&mut self) -> Result<String, ExportError> {
        if let Some(id) = &self.project_id {
            return Ok(id.clone());
        }
        let ProjectRef::Name(name) = &self.config.project else {
            return Err(ExportError::fatal("no project configured"));
        };
        let body = json_text(&json!({ "name": name })).into_bytes();
        let project = self.post("/v1/project", body)?;
        let id = project["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                ExportError::retryable(format!("POST /v1/project returned no id: {project}"))
            })?
            .to_string();
        self.project_id = Some(id.clone());
        Ok(id)
    }

    /// Groups encoded rows into requests under the row and byte limits.
    fn requests(rows: Vec<EncodedRow>) -> Vec<Vec<EncodedRow>> {
        // The envelope `{"events":[]}` and a comma per row count too.
        const ENVELOPE: usize = 13;
        let mut out: Vec<Vec<EncodedRow>> = vec![Vec::new()];
        let mut bytes = ENVELOPE;
        for row in rows {
            let size = row.json.len() + 1;
            let current = out.last().map_or(0, Vec::len);
            if current > 0 && (current >= MAX_ROWS_PER_REQUEST || bytes + size > MAX_REQUEST_BYTES)
            {
                out.push(Vec::new());
                bytes = ENVELOPE;
            }
            bytes += size;
            if let Some(last) = out.last_mut() {
                last.push(row);
            }
        }
        out.retain(|r| !r.is_empty());
        out
    }
}

/// One row written as JSON, with its position in the batch and its id.
struct EncodedRow {
    index: usize,
    id: String,
    json: Vec<u8>,
}

impl EncodedRow {
    /// Serializes `row` once; a row over half a request has every string longer than
    /// [`MAX_FIELD_BYTES`] cut, so one huge span never makes a request the API refuses.
    /// Fails only if the row cannot be written as JSON at all.
    fn new(index: usize, id: String, row: &impl Serialize) -> serde_json::Result<Self> {
        let mut json = serde_json::to_vec(row)?;
        if json.len() > MAX_REQUEST_BYTES / 2 {
            if let Ok(mut value) = serde_json::from_slice::<Value>(&json) {
                truncate_strings(&mut value, MAX_FIELD_BYTES);
                json = json_text(&value).into_bytes();
            }
        }
        Ok(EncodedRow { index, id, json })
    }
}

/// `{"events":[row,row,…]}` from rows already written.
fn insert_body(rows: &[EncodedRow]) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + rows.iter().map(|r| r.json.len() + 1).sum::<usize>());
    body.extend_from_slice(b"{\"events\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&row.json);
    }
    body.extend_from_slice(b"]}");
    body
}

impl Exporter for BraintrustExporter {
    fn name(&self) -> &str {
        "braintrust"
    }

    fn needs_whole_traces(&self) -> bool {
        true
    }

    /// The request a trace runs in names the trace (its name, user, session and tags are on every
    /// span); it is not an observation of its own.
    fn receives_request_spans(&self) -> bool {
        false
    }

    fn configure(&self, config: &mut ExportConfig) {
        config.max_batch_size = config.max_batch_size.min(MAX_ROWS_PER_REQUEST * 5);
    }

    /// Traces and spans; Braintrust has no sessions.
    fn score_targets(&self) -> ScoreTargets {
        ScoreTargets::TRACES_AND_SPANS
    }

    /// Feedback on the rows the scores name (a span's row; a trace's root row, when this exporter
    /// sent that trace), in one request; a score about a trace sent elsewhere is a `score` row of
    /// that trace. Scores wait for their trace's rows here (whole traces), so the row exists first.
    fn export_scores(&mut self, batch: &[ScoreRecord]) -> Result<(), ExportError> {
        let project = self.project_id()?;
        let mut feedback = Vec::new();
        let mut rows = Vec::new();
        for s in batch {
            match &s.target {
                ScoreTarget::Span { span_id, .. } => {
                    feedback.push(crate::mapping::feedback_item(s, &span_id.to_string()))
                }
                ScoreTarget::Trace { trace_id } => match self.roots.root(*trace_id) {
                    Some(root) => {
                        feedback.push(crate::mapping::feedback_item(s, &root.to_string()))
                    }
                    None => rows.push(crate::mapping::score_row(s, *trace_id)),
                },
                ScoreTarget::Session { .. } => {}
            }
        }
        if !rows.is_empty() {
            let body = json_text(&json!({ "events": rows })).into_bytes();
            self.post(&format!("/v1/project_logs/{project}/insert"), body)?;
        }
        if !feedback.is_empty() {
            let body = json_text(&json!({ "feedback": feedback })).into_bytes();
            self.post(&format!("/v1/project_logs/{project}/feedback"), body)?;
        }
        Ok(())
    }

    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        for r in batch {
            if r.is_local_root() {
                self.roots.note(r.trace_id, r.span_id);
            }
        }
        let project = self.project_id()?;
        let path = format!("/v1/project_logs/{project}/insert");
        let mut failed: Vec<usize> = Vec::new();
        let mut error: Option<ExportError> = None;
        let mut encoded = Vec::with_capacity(batch.len());
        for (index, row) in rows(batch) {
            match EncodedRow::new(index, row.id().to_string(), &row) {
                Ok(row) => encoded.push(row),
                Err(e) => {
                    // Not retryable: the same record would fail the same way.
                    failed.push(index);
                    error.get_or_insert(ExportError::fatal(format!("unwritable row: {e}")));
                }
            }
        }
        let mut outcome = SplitExport::new(failed, error);
        for request in Self::requests(encoded) {
            if outcome.throttled() {
                outcome.not_sent(request.iter().map(|row| row.index));
                continue;
            }
            let sent = request.len();
            match self.post(&path, insert_body(&request)) {
                Ok(answer) => {
                    // Only rows whose id is missing from `row_ids` are sent again (an insert with
                    // the same id is an upsert, so a row acknowledged twice is still one row).
                    let acknowledged: std::collections::HashSet<&str> = answer["row_ids"]
                        .as_array()
                        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let missing: Vec<usize> = request
                        .iter()
                        .filter(|row| !acknowledged.contains(row.id.as_str()))
                        .map(|row| row.index)
                        .collect();
                    if !missing.is_empty() {
                        let e = ExportError::retryable(format!(
                            "insert acknowledged {} of {sent} rows",
                            sent - missing.len()
                        ));
                        outcome.failed(missing, e);
                    }
                }
                Err(e) => outcome.failed(request.iter().map(|row| row.index), e),
            }
        }
        outcome.finish(batch.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aitrace_core::testing::env_vars;

    #[test]
    fn env_config_names_missing_or_bad_settings() {
        let err = BraintrustConfig::from_vars("app", env_vars(&[])).unwrap_err();
        assert_eq!(err.setting, "BRAINTRUST_API_KEY");
        let c = BraintrustConfig::from_vars("app", env_vars(&[("BRAINTRUST_API_KEY", "sk-bt")]))
            .unwrap();
        assert_eq!(
            (c.api_url.as_str(), &c.project),
            (DEFAULT_API_URL, &ProjectRef::Name("app".into()))
        );
        let c = BraintrustConfig::from_vars(
            "app",
            env_vars(&[
                ("BRAINTRUST_API_KEY", "k"),
                ("BRAINTRUST_PROJECT", "p"),
                ("BRAINTRUST_PROJECT_ID", "uuid-1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.project,
            ProjectRef::Id("uuid-1".into()),
            "the id wins over the name"
        );
        let bad = BraintrustConfig::from_vars(
            "app",
            env_vars(&[
                ("BRAINTRUST_API_KEY", "k"),
                ("BRAINTRUST_API_URL", "api.braintrust.dev"),
            ]),
        );
        assert_eq!(bad.unwrap_err().setting, "BRAINTRUST_API_URL");
        for (k, v) in [
            ("BRAINTRUST_API_URL", "http://bad host"),
            ("BRAINTRUST_API_KEY", "key\nwith a line break"),
        ] {
            let mut vars = vec![(k, v)];
            if k != "BRAINTRUST_API_KEY" {
                vars.push(("BRAINTRUST_API_KEY", "k"));
            }
            let err = BraintrustConfig::from_vars("app", env_vars(&vars)).unwrap_err();
            assert_eq!(err.setting, k, "{k}={v:?}");
        }
        assert!(
            !format!("{c:?}").contains("\"k\""),
            "the key never appears in Debug output"
        );
    }

    #[test]
    fn requests_respect_row_and_byte_limits_and_cut_huge_fields() {
        let encode = |i: usize, v: Value| EncodedRow::new(i, i.to_string(), &v).unwrap();
        let rows = (0..250).map(|i| encode(i, json!({"id": i.to_string()})));
        let reqs = BraintrustExporter::requests(rows.collect());
        assert_eq!(
            reqs.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        let body: Value = serde_json::from_slice(&insert_body(&reqs[2])).unwrap();
        assert_eq!(body["events"].as_array().unwrap().len(), 50);
        assert_eq!(body["events"][49]["id"], "249");

        let huge = "x".repeat(4 * MAX_FIELD_BYTES);
        let rows = vec![
            encode(0, json!({"input": huge})),
            encode(1, json!({"input": "small"})),
        ];
        let reqs = BraintrustExporter::requests(rows);
        let first: Value = serde_json::from_slice(&reqs[0][0].json).unwrap();
        let text = first["input"].as_str().unwrap();
        assert!(text.len() < MAX_FIELD_BYTES + 100 && text.contains("…[truncated: kept"));
        // Three rows of just under 2.5 MiB each: two fit a 5 MiB request, the third starts another.
        let big = "y".repeat(MAX_REQUEST_BYTES / 2 - 100);
        let rows = (0..3).map(|i| encode(i, json!({"input": big}))).collect();
        let reqs = BraintrustExporter::requests(rows);
        assert_eq!(reqs.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
        assert!(reqs
            .iter()
            .all(|r| insert_body(r).len() <= MAX_REQUEST_BYTES));
    }
}
