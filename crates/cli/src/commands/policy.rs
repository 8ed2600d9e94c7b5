//! `--policy DIR` and `--policy-input FILE`: the Rego policies of `pai-policy` wired into
//! `plan`, `apply` and `fleet plan`. The decisions are the library's; this module reads the
//! environment (the CI's variables) and turns its errors into the command's.

use std::path::Path;

use anyhow::Context;
use pai_planner::{Plan, PolicyVerdict};
use pai_policy::{AccountContext, CiContext, PolicyContext, PolicyInput, PolicySet};

/// Loads the policy directory; a file that does not parse names its line and column.
pub fn load(dir: &Path) -> anyhow::Result<PolicySet> {
    PolicySet::load(dir).with_context(|| format!("reading the policies of {}", dir.display()))
}

/// The context of a plan: the fleet account, if any, and the CI run from its variables.
pub fn context(account: Option<AccountContext>) -> PolicyContext {
    PolicyContext {
        account,
        ci: CiContext::from_env(&|name| std::env::var(name).ok()),
    }
}

/// The plan with the verdict of `policies` in `context`.
pub fn judge(policies: &PolicySet, plan: Plan, context: &PolicyContext) -> anyhow::Result<Plan> {
    pai_policy::judge(policies, plan, context).context("evaluating the policies")
}

/// Writes the input document the policies see, for `conftest test --input json FILE`.
pub fn write_input(path: &Path, plan: &Plan, context: &PolicyContext) -> anyhow::Result<()> {
    crate::context::write_private(path, PolicyInput::new(plan, context).to_json().as_bytes())
        .with_context(|| format!("writing the policy input to {}", path.display()))
}

/// Before a saved plan is applied: refuses one a policy denied and, with `--policy DIR`, one
/// whose policies changed since it was made or that they deny now. Gives the verdict the run
/// records: the one of this second evaluation, else the plan's own.
pub fn check_saved(plan: &Plan, dir: Option<&Path>) -> anyhow::Result<Option<PolicyVerdict>> {
    if let Some(verdict) = plan.policy.as_ref().filter(|v| v.denies()) {
        anyhow::bail!(
            "a policy denied this plan when it was made ({}); nothing was done",
            verdict.deny[0].message
        );
    }
    let Some(dir) = dir else { return Ok(plan.policy.clone()) };
    let policies = load(dir)?;
    match &plan.policy {
        None => anyhow::bail!(
            "the plan was made without policies, and this apply gives --policy {}; plan again with --policy",
            dir.display()
        ),
        Some(v) if v.policies_digest != policies.digest() => anyhow::bail!(
            "the policies in {} changed since the plan was made (plan: {}, now: {}); plan again and review the verdict",
            dir.display(),
            v.policies_digest,
            policies.digest()
        ),
        Some(_) => {}
    }
    let now = judge(&policies, plan.clone(), &context(None))?;
    if let Some(verdict) = now.policy.as_ref().filter(|v| v.denies()) {
        let messages: Vec<String> = verdict
            .deny
            .iter()
            .map(|f| format!("{}: {}", f.file, f.message))
            .collect();
        anyhow::bail!(
            "the policies deny the plan now: {}; nothing was done",
            messages.join("; ")
        );
    }
    Ok(now.policy)
}
