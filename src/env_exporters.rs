//! The backends the environment chooses, as OpenTelemetry's autoconfiguration does: every exporter
//! whose standard variables are set, or exactly the ones `AITRACE_EXPORTERS` lists.

use aitrace_core::ConfigError;

/// Exporters `AITRACE_EXPORTERS` may name, with the feature each needs.
const KNOWN: &[(&str, &str)] = &[
    ("console", ""),
    ("jsonl", ""),
    ("otel", "otel"),
    ("langfuse", "langfuse"),
    ("braintrust", "braintrust"),
    ("langsmith", "presets"),
    ("datadog", "presets"),
    ("sentry", "presets"),
    ("posthog", "presets"),
    ("mlflow", "presets"),
    ("honeycomb", "presets"),
    ("grafana-cloud", "presets"),
    ("langwatch", "presets"),
    ("laminar", "presets"),
];

/// The variable that lists the exporters explicitly.
pub const EXPORTERS_ENV: &str = "AITRACE_EXPORTERS";

/// The list `AITRACE_EXPORTERS` gives (`None` when unset); `none` is the empty list.
fn chosen(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(v) = get(EXPORTERS_ENV).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for item in v.split(',').map(|i| i.trim().to_ascii_lowercase()) {
        if item.is_empty() || item == "none" {
            continue;
        }
        let Some((_, feature)) = KNOWN.iter().find(|(n, _)| *n == item) else {
            let names: Vec<&str> = KNOWN.iter().map(|(n, _)| *n).collect();
            return Err(ConfigError::new(
                EXPORTERS_ENV,
                format!("{item:?} is not an exporter; use {}", names.join(", ")),
            ));
        };
        if !feature_enabled(feature) {
            return Err(ConfigError::new(
                EXPORTERS_ENV,
                format!("{item:?} needs aitrace's feature `{feature}`"),
            ));
        }
        out.push(item);
    }
    Ok(Some(out))
}

fn feature_enabled(feature: &str) -> bool {
    let features = [
        ("", true),
        ("otel", cfg!(feature = "otel")),
        ("langfuse", cfg!(feature = "langfuse")),
        ("braintrust", cfg!(feature = "braintrust")),
        ("presets", cfg!(feature = "presets")),
    ];
    features.iter().any(|(f, on)| *f == feature && *on)
}

fn set(get: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> bool {
    names
        .iter()
        .any(|n| get(n).is_some_and(|v| !v.trim().is_empty()))
}

/// Adds to `b` the exporters the environment configures.
pub(crate) fn add(
    mut b: aitrace_core::Builder,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<aitrace_core::Builder, ConfigError> {
    let list = chosen(get)?;
    let listed = |name: &str| list.as_ref().is_some_and(|l| l.iter().any(|n| n == name));
    // With a list, only what it names; without, whatever is configured.
    let wants = |name: &str, configured: bool| match &list {
        Some(_) => listed(name),
        None => configured,
    };
    if listed("console") {
        b = b.console(true);
    }
    if listed("jsonl") && !set(get, &["AITRACE_JSONL_PATH"]) {
        return Err(ConfigError::new(
            "AITRACE_JSONL_PATH",
            "must be set when AITRACE_EXPORTERS lists jsonl",
        ));
    }
    #[cfg(feature = "otel")]
    {
        let configured = set(
            get,
            &[
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ],
        );
        if wants("otel", configured) {
            // A Phoenix / Arize project named in the resource: their own attributes too.
            let openinference = get("OTEL_RESOURCE_ATTRIBUTES")
                .is_some_and(|v| v.contains("openinference.project.name"));
            let e = aitrace_otel::OtelExporter::builder()
                .openinference(openinference)
                .build_with_vars(|k| get(k))?;
            b = b.exporter_from_env(e);
        }
    }
    #[cfg(feature = "langfuse")]
    {
        let configured = set(get, &["LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"]);
        if wants("langfuse", configured) {
            let config = aitrace_langfuse::LangfuseConfig::from_vars(|k| {
                get(k).filter(|v| !v.trim().is_empty())
            })?;
            b = b.exporter_from_env(aitrace_langfuse::LangfuseExporter::new(config)?);
        }
    }
    #[cfg(feature = "braintrust")]
    {
        let configured = set(get, &["BRAINTRUST_API_KEY"]);
        if wants("braintrust", configured) {
            let config = aitrace_braintrust::BraintrustConfig::from_vars("aitrace", |k| {
                get(k).filter(|v| !v.trim().is_empty())
            })?;
            b = b.exporter_from_env(aitrace_braintrust::BraintrustExporter::new(config)?);
        }
    }
    #[cfg(feature = "presets")]
    for p in aitrace_presets::PRESETS {
        // Without a list every preset reads its variables: a partly set one is an error.
        if list.is_some() && !listed(p.name) {
            continue;
        }
        match p.from_vars(get)? {
            Some(e) => b = b.exporter_from_env(e),
            None if list.is_none() => {}
            None => {
                return Err(ConfigError::new(
                    p.variable,
                    format!("must be set when AITRACE_EXPORTERS lists {}", p.name),
                ))
            }
        }
    }
    let _ = wants;
    Ok(b)
}
