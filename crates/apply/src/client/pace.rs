//! A pace for calls that a service limits per second for the whole caller account, whatever
//! the number of clients: STS `AssumeRole` answers at most 100 calls a second per account,
//! its RAM users and roles counted together. A fleet run assumes a role in each of hundreds of
//! accounts at once, so its calls are spaced rather than sent in a burst that is throttled.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Calls spaced at least `interval` apart, in the order they asked.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pace {
    /// At most `per_second` calls a second (at least a tenth of one).
    pub fn per_second(per_second: f64) -> Pace {
        let per_second = if per_second.is_finite() {
            per_second.max(0.1)
        } else {
            0.1
        };
        Pace {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(None),
        }
    }

    /// Waits for this call's slot.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let (slot, after) = reserve(Instant::now(), *next, self.interval);
            *next = Some(after);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// The slot of a call asking at `now` when the next free slot is `next`, and the next free
/// slot after it. An idle pace does not bank slots: a burst after a pause is spaced too.
fn reserve(now: Instant, next: Option<Instant>, interval: Duration) -> (Instant, Instant) {
    let slot = next.map_or(now, |n| n.max(now));
    (slot, slot + interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_and_not_banked() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let i = ms(10);
        let cases = [
            // (now, next free) -> (slot, next free after)
            ((t0, None), (t0, t0 + i)),
            ((t0, Some(t0 + i)), (t0 + i, t0 + ms(20))),
            ((t0 + ms(5), Some(t0 + ms(20))), (t0 + ms(20), t0 + ms(30))),
            // After a pause the call goes at once; the slots it missed are gone.
            ((t0 + ms(100), Some(t0 + ms(30))), (t0 + ms(100), t0 + ms(110))),
        ];
        for ((now, next), want) in cases {
            assert_eq!(reserve(now, next, i), want);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_wait_for_their_slots() {
        let pace = Pace::per_second(100.0);
        let start = Instant::now();
        for _ in 0..5 {
            pace.wait().await;
        }
        // Paused time advances only by the sleeps: four intervals after the first call.
        assert_eq!(start.elapsed(), Duration::from_millis(40));
    }
}
