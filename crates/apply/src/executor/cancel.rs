//! [`Cancel`]: the first Ctrl-C or SIGTERM of an apply. The executor sends no new order once it
//! is set (it is checked before each intent and each send), lets the request in flight be
//! answered and recorded, and stops waiting: a settle wait cut short leaves its rows `pending`
//! for the next run, which resolves them before it orders anything.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Shared by the signal handler (which sets it) and the executor (which looks at it). Cheap to
/// clone; clones are the same flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    set: AtomicBool,
    notify: Notify,
}

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    /// From now on no new order is sent, and every wait ends.
    pub fn cancel(&self) {
        self.inner.set.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.set.load(Ordering::SeqCst)
    }

    /// Resolves once [`Cancel::cancel`] was called (at once if it already was).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// Runs `future` to its end, or until cancelled: `None` when cancelled first. Only for
    /// what may be dropped midway (a sleep, a read); never an order.
    pub async fn or_cancelled<F: Future>(&self, future: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            () = self.cancelled() => None,
            out = future => Some(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_wait_ends_when_cancelled_and_a_cancelled_flag_stays_set() {
        let cancel = Cancel::new();
        assert!(!cancel.is_cancelled());
        assert_eq!(cancel.or_cancelled(async { 7 }).await, Some(7));
        let other = cancel.clone();
        let waiter =
            tokio::spawn(async move { other.or_cancelled(tokio::time::sleep(Duration::from_secs(3600))).await });
        tokio::task::yield_now().await;
        cancel.cancel();
        assert_eq!(waiter.await.ok(), Some(None));
        assert!(cancel.is_cancelled());
        assert_eq!(cancel.or_cancelled(async { 7 }).await, None);
    }
}
