//! The plan: what `apply` will do, per address, and the exact request each region will send.
//! It is what `plan --out` saves and `apply FILE` / `show FILE` read back, so every type here
//! is part of the versioned JSON schema documented in `docs/plan-json.md`.

use std::path::{Path, PathBuf};

use pai_spec::{Address, Manifest, OrderBody, Region};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::change::{Action, Change};
use crate::diff::diff;
use crate::observe::Observation;
use pai_state::clock;
use pai_state::StateSnapshot;

/// The version of the plan JSON schema. Readers refuse newer ones. Version 2: `orders[].endpoint`
/// is the endpoint apply uses (after `--endpoint`, or `sandbox`), no longer the manifest's alone.
pub const FORMAT_VERSION: u32 = 2;

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

impl Summary {
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
    pub summary: Summary,
    /// Every address of the manifest and the state, sorted; `noop`s included.
    pub changes: Vec<Change>,
    /// One entry per region with something to order, sorted by region.
    pub orders: Vec<RegionOrder>,
}

/// Why a saved plan may not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StalePlan {
    #[error("the plan was made for another state (lineage {}, this state has {})", show(.plan), show(.state))]
    Lineage {
        plan: Option<String>,
        state: Option<String>,
    },
    #[error("the state changed since the plan was made (serial {plan}, now {state}); plan again")]
    Serial { plan: u64, state: u64 },
    #[error("the manifest changed since the plan was made; plan again")]
    Manifest { plan: String, now: String },
    #[error(
        "the plan sends {region}'s order to {plan}, but this apply would send it to {now} \
         (--endpoint, --sandbox or the manifest's endpoints differ); plan again with the same options"
    )]
    Endpoint { region: Region, plan: String, now: String },
}

fn show(lineage: &Option<String>) -> &str {
    lineage.as_deref().unwrap_or("none")
}

/// Why a plan file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a pai-provision plan ({why})", path.display())]
    NotAPlan { path: PathBuf, why: String },
    #[error(
        "{}: the plan's format is version {found}, newer than this pai-provision reads ({supported}); \
         apply it with the version that made it",
        path.display()
    )]
    NewerFormat { path: PathBuf, found: u64, supported: u32 },
}

impl Plan {
    /// Diffs the manifest against the state and the cloud's report (`None` with
    /// `--refresh=false`) and assembles the plan. `endpoint` names where each region's order
    /// goes: the caller resolves it once, the same way it builds the client that sends the
    /// orders, so that the plan shows what apply uses. Pure: the clock is an argument.
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
        Plan {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: clock::format(created_at),
            manifest_path: manifest_path.to_owned(),
            manifest_hash: manifest.source_hash.clone(),
            lineage: state.lineage.clone(),
            serial: state.serial,
            refreshed: observed.is_some(),
            summary: Summary::of(&changes),
            changes,
            orders,
        }
    }

    /// Whether apply would change anything (conflicts and noops are not changes).
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change())
    }

    pub fn has_conflicts(&self) -> bool {
        self.changes.iter().any(|c| c.action == Action::Conflict)
    }

    /// `plan`'s exit code: 1 with conflicts; with `--detailed-exitcode`, 2 when there are changes.
    pub fn exit_code(&self, detailed: bool) -> u8 {
        if self.has_conflicts() {
            1
        } else if detailed && self.has_changes() {
            2
        } else {
            0
        }
    }

    /// Refuses a saved plan whose state or manifest moved on since it was made, or whose orders
    /// go elsewhere than `endpoint` (resolved as for [`Plan::build`]) would send them now.
    pub fn check_current(
        &self,
        state: &StateSnapshot,
        manifest_hash: &str,
        endpoint: &dyn Fn(&Region) -> String,
    ) -> Result<(), StalePlan> {
        if self.lineage != state.lineage {
            return Err(StalePlan::Lineage {
                plan: self.lineage.clone(),
                state: state.lineage.clone(),
            });
        }
        if self.serial != state.serial {
            return Err(StalePlan::Serial {
                plan: self.serial,
                state: state.serial,
            });
        }
        if self.manifest_hash != manifest_hash {
            return Err(StalePlan::Manifest {
                plan: self.manifest_hash.clone(),
                now: manifest_hash.to_owned(),
            });
        }
        for order in &self.orders {
            let now = endpoint(&order.region);
            if order.endpoint != now {
                return Err(StalePlan::Endpoint {
                    region: order.region.clone(),
                    plan: order.endpoint.clone(),
                    now,
                });
            }
        }
        Ok(())
    }

    pub fn change(&self, address: &Address) -> Option<&Change> {
        self.changes.iter().find(|c| &c.address == address)
    }

    /// The JSON document: what `--out` saves and, through `render::json`, what `--format json`
    /// prints. It lives here rather than in `render` because `save` writes it and `plan` must
    /// not depend on `render`.
    pub(crate) fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a plan document, refusing other documents and newer formats.
    pub fn from_json(text: &str, path: &Path) -> Result<Plan, PlanFileError> {
        let not_a_plan = |why: String| PlanFileError::NotAPlan {
            path: path.to_owned(),
            why,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))?;
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| not_a_plan("no `format_version`".into()))?;
        if version > u64::from(FORMAT_VERSION) {
            return Err(PlanFileError::NewerFormat {
                path: path.to_owned(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| not_a_plan(e.to_string()))
    }

    pub fn load(path: &Path) -> Result<Plan, PlanFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| PlanFileError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        Plan::from_json(&text, path)
    }

    /// Writes the JSON document atomically (a temporary file beside it, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), PlanFileError> {
        let io = |e| PlanFileError::Io {
            path: path.to_owned(),
            source: e,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
        let written = std::fs::write(&temp, self.to_json())
            .and_then(|()| std::fs::File::open(&temp)?.sync_all())
            .and_then(|()| std::fs::rename(&temp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(io)
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
