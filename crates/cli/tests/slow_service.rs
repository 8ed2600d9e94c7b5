//! A service slower than the client waits: the gateway holds an order past `--timeout` and
//! carries it out anyway (docs/emulator.md, "Realism"). A short `--timeout` must not shorten
//! the settle time, which belongs to the service (docs/idempotency.md, "The settle time"), and
//! the report counts every order request that went out, so "0 ordered" never hides one.

mod support;

use pai_spec::ProductCode;
use support::{hangzhou, want, Setup, Want};

fn pai() -> Want {
    want("pai", ProductCode::Pai, &hangzhou())
}

/// `processing_ms = 4000` with `--timeout 1s` and no `--settle-time`: the client gives up on
/// the order after a second, the service carries it out after four. Settling on a time tied
/// to the client (twice `--timeout`) heard "not purchased" at two seconds and ordered again.
#[test]
fn a_short_timeout_in_front_of_a_slow_service_orders_once() {
    let wanted = [pai()];
    let setup = Setup::with(&wanted, |config| config.realism.processing_ms = 4_000);

    let run = setup.work.run(&["--timeout", "1s", "apply", "--auto-approve"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());

    let ledger = setup.emu.ledger();
    assert_eq!(ledger.orders.len(), 1, "one order for the product: {:?}", ledger.orders);
    let problems = support::exactly_once_problems(&ledger, &wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");

    // The answer was lost, so the product is recorded from ListProducts, not as "ordered"; the
    // summary still says that an order request went out.
    let summary = run
        .stdout
        .lines()
        .find(|l| l.starts_with("Apply complete: "))
        .unwrap_or_else(|| panic!("no summary: {}", run.describe()));
    assert!(summary.contains("(1 order request sent)"), "{summary}");
}

/// The JSON report carries the count per region, beside the outcomes.
#[test]
fn the_json_report_counts_the_order_requests_sent() {
    let wanted = [pai()];
    let setup = Setup::new(&wanted);
    let json = setup.apply(&["--format", "json"]).json();
    assert_eq!(json["success"], true, "{json}");
    let regions = json["report"]["regions"].as_array().expect("regions");
    assert_eq!(regions.len(), 1, "{json}");
    assert_eq!(regions[0]["order_requests"], 1, "{json}");

    // A run with nothing to order sends nothing, and says nothing about requests.
    let again = setup.apply(&[]);
    assert_eq!(again.code, Some(0), "{}", again.describe());
    assert!(!again.stdout.contains("order request"), "{}", again.stdout);
}
