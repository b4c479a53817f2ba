//! What every fallback adapter keeps, written once: its providers in order of preference, who they
//! are, its retry settings, their availability, and the spawner that probes failed ones back.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aitrace_core::ConfigError;
use futures::channel::mpsc::UnboundedReceiver;

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
