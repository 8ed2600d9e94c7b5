//! `apply` and `refresh`: the commands that take the state's lock and talk to the cloud.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use pai_apply::{ApplyReport, ListProductsStatus, ProgressSink};
use pai_ops::saved::{Execution, MovedState, SavedPlan};
use pai_planner::{render, wanted, Plan};
use pai_state::{ApiCall, StateWriter};
use serde::Serialize;

use crate::cli::{manifest_path, ApplyArgs, Format, Global};
use crate::cloud::{signal_name, Cloud, Phase};
use crate::context;

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
    // Before anything else: no manifest, no lock, no call for a plan that is not the reviewed one,
    // nor for one made from another manifest than the pinned one.
    match (&saved_plan, &args.expect_digest, &args.manifest) {
        (Some(plan), expected, pinned) => {
            let refusing = || format!("refusing the saved plan {}; nothing was done", target.display());
            if let Some(expected) = expected {
                pai_ops::check_digest(&plan.digest(), expected).with_context(refusing)?;
            }
            if let Some(pinned) = pinned {
                pai_ops::check_pin("the manifest", &plan.manifest_path, pinned).with_context(refusing)?;
            }
        }
        (None, Some(_), _) => anyhow::bail!(
            "--expect-digest checks a saved plan (`pai-provision apply PLANFILE --expect-digest DIGEST`); {} is a \
             manifest",
            target.display()
        ),
        (None, None, Some(_)) => anyhow::bail!(
            "--manifest pins the manifest of a saved plan (`pai-provision apply PLANFILE --manifest M`); {} is a \
             manifest already",
            target.display()
        ),
        (None, None, None) => {}
    }
    let saved = saved_plan.is_some();
    // A manifest's policies are read before the lock is taken: a broken one changes nothing.
    let policies = match (&saved_plan, &args.policy) {
        (None, Some(dir)) => Some(super::policy::load(dir, args.policy_timeout)?),
        _ => None,
    };
    let loaded = match (&saved_plan, &args.manifest) {
        (Some(_), Some(pinned)) => context::load_manifest(g, &Some(pinned.clone()))?,
        (Some(plan), None) => context::load_manifest(g, &Some(PathBuf::from(&plan.manifest_path)))
            .with_context(|| format!("the saved plan was made from `{}`", plan.manifest_path))?,
        (None, _) => context::load_manifest(g, &args.target)?,
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
    let endpoint = |region: &pai_spec::Region| destination.endpoint(region);
    let manifest_path = loaded.path.to_string_lossy().into_owned();
    let saved_apply = saved_plan.as_ref().map(|plan| SavedPlan {
        reviewed: plan,
        manifest: &loaded.manifest,
        manifest_path: &manifest_path,
        sandbox: g.sandbox,
        account: account.clone(),
        endpoint: &endpoint,
        moved_state: MovedState::Refuse,
    });
    // Under the lock, so that a freeze made meanwhile is seen; before any wait, call or write.
    let checked = match &saved_apply {
        Some(saved) => Some(
            pai_ops::saved::check_locked(saved, writer.location(), &snapshot)
                .with_context(|| format!("refusing the saved plan {}", target.display()))?,
        ),
        None => {
            pai_ops::saved::check_freeze(writer.location(), &snapshot)?;
            None
        }
    };
    let manifest = &loaded.manifest;
    let pairs = wanted(manifest, &snapshot);
    let regions: Vec<_> = pairs.iter().map(|(r, _)| r.clone()).collect();
    let cloud = Cloud::connect(g, manifest, &destination, &regions)?;

    // The refresh's calls go into the history with the run, if there is one.
    let mut refresh_calls = Vec::new();
    let mut narrowed = Vec::new();
    let plan = match (&saved_apply, checked) {
        (Some(saved), Some(checked)) => {
            let status = ListProductsStatus::new(cloud.client().clone());
            let prepared = cloud.block_on(pai_ops::saved::plan_within(
                saved,
                checked,
                &status,
                g.settle_time(),
                cloud.interrupts().cancel(),
                pai_state::clock::now_utc(),
            ));
            // A signal during its wait exits at once (the phase is still `Before`), so an
            // interrupted wait is not seen here.
            let prepared =
                prepared.with_context(|| format!("refusing the saved plan {}; nothing was done", target.display()))?;
            narrowed = prepared.narrowed;
            prepared.plan
        }
        _ => {
            let_interrupted_orders_land(g, &cloud, &snapshot);
            let observed = if args.refresh {
                let refreshed = cloud.refresh(&pairs, manifest, &snapshot)?;
                refresh_calls = refreshed.calls;
                Some(refreshed.observation)
            } else {
                None
            };
            let planning = pai_ops::Planning {
                manifest,
                manifest_path: &manifest_path,
                snapshot: &snapshot,
                endpoint: &endpoint,
                made_for: pai_ops::MadeFor {
                    sandbox: g.sandbox,
                    state: writer.location().to_string(),
                    account,
                },
                now: pai_state::clock::now_utc(),
            };
            let plan = planning.build(observed.as_ref());
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
    // What is shown is what was reviewed: the saved plan, and what a plan made now leaves out.
    let shown = saved_plan.as_ref().unwrap_or(&plan);

    let json = args.format == Format::Json;
    if !json {
        let mut text = if saved {
            render::human_saved(shown, context::stdout_color(g))
        } else {
            render::human(shown, context::stdout_color(g))
        };
        text.push_str(&view::narrowed(&narrowed));
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
                plan: shown,
                report: None,
                success: false,
            })?;
        }
        anyhow::bail!(refusal);
    }
    if !plan.has_changes() {
        if plan.changes.iter().any(pai_planner::Change::reorder_shown) {
            // Nothing to order, but the state notes that a reorder after drift showed.
            execute(g, &cloud, writer, &plan, &refresh_calls)?;
        }
        if json {
            context::emit_json(&Outcome {
                plan: shown,
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

    let report = execute(g, &cloud, writer, &plan, &refresh_calls)?;
    let interrupted = cloud.interrupts().taken();
    let success = report.is_success() && interrupted.is_none();
    if json {
        context::emit_json(&Outcome {
            plan: shown,
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
        note!("{}", view::interrupted(&report, signal_name(signo)));
        return Ok(u8::try_from(128 + signo).unwrap_or(130));
    }
    Ok(if success { 0 } else { 1 })
}

/// Refuses a saved plan whose digest is not the one the reviewer saw (`--expect-digest`).
pub(crate) fn check_digest(actual: &str, expected: &str, file: &Path) -> anyhow::Result<()> {
    pai_ops::check_digest(actual, expected)
        .with_context(|| format!("refusing the saved plan {}; nothing was done", file.display()))
}

/// Gives an order that a killed run may still have on its way time to reach the cloud before the
/// cloud is asked about it (`pai_apply::await_interrupted`). The lock is held meanwhile. A
/// sandbox died with the process that started it, and its orders with it: nothing to wait for.
/// A signal meanwhile exits at once (the phase is still `Before`: nothing is in flight).
fn let_interrupted_orders_land(g: &Global, cloud: &Cloud, snapshot: &pai_state::StateSnapshot) {
    if !g.sandbox {
        cloud.block_on(pai_apply::await_interrupted(snapshot, g.settle_time()));
    }
}

/// Runs the executor inside a history run (`pai_ops::carry_out`), with the progress shown on
/// stderr and Ctrl-C and SIGTERM stopping new orders.
fn execute(
    g: &Global,
    cloud: &Cloud,
    writer: StateWriter,
    plan: &Plan,
    refresh_calls: &[ApiCall],
) -> anyhow::Result<ApplyReport> {
    let progress: Arc<dyn ProgressSink> = if context::stderr_color(g) {
        let bars = view::Bars::new(plan);
        cloud.say().attach(bars.display());
        Arc::new(bars)
    } else {
        Arc::new(view::Lines)
    };
    let stopped_by = || cloud.interrupts().taken().map(|s| signal_name(s).to_owned());
    cloud.interrupts().set_phase(Phase::Ordering);
    let carried = cloud.block_on(pai_ops::carry_out(
        plan,
        writer,
        Execution {
            client: cloud.client().clone(),
            command: "apply",
            calls: refresh_calls,
            settle: g.settle_time(),
            progress,
            cancel: cloud.interrupts().cancel().clone(),
            stopped_by: &stopped_by,
        },
    ));
    cloud.interrupts().set_phase(Phase::After);
    cloud.say().detach();
    carried.closed?;
    Ok(carried.report?)
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
