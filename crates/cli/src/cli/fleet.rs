//! The arguments of `fleet plan`, `fleet apply` and `fleet status` (docs/fleet.md).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use pai_fleet::shard::Shard;
use pai_fleet::waves::{Canary, Tolerance};

use super::{Format, PlanFormat};

// The run's own defaults, in clap's type (both are small: the casts cannot truncate).
const DEFAULT_CONCURRENCY: u16 = pai_fleet::run::DEFAULT_CONCURRENCY as u16;
const DEFAULT_PER_ACCOUNT: u16 = pai_fleet::run::DEFAULT_PER_ACCOUNT as u16;

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && (0.1..=10_000.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a rate: a number of calls a second from 0.1 to 10000"
        )),
    }
}

impl Selection {
    /// The run's bounds.
    pub fn run_config(&self) -> pai_fleet::run::RunConfig {
        pai_fleet::run::RunConfig {
            concurrency: usize::from(self.concurrency),
            per_account: usize::from(self.per_account),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Plan every account of a fleet file: one combined plan.
    Plan(FleetPlanArgs),
    /// Apply a saved fleet plan (or plan and apply a fleet file), canaries first.
    Apply(FleetApplyArgs),
    /// What every account's state records.
    Status(FleetStatusArgs),
}

/// Which accounts a run takes, and how many at once.
#[derive(Debug, Args)]
pub struct Selection {
    /// Take only shard I of N (1-based): the fleet's accounts sorted by id, every N-th one. A CI
    /// matrix of N jobs covers the fleet once.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Take only this account (its name in the fleet file or its id); repeatable.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// Accounts worked on at once, at most (lowered while the API throttles).
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// STS AssumeRole calls a second, at most. STS allows 100 a second per caller account (its
    /// RAM users and roles together); the default leaves half for everyone else.
    #[arg(long, default_value_t = pai_fleet::run::DEFAULT_STS_RATE, value_parser = parse_rate)]
    pub sts_rate: f64,
    /// API calls at once in one account, at most.
    #[arg(long, default_value_t = DEFAULT_PER_ACCOUNT, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub per_account: u16,
}

#[derive(Debug, Args)]
pub struct FleetPlanArgs {
    /// The fleet file.
    pub fleet: PathBuf,
    #[command(flatten)]
    pub selection: Selection,
    /// Save the combined plan here, for `fleet apply FILE`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// How to print the plan.
    #[arg(long, value_enum, default_value_t)]
    pub format: PlanFormat,
    /// Exit 2 when some account has changes, 0 when none has (1: an error, an account that
    /// could not be planned, or a conflict).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Evaluate the Rego policies of this directory on each account's plan, with the account's
    /// id, name and tags (docs/policy.md): a denied account is held back by `fleet apply`.
    #[arg(long, value_name = "DIR")]
    pub policy: Option<PathBuf>,
    /// How long each policy file may take on one account's plan: past it, exit 1 naming the file.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::parse_policy_timeout, requires = "policy")]
    pub policy_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct FleetApplyArgs {
    /// A fleet plan saved with `fleet plan --out`, or a fleet file (planned now, then applied
    /// after a `yes` or with --auto-approve).
    pub target: PathBuf,
    #[command(flatten)]
    pub selection: Selection,
    /// Apply without asking for a `yes` (a saved fleet plan never asks: it was reviewed).
    #[arg(long)]
    pub auto_approve: bool,
    /// Apply these accounts first, and the rest only when every one of them succeeded:
    /// `tag:NAME` (the accounts carrying the tag) or a number (the first N by name).
    #[arg(long, value_name = "tag:NAME|N")]
    pub canary: Option<Canary>,
    /// Failed accounts allowed before no new account starts: a count or a percentage of the
    /// accounts applied (`0` stops at the first failure).
    #[arg(long, value_name = "N|P%", default_value = "0")]
    pub max_failures: Tolerance,
    /// Refuse a saved fleet plan whose digest is not DIGEST (the `Fleet plan digest` of the
    /// reviewed plan), before anything else.
    #[arg(long, value_name = "DIGEST")]
    pub expect_digest: Option<String>,
    /// Pin the fleet file: refuse a saved fleet plan made from another fleet file than F (exit
    /// 1, naming both). A pipeline passes the fleet file of its own checkout.
    #[arg(long, value_name = "F")]
    pub fleet: Option<PathBuf>,
    /// How to print the outcome (json: one object per account, docs/fleet.md).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Evaluate the Rego policies of this directory again (docs/policy.md): a saved fleet plan
    /// is refused when they changed since it was made; an account they deny now is left alone.
    #[arg(long, value_name = "DIR")]
    pub policy: Option<PathBuf>,
    /// How long each policy file may take on one account's plan: past it, exit 1 naming the file.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::parse_policy_timeout, requires = "policy")]
    pub policy_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct FleetStatusArgs {
    /// The fleet file.
    pub fleet: PathBuf,
    /// Take only shard I of N (1-based), as `fleet plan --shard`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Take only this account (its name or id); repeatable.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// How to print it (json: one object per account).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}
