//! A purchase that shows late, and one that never shows (issue: the real service). Each send
//! stores its settle deadline in the state; a row recorded `active` that `ListProducts` reports
//! not purchased before that deadline is "awaiting activation", not drift; after it, it is
//! drift and is reordered once; a reorder that never shows either is a conflict, never a loop
//! that buys on every run (`docs/idempotency.md`, "Awaiting activation").

mod support;

use std::time::Duration;

use pai_emulator::realism::RepeatOrder;
use pai_spec::ProductCode;
use support::{hangzhou, want, Setup, Want};

fn pai() -> Want {
    want("pai", ProductCode::Pai, &hangzhou())
}

fn change<'a>(plan: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    plan["changes"]
        .as_array()
        .and_then(|changes| changes.iter().find(|c| c["address"] == address))
        .unwrap_or_else(|| panic!("no change for {address}: {plan}"))
}

/// The activation is released in the console (or never showed).
fn drop_pai(setup: &mut Setup) {
    setup
        .emu
        .edit_ledger(|ledger| ledger.purchased.retain(|p| p.product_code != ProductCode::Pai));
}

/// Short enough for a test, longer than the client's timeout.
const SETTLE: &[&str] = &["--timeout", "200ms", "--settle-time", "1s"];

/// Waits past a deadline stored a whole second up from a send `SETTLE` ago.
fn past_the_window() {
    std::thread::sleep(Duration::from_millis(2_300));
}

/// The campaign's duplicate (seed 1 of `repeat=bill` with an activation delay): an apply right
/// after an answered order heard "not purchased" and bought the product again.
#[test]
fn an_order_that_does_not_show_yet_is_awaited_not_bought_again() {
    let wanted = [pai()];
    let setup = Setup::with(&wanted, |config| {
        config.realism.activation_delay_ms = 1_500;
        config.realism.repeat = RepeatOrder::Bill;
    });
    let args = ["--timeout", "200ms", "--settle-time", "3s"];
    let first = setup.apply(&args);
    assert_eq!(first.code, Some(0), "{}", first.describe());

    let plan = setup
        .work
        .run(&["plan", "--detailed-exitcode", "--timeout", "200ms", "--format", "json"]);
    assert_eq!(
        plan.code,
        Some(0),
        "no change while it may not show yet: {}",
        plan.describe()
    );
    let pai = change(&plan.json(), "pai").clone();
    assert_eq!(pai["action"], "noop", "{pai}");
    assert_eq!(
        pai["observed"]["purchased"], false,
        "the cloud does not show it yet: {pai}"
    );
    let reason = pai["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("awaiting activation"), "{reason}");
    let human = setup.work.run(&["plan", "--timeout", "200ms"]);
    assert!(human.stdout.contains("awaiting activation"), "{}", human.stdout);

    let second = setup.apply(&args);
    assert_eq!(second.code, Some(0), "{}", second.describe());
    assert_eq!(
        setup.emu.ledger().orders.len(),
        1,
        "not bought again: {:?}",
        setup.emu.ledger().orders
    );

    std::thread::sleep(Duration::from_millis(1_600));
    let shown = setup.work.run(&["plan", "--format", "json"]).json();
    assert_eq!(change(&shown, "pai")["observed"]["purchased"], true, "{shown}");
    assert_eq!(change(&shown, "pai")["action"], "noop", "{shown}");
    let problems = support::exactly_once_problems(&setup.emu.ledger(), &wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// After the window, "not purchased" is drift: reordered once, with the reason in the plan. A
/// reorder that never shows either stops apply with a conflict; nothing is bought a third time
/// until a person says so.
#[test]
fn drift_is_reordered_once_and_a_reorder_that_never_shows_is_a_conflict() {
    let wanted = [pai()];
    let mut setup = Setup::new(&wanted);
    assert_eq!(setup.apply(SETTLE).code, Some(0));
    let row = setup.work.run(&["state", "show", "pai", "--format", "json"]).json();
    assert!(row["settle_until"].is_string(), "each send stores its deadline: {row}");
    assert_eq!(row["reorders"], 0, "{row}");

    drop_pai(&mut setup);
    past_the_window();
    let plan = setup.work.run(&["plan", "--format", "json"]).json();
    let pai = change(&plan, "pai");
    assert_eq!(pai["action"], "reorder", "{plan}");
    let reason = pai["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("(drift)") && reason.contains("settled at"), "{reason}");
    let reorder = setup.apply(SETTLE);
    assert_eq!(reorder.code, Some(0), "{}", reorder.describe());
    assert_eq!(setup.emu.ledger().order_count(&hangzhou(), ProductCode::Pai), 2);
    let row = setup.work.run(&["state", "show", "pai", "--format", "json"]).json();
    assert_eq!(row["reorders"], 1, "{row}");

    drop_pai(&mut setup);
    past_the_window();
    let plan = setup.work.run(&["plan", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(plan.code, Some(1), "a conflict is an error: {}", plan.describe());
    let json = plan.json();
    let pai = change(&json, "pai");
    assert_eq!(pai["action"], "conflict", "{json}");
    let reason = pai["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("never showed"), "{reason}");
    let remedies = pai["remedies"].to_string();
    assert!(remedies.contains("pai-provision state rm pai"), "{remedies}");
    for _ in 0..2 {
        let stopped = setup.apply(SETTLE);
        assert_ne!(stopped.code, Some(0), "{}", stopped.describe());
        assert!(stopped.stdout.contains("never showed") || stopped.stderr.contains("never showed"));
    }
    assert_eq!(
        setup.emu.ledger().order_count(&hangzhou(), ProductCode::Pai),
        2,
        "no third order without a person"
    );
}

/// A reorder that shows clears the count, so a later, unrelated drift is reordered again
/// rather than taken for a reorder that never showed.
#[test]
fn a_reorder_that_shows_clears_the_count() {
    let wanted = [pai()];
    let mut setup = Setup::new(&wanted);
    assert_eq!(setup.apply(SETTLE).code, Some(0));
    drop_pai(&mut setup);
    past_the_window();
    assert_eq!(setup.apply(SETTLE).code, Some(0), "the reorder");
    past_the_window();
    let quiet = setup.apply(SETTLE);
    assert_eq!(quiet.code, Some(0), "{}", quiet.describe());
    let row = setup.work.run(&["state", "show", "pai", "--format", "json"]).json();
    assert_eq!(row["reorders"], 0, "seen purchased: {row}");

    drop_pai(&mut setup);
    past_the_window();
    let plan = setup.work.run(&["plan", "--format", "json"]).json();
    assert_eq!(change(&plan, "pai")["action"], "reorder", "{plan}");
}
