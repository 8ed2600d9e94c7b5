//! The settle wait: after an order whose outcome is in doubt, a "not purchased" from
//! `ListProducts` counts only once the settle time has passed (`docs/idempotency.md`, "The
//! settle time"). The wait is a property of the service and may be a minute; a "purchased" is
//! trusted at any time, so the cloud is asked now and then meanwhile, and an order that lands
//! early ends the wait early.

use std::fmt;
use std::time::{Duration, Instant};

use pai_planner::Word;
use pai_spec::{Product, Region};

use super::region::{Context, Resolution};
use super::report::RegionReport;
use super::{ExecError, Progress};

/// What a product whose settle wait a Ctrl-C or SIGTERM cut short says.
pub(super) const INTERRUPTED_WAIT: &str = "interrupted (Ctrl-C or SIGTERM) while waiting for its order to show; left \
                                           pending: the next run asks ListProducts about it before ordering anything";

/// The first question during the wait comes this long into it; each next one twice as long
/// after, up to [`POLL_MAX`]: a quick service is seen quickly, and a minute's wait costs about a
/// dozen `ListProducts` calls, far below any rate limit.
const POLL_FIRST: Duration = Duration::from_millis(500);
const POLL_MAX: Duration = Duration::from_secs(5);

impl Context {
    /// Asks `ListProducts` about `products` after `failure`, records what it reports purchased,
    /// and, when it reports some not purchased from a question asked before `settled_at`, waits
    /// until then and asks once more: only that answer's "not purchased" is the last word.
    pub(super) async fn resolve_settled(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        failure: &(dyn fmt::Display + Sync),
        why: super::region::Found,
        settled_at: Instant,
    ) -> Result<Resolution, ExecError> {
        // When the answer was given matters, not when it came back: take the time before asking.
        let asked = Instant::now();
        let first = self.resolve(report, products, failure, why).await?;
        if first.again.is_empty() || asked >= settled_at {
            return Ok(first);
        }
        let rest = self
            .settle_resolving(report, first.again, failure, why, settled_at)
            .await?;
        Ok(Resolution {
            again: rest.again,
            recorded: first.recorded + rest.recorded,
        })
    }

    /// Waits until `settled_at` for `products`, which `ListProducts` reported not purchased
    /// before then, and asks once more at `settled_at`: that answer decides. Meanwhile what it
    /// reports purchased is recorded at once; a "not purchased" or a failed question before
    /// `settled_at` decides nothing.
    pub(super) async fn settle_resolving(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        failure: &(dyn fmt::Display + Sync),
        why: super::region::Found,
        settled_at: Instant,
    ) -> Result<Resolution, ExecError> {
        let region = report.region.clone();
        self.announce_settle_wait(&region, settled_at);
        let mut again = products;
        let mut recorded = 0;
        let mut poll = POLL_FIRST;
        loop {
            let left = settled_at.saturating_duration_since(Instant::now());
            let nap = left.min(poll);
            if self.cancel.or_cancelled(tokio::time::sleep(nap)).await.is_none() {
                for p in &again {
                    report.set(
                        &p.address,
                        super::report::ProductOutcome::Unknown {
                            error: format!("{failure}; {INTERRUPTED_WAIT}"),
                        },
                    );
                }
                return Ok(Resolution {
                    again: Vec::new(),
                    recorded,
                });
            }
            if left <= poll {
                break;
            }
            poll = (poll * 2).min(POLL_MAX);
            let Ok(answers) = self.ask(&region, &again).await? else {
                continue;
            };
            let (bought, waiting): (Vec<_>, Vec<_>) = again
                .into_iter()
                .zip(answers)
                .partition(|(_, answer)| answer.word == Word::Purchased);
            again = waiting.into_iter().map(|(product, _)| product).collect();
            if !bought.is_empty() {
                let (products, answers) = bought.into_iter().unzip();
                let found = self.record_verdicts(report, products, answers, why)?;
                recorded += found.recorded;
                again.extend(found.again);
            }
            if again.is_empty() {
                return Ok(Resolution { again, recorded });
            }
        }
        let last = self.resolve(report, again, failure, why).await?;
        Ok(Resolution {
            again: last.again,
            recorded: recorded + last.recorded,
        })
    }

    /// Waits until `settled_at` without asking: an order still on its way has arrived by then,
    /// and a purchase shows in `ListProducts`. `false` when a Ctrl-C or SIGTERM cut it short.
    pub(super) async fn settle_wait(&self, region: &Region, settled_at: Instant) -> bool {
        self.announce_settle_wait(region, settled_at);
        let wait = tokio::time::sleep(settled_at.saturating_duration_since(Instant::now()));
        self.cancel.or_cancelled(wait).await.is_some()
    }

    fn announce_settle_wait(&self, region: &Region, settled_at: Instant) {
        let wait = settled_at.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return;
        }
        tracing::warn!(
            kind = "settle wait before ordering again",
            region = %region,
            "the cloud does not report the order yet; waiting up to {:.1}s, until {}, for it to arrive before \
             ordering again",
            wait.as_secs_f64(),
            until(wait)
        );
        self.progress.report(Progress::Settling {
            region: region.clone(),
            wait,
        });
    }
}

/// The wall-clock time `wait` from now, `11:42:07 UTC`, for a person who sees a wait announced.
pub(crate) fn until(wait: std::time::Duration) -> String {
    let at = pai_state::clock::now_utc() + wait;
    format!("{:02}:{:02}:{:02} UTC", at.hour(), at.minute(), at.second())
}
