//! The change types: what the plan does with one address ([`Change`], [`Action`]), the address as
//! the state recorded it and as the manifest declares it, and the fields that differ. The diff
//! produces them and the plan carries them, so they live below both: `diff` depends on this
//! module, never on `plan`. They are part of the plan JSON schema (`docs/plan-json.md`).

use pai_spec::{Address, Fingerprint, ProductCode, ProductRequest, Region};
use serde::{Deserialize, Serialize};

use crate::observe::Observed;
use pai_state::{Origin, Resource, Status};

/// The six things a plan can do with an address (`docs/state.md`, "From state to plan").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Wanted, not active in the state, not purchased: `CreateProductOrders`.
    Order,
    /// The cloud reports it purchased and the state does not hold it as active: record it.
    Adopt,
    /// Active with the same request, and the cloud agrees (or was not asked).
    Noop,
    /// Active in the state, but the cloud reports it not purchased: order it again.
    Reorder,
    /// In the state, gone from the manifest: drop the record; the activation stays billed.
    Forget,
    /// Active, but the manifest changed what cannot change after purchase: nothing is done.
    Conflict,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Order,
        Action::Adopt,
        Action::Noop,
        Action::Reorder,
        Action::Forget,
        Action::Conflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Order => "order",
            Action::Adopt => "adopt",
            Action::Noop => "noop",
            Action::Reorder => "reorder",
            Action::Forget => "forget",
            Action::Conflict => "conflict",
        }
    }

    /// Whether apply does something for it.
    pub fn is_change(self) -> bool {
        !matches!(self, Action::Noop | Action::Conflict)
    }

    /// Whether apply sends `CreateProductOrders` for it.
    pub fn orders(self) -> bool {
        matches!(self, Action::Order | Action::Reorder)
    }
}

/// An address as the state recorded it when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub status: Status,
    pub origin: Origin,
    pub region: Region,
    pub product_code: ProductCode,
    pub fingerprint: Fingerprint,
    pub request: ProductRequest,
    pub order_id: Option<String>,
    pub product_ids: Vec<String>,
    pub last_error: Option<String>,
    pub updated_at: String,
    /// Until when its last order may not show yet (`null`: not sent, or before schema 3).
    #[serde(default)]
    pub settle_until: Option<String>,
    /// Reorders after drift since the cloud last reported it purchased.
    #[serde(default)]
    pub reorders: u32,
}

impl From<&Resource> for Recorded {
    fn from(r: &Resource) -> Self {
        Recorded {
            status: r.status,
            origin: r.origin,
            region: r.region.clone(),
            product_code: r.product_code,
            fingerprint: r.fingerprint.clone(),
            request: r.request.clone(),
            order_id: r.order_id.clone(),
            product_ids: r.product_ids.clone(),
            last_error: r.last_error.clone(),
            updated_at: r.updated_at.clone(),
            settle_until: r.settle_until.clone(),
            reorders: r.reorders,
        }
    }
}

/// An address as the manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    pub region: Region,
    pub product_code: ProductCode,
    pub fingerprint: Fingerprint,
    pub request: ProductRequest,
}

/// Whether a changed field can change without a new purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Which activation it is (region, product code): it cannot move.
    Identity,
    /// Fixed at purchase, with no API to change it.
    Immutable,
    /// A label with no effect on the activation (an instance property's `Name`, property order).
    Cosmetic,
}

/// One field that differs between the recorded request and the manifest's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// `region`, a request key such as `AutoRenew`, `InstanceProperties[region]` or
    /// `InstanceProperties[region].Name`.
    pub field: String,
    /// `null` when the field was absent.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub effect: Effect,
}

/// What the plan does with one address, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    pub reason: String,
    /// The manifest's region and product, or the recorded ones for a `forget`.
    pub region: Region,
    pub product_code: ProductCode,
    /// The manifest's request fingerprint, or the recorded one for a `forget`.
    pub fingerprint: Fingerprint,
    /// An `order` made without the cloud's answer for a `pending` row: apply must first ask the
    /// cloud and record the product instead of ordering it if it is purchased.
    pub resolve_first: bool,
    /// The manifest renamed the address: the record lives under this old address and moves here.
    pub moved_from: Option<Address>,
    pub before: Option<Recorded>,
    pub after: Option<Desired>,
    /// What the cloud reported; `null` when it was not asked or did not report.
    pub observed: Option<Observed>,
    pub field_changes: Vec<FieldChange>,
    pub warnings: Vec<String>,
    /// For a conflict: the ways out.
    pub remedies: Vec<String>,
}

impl Change {
    /// Recorded active, ordered moments ago, and the cloud does not show it yet: a noop that a
    /// reviewer should still see (`crate::reconcile::Verdict::AwaitingActivation`).
    pub fn awaiting_activation(&self) -> bool {
        self.action == Action::Noop
            && self.before.as_ref().is_some_and(|b| b.status == Status::Active)
            && self.observed.as_ref().is_some_and(|o| !o.purchased)
    }

    /// Recorded pending (an order sent moments ago, by a killed run or one still running), and
    /// the cloud does not show it yet: a noop until its settle deadline
    /// (`crate::reconcile::Verdict::AwaitingOutcome`).
    pub fn awaiting_outcome(&self) -> bool {
        self.action == Action::Noop
            && self.before.as_ref().is_some_and(|b| b.status == Status::Pending)
            && self.observed.as_ref().is_some_and(|o| !o.purchased)
    }

    /// A noop a reviewer should still see: an order that does not show yet.
    pub fn awaiting(&self) -> bool {
        self.awaiting_activation() || self.awaiting_outcome()
    }

    /// A reorder after drift that the cloud now reports purchased: apply notes that it showed,
    /// so that a later drift of it is reordered again rather than taken for one that never showed.
    pub fn reorder_shown(&self) -> bool {
        self.action == Action::Noop
            && self.before.as_ref().is_some_and(|b| b.reorders > 0)
            && self.observed.as_ref().is_some_and(|o| o.purchased)
    }

    /// The cloud reported that this account may not purchase it (`HasPermissionToPurchase:
    /// false`): apply sends no order for it, whatever the action says.
    pub fn may_not_purchase(&self) -> bool {
        self.action.orders() && self.observed.as_ref().is_some_and(|o| o.has_permission == Some(false))
    }
}
