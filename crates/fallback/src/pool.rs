//! What every fallback adapter keeps, written once: its providers in order of preference, who they
//! are, its retry settings, their availability, and the spawner that probes failed ones back.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aitrace_core::{AiSpanExt, ConfigError};
use futures::channel::mpsc::UnboundedReceiver;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};

use crate::attempt::{check, Candidate, Settings, Success, Tries};
use crate::availability::{spawn_probe, Availability, AvailabilityChanged, Spawn};
use crate::error::AllFailed;
use crate::error::ProviderError;
use tracing::Span;

/// The settings every adapter's config has, whatever its defaults.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolConfig {
    pub attempt_timeout: Duration,
    pub max_retry_per_provider: u32,
    pub retry_interval: Duration,
    pub recovery_interval: Duration,
}

/// The [`PoolConfig`] part of an adapter's config (every adapter config has these fields).
macro_rules! pool_config {
    ($config:expr) => {
        $crate::pool::PoolConfig {
            attempt_timeout: $config.attempt_timeout,
            max_retry_per_provider: $config.max_retry_per_provider,
            retry_interval: $config.retry_interval,
            recovery_interval: $config.recovery_interval,
        }
    };
}
pub(crate) use pool_config;

/// The pool of an adapter's providers, each known by its provider, model and whether it traces
/// itself (a nested adapter), with the [`PoolConfig`] part of `$config`.
macro_rules! pool_of {
    ($providers:expr, $config:expr) => {
        $crate::pool::Pool::new(
            $providers,
            |p| $crate::attempt::Candidate::new(p.provider(), p.model(), p.traces_itself()),
            $crate::pool::pool_config!($config),
        )
    };
}
pub(crate) use pool_of;

/// `new` and `with_config` of an adapter whose state is its pool and config.
macro_rules! adapter_constructors {
    ($adapter:ident, $provider:ident, $config:ident, $what:literal) => {
        #[doc = concat!($what, " in order of preference (at least one), with the default behaviour.")]
        pub fn new(providers: Vec<Arc<dyn $provider>>) -> Result<Self, ConfigError> {
            Self::with_config(providers, $config::default())
        }

        #[doc = concat!($what, " in order of preference (at least one), with explicit behaviour.")]
        pub fn with_config(
            providers: Vec<Arc<dyn $provider>>,
            config: $config,
        ) -> Result<Self, ConfigError> {
            let pool = Arc::new($crate::pool::pool_of!(providers, config)?);
            Ok($adapter {
                inner: Arc::new(Inner { pool, config }),
            })
        }
    };
}
pub(crate) use adapter_constructors;

/// What every adapter says it is, as a provider of its kind: `fallback`, the primary's model, and a
/// provider that traces itself (an adapter nested in another stamps the caller on its own).
macro_rules! adapter_identity {
    () => {
        fn provider(&self) -> &str {
            "fallback"
        }

        /// The primary's model (the first provider).
        fn model(&self) -> &str {
            self.inner.pool.providers[0].model()
        }

        fn traces_itself(&self) -> bool {
            true
        }
    };
}
pub(crate) use adapter_identity;

/// The methods every adapter has over its pool (`self.inner.pool`): `with_spawner`,
/// `availability_changed` and `is_available`, documented with the adapter's word for a provider.
macro_rules! pool_methods {
    ($provider:literal, $probe:literal) => {
        #[doc = concat!("Probes failed ", $provider, "s in the background on this spawner (", $probe, "); else")]
        #[doc = concat!("they are tried again by the first request after `recovery_interval`. Every clone of the")]
        /// adapter shares it, whenever it is set.
        pub fn with_spawner(self, spawner: impl $crate::availability::Spawn) -> Self {
            self.inner.pool.set_spawner(std::sync::Arc::new(spawner));
            self
        }

        /// Availability changes, from now on.
        pub fn availability_changed(
            &self,
        ) -> futures::channel::mpsc::UnboundedReceiver<$crate::availability::AvailabilityChanged> {
            self.inner.pool.availability_changed()
        }

        #[doc = concat!("Whether ", $provider, " `index` is currently considered available.")]
        pub fn is_available(&self, index: usize) -> bool {
            self.inner.pool.is_available(index)
        }
    };
}
pub(crate) use pool_methods;

/// The providers of one adapter and their state. Shared by every clone of the adapter (it lives in
/// the adapter's `Arc`), so a spawner set on any clone serves them all.
pub(crate) struct Pool<P: ?Sized> {
    pub providers: Vec<Arc<P>>,
    pub candidates: Vec<Candidate>,
    pub settings: Settings,
    pub recovery_interval: Duration,
    pub availability: Arc<Availability>,
    spawner: RwLock<Option<Arc<dyn Spawn>>>,
}

impl<P: ?Sized> std::fmt::Debug for Pool<P> {
    /// `["openai/gpt-4o", "anthropic/claude-3-5-haiku (unavailable)"]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.candidates.iter().enumerate().map(|(i, c)| {
                let down = if self.availability.is_available(i) {
                    ""
                } else {
                    " (unavailable)"
                };
                format!("{}/{}{down}", c.provider, c.model)
            }))
            .finish()
    }
}

impl<P: ?Sized + Send + Sync + 'static> Pool<P> {
    /// Checks the providers and settings (at least one provider, a timeout above zero).
    pub(crate) fn new(
        providers: Vec<Arc<P>>,
        who: impl Fn(&P) -> Candidate,
        config: PoolConfig,
    ) -> Result<Self, ConfigError> {
        let candidates: Vec<Candidate> = providers.iter().map(|p| who(p)).collect();
        let labels = check(&candidates, config.attempt_timeout)?;
        Ok(Pool {
            providers,
            candidates,
            settings: Settings {
                attempt_timeout: config.attempt_timeout,
                max_retry_per_provider: config.max_retry_per_provider,
                retry_interval: config.retry_interval,
            },
            recovery_interval: config.recovery_interval,
            availability: Arc::new(Availability::new(labels)),
            spawner: RwLock::new(None),
        })
    }

    /// Probes failed providers in the background on `spawner` from now on, for every clone of the
    /// adapter (a later call replaces it).
    pub(crate) fn set_spawner(&self, spawner: Arc<dyn Spawn>) {
        if let Ok(mut slot) = self.spawner.write() {
            *slot = Some(spawner);
        }
    }

    /// The order to try providers in now (available ones first, recovered ones back in place).
    pub(crate) fn order(&self) -> Vec<usize> {
        self.availability.order(self.recovery_interval)
    }

    /// Marks provider `i` unavailable and, with a spawner, probes it in the background with `probe`
    /// until it answers again.
    pub(crate) fn mark_unavailable<F, Fut>(&self, i: usize, probe: F)
    where
        F: Fn(Arc<P>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), ProviderError>> + Send + 'static,
    {
        self.availability.set(i, false);
        let spawner = self.spawner.read().ok().and_then(|s| s.clone());
        let Some(spawner) = spawner else {
            return;
        };
        let provider = Arc::clone(&self.providers[i]);
        spawn_probe(
            spawner.as_ref(),
            Arc::clone(&self.availability),
            i,
            self.recovery_interval,
            self.settings.attempt_timeout,
            move || probe(Arc::clone(&provider)),
        );
    }

    /// [`Tries::first_success`] over this pool's providers: tries `order[*pos..]` until `start`
    /// succeeds; the indices of providers that failed every try are passed to `unavailable`.
    pub(crate) fn first_success<'a, T, F, Fut>(
        &'a self,
        tries: &'a mut Tries,
        caller: &'a Span,
        order: &'a [usize],
        pos: &'a mut usize,
        start: F,
        unavailable: impl FnMut(usize) + 'a,
    ) -> impl Future<Output = Result<Success<T>, AllFailed>> + 'a
    where
        F: FnMut(usize) -> Fut + 'a,
        Fut: Future<Output = Result<T, ProviderError>> + 'a,
        T: 'a,
    {
        tries.first_success(
            caller,
            &self.candidates,
            order,
            pos,
            &self.settings,
            &self.availability,
            start,
            unavailable,
        )
    }

    /// Availability changes, from now on.
    pub(crate) fn availability_changed(&self) -> UnboundedReceiver<AvailabilityChanged> {
        self.availability.subscribe()
    }

    /// Whether provider `index` is currently considered available.
    pub(crate) fn is_available(&self, index: usize) -> bool {
        self.availability.is_available(index)
    }

    /// The index of the provider a request would try first.
    pub(crate) fn active(&self) -> usize {
        self.availability.active().unwrap_or(0)
    }
}

/// How an adapter checks that a provider it marked unavailable answers again (a short request of
/// its kind: a chat, 100 ms of silence, a word to speak).
pub(crate) type Probe<P> =
    Arc<dyn Fn(Arc<P>) -> BoxFuture<'static, Result<(), ProviderError>> + Send + Sync>;

/// One call's walk through an adapter's providers, the engine every adapter runs: the order it
/// tries them in, where it is, what failed so far, and the caller's span (re-stamped with whoever
/// answers, told when all failed). The adapters differ only in how a provider is started and what
/// its answer is; the attempts, availability, probes and errors are decided here once.
pub(crate) struct Walk<P: ?Sized> {
    /// The span re-stamped and billed: the caller's, or one the adapter opened.
    pub caller: Span,
    pool: Arc<Pool<P>>,
    order: Vec<usize>,
    pos: usize,
    tries: Tries,
    probe: Probe<P>,
}

impl<P: ?Sized + Send + Sync + 'static> Walk<P> {
    /// A walk over `pool`'s providers in their order now.
    pub(crate) fn new(pool: &Arc<Pool<P>>, caller: Span, probe: Probe<P>) -> Self {
        Walk {
            caller,
            pool: Arc::clone(pool),
            order: pool.order(),
            pos: 0,
            tries: Tries::default(),
            probe,
        }
    }

    /// Tries providers from the walk's position until `start` succeeds within the timeout (with the
    /// retries of the settings). Providers that failed every try are marked unavailable and probed;
    /// when every provider failed, the caller's span says so.
    pub(crate) async fn next<T, F, Fut>(&mut self, mut start: F) -> Result<Success<T>, AllFailed>
    where
        F: FnMut(Arc<P>) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let pool = Arc::clone(&self.pool);
        let mut failed = Vec::new();
        let result = pool
            .first_success(
                &mut self.tries,
                &self.caller,
                &self.order,
                &mut self.pos,
                |i| start(Arc::clone(&pool.providers[i])),
                |i| failed.push(i),
            )
            .await;
        for i in failed {
            self.mark_unavailable(i);
        }
        if let Err(all) = &result {
            self.caller.set_error("all_providers_failed", all);
        }
        result
    }

    /// The provider `index`, which had started answering, failed: its attempt span says why, it is
    /// marked unavailable, and the next [`next`](Self::next) starts after it.
    pub(crate) fn failed(&mut self, index: usize, attempt: &Span, e: ProviderError) {
        let who = self.pool.candidates[index].clone();
        self.tries.failed(&who, attempt, e);
        self.mark_unavailable(index);
        self.pos += 1;
    }

    /// The provider `index` broke off its answer with `e`: recorded like [`failed`](Self::failed).
    /// Switching to the next one is `allowed` only when it cannot repeat what the caller already has
    /// (`retry_on_chunk_sent`); else the error is the caller's, and is returned.
    pub(crate) fn broke(
        &mut self,
        index: usize,
        attempt: &Span,
        e: ProviderError,
        allowed: bool,
    ) -> Result<(), ProviderError> {
        self.failed(index, attempt, e.clone());
        if allowed {
            return Ok(());
        }
        self.caller.set_error(e.kind.as_str(), &e.message);
        Err(e)
    }

    fn mark_unavailable(&self, i: usize) {
        let probe = Arc::clone(&self.probe);
        self.pool
            .mark_unavailable(i, move |provider| probe(provider));
    }
}

/// A provider's stream and its first item: a stream that ends before any is a failure (`empty`
/// says what was missing).
pub(crate) async fn first_item<S, T>(mut stream: S, empty: &str) -> Result<(S, T), ProviderError>
where
    S: Stream<Item = Result<T, ProviderError>> + Unpin,
{
    match stream.next().await {
        Some(Ok(item)) => Ok((stream, item)),
        Some(Err(e)) => Err(e),
        None => Err(ProviderError::new(crate::ErrorKind::Other, empty)),
    }
}
