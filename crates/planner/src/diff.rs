//! The diff: a pure function of (desired manifest, recorded state, observed cloud) to one
//! [`Change`] per address. The decision table, with its reasons, is in `docs/state.md`; the
//! short form:
//!
//! | recorded      | cloud: purchased | cloud: not purchased | not asked / not reported         |
//! |---------------|------------------|----------------------|----------------------------------|
//! | nothing       | adopt            | order                | order                            |
//! | active        | noop             | reorder (1)          | noop                             |
//! | pending       | adopt (resolves) | order (2)            | order, `resolve_first`           |
//! | failed        | adopt            | order                | order                            |
//! | unpaid        | adopt (resolves) | noop, awaiting payment | noop, awaiting payment         |
//! | not wanted    | forget           | forget               | forget                           |
//! | active elsewhere, account-wide (OSS) | adopt (the record moves) | adopt (the record moves) | adopt (the record moves) |
//!
//! (1) Only once the row's settle deadline has passed: before it the last order may still be
//! carried out or not show yet, and the plan says "awaiting activation" as a noop. A row whose
//! last order was itself a reorder after drift is a conflict instead: a reorder that never
//! showed will not be helped by another.
//!
//! (2) Only once the row's settle deadline has passed: before it the order (of a killed run, or
//! of one still running) may still be carried out, and the plan says "awaiting the outcome" as a
//! noop. Apply waits out that deadline before it plans, so it never sees this noop.
//!
//! What the cloud's answer means for a recorded row (adopt, resolve, drift, not placed) is
//! [`reconcile()`], shared with the executor and `refresh`; this
//! module turns its verdict into an action and a reason.
//!
//! An active (or pending-and-purchased) record whose request differs from the manifest's in a
//! field that cannot change after purchase is a `conflict`, unless the cloud reports the
//! activation gone (then the new request is simply ordered). Cosmetic differences (property
//! labels, property order) are reported and otherwise ignored.
//!
//! An `unpaid` record (an order placed with `AutoPay: false`, waiting for payment in the
//! console) is never ordered again: the plan says "awaiting payment of order `<OrderId>`" as a
//! noop with a warning, so `--detailed-exitcode` reports no change for it, until the cloud
//! reports the product purchased and the record is resolved.

use pai_spec::{Address, Manifest, Product, Region};

use crate::change::{Action, Change, Desired, Effect, FieldChange, Recorded};
use crate::observe::{Observation, Observed};
use crate::reconcile::{reconcile, Record, Verdict, Word};

mod fields;
pub use fields::field_changes;
use pai_state::{Resource, StateSnapshot, Status};

/// One change per address of the manifest or the state, sorted by address. An address the
/// manifest renamed appears only as the `moved_from` of its new address.
pub fn diff(manifest: &Manifest, state: &StateSnapshot, observed: Option<&Observation>) -> Vec<Change> {
    let planner = Planner {
        manifest,
        state,
        observed,
    };
    let mut changes: Vec<Change> = manifest.products.values().map(|p| planner.desired(p)).collect();
    let moved: Vec<Address> = changes.iter().filter_map(|c| c.moved_from.clone()).collect();
    changes.extend(
        state
            .resources
            .values()
            .filter(|r| !manifest.products.contains_key(&r.address) && !moved.contains(&r.address))
            .map(|r| planner.forget(r)),
    );
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    changes
}

/// Whether `r` is an activation of `product`'s account-wide product (OSS) in another region,
/// recorded active: then declaring it in another region moves the record, it never orders.
fn is_account_wide_move(r: &Resource, product: &Product) -> bool {
    product.code().is_account_wide()
        && r.product_code == product.code()
        && r.region != product.region
        && r.status == Status::Active
}

/// What is known of the cloud for one product.
#[derive(Clone, Copy)]
enum Knowledge<'a> {
    NotAsked,
    NotReported,
    Seen(&'a Observed),
}

impl<'a> Knowledge<'a> {
    fn seen(self) -> Option<&'a Observed> {
        match self {
            Knowledge::Seen(o) => Some(o),
            _ => None,
        }
    }

    fn word(self) -> Word {
        Word::of(self.seen())
    }

    /// Completes "… the cloud was not asked" style clauses for the unknown cases.
    fn unknown_clause(self) -> &'static str {
        match self {
            Knowledge::NotAsked => "the cloud was not asked (--refresh=false)",
            _ => "the cloud did not report on it",
        }
    }
}

const BILLED_WARNING: &str = "the activation stays active and billed: the API cannot cancel it. Cancel it in the \
                              Alibaba Cloud console if it is no longer needed";

struct Planner<'a> {
    manifest: &'a Manifest,
    state: &'a StateSnapshot,
    observed: Option<&'a Observation>,
}

impl Planner<'_> {
    fn knowledge(&self, region: &Region, code: pai_spec::ProductCode) -> Knowledge<'_> {
        match self.observed {
            None => Knowledge::NotAsked,
            Some(obs) => obs.get(region, code).map_or(Knowledge::NotReported, Knowledge::Seen),
        }
    }

    fn desired(&self, product: &Product) -> Change {
        let k = self.knowledge(&product.region, product.code());
        let mut change = base(product, k);
        match self.state.resources.get(&product.address) {
            Some(r) if is_account_wide_move(r, product) => self.account_wide_move(&mut change, product, r),
            Some(r) if r.region != product.region || r.product_code != product.code() => {
                self.identity_changed(&mut change, product, r, k)
            }
            Some(r) => self.recorded(&mut change, product, r, k, ""),
            None => self.unrecorded(&mut change, product, k),
        }
        change
    }

    /// Not in the state under this address: adopt or order, unless the activation is recorded
    /// under another address (renamed, or declared twice over time).
    fn unrecorded(&self, change: &mut Change, product: &Product, k: Knowledge<'_>) {
        if let Some(other) = self.state.find_activation(&product.region, product.code()) {
            if self.manifest.products.contains_key(&other.address) {
                change.action = Action::Conflict;
                change.reason = format!(
                    "the state records {} in {} as `{}`, which the manifest now declares as something else; one \
                     activation cannot have two addresses",
                    product.code(),
                    product.region,
                    other.address
                );
                change.before = Some(Recorded::from(other));
                change.remedies = vec![
                    format!("give `{}` back its region and product code", other.address),
                    format!(
                        "or run `pai-provision state rm {}` and plan again: `{}` then adopts the activation",
                        other.address, product.address
                    ),
                ];
                return;
            }
            change.moved_from = Some(other.address.clone());
            let prefix = format!("renamed from `{}`; ", other.address);
            self.recorded(change, product, other, k, &prefix);
            if change.action == Action::Noop {
                // Moving the record is a change of the state, and recording is what adopt does.
                change.action = Action::Adopt;
                change.reason += "; the record moves to the new address, nothing is ordered";
            }
            return;
        }
        if let Some(other) = self
            .state
            .resources
            .values()
            .find(|r| is_account_wide_move(r, product) && !self.manifest.products.contains_key(&r.address))
        {
            change.moved_from = Some(other.address.clone());
            self.account_wide_move(change, product, other);
            return;
        }
        // The early returns above took every activation recorded elsewhere.
        match (reconcile(None, false, k.word()), k.seen()) {
            (Verdict::Adopt, Some(o)) => {
                change.action = Action::Adopt;
                change.reason = format!("not in the state; the cloud reports it purchased{}", product_id(o));
            }
            (Verdict::Absent, Some(o)) => {
                change.action = Action::Order;
                change.reason = "not in the state; the cloud reports it not purchased".into();
                permission_warning(change, o);
            }
            _ => {
                change.action = Action::Order;
                change.reason = format!("not in the state; {}", k.unknown_clause());
            }
        }
    }

    /// An account-wide product (OSS) recorded active in another region: the one activation
    /// serves this region too, whatever `ListProducts` says here, so the record moves (to this
    /// address and region) and nothing is ordered. A second order would buy it twice.
    fn account_wide_move(&self, change: &mut Change, product: &Product, r: &Resource) {
        change.before = Some(Recorded::from(r));
        change.action = Action::Adopt;
        let renamed = match &change.moved_from {
            Some(from) => format!(" as `{from}`"),
            None => String::new(),
        };
        change.reason = format!(
            "{} is account-wide: the activation recorded{renamed} in {}{} serves {} too; the record moves there, \
             nothing is ordered",
            product.code(),
            r.region,
            r.order_id
                .as_deref()
                .map(|id| format!(" (order {id})"))
                .unwrap_or_default(),
            product.region
        );
    }

    /// The same address, recorded for another region or product.
    fn identity_changed(&self, change: &mut Change, product: &Product, r: &Resource, k: Knowledge<'_>) {
        if r.status == Status::Failed {
            // Nothing was bought under the old identity: plan the new one as if unrecorded,
            // unless another record holds it (its move would have nowhere to go).
            self.unrecorded(change, product, k);
            change.before = Some(Recorded::from(r));
            let failed = format!("the last order attempt, for {} in {}, failed", r.product_code, r.region);
            if let Some(other) = change.moved_from.take() {
                change.action = Action::Conflict;
                change.reason = format!(
                    "{failed}; the state records {} in {} as `{other}`, which is gone from the manifest",
                    product.code(),
                    product.region
                );
                change.remedies = vec![format!(
                    "run `pai-provision state rm {}` (nothing was bought for it) and plan again: the record of \
                     `{other}` then moves to `{}`",
                    product.address, product.address
                )];
            } else {
                change.reason = format!("{failed}; {}", change.reason);
            }
            return;
        }
        change.action = Action::Conflict;
        change.before = Some(Recorded::from(r));
        change.field_changes = field_changes(&r.region, &r.request, &product.region, &product.request);
        change.reason = format!(
            "the manifest moved `{}` from {} in {} to {} in {}; an activation cannot move",
            product.address,
            r.product_code,
            r.region,
            product.code(),
            product.region
        );
        change.remedies = vec![
            format!(
                "restore the region and product code of `{}` in the manifest",
                product.address
            ),
            format!(
                "or declare the new product under a new address and keep `{}` as it was",
                product.address
            ),
            format!(
                "or run `pai-provision state rm {}` and plan again ({} in {} stays active and billed)",
                product.address, r.product_code, r.region
            ),
        ];
    }

    /// Recorded with the same region and product code (under this address, or under the old
    /// address of a rename, with `prefix` saying so).
    fn recorded(&self, change: &mut Change, product: &Product, r: &Resource, k: Knowledge<'_>, prefix: &str) {
        change.before = Some(Recorded::from(r));
        change.field_changes = field_changes(&r.region, &r.request, &product.region, &product.request);
        let fixed = fixed_fields(&change.field_changes);
        let order = r
            .order_id
            .as_deref()
            .map(|id| format!(", order {id}"))
            .unwrap_or_default();
        let asked_at = self.observed.and_then(Observation::asked_at);
        let settles = r
            .settle_until
            .as_deref()
            .map(|t| format!(" (its order settled at {t})"))
            .unwrap_or_default();
        match (reconcile(Some(Record::of(r, asked_at)), false, k.word()), k.seen()) {
            (Verdict::Drift, Some(o)) => {
                change.action = Action::Reorder;
                change.reason =
                    format!("{prefix}recorded active{order}, but the cloud reports it not purchased{settles} (drift)");
                if let Some(fields) = &fixed {
                    change.reason += &format!("; the manifest changed {fields} since, so the new request is ordered");
                }
                permission_warning(change, o);
            }
            (Verdict::NeverShows, _) => {
                change.action = Action::Conflict;
                change.reason = format!(
                    "{prefix}recorded active{order}, ordered again after drift, and the cloud still reports it not \
                     purchased{settles}: the reorder never showed, and another order would not either"
                );
                change.remedies =
                    vec![
                        format!(
                        "look the order up in the order center of the Alibaba Cloud console{}; once the product shows \
                         as purchased, plan again",
                        r.order_id.as_deref().map(|id| format!(" (order {id})")).unwrap_or_default()
                    ),
                        format!(
                            "or, to order it once more, run `pai-provision state rm {}` and plan again",
                            product.address
                        ),
                    ];
            }
            (verdict @ (Verdict::Confirmed | Verdict::Nothing | Verdict::AwaitingActivation), _)
                if r.status == Status::Active =>
            {
                match &fixed {
                    Some(fields) => {
                        change.action = Action::Conflict;
                        change.reason = format!(
                        "{prefix}the manifest changed {fields}, which cannot change after purchase (recorded active{order})"
                    );
                        change.remedies = conflict_remedies(&product.address);
                    }
                    None if verdict == Verdict::AwaitingActivation => {
                        change.action = Action::Noop;
                        change.reason = format!(
                            "{prefix}awaiting activation: ordered{}, and the cloud does not report it purchased \
                             yet; an order may take until {} to show, so nothing is ordered before then",
                            r.order_id
                                .as_deref()
                                .map(|id| format!(" as order {id}"))
                                .unwrap_or_default(),
                            r.settle_until.as_deref().unwrap_or("its settle deadline")
                        );
                    }
                    None if k.seen().is_some() => {
                        change.action = Action::Noop;
                        change.reason = format!("{prefix}active with the same request; the cloud reports it purchased");
                    }
                    None => {
                        change.action = Action::Noop;
                        change.reason = format!("{prefix}active with the same request; {}", k.unknown_clause());
                    }
                }
            }
            (Verdict::Resolve, Some(o)) => {
                let (went_through, resolving) = if r.status == Status::Unpaid {
                    (
                        format!("the order awaiting payment{order} was paid"),
                        format!("the order awaiting payment{order} was paid"),
                    )
                } else {
                    (
                        "an interrupted order went through".to_owned(),
                        "resolving an interrupted order".to_owned(),
                    )
                };
                match &fixed {
                    Some(fields) => {
                        change.action = Action::Conflict;
                        change.reason = format!(
                            "{prefix}{went_through} (the cloud reports it purchased), but the manifest changed \
                             {fields} since it was sent"
                        );
                        change.remedies = conflict_remedies(&product.address);
                    }
                    None => {
                        change.action = Action::Adopt;
                        change.reason = format!("{prefix}{resolving}: the cloud reports it purchased{}", product_id(o));
                    }
                }
            }
            (Verdict::AwaitingOutcome, _) => {
                change.action = Action::Noop;
                change.reason = format!(
                    "{prefix}awaiting the outcome of the order sent at {} (until {}): the cloud does not report \
                     it purchased yet, and the order may still be carried out, so nothing is ordered before then",
                    r.updated_at,
                    r.settle_until.as_deref().unwrap_or("its settle deadline")
                );
            }
            (Verdict::NotPlaced, Some(o)) => {
                change.action = Action::Order;
                change.reason = format!(
                    "{prefix}resolving an interrupted order: the cloud reports it not purchased, so the order \
                     sent at {} did not take effect",
                    r.updated_at
                );
                permission_warning(change, o);
            }
            (verdict, seen) if r.status == Status::Unpaid => {
                // Ordering again would place a second order beside the one waiting to be paid.
                let order_id = r.order_id.as_deref().unwrap_or("(no OrderId recorded)");
                change.action = Action::Noop;
                change.reason = format!(
                    "{prefix}awaiting payment of order {order_id}: it was placed with AutoPay=false and buys \
                     nothing until someone pays it in the console; {}",
                    match verdict {
                        Verdict::AwaitingPayment => "the cloud reports it not purchased yet",
                        _ => k.unknown_clause(),
                    }
                );
                let url = seen
                    .and_then(|o| o.purchase_url.as_deref())
                    .map(|u| format!(" (purchase page: {u})"))
                    .unwrap_or_default();
                change.warnings.push(format!(
                    "awaiting payment of order {order_id}: pay it in the order center of the Alibaba Cloud console{url}; \
                     pai-provision places no other order for {}. To order anew instead, cancel it there and run \
                     `pai-provision state rm {}`",
                    product.address.qualified(),
                    product.address
                ));
                if let Some(fields) = &fixed {
                    change.warnings.push(format!(
                        "the manifest changed {fields} since that order was placed; paying it buys the recorded request"
                    ));
                }
            }
            (_, _) if r.status == Status::Pending => {
                change.action = Action::Order;
                change.resolve_first = true;
                change.reason = format!(
                    "{prefix}an order sent at {} has an unknown outcome (pending) and {}; apply asks the cloud \
                     first and orders only if it reports the product not purchased",
                    r.updated_at,
                    k.unknown_clause()
                );
                if let Some(fields) = &fixed {
                    change.warnings.push(format!(
                        "the manifest changed {fields} since that order was sent; if the cloud reports it \
                         purchased, apply stops with a conflict"
                    ));
                }
            }
            (verdict, seen) => {
                // Failed: nothing was bought by the last attempt.
                let failed = format!(
                    "{prefix}the last order attempt failed ({})",
                    r.last_error.as_deref().unwrap_or("no error recorded")
                );
                match (verdict, seen) {
                    (Verdict::Adopt, Some(o)) => {
                        change.action = Action::Adopt;
                        change.reason = format!("{failed}, but the cloud reports it purchased{}", product_id(o));
                    }
                    (Verdict::Absent, Some(o)) => {
                        change.action = Action::Order;
                        change.reason = format!("{failed}; the cloud reports it not purchased, so it is ordered again");
                        permission_warning(change, o);
                    }
                    _ => {
                        change.action = Action::Order;
                        change.reason = format!("{failed}; ordering again ({})", k.unknown_clause());
                    }
                }
            }
        }
        if change.action != Action::Conflict {
            for c in change.field_changes.iter().filter(|c| c.effect == Effect::Cosmetic) {
                change.warnings.push(format!(
                    "{} changed; it is a label with no effect on the activation, and the state keeps the recorded \
                     request",
                    c.field
                ));
            }
        }
    }

    fn forget(&self, r: &Resource) -> Change {
        let k = self.knowledge(&r.region, r.product_code);
        let observed = k.seen();
        let purchased = observed.map(|o| o.purchased);
        let mut change = Change {
            address: r.address.clone(),
            action: Action::Forget,
            reason: "in the state, gone from the manifest".into(),
            region: r.region.clone(),
            product_code: r.product_code,
            fingerprint: r.fingerprint.clone(),
            resolve_first: false,
            moved_from: None,
            before: Some(Recorded::from(r)),
            after: None,
            observed: observed.cloned(),
            field_changes: Vec::new(),
            warnings: Vec::new(),
            remedies: Vec::new(),
        };
        match (r.status, purchased) {
            (_, Some(false)) => change.reason += "; the cloud reports it not purchased, so nothing stays billed",
            (Status::Failed, None) => change.reason += "; its last order failed, so nothing was bought",
            (Status::Unpaid, None) => {
                let order_id = r.order_id.as_deref().unwrap_or("(no OrderId recorded)");
                change.reason += &format!("; its order {order_id} awaits payment, so nothing was bought yet");
                change.warnings.push(format!(
                    "if someone pays order {order_id}, it is bought and no longer managed: cancel it in the order \
                     center of the Alibaba Cloud console if it is no longer needed"
                ));
            }
            (Status::Pending, None) => {
                change.reason += "; an order for it was sent and its outcome is unknown";
                change
                    .warnings
                    .push(format!("if that order went through, {BILLED_WARNING}"));
            }
            (_, Some(true)) | (Status::Active, None) => change.warnings.push(capitalised(BILLED_WARNING)),
        }
        change
    }
}

/// A change for `product` before the decision: `after` filled, action to be decided.
fn base(product: &Product, k: Knowledge<'_>) -> Change {
    Change {
        address: product.address.clone(),
        action: Action::Noop,
        reason: String::new(),
        region: product.region.clone(),
        product_code: product.code(),
        fingerprint: product.fingerprint(),
        resolve_first: false,
        moved_from: None,
        before: None,
        after: Some(Desired {
            region: product.region.clone(),
            product_code: product.code(),
            fingerprint: product.fingerprint(),
            request: product.request.clone(),
        }),
        observed: k.seen().cloned(),
        field_changes: Vec::new(),
        warnings: Vec::new(),
        remedies: Vec::new(),
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn product_id(o: &Observed) -> String {
    o.product_id
        .as_deref()
        .map(|id| format!(" (ProductId {id})"))
        .unwrap_or_default()
}

fn permission_warning(change: &mut Change, o: &Observed) {
    if o.has_permission == Some(false) {
        let url = o
            .purchase_url
            .as_deref()
            .map(|u| format!("; purchase page: {u}"))
            .unwrap_or_default();
        change.warnings.push(format!(
            "no permission to purchase: the cloud reports HasPermissionToPurchase=false for this account, so apply \
             sends no order for it; grant the RAM action pai:CreateOrder to the identity that applies{url}"
        ));
    }
}

fn conflict_remedies(address: &Address) -> Vec<String> {
    vec![
        "revert the manifest to the recorded values shown above".to_owned(),
        format!(
            "or accept the activation as it is and record the manifest's request without ordering: \
             `pai-provision state rm {address}` then `pai-provision state import {address}`"
        ),
        format!("or stop managing it: remove `{address}` from the manifest (the activation stays active and billed)"),
    ]
}

/// The non-cosmetic changed fields, for a reason: "AutoRenew and PricingCycle".
fn fixed_fields(changes: &[FieldChange]) -> Option<String> {
    let names: Vec<&str> = changes
        .iter()
        .filter(|c| c.effect != Effect::Cosmetic)
        .map(|c| c.field.as_str())
        .collect();
    match names.as_slice() {
        [] => None,
        [one] => Some((*one).to_owned()),
        [init @ .., last] => Some(format!("{} and {last}", init.join(", "))),
    }
}

#[cfg(test)]
mod tests;
