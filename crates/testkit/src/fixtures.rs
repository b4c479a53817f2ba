//! Values several test suites share, written once.

use std::time::Duration;

use aitrace_core::{ExportConfig, Usage};

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
