//! What pai-provision's commands do with one account, written once. `plan`, `apply` and every
//! account of a fleet run call these functions, as cargo's `ops` holds what each of its commands
//! does: the command layer (the CLI, the fleet run) only wires them to its arguments, its
//! output and its concurrency.
//!
//! Modules:
//! - [`plan`]: planning one account ([`Planning`]): what to ask the cloud, its answers, and the
//!   plan with what it is made for.
//! - [`saved`]: carrying out a saved plan, in this order: its digest ([`check_digest`]) and the
//!   files it was made from ([`check_pin`]); then, under the state's lock, the change freeze,
//!   whether it was made for this state, cloud and manifest ([`saved::check_locked`]); orders a
//!   killed run may still have on their way, and a plan made now that must lie within the
//!   reviewed one ([`saved::plan_within`], `pai_planner::plan::bound`); then the executor and
//!   the run's close ([`carry_out`]), which a manifest's apply uses too.
//!
//! The policies' second look at a saved plan stays with the command: it runs in a process of
//! its own, this binary started again (`pai_policy::Evaluator`), which only the binary can
//! start, and it reads the CI's variables. Its verdict reaches the run through the plan.

pub mod plan;
pub mod saved;

pub use plan::{MadeFor, Planning};
pub use saved::{carry_out, check_digest, check_pin, Carried, Execution, MovedState, Prepared, Refusal, SavedPlan};
