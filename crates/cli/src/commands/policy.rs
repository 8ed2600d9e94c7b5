//! `--policy DIR`, `--policy-timeout DURATION` and `--policy-input FILE`: the Rego policies of
//! `pai-policy` wired into `plan`, `apply` and `fleet plan|apply`. The decisions are the
//! library's; this module reads the environment (the CI's variables), starts the evaluating
//! process (this binary again, as its hidden `policy-worker` command) and turns the library's
//! errors into the command's.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use pai_planner::{Plan, PolicyVerdict};
use pai_policy::{AccountContext, CiContext, Evaluator, Limits, PolicyContext, PolicyInput, PolicySet};

/// The hidden command that runs the evaluating process.
pub const WORKER_COMMAND: &str = "policy-worker";

/// A policy directory read, and the limits each evaluation of it runs under.
pub struct Policies {
    set: PolicySet,
    limits: Limits,
}

impl Policies {
    pub fn digest(&self) -> &str {
        self.set.digest()
    }

    /// A process evaluating these policies, plan after plan.
    pub fn evaluator(&self) -> anyhow::Result<Evaluator> {
        let program = std::env::current_exe().context("finding this program, to evaluate the policies")?;
        let mut worker = Command::new(program);
        // A policy reads its input alone: the process gets none of the environment (the
        // credentials among it).
        worker.arg(WORKER_COMMAND).env_clear();
        Evaluator::start(worker, &self.set, self.limits).context("starting the evaluation of the policies")
    }
}

/// Loads the policy directory; a file that does not parse names its line and column.
/// `timeout` is what each policy file may take on one plan.
pub fn load(dir: &Path, timeout: Duration) -> anyhow::Result<Policies> {
    let set = PolicySet::load(dir).with_context(|| format!("reading the policies of {}", dir.display()))?;
    Ok(Policies {
        set,
        limits: Limits {
            timeout,
            ..Limits::default()
        },
    })
}

/// The context of a plan: the fleet account, if any, and the CI run from its variables.
pub fn context(account: Option<AccountContext>) -> PolicyContext {
    PolicyContext {
        account,
        ci: CiContext::from_env(&|name| std::env::var(name).ok()),
    }
}

/// The plan with the verdict of `policies` in `context`.
pub fn judge(policies: &Policies, plan: Plan, context: &PolicyContext) -> anyhow::Result<Plan> {
    let mut evaluator = policies.evaluator()?;
    evaluator.judge(plan, context).context("evaluating the policies")
}

/// `policy-worker`: the evaluating process, serving the process that started it on stdin and
/// stdout (`pai_policy::worker::serve`).
pub fn serve() -> anyhow::Result<u8> {
    pai_policy::worker::serve(std::io::stdin().lock(), std::io::stdout())?;
    Ok(0)
}

/// Writes the input document the policies see, for `conftest test --input json FILE`.
pub fn write_input(path: &Path, plan: &Plan, context: &PolicyContext) -> anyhow::Result<()> {
    crate::context::write_private(path, PolicyInput::new(plan, context).to_json().as_bytes())
        .with_context(|| format!("writing the policy input to {}", path.display()))
}

/// Before a saved plan is applied: refuses one a policy denied and, with `--policy DIR`, one
/// whose policies changed since it was made or that they deny now. Gives the verdict the run
/// records: the one of this second evaluation, else the plan's own.
pub fn check_saved(plan: &Plan, dir: Option<&Path>, timeout: Duration) -> anyhow::Result<Option<PolicyVerdict>> {
    if let Some(verdict) = plan.policy.as_ref().filter(|v| v.denies()) {
        anyhow::bail!(
            "a policy denied this plan when it was made ({}); nothing was done",
            verdict.deny[0].message
        );
    }
    let Some(dir) = dir else { return Ok(plan.policy.clone()) };
    let policies = load(dir, timeout)?;
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
