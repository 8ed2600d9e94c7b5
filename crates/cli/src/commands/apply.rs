//! `apply` and `refresh`: the commands that take the state's lock and talk to the cloud.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use pai_apply::{ApplyReport, Executor, ExecutorConfig, ProgressSink};
use pai_planner::{render, wanted, Here, Plan};
use pai_state::{ApiCall, StateLocation, StateWriter};
use serde::Serialize;

use crate::cli::{manifest_path, ApplyArgs, Format, Global};
use crate::cloud::{signal_name, Cloud, Phase};
use crate::context::{self, LoadedManifest};

mod refresh;
mod view;
pub use refresh::refresh;

pub fn run(g: &Global, args: ApplyArgs) -> anyhow::Result<u8> {
    let target = manifest_path(&args.target);
    // The verdict the run records: for a saved plan, the one checked here (the policies'
    // second evaluation with --policy, else the plan's own).
    let mut rechecked = None;
    let saved_plan = if is_plan_file(&target) {
        let plan = Plan::load(&target)?;
        rechecked = super::policy::check_saved(&plan, args.policy.as_deref(), args.policy_timeout)
            .with_context(|| format!("refusing the saved plan {}", target.display()))?;
        Some(plan)
    } else {
        None
    };
    // Before anything else: no manifest, no lock, no call for a plan that is not the reviewed one.
    match (&saved_plan, &args.expect_digest) {
        (Some(plan), Some(expected)) => check_digest(&plan.digest(), expected, &target)?,
        (None, Some(_)) => anyhow::bail!(
            "--expect-digest checks a saved plan (`pai-provision apply PLANFILE --expect-digest DIGEST`); {} is a \
             manifest",
            target.display()
        ),
        _ => {}
    }
    let saved = saved_plan.is_some();
    // A manifest's policies are read before the lock is taken: a broken one changes nothing.
    let policies = match (&saved_plan, &args.policy) {
        (None, Some(dir)) => Some(super::policy::load(dir, args.policy_timeout)?),
        _ => None,
    };
    let loaded = match &saved_plan {
        Some(plan) => context::load_manifest(g, &Some(PathBuf::from(&plan.manifest_path)))
            .with_context(|| format!("the saved plan was made from `{}`", plan.manifest_path))?,
        None => context::load_manifest(g, &args.target)?,
    };
    // A saved plan was reviewed when it was made; anything else needs a yes now or --auto-approve.
    let interactive = !saved && !args.auto_approve;
    if interactive && !std::io::stdin().is_terminal() {
        anyhow::bail!("apply needs confirmation: run it on a terminal, pass --auto-approve, or apply a saved plan");
    }

    let mut provenance = pai_state::Provenance::of_process();
    provenance.plan_digest = saved_plan.as_ref().map(Plan::digest);
    let writer = context::open_write(g, Some(&loaded), "apply")?.with_provenance(provenance);
    let destination = context::target(g, &loaded)?;
    let account = crate::cloud::account(g, &loaded.manifest, &destination);
    let snapshot = writer.snapshot()?;
    // Under the lock, so that a freeze made meanwhile is seen; before any call to the cloud.
    if let Some(freeze) = &snapshot.freeze {
        anyhow::bail!(
            "the state {} is {}; nothing was done (the cloud was not asked). Plan still works; \
             `pai-provision state unfreeze` lifts the freeze",
            writer.location(),
            freeze.describe()
        );
    }
    if let Some(plan) = &saved_plan {
        // Before anything else: no wait, no call and no write for a plan made for elsewhere.
        check_saved(
            g,
            plan,
            &snapshot,
            &loaded.manifest,
            writer.location(),
            &destination,
            account.clone(),
        )
        .with_context(|| format!("refusing the saved plan {}", target.display()))?;
    }
    let LoadedManifest { manifest, path } = loaded;
    let pairs = wanted(&manifest, &snapshot);
    let regions: Vec<_> = pairs.iter().map(|(r, _)| r.clone()).collect();
    let cloud = Cloud::connect(g, &manifest, &destination, &regions)?;
    let_interrupted_orders_land(g, &cloud, &snapshot);

    // The refresh's calls go into the history with the run, if there is one.
    let mut refresh_calls = Vec::new();
    let plan = match saved_plan {
        Some(plan) => plan,
        None => {
            let observed = if args.refresh {
                let refreshed = cloud.refresh(&pairs, &manifest, &snapshot)?;
                refresh_calls = refreshed.calls;
                Some(refreshed.observation)
            } else {
                None
            };
            let plan = Plan::build(
                &manifest,
                &path.to_string_lossy(),
                &snapshot,
                observed.as_ref(),
                &|region| destination.endpoint(region),
                pai_state::clock::now_utc(),
            )
            .made_for(g.sandbox, writer.location().to_string(), account);
            match &policies {
                Some(policies) => super::policy::judge(policies, plan, &super::policy::context(None))?,
                None => plan,
            }
        }
    };
    // Before the run begins (`execute`), so that its provenance holds the verdict.
    let writer = {
        let mut provenance = writer.provenance().clone();
        provenance.policy = rechecked
            .as_ref()
            .or(plan.policy.as_ref())
            .map(pai_planner::PolicyVerdict::record);
        writer.with_provenance(provenance)
    };

    let json = args.format == Format::Json;
    if !json {
        let text = if saved {
            render::human_saved(&plan, context::stdout_color(g))
        } else {
            render::human(&plan, context::stdout_color(g))
        };
        context::emit(&text)?;
    }
    let refusal = if plan.has_conflicts() {
        Some("the plan has conflicts; nothing was done (see the remedies above)")
    } else if plan.is_denied() {
        Some("a policy denies the plan; nothing was done (see Policy above)")
    } else {
        None
    };
    if let Some(refusal) = refusal {
        if json {
            context::emit_json(&Outcome {
                plan: &plan,
                report: None,
                success: false,
            })?;
        }
        anyhow::bail!(refusal);
    }
    if !plan.has_changes() {
        if plan.changes.iter().any(pai_planner::Change::reorder_shown) {
            // Nothing to order, but the state notes that a reorder after drift showed.
            execute(g, &cloud, writer, &plan, saved, &refresh_calls)?;
        }
        if json {
            context::emit_json(&Outcome {
                plan: &plan,
                report: None,
                success: true,
            })?;
        }
        return Ok(0);
    }
    if interactive && !confirm()? {
        context::emit("Apply cancelled; nothing was done.\n")?;
        return Ok(1);
    }

    let report = execute(g, &cloud, writer, &plan, saved, &refresh_calls)?;
    let interrupted = cloud.interrupts().taken();
    let success = report.is_success() && interrupted.is_none();
    if json {
        context::emit_json(&Outcome {
            plan: &plan,
            report: Some(&report),
            success,
        })?;
    } else {
        context::emit(&view::apply_summary(&report))?;
        if let Some(ledger) = cloud.sandbox_ledger() {
            context::emit(&format!(
                "Sandbox: no real order was placed; the emulator's ledger is {}\n",
                ledger.display()
            ))?;
        }
    }
    if let Some(signo) = interrupted {
        eprintln!("{}", view::interrupted(&report, signal_name(signo)));
        return Ok(u8::try_from(128 + signo).unwrap_or(130));
    }
    Ok(if success { 0 } else { 1 })
}

/// Refuses a saved plan made for another target than this apply's (`Plan::check_current`): the
/// sandbox or not, the state (location, lineage, serial), the account, the endpoints, the
/// manifest and what it declares.
fn check_saved(
    g: &Global,
    plan: &Plan,
    snapshot: &pai_state::StateSnapshot,
    manifest: &pai_spec::Manifest,
    location: &StateLocation,
    destination: &crate::cloud::Target,
    account: Option<String>,
) -> anyhow::Result<()> {
    let same_state = |recorded: &str| location.is_named_by(recorded);
    let here = Here {
        sandbox: g.sandbox,
        state: location.to_string(),
        same_state: &same_state,
        account,
        endpoint: &|region| destination.endpoint(region),
    };
    Ok(plan.check_current(snapshot, manifest, &here)?)
}

/// Refuses a saved plan whose digest is not the one the reviewer saw (`--expect-digest`).
pub(crate) fn check_digest(actual: &str, expected: &str, file: &Path) -> anyhow::Result<()> {
    if actual != expected.trim() {
        anyhow::bail!(
            "refusing the saved plan {}: its digest is {actual}, not {} (--expect-digest); it is not the plan that \
             was reviewed. Nothing was done",
            file.display(),
            expected.trim()
        );
    }
    Ok(())
}

/// Gives an order that a killed run may still have on its way time to reach the cloud before the
/// cloud is asked about it (`pai_apply::await_interrupted`). The lock is held meanwhile. A
/// sandbox died with the process that started it, and its orders with it: nothing to wait for.
fn let_interrupted_orders_land(g: &Global, cloud: &Cloud, snapshot: &pai_state::StateSnapshot) {
    if !g.sandbox {
        cloud.block_on(pai_apply::await_interrupted(snapshot, g.settle_time()));
    }
}

/// Runs the executor inside a history run and closes the run with its result. On a state that
/// does not exist yet, the run is begun by the first write that records a product: a run that
/// recorded nothing (nothing was sent) creates no state.
fn execute(
    g: &Global,
    cloud: &Cloud,
    writer: StateWriter,
    plan: &Plan,
    saved: bool,
    refresh_calls: &[ApiCall],
) -> anyhow::Result<ApplyReport> {
    let writer = Arc::new(Mutex::new(writer));
    let config = ExecutorConfig {
        // A saved or unrefreshed plan may be older than the cloud's truth: look before buying.
        check_before_order: saved || !plan.refreshed,
        settle: g.settle_time(),
        ..ExecutorConfig::default()
    };
    let progress: Arc<dyn ProgressSink> = if context::stderr_color(g) {
        let bars = view::Bars::new(plan);
        cloud.say().attach(bars.display());
        Arc::new(bars)
    } else {
        Arc::new(view::Lines)
    };
    let executor = Executor::for_apply(
        cloud.client().clone(),
        Arc::clone(&writer),
        "apply",
        refresh_calls,
        config,
        progress,
    )?
    .with_cancel(cloud.interrupts().cancel().clone());
    cloud.interrupts().set_phase(Phase::Ordering);
    let result = cloud.block_on(executor.apply(plan));
    cloud.interrupts().set_phase(Phase::After);
    cloud.say().detach();
    let interrupted = cloud.interrupts().taken().map(signal_name);
    executor.finish(&result, interrupted)?;
    Ok(result?)
}

#[derive(Serialize)]
struct Outcome<'a> {
    plan: &'a Plan,
    report: Option<&'a ApplyReport>,
    success: bool,
}

/// A saved plan is a JSON document; a manifest is TOML, whose first byte is never `{`.
pub(crate) fn is_plan_file(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "json") {
        return true;
    }
    std::fs::read(path)
        .ok()
        .and_then(|b| b.iter().find(|c| !c.is_ascii_whitespace()).copied())
        == Some(b'{')
}

pub(crate) fn confirm() -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    write!(
        err,
        "\nDo you want to perform these actions? Orders cost money and cannot be cancelled through the API.\n  \
         Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    )?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the confirmation")?;
    Ok(line.trim() == "yes")
}
