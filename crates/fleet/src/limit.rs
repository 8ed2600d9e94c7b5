//! The adaptive concurrency limit: how many requests (or accounts) run at once, lowered when
//! the API throttles and raised again while it does not. The rule is AIMD, as TCP's congestion
//! window: halve on a throttled answer, add one after a full window of successes. [`Aimd`] is
//! the pure rule; [`AdaptiveLimit`] applies it to tasks waiting for a [`Permit`].

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Semaphore;

/// Additive increase, multiplicative decrease, between `min` and `max` (both at least 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aimd {
    limit: usize,
    min: usize,
    max: usize,
    /// Successes since the limit last rose or fell.
    successes: usize,
}

impl Aimd {
    /// Starts at `start`; every bound is taken to be at least 1, `max` at least `min`, and
    /// `start` within them.
    pub fn new(start: usize, min: usize, max: usize) -> Aimd {
        let min = min.max(1);
        let max = max.max(min);
        Aimd {
            limit: start.clamp(min, max),
            min,
            max,
            successes: 0,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn min(&self) -> usize {
        self.min
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// The API throttled: halve the limit, not below `min`.
    pub fn throttled(&mut self) {
        self.limit = (self.limit / 2).max(self.min);
        self.successes = 0;
    }

    /// A request went through: one more at once after `limit` successes in a row, up to `max`.
    pub fn succeeded(&mut self) {
        if self.limit >= self.max {
            return;
        }
        self.successes += 1;
        if self.successes >= self.limit {
            self.limit += 1;
            self.successes = 0;
        }
    }
}

/// An [`Aimd`] limit shared by tasks: [`AdaptiveLimit::acquire`] waits until fewer than the
/// current limit hold a permit. Cloning shares the limit. Waiters are served in the order they
/// came (a fair semaphore), so no account starves behind later ones.
#[derive(Debug, Clone)]
pub struct AdaptiveLimit {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Its available permits are `limit - in_flight` when positive, else 0.
    semaphore: Semaphore,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    aimd: Aimd,
    in_flight: usize,
    /// Permits to retire as they come back: the limit fell below what is in flight.
    debt: usize,
}

/// The right to run one request (or account). Dropped, it counts as a success; call
/// [`Permit::throttled`] when the API answered with throttling.
#[derive(Debug)]
#[must_use = "the permit is released when dropped"]
pub struct Permit {
    inner: Arc<Inner>,
    throttled: bool,
}

impl AdaptiveLimit {
    pub fn new(aimd: Aimd) -> AdaptiveLimit {
        let start = aimd.limit();
        AdaptiveLimit {
            inner: Arc::new(Inner {
                semaphore: Semaphore::new(start),
                state: Mutex::new(State {
                    aimd,
                    in_flight: 0,
                    debt: 0,
                }),
            }),
        }
    }

    /// Waits for a permit: until fewer than the current limit are in flight.
    pub async fn acquire(&self) -> Permit {
        // The semaphore is never closed, so acquiring fails only if that changed; then running
        // without its permit is wrong, and a plain wait for nothing would hang: neither happens.
        if let Ok(permit) = self.inner.semaphore.acquire().await {
            permit.forget();
        }
        self.inner.lock().in_flight += 1;
        Permit {
            inner: Arc::clone(&self.inner),
            throttled: false,
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.inner.lock().aimd.limit()
    }

    /// How many permits are held now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().in_flight
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding it leaves only counters, still consistent: go on with them.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives a permit back and moves the limit by the outcome, keeping
    /// `available + in_flight - debt == limit`.
    fn release(&self, throttled: bool) {
        let mut state = self.lock();
        let before = state.aimd.limit();
        if throttled {
            state.aimd.throttled();
        } else {
            state.aimd.succeeded();
        }
        let after = state.aimd.limit();
        if after < before {
            // Idle permits go first, so that no new task starts above the new limit.
            let forgotten = self.semaphore.forget_permits(before - after);
            state.debt += before - after - forgotten;
        } else if after > before {
            let paid = state.debt.min(after - before);
            state.debt -= paid;
            self.semaphore.add_permits(after - before - paid);
        }
        state.in_flight -= 1;
        if state.debt > 0 {
            state.debt -= 1;
        } else {
            self.semaphore.add_permits(1);
        }
    }
}

impl Permit {
    /// The request was throttled: the limit falls as this permit is released.
    pub fn throttled(mut self) {
        self.throttled = true;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inner.release(self.throttled);
    }
}

#[cfg(test)]
mod tests;
