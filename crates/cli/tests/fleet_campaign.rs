//! The fleet fault campaign (issue 13; docs/idempotency.md, "Why this converges"): seeded
//! scenarios in which the real binary applies a fleet of 50 accounts x 2 regions against one
//! emulator that serves every account (each with a role trusting the home account, assumed with
//! STS `AssumeRole` through the same gateway) and injects latency, throttling, 5xx, dropped and
//! late answers, while the test ends `fleet apply` processes at random moments with SIGKILL or
//! SIGTERM (now and then a second SIGTERM), and then applies the fleet again until an apply
//! succeeds and a `fleet plan --detailed-exitcode` has nothing to do, within a bounded number
//! of applies. The emulator lives in this process, its ledger in memory
//! (`fleet_campaign/scenario.rs` says why): the binary is killed, the service is not.
//!
//! After convergence, for every account of the fleet: exactly one accepted order per wanted
//! product in that account's part of the ledger, every row of its state `active` and naming the
//! ledger's order and product ids (`support::exactly_once_problems_under`,
//! `fault_campaign/checks.rs`), as the realism in use counts purchases; no order or refusal in
//! an account the fleet file does not list (the emulator serves two, the home account aside);
//! neither the secret key nor an STS security token in any file the scenario left.
//!
//! Each scenario draws from its seed: every fault's strength (all on), the signature version,
//! how long the gateway holds each order, `--concurrency` and `--per-account`, and per round
//! whether the apply works from the fleet file or a saved `fleet plan --out`, with a canary or
//! not, its `--max-failures`, and when and how it is stopped: a uniform moment in a window, or
//! when some number of orders have reached the gateway.
//!
//! The knobs, from the environment: `PAI_FLEET_CAMPAIGN_RUNS` (1), `PAI_FLEET_CAMPAIGN_SEED`
//! (the first scenario's seed; scenario `i` uses `seed + i`), `PAI_FLEET_CAMPAIGN_ACCOUNTS`
//! (50), `PAI_FLEET_CAMPAIGN_JOBS` (scenarios at once, 1), `PAI_FLEET_CAMPAIGN_KEEP` (keep
//! every scenario's directory), `PAI_FLEET_CAMPAIGN_SETTLE_MS` (the least `--settle-time`,
//! 3000: see `scenario::SETTLE_FLOOR`) and `PAI_FLEET_CAMPAIGN_REALISM`: unset, scenario `i`
//! runs against the kind emulator when `i` is even and the realistic preset scaled down (as the
//! single campaign's `scaled`) when it is odd; `kind` or `scaled`, every scenario so; another
//! value, a realism spec on top of the preset. The second test runs the same with the states in
//! PostgreSQL (one schema per account, `PAI_TEST_POSTGRES_URL`). A failure names its seed and
//! how to replay it.

// Shared with the single campaign, which uses the parts this one does not.
#[allow(dead_code)]
#[path = "fault_campaign/checks.rs"]
mod checks;
#[path = "fleet_campaign/fleet.rs"]
mod fleet;
#[path = "fleet_campaign/scenario.rs"]
mod scenario;
#[path = "fleet_campaign/scene.rs"]
mod scene;
mod support;
#[allow(dead_code)]
#[path = "fault_campaign/tally.rs"]
mod tally;

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pai_emulator::Realism;
use scenario::StatesAt;
use support::{Emu, Workdir};
use tally::{dispatch_into, runtime_counting_into, FaultCounter, Tally};

const DEFAULT_RUNS: u64 = 1;
const DEFAULT_SEED: u64 = 20_261_130;
const DEFAULT_ACCOUNTS: u64 = 50;
const DEFAULT_JOBS: u64 = 1;
const POSTGRES_ACCOUNTS: u64 = 20;
/// The single campaign's scaled preset (crates/cli/tests/fault_campaign.rs, `SCALED_REALISM`).
const SCALED_REALISM: &str = "activation_delay_ms=300,processing_ms=200,rate_per_s=50";

#[test]
fn every_account_of_a_fleet_orders_exactly_once_under_faults_and_kills() {
    campaign(
        &Settings::from(|name: &str| std::env::var(name).ok(), DEFAULT_ACCOUNTS),
        &StatesAt::Directory,
    );
}

/// The same with every account's state a schema in PostgreSQL (`PAI_TEST_POSTGRES_URL`; start a
/// throwaway server with `eval "$(scripts/postgres.sh)"`): one scenario of [`POSTGRES_ACCOUNTS`]
/// accounts unless the knobs say otherwise (the 50 of the test above are what the issue asks;
/// this one is about the backend, and runs beside it in CI).
#[test]
fn every_account_of_a_fleet_with_its_states_in_postgresql_orders_exactly_once() {
    let url = match std::env::var("PAI_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PAI_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server. Start a throwaway one with \
             `eval \"$(scripts/postgres.sh)\"` (scripts/test.sh does this for the whole suite)"
        ),
    };
    campaign(
        &Settings::from(|name: &str| std::env::var(name).ok(), POSTGRES_ACCOUNTS),
        &StatesAt::Postgres(url),
    );
}

/// What a fleet scenario did and saw: the single campaign's [`Tally`] summed over its accounts,
/// and what only a fleet has.
#[derive(Debug, Default, Clone)]
pub struct FleetTally {
    pub base: Tally,
    pub accounts: u64,
    pub rounds: u64,
    pub sigkills: u64,
    pub sigterms: u64,
    pub second_sigterms: u64,
    /// Chaos applies that ended 130/143 after a signal, having stopped cleanly.
    pub stopped_by_signal: u64,
    pub converge_applies: u64,
    /// Fleet applies that exited 0 although some accounts could not be planned.
    pub succeeded_with_unplanned: u64,
    /// Fleet applies that exited 0 after which a fleet plan still had something to do (or
    /// could not plan an account).
    pub applied_but_plan_not_empty: u64,
}

impl FleetTally {
    fn add(&mut self, o: &FleetTally) {
        self.base.add(&o.base);
        self.accounts += o.accounts;
        self.rounds += o.rounds;
        self.sigkills += o.sigkills;
        self.sigterms += o.sigterms;
        self.second_sigterms += o.second_sigterms;
        self.stopped_by_signal += o.stopped_by_signal;
        self.converge_applies += o.converge_applies;
        self.succeeded_with_unplanned += o.succeeded_with_unplanned;
        self.applied_but_plan_not_empty += o.applied_but_plan_not_empty;
    }
}

impl fmt::Display for FleetTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.base;
        write!(
            f,
            "scenarios {}, accounts {}; chaos rounds {} (saved plans {}), fleet applies {} (to convergence {}); \
             stopped {} (SIGKILL {}, SIGTERM {}, a second SIGTERM {}; exited 130/143 {}), of them mid-order {}; \
             incomplete {}; exit 0 with accounts not planned {}; exit 0 then a plan not empty {}; faults seen by apply: order 5xx {}, order connection dropped {}, order timed out {}, \
             ListProducts failed {}; resolved by observation {}, responses lost {}; orders {} for {} products, \
             duplicates {}; refused as a repeat {}",
            t.runs,
            self.accounts,
            self.rounds,
            t.saved_plans,
            t.applies,
            self.converge_applies,
            t.kills,
            self.sigkills,
            self.sigterms,
            self.second_sigterms,
            self.stopped_by_signal,
            t.killed_mid_order,
            t.incomplete,
            self.succeeded_with_unplanned,
            self.applied_but_plan_not_empty,
            t.errors_5xx,
            t.dropped,
            t.timeouts,
            t.list_failures,
            t.resolved,
            t.lost,
            t.orders,
            t.products,
            t.duplicates,
            t.repeats_refused
        )
    }
}

struct Settings {
    runs: u64,
    seed: u64,
    seed_given: bool,
    accounts: usize,
    jobs: u64,
    realism: Option<String>,
    keep: bool,
    /// The least `--settle-time` ([`scenario::SETTLE_FLOOR`] unless
    /// `PAI_FLEET_CAMPAIGN_SETTLE_MS` says otherwise).
    settle_floor: Duration,
}

impl Settings {
    fn from(env: impl Fn(&str) -> Option<String>, default_accounts: u64) -> Settings {
        let number = |name: &str, default: u64| match env(name) {
            None => default,
            Some(text) => text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name} must be a whole number, not `{text}`")),
        };
        Settings {
            runs: number("PAI_FLEET_CAMPAIGN_RUNS", DEFAULT_RUNS),
            seed: number("PAI_FLEET_CAMPAIGN_SEED", DEFAULT_SEED),
            seed_given: env("PAI_FLEET_CAMPAIGN_SEED").is_some(),
            accounts: number("PAI_FLEET_CAMPAIGN_ACCOUNTS", default_accounts).max(1) as usize,
            jobs: number("PAI_FLEET_CAMPAIGN_JOBS", DEFAULT_JOBS).max(1),
            realism: env("PAI_FLEET_CAMPAIGN_REALISM").filter(|s| !s.trim().is_empty()),
            keep: env("PAI_FLEET_CAMPAIGN_KEEP").is_some_and(|v| !v.trim().is_empty()),
            settle_floor: env("PAI_FLEET_CAMPAIGN_SETTLE_MS").map_or(scenario::SETTLE_FLOOR, |_| {
                Duration::from_millis(number("PAI_FLEET_CAMPAIGN_SETTLE_MS", 0))
            }),
        }
    }

    /// The realism of scenario `i`.
    fn realism(&self, i: u64) -> Realism {
        let spec = match self.realism.as_deref().map(str::trim) {
            Some("kind") => return Realism::default(),
            Some("scaled") => SCALED_REALISM,
            Some(spec) => spec,
            None if i.is_multiple_of(2) => return Realism::default(),
            None => SCALED_REALISM,
        };
        Realism::realistic()
            .with_spec(spec)
            .unwrap_or_else(|e| panic!("PAI_FLEET_CAMPAIGN_REALISM: {e}"))
    }

    /// Whether the campaign fails when a fault it is about never happened: the default run
    /// (CI's) and long ones; not the replay of one seed.
    fn assert_faults(&self) -> bool {
        !self.seed_given || self.runs >= 10
    }
}

/// A scenario run: its index, seed, label and outcome.
type Finished = (u64, u64, String, Result<FleetTally, String>);

/// One scenario to run: its index, seed, realism and states.
struct Job {
    index: u64,
    seed: u64,
    realism: Realism,
    states: StatesAt,
}

fn campaign(settings: &Settings, states: &StatesAt) {
    let counter = Arc::new(FaultCounter::default());
    let dispatch = dispatch_into(&counter);
    let runtime = runtime_counting_into(&dispatch);
    let started = Instant::now();
    let jobs: Vec<Job> = (0..settings.runs)
        .map(|i| Job {
            index: i,
            seed: settings.seed.wrapping_add(i),
            realism: settings.realism(i),
            states: states.clone(),
        })
        .collect();
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<Finished>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..settings.jobs {
            scope.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    let Some(job) = jobs.get(i) else { break };
                    let label = format!(
                        "seed {} ({}, states in {})",
                        job.seed,
                        if job.realism == Realism::default() {
                            "kind".to_owned()
                        } else {
                            format!("realism {}", job.realism)
                        },
                        match job.states {
                            StatesAt::Directory => "a directory",
                            StatesAt::Postgres(_) => "PostgreSQL",
                        }
                    );
                    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        one(
                            job,
                            runtime.handle(),
                            (settings.accounts, settings.settle_floor),
                            settings.keep,
                        )
                    }))
                    .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_text(&panic))));
                    println!(
                        "fleet campaign: {label}: {}",
                        match &outcome {
                            Ok(t) => format!("converged; {t}"),
                            Err(_) => "FAILED".to_owned(),
                        }
                    );
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((job.index, job.seed, label, outcome));
                })
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(index, _, _, _)| *index);
    let mut total = FleetTally::default();
    let mut failures = Vec::new();
    for (_, seed, label, outcome) in &results {
        match outcome {
            Ok(tally) => total.add(tally),
            Err(why) => failures.push(format!(
                "{label}: {why}\n  replay: PAI_FLEET_CAMPAIGN_SEED={seed} PAI_FLEET_CAMPAIGN_RUNS=1{} cargo test -p \
                 pai-provision --test fleet_campaign -- --nocapture",
                settings
                    .realism
                    .as_ref()
                    .map(|r| format!(" PAI_FLEET_CAMPAIGN_REALISM={r}"))
                    .unwrap_or_default()
            )),
        }
    }
    let server = counter.snapshot();
    println!(
        "fleet campaign: {} accounts x 2 regions; seeds {}..{}, {} failed; {total}; server injected {server}; {:.1}s",
        settings.accounts,
        settings.seed,
        settings.seed.wrapping_add(settings.runs),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(results.len(), jobs.len(), "every scenario ran");
    assert_eq!(total.base.duplicates, 0, "no duplicate order in the whole campaign");
    if settings.assert_faults() {
        // Worth its time only if what it is about happened.
        assert!(total.base.kills > 0, "no fleet apply was killed: {total}");
        // Which signal a stop sends is drawn, but whether the process is still running when it
        // comes depends on the machine's load: one scenario may see only one kind.
        if settings.runs >= 3 {
            assert!(
                total.sigkills > 0 && total.sigterms > 0,
                "no fleet apply was stopped by one of the signals: {total}"
            );
        }
        assert!(
            total.base.lost + total.base.resolved > 0,
            "no answer was lost and resolved by observation: {total}"
        );
        assert!(
            server.throttled > 0 && server.internal_errors > 0 && server.dropped > 0,
            "not every kind of fault was injected: {server}"
        );
    }
}

/// Runs one scenario in a work directory of its own; keeps the directory of a failed one (and
/// of every one with `PAI_FLEET_CAMPAIGN_KEEP`) and says where.
fn one(job: &Job, handle: &tokio::runtime::Handle, shape: (usize, Duration), keep: bool) -> Result<FleetTally, String> {
    let mut work = Workdir::new();
    match scenario::run(job.seed, handle, &job.realism, shape, &job.states, &mut work) {
        Ok(tally) if keep => {
            println!("seed {} kept: {}", job.seed, work.keep().display());
            Ok(tally)
        }
        Ok(tally) => Ok(tally),
        Err(why) => Err(format!("{why}\n  kept for inspection: {}", work.keep().display())),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// An account that cannot be planned (its role cannot be assumed) is not a success, even when
/// every other account has nothing to do: `fleet apply FLEET` exits 1 then, as `fleet plan` does,
/// and as it does when the others have changes (docs/fleet.md, "Exit status"). It used to exit
/// 0, so a pipeline went green with an account never looked at.
#[test]
fn a_fleet_apply_with_nothing_to_do_but_an_account_not_planned_exits_1() {
    let runtime = support::runtime();
    let mut work = Workdir::new().state_at("states");
    let manifest = work.path().join("manifest.toml");
    std::fs::write(&manifest, "").expect("write the manifest");
    let fleet_path = support::write(work.path(), "fleet.toml", fleet::fleet_file(2));
    let the_fleet = fleet::load(&fleet_path).expect("the fleet file");
    let mut config = support::emu_config(&[support::hangzhou(), support::shanghai()], &work.file("ledger.json"));
    config.accounts = fleet::emulator_accounts(&the_fleet);
    // The second account's role does not trust the pipeline's account any more.
    let denied = the_fleet
        .accounts()
        .nth(1)
        .expect("two accounts")
        .id
        .as_str()
        .to_owned();
    for account in config.accounts.iter_mut().filter(|a| a.id == denied) {
        account.roles[0].trusted = vec!["1999999999999999".to_owned()];
    }
    let emu = Emu::start(runtime.handle(), config);
    std::fs::write(&manifest, support::manifest(&emu.endpoints(), &support::two_regions())).expect("manifest");
    let sts = emu.endpoints()[&support::hangzhou()].clone();
    work.set_env("ALIBABA_CLOUD_STS_ENDPOINT", Some(&sts));
    let fleet_arg = fleet_path.display().to_string();
    let apply = ["fleet", "apply", "--auto-approve", fleet_arg.as_str()];

    let first = work.run(&apply);
    assert_eq!(first.code, Some(1), "{}", first.describe());
    assert!(first.stdout.contains("1 not planned"), "{}", first.describe());
    let second = work.run(&apply);
    assert!(second.stdout.contains("1 not planned"), "{}", second.describe());
    assert_eq!(
        second.code,
        Some(1),
        "an account not planned is no success: {}",
        second.describe()
    );
    assert!(
        second.stderr.contains("could not be planned"),
        "the error says why: {}",
        second.describe()
    );
    let plan = work.run(&["fleet", "plan", "--detailed-exitcode", fleet_arg.as_str()]);
    assert_eq!(plan.code, Some(1), "{}", plan.describe());
    let ledger = emu.ledger();
    assert_eq!(
        ledger.of_account(&denied).orders.len(),
        0,
        "nothing in the account not planned"
    );
    assert_eq!(ledger.orders.len(), 2, "the other account's two orders, once");
}
