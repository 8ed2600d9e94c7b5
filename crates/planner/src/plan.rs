//! The plan: what `apply` will do, per address, and the exact request each region will send.
//! It is what `plan --out` saves and `apply FILE` / `show FILE` read back, so every type here
//! is part of the versioned JSON schema documented in `docs/plan-json.md`.
//!
//! - `target`: [`PlanTarget`], what a plan is for, and [`Plan::check_current`], which refuses a
//!   saved plan anywhere else ([`StalePlan`]).
//! - `file`: the saved document, its digest, and [`Plan::save`], which replaces only a plan.

use pai_spec::{Address, Manifest, OrderBody, Region};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::change::{Action, Change};
use crate::diff::diff;
use crate::observe::Observation;
use pai_state::clock;
use pai_state::StateSnapshot;

pub mod bound;
mod file;
mod target;
mod verdict;

pub use bound::{within_reviewed, NotReviewed};
pub use file::{
    digest_of, digest_of_json, write_document, write_document_with, PlanFileError, WriteError, DIGEST_PREFIX,
};
pub use target::{Here, PlanTarget, StalePlan};
pub use verdict::{PolicyFinding, PolicyVerdict};

/// The version of the plan JSON schema. Readers refuse other ones: a newer one is for a newer
/// pai-provision, and an older one lacks what `apply` checks before it acts. Version 3: `target`
/// (the sandbox, the state's location, the account, every region's endpoint) and `digest`.
pub const FORMAT_VERSION: u32 = 3;

/// One region's `CreateProductOrders` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionOrder {
    pub region: Region,
    /// Where apply sends it, as the caller resolved it before planning: a URL, or a marker
    /// such as `sandbox` for a target whose URL changes from run to run.
    pub endpoint: String,
    /// The addresses ordered, in the order of `body.Products`.
    pub addresses: Vec<Address>,
    /// The exact body: its compact JSON (`OrderBody::to_json`) is what is sent and signed.
    pub body: OrderBody,
}

/// How many addresses each action concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub order: usize,
    pub adopt: usize,
    pub reorder: usize,
    pub forget: usize,
    pub conflict: usize,
    pub noop: usize,
}

/// What applying a plan would do, in one word: the saved document's `would` (docs/plan-json.md).
/// A scheduled drift run tells by it a plan that spends money from one that only brings the
/// state in line with what the cloud already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Would {
    /// Send `CreateProductOrders`: an `order` or a `reorder`.
    Order,
    /// Change the state only: `adopt` or `forget`, nothing bought.
    Record,
    /// Nothing: every change is a `noop` or a `conflict` (which apply refuses).
    Nothing,
}

impl Would {
    /// From the counts of each action (a plan's summary, or a fleet plan's totals).
    pub fn of(order: usize, reorder: usize, adopt: usize, forget: usize) -> Would {
        if order + reorder > 0 {
            Would::Order
        } else if adopt + forget > 0 {
            Would::Record
        } else {
            Would::Nothing
        }
    }
}

impl Summary {
    pub fn would(&self) -> Would {
        Would::of(self.order, self.reorder, self.adopt, self.forget)
    }

    pub fn of(changes: &[Change]) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            *match c.action {
                Action::Order => &mut s.order,
                Action::Adopt => &mut s.adopt,
                Action::Reorder => &mut s.reorder,
                Action::Forget => &mut s.forget,
                Action::Conflict => &mut s.conflict,
                Action::Noop => &mut s.noop,
            } += 1;
        }
        s
    }
}

/// A whole plan. See `docs/plan-json.md` for the meaning of every field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub tool_version: String,
    pub created_at: String,
    /// The manifest as given on the command line (relative paths are relative to where `plan` ran).
    pub manifest_path: String,
    /// Hex SHA-256 of the manifest's bytes.
    pub manifest_hash: String,
    /// The state's lineage, `null` when there was no state yet.
    pub lineage: Option<String>,
    pub serial: u64,
    /// Whether the cloud was asked (`--refresh=false` makes it `false`).
    pub refreshed: bool,
    /// What the plan is for: `apply` refuses it anywhere else.
    pub target: PlanTarget,
    pub summary: Summary,
    /// Every address of the manifest and the state, sorted; `noop`s included.
    pub changes: Vec<Change>,
    /// One entry per region with something to order, sorted by region.
    pub orders: Vec<RegionOrder>,
    /// The change freeze the state was under when the plan was made (`state freeze`): apply
    /// refuses while the state is frozen. Absent when it was not frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<pai_state::Freeze>,
    /// The policies' verdict, with `plan --policy DIR`; absent otherwise, so that a plan made
    /// without policies is the same document (and digest) as before policies existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyVerdict>,
}

impl Plan {
    /// Diffs the manifest against the state and the cloud's report (`None` with
    /// `--refresh=false`) and assembles the plan. `endpoint` names where each region's calls
    /// go: the caller resolves it once, the same way it builds the client that sends the
    /// orders, so that the plan shows what apply uses. The rest of the target (sandbox, state,
    /// account) is the caller's to set with [`Plan::made_for`]. Pure: the clock is an argument.
    pub fn build(
        manifest: &Manifest,
        manifest_path: &str,
        state: &StateSnapshot,
        observed: Option<&Observation>,
        endpoint: &dyn Fn(&Region) -> String,
        created_at: OffsetDateTime,
    ) -> Plan {
        let changes = diff(manifest, state, observed);
        let orders = region_orders(manifest, &changes, endpoint);
        let target = PlanTarget {
            endpoints: PlanTarget::endpoints_of(&changes, endpoint),
            ..PlanTarget::default()
        };
        Plan {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: clock::format(created_at),
            manifest_path: manifest_path.to_owned(),
            manifest_hash: manifest.source_hash.clone(),
            lineage: state.lineage.clone(),
            serial: state.serial,
            refreshed: observed.is_some(),
            target,
            summary: Summary::of(&changes),
            changes,
            orders,
            frozen: state.freeze.clone(),
            policy: None,
        }
    }

    /// Records the rest of what the plan is for: whether it is the sandbox's, the state's
    /// location (as displayed: no password) and the account, when the credentials name one.
    pub fn made_for(mut self, sandbox: bool, state: String, account: Option<String>) -> Plan {
        self.target.sandbox = sandbox;
        self.target.state = state;
        self.target.account = account;
        self
    }

    /// Whether apply would change anything (conflicts and noops are not changes).
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change())
    }

    pub fn has_conflicts(&self) -> bool {
        self.changes.iter().any(|c| c.action == Action::Conflict)
    }

    /// Whether a policy denies the plan: it is then neither saved nor applied.
    pub fn is_denied(&self) -> bool {
        self.policy.as_ref().is_some_and(PolicyVerdict::denies)
    }

    /// `plan`'s exit code: 1 with conflicts or a policy's denial; with `--detailed-exitcode`, 2
    /// when there are changes.
    pub fn exit_code(&self, detailed: bool) -> u8 {
        if self.has_conflicts() || self.is_denied() {
            1
        } else if detailed && self.has_changes() {
            2
        } else {
            0
        }
    }

    pub fn change(&self, address: &Address) -> Option<&Change> {
        self.changes.iter().find(|c| &c.address == address)
    }
}

/// Groups the `order` and `reorder` changes by the region whose endpoint orders them.
fn region_orders(manifest: &Manifest, changes: &[Change], endpoint: &dyn Fn(&Region) -> String) -> Vec<RegionOrder> {
    let mut orders: Vec<RegionOrder> = Vec::new();
    for change in changes.iter().filter(|c| c.action.orders()) {
        let Some(after) = &change.after else { continue };
        let i = match orders.iter().position(|o| o.region == after.region) {
            Some(i) => i,
            None => {
                orders.push(RegionOrder {
                    region: after.region.clone(),
                    endpoint: endpoint(&after.region),
                    addresses: Vec::new(),
                    body: OrderBody {
                        auto_pay: manifest.provider.auto_pay,
                        products: Vec::new(),
                    },
                });
                orders.len() - 1
            }
        };
        orders[i].addresses.push(change.address.clone());
        orders[i].body.products.push(after.request.clone());
    }
    orders.sort_by(|a, b| a.region.cmp(&b.region));
    orders
}

#[cfg(test)]
mod tests;
