//! `fleet apply FLEETPLAN|FLEET`: the accounts of a reviewed fleet plan applied, canaries
//! first, each exactly once under its own state's lock; or a fleet file planned now and
//! applied after a `yes`.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use pai_fleet::plan::{AccountOutcome, FleetHere, FleetPlan};
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
    if let (false, Some(_)) = (saved, &args.expect_digest) {
        anyhow::bail!(
            "--expect-digest checks a saved fleet plan (`pai-provision fleet apply FLEETPLAN --expect-digest \
             DIGEST`); {} is a fleet file",
            args.target.display()
        );
    }
    if let (false, Some(_)) = (saved, &args.fleet) {
        anyhow::bail!(
            "--fleet pins the fleet file of a saved fleet plan (`pai-provision fleet apply FLEETPLAN --fleet F`); {} \
             is a fleet file already",
            args.target.display()
        );
    }
    let policies = args
        .policy
        .as_deref()
        .map(|dir| crate::commands::policy::load(dir, args.policy_timeout))
        .transpose()?;
    let (mut loaded, mut saved_plan) = if saved {
        let plan = FleetPlan::load(&args.target)?;
        // Before anything else: no fleet file, no lock, no call for a plan that was not reviewed.
        if let Some(expected) = &args.expect_digest {
            crate::commands::apply::check_digest(&plan.digest(), expected, &args.target)?;
        }
        let loaded = match &args.fleet {
            Some(pinned) => {
                pai_ops::check_pin("the fleet file", &plan.fleet_path, pinned).with_context(|| {
                    format!(
                        "refusing the saved fleet plan {}; nothing was done",
                        args.target.display()
                    )
                })?;
                super::load(g, pinned)?
            }
            None => super::load(g, std::path::Path::new(&plan.fleet_path))
                .with_context(|| format!("the saved fleet plan was made from `{}`", plan.fleet_path))?,
        };
        (loaded, Some(plan))
    } else {
        (super::load(g, &args.target)?, None)
    };
    if let [first, ..] = loaded.fleet.unused_tag_overrides() {
        anyhow::bail!(
            "fleet apply refuses {}: no account carries the tag `{}`, so its manifest override applies to nobody \
             (a misspelt tag gives its accounts the default manifest); fix the tag or remove `[tags.{}]`. Nothing was \
             done",
            loaded.path.display(),
            pai_spec::escape(first),
            pai_spec::escape(first)
        );
    }
    let fleet_plan_digest = saved_plan.as_ref().map(FleetPlan::digest);
    let json = args.format == Format::Json;
    if !saved && !args.auto_approve && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "fleet apply needs confirmation: run it on a terminal, pass --auto-approve, or apply a saved fleet plan"
        );
    }
    let states = super::states(g, &loaded.path)?;
    if let Some(plan) = &mut saved_plan {
        // Before anything else: no call and no lock for a plan made for elsewhere.
        let same_state = |recorded: &str| states.base().is_named_by(recorded);
        let here = FleetHere {
            fleet_hash: loaded.hash.clone(),
            sandbox: g.sandbox,
            state: states.to_string(),
            same_state: &same_state,
            shard: args.selection.shard,
        };
        plan.check_made_for(&here)
            .with_context(|| format!("refusing the saved fleet plan {}", args.target.display()))?;
        if let Some(policies) = &policies {
            super::plan::recheck(plan, policies)
                .with_context(|| format!("refusing the saved fleet plan {}", args.target.display()))?;
        }
    }
    let cloud = FleetCloud::connect(g, &loaded.fleet, &states, args.selection.sts_rate)?;
    // Discovered again: an account the plan has and Resource Directory no longer lists is not
    // applied; one it lists now and the plan does not have is not in the plan, so not applied.
    loaded.fleet = cloud.discover(loaded.fleet)?;
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
            super::plan::HowPlanned {
                config: run_config,
                shard: args.selection.shard,
                // The role it will order with: a broken one shows in the plan that is approved.
                purpose: pai_fleet::run::Purpose::Apply,
            },
        )?;
        let plan = match &policies {
            Some(policies) => {
                let mut plan = plan;
                super::plan::judge_accounts(&mut plan, policies)?;
                plan
            }
            None => plan,
        };
        if !json {
            context::emit(&render::human(&plan, context::stdout_color(g)))?;
        }
        if plan.has_conflicts() {
            note!("warning: accounts with conflicts are left alone (see the remedies above); the others are applied");
        }
        if !plan.has_changes() {
            // Nothing to do is a success only if every account could be planned, without
            // conflicts: one that could not was never looked at (the plan above says why).
            let held_back = plan.accounts.iter().filter(|a| a.held_back().is_some()).count();
            if json {
                context::emit_json(&Outcome {
                    accounts: &[],
                    success: held_back == 0,
                })?;
            }
            if held_back > 0 {
                note!(
                    "error: {held_back} account{} could not be planned or {} conflicts (see above); the others have \
                     nothing to do. Run the fleet apply again once {} can be planned without conflicts.",
                    if held_back == 1 { "" } else { "s" },
                    if held_back == 1 { "has" } else { "have" },
                    if held_back == 1 { "it" } else { "they" }
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
    if let Some(warning) = plan.no_state_warning(&states.to_string()) {
        note!("WARNING: {warning}");
    }
    if let Some(note) = tolerance_note(planned, &args) {
        note!("note: {note}");
    }
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
        provenance: pai_state::Provenance {
            fleet_plan_digest,
            ..pai_state::Provenance::of_process()
        },
    };
    let terminal = std::io::stderr().is_terminal() && context::stderr_color(g);
    let progress = view::Progress::start("applying", planned, g.verbose > 0, terminal);
    interrupts.set_phase(Phase::Ordering);
    let shown: Arc<dyn FleetProgress> = progress.clone();
    let applied = cloud.block_on(apply_accounts(plan.accounts, targets, cloud.env(), config, shown));
    interrupts.set_phase(Phase::After);
    progress.finish();
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
        note!(
            "Interrupted ({}): no new account was started and no new order sent; run the same fleet apply again to \
             finish: each account resumes where it stopped.",
            signal_name(signo)
        );
        return Ok(u8::try_from(128 + signo).unwrap_or(130));
    }
    Ok(if success { 0 } else { 1 })
}

/// The failure tolerance stops only accounts that have not started: without canaries, a fleet
/// no larger than `--concurrency` starts every account at once, and nothing is held back.
fn tolerance_note(planned: usize, args: &FleetApplyArgs) -> Option<String> {
    let concurrency = usize::from(args.selection.concurrency);
    (args.canary.is_none() && planned > 1 && planned <= concurrency).then(|| {
        format!(
            "all {planned} accounts start at once (--concurrency {concurrency}), so --max-failures {} can hold none of \
             them back; give --canary, or a --concurrency below {planned}, for a failure to stop the rest",
            args.max_failures
        )
    })
}

#[derive(Serialize)]
struct Outcome<'a> {
    accounts: &'a [AccountApplied],
    success: bool,
}

/// One line per outcome (`Applied::describe`, the words of the progress too), with the accounts
/// that share it listed compactly, then the totals.
fn summary(applied: &[AccountApplied]) -> String {
    let mut text = String::from("\n");
    let (mut ordered, mut recorded, mut failed, mut not_started, mut elsewhere) = (0, 0, 0, 0, 0);
    for account in applied {
        ordered += account.outcome.ordered();
        recorded += account.outcome.recorded();
        match &account.outcome {
            Applied::NotStarted { .. } => not_started += 1,
            Applied::AppliedElsewhere { .. } => elsewhere += 1,
            outcome if outcome.is_failure() => failed += 1,
            _ => {}
        }
    }
    for (line, accounts) in &render::grouped_by(applied, |a| a.outcome.describe()) {
        let whom = match &accounts[..] {
            [one] => one.name.clone(),
            many => {
                let names: Vec<&str> = many.iter().map(|a| a.name.as_str()).collect();
                format!("{} ({} accounts)", render::compact_names(&names), many.len())
            }
        };
        text.push_str(&pai_spec::escape(&format!("{whom}: {line}")));
        text.push('\n');
    }
    let mut also = Vec::new();
    if recorded > 0 {
        also.push(format!(
            "{recorded} product{} recorded as already purchased",
            if recorded == 1 { "" } else { "s" }
        ));
    }
    if elsewhere > 0 {
        also.push(format!(
            "{elsewhere} account{} applied by another run",
            if elsewhere == 1 { "" } else { "s" }
        ));
    }
    let also = if also.is_empty() {
        String::new()
    } else {
        format!("; {}", also.join(", "))
    };
    text.push_str(&format!(
        "\nFleet apply: {} account{}, {ordered} product{} ordered, {failed} failed, {not_started} not started{also}.\n",
        applied.len(),
        if applied.len() == 1 { "" } else { "s" },
        if ordered == 1 { "" } else { "s" },
    ));
    text
}
