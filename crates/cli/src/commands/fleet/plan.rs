//! `fleet plan FLEET`: every selected account planned, one combined plan. Reads each state
//! without locking or writing it.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use pai_fleet::plan::FleetPlan;
use pai_fleet::render;
use pai_fleet::run::{plan_accounts, FleetProgress, RunConfig};

use super::env::FleetCloud;
use super::view;
use crate::cli::{FleetPlanArgs, Global, PlanFormat as Format};
use crate::commands::policy::Policies;
use crate::context;

pub fn run(g: &Global, args: FleetPlanArgs) -> anyhow::Result<u8> {
    let mut loaded = super::load(g, &args.fleet)?;
    let states = super::states(g, &args.fleet)?;
    let cloud = FleetCloud::connect(g, &loaded.fleet, &states, args.selection.sts_rate)?;
    loaded.fleet = cloud.discover(loaded.fleet)?;
    let accounts = super::select(&loaded.fleet, &args.selection.accounts, args.selection.shard.as_ref())?;
    let targets = super::targets(g, &accounts, &states);
    let config = args.selection.run_config();
    // Read before any account is planned: a broken policy stops the run before it starts.
    let policies = args
        .policy
        .as_deref()
        .map(|dir| super::super::policy::load(dir, args.policy_timeout))
        .transpose()?;
    let mut plan = plan_fleet(
        g,
        &cloud,
        &loaded,
        &states,
        targets,
        HowPlanned {
            config,
            shard: args.selection.shard,
            purpose: pai_fleet::run::Purpose::Plan,
        },
    )?;
    if let Some(policies) = &policies {
        judge_accounts(&mut plan, policies)?;
    }
    let saved = match &args.out {
        // Saved with conflicts and accounts not planned too: one broken account must not hold
        // back a reviewed change to the others; `fleet apply` leaves those alone and names them.
        Some(out) => {
            plan.save(out)
                .with_context(|| format!("saving the fleet plan to {}", out.display()))?;
            Some(format!(
                "Saved the fleet plan to {0}; apply exactly it with `pai-provision fleet apply {0}`.",
                out.display()
            ))
        }
        None => None,
    };
    match args.format {
        Format::Human => {
            context::emit_with(|out| {
                let color = context::stdout_color(g);
                match &saved {
                    Some(note) => {
                        render::human_saved_to(&plan, color, out)?;
                        writeln!(out, "\n{note}")
                    }
                    None => render::human_to(&plan, color, out),
                }
            })?;
        }
        Format::Json => context::emit_with(|out| plan.write_json(out))?,
        Format::Markdown if saved.is_some() => context::emit(&render::markdown_saved(&plan))?,
        Format::Markdown => context::emit(&render::markdown(&plan))?,
    }
    if let (Some(note), false) = (&saved, args.format == Format::Human) {
        note!("{note}");
    }
    if let Some(warning) = plan.no_state_warning(&states.to_string()) {
        note!("WARNING: {warning}");
    }
    if plan.has_conflicts() {
        let n = plan.totals.with_conflicts;
        note!(
            "error: {n} account{} {} conflicts: {} manifest asks for what cannot change after purchase. \
             Resolve them as shown above; fleet apply leaves {} alone until then.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "has" } else { "have" },
            if n == 1 { "its" } else { "their" },
            if n == 1 { "it" } else { "them" },
        );
    }
    if plan.has_denials() {
        let n = plan.denied();
        note!(
            "error: a policy denies the plan of {n} account{} (see Policy above); fleet apply leaves {} alone.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" },
        );
    }
    Ok(plan.exit_code(args.detailed_exitcode))
}

/// Each planned account's plan judged with its own context (id, name and tags from the fleet
/// file). The fleet plan's digest, computed when it is written, covers the verdicts. The
/// accounts are shared out over the machine's cores, each thread with its own evaluating
/// process for all of its accounts (docs/policy.md, "Limits").
pub(super) fn judge_accounts(plan: &mut FleetPlan, policies: &Policies) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).max(1);
    let chunk = plan.accounts.len().div_ceil(threads).max(1);
    let evaluators = (0..plan.accounts.len().div_ceil(chunk))
        .map(|_| policies.evaluator())
        .collect::<anyhow::Result<Vec<_>>>()?;
    std::thread::scope(|scope| {
        let workers: Vec<_> = plan
            .accounts
            .chunks_mut(chunk)
            .zip(evaluators)
            .map(|(accounts, mut evaluator)| {
                scope.spawn(move || accounts.iter_mut().try_for_each(|a| judge_account(a, &mut evaluator)))
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("evaluating the policies stopped unexpectedly")))
        })
    })
}

fn judge_account(
    account: &mut pai_fleet::plan::AccountPlan,
    evaluator: &mut pai_policy::Evaluator,
) -> anyhow::Result<()> {
    use pai_fleet::plan::{AccountOutcome, CompactPlan};
    let context = super::super::policy::context(Some(pai_policy::AccountContext {
        id: account.id.clone(),
        name: account.name.as_str().to_owned(),
        tags: account.tags.clone(),
    }));
    if let AccountOutcome::Planned { plan } = &mut account.outcome {
        let judged = evaluator
            .judge_digested(plan.decode()?, &context, Some(&plan.digest()))
            .with_context(|| format!("account {}: evaluating the policies", account.name.as_str()))?;
        *plan = CompactPlan::encode(&judged)?;
    }
    Ok(())
}

/// Plans the targets and assembles the combined plan (also what `fleet apply FLEET` applies).
/// How a fleet is planned: its bounds, its shard, and the role each account is read with.
pub(super) struct HowPlanned {
    pub config: RunConfig,
    pub shard: Option<pai_fleet::shard::Shard>,
    pub purpose: pai_fleet::run::Purpose,
}

pub(super) fn plan_fleet(
    g: &Global,
    cloud: &FleetCloud,
    loaded: &super::LoadedFleetFile,
    states: &pai_state::FleetStates,
    targets: Vec<pai_fleet::run::AccountTarget>,
    how: HowPlanned,
) -> anyhow::Result<FleetPlan> {
    let HowPlanned { config, shard, purpose } = how;
    let count = targets.len();
    let terminal = std::io::stderr().is_terminal() && context::stderr_color(g);
    let progress = view::Progress::start("planning", count, g.verbose > 0, terminal);
    let now = pai_state::clock::now_utc();
    let shown: Arc<dyn FleetProgress> = progress.clone();
    let accounts = cloud.block_on(plan_accounts(targets, cloud.env(), config, purpose, shown, now));
    progress.finish();
    Ok(FleetPlan::new(
        &loaded.path.display().to_string(),
        loaded.hash.clone(),
        g.sandbox,
        states.to_string(),
        shard,
        accounts,
        now,
    ))
}

/// Before a saved fleet plan is applied with `--policy`: refuses it when the policies are not
/// those it was judged with, and judges every account again, so that one they deny now is left
/// alone like one denied at plan time.
pub(super) fn recheck(plan: &mut FleetPlan, policies: &Policies) -> anyhow::Result<()> {
    use pai_fleet::plan::AccountOutcome;
    for account in &plan.accounts {
        if let AccountOutcome::Planned { plan } = &account.outcome {
            let plan = plan.decode()?;
            let made_with = plan.policy.as_ref().map(|v| v.policies_digest.as_str());
            if made_with != Some(policies.digest()) {
                anyhow::bail!(
                    "account {}: the plan was made {}, and the policies are now {}; plan again and review the verdict",
                    account.name.as_str(),
                    made_with.map_or("without policies".to_owned(), |d| format!("with the policies {d}")),
                    policies.digest()
                );
            }
        }
    }
    judge_accounts(plan, policies)
}
