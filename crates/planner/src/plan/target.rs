//! Where a plan is for, and the checks that refuse a saved plan anywhere else: another state
//! (location, lineage, serial), another cloud (sandbox, account, endpoints), another manifest,
//! or a plan whose changes are not what the manifest declares.

use std::collections::BTreeMap;

use pai_spec::{Manifest, Region};
use serde::{Deserialize, Serialize};

use super::Plan;
use crate::change::{Change, Desired};
use pai_state::StateSnapshot;

/// What a plan was made for, recorded so that `apply` can refuse it anywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlanTarget {
    /// Made with `--sandbox`.
    pub sandbox: bool,
    /// The state's location as displayed: a path as the command resolved it, or a PostgreSQL URL
    /// with its password replaced by `***`. Together with the plan's `lineage`, which is `null`
    /// when the state did not exist yet, it names the one state the plan may change.
    pub state: String,
    /// The account the credentials act for, when they name it (the account id in the ARN of an
    /// OIDC role); `null` when they do not, as an access key does not (its id is not an account).
    pub account: Option<String>,
    /// The endpoint of every region a change concerns, where its calls go.
    pub endpoints: BTreeMap<Region, String>,
}

/// The target of the apply that checks a saved plan, resolved the way `plan` resolved its own.
pub struct Here<'a> {
    pub sandbox: bool,
    /// The state's location as displayed, for the message.
    pub state: String,
    /// Whether a recorded `target.state` names this state (the caller knows how locations
    /// compare: a path, or a PostgreSQL schema whatever its password).
    pub same_state: &'a dyn Fn(&str) -> bool,
    pub account: Option<String>,
    pub endpoint: &'a dyn Fn(&Region) -> String,
}

/// Why a saved plan may not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StalePlan {
    #[error(
        "the plan was made {}, and this apply runs {}{}; plan again the way you mean to apply",
        if *.plan { "with --sandbox (for the emulator)" } else { "without --sandbox (for the cloud)" },
        if *.plan { "without --sandbox (for the cloud)" } else { "with --sandbox (for the emulator)" },
        .now.as_ref().map(|(region, now)| format!(": {region}'s calls would go to {now}")).unwrap_or_default()
    )]
    Sandbox {
        plan: bool,
        /// A region of the plan and where this apply would send its calls.
        now: Option<(Region, String)>,
    },
    #[error(
        "the plan was made for the state at {plan}, but this apply uses the state at {now} \
         (--state, PAI_PROVISION_STATE or the manifest's [state] url differ); plan again against the state to change"
    )]
    State { plan: String, now: String },
    #[error("{}", lineage_message(.plan, .state))]
    Lineage {
        plan: Option<String>,
        state: Option<String>,
    },
    #[error("the state changed since the plan was made (serial {plan}, now {state}); plan again")]
    Serial { plan: u64, state: u64 },
    #[error(
        "the plan was made with the credentials of {}, but this apply uses those of {}; plan again with the \
         credentials that will apply it",
        account(.plan), account(.now)
    )]
    Account { plan: Option<String>, now: Option<String> },
    #[error(
        "the plan sends {region}'s calls to {plan}, but this apply would send them to {now} \
         (--endpoint, --sandbox or the manifest's endpoints differ); plan again with the same options"
    )]
    Endpoint { region: Region, plan: String, now: String },
    #[error("the manifest changed since the plan was made; plan again")]
    Manifest { plan: String, now: String },
    #[error("the plan's {what} is not what the manifest declares: the plan was edited; plan again")]
    Edited { what: String },
}

fn lineage_message(plan: &Option<String>, state: &Option<String>) -> String {
    match (plan, state) {
        (None, Some(now)) => {
            format!("the plan was made before the state existed, and it exists now (lineage {now}); plan again")
        }
        (Some(plan), None) => {
            format!("the plan was made for a state with lineage {plan}, and the state does not exist")
        }
        (plan, now) => format!(
            "the plan was made for another state (lineage {}, this state has {})",
            plan.as_deref().unwrap_or("none"),
            now.as_deref().unwrap_or("none")
        ),
    }
}

fn account(who: &Option<String>) -> String {
    match who {
        Some(who) => format!("account {who}"),
        None => "no named account (an access key, the sandbox or missing credentials name none)".to_owned(),
    }
}

impl PlanTarget {
    /// The endpoint of every region `changes` concern.
    pub(super) fn endpoints_of(changes: &[Change], endpoint: &dyn Fn(&Region) -> String) -> BTreeMap<Region, String> {
        changes
            .iter()
            .flat_map(|c| {
                let after = c.after.as_ref().map(|a| &a.region);
                let before = c.before.as_ref().map(|b| &b.region);
                after.into_iter().chain(before)
            })
            .map(|r| (r.clone(), endpoint(r)))
            .collect()
    }
}

impl Plan {
    /// Refuses a saved plan made for another target than `here`, or whose state or manifest
    /// moved on since it was made, or whose changes are not what `manifest` declares.
    pub fn check_current(&self, state: &StateSnapshot, manifest: &Manifest, here: &Here<'_>) -> Result<(), StalePlan> {
        self.check_target(here)?;
        if self.lineage != state.lineage {
            return Err(StalePlan::Lineage {
                plan: self.lineage.clone(),
                state: state.lineage.clone(),
            });
        }
        if self.serial != state.serial {
            return Err(StalePlan::Serial {
                plan: self.serial,
                state: state.serial,
            });
        }
        self.check_cloud_and_manifest(manifest, here)
    }

    /// [`Plan::check_current`] for a state that a stopped apply of this plan may have moved
    /// on: its serial may differ, and a state that did not exist may exist now (with any
    /// lineage); everything else must be as the plan was made for. What the moved state then
    /// allows is decided by a plan made now, within this one (`bound`).
    pub fn check_resumable(
        &self,
        state: &StateSnapshot,
        manifest: &Manifest,
        here: &Here<'_>,
    ) -> Result<(), StalePlan> {
        self.check_target(here)?;
        if self.lineage.is_some() && self.lineage != state.lineage {
            return Err(StalePlan::Lineage {
                plan: self.lineage.clone(),
                state: state.lineage.clone(),
            });
        }
        self.check_cloud_and_manifest(manifest, here)
    }

    fn check_target(&self, here: &Here<'_>) -> Result<(), StalePlan> {
        let made = &self.target;
        if made.sandbox != here.sandbox {
            let now = made.endpoints.keys().next().map(|r| (r.clone(), (here.endpoint)(r)));
            return Err(StalePlan::Sandbox {
                plan: made.sandbox,
                now,
            });
        }
        if !(here.same_state)(&made.state) {
            return Err(StalePlan::State {
                plan: made.state.clone(),
                now: here.state.clone(),
            });
        }
        Ok(())
    }

    fn check_cloud_and_manifest(&self, manifest: &Manifest, here: &Here<'_>) -> Result<(), StalePlan> {
        let made = &self.target;
        if made.account != here.account {
            return Err(StalePlan::Account {
                plan: made.account.clone(),
                now: here.account.clone(),
            });
        }
        let regions = made
            .endpoints
            .iter()
            .chain(self.orders.iter().map(|o| (&o.region, &o.endpoint)));
        for (region, endpoint) in regions {
            let now = (here.endpoint)(region);
            if *endpoint != now {
                return Err(StalePlan::Endpoint {
                    region: region.clone(),
                    plan: endpoint.clone(),
                    now,
                });
            }
        }
        if self.manifest_hash != manifest.source_hash {
            return Err(StalePlan::Manifest {
                plan: self.manifest_hash.clone(),
                now: manifest.source_hash.clone(),
            });
        }
        self.check_declared(manifest)
    }

    /// What apply acts on is what the manifest declares: each order's `AutoPay` and each
    /// change's `after`. A plan `plan` wrote always agrees (its digest is checked on load too).
    fn check_declared(&self, manifest: &Manifest) -> Result<(), StalePlan> {
        let edited = |what: String| Err(StalePlan::Edited { what });
        for order in &self.orders {
            if order.body.auto_pay != manifest.provider.auto_pay {
                return edited(format!("AutoPay for {}", order.region));
            }
        }
        for change in &self.changes {
            let Some(after) = &change.after else { continue };
            let declared = manifest.products.get(&change.address).map(|p| Desired {
                region: p.region.clone(),
                product_code: p.code(),
                fingerprint: p.fingerprint(),
                request: p.request.clone(),
            });
            if declared.as_ref() != Some(after) {
                return edited(format!("`{}`", change.address));
            }
        }
        Ok(())
    }
}
