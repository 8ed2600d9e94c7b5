//! `fleet apply FLEETPLAN|FLEET`: the accounts of a reviewed fleet plan applied, canaries
//! first, each exactly once under its own state's lock; or a fleet file planned now and
//! applied after a `yes`.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use pai_fleet::plan::{AccountOutcome, FleetPlan};
use pai_fleet::render;
use pai_fleet::run::{apply_accounts, AccountApplied, Applied, ApplyConfig, FleetProgress};
use serde::Serialize;

use super::env::FleetCloud;
use super::view;
use crate::cli::{FleetApplyArgs, Format, Global};
use crate::cloud::{signal_name, Phase};
use crate::context;

pub fn run(g: &Global, args: FleetApplyArgs) -> anyhow::Result<u8> {
    let saved = crate::commands::apply::is_plan_file(&args.target);
    let run_config = args.selection.run_config();
    let (loaded, saved_plan) = if saved {
        if args.selection.shard.is_some() {
            anyhow::bail!("--shard is recorded in a saved fleet plan: apply the plan of each shard as it was made");
        }
        let plan = FleetPlan::load(&args.target)?;
        let loaded = super::load(g, std::path::Path::new(&plan.fleet_path))
            .with_context(|| format!("the saved fleet plan was made from `{}`", plan.fleet_path))?;
        check_saved(g, &plan, &loaded)?;
        (loaded, Some(plan))
    } else {
        (super::load(g, &args.target)?, None)
    };
    let json = args.format == Format::Json;
    if !saved && !args.auto_approve && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "fleet apply needs confirmation: run it on a terminal, pass --auto-approve, or apply a saved fleet plan"
        );
    }
    let states = super::states(g, &loaded.path)?;
    if let Some(plan) = saved_plan.as_ref().filter(|p| !states.base().is_named_by(&p.state)) {
        anyhow::bail!(
            "the fleet plan was made for the states at {}, but this apply uses {states} (--state or \
             PAI_PROVISION_STATE differ); plan again against the states to change",
            plan.state
        );
    }
    let accounts = if let Some(plan) = &saved_plan {
        let names: Vec<String> = if args.selection.accounts.is_empty() {
            plan.accounts.iter().map(|a| a.name.as_str().to_owned()).collect()
        } else {
            for name in &args.selection.accounts {
                if !plan.accounts.iter().any(|a| a.name.as_str() == name || &a.id == name) {
                    anyhow::bail!("--account {name}: the account is not in the saved fleet plan");
                }
            }
            args.selection.accounts.clone()
        };
        super::select(&loaded.fleet, &names, None)?
    } else {
        super::select(&loaded.fleet, &args.selection.accounts, args.selection.shard.as_ref())?
    };
    let targets = super::targets(g, &accounts, &states);
    let cloud = FleetCloud::connect(g, &loaded.fleet, &states)?;
    let plan = if let Some(mut plan) = saved_plan {
        plan.accounts.retain(|a| accounts.iter().any(|t| t.name == a.name));
        plan
    } else {
        let plan = super::plan::plan_fleet(
            g,
            &cloud,
            &loaded,
            &states,
            targets.clone(),
            run_config,
            args.selection.shard,
        )?;
        if !json {
            context::emit(&render::human(&plan, context::stdout_color(g)))?;
        }
        if plan.has_conflicts() {
            anyhow::bail!("some accounts' plans have conflicts; nothing was done (see the remedies above)");
        }
        if !plan.has_changes() {
            // An account that could not be planned was never looked at: no success, as with
            // changes elsewhere (it is then "not started") and as `fleet plan` says.
            let unplanned = plan.accounts.iter().filter(|a| a.plan().is_none()).count();
            if json {
                context::emit_json(&Outcome {
                    accounts: &[],
                    success: unplanned == 0,
                })?;
            }
            if unplanned > 0 {
                eprintln!(
                    "error: {unplanned} account{} could not be planned (see above); the others have nothing to do. \
                     Run the fleet apply again once {} can be planned.",
                    if unplanned == 1 { "" } else { "s" },
                    if unplanned == 1 { "it" } else { "they" }
                );
                return Ok(1);
            }
            return Ok(0);
        }
        if !args.auto_approve && !super::super::apply::confirm()? {
            context::emit("Apply cancelled; nothing was done.\n")?;
            return Ok(1);
        }
        plan
    };
    let planned = plan
        .accounts
        .iter()
        .filter(|a| matches!(a.outcome, AccountOutcome::Planned { .. }))
        .count();
    let interrupts = cloud.interrupts().clone();
    let stopped_by = {
        let interrupts = interrupts.clone();
        Arc::new(move || interrupts.taken().map(|s| signal_name(s).to_owned()))
    };
    let config = ApplyConfig {
        run: run_config,
        settle: g.settle_time(),
        lock_timeout: g.lock_timeout,
        canary: args.canary.clone(),
        tolerance: args.max_failures,
        cancel: interrupts.cancel().clone(),
        stopped_by,
    };
    let bar = (std::io::stderr().is_terminal() && context::stderr_color(g))
        .then(|| Arc::new(view::Bar::new("applying", planned, true)));
    let progress: Arc<dyn FleetProgress> = match &bar {
        Some(bar) => bar.clone(),
        None => Arc::new(view::Lines { verbose: true }),
    };
    interrupts.set_phase(Phase::Ordering);
    let applied = cloud.block_on(apply_accounts(plan.accounts, targets, cloud.env(), config, progress));
    interrupts.set_phase(Phase::After);
    if let Some(bar) = bar {
        bar.finish();
    }
    let applied = applied.map_err(|e| anyhow::anyhow!("--canary: {e}"))?;
    let success = applied.iter().all(|a| !a.outcome.is_failure()) && interrupts.taken().is_none();
    if json {
        context::emit_json(&Outcome {
            accounts: &applied,
            success,
        })?;
    } else {
        context::emit(&summary(&applied))?;
        if let Some(ledger) = cloud.sandbox_ledger() {
            context::emit(&format!(
                "Sandbox: no real order was placed; the emulator's ledger is {}\n",
                ledger.display()
            ))?;
        }
    }
    if let Some(signo) = interrupts.taken() {
        eprintln!(
            "Interrupted ({}): no new account was started and no new order sent; run the same fleet apply again to \
             finish: each account resumes where it stopped.",
            signal_name(signo)
        );
        return Ok(u8::try_from(128 + signo).unwrap_or(130));
    }
    Ok(if success { 0 } else { 1 })
}

/// Refuses a saved fleet plan made from another fleet file, or for the sandbox when this is
/// not (and the other way round). Each account's plan is checked against its own state under
/// its lock when it is applied.
fn check_saved(g: &Global, plan: &FleetPlan, loaded: &super::LoadedFleetFile) -> anyhow::Result<()> {
    if plan.fleet_hash != loaded.hash {
        anyhow::bail!(
            "the fleet file {} changed since the fleet plan was made (its accounts, roles, regions or manifests \
             may differ from what was reviewed); plan again",
            plan.fleet_path
        );
    }
    if plan.sandbox != g.sandbox {
        anyhow::bail!(
            "the fleet plan was made {}, and this apply runs {}; plan again the way you mean to apply",
            if plan.sandbox {
                "with --sandbox"
            } else {
                "without --sandbox"
            },
            if g.sandbox {
                "with --sandbox"
            } else {
                "without --sandbox"
            },
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct Outcome<'a> {
    accounts: &'a [AccountApplied],
    success: bool,
}

/// One line per account and the totals.
fn summary(applied: &[AccountApplied]) -> String {
    let mut text = String::from("\n");
    let mut ordered = 0;
    let mut failed = 0;
    let mut not_started = 0;
    for account in applied {
        let line = match &account.outcome {
            Applied::Applied { report } | Applied::Resumed { report } if report.is_success() => {
                ordered += report.ordered();
                format!("{}: done, {} ordered", account.name, report.ordered())
            }
            Applied::Applied { report } | Applied::Resumed { report } => {
                ordered += report.ordered();
                failed += 1;
                format!(
                    "{}: FAILED: {}",
                    account.name,
                    report
                        .regions
                        .iter()
                        .filter(|r| !r.is_success())
                        .map(|r| r.headline())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
            Applied::NothingToDo => format!("{}: no changes", account.name),
            Applied::Failed { reason, report } => {
                failed += 1;
                ordered += report.as_ref().map_or(0, |r| r.ordered());
                format!("{}: FAILED: {reason}", account.name)
            }
            Applied::NotStarted { reason } => {
                not_started += 1;
                format!("{}: not started: {reason}", account.name)
            }
        };
        text.push_str(&pai_spec::escape(&line));
        text.push('\n');
    }
    text.push_str(&format!(
        "\nFleet apply: {} account{}, {ordered} product{} ordered, {failed} failed, {not_started} not started.\n",
        applied.len(),
        if applied.len() == 1 { "" } else { "s" },
        if ordered == 1 { "" } else { "s" },
    ));
    text
}
