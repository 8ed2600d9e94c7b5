//! One scenario of the fleet campaign, drawn from its seed: the emulator's faults, the gateway,
//! the chaos rounds (each a `fleet apply`, from the fleet file or a saved fleet plan, killed or
//! stopped at a random moment), the runs to convergence, and the checks.

use std::time::Duration;

use pai_emulator::{Faults, Realism};

use crate::fleet;
use crate::scene::{send, Scene, APPLY_DEADLINE};
use crate::support::{self, Accounting, Draws, Emu, Want, Workdir};
use crate::tally::Tally;
use crate::FleetTally;

/// Fleet applies after the chaos, with the faults still on, before the scenario fails: each
/// one retries what failed, so a fleet that does not converge in this many is stuck.
const MAX_CONVERGE_ATTEMPTS: u32 = 15;
/// The least `--settle-time` of a scenario. The settle time must cover the slowest the service
/// may be, or the campaign finds the duplicates a settle time shorter than the service allows
/// (docs/idempotency.md, "What it assumes"), not faults of the executor. The single campaign's
/// 600 ms does not cover a fleet's: a fleet apply sends up to 64 orders at once, and on two
/// loaded cores the emulator and the gateway in this process carried some out more than a second
/// after they left the client (docs/benchmarks.md, "fleet campaign").
pub const SETTLE_FLOOR: Duration = Duration::from_secs(3);
const GATEWAY_HOLD_MAX_MS: u64 = 250;
const LATENCY_MAX_MS: u64 = 25;
const SLOW_MS: u64 = 1_500;
/// A kill at a moment drawn uniformly from one of these windows after the start.
const KILL_WINDOWS_MS: [u64; 3] = [300, 1_500, 4_000];
/// A kill aimed at orders lands when up to this many more orders reached the gateway.
const MAX_ORDERS_BEFORE_KILL: u64 = 60;

/// The campaign's `--settle-time` for `realism`, at least `floor`: twice the slowest an order can
/// be by design (as the single campaign computes it).
pub fn settle_time(realism: &Realism, floor: Duration) -> Duration {
    let slowest = GATEWAY_HOLD_MAX_MS + LATENCY_MAX_MS + realism.processing_ms + realism.activation_delay_ms;
    floor.max(Duration::from_millis(slowest * 2))
}

/// What a scenario draws from its seed.
#[derive(Debug)]
pub struct Draw {
    pub faults: Faults,
    pub rounds: u32,
    pub kill_probability: f64,
    pub signature: &'static str,
    pub gateway_hold: Duration,
    pub concurrency: u64,
    pub per_account: u64,
    pub settle_time: String,
}

/// Every fault is on in every scenario, each at a drawn strength.
pub fn draw(seed: u64, realism: &Realism, settle_floor: Duration) -> Draw {
    let mut rng = Draws::new(seed);
    Draw {
        faults: Faults {
            latency_ms: rng.pick(&[0, 2, 10, LATENCY_MAX_MS]),
            throttle: rng.pick(&[0.02, 0.05, 0.1]),
            error_500: rng.pick(&[0.05, 0.1, 0.2]),
            order_error_500: 0.0,
            drop_after_commit: rng.pick(&[0.1, 0.2, 0.4]),
            slow_after_commit: rng.pick(&[0.05, 0.15, 0.3]),
            slow_ms: SLOW_MS,
            retry_after_ms: 10,
        },
        rounds: rng.between(3, 6) as u32,
        kill_probability: 0.8,
        signature: if rng.chance(0.25) { "v2" } else { "v3" },
        gateway_hold: Duration::from_millis(if rng.chance(0.4) {
            0
        } else {
            rng.between(20, GATEWAY_HOLD_MAX_MS)
        }),
        concurrency: rng.pick(&[8, 16, 32]),
        per_account: rng.pick(&[1, 2, 4]),
        settle_time: format!("{}ms", settle_time(realism, settle_floor).as_millis()),
    }
}

/// How a chaos round ends its apply.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after it started.
    After(Duration),
    /// When this many more orders have reached the gateway, and then this long.
    AtOrders(u64, Duration),
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Kill,
    /// SIGTERM, and a second one this long after it when drawn.
    Term(Option<Duration>),
}

/// Where a scenario keeps its fleet states.
#[derive(Debug, Clone)]
pub enum StatesAt {
    /// A directory of SQLite files in the work directory.
    Directory,
    /// Schemas in PostgreSQL: the URL, and the prefix of the schemas.
    Postgres(String),
}

/// `Fleet: N accounts, P planned (...), U not planned.` of a fleet command's output: U.
pub fn not_planned(stdout: &str) -> Option<u64> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Fleet: ") && l.contains(" not planned"))?;
    let before = line.rsplit_once(" not planned")?.0;
    before.rsplit(' ').next()?.parse().ok()
}

/// Runs scenario `seed` in `work`; see the campaign's documentation for what it draws.
pub fn run(
    seed: u64,
    handle: &tokio::runtime::Handle,
    realism: &Realism,
    fleet_shape: (usize, Duration),
    states_at: &StatesAt,
    work: &mut Workdir,
) -> Result<FleetTally, String> {
    let (accounts, settle_floor) = fleet_shape;
    let draw = draw(seed, realism, settle_floor);
    let mut rng = Draws::new(seed ^ 0x0066_6c65_6574); // the rounds' and kills' own stream
    match states_at {
        StatesAt::Directory => work.state = work.path().join("states"),
        StatesAt::Postgres(url) => {
            let schema = format!("fleetcamp_{}_{seed}", std::process::id());
            work.state = format!("{url}{}schema={schema}", if url.contains('?') { '&' } else { '?' }).into();
        }
    }
    let manifest_path = work.path().join("manifest.toml");
    let fleet_path = work.path().join("fleet.toml");
    std::fs::write(&manifest_path, "").map_err(|e| format!("write the manifest: {e}"))?;
    std::fs::write(&fleet_path, fleet::fleet_file(accounts)).map_err(|e| format!("write the fleet: {e}"))?;
    let the_fleet = fleet::load(&fleet_path)?;
    let ledger_path = work.path().join("ledger.json");
    let mut config = support::emu_config(&[support::hangzhou(), support::shanghai()], &ledger_path);
    // The ledger stays in memory (written out at the end, for a post-mortem). With a file, the
    // emulator writes the whole ledger, fsynced, under one lock for each order: with dozens of
    // accounts ordering at once an order waited seconds for its turn, past the campaign's
    // settle time, and was ordered again as the settle time allows (docs/idempotency.md, "What
    // it assumes"): a campaign finding about its own service, not about the executor.
    config.ledger_path = None;
    config.faults = draw.faults.clone();
    config.seed = seed;
    config.realism = realism.clone();
    config.accounts = fleet::emulator_accounts(&the_fleet);
    let emu = Emu::start(handle, config);
    // A gateway that carries out an order whose client has gone, as in the single campaign;
    // STS is reached through it too.
    let wire = support::Wire::default();
    let gateway = support::gateway(handle, &emu.endpoints(), &wire, Some(draw.gateway_hold), None);
    let wanted: Vec<Want> = support::two_regions();
    std::fs::write(&manifest_path, support::manifest(&gateway, &wanted)).map_err(|e| format!("manifest: {e}"))?;
    let sts = gateway
        .get(&support::hangzhou())
        .cloned()
        .ok_or("no gateway for cn-hangzhou")?;
    work.set_env("ALIBABA_CLOUD_STS_ENDPOINT", Some(&sts));

    let mut tally = FleetTally {
        base: Tally {
            runs: 1,
            multi_region: 1,
            ..Tally::default()
        },
        accounts: accounts as u64,
        ..FleetTally::default()
    };
    let concurrency = draw.concurrency.to_string();
    let per_account = draw.per_account.to_string();
    let mut scene = Scene {
        work,
        draw: &draw,
        fleet_path,
        commands: 0,
    };
    let bounds = [
        "--concurrency",
        concurrency.as_str(),
        "--per-account",
        per_account.as_str(),
    ];

    for round in 0..draw.rounds {
        tally.rounds += 1;
        let mut apply: Vec<String> = vec!["fleet".into(), "apply".into()];
        apply.extend(bounds.iter().map(|s| (*s).to_owned()));
        match rng.between(0, 9) {
            0 => apply.extend(["--canary".into(), "5".into()]),
            1 => apply.extend(["--canary".into(), format!("tag:{}", fleet::CANARY_TAG)]),
            _ => {}
        }
        let tolerance = rng.pick(&["0", "5", "20%", "100%"]);
        apply.extend(["--max-failures".into(), tolerance.into()]);
        if rng.chance(0.3) {
            let plan_file = scene.work.path().join(format!("plan-{round}.json"));
            let plan_path = plan_file.display().to_string();
            let mut make = vec!["fleet", "plan", "--out", &plan_path];
            make.extend(bounds);
            let fleet_arg = scene.fleet();
            make.push(&fleet_arg);
            let make = scene.args(&make);
            let made = scene.run(&make)?;
            if !matches!(made.code, Some(0 | 1)) || !plan_file.exists() {
                tally.base.incomplete += 1;
                continue;
            }
            tally.base.saved_plans += 1;
            apply.push(plan_path);
        } else {
            apply.push("--auto-approve".into());
            apply.push(scene.fleet());
        }
        let args = scene.args(&apply.iter().map(String::as_str).collect::<Vec<_>>());
        let ending = rng.chance(draw.kill_probability).then(|| {
            let moment = if rng.chance(0.5) {
                Moment::AtOrders(
                    rng.between(0, MAX_ORDERS_BEFORE_KILL),
                    Duration::from_millis(rng.between(0, 8)),
                )
            } else {
                let window = rng.pick(&KILL_WINDOWS_MS);
                Moment::After(Duration::from_millis(rng.between(0, window)))
            };
            let signal = if rng.chance(0.6) {
                Signal::Kill
            } else {
                Signal::Term(rng.chance(0.25).then(|| Duration::from_millis(rng.between(0, 300))))
            };
            (moment, signal)
        });
        let held_before = wire.held_orders() as u64;
        let mut apply = scene.spawn(&args)?;
        tally.base.applies += 1;
        let (child, started) = (&mut apply.child, apply.at);
        if let Some((moment, signal)) = ending {
            match moment {
                Moment::After(after) => {
                    while started.elapsed() < after && matches!(child.try_wait(), Ok(None)) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Moment::AtOrders(orders, after) => {
                    while (wire.held_orders() as u64) < held_before + orders
                        && matches!(child.try_wait(), Ok(None))
                        && started.elapsed() < APPLY_DEADLINE
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    std::thread::sleep(after);
                }
            }
            if child.try_wait().map_err(|e| format!("wait: {e}"))?.is_none() {
                match signal {
                    Signal::Kill => {
                        child.kill().map_err(|e| format!("kill: {e}"))?;
                        tally.sigkills += 1;
                    }
                    Signal::Term(again) => {
                        send(child, "TERM")?;
                        tally.sigterms += 1;
                        if let Some(again) = again {
                            std::thread::sleep(again);
                            if child.try_wait().map_err(|e| format!("wait: {e}"))?.is_none() {
                                send(child, "TERM")?;
                                tally.second_sigterms += 1;
                            }
                        }
                    }
                }
                tally.base.kills += 1;
            }
        }
        let run = scene.finish(&args, apply)?;
        match run.code {
            None | Some(0) => {}
            Some(1) => tally.base.incomplete += 1,
            Some(130 | 143) => tally.stopped_by_signal += 1,
            Some(other) => return Err(format!("a chaos fleet apply exited {other}: {}", run.describe())),
        }
    }

    // To convergence: a fleet apply that succeeds, then a fleet plan with nothing to do.
    let converge = scene.args(&[
        "fleet",
        "apply",
        "--auto-approve",
        "--max-failures",
        "100%",
        &scene.fleet(),
    ]);
    let check = scene.args(&["fleet", "plan", "--detailed-exitcode", &scene.fleet()]);
    let activation = Duration::from_millis(realism.activation_delay_ms);
    let mut last = None;
    let mut converged = false;
    for _ in 0..MAX_CONVERGE_ATTEMPTS {
        let applied = scene.run(&converge)?;
        tally.base.applies += 1;
        tally.converge_applies += 1;
        if applied.code != Some(0) {
            tally.base.incomplete += 1;
            last = Some(applied);
            continue;
        }
        if not_planned(&applied.stdout).is_some_and(|n| n > 0) {
            tally.succeeded_with_unplanned += 1;
        }
        // A purchase shows in ListProducts only after the activation delay.
        std::thread::sleep(activation);
        let planned = scene.run(&check)?;
        if planned.code == Some(0) {
            converged = true;
            break;
        }
        tally.applied_but_plan_not_empty += 1;
        last = Some(planned);
    }
    if !converged {
        return Err(format!(
            "the fleet did not converge in {MAX_CONVERGE_ATTEMPTS} fleet applies with faults ({}); the last: {}",
            draw.faults,
            last.map(|r| r.describe()).unwrap_or_default(),
        ));
    }

    let ledger = emu.ledger();
    ledger
        .save(&ledger_path)
        .map_err(|e| format!("write the ledger to {}: {e}", ledger_path.display()))?;
    let states = fleet::states(&scene.work.state)?;
    let accounting = Accounting::of(realism);
    let mut problems = fleet::problems(&the_fleet, &states, accounting, &ledger, &wanted, &mut tally.base);
    problems.extend(fleet::secret_leaks(scene.work.path(), &ledger_path));
    if !problems.is_empty() {
        return Err(format!(
            "{} accounts, faults {}, settle time {}, gateway hold {:?}, signature {}, concurrency {}, per account \
             {}:\n  {}",
            accounts,
            draw.faults,
            draw.settle_time,
            draw.gateway_hold,
            draw.signature,
            draw.concurrency,
            draw.per_account,
            problems.join("\n  ")
        ));
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settle_time_covers_the_slowest_order_and_never_goes_below_the_floor() {
        let scaled = Realism::realistic()
            .with_spec("activation_delay_ms=300,processing_ms=200,rate_per_s=50")
            .expect("the scaled preset");
        let cases = [
            (Realism::default(), SETTLE_FLOOR, 3_000),
            (Realism::default(), Duration::from_millis(600), 600),
            (scaled.clone(), Duration::from_millis(600), 1_550),
            (scaled, SETTLE_FLOOR, 3_000),
        ];
        for (realism, floor, want_ms) in cases {
            assert_eq!(
                settle_time(&realism, floor),
                Duration::from_millis(want_ms),
                "{realism} {floor:?}"
            );
        }
    }

    #[test]
    fn the_not_planned_count_is_read_from_the_totals_line() {
        let out = "x\nFleet: 50 accounts, 47 planned (3 with changes, 0 with conflicts), 3 not planned.\nPlan: ...";
        assert_eq!(not_planned(out), Some(3));
        assert_eq!(not_planned("Fleet apply: 3 accounts"), None);
    }
}
