//! [`OtelExporterBuilder`]: the settings of an [`OtelExporter`], from code and from the `OTEL_*`
//! variables, checked when it is built; the OTLP transports (HTTP/protobuf, gRPC).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aitrace_core::ConfigError;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Compression, Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SpanExporter;
use opentelemetry_sdk::Resource;

use crate::exporter::{OtelExporter, OtlpTransport};
use crate::http::{LastResponse, RetryAfterClient};
use crate::mapping::{Dialect, MappingOptions};
use crate::openinference::OpenInference;
use crate::semconv::{self, SemconvMode};
use crate::send::{AuthPause, Delivery, TraceDialect};
use crate::settings::{
    first_set, parse_key_values, parse_timeout_ms, validate_header, validate_http_url,
};

/// Settings of an [`OtelExporter`]; every one has an `OTEL_*` environment default.
pub struct OtelExporterBuilder {
    endpoint: Option<String>,
    headers: HashMap<String, String>,
    timeout: Option<Duration>,
    resource: Option<Resource>,
    resource_attributes: Vec<KeyValue>,
    options: MappingOptions,
    semconv: Option<SemconvMode>,
    openinference: bool,
    dialects: Vec<Box<dyn Dialect>>,
    name: String,
    grpc: Option<bool>,
    gzip: bool,
    read_env: bool,
    delivery: Delivery,
    /// Phoenix's base URL for annotations: `Some(None)` off, `Some(Some(url))` set, `None`
    /// derived from the endpoint when OpenInference is on.
    phoenix_annotations: Option<Option<String>>,
    score_routes: Vec<Box<dyn crate::exporter::ScoreRoute>>,
}

impl fmt::Debug for OtelExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelExporterBuilder")
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("options", &self.options)
            .field("openinference", &self.openinference)
            .finish()
    }
}

impl Default for OtelExporterBuilder {
    fn default() -> Self {
        OtelExporterBuilder {
            endpoint: None,
            headers: HashMap::new(),
            timeout: None,
            resource: None,
            resource_attributes: Vec::new(),
            options: MappingOptions::default(),
            semconv: None,
            openinference: false,
            dialects: Vec::new(),
            name: "otel".to_string(),
            grpc: None,
            gzip: false,
            read_env: true,
            delivery: Delivery::default(),
            phoenix_annotations: None,
            score_routes: Vec::new(),
        }
    }
}

impl OtelExporterBuilder {
    /// The full OTLP/HTTP traces URL (`http://localhost:4318/v1/traces`). Default:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else
    /// `http://localhost:4318/v1/traces`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }
    /// Adds a request header (also from `OTEL_EXPORTER_OTLP_HEADERS`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
    /// Per-request timeout (default `OTEL_EXPORTER_OTLP_TIMEOUT`, else 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Replaces the resource (default: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and the SDK's
    /// detectors).
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }
    /// Adds a resource attribute (e.g. `openinference.project.name` to pick a Phoenix project).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource_attributes
            .push(KeyValue::new(key.into(), value.into()));
        self
    }
    /// Whether message contents, tool arguments/results and documents are sent (default true).
    pub fn capture_content(mut self, on: bool) -> Self {
        self.options.capture_content = on;
        self
    }
    /// Whether span names follow the conventions (`chat gpt-4o`) or keep the span's own name.
    pub fn semconv_span_names(mut self, on: bool) -> Self {
        self.options.semconv_span_names = on;
        self
    }
    /// Which GenAI names to write where the conventions renamed one: the current and the previous
    /// (default, [`SemconvMode::Transition`]) or the current only. Default: `Latest` when
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` lists `gen_ai_latest_experimental`.
    pub fn semconv(mut self, mode: SemconvMode) -> Self {
        self.semconv = Some(mode);
        self
    }

    /// Adds the OpenInference attributes Phoenix and Arize read natively.
    pub fn openinference(mut self, on: bool) -> Self {
        self.openinference = on;
        self
    }
    /// Adds a vendor dialect.
    pub fn dialect(mut self, dialect: impl Dialect) -> Self {
        self.dialects.push(Box::new(dialect));
        self
    }
    /// Send over gRPC (feature `grpc`) instead of HTTP/protobuf. Default: from
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or `http/protobuf`).
    pub fn grpc(mut self, on: bool) -> Self {
        self.grpc = Some(on);
        self
    }
    /// The exporter's name in stats and metadata routing (default `otel`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// Compresses requests with gzip (OTLP/HTTP).
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }
    /// Whether unset settings come from the `OTEL_*` variables (default true). A vendor exporter
    /// with its own variables (Langfuse's `LANGFUSE_*`) turns this off.
    pub fn read_env(mut self, on: bool) -> Self {
        self.read_env = on;
        self
    }
    /// A vendor's attributes, written from whole traces (they replace the GenAI attributes, and the
    /// pipeline then delivers whole traces).
    pub fn trace_dialect(mut self, dialect: impl TraceDialect) -> Self {
        self.delivery.trace_dialect = Some(Box::new(dialect));
        self.delivery.whole_traces = true;
        self
    }
    /// Most estimated bytes per request: a batch goes in several requests (a span is never split),
    /// and a span larger than a third of it has its content shortened, with a marker.
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.delivery.max_request_bytes = Some(bytes.max(1));
        self
    }
    /// Most spans per request, whatever the batch size (a batch goes in several requests).
    pub fn max_request_spans(mut self, spans: usize) -> Self {
        self.delivery.max_request_spans = Some(spans.max(1));
        self
    }
    /// Records per batch and how long a batch waits (the vendor's flush settings), unless the
    /// exporter is added with its own `ExportConfig`.
    pub fn batching(mut self, size: Option<usize>, age: Option<Duration>) -> Self {
        self.delivery.batch_size = size;
        self.delivery.batch_age = age;
        self
    }
    /// After a 401/403, no request for `first` (doubling on each rejection, up to `longest`), and
    /// one error naming the backend (`who`) and what to `check`.
    pub fn auth_pause(
        mut self,
        first: Duration,
        longest: Duration,
        who: impl Into<String>,
        check: impl Into<String>,
    ) -> Self {
        self.delivery.auth = Some(AuthPause {
            first,
            longest,
            who: who.into(),
            check: check.into(),
            until: None,
        });
        self
    }

    fn resolved_resource(&mut self) -> Resource {
        let base = self
            .resource
            .take()
            .unwrap_or_else(|| Resource::builder().build());
        if self.resource_attributes.is_empty() {
            return base;
        }
        let mut attrs: Vec<KeyValue> = base
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        attrs.append(&mut self.resource_attributes);
        Resource::builder_empty().with_attributes(attrs).build()
    }

    fn finish<E: SpanExporter>(mut self, mut inner: E) -> OtelExporter<E> {
        inner.set_resource(&self.resolved_resource());
        let mut dialects = Vec::new();
        if self.openinference {
            dialects.push(Box::new(OpenInference {
                capture_content: self.options.capture_content,
            }) as Box<dyn Dialect>);
        }
        dialects.append(&mut self.dialects);
        OtelExporter {
            inner,
            last_response: None,
            options: self.options,
            dialects,
            name: self.name,
            delivery: self.delivery,
            grpc_target: None,
            roots: aitrace_exporter_kit::rest::RecentRoots::default(),
            score_routes: std::mem::take(&mut self.score_routes),
        }
    }

    /// Builds the OTLP exporter (HTTP/protobuf, or gRPC). Every setting, from code or from the
    /// `OTEL_*` variables, is checked here: an invalid one is an error naming the setting (the
    /// signal-specific `OTEL_EXPORTER_OTLP_TRACES_*` variable when that is the one set), not a batch
    /// that fails later.
    pub fn build(self) -> Result<OtelExporter, ConfigError> {
        if self.read_env {
            self.build_with_vars(|k| std::env::var(k).ok())
        } else {
            self.build_with_vars(|_| None)
        }
    }

    /// [`build`](Self::build) with the `OTEL_*` settings read through `get` instead of the process
    /// environment (`aitrace::from_env` and tests).
    pub fn build_with_vars(
        mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<OtelExporter, ConfigError> {
        let env = OtlpEnv::read(&get)?;
        self.options.semconv = self
            .semconv
            .unwrap_or_else(|| SemconvMode::from_opt_in(get(semconv::OPT_IN_VAR).as_deref()));
        let grpc = match self.grpc {
            Some(on) => on,
            None => env.grpc,
        };
        match &self.endpoint {
            Some(url) => validate_http_url("endpoint", url)?,
            None => {
                if let Some((name, url)) = &env.endpoint {
                    validate_http_url(name, url)?;
                }
            }
        }
        for (k, v) in &self.headers {
            validate_header("header", k, v)?;
        }
        match self.timeout {
            Some(t) if t.is_zero() => {
                return Err(ConfigError::new("timeout", "must be longer than zero"))
            }
            Some(_) => {}
            None => self.timeout = env.timeout,
        }
        let grpc_target = grpc.then(|| {
            self.endpoint
                .clone()
                .or_else(|| env.endpoint.as_ref().map(|(_, url)| url.clone()))
                .unwrap_or_else(|| "http://localhost:4317".to_string())
        });
        let (transport, last_response) = if grpc {
            (self.grpc_transport()?, None)
        } else {
            let (t, r) = self.http_transport()?;
            (t, Some(r))
        };
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| env.endpoint.as_ref().map(|(_, url)| url.clone()));
        let annotations = self.annotations(endpoint.as_deref(), grpc, &env.headers)?;
        let mut exporter = self.finish(transport);
        exporter.last_response = last_response;
        exporter.grpc_target = grpc_target;
        if let Some(a) = annotations {
            exporter.score_routes.push(Box::new(a));
        }
        Ok(exporter)
    }

    fn http_transport(&self) -> Result<(OtlpTransport, LastResponse), ConfigError> {
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let (client, last_response) =
            RetryAfterClient::new(timeout).map_err(|e| build_error("HTTP client", e))?;
        let mut b = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled());
        if self.gzip {
            b = b.with_compression(Compression::Gzip);
        }
        if let Some(url) = &self.endpoint {
            b = b.with_endpoint(url.clone());
        }
        if !self.headers.is_empty() {
            b = b.with_headers(self.headers.clone());
        }
        if let Some(t) = self.timeout {
            b = b.with_timeout(t);
        }
        let exporter = b.build().map_err(|e| build_error("OTLP exporter", e))?;
        Ok((
            OtlpTransport {
                exporter,
                #[cfg(feature = "grpc")]
                runtime: None,
            },
            last_response,
        ))
    }

    #[cfg(feature = "grpc")]
    fn grpc_transport(&self) -> Result<OtlpTransport, ConfigError> {
        use opentelemetry_otlp::WithTonicConfig;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConfigError::new("grpc", format!("cannot start the gRPC runtime: {e}")))?;
        // The tonic channel must be created inside the runtime it will run on.
        let _entered = runtime.enter();
        let mut b = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled());
        if let Some(url) = &self.endpoint {
            b = b.with_endpoint(url.clone());
        }
        if !self.headers.is_empty() {
            let mut metadata = tonic::metadata::MetadataMap::new();
            for (k, v) in &self.headers {
                let key =
                    tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                        .map_err(|_| {
                            ConfigError::new(
                                "header",
                                format!("{k:?} is not a valid gRPC metadata key"),
                            )
                        })?;
                let value = v.parse().map_err(|_| {
                    ConfigError::new(
                        "header",
                        format!("the value of {k:?} is not valid gRPC metadata"),
                    )
                })?;
                metadata.insert(key, value);
            }
            b = b.with_metadata(metadata);
        }
        if let Some(t) = self.timeout {
            b = b.with_timeout(t);
        }
        let exporter = b
            .build()
            .map_err(|e| build_error("OTLP gRPC exporter", e))?;
        drop(_entered);
        Ok(OtlpTransport {
            exporter,
            runtime: Some(runtime),
        })
    }

    #[cfg(not(feature = "grpc"))]
    fn grpc_transport(&self) -> Result<OtlpTransport, ConfigError> {
        Err(ConfigError::new(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc needs the `grpc` feature of aitrace-otel (`otel-grpc` of aitrace)",
        ))
    }

    /// Adds a backend's own route for scores (a vendor preset's feedback API).
    pub fn score_route(mut self, route: impl crate::exporter::ScoreRoute) -> Self {
        self.score_routes.push(Box::new(route));
        self
    }

    /// Where scores also go as Phoenix annotations (`POST {base}/v1/span_annotations`, ...):
    /// Phoenix's base URL (`http://localhost:6006`), or `None` to send none. By default, with
    /// [`openinference(true)`](Self::openinference) over HTTP, the endpoint without `/v1/traces`.
    pub fn phoenix_annotations(mut self, base_url: Option<&str>) -> Self {
        self.phoenix_annotations = Some(base_url.map(|u| u.trim_end_matches('/').to_string()));
        self
    }

    /// The Phoenix annotation route of a build: explicit, else the HTTP endpoint's base when
    /// OpenInference is on.
    fn annotations(
        &self,
        endpoint: Option<&str>,
        grpc: bool,
        env_headers: &[(String, String)],
    ) -> Result<Option<crate::exporter::Annotations>, ConfigError> {
        let base = match &self.phoenix_annotations {
            Some(explicit) => explicit.clone(),
            None if self.openinference && !grpc => endpoint.map(|url| {
                let url = url.trim_end_matches('/');
                url.strip_suffix("/v1/traces").unwrap_or(url).to_string()
            }),
            None => None,
        };
        let Some(base) = base else { return Ok(None) };
        validate_http_url("phoenix_annotations", &base)?;
        let mut headers: Vec<(String, String)> = env_headers.to_vec();
        headers.extend(self.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        let client = aitrace_exporter_kit::rest::JsonClient::new(
            self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            headers,
            "the OTLP headers (PHOENIX_API_KEY)",
        )
        .map_err(|e| ConfigError::new("phoenix_annotations", e))?;
        Ok(Some(crate::exporter::Annotations { base, client }))
    }

    /// Uses any `SpanExporter` instead of OTLP/HTTP (an in-memory one in tests, gRPC, a vendor's).
    pub fn build_with<E: SpanExporter>(mut self, exporter: E) -> OtelExporter<E> {
        self.options.semconv = match self.semconv {
            Some(mode) => mode,
            None if self.read_env => SemconvMode::from_env(),
            None => SemconvMode::default(),
        };
        self.finish(exporter)
    }
}

/// The standard `OTEL_*` settings of the trace exporter, read and checked once. The SDK reads the same
/// variables itself; reading them here first turns a bad value into a build error naming it.
struct OtlpEnv {
    /// The OTLP headers of the environment (the signal's first), for the REST routes.
    headers: Vec<(String, String)>,
    grpc: bool,
    endpoint: Option<(&'static str, String)>,
    timeout: Option<Duration>,
}

impl OtlpEnv {
    fn read(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let first = |names: &[&'static str]| first_set(names, get);
        let grpc = match first(&[
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]) {
            None => false,
            Some((_, p)) if p.trim() == "grpc" => true,
            Some((_, p)) if p.trim() == "http/protobuf" => false,
            Some((name, p)) => {
                return Err(ConfigError::new(
                    name,
                    format!("{p:?} is not supported; use http/protobuf or grpc"),
                ))
            }
        };
        let endpoint = first(&[
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]);
        let timeout = first(&[
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ])
        .map(|(name, v)| parse_timeout_ms(name, &v))
        .transpose()?;
        let mut headers = Vec::new();
        for name in [
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ] {
            if let Some((name, v)) = first(&[name]) {
                for (k, v) in parse_key_values(name, &v)? {
                    validate_header(name, &k, &v)?;
                    if !headers
                        .iter()
                        .any(|(have, _): &(String, String)| have == &k)
                    {
                        headers.push((k, v));
                    }
                }
            }
        }
        for name in [
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ] {
            if let Some((name, v)) = first(&[name]) {
                if !matches!(v.trim(), "none" | "gzip" | "zstd") {
                    return Err(ConfigError::new(
                        name,
                        format!("{v:?} is not a compression; use none, gzip or zstd"),
                    ));
                }
            }
        }
        if let Some((name, v)) = first(&["OTEL_RESOURCE_ATTRIBUTES"]) {
            parse_key_values(name, &v)?;
        }
        Ok(OtlpEnv {
            grpc,
            endpoint,
            timeout,
            headers,
        })
    }
}

/// The per-request timeout when neither code nor the environment set one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SDK's build error, naming the compression variable when that is what it refused.
fn build_error(what: &str, e: impl std::fmt::Display) -> ConfigError {
    let message = e.to_string();
    let setting = if message.contains("compression") {
        first_set(
            &[
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                "OTEL_EXPORTER_OTLP_COMPRESSION",
            ],
            |k| std::env::var(k).ok(),
        )
        .map_or("compression", |(name, _)| name)
    } else {
        "endpoint"
    };
    ConfigError::new(setting, format!("cannot build the {what}: {message}"))
}

impl OtelExporter {
    /// Settings to adjust before building.
    pub fn builder() -> OtelExporterBuilder {
        OtelExporterBuilder::default()
    }

    /// OTLP/HTTP to the endpoint, headers and resource of the standard `OTEL_*` variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        OtelExporterBuilder::default().build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_env_settings_fail_at_build_time_naming_the_variable_set() {
        let build = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            OtelExporter::builder().build_with_vars(|k| vars.get(k).cloned())
        };
        for (name, value) in [
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://bad host/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad name=1"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name"),
        ] {
            let err = build(&[(name, value)])
                .err()
                .unwrap_or_else(|| panic!("{name}={value} built"));
            assert_eq!(err.setting, name, "{name}={value}: {err}");
        }
        // The signal-specific variable wins and is the one named.
        let err = build(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://bad host"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"),
        ])
        .err()
        .unwrap();
        assert_eq!(err.setting, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        assert!(build(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:4318/v1/traces"
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=abc%20def,tenant=1"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=app,deployment.environment=prod"
            ),
        ])
        .is_ok());
        let err = OtelExporter::builder()
            .header("x-key", "line\nbreak")
            .build()
            .err()
            .unwrap();
        assert_eq!(err.setting, "header");
        let err = OtelExporter::builder()
            .timeout(Duration::ZERO)
            .build()
            .err()
            .unwrap();
        assert_eq!(err.setting, "timeout");
    }

    #[test]
    fn bad_endpoints_fail_at_build_time() {
        for bad in [
            "localhost:4318",
            "ftp://x",
            "http://",
            "not a url",
            "http://bad host",
        ] {
            let err = OtelExporter::builder().endpoint(bad).build().unwrap_err();
            assert_eq!(err.setting, "endpoint", "{bad}");
        }
        assert!(OtelExporter::builder()
            .endpoint("http://127.0.0.1:4318/v1/traces")
            .build()
            .is_ok());
    }
}
