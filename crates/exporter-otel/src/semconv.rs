//! Which version of the GenAI conventions the OTel exporter speaks, and the transition between two.
//!
//! aitrace targets [`GENAI_CONVENTIONS`] (`open-telemetry/semantic-conventions-genai` v0.1.0, the first
//! release after the GenAI conventions left the main semantic-conventions repository at v1.41). Backends
//! follow at their own pace (MLflow reads `cache_write`, PostHog and Sentry still read
//! `cache_creation`), so by default every renamed attribute and metric is written under its current
//! name *and* its v1.41 name, the way OpenTelemetry instrumentations handle a convention change
//! ("dup" mode). `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` writes the current names
//! only. The Langfuse and Braintrust exporters and the vendor presets write what their backend reads,
//! whatever the mode.

/// The conventions the mapping follows.
pub const GENAI_CONVENTIONS: &str = "semantic-conventions-genai v0.1.0";

/// The environment variable OpenTelemetry instrumentations read to opt in to newer conventions.
pub const OPT_IN_VAR: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

/// The value of [`OPT_IN_VAR`] (one of a comma-separated list) that selects [`SemconvMode::Latest`].
pub const LATEST_OPT_IN: &str = "gen_ai_latest_experimental";

/// Which GenAI names the exporter writes where the conventions renamed or removed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SemconvMode {
    /// The current names, and the v1.41 name as well wherever one changed (the default), so backends
    /// that have not moved yet keep reading every value.
    #[default]
    Transition,
    /// Only the current names (`OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`).
    Latest,
}

impl SemconvMode {
    /// The mode an `OTEL_SEMCONV_STABILITY_OPT_IN` value selects: [`Latest`](Self::Latest) when the
    /// comma-separated list names `gen_ai_latest_experimental`, else [`Transition`](Self::Transition).
    pub fn from_opt_in(value: Option<&str>) -> Self {
        let latest = value.is_some_and(|v| v.split(',').any(|item| item.trim() == LATEST_OPT_IN));
        if latest {
            SemconvMode::Latest
        } else {
            SemconvMode::Transition
        }
    }

    /// The mode the process environment selects.
    pub fn from_env() -> Self {
        Self::from_opt_in(std::env::var(OPT_IN_VAR).ok().as_deref())
    }

    /// Whether the v1.41 names are written next to the current ones.
    pub fn writes_previous_names(self) -> bool {
        self == SemconvMode::Transition
    }
}

/// Span attributes renamed since v1.41: (current name, v1.41 name). Transition mode writes both.
pub const RENAMED_ATTRIBUTES: &[(&str, &str)] = &[
    (
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
    ),
    ("gen_ai.retrieval.top_k", "gen_ai.request.top_k"),
];

/// Metrics renamed or replaced since v1.41: (current name, v1.41 name). Transition mode records both.
pub const RENAMED_METRICS: &[(&str, &str)] = &[
    (
        "gen_ai.client.inference.duration",
        "gen_ai.client.operation.duration",
    ),
    (
        "gen_ai.client.inference.time_to_first_chunk",
        "gen_ai.client.operation.time_to_first_chunk",
    ),
    (
        "gen_ai.client.inference.operation.input_tokens",
        "gen_ai.client.token.usage",
    ),
    (
        "gen_ai.client.inference.operation.output_tokens",
        "gen_ai.client.token.usage",
    ),
];

/// Attributes the conventions removed from internal `invoke_agent` spans; transition mode still writes
/// them there.
pub const REMOVED_FROM_INTERNAL_AGENT_SPANS: &[&str] = &[
    "gen_ai.agent.id",
    "gen_ai.agent.version",
    "gen_ai.provider.name",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
];

/// The message part types the conventions define (`gen-ai-input-messages.json`); a part of any other
/// type is a generic part.
pub const KNOWN_PART_TYPES: &[&str] = &[
    "text",
    "tool_call",
    "tool_call_response",
    "server_tool_call",
    "server_tool_call_response",
    "blob",
    "file",
    "uri",
    "reasoning",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_opt_in_list_selects_the_latest_names() {
        assert_eq!(SemconvMode::from_opt_in(None), SemconvMode::Transition);
        assert_eq!(SemconvMode::from_opt_in(Some("")), SemconvMode::Transition);
        assert_eq!(
            SemconvMode::from_opt_in(Some("http")),
            SemconvMode::Transition
        );
        assert_eq!(
            SemconvMode::from_opt_in(Some("gen_ai_latest_experimental")),
            SemconvMode::Latest
        );
        assert_eq!(
            SemconvMode::from_opt_in(Some("http/dup, gen_ai_latest_experimental ,database")),
            SemconvMode::Latest
        );
        assert_eq!(
            SemconvMode::from_opt_in(Some("gen_ai_latest_experimental_not")),
            SemconvMode::Transition
        );
    }
}
