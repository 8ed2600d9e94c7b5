//! The permission preflight end to end: an emulator that denies `pai:CreateOrder` to the test's
//! key (docs/emulator.md, "Realism") also reports `HasPermissionToPurchase: false`; the plan
//! says so per product and apply sends no order, naming the RAM action to grant. (That a 403
//! from CreateProductOrders shows its `AccessDeniedDetail` is the client's test: with this
//! emulator, apply never gets as far as sending the order.)

mod support;

use pai_spec::ProductCode;
use support::{hangzhou, want, Setup, Want, ACCESS_KEY_ID, ACCESS_KEY_SECRET};

fn wanted() -> Vec<Want> {
    vec![
        want("pai", ProductCode::Pai, &hangzhou()),
        want("oss", ProductCode::Oss, &hangzhou()),
    ]
}

fn denied() -> Setup {
    Setup::with(&wanted(), |config| {
        config.realism.deny_create_order = vec![ACCESS_KEY_ID.to_owned()];
    })
}

#[test]
fn a_product_the_account_may_not_purchase_is_not_ordered_and_the_ram_action_is_named() {
    let setup = denied();

    let plan = setup.work.run(&["plan"]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    for address in ["products.pai", "products.oss"] {
        let block = plan
            .stdout
            .split("\n\n")
            .find(|b| b.contains(address) && b.contains("will NOT be ordered: no permission to purchase"))
            .unwrap_or_else(|| panic!("no block for {address}: {}", plan.stdout));
        assert!(block.contains("no permission to purchase"), "{block}");
        assert!(block.contains("pai:CreateOrder"), "{block}");
    }

    let apply = setup.apply(&[]);
    assert_ne!(
        apply.code,
        Some(0),
        "apply must not report success: {}",
        apply.describe()
    );
    assert!(apply.stdout.contains("no permission to purchase"), "{}", apply.stdout);
    assert!(
        apply.stdout.contains("grant the RAM action pai:CreateOrder"),
        "{}",
        apply.stdout
    );
    let ledger = setup.emu.ledger();
    assert!(ledger.orders.is_empty(), "no order may be sent: {:?}", ledger.orders);
    assert!(
        setup.work.state_list().is_empty(),
        "nothing was sent, so nothing is recorded"
    );
}

/// A plan made without asking the cloud does not know the permission; apply asks before
/// ordering and sends nothing either.
#[test]
fn an_unrefreshed_plan_sends_no_order_either() {
    let setup = denied();
    let apply = setup.apply(&["--refresh=false"]);
    assert_ne!(apply.code, Some(0), "{}", apply.describe());
    assert!(
        apply.stdout.contains("grant the RAM action pai:CreateOrder"),
        "{}",
        apply.stdout
    );
    assert!(setup.emu.ledger().orders.is_empty(), "no order may be sent");
}

/// The permission was withdrawn between the review and the apply (here: the plan was made with
/// a key that may order, and is applied with a key of the same account that may not; a saved
/// plan edited by hand is refused whole, so the plan itself stays as reviewed). Apply asks the
/// cloud before carrying out a saved plan, hears `HasPermissionToPurchase: false` and sends
/// nothing: no order reaches the 403.
#[test]
fn a_saved_plan_reviewed_with_permission_sends_nothing_once_it_is_withdrawn() {
    const REVIEWER: (&str, &str) = ("LTAI5tReviewerKey", "Reviewer-Secret-0a1b2c3d4e5f");
    let mut setup = Setup::with(&wanted(), |config| {
        config.credentials.push((REVIEWER.0.to_owned(), REVIEWER.1.to_owned()));
        config.realism.deny_create_order = vec![ACCESS_KEY_ID.to_owned()];
    });
    setup.work.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", Some(REVIEWER.0));
    setup.work.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", Some(REVIEWER.1));
    let plan_file = setup.work.path().join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8 path");
    let plan = setup.work.run(&["plan", "--out", plan_path]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    assert!(
        !plan.stdout.contains("no permission to purchase"),
        "reviewed with permission: {}",
        plan.stdout
    );

    setup.work.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", Some(ACCESS_KEY_ID));
    setup
        .work
        .set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", Some(ACCESS_KEY_SECRET));
    let apply = setup.work.run(&["apply", plan_path]);
    assert_ne!(apply.code, Some(0), "{}", apply.describe());
    assert!(
        apply.stdout.contains("grant the RAM action pai:CreateOrder"),
        "{}",
        apply.stdout
    );
    assert!(setup.emu.ledger().orders.is_empty(), "no order may be sent");
}
