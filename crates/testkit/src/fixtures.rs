//! Values several test suites share, written once.

use std::time::Duration;

use aitrace_core::{attempt_span, AiSpanExt, ExportConfig, Usage};

/// Export settings that make a test fast: batches leave after 20 ms, retries wait 5 to 20 ms, three
/// retries at most.
pub fn fast_export_config() -> ExportConfig {
    ExportConfig::default()
        .with_max_batch_age(Duration::from_millis(20))
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(20))
        .with_max_retries(3)
}

/// The usage of the first step of the exporters' agent trace (cache reads included).
pub const STEP0: Usage = Usage::new(412, 23).with_cache_read(128);
/// The usage of its second step (cache reads and writes, reasoning).
pub const STEP1: Usage = Usage::new(498, 17)
    .with_cache_read(384)
    .with_cache_creation(7)
    .with_reasoning(5);
/// The usage of a call cut short by its length limit.
pub const CUT: Usage = Usage::new(50, 256);
/// The usage of an embedding call.
pub const EMBED: Usage = Usage::input_only(9);

/// The fallback inside a step of the exporters' agent trace: on the first step the primary
/// (`openai`/`gpt-4o`) times out, then the backup (`anthropic`/`claude-3-5-haiku`) answers and
/// re-stamps the step; `answer` runs inside the backup's attempt.
pub fn fallback_attempts(step: &tracing::Span, first_step: bool, answer: impl FnOnce()) {
    let mut attempt = 0u32;
    if first_step {
        attempt_span!(attempt, "openai", "gpt-4o").in_scope(|| {
            tracing::Span::current().set_error("timeout", "primary timed out");
        });
        attempt += 1;
    }
    attempt_span!(attempt, "anthropic", "claude-3-5-haiku").in_scope(|| {
        step.restamp_model("anthropic", "claude-3-5-haiku");
        answer();
    });
}
