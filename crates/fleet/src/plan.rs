//! The combined fleet plan: one `pai_planner::Plan` per account that could be planned (held
//! encoded, [`CompactPlan`]), the reason for each that could not, and totals. It is what `fleet plan --out` saves and `fleet
//! apply FLEETPLAN` reads back, so every type here is part of the versioned JSON schema in
//! `docs/fleet-plan-json.md`.
//!
//! - `compact`: an account's plan held as its compact JSON, decoded one at a time.
//! - `file`: the saved document, its digest, [`FleetPlan::save`] and [`FleetPlan::load`].
//!
//! An account that could not be planned does not stop the fleet plan from being saved: apply
//! carries out the accounts planned without conflicts ([`FleetPlan::applicable`]), names the
//! others ([`FleetPlan::held_back`]) and fails. Each account's plan is still checked against its
//! own state before it is applied (`Plan::check_current`), as a single plan is.

use pai_planner::Action;
use pai_spec::{Address, Region};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::shard::Shard;

mod compact;
mod file;

pub use compact::{CompactPlan, CompactPlanError};
pub use file::FleetPlanFileError;

/// The version of the fleet plan's JSON schema; readers refuse any other. The account plans
/// inside carry their own, `pai_planner::FORMAT_VERSION`, which is checked too.
pub const FLEET_FORMAT_VERSION: u32 = 1;

/// The plan of a fleet, or of one shard of it. See `docs/fleet-plan-json.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetPlan {
    pub format_version: u32,
    pub tool_version: String,
    pub created_at: String,
    /// The fleet file as given on the command line.
    pub fleet_path: String,
    /// Hex SHA-256 of the fleet file's bytes.
    pub fleet_hash: String,
    /// Made with `--sandbox`.
    pub sandbox: bool,
    /// The base location of the account states as displayed (a directory, or a PostgreSQL URL
    /// without its password): each account's state is derived from it and the account id.
    pub state: String,
    /// `--shard I/N`; `null` for the whole fleet.
    pub shard: Option<Shard>,
    /// Sorted by name, one per account of the run.
    pub accounts: Vec<AccountPlan>,
    pub totals: Totals,
}

/// One account of the fleet plan, as the fleet file resolved it, and its plan or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPlan {
    /// The `<name>` of the fleet file's `[accounts.<name>]`.
    pub name: Address,
    /// The 16-digit account id (its state is named after it).
    pub id: String,
    pub role_arn: String,
    pub tags: Vec<String>,
    pub regions: Vec<Region>,
    /// The manifest the account gets, as the fleet file resolved it.
    pub manifest_path: String,
    pub outcome: AccountOutcome,
}

/// The account's plan, or why it could not be planned (no role, a region it does not list, the
/// API's refusal, a state that would not open, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AccountOutcome {
    Planned { plan: CompactPlan },
    NotPlanned { reason: String },
}

/// How many accounts, and how many changes of each action over the planned accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    pub accounts: usize,
    pub planned: usize,
    pub not_planned: usize,
    /// Planned accounts with at least one change (`order`, `adopt`, `reorder`, `forget`).
    pub with_changes: usize,
    pub with_conflicts: usize,
    pub order: usize,
    pub adopt: usize,
    pub reorder: usize,
    pub forget: usize,
    pub conflict: usize,
    pub noop: usize,
}

impl Totals {
    /// What applying the fleet plan would do, over every planned account (`pai_planner::Would`).
    pub fn would(&self) -> pai_planner::Would {
        pai_planner::Would::of(self.order, self.reorder, self.adopt, self.forget)
    }

    pub fn of(accounts: &[AccountPlan]) -> Totals {
        let mut t = Totals {
            accounts: accounts.len(),
            ..Totals::default()
        };
        for plan in accounts.iter().filter_map(AccountPlan::plan) {
            t.planned += 1;
            t.with_changes += usize::from(plan.has_changes());
            t.with_conflicts += usize::from(plan.has_conflicts());
            let s = plan.summary();
            t.order += s.order;
            t.adopt += s.adopt;
            t.reorder += s.reorder;
            t.forget += s.forget;
            t.conflict += s.conflict;
            t.noop += s.noop;
        }
        t.not_planned = t.accounts - t.planned;
        t
    }
}

impl AccountPlan {
    /// The account's plan, when it could be planned: `decode()` it to read its changes.
    pub fn plan(&self) -> Option<&CompactPlan> {
        match &self.outcome {
            AccountOutcome::Planned { plan } => Some(plan),
            AccountOutcome::NotPlanned { .. } => None,
        }
    }

    /// Why the account is not applied from this fleet plan, if it is not: it could not be
    /// planned, its plan has conflicts, or a policy denies it.
    pub fn held_back(&self) -> Option<String> {
        match &self.outcome {
            AccountOutcome::NotPlanned { reason } => Some(format!("not planned: {reason}")),
            AccountOutcome::Planned { plan } if plan.has_conflicts() => {
                let n = plan.summary().conflict;
                let first = plan.decode().ok().and_then(|p| {
                    p.changes
                        .iter()
                        .find(|c| c.action == Action::Conflict)
                        .map(|c| c.address.qualified())
                });
                Some(format!(
                    "{n} {}{}",
                    if n == 1 { "conflict" } else { "conflicts" },
                    first.map(|a| format!(" (first: {a})")).unwrap_or_default()
                ))
            }
            AccountOutcome::Planned { plan } if plan.is_denied() => {
                let first = plan.decode().ok().and_then(|p| {
                    p.policy
                        .and_then(|v| v.deny.into_iter().next())
                        .map(|f| format!(" ({}: {})", f.file, pai_spec::escape(&f.message)))
                });
                Some(format!("denied by policy{}", first.unwrap_or_default()))
            }
            AccountOutcome::Planned { .. } => None,
        }
    }
}

impl FleetPlan {
    /// Assembles the plan of a run: the accounts sorted by name and their totals.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        fleet_path: &str,
        fleet_hash: String,
        sandbox: bool,
        state: String,
        shard: Option<Shard>,
        mut accounts: Vec<AccountPlan>,
        created_at: OffsetDateTime,
    ) -> FleetPlan {
        accounts.sort_by(|a, b| a.name.cmp(&b.name));
        FleetPlan {
            format_version: FLEET_FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: pai_state::clock::format(created_at),
            fleet_path: fleet_path.to_owned(),
            fleet_hash,
            sandbox,
            state,
            shard,
            totals: Totals::of(&accounts),
            accounts,
        }
    }

    /// Hex SHA-256 of a fleet file's bytes: what `fleet_hash` records.
    pub fn hash_of(fleet_file: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(fleet_file))
    }

    /// A warning when no planned account had a state: the first run of a fleet, or a wrong
    /// context (a renamed or copied fleet file, a mistyped `--state`), in which the plan adopts
    /// or orders everything and nothing says why.
    pub fn no_state_warning(&self, states: &str) -> Option<String> {
        let planned: Vec<&CompactPlan> = self.accounts.iter().filter_map(AccountPlan::plan).collect();
        (!planned.is_empty() && !planned.iter().any(|p| p.had_state())).then(|| {
            format!(
                "{states} holds no state of any of the {} planned account{}: if this fleet was applied before, the \
                 states are elsewhere (a renamed or copied fleet file, or another --state), and this plan would adopt \
                 or order everything again",
                planned.len(),
                if planned.len() == 1 { "" } else { "s" }
            )
        })
    }

    /// The planned accounts a policy denies (`fleet apply` holds them back).
    pub fn denied(&self) -> usize {
        self.accounts
            .iter()
            .filter_map(AccountPlan::plan)
            .filter(|p| p.is_denied())
            .count()
    }

    /// Whether any account would change (conflicts and noops are not changes).
    pub fn has_changes(&self) -> bool {
        self.accounts
            .iter()
            .filter_map(AccountPlan::plan)
            .any(CompactPlan::has_changes)
    }

    pub fn has_conflicts(&self) -> bool {
        self.accounts
            .iter()
            .filter_map(AccountPlan::plan)
            .any(CompactPlan::has_conflicts)
    }

    /// Whether a policy denies some account's plan (`fleet plan --policy`).
    pub fn has_denials(&self) -> bool {
        self.accounts
            .iter()
            .filter_map(AccountPlan::plan)
            .any(CompactPlan::is_denied)
    }

    /// Whether some account could not be planned.
    pub fn has_unplanned(&self) -> bool {
        self.accounts.iter().any(|a| a.plan().is_none())
    }

    /// `fleet plan`'s exit code: 1 when an account could not be planned, has conflicts or is
    /// denied by a policy; else, with `--detailed-exitcode`, 2 when there are changes; else 0.
    pub fn exit_code(&self, detailed: bool) -> u8 {
        if self.has_unplanned() || self.has_conflicts() || self.has_denials() {
            1
        } else if detailed && self.has_changes() {
            2
        } else {
            0
        }
    }

    pub fn account(&self, name: &str) -> Option<&AccountPlan> {
        self.accounts.iter().find(|a| a.name.as_str() == name)
    }

    /// The accounts `fleet apply` carries out from this plan: planned, without conflicts, not
    /// denied by a policy.
    pub fn applicable(&self) -> impl Iterator<Item = (&AccountPlan, &CompactPlan)> {
        self.accounts.iter().filter_map(|a| {
            a.plan()
                .filter(|p| !p.has_conflicts() && !p.is_denied())
                .map(|p| (a, p))
        })
    }

    /// The accounts `fleet apply` leaves alone, and why (see [`AccountPlan::held_back`]).
    pub fn held_back(&self) -> impl Iterator<Item = (&AccountPlan, String)> {
        self.accounts.iter().filter_map(|a| a.held_back().map(|why| (a, why)))
    }

    /// Refuses the saved plan for another fleet file, target or shard than this apply's.
    pub fn check_made_for(&self, here: &FleetHere<'_>) -> Result<(), StaleFleetPlan> {
        if self.fleet_hash != here.fleet_hash {
            return Err(StaleFleetPlan::Fleet {
                path: self.fleet_path.clone(),
            });
        }
        if self.sandbox != here.sandbox {
            return Err(StaleFleetPlan::Sandbox { plan: self.sandbox });
        }
        if !(here.same_state)(&self.state) {
            return Err(StaleFleetPlan::State {
                plan: self.state.clone(),
                now: here.state.clone(),
            });
        }
        if here.shard.is_some() && here.shard != self.shard {
            return Err(StaleFleetPlan::Shard {
                plan: self.shard,
                now: here.shard,
            });
        }
        Ok(())
    }
}

/// What a `fleet apply FLEETPLAN` runs against, resolved as `fleet plan` resolved its own.
pub struct FleetHere<'a> {
    /// Hex SHA-256 of the fleet file as it is now.
    pub fleet_hash: String,
    pub sandbox: bool,
    /// The base state location as displayed, for the message.
    pub state: String,
    /// Whether the plan's `state` names this base location (the caller knows how they compare).
    pub same_state: &'a dyn Fn(&str) -> bool,
    /// `--shard` when given: it must be the plan's.
    pub shard: Option<Shard>,
}

/// Why a saved fleet plan may not be applied here; every account's own plan is checked after.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaleFleetPlan {
    #[error("the fleet file {} changed since the plan was made; plan again", pai_spec::escape(.path))]
    Fleet { path: String },
    #[error(
        "the fleet plan was made {}, and this apply runs {}; plan again the way you mean to apply",
        if *.plan { "with --sandbox" } else { "without --sandbox" },
        if *.plan { "without --sandbox" } else { "with --sandbox" }
    )]
    Sandbox { plan: bool },
    #[error(
        "the fleet plan was made for the states at {}, but this apply uses those at {}; plan again against the states to change",
        pai_spec::escape(.plan), pai_spec::escape(.now)
    )]
    State { plan: String, now: String },
    #[error(
        "the fleet plan was made for {}, but this apply runs --shard {}; apply it without --shard or with the plan's",
        .plan.map(|s| format!("shard {s}")).unwrap_or_else(|| "the whole fleet".to_owned()),
        .now.map(|s| s.to_string()).unwrap_or_default()
    )]
    Shard { plan: Option<Shard>, now: Option<Shard> },
}

#[cfg(test)]
mod tests;
