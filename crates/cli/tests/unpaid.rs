//! `auto_pay = false` end to end: the real binary against an in-process emulator that keeps such
//! orders unpaid (docs/emulator.md, "Realism"). Applying again must never place a second order
//! beside the one waiting to be paid; once it is paid, the record becomes active.
//!
//! That an `AutoPay: false` order waits for payment is an assumption about the real service
//! (its reference documents only the flag): see docs/manifest.md, `auto_pay`.

mod support;

use pai_spec::ProductCode;
use support::{hangzhou, manifest, want, Setup, Want};

fn wanted() -> Vec<Want> {
    vec![
        want("pai", ProductCode::Pai, &hangzhou()),
        want("oss", ProductCode::Oss, &hangzhou()),
    ]
}

/// A setup whose manifest asks for `wanted()` with `auto_pay = false`.
fn unpaid_setup() -> Setup {
    let setup = Setup::new(&wanted());
    let text = manifest(&setup.emu.endpoints(), &wanted());
    assert!(text.contains("auto_pay = true"), "{text}");
    setup
        .work
        .write_manifest(&text.replace("auto_pay = true", "auto_pay = false"));
    setup
}

#[test]
fn three_applies_of_an_unpaid_order_place_one_order_and_paying_it_makes_it_active() {
    let setup = unpaid_setup();

    let first = setup.apply(&[]);
    assert_eq!(first.code, Some(0), "{}", first.describe());
    assert!(
        first.stdout.contains("ordered, awaiting payment (OrderId "),
        "{}",
        first.stdout
    );
    let ledger = setup.emu.ledger();
    assert_eq!(ledger.orders.len(), 1, "one order for the region");
    let order_id = ledger.orders[0].order_id.clone();
    assert!(ledger.orders[0].is_unpaid());

    for run in 2..=3 {
        let again = setup.apply(&[]);
        assert_eq!(again.code, Some(0), "apply {run}: {}", again.describe());
        assert!(
            again.stdout.contains("awaiting payment"),
            "apply {run}: {}",
            again.stdout
        );
        assert_eq!(setup.emu.ledger().orders.len(), 1, "apply {run} placed another order");
    }

    let rows = setup.work.state_list();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.status, "unpaid", "{row:?}");
        assert_eq!(row.order_id.as_deref(), Some(order_id.as_str()), "{row:?}");
    }

    let plan = setup.work.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "nothing to change: {}", plan.describe());
    assert!(
        plan.stdout.contains(&format!("awaiting payment of order {order_id}")),
        "{}",
        plan.stdout
    );
    let json = setup.work.run(&["plan", "--format", "json"]).json();
    let changes = json["changes"].as_array().expect("changes");
    assert!(
        changes
            .iter()
            .all(|c| c["action"] == "noop" && c["reason"].as_str().is_some_and(|r| r.contains("awaiting payment"))),
        "{json:#}"
    );

    let base = setup.emu.endpoints()[&hangzhou()].clone();
    assert_eq!(support::pay(&base, &order_id), 200);

    let after = setup.apply(&[]);
    assert_eq!(after.code, Some(0), "{}", after.describe());
    assert_eq!(setup.emu.ledger().orders.len(), 1, "paying it ordered nothing more");
    for row in setup.work.state_list() {
        assert_eq!(row.status, "active", "{row:?}");
        assert_eq!(
            row.order_id.as_deref(),
            Some(order_id.as_str()),
            "the paid order is kept: {row:?}"
        );
    }
    let settled = setup.work.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(settled.code, Some(0), "{}", settled.describe());
    assert!(!settled.stdout.contains("awaiting payment"), "{}", settled.stdout);
}

#[test]
fn validate_warns_that_auto_pay_false_buys_nothing_until_paid() {
    let setup = unpaid_setup();
    let run = setup.work.run_plain(&["validate", "--no-color"]);
    assert_eq!(run.code, Some(0), "a warning, not an error: {}", run.describe());
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("warning: `auto_pay = false` buys nothing until someone pays the order in the console"),
        "{all}"
    );
    assert!(all.contains(":3:12"), "file, line and column: {all}");
}

#[test]
fn refresh_records_a_paid_order_active() {
    let setup = unpaid_setup();
    let first = setup.apply(&[]);
    assert_eq!(first.code, Some(0), "{}", first.describe());
    let order_id = setup.emu.ledger().orders[0].order_id.clone();
    // Before the payment, `refresh` names the order to pay and records nothing.
    let waiting = setup.work.run(&["refresh"]);
    assert_eq!(waiting.code, Some(0), "{}", waiting.describe());
    assert!(
        waiting.stdout.contains("awaiting_payment") && waiting.stdout.contains(&order_id),
        "{}",
        waiting.stdout
    );
    assert!(setup.work.state_list().iter().all(|r| r.status == "unpaid"));

    let base = setup.emu.endpoints()[&hangzhou()].clone();
    assert_eq!(support::pay(&base, &order_id), 200);

    let refresh = setup.work.run(&["refresh"]);
    assert_eq!(refresh.code, Some(0), "{}", refresh.describe());
    assert!(
        refresh.stdout.contains("the order awaiting payment was paid"),
        "{}",
        refresh.stdout
    );
    assert!(setup.work.state_list().iter().all(|r| r.status == "active"));
    assert_eq!(setup.emu.ledger().orders.len(), 1);
}
