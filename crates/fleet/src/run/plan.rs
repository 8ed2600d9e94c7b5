//! Planning every account of a run.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pai_apply::ListProductsStatus;
use pai_ops::{MadeFor, Planning};
use pai_planner::Plan;
use pai_state::{StateSnapshot, Store};
use time::OffsetDateTime;

use super::{
    regions_outside, AccountEvent, AccountTarget, Environment, FleetProgress, Purpose, RunConfig, ThrottleFlag,
};
use crate::limit::{AdaptiveLimit, Aimd};
use crate::plan::{AccountOutcome, AccountPlan, CompactPlan};

/// Plans every target, at most `config.concurrency` at once, and returns one [`AccountPlan`]
/// per target, in the targets' order. `now` is the plans' creation time. `purpose` chooses the
/// role: `fleet plan` reads with `plan_role`; `fleet apply FLEET` plans with the `role` it will
/// order with, so that a broken ordering role shows in the plan that is approved.
pub async fn plan_accounts(
    targets: Vec<AccountTarget>,
    env: Arc<dyn Environment>,
    config: RunConfig,
    purpose: Purpose,
    progress: Arc<dyn FleetProgress>,
    now: OffsetDateTime,
) -> Vec<AccountPlan> {
    let limit = Arc::new(AdaptiveLimit::new(Aimd::new(
        config.concurrency.max(1),
        1,
        config.concurrency.max(1),
    )));
    let mut tasks = tokio::task::JoinSet::new();
    let count = targets.len();
    let mut plans: Vec<Option<AccountPlan>> = (0..count).map(|_| None).collect();
    for (index, target) in targets.into_iter().enumerate() {
        // The permit is taken before the task exists: a waiting account costs no task (each
        // is kilobytes, and a fleet is thousands of accounts), and finished ones are reaped.
        let permit = limit.acquire().await;
        while let Some(joined) = tasks.try_join_next() {
            collect(joined, &mut plans);
        }
        let env = Arc::clone(&env);
        let progress = Arc::clone(&progress);
        let span = tracing::info_span!(super::ACCOUNT_SPAN, account = target.account.name.as_str());
        let task = async move {
            progress.event(target.account.name.as_str(), AccountEvent::Started);
            let throttled = ThrottleFlag::default();
            let planned = plan_one(&target, env.as_ref(), config, purpose, Arc::clone(&throttled), now).await;
            // Held encoded from here on: a fleet holds every account's plan until it is rendered.
            let outcome = match planned.map(|plan| CompactPlan::encode(&plan)) {
                Ok(Ok(plan)) => AccountOutcome::Planned { plan },
                Ok(Err(e)) => AccountOutcome::NotPlanned { reason: e.to_string() },
                Err(reason) => AccountOutcome::NotPlanned { reason },
            };
            if throttled.load(Ordering::Relaxed) {
                permit.throttled();
            } else {
                drop(permit);
            }
            let event = match &outcome {
                AccountOutcome::Planned { plan } => AccountEvent::Planned {
                    changes: plan.changes(),
                },
                AccountOutcome::NotPlanned { reason } => AccountEvent::NotPlanned { reason: reason.clone() },
            };
            progress.event(target.account.name.as_str(), event);
            (index, account_plan(&target, outcome))
        };
        tasks.spawn(tracing::Instrument::instrument(task, span));
    }
    while let Some(joined) = tasks.join_next().await {
        collect(joined, &mut plans);
    }
    plans.into_iter().flatten().collect()
}

fn collect(joined: Result<(usize, AccountPlan), tokio::task::JoinError>, plans: &mut [Option<AccountPlan>]) {
    match joined {
        Ok((index, plan)) => plans[index] = Some(plan),
        // A panic in one account's task is a bug; its account is left out of the plan.
        Err(e) => tracing::error!("a fleet plan task failed: {e}"),
    }
}

/// The plan of one account (`pai_ops::Planning`), or why there is none.
pub(super) async fn plan_one(
    target: &AccountTarget,
    env: &dyn Environment,
    config: RunConfig,
    purpose: Purpose,
    throttled: ThrottleFlag,
    now: OffsetDateTime,
) -> Result<Plan, String> {
    let loaded = target.manifest.as_ref().map_err(Clone::clone)?;
    let outside = regions_outside(&target.account, &loaded.manifest);
    if !outside.is_empty() {
        let list: Vec<String> = outside.iter().map(ToString::to_string).collect();
        return Err(format!(
            "{} orders in {}, which the fleet file does not give this account (its regions: {})",
            loaded.path,
            list.join(", "),
            target
                .account
                .regions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let location = target.state.as_ref().map_err(Clone::clone)?.clone();
    let snapshot = read_snapshot(location.clone()).await?;
    let client = env.client(&target.account, &loaded.manifest, purpose, throttled)?;
    let endpoint = |region: &pai_spec::Region| env.endpoint(&loaded.manifest, region);
    let planning = Planning {
        manifest: &loaded.manifest,
        manifest_path: &loaded.path,
        snapshot: &snapshot,
        endpoint: &endpoint,
        made_for: MadeFor {
            sandbox: env.sandbox(),
            state: location.to_string(),
            account: Some(target.account.id.as_str().to_owned()),
        },
        now,
    };
    planning
        .observe(&ListProductsStatus::new(client).at_most(config.per_account))
        .await
        .map_err(|e| format!("cannot read the products' status (ListProducts): {e}"))
}

/// The account's recorded state, read-only (an absent state is empty). SQLite and PostgreSQL
/// reads block: they run beside the runtime's workers.
pub(super) async fn read_snapshot(location: pai_state::StateLocation) -> Result<StateSnapshot, String> {
    let shown = location.to_string();
    tokio::task::spawn_blocking(move || Store::open_read_only(location).and_then(|store| store.snapshot()))
        .await
        .map_err(|e| format!("cannot read the state {shown}: {e}"))?
        .map_err(|e| format!("cannot read the state {shown}: {e}"))
}

fn account_plan(target: &AccountTarget, outcome: AccountOutcome) -> AccountPlan {
    let account = &target.account;
    AccountPlan {
        name: account.name.clone(),
        id: account.id.as_str().to_owned(),
        role_arn: account.role_arn.clone(),
        tags: account.tags.clone(),
        regions: account.regions.clone(),
        manifest_path: match &target.manifest {
            Ok(loaded) => loaded.path.clone(),
            Err(_) => account.manifest.display().to_string(),
        },
        outcome,
    }
}
