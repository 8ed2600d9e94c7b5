//! Rego policies on plans (`plan --policy DIR`, `fleet plan --policy DIR`, `apply PLANFILE
//! --policy DIR`), evaluated with the `regorus` engine. `docs/policy.md` is the contract: the
//! versioned input document, the rules' layout (conftest's: `package main`, `deny` and
//! `warn`), the limits of an evaluation, and how a verdict ends up in the plan.
//!
//! - [`input`]: the input document ([`PolicyInput`]) and its context: the fleet account
//!   ([`AccountContext`]) and the CI run, read from the CI's standard variables
//!   ([`CiContext::from_env`], a pure function of a lookup).
//! - [`set`]: a policy directory read (regular files only) and parsed once
//!   ([`PolicySet::load`]), its digest, and [`PolicySet::evaluate`], which gives the
//!   `pai_planner::PolicyVerdict` a plan carries, in this process and without limits.
//! - [`Evaluator`]: the same evaluation in a process of its own, stopped past a time limit or
//!   a memory limit ([`Limits`]) with an error naming the policy file; [`worker::serve`] is
//!   that process's side. A command evaluates this way.
//!
//! A policy is a function of its input alone: the builtins that read the clock, randomness,
//! the network or the environment fail when called. Nothing here is process-wide: no global
//! setting of the engine, no static state.
//!
//! The planner only carries the verdict; it never depends on this crate (data flows one way).

pub mod input;
pub mod set;
pub mod worker;

mod builtins;
mod engine_value;
mod error;
mod evaluator;
mod read;
mod wire;

pub use error::PolicyError;
pub use evaluator::{Evaluator, Limits};
pub use input::{AccountContext, CiContext, PolicyContext, PolicyInput, INPUT_VERSION};
pub use pai_planner::{PolicyFinding, PolicyVerdict};
pub use set::PolicySet;

use pai_planner::Plan;

/// Evaluates `policies` on `plan` in `context`, in this process and without limits, and
/// returns the plan carrying the verdict. The policies see the plan without any earlier
/// verdict (`docs/policy.md`), so that `apply` re-evaluating a saved plan gives them exactly
/// what `plan` gave them. [`Evaluator::judge`] does the same under limits.
pub fn judge(policies: &PolicySet, plan: Plan, context: &PolicyContext) -> Result<Plan, PolicyError> {
    judge_digested(policies, plan, context, None)
}

/// [`judge`], given the plan's digest when the caller has it: `Plan::digest` of the plan as it
/// is, without a verdict (a fleet has it from each account's encoded plan,
/// `pai_fleet::plan::CompactPlan::digest`). Ignored when the plan carries a verdict.
pub fn judge_digested(
    policies: &PolicySet,
    mut plan: Plan,
    context: &PolicyContext,
    digest: Option<&str>,
) -> Result<Plan, PolicyError> {
    let digest = digest.filter(|_| plan.policy.is_none());
    plan.policy = None;
    let input =
        PolicyInput::engine_value(&plan, context, digest).map_err(|e| PolicyError::Input { message: e.to_string() })?;
    plan.policy = Some(policies.evaluate_value(&input)?);
    Ok(plan)
}
