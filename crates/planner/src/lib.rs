//! The state and the decision: what pai-provision has recorded, what the manifest wants, and
//! what `apply` must therefore do. No network code lives here: the cloud's status comes in
//! through the [`StatusSource`] trait, which the API client implements.
//!
//! Modules:
//! - [`state`]: the state store, in a SQLite file (the default) or a PostgreSQL schema, chosen
//!   by its [`StateLocation`]. [`Store`] reads (never creates or writes; `plan` and `show` use
//!   it); [`StateWriter`] holds the state's lock (an OS file lock, or a PostgreSQL advisory lock)
//!   and makes every change, each one transaction that appends its history entry;
//!   [`state::migrate`] copies a state between locations, verified.
//! - [`observe`]: [`StatusSource`], [`Observation`] and [`Observed`], the cloud's answers.
//! - [`diff`](mod@diff): the pure function (manifest, state, observation) -> one [`Change`] per
//!   address.
//! - [`plan`]: [`Plan`], the saved/rendered document, with the per-region order bodies and the
//!   checks that refuse a stale saved plan.
//! - [`render`]: human (Terraform-like), Markdown and state listings; JSON is serde.
//! - [`clock`]: timestamps and the host name, as recorded.
//!
//! How `apply` uses it, for each [`Change`] of a [`Plan`] (see `docs/state.md`):
//!
//! | change                                   | writer calls                                                      |
//! |------------------------------------------|-------------------------------------------------------------------|
//! | `order` / `reorder`                      | [`StateWriter::put_pending`] for the region's products, send, then [`StateWriter::mark_active`] or [`StateWriter::mark_failed`] (or leave `pending` when the outcome is unknown) |
//! | `order` with `resolve_first`             | ask the cloud first: purchased -> [`StateWriter::mark_resolved`], else as `order` |
//! | `adopt` of a `pending` record            | [`StateWriter::mark_resolved`]                                     |
//! | `adopt` otherwise                        | [`StateWriter::mark_adopted`]                                      |
//! | any change with `moved_from`             | first [`StateWriter::move_resource`]`(moved_from, address)`       |
//! | `forget`                                 | [`StateWriter::remove`]                                           |
//! | `noop`, `conflict`                       | nothing (a plan with a conflict is refused whole)                  |
//!
//! Around them: [`StateWriter::begin_run`], [`StateWriter::record_api_call`] for every call,
//! [`StateWriter::end_run`]. A saved plan is checked with [`Plan::check_current`] under the lock.

pub mod clock;
pub mod diff;
#[cfg(test)]
mod fixtures;
pub mod observe;
pub mod plan;
pub mod render;
pub mod state;

pub use diff::diff;
pub use observe::{wanted, Observation, ObserveError, Observed, StatusSource};
pub use plan::{
    Action, Change, Desired, Effect, FieldChange, Plan, PlanFileError, Recorded, RegionOrder, StalePlan, Summary,
    FORMAT_VERSION,
};
pub use state::{
    ApiCall, CallOutcome, History, LockInfo, OrderOutcome, Origin, Resource, RunId, RunResult, StateError,
    StateLocation, StateSnapshot, StateWriter, Status, Store,
};
