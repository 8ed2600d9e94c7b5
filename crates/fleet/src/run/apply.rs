//! Applying a fleet plan: canaries first, the rest after them, each account exactly once.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use pai_apply::{ApplyReport, Cancel, ListProductsStatus, Silent};
use pai_ops::saved::{self, Execution, MovedState, Refusal, SavedPlan};
use pai_state::{Provenance, StateError, StateLocation, StateWriter};
use serde::Serialize;
use time::OffsetDateTime;

use super::{AccountEvent, AccountTarget, Environment, FleetProgress, Purpose, RunConfig, ThrottleFlag};
use crate::limit::{AdaptiveLimit, Aimd};
use crate::plan::{AccountOutcome, AccountPlan};
use crate::waves::{waves, Canary, Tolerance};

/// How a fleet apply runs.
#[derive(Clone)]
pub struct ApplyConfig {
    pub run: RunConfig,
    /// The settle time of every account's orders (`docs/idempotency.md`).
    pub settle: Duration,
    pub lock_timeout: Duration,
    pub canary: Option<Canary>,
    pub tolerance: Tolerance,
    /// Set by the first Ctrl-C or SIGTERM: no new account starts, no new order is sent.
    pub cancel: Cancel,
    /// The signal that set `cancel`, for the history of the runs it stopped.
    pub stopped_by: Arc<dyn Fn() -> Option<String> + Send + Sync>,
    /// What every account's run records as its provenance (`docs/state.md`): the process's,
    /// with the saved fleet plan's digest; each account adds its own plan's digest.
    pub provenance: Provenance,
}

/// What happened in one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Applied {
    /// The reviewed plan was applied.
    Applied { report: ApplyReport },
    /// The state had moved on since the plan (a stopped fleet apply); a new plan that orders
    /// nothing unreviewed was applied.
    Resumed { report: ApplyReport },
    /// The plan had nothing to change.
    NothingToDo,
    /// The reviewed plan had changes, and another run made them since (it changed the state
    /// between this run's plan and its lock): nothing was left to do.
    AppliedElsewhere { serial_planned: u64, serial_found: u64 },
    /// Not applied, and why; nothing was ordered for it in this run unless `report` says so.
    Failed {
        reason: String,
        report: Option<ApplyReport>,
    },
    /// Not started: the plan could not be made, a canary failed, the tolerance was reached, or
    /// the run was interrupted.
    NotStarted { reason: String },
}

impl Applied {
    pub fn is_failure(&self) -> bool {
        match self {
            Applied::Applied { report } | Applied::Resumed { report } => !report.is_success(),
            Applied::NothingToDo | Applied::AppliedElsewhere { .. } => false,
            Applied::Failed { .. } | Applied::NotStarted { .. } => true,
        }
    }

    /// The account's outcome in one line (without its name), as the progress and the summary
    /// both say it: `done: 4 ordered`, `FAILED: <why>`, `UNRESOLVED: <why>` (orders of unknown
    /// outcome, left pending), `not started: <why>`.
    pub fn describe(&self) -> String {
        match self {
            Applied::Applied { report } | Applied::Resumed { report } if report.is_success() => {
                let mut line = match report.ordered() {
                    0 => "done: nothing ordered".to_owned(),
                    n => format!("done: {n} ordered"),
                };
                let found = report.found_purchased();
                if found > 0 {
                    line.push_str(&format!(", {found} recorded as already purchased"));
                }
                line
            }
            Applied::NothingToDo => "no changes".to_owned(),
            Applied::AppliedElsewhere {
                serial_planned,
                serial_found,
            } => format!(
                "no changes left: another run applied this account since the plan (its state's serial was \
                 {serial_planned}, is {serial_found})"
            ),
            Applied::NotStarted { reason } => format!("not started: {reason}"),
            failed => {
                let label = match failed {
                    Applied::Applied { report }
                    | Applied::Resumed { report }
                    | Applied::Failed {
                        report: Some(report), ..
                    } if report.is_unresolved() => "UNRESOLVED",
                    _ => "FAILED",
                };
                format!("{label}: {}", failed.failure().unwrap_or_default())
            }
        }
    }

    /// Products this run recorded because the cloud reports them purchased, not ordered by it
    /// (adopted, or found purchased after an order was refused as already open).
    pub fn recorded(&self) -> usize {
        match self {
            Applied::Applied { report }
            | Applied::Resumed { report }
            | Applied::Failed {
                report: Some(report), ..
            } => report.found_purchased(),
            _ => 0,
        }
    }

    /// Why the account failed, when it did: the reason, or its regions' headlines.
    pub fn failure(&self) -> Option<String> {
        match self {
            Applied::Applied { report } | Applied::Resumed { report } if !report.is_success() => {
                Some(failure_of(report))
            }
            Applied::Failed { reason, .. } => Some(reason.clone()),
            _ => None,
        }
    }

    /// Products ordered in this account by this run.
    pub fn ordered(&self) -> usize {
        match self {
            Applied::Applied { report } | Applied::Resumed { report } => report.ordered(),
            Applied::Failed {
                report: Some(report), ..
            } => report.ordered(),
            _ => 0,
        }
    }
}

/// The headlines of a report's regions that did not succeed, each headline once with the
/// regions it is of: `cn-beijing, cn-hangzhou: 2 with an unknown outcome, ...`.
fn failure_of(report: &ApplyReport) -> String {
    let failed = report.regions.iter().filter(|r| !r.is_success());
    crate::render::grouped_by(failed, |r| r.headline())
        .into_iter()
        .map(|(headline, regions)| {
            let names: Vec<String> = regions.iter().map(|r| r.region.to_string()).collect();
            format!("{}: {headline}", names.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One account's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountApplied {
    pub name: String,
    pub id: String,
    #[serde(flatten)]
    pub outcome: Applied,
}

/// Applies the planned accounts of `plans` (those of `targets`, by name), canaries first.
/// Returns one entry per plan, sorted by account name. An `Err` is a canary selection that
/// matches no account: nothing was started.
pub async fn apply_accounts(
    plans: Vec<AccountPlan>,
    targets: Vec<AccountTarget>,
    env: Arc<dyn Environment>,
    config: ApplyConfig,
    progress: Arc<dyn FleetProgress>,
) -> Result<Vec<AccountApplied>, crate::waves::WavesError> {
    let mut targets: BTreeMap<String, AccountTarget> = targets
        .into_iter()
        .map(|t| (t.account.name.as_str().to_owned(), t))
        .collect();
    let mut results: BTreeMap<String, AccountApplied> = BTreeMap::new();
    // The waves are formed over every account of the plan, the ones that cannot run included: a
    // canary that could not be planned is a canary that failed, and must hold the rest back.
    let tags: Vec<(String, Vec<String>)> = plans
        .iter()
        .map(|p| (p.name.as_str().to_owned(), p.tags.clone()))
        .collect();
    let mut runnable = Vec::new();
    for plan in plans {
        let target = targets.remove(plan.name.as_str());
        let outcome = match (plan.held_back(), target) {
            // Not planned, or planned with conflicts: left alone, and named.
            (Some(why), _) => Some(Applied::NotStarted { reason: why }),
            (None, None) => Some(Applied::NotStarted {
                reason: "it is not in the fleet file (or not in this shard) any more".to_owned(),
            }),
            (None, Some(target)) => {
                runnable.push((plan.clone(), target));
                None
            }
        };
        if let Some(outcome) = outcome {
            results.insert(plan.name.as_str().to_owned(), entry(&plan, outcome));
        }
    }
    let tag_refs: Vec<(&str, &[String])> = tags.iter().map(|(n, t)| (n.as_str(), t.as_slice())).collect();
    let order: Vec<Vec<String>> = waves(&tag_refs, config.canary.as_ref())?
        .into_iter()
        .map(|wave| wave.into_iter().map(str::to_owned).collect())
        .collect();
    let mut by_name: BTreeMap<String, (AccountPlan, AccountTarget)> = runnable
        .into_iter()
        .map(|(p, t)| (p.name.as_str().to_owned(), (p, t)))
        .collect();
    let total = by_name.len();
    let limit = Arc::new(AdaptiveLimit::new(Aimd::new(
        config.run.concurrency.max(1),
        1,
        config.run.concurrency.max(1),
    )));
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let wave_count = order.len();
    for (wave_index, wave) in order.into_iter().enumerate() {
        let canary_wave = config.canary.is_some() && wave_index == 0 && wave_count > 1;
        let stop = stop_reason(&config, failed.load(Ordering::SeqCst), total);
        let mut tasks = tokio::task::JoinSet::new();
        let mut canary_failed = false;
        for name in wave {
            let Some((plan, target)) = by_name.remove(&name) else {
                // Not runnable (not planned, or gone from the fleet file): already in `results`.
                canary_failed |= canary_wave && results.get(&name).is_some_and(|r| r.outcome.is_failure());
                continue;
            };
            if let Some(reason) = &stop {
                progress.event(&name, AccountEvent::Skipped { reason: reason.clone() });
                results.insert(name, entry(&plan, Applied::NotStarted { reason: reason.clone() }));
                continue;
            }
            let env = Arc::clone(&env);
            let limit = Arc::clone(&limit);
            let progress = Arc::clone(&progress);
            let config = config.clone();
            let failed = Arc::clone(&failed);
            let span = tracing::info_span!(super::ACCOUNT_SPAN, account = name.as_str());
            let task = async move {
                let permit = limit.acquire().await;
                // Checked again once a slot is free: failures and signals while it waited count.
                let outcome = match stop_reason(&config, failed.load(Ordering::SeqCst), total) {
                    Some(reason) => {
                        progress.event(plan.name.as_str(), AccountEvent::Skipped { reason: reason.clone() });
                        Applied::NotStarted { reason }
                    }
                    None => {
                        progress.event(plan.name.as_str(), AccountEvent::Started);
                        let throttled = ThrottleFlag::default();
                        let outcome = apply_one(
                            &plan,
                            &target,
                            env.as_ref(),
                            &config,
                            Arc::clone(&throttled),
                            progress.as_ref(),
                        )
                        .await;
                        if throttled.load(Ordering::Relaxed) {
                            permit.throttled();
                        }
                        if outcome.is_failure() {
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                        progress.event(plan.name.as_str(), event_of(&outcome));
                        outcome
                    }
                };
                (plan.name.as_str().to_owned(), entry(&plan, outcome))
            };
            tasks.spawn(tracing::Instrument::instrument(task, span));
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((name, applied)) => {
                    canary_failed |= canary_wave && applied.outcome.is_failure();
                    results.insert(name, applied);
                }
                Err(e) => tracing::error!("a fleet apply task failed: {e}"),
            }
        }
        if canary_failed {
            for (name, (plan, _)) in std::mem::take(&mut by_name) {
                let reason = "a canary account failed, so the rest of the fleet was not started".to_owned();
                progress.event(&name, AccountEvent::Skipped { reason: reason.clone() });
                results.insert(name, entry(&plan, Applied::NotStarted { reason }));
            }
            break;
        }
    }
    Ok(results.into_values().collect())
}

/// Why no new account may start now, if none may.
fn stop_reason(config: &ApplyConfig, failed: usize, total: usize) -> Option<String> {
    if config.cancel.is_cancelled() {
        return Some("the fleet apply was interrupted before it started".to_owned());
    }
    (!config.tolerance.allows(failed, total)).then(|| {
        format!(
            "{failed} account{} failed, past the failure tolerance ({}), so no new account was started",
            if failed == 1 { "" } else { "s" },
            config.tolerance
        )
    })
}

fn entry(plan: &AccountPlan, outcome: Applied) -> AccountApplied {
    AccountApplied {
        name: plan.name.as_str().to_owned(),
        id: plan.id.clone(),
        outcome,
    }
}

fn event_of(outcome: &Applied) -> AccountEvent {
    match outcome {
        Applied::NotStarted { reason } => AccountEvent::Skipped { reason: reason.clone() },
        done => AccountEvent::Finished {
            line: done.describe(),
            failed: done.is_failure(),
        },
    }
}

/// One account, as `apply PLANFILE` applies a saved plan (`pai_ops::saved`), under the state's
/// lock; a state that a stopped run moved on resumes within the reviewed plan.
async fn apply_one(
    reviewed: &AccountPlan,
    target: &AccountTarget,
    env: &dyn Environment,
    config: &ApplyConfig,
    throttled: ThrottleFlag,
    progress: &dyn FleetProgress,
) -> Applied {
    let AccountOutcome::Planned { plan: reviewed_plan } = &reviewed.outcome else {
        return Applied::NotStarted {
            reason: "it could not be planned".to_owned(),
        };
    };
    let failed = |reason: String| Applied::Failed { reason, report: None };
    let reviewed_plan = match reviewed_plan.decode() {
        Ok(plan) => plan,
        Err(e) => return failed(e.to_string()),
    };
    let loaded = match &target.manifest {
        Ok(loaded) => loaded,
        Err(reason) => return failed(reason.clone()),
    };
    let location = match &target.state {
        Ok(location) => location.clone(),
        Err(reason) => return failed(reason.clone()),
    };
    let writer = match open_writer(location.clone(), config.lock_timeout, reviewed.name.as_str(), progress).await {
        Ok(writer) => writer,
        Err(reason) => return failed(reason),
    };
    let writer = writer.with_provenance(Provenance {
        plan_digest: Some(reviewed_plan.digest()),
        policy: reviewed_plan.policy.as_ref().map(pai_planner::PolicyVerdict::record),
        ..config.provenance.clone()
    });
    let snapshot = match writer.snapshot() {
        Ok(snapshot) => snapshot,
        Err(e) => return failed(format!("cannot read the state {location}: {e}")),
    };
    let endpoint = |region: &pai_spec::Region| env.endpoint(&loaded.manifest, region);
    let saved = SavedPlan {
        reviewed: &reviewed_plan,
        manifest: &loaded.manifest,
        manifest_path: &loaded.path,
        sandbox: env.sandbox(),
        account: Some(reviewed.id.clone()),
        endpoint: &endpoint,
        moved_state: MovedState::Resume,
    };
    // Under the lock, before any call to the cloud: a frozen or stale account fails alone.
    let checked = match saved::check_locked(&saved, &location, &snapshot) {
        Ok(checked) => checked,
        Err(Refusal::Frozen { location, freeze }) => {
            return failed(format!(
                "the state {location} is {freeze}; nothing was done in this account (`pai-provision state \
                 unfreeze` lifts the freeze)"
            ))
        }
        Err(e) => return failed(format!("the plan is not for this account's state any more: {e}")),
    };
    let client = match env.client(&target.account, &loaded.manifest, Purpose::Apply, throttled) {
        Ok(client) => client,
        Err(reason) => return failed(reason),
    };
    let status = ListProductsStatus::new(client.clone()).at_most(config.run.per_account);
    let now = OffsetDateTime::now_utc();
    let prepared = match saved::plan_within(&saved, checked, &status, config.settle, &config.cancel, now).await {
        Ok(prepared) => prepared,
        Err(Refusal::Interrupted) => {
            return Applied::NotStarted {
                reason: "the fleet apply was interrupted before anything was sent in this account".to_owned(),
            }
        }
        Err(Refusal::NotReviewed(e)) => {
            return failed(format!(
                "a plan made now would do what was not reviewed ({e}); nothing was done in this account"
            ))
        }
        Err(e) => return failed(e.to_string()),
    };
    if !prepared.has_work() {
        // The reviewed plan had changes and the state moved on since: another run made them.
        if prepared.resumed && reviewed_plan.has_changes() {
            return Applied::AppliedElsewhere {
                serial_planned: reviewed_plan.serial,
                serial_found: snapshot.serial,
            };
        }
        return Applied::NothingToDo;
    }
    let stopped_by = || (config.stopped_by)();
    let carried = pai_ops::carry_out(
        &prepared.plan,
        writer,
        Execution {
            client,
            command: "fleet apply",
            calls: &[],
            settle: config.settle,
            progress: Arc::new(Silent),
            cancel: config.cancel.clone(),
            stopped_by: &stopped_by,
        },
    )
    .await;
    if let Err(e) = carried.closed {
        tracing::warn!("cannot close the history run of {}: {e}", reviewed.name);
    }
    match carried.report {
        // Anything not ordered, failed or of unknown outcome: the account failed, and says why.
        Ok(report) if !report.is_success() => Applied::Failed {
            reason: failure_of(&report),
            report: Some(report),
        },
        Ok(report) if prepared.resumed => Applied::Resumed { report },
        Ok(report) => Applied::Applied { report },
        Err(e) => failed(e.to_string()),
    }
}

/// How long a lock is waited for before the wait is reported.
const WAIT_NOTICE: Duration = Duration::from_secs(1);

/// The account's state, locked (waiting up to `timeout`), saying so when another run holds the
/// lock, and who, past [`WAIT_NOTICE`]. Opening blocks; it runs beside the runtime's workers.
async fn open_writer(
    location: StateLocation,
    timeout: Duration,
    account: &str,
    progress: &dyn FleetProgress,
) -> Result<StateWriter, String> {
    let shown = location.brief();
    let opening = {
        let location = location.clone();
        tokio::task::spawn_blocking(move || StateWriter::open(location, "fleet apply", timeout))
    };
    tokio::pin!(opening);
    let opened = tokio::select! {
        opened = &mut opening => opened,
        () = tokio::time::sleep(WAIT_NOTICE) => {
            let deadline = OffsetDateTime::now_utc() + timeout.saturating_sub(WAIT_NOTICE);
            let holder = tokio::task::spawn_blocking(move || {
                pai_state::Store::open_read_only(location).ok().and_then(|s| s.lock_holder())
            })
            .await
            .ok()
            .flatten();
            progress.event(
                account,
                AccountEvent::Waiting {
                    on: format!(
                        "the lock of its state ({shown}), held by {}, until {} at the latest",
                        holder.map_or_else(|| "another run".to_owned(), |h| h.brief()),
                        pai_state::clock::format_ceil(deadline)
                    ),
                },
            );
            opening.await
        }
    };
    match opened {
        Ok(Ok(writer)) => Ok(writer),
        Ok(Err(StateError::Locked { holder, waited, .. })) => Err(format!(
            "its state ({shown}) is locked by {}; gave up after {:.0}s (--lock-timeout)",
            holder.map_or_else(
                || "a process that has not recorded itself yet".to_owned(),
                |h| h.brief()
            ),
            waited.as_secs_f64()
        )),
        Ok(Err(e)) => Err(format!("cannot lock its state: {e}")),
        Err(e) => Err(format!("cannot open its state ({shown}): {e}")),
    }
}

#[cfg(test)]
mod tests {
    use pai_apply::{ProductOutcome, RegionReport};
    use pai_testkit::fixtures::{addr, region};

    use super::*;

    /// An account whose four regions failed alike says so once, naming the regions, and says
    /// `UNRESOLVED` (not `FAILED`) when nothing was refused.
    #[test]
    fn a_failure_alike_in_every_region_is_said_once() {
        let unknown = |name: &str| {
            let mut r = RegionReport::new(region(name));
            r.set(&addr("pai"), ProductOutcome::Unknown { error: "500".into() });
            r
        };
        let report = ApplyReport {
            regions: vec![unknown("cn-beijing"), unknown("cn-hangzhou")],
            ..ApplyReport::default()
        };
        let applied = Applied::Failed {
            reason: failure_of(&report),
            report: Some(report),
        };
        assert_eq!(
            applied.describe(),
            "UNRESOLVED: cn-beijing, cn-hangzhou: 1 with an unknown outcome, left pending for the next run to resolve"
        );
    }
}
