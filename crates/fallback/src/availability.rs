//! Which providers are up, who is told when that changes, and how a failed provider is probed back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::future::BoxFuture;

/// A provider became unavailable (it failed) or available again (a probe or a request succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityChanged {
    /// Position in the adapter's list.
    pub index: usize,
    /// Its provider.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// Whether it is available now.
    pub available: bool,
}

/// Runs a background task. Only recovery probes need one: without a spawner, a failed provider is
/// simply tried again by the first request after `recovery_interval`.
pub trait Spawn: Send + Sync + 'static {
    /// Starts `task` and returns at once.
    fn spawn(&self, task: BoxFuture<'static, ()>);
}

impl<F> Spawn for F
where
    F: Fn(BoxFuture<'static, ()>) + Send + Sync + 'static,
{
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self(task)
    }
}

/// Spawns probes on a Tokio runtime (feature `tokio`).
#[cfg(feature = "tokio")]
#[derive(Debug, Clone)]
pub struct TokioSpawner(pub tokio::runtime::Handle);

#[cfg(feature = "tokio")]
impl TokioSpawner {
    /// The runtime this is called from; `None` outside a Tokio runtime.
    pub fn current() -> Option<Self> {
        tokio::runtime::Handle::try_current().ok().map(TokioSpawner)
    }
}

#[cfg(feature = "tokio")]
impl Spawn for TokioSpawner {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        drop(self.0.spawn(task));
    }
}

struct ProviderState {
    available: AtomicBool,
    unavailable_since: Mutex<Option<Instant>>,
    probing: AtomicBool,
}

/// Availability of an adapter's providers.
pub(crate) struct Availability {
    states: Vec<ProviderState>,
    labels: Vec<(String, String)>,
    listeners: Mutex<Vec<UnboundedSender<AvailabilityChanged>>>,
}

impl Availability {
    pub(crate) fn new(labels: Vec<(String, String)>) -> Self {
        Availability {
            states: labels
                .iter()
                .map(|_| ProviderState {
                    available: AtomicBool::new(true),
                    unavailable_since: Mutex::new(None),
                    probing: AtomicBool::new(false),
                })
                .collect(),
            labels,
            listeners: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn subscribe(&self) -> UnboundedReceiver<AvailabilityChanged> {
        let (tx, rx) = unbounded();
        if let Ok(mut l) = self.listeners.lock() {
            l.push(tx);
        }
        rx
    }

    pub(crate) fn is_available(&self, i: usize) -> bool {
        self.states[i].available.load(Ordering::Acquire)
    }

    /// Sets availability and tells the listeners when it changed.
    pub(crate) fn set(&self, i: usize, available: bool) {
        let was = self.states[i].available.swap(available, Ordering::AcqRel);
        if let Ok(mut since) = self.states[i].unavailable_since.lock() {
            *since = if available {
                None
            } else {
                since.or(Some(Instant::now()))
            };
        }
        if was == available {
            return;
        }
        let event = AvailabilityChanged {
            index: i,
            provider: self.labels[i].0.clone(),
            model: self.labels[i].1.clone(),
            available,
        };
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.retain(|l| l.unbounded_send(event.clone()).is_ok());
        }
    }

    /// The providers to try, in order: the available ones, plus unavailable ones that have waited
    /// `recovery` (tried again by real traffic); when none qualifies, all of them.
    pub(crate) fn order(&self, recovery: Duration) -> Vec<usize> {
        let order: Vec<usize> = (0..self.states.len())
            .filter(|&i| {
                self.is_available(i)
                    || self.states[i]
                        .unavailable_since
                        .lock()
                        .ok()
                        .and_then(|s| *s)
                        .is_some_and(|since| since.elapsed() >= recovery)
            })
            .collect();
        if order.is_empty() {
            (0..self.states.len()).collect()
        } else {
            order
        }
    }

    /// Claims the right to probe provider `i` (one probe at a time).
    pub(crate) fn start_probe(&self, i: usize) -> bool {
        !self.states[i].probing.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn end_probe(&self, i: usize) {
        self.states[i].probing.store(false, Ordering::Release);
    }

    pub(crate) fn active(&self) -> Option<usize> {
        (0..self.states.len()).find(|&i| self.is_available(i))
    }
}

/// Starts one background probe of provider `i` (unless one runs): every `interval`, `probe()` is run
/// with `limit`; the first success marks the provider available again.
pub(crate) fn spawn_probe<P, Fut>(
    spawner: &dyn Spawn,
    availability: std::sync::Arc<Availability>,
    i: usize,
    interval: Duration,
    limit: Duration,
    probe: P,
) where
    P: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), crate::error::ProviderError>> + Send + 'static,
{
    if !availability.start_probe(i) {
        return;
    }
    spawner.spawn(Box::pin(async move {
        loop {
            futures_timer::Delay::new(interval).await;
            if let Ok(Ok(())) = timeout(limit, probe()).await {
                availability.set(i, true);
                break;
            }
            if availability.is_available(i) {
                break; // recovered through real traffic meanwhile
            }
        }
        availability.end_probe(i);
    }));
}

/// Resolves to `Err(())` if `fut` takes longer than `limit`.
pub(crate) async fn timeout<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, ()> {
    use futures::future::{select, Either};
    let fut = std::pin::pin!(fut);
    let delay = futures_timer::Delay::new(limit);
    match select(fut, delay).await {
        Either::Left((v, _)) => Ok(v),
        Either::Right(_) => Err(()),
    }
}
