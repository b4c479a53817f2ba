//! Vendor presets for [aitrace](https://docs.rs/aitrace)'s OpenTelemetry exporter: one OTLP client,
//! a [`Dialect`](aitrace_otel::Dialect) per backend for what that backend reads, each preset one line
//! in code and each also chosen by its vendor's own environment variables.
//!
//! | preset | turned on by | module |
//! |---|---|---|
//! | LangSmith | `LANGSMITH_API_KEY` | [`langsmith`] |
//! | Datadog LLM Observability | `DD_API_KEY` | [`datadog`] |
//! | Sentry (AI Agents) | `SENTRY_DSN` | [`sentry`] |
//! | PostHog LLM analytics | `POSTHOG_API_KEY` | [`posthog`] |
//! | MLflow | `MLFLOW_TRACKING_URI` | [`mlflow`] |
//! | Honeycomb, Grafana Cloud, LangWatch, Laminar | `HONEYCOMB_API_KEY`, `GRAFANA_CLOUD_OTLP_ENDPOINT`, `LANGWATCH_API_KEY`, `LMNR_PROJECT_API_KEY` | [`endpoints`] |
//!
//! Every preset writes the current GenAI names plus what its backend reads, whatever
//! `OTEL_SEMCONV_STABILITY_OPT_IN` says, and ignores the `OTEL_EXPORTER_OTLP_*` variables (which
//! configure the plain OTLP exporter).
//!
//! ```no_run
//! let guard = aitrace_core::builder()
//!     .exporter(aitrace_presets::langsmith::exporter(
//!         aitrace_presets::langsmith::LangSmithConfig::new("lsv2_..."),
//!     )?)
//!     .install()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]

mod common;
pub mod datadog;
pub mod endpoints;
pub mod langsmith;
pub mod mlflow;
pub mod posthog;
pub mod scores;
pub mod sentry;

use aitrace_core::ConfigError;
use aitrace_otel::OtelExporter;

/// A preset that the environment can turn on.
#[derive(Clone, Copy)]
pub struct Preset {
    /// The exporter's name (`langsmith`), also its name in `AITRACE_EXPORTERS`.
    pub name: &'static str,
    /// The variable that turns it on.
    pub variable: &'static str,
    build: BuildFn,
}

/// Builds a preset from a variable lookup.
type BuildFn = fn(&dyn Fn(&str) -> Option<String>) -> Result<Option<OtelExporter>, ConfigError>;

impl std::fmt::Debug for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preset")
            .field("name", &self.name)
            .field("variable", &self.variable)
            .finish()
    }
}

impl Preset {
    /// The exporter, when its variables are set (`None` when its main variable is not); a partly
    /// set or invalid configuration is an error naming the variable.
    pub fn from_vars(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<OtelExporter>, ConfigError> {
        (self.build)(get)
    }
}

/// Every preset, in the order the environment adds them.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "langsmith",
        variable: "LANGSMITH_API_KEY",
        build: |get| {
            langsmith::LangSmithConfig::from_vars(get)?
                .map(langsmith::exporter)
                .transpose()
        },
    },
    Preset {
        name: "datadog",
        variable: "DD_API_KEY",
        build: |get| {
            datadog::DatadogConfig::from_vars(get)?
                .map(datadog::exporter)
                .transpose()
        },
    },
    Preset {
        name: "sentry",
        variable: "SENTRY_DSN",
        build: |get| {
            sentry::dsn_from_vars(get)?
                .map(sentry::exporter)
                .transpose()
        },
    },
    Preset {
        name: "posthog",
        variable: "POSTHOG_API_KEY",
        build: |get| {
            posthog::PostHogConfig::from_vars(get)?
                .map(posthog::exporter)
                .transpose()
        },
    },
    Preset {
        name: "mlflow",
        variable: "MLFLOW_TRACKING_URI",
        build: |get| {
            mlflow::MlflowConfig::from_vars(get)?
                .map(mlflow::exporter)
                .transpose()
        },
    },
    Preset {
        name: "honeycomb",
        variable: "HONEYCOMB_API_KEY",
        build: endpoints::honeycomb,
    },
    Preset {
        name: "grafana-cloud",
        variable: "GRAFANA_CLOUD_OTLP_ENDPOINT",
        build: endpoints::grafana_cloud,
    },
    Preset {
        name: "langwatch",
        variable: "LANGWATCH_API_KEY",
        build: endpoints::langwatch,
    },
    Preset {
        name: "laminar",
        variable: "LMNR_PROJECT_API_KEY",
        build: endpoints::laminar,
    },
];

/// The preset named `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// Every preset whose variables are set, built.
pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Vec<OtelExporter>, ConfigError> {
    let mut out = Vec::new();
    for p in PRESETS {
        if let Some(e) = p.from_vars(get)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Every preset the process environment configures.
pub fn from_env() -> Result<Vec<OtelExporter>, ConfigError> {
    from_vars(&|k| std::env::var(k).ok())
}
