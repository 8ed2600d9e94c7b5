//! Planning one account: the products to ask about, the cloud's answers (`ListProducts`), and
//! the plan with what it is made for. `plan`, `apply MANIFEST`, `apply PLANFILE` (planning again
//! under the lock) and every account of `fleet plan` and `fleet apply` plan through here.

use pai_apply::{ApiError, ListProductsStatus};
use pai_planner::{Observation, Plan};
use pai_spec::{Manifest, ProductCode, Region};
use pai_state::StateSnapshot;
use time::OffsetDateTime;

/// What a plan is made for, as `Plan::made_for` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeFor {
    pub sandbox: bool,
    /// The state's location as displayed (no password).
    pub state: String,
    /// The account the credentials act for, when they name it.
    pub account: Option<String>,
}

/// One account to plan: its manifest, its state as read, where its calls go, and the time.
pub struct Planning<'a> {
    pub manifest: &'a Manifest,
    /// As the user or the fleet file named it; recorded in the plan.
    pub manifest_path: &'a str,
    pub snapshot: &'a StateSnapshot,
    /// Where each region's calls go, resolved the way the client that sends them resolves it.
    pub endpoint: &'a (dyn Fn(&Region) -> String + Send + Sync),
    pub made_for: MadeFor,
    pub now: OffsetDateTime,
}

impl Planning<'_> {
    /// The (region, product) pairs the cloud is asked about: the manifest's and the state's.
    pub fn wanted(&self) -> Vec<(Region, ProductCode)> {
        pai_planner::wanted(self.manifest, self.snapshot)
    }

    /// The plan, from the cloud's answers (`None`: not asked, `--refresh=false`).
    pub fn build(&self, observed: Option<&Observation>) -> Plan {
        Plan::build(
            self.manifest,
            self.manifest_path,
            self.snapshot,
            observed,
            self.endpoint,
            self.now,
        )
        .made_for(
            self.made_for.sandbox,
            self.made_for.state.clone(),
            self.made_for.account.clone(),
        )
    }

    /// Asks the cloud about [`Planning::wanted`], then [`Planning::build`].
    pub async fn observe(&self, status: &ListProductsStatus) -> Result<Plan, ApiError> {
        let observation = status.observe_async(&self.wanted()).await?;
        Ok(self.build(Some(&observation)))
    }
}
