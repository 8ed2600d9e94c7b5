//! A saved plan is an upper bound, never a command. `apply PLANFILE` and `fleet apply
//! FLEETPLAN` plan again, under the state's lock, from the current state and the cloud's answers,
//! and carry out the new plan only if every change of it lies within the reviewed one
//! ([`within_reviewed`]). A plan edited after review (and sealed again with a fresh digest) thus
//! buys or forgets nothing that the manifest and the state do not give, and a stopped apply
//! resumes without buying what nobody reviewed: what it already bought no longer shows as an
//! order, so the new plan sends fewer orders, never others.
//!
//! Which action of the new plan each reviewed action allows ([`allows`]):
//!
//! | reviewed \ now      | order | reorder | adopt | noop | forget | conflict |
//! |---------------------|-------|---------|-------|------|--------|----------|
//! | order               | same  |         | yes   | yes  |        |          |
//! | reorder             | same  | same    | yes   | yes  |        |          |
//! | adopt               |       |         | yes   | yes  |        |          |
//! | noop                |       |         |       | yes  |        |          |
//! | forget              |       |         |       |      | yes    |          |
//! | conflict            |       |         |       |      |        |          |
//! | (no change for it)  |       |         |       | yes  |        |          |
//!
//! "same": the same region, product, request (fingerprint and body), `AutoPay` and endpoint.
//! An order may have become a noop or an adoption meanwhile (it was bought, by the stopped run or
//! by hand); a reorder may have become an order (a stopped run's reorder left its row pending).
//! An order never becomes a reorder: that is a second order of a product whose first order was
//! answered, which a person decides (`docs/idempotency.md`). A noop never becomes a forget, an
//! adoption never an order. An adoption or a forget is the same when its region and product are.

use std::fmt;

use pai_spec::{Address, Region};

use super::{Plan, RegionOrder};
use crate::change::{Action, Change};

/// Why the new plan is not within the reviewed one: the first address (in address order) whose
/// change it does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {why}; plan again and review it", address.qualified())]
pub struct NotReviewed {
    pub address: Address,
    pub why: Why,
}

/// What differs for [`NotReviewed::address`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The new plan has a conflict there.
    Conflict,
    /// The new plan does what the reviewed one does not allow (`reviewed: None`: the reviewed
    /// plan had no change for the address).
    Action {
        reviewed: Option<Action>,
        now: Action,
    },
    /// The new plan sends an order the reviewed plan did not send there (the reviewed one
    /// could not: the account had no permission to purchase it then).
    NotOrdered,
    Region {
        reviewed: Region,
        now: Region,
    },
    ProductCode {
        reviewed: String,
        now: String,
    },
    /// Another request (fingerprint or body) than the reviewed one.
    Request,
    AutoPay {
        reviewed: bool,
        now: bool,
    },
    Endpoint {
        reviewed: String,
        now: String,
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |s: &str| pai_spec::escape(s).into_owned();
        match self {
            Why::Conflict => f.write_str("a plan made now has a conflict there"),
            Why::Action { reviewed: None, now } => write!(
                f,
                "a plan made now would {} it, and the reviewed plan had no change for it",
                verb(*now)
            ),
            Why::Action {
                reviewed: Some(reviewed),
                now,
            } => write!(
                f,
                "the reviewed plan would {} it, and a plan made now would {} it",
                verb(*reviewed),
                verb(*now)
            ),
            Why::NotOrdered => {
                f.write_str("a plan made now orders it, and the reviewed plan could not (no permission then)")
            }
            Why::Region { reviewed, now } => {
                write!(f, "a plan made now has it in {now}, the reviewed plan in {reviewed}")
            }
            Why::ProductCode { reviewed, now } => write!(
                f,
                "a plan made now has it as {}, the reviewed plan as {}",
                shown(now),
                shown(reviewed)
            ),
            Why::Request => f.write_str("a plan made now orders it with another request than the reviewed plan"),
            Why::AutoPay { reviewed, now } => write!(
                f,
                "a plan made now orders it with AutoPay={now}, the reviewed plan with AutoPay={reviewed}"
            ),
            Why::Endpoint { reviewed, now } => write!(
                f,
                "a plan made now sends its order to {}, the reviewed plan to {}",
                shown(now),
                shown(reviewed)
            ),
        }
    }
}

/// The action as the verb of a sentence: "would order it", "would keep it".
fn verb(action: Action) -> &'static str {
    match action {
        Action::Order => "order",
        Action::Reorder => "order again (reorder)",
        Action::Adopt => "adopt",
        Action::Noop => "keep (noop)",
        Action::Forget => "forget",
        Action::Conflict => "conflict on",
    }
}

/// Whether the reviewed action (`None`: no change for the address) allows `now` in the new plan,
/// before the two are compared field by field. The table of the module's documentation.
pub fn allows(reviewed: Option<Action>, now: Action) -> bool {
    use Action::*;
    match (reviewed, now) {
        (_, Conflict) | (Some(Conflict), _) => false,
        (_, Noop) => reviewed != Some(Forget),
        (Some(Order), Order | Adopt) => true,
        (Some(Reorder), Reorder | Order | Adopt) => true,
        (Some(Adopt), Adopt) => true,
        (Some(Forget), Forget) => true,
        _ => false,
    }
}

/// Whether every change of `now` lies within `reviewed` (see the module's documentation).
pub fn within_reviewed(reviewed: &Plan, now: &Plan) -> Result<(), NotReviewed> {
    // Both directions: an address the reviewed plan changes and the new plan does not have
    // at all cannot happen for the same manifest and state, but an edited plan can claim it.
    for change in &now.changes {
        check(reviewed, now, change).map_err(|why| NotReviewed {
            address: change.address.clone(),
            why,
        })?;
    }
    for change in &reviewed.changes {
        if now.change(&change.address).is_none() && change.action.is_change() {
            return Err(NotReviewed {
                address: change.address.clone(),
                why: Why::Action {
                    reviewed: Some(change.action),
                    now: Action::Noop,
                },
            });
        }
    }
    Ok(())
}

fn check(reviewed: &Plan, now: &Plan, change: &Change) -> Result<(), Why> {
    if change.action == Action::Conflict {
        return Err(Why::Conflict);
    }
    let before = reviewed.change(&change.address);
    if !allows(before.map(|c| c.action), change.action) {
        return Err(Why::Action {
            reviewed: before.map(|c| c.action),
            now: change.action,
        });
    }
    let Some(before) = before else { return Ok(()) };
    if change.action == Action::Noop {
        return Ok(());
    }
    same_place(before, change)?;
    if !sends_order(change) {
        return Ok(());
    }
    if !sends_order(before) {
        return Err(Why::NotOrdered);
    }
    let (Some(was), Some(after)) = (&before.after, &change.after) else {
        return Err(Why::Request);
    };
    if was.fingerprint != after.fingerprint || was.request != after.request {
        return Err(Why::Request);
    }
    // A plan always has an order for the region of an ordering change; when one of them does
    // not (an edited plan), the order cannot be shown to be the reviewed one.
    let (Some(was), Some(order)) = (order_in(reviewed, &after.region), order_in(now, &after.region)) else {
        return Err(Why::Request);
    };
    if was.body.auto_pay != order.body.auto_pay {
        return Err(Why::AutoPay {
            reviewed: was.body.auto_pay,
            now: order.body.auto_pay,
        });
    }
    if was.endpoint != order.endpoint {
        return Err(Why::Endpoint {
            reviewed: was.endpoint.clone(),
            now: order.endpoint.clone(),
        });
    }
    Ok(())
}

/// The same region and product on both sides of the change (for a forget, the recorded ones),
/// and the same rename, if any.
fn same_place(reviewed: &Change, now: &Change) -> Result<(), Why> {
    if reviewed.region != now.region {
        return Err(Why::Region {
            reviewed: reviewed.region.clone(),
            now: now.region.clone(),
        });
    }
    if reviewed.product_code != now.product_code {
        return Err(Why::ProductCode {
            reviewed: reviewed.product_code.as_str().to_owned(),
            now: now.product_code.as_str().to_owned(),
        });
    }
    if reviewed.moved_from != now.moved_from {
        return Err(Why::Request);
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
