//! Applies that race on one state: the state's lock serialises them, and whoever comes second
//! plans from what the first recorded, so every product is ordered once however they overlap.

mod support;

use std::time::{Duration, Instant};

use pai_emulator::Faults;
use pai_spec::ProductCode;
use support::{hangzhou, Run, Setup};

fn ordered_count(run: &Run) -> Option<u32> {
    let line = run.stdout.lines().find(|l| l.starts_with("Apply complete: "))?;
    line.trim_start_matches("Apply complete: ")
        .split(' ')
        .next()?
        .parse()
        .ok()
}

#[test]
fn racing_applies_order_each_product_once() {
    let wanted = support::two_regions();
    // Latency keeps the winner inside its run long enough for the others to queue on the lock.
    let setup = Setup::with(&wanted, |c| c.faults.latency_ms = 40);
    let started = Instant::now();
    let runs = setup
        .work
        .race(4, &["--lock-timeout", "60s", "apply", "--auto-approve"]);
    for run in &runs {
        assert_eq!(run.code, Some(0), "{}", run.describe());
    }
    let ordered: Vec<Option<u32>> = runs.iter().map(ordered_count).collect();
    assert_eq!(
        ordered.iter().filter(|o| **o == Some(wanted.len() as u32)).count(),
        1,
        "one apply ordered everything: {ordered:?}"
    );
    assert_eq!(
        runs.iter().filter(|r| r.stdout.contains("No changes")).count(),
        3,
        "the others found nothing to do"
    );
    // Serialised: each of the four waited for its turn, and each run asked ListProducts once
    // per region, at 40 ms a request.
    assert!(
        started.elapsed() >= Duration::from_millis(4 * 40),
        "{:?}",
        started.elapsed()
    );
    let problems = support::exactly_once_problems(&setup.emu.ledger(), &wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(setup.emu.ledger().orders.len(), 2, "one order per region");
}

#[test]
fn racing_applies_under_faults_converge_to_one_order_each() {
    let wanted = support::two_regions();
    let faults: Faults = "latency_ms=10,error_500=0.2,drop_after_commit=0.5,slow_after_commit=0.3,slow_ms=1500"
        .parse()
        .expect("a fault spec");
    let setup = Setup::with(&wanted, |c| {
        c.faults = faults;
        c.seed = 7;
    });
    let args = [
        "--lock-timeout",
        "60s",
        "--timeout",
        "300ms",
        "--settle-time",
        "600ms",
        "apply",
        "--auto-approve",
    ];
    for round in 0..3 {
        for run in setup.work.race(3, &args) {
            assert!(matches!(run.code, Some(0 | 1)), "round {round}: {}", run.describe());
        }
    }
    let mut converged = false;
    for _ in 0..20 {
        if setup.work.run(&args).code == Some(0) {
            converged = true;
            break;
        }
    }
    assert!(converged, "apply converges under these faults");
    let problems = support::exactly_once_problems(&setup.emu.ledger(), &wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_saved_plan_applied_twice_at_once_is_carried_out_once() {
    let wanted = [support::want("pai", ProductCode::Pai, &hangzhou())];
    let setup = Setup::with(&wanted, |c| c.faults.latency_ms = 40);
    let plan_file = setup.work.path().join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8 path");
    let plan = setup.work.run(&["plan", "--out", plan_path]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());

    let runs = setup.work.race(2, &["--lock-timeout", "60s", "apply", plan_path]);
    let codes: Vec<Option<i32>> = runs.iter().map(|r| r.code).collect();
    assert!(codes.contains(&Some(0)) && codes.contains(&Some(1)), "{codes:?}");
    let refused = runs.iter().find(|r| r.code == Some(1)).expect("one refused");
    assert!(
        refused.stderr.contains("refusing the saved plan"),
        "{}",
        refused.describe()
    );
    assert_eq!(setup.emu.ledger().order_count(&hangzhou(), ProductCode::Pai), 1);
}

#[test]
fn an_apply_that_cannot_get_the_lock_orders_nothing() {
    let wanted = [support::want("pai", ProductCode::Pai, &hangzhou())];
    // Slow enough that the first apply still holds the lock when the second gives up.
    let setup = Setup::with(&wanted, |c| c.faults.latency_ms = 400);
    let first = setup
        .work
        .command(&["apply", "--auto-approve"])
        .spawn()
        .expect("start the first apply");
    let deadline = Instant::now() + Duration::from_secs(10);
    let lock_file = setup.work.path().join("s.db.lock");
    while std::fs::metadata(&lock_file).map_or(true, |m| m.len() == 0) {
        assert!(Instant::now() < deadline, "the first apply never took the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = setup.work.run(&["--lock-timeout", "0s", "apply", "--auto-approve"]);
    let first = Run::from(first.wait_with_output().expect("wait for the first apply"));
    assert_eq!(first.code, Some(0), "{}", first.describe());
    assert_eq!(second.code, Some(1), "{}", second.describe());
    assert!(second.stderr.contains("locked by another process"), "{}", second.stderr);
    assert_eq!(setup.emu.ledger().orders.len(), 1);
}
