//! Carrying out a saved plan: the one sequence of `apply PLANFILE` and of every account of
//! `fleet apply FLEETPLAN`. A saved plan is an upper bound, never a command: under the state's
//! lock the account is planned again from the current state and the cloud's answers, and that
//! plan is carried out only if it lies within the reviewed one (`pai_planner::plan::bound`).
//! So a plan edited after review and sealed again with a fresh digest buys and forgets nothing
//! that the manifest and the state do not give; the refusal names the change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_apply::{
    await_interrupted, ApiError, ApplyReport, Cancel, Client, ExecError, Executor, ExecutorConfig, ListProductsStatus,
    ProgressSink,
};
use pai_planner::{within_reviewed, Action, Here, NotReviewed, Plan, StalePlan};
use pai_spec::{Address, Manifest, Region};
use pai_state::{ApiCall, StateError, StateLocation, StateSnapshot, StateWriter};
use time::OffsetDateTime;

use crate::plan::{MadeFor, Planning};

/// What a state that moved on since the plan means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovedState {
    /// The plan is stale: refused (`apply PLANFILE`; a plan is applied once).
    Refuse,
    /// A stopped apply of this plan moved it on: the account resumes, within the reviewed plan
    /// (`fleet apply FLEETPLAN`).
    Resume,
}

/// A saved plan and what this apply resolved for it.
pub struct SavedPlan<'a> {
    pub reviewed: &'a Plan,
    pub manifest: &'a Manifest,
    pub manifest_path: &'a str,
    pub sandbox: bool,
    /// The account the credentials act for, when they name it.
    pub account: Option<String>,
    /// Where each region's calls go now.
    pub endpoint: &'a (dyn Fn(&Region) -> String + Send + Sync),
    pub moved_state: MovedState,
}

/// Why a saved plan is not carried out. Nothing was ordered or written for it.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("its digest is {actual}, not {expected} (--expect-digest){hint}; it is not the plan that was reviewed")]
    Digest {
        actual: String,
        expected: String,
        hint: &'static str,
    },
    #[error("it was made from {what} `{recorded}`, and this apply pins {what} `{given}`; plan again from `{given}`")]
    Pin {
        what: &'static str,
        recorded: String,
        given: String,
    },
    #[error(
        "the state {location} is {freeze}; nothing was done (the cloud was not asked). Plan still works; \
         `pai-provision state unfreeze` lifts the freeze"
    )]
    Frozen { location: String, freeze: String },
    #[error(transparent)]
    Stale(#[from] StalePlan),
    #[error("cannot read the products' status (ListProducts); nothing was sent: {0}")]
    Observe(#[source] Box<ApiError>),
    #[error("a plan made now is not within the reviewed plan: {0}")]
    NotReviewed(#[from] Box<NotReviewed>),
    #[error("interrupted while the orders of a stopped run were given time to land; nothing was sent")]
    Interrupted,
}

/// Refuses a saved plan whose digest is not the reviewed one's (`--expect-digest`), before
/// anything else is read.
pub fn check_digest(actual: &str, expected: &str) -> Result<(), Refusal> {
    let expected = expected.trim();
    if actual == expected {
        return Ok(());
    }
    let bare = !expected.is_empty() && !expected.starts_with(pai_planner::plan::DIGEST_PREFIX);
    let hint = if bare && actual.ends_with(expected) {
        " (the `sha256:` prefix is missing)"
    } else {
        ""
    };
    Err(Refusal::Digest {
        actual: actual.to_owned(),
        expected: expected.to_owned(),
        hint,
    })
}

/// Refuses a saved plan made from another file than the one the pipeline pins (`apply
/// PLANFILE --manifest M`, `fleet apply FLEETPLAN --fleet F`). The two name the same file when
/// they resolve to the same path from here; a path that does not resolve is compared as written,
/// with `./` and `a/../` folded.
pub fn check_pin(what: &'static str, recorded: &str, given: &Path) -> Result<(), Refusal> {
    if resolved(Path::new(recorded)) == resolved(given) {
        return Ok(());
    }
    Err(Refusal::Pin {
        what,
        recorded: pai_spec::escape(recorded).into_owned(),
        given: pai_spec::escape(&given.display().to_string()).into_owned(),
    })
}

fn resolved(path: &Path) -> PathBuf {
    if let Ok(path) = std::fs::canonicalize(path) {
        return path;
    }
    let mut folded = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if folded.file_name().is_some() => {
                folded.pop();
            }
            other => folded.push(other),
        }
    }
    folded
}

/// Under the lock, before any call to the cloud: refuses a state under a change freeze
/// (`state freeze`), for a saved plan ([`check_locked`]) and a manifest's apply alike.
pub fn check_freeze(location: &StateLocation, snapshot: &StateSnapshot) -> Result<(), Refusal> {
    match &snapshot.freeze {
        Some(freeze) => Err(Refusal::Frozen {
            location: location.to_string(),
            freeze: freeze.describe(),
        }),
        None => Ok(()),
    }
}

/// A saved plan checked under the lock: made for this state, cloud and manifest.
pub struct Checked<'a> {
    snapshot: &'a StateSnapshot,
    moved: bool,
}

/// Under the lock, before any call to the cloud: the change freeze, and whether the plan was
/// made for this state (`location`, as read: `snapshot`), this cloud and this manifest.
pub fn check_locked<'a>(
    saved: &SavedPlan<'_>,
    location: &StateLocation,
    snapshot: &'a StateSnapshot,
) -> Result<Checked<'a>, Refusal> {
    check_freeze(location, snapshot)?;
    let same_state = |recorded: &str| location.is_named_by(recorded);
    let here = Here {
        sandbox: saved.sandbox,
        state: location.to_string(),
        same_state: &same_state,
        account: saved.account.clone(),
        endpoint: saved.endpoint,
    };
    let moved = match (
        saved.reviewed.check_current(snapshot, saved.manifest, &here),
        saved.moved_state,
    ) {
        (Ok(()), _) => false,
        (
            Err(
                StalePlan::Serial { .. }
                | StalePlan::Lineage {
                    plan: None,
                    state: Some(_),
                },
            ),
            MovedState::Resume,
        ) => {
            saved.reviewed.check_resumable(snapshot, saved.manifest, &here)?;
            true
        }
        (Err(stale), _) => return Err(stale.into()),
    };
    Ok(Checked { snapshot, moved })
}

/// The plan to carry out: made now, within the reviewed one.
#[derive(Debug)]
pub struct Prepared {
    pub plan: Plan,
    /// The state had moved on since the reviewed plan (a stopped apply resumed).
    pub resumed: bool,
    /// The reviewed changes that a plan made now no longer makes, and what it does instead
    /// (an order bought meanwhile is a noop or an adoption now).
    pub narrowed: Vec<(Address, Action, Action)>,
}

impl Prepared {
    /// Whether the executor has anything to do: a change, or a reorder after drift that showed
    /// (nothing to order, but the state notes it).
    pub fn has_work(&self) -> bool {
        self.plan.has_changes() || self.plan.changes.iter().any(pai_planner::Change::reorder_shown)
    }
}

/// After [`check_locked`]: gives the orders a killed run may still have on their way time to
/// land (not in the sandbox, which died with them), plans again from the state read under the
/// lock and the cloud's answers now, and keeps that plan only if it lies within the reviewed one.
/// It carries the reviewed plan's policy verdict (or `verdict`, the policies' second look).
/// The wait ends at once when `cancel` is set (Ctrl-C, SIGTERM): nothing is in flight then.
pub async fn plan_within(
    saved: &SavedPlan<'_>,
    checked: Checked<'_>,
    status: &ListProductsStatus,
    settle: Duration,
    cancel: &Cancel,
    now: OffsetDateTime,
) -> Result<Prepared, Refusal> {
    if !saved.sandbox
        && cancel
            .or_cancelled(await_interrupted(checked.snapshot, settle))
            .await
            .is_none()
    {
        return Err(Refusal::Interrupted);
    }
    let planning = Planning {
        manifest: saved.manifest,
        manifest_path: saved.manifest_path,
        snapshot: checked.snapshot,
        endpoint: saved.endpoint,
        made_for: MadeFor {
            sandbox: saved.sandbox,
            state: saved.reviewed.target.state.clone(),
            account: saved.account.clone(),
        },
        now,
    };
    let mut plan = planning
        .observe(status)
        .await
        .map_err(|e| Refusal::Observe(Box::new(e)))?;
    within_reviewed(saved.reviewed, &plan).map_err(Box::new)?;
    plan.policy = saved.reviewed.policy.clone();
    let narrowed = saved
        .reviewed
        .changes
        .iter()
        .filter(|c| c.action.is_change())
        .filter_map(|c| {
            let now = plan.change(&c.address).map_or(Action::Noop, |n| n.action);
            (now != c.action).then(|| (c.address.clone(), c.action, now))
        })
        .collect();
    Ok(Prepared {
        plan,
        resumed: checked.moved,
        narrowed,
    })
}

/// How the executor runs.
pub struct Execution<'a> {
    pub client: Client,
    /// The history's name of the command (`apply`, `fleet apply`).
    pub command: &'a str,
    /// The refresh's calls, recorded in the run (a manifest's apply).
    pub calls: &'a [ApiCall],
    pub settle: Duration,
    pub progress: Arc<dyn ProgressSink>,
    /// Set by the first Ctrl-C or SIGTERM: no new order is sent.
    pub cancel: Cancel,
    /// The signal that stopped the run, if one did, asked when the run is closed.
    pub stopped_by: &'a (dyn Fn() -> Option<String> + Send + Sync),
}

/// What the executor did, and whether the history run could be closed.
pub struct Carried {
    pub report: Result<ApplyReport, ExecError>,
    pub closed: Result<(), StateError>,
}

/// Runs the executor on `plan` inside a history run and closes the run with its result. On a
/// state that does not exist yet, the run is begun by the first write that records a product:
/// a run that recorded nothing (nothing was sent) creates no state.
pub async fn carry_out(plan: &Plan, writer: StateWriter, execution: Execution<'_>) -> Carried {
    let config = ExecutorConfig {
        // A plan made without asking the cloud may be older than the cloud's truth: look before
        // buying. One made under the lock with the cloud's answers (every saved plan's is) is
        // as fresh as that look.
        check_before_order: !plan.refreshed,
        settle: execution.settle,
        ..ExecutorConfig::default()
    };
    let writer = Arc::new(Mutex::new(writer));
    let executor = match Executor::for_apply(
        execution.client,
        writer,
        execution.command,
        execution.calls,
        config,
        execution.progress,
    ) {
        Ok(executor) => executor.with_cancel(execution.cancel),
        Err(e) => {
            return Carried {
                report: Err(e),
                closed: Ok(()),
            }
        }
    };
    let report = executor.apply(plan).await;
    let closed = executor.finish(&report, (execution.stopped_by)().as_deref());
    Carried { report, closed }
}

#[cfg(test)]
mod tests;
