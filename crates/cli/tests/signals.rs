//! Ctrl-C and SIGTERM (a cancelled CI job) while apply holds an order in flight, through the
//! binary: the first signal sends no new order, lets the request in flight finish and be
//! recorded, says what was ordered, what is pending and what the next run does, and exits
//! 130 / 143; a second signal exits at once. The next run never orders anything twice.

mod support;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pai_spec::ProductCode;
use support::{hangzhou, shanghai, want, Run, Setup, Want, Workdir};

fn wanted() -> Vec<Want> {
    vec![
        want("pai", ProductCode::Pai, &hangzhou()),
        want("pai-shanghai", ProductCode::Pai, &shanghai()),
    ]
}

/// Starts `apply --auto-approve ARGS` and returns once the state holds a `pending` row: its
/// order is being sent, and the emulator (`processing_ms`) holds it.
fn apply_until_pending(work: &Workdir, args: &[&str]) -> Child {
    let mut all = vec!["apply", "--auto-approve"];
    all.extend_from_slice(args);
    let mut child = work.command(&all).spawn().expect("start pai-provision");
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("apply ended before it ordered anything: {status}");
        }
        let listed = work.run(&["state", "list", "--format", "json"]);
        if listed.code == Some(0) && listed.stdout.contains("\"pending\"") {
            return child;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no pending row within a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

fn finish(child: Child) -> Run {
    Run::from(child.wait_with_output().expect("wait for pai-provision"))
}

fn first_signal_lets_the_order_land(name: &str, code: i32) {
    let wanted = wanted();
    let setup = Setup::with(&wanted, |config| config.realism.processing_ms = 2_000);
    let child = apply_until_pending(&setup.work, &[]);
    signal(&child, name);
    let run = finish(child);
    assert_eq!(run.code, Some(code), "{}", run.describe());
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("Interrupted"), "{}", run.describe());
    assert!(all.contains("next run"), "{}", run.describe());

    // The order in flight was answered and recorded; nothing else was ordered twice.
    let ledger = setup.emu.ledger();
    assert!(support::duplicates(&ledger) == 0, "{:?}", ledger.orders);
    let rows = setup.work.state_list();
    assert_eq!(
        support::unrecorded_orders(&ledger, &rows),
        0,
        "an order in the ledger is not in the state: {rows:?}\n{}",
        run.describe()
    );
    assert!(
        rows.iter().all(|r| r.status != "pending"),
        "{rows:?}\n{}",
        run.describe()
    );

    // The next run orders what is missing, once, and nothing twice.
    let next = setup.apply(&[]);
    assert_eq!(next.code, Some(0), "{}", next.describe());
    let ledger = setup.emu.ledger();
    let problems = support::exactly_once_problems(&ledger, &wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}\n{}", next.describe());
}

#[test]
fn sigint_lets_the_order_in_flight_land_and_exits_130() {
    first_signal_lets_the_order_land("INT", 130);
}

#[test]
fn sigterm_lets_the_order_in_flight_land_and_exits_143() {
    first_signal_lets_the_order_land("TERM", 143);
}

/// A second signal does not wait for the order in flight: the run ends at once, its row stays
/// `pending`, and the next run resolves it from `ListProducts` instead of ordering it again.
#[test]
fn a_second_signal_exits_at_once_and_the_next_run_orders_nothing_twice() {
    let wanted = wanted();
    let setup = Setup::with(&wanted, |config| config.realism.processing_ms = 3_000);
    let settle = ["--timeout", "5s", "--settle-time", "6s"];
    let child = apply_until_pending(&setup.work, &settle);
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "INT");
    let run = finish(child);
    assert_eq!(run.code, Some(130), "{}", run.describe());

    let mut args = vec!["apply", "--auto-approve"];
    args.extend_from_slice(&settle);
    let next = setup.work.run(&args);
    assert_eq!(next.code, Some(0), "{}", next.describe());
    let ledger = setup.emu.ledger();
    let problems = support::exactly_once_problems(&ledger, &wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}\n{}", next.describe());
}
