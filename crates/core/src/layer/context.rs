//! Which application spans aitrace records as a trace's context (the request, the job) whatever the
//! application's own log filter says, and which callsites it leaves to the other layers.
//!
//! A web framework's request span is usually at DEBUG (tower-http's `TraceLayer`, axum's), below the
//! level an application logs at. If aitrace only saw the spans the log filter wants, every AI call of a
//! request would start a trace of its own with no user or session. So the layer asks `tracing` for the
//! spans named by [`ContextSpans`] (directives like `RUST_LOG`'s: `info,tower_http=debug`), and for no
//! others: a callsite neither it nor the layers beside it want is disabled (`Interest::never`).

use tracing_core::{Level, LevelFilter, Metadata};

use crate::error::ConfigError;

/// The setting's environment variable.
pub const CONTEXT_SPANS_ENV: &str = "AITRACE_CONTEXT_SPANS";

/// Targets whose request spans are recorded at DEBUG by default: the web frameworks' own.
pub const FRAMEWORK_TARGETS: &[&str] = &[
    "tower_http",
    "axum",
    "actix_web",
    "tracing_actix_web",
    "poem",
];

/// Which application spans count as trace context: a default level and `target=level` directives,
/// the most specific target (a `::`-separated prefix) winning. Parsed from `info,tower_http=debug`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextSpans {
    default: LevelFilter,
    /// Most specific first.
    directives: Vec<(String, LevelFilter)>,
}

impl ContextSpans {
    /// The default: spans at INFO and above from every target; the web frameworks' request spans
    /// ([`FRAMEWORK_TARGETS`]) and the application crate's own (`#[instrument(level = "debug")]`
    /// handlers) at DEBUG. The application crate is the running executable's name (`-` read as `_`).
    pub fn default_for_app() -> Self {
        let mut spec = String::from("info");
        for target in FRAMEWORK_TARGETS {
            spec.push_str(&format!(",{target}=debug"));
        }
        if let Some(app) = app_crate_name() {
            spec.push_str(&format!(",{app}=debug"));
        }
        ContextSpans::parse(CONTEXT_SPANS_ENV, &spec).expect("the default parses")
    }

    /// Parses `level` and `target=level` items separated by commas; `setting` names the source in
    /// errors.
    pub fn parse(setting: &str, spec: &str) -> Result<Self, ConfigError> {
        let mut default = LevelFilter::OFF;
        let mut directives = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (target, level) = match item.split_once('=') {
                Some((t, l)) => (Some(t.trim()), l.trim()),
                None => (None, item),
            };
            // `tracing` reads an empty level as ERROR; here it is a mistake.
            let level = Some(level).filter(|l| !l.is_empty());
            let level = level
                .and_then(|l| l.parse::<LevelFilter>().ok())
                .ok_or_else(|| {
                    ConfigError::new(
                        setting,
                        format!(
                            "{item:?}: expected `level` or `target=level` \
                         (levels: off, error, warn, info, debug, trace)"
                        ),
                    )
                })?;
            match target {
                None => default = level,
                Some("") => {
                    return Err(ConfigError::new(
                        setting,
                        format!("{item:?}: empty target before `=`"),
                    ))
                }
                Some(t) => directives.push((t.to_string(), level)),
            }
        }
        // Longest target first: the most specific directive is found first.
        directives.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        Ok(ContextSpans {
            default,
            directives,
        })
    }

    /// The most verbose level recorded for spans of `target`.
    pub fn level_for(&self, target: &str) -> LevelFilter {
        self.directives
            .iter()
            .find(|(t, _)| is_within(target, t))
            .map_or(self.default, |(_, level)| *level)
    }

    /// Whether spans of this callsite are recorded as context.
    pub fn wants(&self, meta: &Metadata<'_>) -> bool {
        self.level_for(meta.target()) >= *meta.level()
    }

    /// The most verbose level any directive asks for.
    pub fn max_level(&self) -> LevelFilter {
        self.directives
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, std::cmp::max)
    }
}

/// Whether `target` is one of the web frameworks' (their request spans are what a service's AI calls
/// should hang under).
pub(crate) fn is_framework_target(target: &str) -> bool {
    FRAMEWORK_TARGETS.iter().any(|t| is_within(target, t))
}

/// Whether `target` is `module` or a module inside it (`tower_http::trace` is within `tower_http`,
/// `tower_https` is not).
fn is_within(target: &str, module: &str) -> bool {
    target
        .strip_prefix(module)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// The responses' events of tower-http's `TraceLayer` (`finished processing request`, with the
/// `status`), read onto the request span; at DEBUG by default.
pub(crate) fn is_framework_response_event(meta: &Metadata<'_>) -> bool {
    is_within(meta.target(), "tower_http::trace") && *meta.level() <= Level::DEBUG
}

/// The running executable's crate name: its file stem, `-` read as `_`, without the hash cargo adds
/// to test and bench binaries.
fn app_crate_name() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let stem = exe.file_stem()?.to_str()?;
    let stem = match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name
        }
        _ => stem,
    };
    let name = stem.replace('-', "_");
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_target_wins() {
        let c =
            ContextSpans::parse("t", "warn, tower_http=debug, tower_http::trace=trace").unwrap();
        assert_eq!(
            c.level_for("tower_http::trace::make_span"),
            LevelFilter::TRACE
        );
        assert_eq!(c.level_for("tower_http::cors"), LevelFilter::DEBUG);
        assert_eq!(c.level_for("tower_http"), LevelFilter::DEBUG);
        // A prefix of a longer name is not that target.
        assert_eq!(c.level_for("tower_https"), LevelFilter::WARN);
        assert_eq!(c.level_for("hyper::proto"), LevelFilter::WARN);
        assert_eq!(c.max_level(), LevelFilter::TRACE);
    }

    #[test]
    fn bad_directives_name_the_setting() {
        let err = ContextSpans::parse(CONTEXT_SPANS_ENV, "info,axum=loud").unwrap_err();
        assert!(err.to_string().contains(CONTEXT_SPANS_ENV), "{err}");
        assert!(err.to_string().contains("axum=loud"), "{err}");
        assert!(ContextSpans::parse("t", "=debug").is_err());
        assert!(ContextSpans::parse("t", "info,tower_http=").is_err());
        // Empty means nothing is context.
        assert_eq!(
            ContextSpans::parse("t", "").unwrap().max_level(),
            LevelFilter::OFF
        );
    }

    #[test]
    fn default_covers_the_frameworks_and_the_app() {
        let c = ContextSpans::default_for_app();
        assert_eq!(
            c.level_for("tower_http::trace::make_span"),
            LevelFilter::DEBUG
        );
        assert_eq!(c.level_for("axum::serve"), LevelFilter::DEBUG);
        assert_eq!(c.level_for("hyper::proto::h1"), LevelFilter::INFO);
        assert_eq!(c.level_for("h2::codec"), LevelFilter::INFO);
        // This test binary is `aitrace_core-<hash>`.
        assert_eq!(c.level_for("aitrace_core::layer"), LevelFilter::DEBUG);
    }
}
