//! The loop every adapter shares: try providers in order, each try in its own `fallback_attempt`
//! span, with a timeout to the first result, retries on retryable errors, and the caller re-stamped
//! with the provider that answered.

use std::future::Future;
use std::time::{Duration, Instant};

use aitrace_core::AiSpanExt;
use tracing::Span;

use crate::availability::{timeout, Availability};
use crate::error::{AllFailed, ProviderError};

/// Who a provider is, for spans and error lists.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub provider: String,
    pub model: String,
    /// A nested adapter: it stamps the caller and records usage itself.
    pub traces_itself: bool,
}

impl Candidate {
    pub(crate) fn new(provider: &str, model: &str, traces_itself: bool) -> Self {
        Candidate {
            provider: provider.to_string(),
            model: model.to_string(),
            traces_itself,
        }
    }
}

/// Checks what every adapter needs, and returns the availability labels of its candidates.
pub(crate) fn check(
    candidates: &[Candidate],
    attempt_timeout: Duration,
) -> Result<Vec<(String, String)>, aitrace_core::ConfigError> {
    if candidates.is_empty() {
        return Err(aitrace_core::ConfigError::new(
            "providers",
            "a fallback adapter needs at least one provider",
        ));
    }
    if attempt_timeout.is_zero() {
        return Err(aitrace_core::ConfigError::new(
            "attempt_timeout",
            "must be greater than zero",
        ));
    }
    Ok(candidates
        .iter()
        .map(|c| (c.provider.clone(), c.model.clone()))
        .collect())
}

/// Retry and timeout settings of one adapter.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub attempt_timeout: Duration,
    pub max_retry_per_provider: u32,
    pub retry_interval: Duration,
}

/// A provider that produced its first result.
pub(crate) struct Success<T> {
    pub value: T,
    pub index: usize,
    pub attempt: Span,
}

/// The tries of one call: numbering and failures so far.
#[derive(Default)]
pub(crate) struct Tries {
    pub attempts: u32,
    pub errors: Vec<(String, ProviderError)>,
}

impl Tries {
    /// Records a failed try on its span and in the list.
    pub(crate) fn failed(&mut self, who: &Candidate, span: &Span, e: ProviderError) {
        span.set_error(e.kind.as_str(), &e.message);
        self.errors
            .push((format!("{}/{}", who.provider, who.model), e));
    }

    /// Tries `order[*pos..]` until `start(index)` succeeds within the timeout. Providers that fail
    /// every try are passed to `unavailable`. On success the caller is re-stamped with the provider
    /// (unless it traces itself) and its time to first result is recorded.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn first_success<T, F, Fut>(
        &mut self,
        caller: &Span,
        candidates: &[Candidate],
        order: &[usize],
        pos: &mut usize,
        settings: &Settings,
        availability: &Availability,
        mut start: F,
        mut unavailable: impl FnMut(usize),
    ) -> Result<Success<T>, AllFailed>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        while *pos < order.len() {
            let i = order[*pos];
            let who = &candidates[i];
            for try_no in 0..=settings.max_retry_per_provider {
                if try_no > 0 {
                    futures_timer::Delay::new(settings.retry_interval).await;
                }
                let span = aitrace_core::attempt_span!(
                    parent: caller,
                    self.attempts,
                    who.provider,
                    who.model
                );
                self.attempts += 1;
                let started = Instant::now();
                let outcome = match timeout(settings.attempt_timeout, start(i)).await {
                    Ok(r) => r,
                    Err(()) => Err(ProviderError::timeout(format!(
                        "no answer within {:?}",
                        settings.attempt_timeout
                    ))),
                };
                match outcome {
                    Ok(value) => {
                        let ttft = started.elapsed();
                        span.record(
                            "aitrace.time_to_first_token_ms",
                            ttft.as_secs_f64() * 1000.0,
                        );
                        availability.set(i, true);
                        if !who.traces_itself {
                            caller.restamp_model(&who.provider, &who.model);
                        }
                        // The caller waited from its own start (earlier attempts included).
                        let now = aitrace_core::export::unix_nanos(std::time::SystemTime::now());
                        caller.with_record(|r| {
                            if r.time_to_first_token_s.is_none() {
                                let waited = now.saturating_sub(r.start_time_unix_nano);
                                r.time_to_first_token_s = Some(waited as f64 / 1e9);
                            }
                        });
                        return Ok(Success {
                            value,
                            index: i,
                            attempt: span,
                        });
                    }
                    Err(e) => {
                        let retry_here = e.retryable();
                        self.failed(who, &span, e);
                        if !retry_here {
                            break;
                        }
                    }
                }
            }
            unavailable(i);
            *pos += 1;
        }
        Err(AllFailed {
            attempts: std::mem::take(&mut self.errors),
        })
    }
}
