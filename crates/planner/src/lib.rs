//! The decision: what the manifest wants, what the state records and what the cloud reports,
//! turned into what `apply` must do. Pure: no network code and no storage lives here. The
//! cloud's status comes in through the [`StatusSource`] trait, which the API client implements;
//! the recorded rows are `pai-state`'s types, read by the caller.
//!
//! Modules, each depending only on those above it (`tests/layering.rs` keeps it so):
//! - [`observe`]: [`StatusSource`], [`Observation`] and [`Observed`], the cloud's answers.
//! - [`change`]: [`Change`] and [`Action`], what the plan does with one address, with the
//!   recorded and desired sides and the [`FieldChange`]s between them.
//! - [`reconcile`](mod@reconcile): the pure rule (recorded row, cloud's word) -> [`Verdict`]
//!   (adopt, resolve, drift, not placed, ...), shared by the diff, the executor and `refresh`.
//! - [`diff`](mod@diff): the pure function (manifest, state, observation) -> one [`Change`] per
//!   address.
//! - [`plan`]: [`Plan`], the saved/rendered document, with the per-region order bodies, what it
//!   is for ([`PlanTarget`]), its digest, and the checks that refuse a saved plan made for
//!   elsewhere, stale or edited, and [`plan::bound`]: a saved plan is an upper bound on what a
//!   plan made at apply time may do ([`within_reviewed`]).
//! - [`render`]: a plan as human (Terraform-like), Markdown or JSON text; state listings.
//!
//! How `apply` carries out each [`Change`] with `pai_state::StateWriter` is in `docs/state.md`
//! and `docs/idempotency.md`; a saved plan is checked with [`Plan::check_current`] under the
//! state's lock.

pub mod change;
pub mod diff;
#[cfg(test)]
mod fixtures;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod render;

pub use change::{Action, Change, Desired, Effect, FieldChange, Recorded};
pub use diff::diff;
pub use observe::{wanted, Observation, ObserveError, Observed, StatusSource};
pub use plan::{
    within_reviewed, Here, NotReviewed, Plan, PlanFileError, PlanTarget, PolicyFinding, PolicyVerdict, RegionOrder,
    StalePlan, Summary, Would, FORMAT_VERSION,
};
pub use reconcile::{reconcile, Record, Verdict, Window, Word};
