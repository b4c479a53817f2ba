//! Queueing, batching and retry settings of one exporter.

use std::time::Duration;

/// Queueing, batching and retry settings of one exporter. Defaults suit a network backend. Build one
/// from [`ExportConfig::default`] and the `with_*` methods (new settings may be added).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExportConfig {
    /// Most records waiting in the queue; more are dropped and counted (default 2048).
    pub queue_capacity: usize,
    /// Most estimated bytes waiting in the queue (default 64 MiB).
    pub queue_max_bytes: usize,
    /// Most records per `export` call (default 512).
    pub max_batch_size: usize,
    /// Most estimated bytes per `export` call (default 4 MiB; a single larger record goes alone).
    pub max_batch_bytes: usize,
    /// A non-full batch is exported once its oldest record waited this long (default 1 s).
    pub max_batch_age: Duration,
    /// Retries of a retryable failure before the batch is dropped (default 5).
    pub max_retries: u32,
    /// First backoff delay; doubles per retry with ±20 % jitter (default 200 ms).
    pub initial_backoff: Duration,
    /// Largest backoff delay of the pipeline's own (default 30 s). A server's `Retry-After` is always
    /// honoured, even when longer.
    pub max_backoff: Duration,
    /// For exporters that need whole traces: how long spans wait for their trace's root before they
    /// are exported without it (default 30 s).
    pub trace_max_age: Duration,
    /// For exporters that need whole traces: most traces waiting for their root; the oldest is
    /// exported incomplete beyond this (default 1000).
    pub trace_max_pending: usize,
    /// Whether this exporter receives content (messages, tool arguments and results, documents,
    /// embeddings inputs). `None`: the builder's policy ([`Builder::capture_content`](crate::Builder::capture_content)).
    pub capture_content: Option<bool>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            queue_capacity: 2048,
            queue_max_bytes: 64 << 20,
            max_batch_size: 512,
            max_batch_bytes: 4 << 20,
            max_batch_age: Duration::from_secs(1),
            max_retries: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            trace_max_age: Duration::from_secs(30),
            trace_max_pending: 1000,
            capture_content: None,
        }
    }
}

impl ExportConfig {
    /// With the queue's record cap set to `queue_capacity`.
    pub const fn with_queue_capacity(mut self, queue_capacity: usize) -> Self {
        self.queue_capacity = queue_capacity;
        self
    }

    /// With the queue's byte cap set to `queue_max_bytes`.
    pub const fn with_queue_max_bytes(mut self, queue_max_bytes: usize) -> Self {
        self.queue_max_bytes = queue_max_bytes;
        self
    }

    /// With the records per `export` call set to `max_batch_size`.
    pub const fn with_max_batch_size(mut self, max_batch_size: usize) -> Self {
        self.max_batch_size = max_batch_size;
        self
    }

    /// With the bytes per `export` call set to `max_batch_bytes`.
    pub const fn with_max_batch_bytes(mut self, max_batch_bytes: usize) -> Self {
        self.max_batch_bytes = max_batch_bytes;
        self
    }

    /// With how long a non-full batch waits set to `max_batch_age`.
    pub const fn with_max_batch_age(mut self, max_batch_age: Duration) -> Self {
        self.max_batch_age = max_batch_age;
        self
    }

    /// With the retries of a retryable failure set to `max_retries`.
    pub const fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// With the first backoff delay set to `initial_backoff`.
    pub const fn with_initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }

    /// With the largest backoff delay set to `max_backoff`.
    pub const fn with_max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// With how long spans wait for their trace's root set to `trace_max_age`.
    pub const fn with_trace_max_age(mut self, trace_max_age: Duration) -> Self {
        self.trace_max_age = trace_max_age;
        self
    }

    /// With how many traces wait for their root set to `trace_max_pending`.
    pub const fn with_trace_max_pending(mut self, trace_max_pending: usize) -> Self {
        self.trace_max_pending = trace_max_pending;
        self
    }

    /// With this exporter's content policy (see [`capture_content`](Self::capture_content)).
    pub const fn with_capture_content(mut self, on: bool) -> Self {
        self.capture_content = Some(on);
        self
    }

    /// Checks that every limit is usable; names the bad setting.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        let checks = [
            ("queue_capacity", self.queue_capacity == 0),
            ("queue_max_bytes", self.queue_max_bytes == 0),
            ("max_batch_size", self.max_batch_size == 0),
            ("max_batch_bytes", self.max_batch_bytes == 0),
            ("max_batch_age", self.max_batch_age.is_zero()),
            ("trace_max_age", self.trace_max_age.is_zero()),
            ("trace_max_pending", self.trace_max_pending == 0),
        ];
        for (name, bad) in checks {
            if bad {
                return Err(crate::ConfigError::new(name, "must be greater than zero"));
            }
        }
        if self.initial_backoff > self.max_backoff {
            return Err(crate::ConfigError::new(
                "initial_backoff",
                "must not exceed max_backoff",
            ));
        }
        Ok(())
    }
}
