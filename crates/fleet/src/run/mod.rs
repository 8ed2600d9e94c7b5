//! The fleet run: every selected account planned, and applied, concurrently within bounds.
//!
//! The caller (the CLI) resolves what is per account before the run starts: the manifest each
//! account gets (loaded once per file), the state each keeps ([`pai_state::FleetStates`]) and
//! an [`Environment`] that hands out a client acting in an account (its role assumed on the
//! first call, through `pai_apply::credentials`). The run itself is the same for the cloud, the
//! sandbox and the tests:
//!
//! - [`plan_accounts`]: each account's `ListProducts` and `pai_planner::Plan`, at most
//!   [`RunConfig::concurrency`] accounts at once (fewer while the API throttles,
//!   [`crate::limit`]) and [`RunConfig::per_account`] calls at once in one account. An account
//!   that cannot be planned is reported with its reason; it never stops the others.
//! - [`apply_accounts`]: the accounts of a fleet plan in waves ([`crate::waves`]), each account
//!   exactly as `apply PLANFILE` applies a saved plan, under its own state's lock. Past the
//!   failure tolerance no new account starts. An account whose state moved on since its plan
//!   (a fleet apply stopped half-way) is planned again and applied only if the new plan orders
//!   nothing the reviewed one did not (`pai_planner::plan::bound`).

mod apply;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use pai_apply::Client;
use pai_spec::fleet::Account;
use pai_spec::{Manifest, Region};
use pai_state::StateLocation;

pub use apply::{apply_accounts, AccountApplied, Applied, ApplyConfig};
pub use plan::plan_accounts;

/// The name of the span each account's work runs in, with the field `account`: what it logs is
/// the account's (the CLI keeps it out of the terminal by default and in a log file).
pub const ACCOUNT_SPAN: &str = "account";

/// What a fleet run needs of the world for one account. The CLI implements it for the cloud and
/// for the sandbox; the tests use the CLI's, against the emulator.
pub trait Environment: Send + Sync {
    /// The client that acts in `account`, sending `manifest`'s calls where its endpoints say.
    /// Cheap: the role is assumed on the first call, and the connections are shared.
    /// `purpose` chooses the role: a plan assumes the account's `plan_role` when the fleet file
    /// gives one (a role that can read and not order), an apply its `role`.
    fn client(
        &self,
        account: &Account,
        manifest: &Manifest,
        purpose: Purpose,
        throttled: ThrottleFlag,
    ) -> Result<Client, String>;
    /// Where `region`'s calls go for `manifest`, as a plan records it.
    fn endpoint(&self, manifest: &Manifest, region: &Region) -> String;
    /// Whether this is the sandbox (recorded in each plan's target).
    fn sandbox(&self) -> bool;
}

/// What an account's client is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `fleet plan`: reads only.
    Plan,
    /// `fleet apply`: orders (and reads, planning an account again when it resumes).
    Apply,
}

impl Purpose {
    /// The role `account` is acted in with, for this purpose.
    pub fn role_of(self, account: &Account) -> &str {
        match (self, &account.plan_role_arn) {
            (Purpose::Plan, Some(plan_role)) => plan_role,
            _ => &account.role_arn,
        }
    }
}

/// Set by an account's client when the API throttled one of its calls.
pub type ThrottleFlag = Arc<std::sync::atomic::AtomicBool>;

/// One account of the run, resolved: the manifest it gets, and where its state is.
#[derive(Clone)]
pub struct AccountTarget {
    pub account: Account,
    /// The manifest, or why it could not be loaded (the account is then not planned).
    pub manifest: Result<Arc<LoadedManifest>, String>,
    /// The account's state, or why it has none (a bad location).
    pub state: Result<StateLocation, String>,
}

/// A manifest as loaded once for every account that gets it.
pub struct LoadedManifest {
    pub manifest: Manifest,
    /// As the fleet file names it, resolved against the fleet file's directory.
    pub path: String,
}

/// How hard a run may press the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunConfig {
    /// Accounts planned or applied at once, at most.
    pub concurrency: usize,
    /// Calls at once in one account.
    pub per_account: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            concurrency: DEFAULT_CONCURRENCY,
            per_account: DEFAULT_PER_ACCOUNT,
        }
    }
}

/// Accounts at once by default. The API throttles per account, and STS is paced on its own
/// (`--sts-rate`), so accounts at once cost only local resources (tasks, connections): 128
/// keeps a 1,000-account fleet to 8 waves of round trips, in about 50 MB
/// (docs/benchmarks.md, "fleet").
pub const DEFAULT_CONCURRENCY: usize = 128;

/// STS `AssumeRole` calls a second by default: STS allows 100 per caller account, its RAM users
/// and roles counted together, and a pipeline is rarely the account's only caller.
pub const DEFAULT_STS_RATE: f64 = 50.0;

/// Calls at once per account by default: one account's four regions are asked together.
pub const DEFAULT_PER_ACCOUNT: usize = 4;

/// How long a run waits for a state's lock by default (`--lock-timeout` overrides it).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// What the run says while it works, per account; the CLI prints it (a line per event in CI, a
/// progress display on a terminal).
pub trait FleetProgress: Send + Sync {
    fn event(&self, account: &str, event: AccountEvent);
}

/// One step of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountEvent {
    Started,
    /// Waiting for what another run holds: `on` says what (its state's lock, and who holds it).
    Waiting {
        on: String,
    },
    Planned {
        changes: usize,
    },
    NotPlanned {
        reason: String,
    },
    /// Applied, or not: `line` is [`Applied::describe`], the words the summary uses too.
    Finished {
        line: String,
        failed: bool,
    },
    Skipped {
        reason: String,
    },
}

/// Says nothing.
pub struct Quiet;

impl FleetProgress for Quiet {
    fn event(&self, _account: &str, _event: AccountEvent) {}
}

/// The regions of `manifest` that `account` does not list: the fleet file bounds where the
/// pipeline may act in each account, so a manifest that orders elsewhere is refused for it.
pub fn regions_outside(account: &Account, manifest: &Manifest) -> Vec<Region> {
    manifest
        .regions()
        .into_iter()
        .filter(|r| !account.regions.contains(r))
        .collect()
}
