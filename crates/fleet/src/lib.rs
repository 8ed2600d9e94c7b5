//! pai-provision across a fleet of accounts: one reviewed change applied in hundreds of
//! accounts, each with its own role, state and exactly-once orders. The fleet file itself (which
//! accounts, roles, regions and manifests) is `pai_spec::fleet`; this crate decides which accounts
//! a run takes and in what order, how many at once, and what the combined plan is.
//!
//! Modules:
//! - [`shard`]: `--shard I/N`, the deterministic split of a fleet over N runners.
//! - [`waves`]: canary accounts first, then the rest; the failure tolerance past which no new
//!   account starts.
//! - [`limit`]: the adaptive concurrency limit (fewer requests at once when the API throttles).
//! - [`plan`]: [`plan::FleetPlan`], the combined plan: one `pai_planner::Plan` per account, or why
//!   the account could not be planned; saved, re-read and checked like a single plan
//!   (`docs/fleet-plan-json.md`). It saves with accounts not planned; apply carries out only the
//!   accounts planned without conflicts and names the others.
//! - [`render`]: a fleet plan as human, Markdown (within GitHub's comment limit) or JSON text,
//!   each account's changes rendered by `pai_planner::render`.
//! - [`run`]: the fleet run over an [`run::Environment`]: every account planned
//!   ([`run::plan_accounts`]) and applied ([`run::apply_accounts`]) concurrently within bounds.
//!
//! Each account's saved plan is carried out by `pai_ops::saved`, within the reviewed plan
//! (`pai_planner::plan::bound`): that is also how a stopped fleet apply resumes without buying
//! what nobody reviewed.
//!
//! `docs/fleet.md` describes the commands and the security model.

pub mod limit;
pub mod plan;
pub mod render;
pub mod run;
pub mod shard;
pub mod waves;

#[cfg(test)]
mod fixtures;
