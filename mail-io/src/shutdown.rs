//! A signal that ends sessions politely: servers say 421 / `-ERR` and close, clients quit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shutdown signal shared by any number of connections (clone it freely). Once
/// [`trigger`](Self::trigger)ed, every connection watching it hands its machine
/// [`shut_down`](mail_wire::machine::Machine::shut_down) at its next wait, sends the goodbye
/// and closes.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    triggered: AtomicBool,
    #[cfg(feature = "tokio")]
    notify: tokio::sync::Notify,
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers the signal, for every clone, once and for all.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        #[cfg(feature = "tokio")]
        self.inner.notify.notify_waiters();
    }

    /// Whether the signal was triggered.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Waits until the signal is triggered (at once if it was).
    #[cfg(feature = "tokio")]
    pub async fn triggered(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a trigger in between is not missed.
            notified.as_mut().enable();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let shutdown = Shutdown::new();
        let waiter = shutdown.clone();
        let task = tokio::spawn(async move { waiter.triggered().await });
        tokio::task::yield_now().await;
        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        task.await.ok();
        assert!(shutdown.clone().is_triggered());
        // Already triggered: returns at once.
        shutdown.triggered().await;
    }
}
