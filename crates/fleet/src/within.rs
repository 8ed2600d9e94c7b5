//! How a stopped fleet apply resumes without buying what nobody reviewed. An account that was
//! half applied when the run stopped has a state that moved on since the fleet plan was made,
//! so its saved plan is stale. Rather than ask for a new review of the whole fleet, the account
//! is planned afresh, and that fresh plan is applied only if every order it would send is one
//! the reviewed plan also sends ([`within_reviewed`]): what the stopped run already bought no
//! longer shows as an order, so the fresh plan sends fewer, never others.
//!
//! An order is the same when it is for the same address, in the same region, of the same
//! product, with the same request (its fingerprint and its body), sent to the same endpoint
//! with the same `AutoPay`. Changes that send no order (adopt, forget, noop) cost nothing and
//! are not compared; a conflict refuses the fresh plan, as it refuses any plan.

use std::fmt;

use pai_planner::{Action, Change, Plan, RegionOrder};
use pai_spec::{Address, Region};

/// Why a fresh plan is not within the reviewed one: the first address (in address order) that
/// it would order differently, or that has a conflict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {why}; plan the account again and review it", address.qualified())]
pub struct NotReviewed {
    pub address: Address,
    pub why: Why,
}

/// What differs for [`NotReviewed::address`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The fresh plan has a conflict there.
    Conflict,
    /// The fresh plan orders it; the reviewed plan did not (`None`: had no change for it).
    NotOrdered {
        reviewed: Option<Action>,
    },
    Region {
        reviewed: Region,
        fresh: Region,
    },
    ProductCode {
        reviewed: String,
        fresh: String,
    },
    /// Another request (fingerprint or body) than the reviewed one.
    Request,
    AutoPay {
        reviewed: bool,
        fresh: bool,
    },
    Endpoint {
        reviewed: String,
        fresh: String,
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |s: &str| pai_spec::escape(s).into_owned();
        match self {
            Why::Conflict => f.write_str("the fresh plan has a conflict there"),
            Why::NotOrdered { reviewed: None } => {
                f.write_str("the fresh plan orders it, and the reviewed plan had no change for it")
            }
            Why::NotOrdered { reviewed: Some(action) } => write!(
                f,
                "the fresh plan orders it, and the reviewed plan did not order it ({})",
                action.as_str()
            ),
            Why::Region { reviewed, fresh } => {
                write!(
                    f,
                    "the fresh plan orders it in {fresh}, the reviewed plan in {reviewed}"
                )
            }
            Why::ProductCode { reviewed, fresh } => write!(
                f,
                "the fresh plan orders it as {}, the reviewed plan as {}",
                shown(fresh),
                shown(reviewed)
            ),
            Why::Request => f.write_str("the fresh plan orders it with another request than the reviewed plan"),
            Why::AutoPay { reviewed, fresh } => write!(
                f,
                "the fresh plan orders it with AutoPay={fresh}, the reviewed plan with AutoPay={reviewed}"
            ),
            Why::Endpoint { reviewed, fresh } => write!(
                f,
                "the fresh plan sends its order to {}, the reviewed plan to {}",
                shown(fresh),
                shown(reviewed)
            ),
        }
    }
}

/// Whether `fresh` sends only orders that `reviewed` sends too (any subset of them, none
/// included), and has no conflict. See the module's documentation.
pub fn within_reviewed(reviewed: &Plan, fresh: &Plan) -> Result<(), NotReviewed> {
    for change in &fresh.changes {
        let refuse = |why| {
            Err(NotReviewed {
                address: change.address.clone(),
                why,
            })
        };
        if change.action == Action::Conflict {
            return refuse(Why::Conflict);
        }
        if !sends_order(change) {
            continue;
        }
        let Some(after) = &change.after else { continue };
        let before = reviewed.change(&change.address);
        let Some(reviewed_after) = before.filter(|c| sends_order(c)).and_then(|c| c.after.as_ref()) else {
            return refuse(Why::NotOrdered {
                reviewed: before.map(|c| c.action),
            });
        };
        if reviewed_after.region != after.region {
            return refuse(Why::Region {
                reviewed: reviewed_after.region.clone(),
                fresh: after.region.clone(),
            });
        }
        if reviewed_after.product_code != after.product_code {
            return refuse(Why::ProductCode {
                reviewed: reviewed_after.product_code.as_str().to_owned(),
                fresh: after.product_code.as_str().to_owned(),
            });
        }
        if reviewed_after.fingerprint != after.fingerprint || reviewed_after.request != after.request {
            return refuse(Why::Request);
        }
        // A plan always has an order for the region of an ordering change; when one of them
        // does not (an edited plan), the order cannot be shown to be the reviewed one.
        let (Some(was), Some(now)) = (order_in(reviewed, &after.region), order_in(fresh, &after.region)) else {
            return refuse(Why::Request);
        };
        if was.body.auto_pay != now.body.auto_pay {
            return refuse(Why::AutoPay {
                reviewed: was.body.auto_pay,
                fresh: now.body.auto_pay,
            });
        }
        if was.endpoint != now.endpoint {
            return refuse(Why::Endpoint {
                reviewed: was.endpoint.clone(),
                fresh: now.endpoint.clone(),
            });
        }
    }
    Ok(())
}

/// Whether apply sends `CreateProductOrders` for the change: an order or reorder the account
/// may purchase (apply sends none for one the cloud says it may not).
fn sends_order(change: &Change) -> bool {
    change.action.orders() && !change.may_not_purchase()
}

fn order_in<'a>(plan: &'a Plan, region: &Region) -> Option<&'a RegionOrder> {
    plan.orders.iter().find(|o| &o.region == region)
}

#[cfg(test)]
mod tests;
