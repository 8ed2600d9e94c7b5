//! The command line, declared with clap's derive API.

use std::path::PathBuf;
use std::time::Duration;

mod fleet;
mod forge;
mod state;

pub use fleet::{FleetApplyArgs, FleetCommand, FleetPlanArgs, FleetStatusArgs};
pub use forge::{CommentArgs, DriftArgs};
pub use state::{
    HistoryFormat, StateAddrArgs, StateCommand, StateFormatArgs, StateFreezeArgs, StateHistoryArgs, StateImportArgs,
    StateMigrateArgs,
};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pai-provision",
    version,
    about = "Plan and apply Alibaba Cloud PAI product activations from a TOML manifest"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every command accepts, before or after its name. Those that only some commands
/// use are refused elsewhere when given on the command line ([`parse`], [`irrelevant_flag`]).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// State store: a SQLite file path (default state/pai-provision.db) or a postgres:// URL.
    /// Used by plan, apply, refresh, show, state and force-unlock.
    // hide_env_values: `--help` would print the variable, password and all.
    #[arg(long, global = true, env = "PAI_PROVISION_STATE", hide_env_values = true)]
    pub state: Option<LocationArg>,
    /// API endpoint override for every region; may contain `{region}`. Used by plan, apply,
    /// refresh.
    #[arg(long, global = true)]
    pub endpoint: Option<String>,
    /// aliyun CLI profile to take credentials from. Used by plan, apply, refresh.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Request signature: v3 (ACS3-HMAC-SHA256, default) or v2 (ROA HMAC-SHA1). Used by plan,
    /// apply, refresh.
    #[arg(long, global = true, value_enum)]
    pub signature: Option<SignatureArg>,
    /// How long to wait for the state lock, up to 24h; 0s: fail at once when it is taken. Used
    /// by the commands that write the state: apply, refresh, state rm|import|migrate (plan
    /// accepts it, as apply's twin).
    #[arg(long, global = true, default_value = "30s", value_parser = parse_lock_timeout)]
    pub lock_timeout: Duration,
    /// Time allowed for one API request, from sending to the last byte of the answer: more
    /// than zero, up to 1h. Used by plan, apply, refresh, and by comment and drift for each
    /// call to GitHub or GitLab.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// How long after an order is sent the cloud may still carry it out. Until then, "not
    /// purchased" from ListProducts never leads to a second order; at least --timeout, up to 7
    /// days. Used by apply, refresh (plan accepts it, as apply's twin)
    /// [default: twice --timeout, and at least 60s; with --sandbox, twice --timeout].
    #[arg(long, global = true, value_parser = parse_settle_time)]
    pub settle_time: Option<Duration>,
    /// Disable colour (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Log to stderr: -v info, -vv debug, -vvv trace.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Run against an in-process emulator, with a state and a ledger of its own beside the state
    /// file. Used by plan, apply, refresh, show, state and force-unlock.
    #[arg(long, global = true)]
    pub sandbox: bool,
    /// Where a manifest's endpoints may send to: set by `main` from `CI` and
    /// `PAI_PROVISION_ALLOW_ENDPOINTS`, never from the command line.
    #[arg(skip)]
    pub manifest_endpoints: pai_spec::ManifestEndpoints,
}

/// The command line, parsed; a global flag given on the command line to a command that does
/// not use it is a usage error (exit 2), as an unknown flag is: accepting it would let the user
/// believe it did something. A value from the environment (`PAI_PROVISION_STATE`) is not
/// refused: the environment is set for many commands at once.
pub fn parse() -> Cli {
    let mut command = Cli::command();
    let matches = command.get_matches_mut();
    if let Some(message) = irrelevant_flag(&matches) {
        command.error(clap::error::ErrorKind::ArgumentConflict, message).exit();
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit())
}

/// The global flags (by clap id) that only some commands use, and which.
const FLAG_USERS: &[(&str, &str, &[&str])] = &[
    ("state", "--state", STATE_USERS),
    ("sandbox", "--sandbox", STATE_USERS),
    // `plan` takes the lock and settle flags it does not use, so that a pipeline can give
    // `plan --out` and `apply PLANFILE` the same flags.
    (
        "lock_timeout",
        "--lock-timeout",
        &[
            "plan",
            "apply",
            "refresh",
            "state rm",
            "state import",
            "state migrate",
            "state freeze",
            "state unfreeze",
            "fleet plan",
            "fleet apply",
        ],
    ),
    ("endpoint", "--endpoint", CLOUD_USERS),
    ("profile", "--profile", CLOUD_USERS),
    ("signature", "--signature", CLOUD_USERS),
    (
        "timeout",
        "--timeout",
        &[
            "plan",
            "apply",
            "refresh",
            "fleet plan",
            "fleet apply",
            "comment",
            "drift",
        ],
    ),
    (
        "settle_time",
        "--settle-time",
        &["plan", "apply", "refresh", "fleet plan", "fleet apply"],
    ),
];
const STATE_USERS: &[&str] = &[
    "plan",
    "apply",
    "refresh",
    "show",
    "state list",
    "state show",
    "state rm",
    "state history",
    "state import",
    "state migrate",
    "state freeze",
    "state unfreeze",
    "force-unlock",
    "fleet plan",
    "fleet apply",
    "fleet status",
];
const CLOUD_USERS: &[&str] = &["plan", "apply", "refresh", "fleet plan", "fleet apply"];

/// The message for the first global flag given on the command line to a command that does not
/// use it, if any.
pub fn irrelevant_flag(matches: &ArgMatches) -> Option<String> {
    let mut name = Vec::new();
    let mut level = matches;
    while let Some((sub, next)) = level.subcommand() {
        name.push(sub);
        level = next;
    }
    let command = name.join(" ");
    FLAG_USERS.iter().find_map(|(id, flag, users)| {
        let given = matches.value_source(id) == Some(ValueSource::CommandLine);
        (given && !users.contains(&command.as_str())).then(|| {
            format!(
                "{flag} has no effect on `{command}`; it is used by {}",
                users.join(", ")
            )
        })
    })
}

/// The least default settle time against a real service. Its processing time and activation
/// delay are not documented; this is an assumption, stated and argued in
/// `docs/idempotency.md` ("The settle time"). It equals the old default with the default
/// 30 s `--timeout`, so default runs wait no longer than before.
pub const SETTLE_FLOOR: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureArg {
    V3,
    V2,
}

/// The output of the commands that print text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Text for people.
    #[default]
    Human,
    /// One JSON document on stdout, for scripts (docs/cli.md names each schema).
    Json,
}

/// The output of the commands that render a plan (`plan`, `show`), which can also be Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanFormat {
    /// Text for people.
    #[default]
    Human,
    /// The plan document of docs/plan-json.md (for `show` without a plan: the state).
    Json,
    /// The plan as Markdown, for a pull request comment (a plan only).
    Markdown,
}

impl Global {
    /// `--settle-time`, or the default: twice `--timeout`, and never less than
    /// [`SETTLE_FLOOR`]. The time an order may take to be carried out belongs to the service,
    /// not to the client: a short `--timeout` only makes the client give up sooner on an order
    /// the service still carries out, so it may not shorten the wait (`docs/idempotency.md`,
    /// "The settle time"). The sandbox's service is in-process and known: it carries an
    /// order out before it answers, so its default stays twice its timeout.
    pub fn settle_time(&self) -> Duration {
        let tied_to_client = self.timeout.saturating_mul(2);
        match self.settle_time {
            Some(explicit) => explicit,
            None if self.sandbox => tied_to_client,
            None => tied_to_client.max(SETTLE_FLOOR),
        }
    }

    /// A warning when an explicit `--settle-time` is below what the default would be for a
    /// real service: allowed (the user may know their service), but a slower service than
    /// that could be ordered from twice.
    pub fn settle_warning(&self) -> Option<String> {
        let explicit = self.settle_time?;
        if self.sandbox || explicit >= SETTLE_FLOOR {
            return None;
        }
        Some(format!(
            "--settle-time {} is below {}: an order the service takes longer than that to carry out (or to \
             report in ListProducts) may be ordered a second time; see docs/idempotency.md, \"The settle time\"",
            humantime::format_duration(explicit),
            humantime::format_duration(SETTLE_FLOOR)
        ))
    }

    /// What clap cannot check alone.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.settle_time() < self.timeout {
            anyhow::bail!(
                "--settle-time {} is shorter than --timeout {}: an order the client gave up on could still \
                 arrive after ListProducts said \"not purchased\", and be bought twice; give it at least --timeout",
                humantime::format_duration(self.settle_time()),
                humantime::format_duration(self.timeout)
            );
        }
        Ok(())
    }
}

/// A state location as given: a path, or a URL that may carry a password. `Debug` shows it with
/// the password replaced by `***`, so that no dump of the arguments can leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct LocationArg(pub String);

impl LocationArg {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for LocationArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(LocationArg(s.to_owned()))
    }
}

impl std::fmt::Debug for LocationArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", pai_state::postgres::target::redact_url(&self.0))
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e} (e.g. 30s, 2m)"))
}

/// A duration within `least..=most`; `why_least` says why below it makes no sense.
fn bounded(s: &str, least: Duration, why_least: &str, most: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < least {
        return Err(format!("`{s}` {why_least}"));
    }
    if d > most {
        return Err(format!(
            "`{s}` is longer than {}, which is surely a mistake",
            humantime::format_duration(most)
        ));
    }
    Ok(d)
}

/// `--timeout`: zero would mean "no timeout" to the HTTP client, and a request to a server
/// that never answers would hang for ever.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    bounded(
        s,
        Duration::from_millis(1),
        "is not a timeout: give at least 1ms (a request must be allowed some time, and a zero \
         timeout would let it hang for ever)",
        Duration::from_secs(3600),
    )
}

/// `--policy-timeout`: never zero (every policy would be stopped at once).
pub(crate) fn parse_policy_timeout(s: &str) -> Result<Duration, String> {
    bounded(
        s,
        Duration::from_millis(1),
        "is not a timeout: give at least 1ms (a policy must be allowed some time)",
        Duration::from_secs(3600),
    )
}

/// `--settle-time`: never zero (below `--timeout` is refused by [`Global::check`] too).
fn parse_settle_time(s: &str) -> Result<Duration, String> {
    bounded(
        s,
        Duration::from_millis(1),
        "is not a settle time: an order is never carried out before it is sent; give at least --timeout",
        Duration::from_secs(7 * 24 * 3600),
    )
}

/// `--lock-timeout`: zero is meaningful, "do not wait".
fn parse_lock_timeout(s: &str) -> Result<Duration, String> {
    bounded(s, Duration::ZERO, "", Duration::from_secs(24 * 3600))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest; exit 1 with every error found.
    Validate(ValidateArgs),
    /// Rewrite the manifest in canonical layout.
    Fmt(FmtArgs),
    /// Show what apply would do.
    Plan(PlanArgs),
    /// Order what is missing, exactly once.
    Apply(ApplyArgs),
    /// Compare the state with the cloud and record what it reports.
    Refresh(RefreshArgs),
    /// Show the state, or a saved plan.
    Show(ShowArgs),
    /// Inspect and edit the state.
    #[command(subcommand)]
    State(StateCommand),
    /// Break a state lock left by another process.
    ForceUnlock(ForceUnlockArgs),
    /// Serve a local AIWorkSpace emulator.
    Emulator(EmulatorArgs),
    /// Plan and apply across the accounts of a fleet file (docs/fleet.md).
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Post or update the plan comment of a pull or merge request (docs/forge.md).
    Comment(CommentArgs),
    /// Open, update and close one issue per drift found in saved plans (docs/forge.md).
    Drift(DriftArgs),
    /// The process that evaluates a run's policies, started by pai-provision itself
    /// (docs/policy.md, "Limits").
    #[command(name = "policy-worker", hide = true)]
    PolicyWorker,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The manifest [default: pai-provision.toml]
    pub manifest: Option<PathBuf>,
    /// How to print the findings.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Exit 1 with a diff when the file is not formatted; write nothing.
    #[arg(long)]
    pub check: bool,
    /// The manifest [default: pai-provision.toml]
    pub manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The manifest [default: pai-provision.toml]
    pub manifest: Option<PathBuf>,
    /// Ask the cloud (ListProducts); `--refresh=false` plans from the state alone.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,
    /// Save the plan as JSON for `apply FILE`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// How to print the plan.
    #[arg(long, value_enum, default_value_t)]
    pub format: PlanFormat,
    /// Exit 2 when the plan has changes, 0 when none, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Evaluate the Rego policies of this directory on the plan (docs/policy.md): a denial
    /// exits 1 and the plan is not saved.
    #[arg(long, value_name = "DIR")]
    pub policy: Option<PathBuf>,
    /// How long each policy file may take on the plan: past it, exit 1 naming the file.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_policy_timeout, requires = "policy")]
    pub policy_timeout: Duration,
    /// Write the policies' input document here, for `conftest test` (docs/policy.md).
    #[arg(long, value_name = "FILE")]
    pub policy_input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A manifest, or a plan saved with `plan --out` [default: pai-provision.toml]
    pub target: Option<PathBuf>,
    /// Order without asking for a `yes` (a saved plan never asks: it was reviewed when it was
    /// made).
    #[arg(long)]
    pub auto_approve: bool,
    /// Ask the cloud (ListProducts) before planning; `--refresh=false` plans from the state
    /// alone, and every order is then checked with the cloud just before it is sent.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,
    /// Refuse a saved plan whose digest is not DIGEST (the `Plan digest` of the reviewed plan),
    /// before anything else.
    #[arg(long, value_name = "DIGEST")]
    pub expect_digest: Option<String>,
    /// Pin the manifest: refuse a saved plan made from another manifest than M (exit 1, naming
    /// both). A pipeline passes the manifest of its own checkout.
    #[arg(long, value_name = "M")]
    pub manifest: Option<PathBuf>,
    /// How to print the plan and the outcome (json: `{plan, report, success}`, docs/cli.md).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Evaluate the Rego policies of this directory again (docs/policy.md): a saved plan is
    /// refused when they changed since it was made or now deny it.
    #[arg(long, value_name = "DIR")]
    pub policy: Option<PathBuf>,
    /// How long each policy file may take on the plan: past it, exit 1 naming the file.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_policy_timeout, requires = "policy")]
    pub policy_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// The manifest [default: pai-provision.toml]
    pub manifest: Option<PathBuf>,
    /// How to print the findings (json: one object per address, docs/cli.md).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved with `plan --out`; without it, the state.
    #[arg(required_if_eq("format", "markdown"))]
    pub planfile: Option<PathBuf>,
    /// How to print it; markdown renders a saved plan only.
    #[arg(long, value_enum, default_value_t)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock's id, as the error of the command that found the lock taken printed it.
    pub lock_id: String,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// `ADDR` (serves --region) or `REGION=ADDR`; repeat for several regions. An address
    /// other than loopback is reachable from other machines (a warning says so).
    #[arg(long, value_name = "[REGION=]ADDR", default_value = "127.0.0.1:8080", action = ArgAction::Append)]
    pub listen: Vec<String>,
    /// The region of a bare `--listen ADDR`.
    #[arg(long, default_value = "cn-hangzhou")]
    pub region: String,
    /// Persist the ledger in this JSON file across restarts.
    #[arg(long)]
    pub ledger: Option<PathBuf>,
    /// The one access key id it accepts (with --access-key-secret) [default: emulator].
    #[arg(long, env = "PAI_EMULATOR_ACCESS_KEY_ID", requires = "access_key_secret")]
    pub access_key_id: Option<String>,
    /// Its secret [default: emulator-secret]. Prefer the environment variable: an argument is
    /// visible to every user of the machine (`ps`).
    // hide_env_values: `--help` would print the secret.
    #[arg(
        long,
        env = "PAI_EMULATOR_ACCESS_KEY_SECRET",
        hide_env_values = true,
        requires = "access_key_id"
    )]
    pub access_key_secret: Option<String>,
    /// e.g. latency_ms=50,throttle=0.2,error_500=0.1,drop_after_commit=0.3,slow_after_commit=0.1
    #[arg(long)]
    pub faults: Option<String>,
    /// Be as hard as the real service: every realism option on (docs/emulator.md).
    #[arg(long)]
    pub realistic: bool,
    /// Realism options, on top of --realistic if given, e.g.
    /// activation_delay_ms=5000,repeat=order_opend,rate_per_s=10,deny_create_order=KEY1;KEY2
    #[arg(long)]
    pub realism: Option<String>,
    /// The seed of the fault and realism draws, to replay a run [default: a fresh one, printed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also serve the accounts of this fleet file: STS `AssumeRole` into each account's role
    /// (trusting the emulator's own key), Resource Manager `ListAccounts`, a ledger per account.
    #[arg(long, value_name = "FLEET")]
    pub fleet: Option<PathBuf>,
}

/// The manifest path: the argument, or `pai-provision.toml` in the working directory.
pub fn manifest_path(arg: &Option<PathBuf>) -> PathBuf {
    arg.clone().unwrap_or_else(|| PathBuf::from("pai-provision.toml"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    #[test]
    fn the_settle_time_is_never_shorter_than_the_timeout() {
        let table: [(&[&str], Option<u64>); 9] = [
            (&[], Some(60)),
            // A short timeout never shortens the wait for the service.
            (&["--timeout", "1s"], Some(60)),
            (&["--timeout", "10s"], Some(60)),
            (&["--timeout", "45s"], Some(90)),
            (&["--sandbox", "--timeout", "1s"], Some(2)),
            (&["--timeout", "10s", "--settle-time", "10s"], Some(10)),
            (&["--timeout", "10s", "--settle-time", "5s"], None),
            (&["--sandbox", "--timeout", "10s", "--settle-time", "5s"], None),
            (&["--timeout", "1s", "--settle-time", "2m"], Some(120)),
        ];
        for (flags, want) in table {
            let args = ["pai-provision"].iter().chain(flags).chain(&["plan"]).copied();
            let cli = Cli::try_parse_from(args).expect("valid arguments");
            let got = cli.global.check().ok().map(|()| cli.global.settle_time().as_secs());
            assert_eq!(got, want, "{flags:?}");
        }
    }

    #[test]
    fn an_explicit_settle_time_below_the_floor_is_warned_about() {
        let table: [(&[&str], bool); 5] = [
            (&[], false),
            (&["--timeout", "1s"], false),
            (&["--settle-time", "10s", "--timeout", "1s"], true),
            (&["--settle-time", "60s"], false),
            (&["--sandbox", "--settle-time", "30s"], false),
        ];
        for (flags, warned) in table {
            let args = ["pai-provision"].iter().chain(flags).chain(&["plan"]).copied();
            let cli = Cli::try_parse_from(args).expect("valid arguments");
            assert_eq!(cli.global.settle_warning().is_some(), warned, "{flags:?}");
        }
    }

    #[test]
    fn every_argument_of_every_command_has_help() {
        use clap::CommandFactory;
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                if arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "pai-provision", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }

    #[test]
    fn a_dump_of_the_arguments_shows_no_state_password() {
        for args in [
            vec![
                "pai-provision",
                "--state",
                "postgres://pai:hunter2@db:5432/infra",
                "plan",
            ],
            vec![
                "pai-provision",
                "state",
                "migrate",
                "--to",
                "postgresql://pai:hunter2@db/infra?sslmode=require",
            ],
        ] {
            let cli = Cli::try_parse_from(&args).expect("valid arguments");
            let dump = format!("{cli:?}");
            assert!(!dump.contains("hunter2"), "{dump}");
            assert!(dump.contains("pai:***@db"), "the rest stays readable: {dump}");
        }
    }
}
