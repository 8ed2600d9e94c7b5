//! The permission preflight end to end: an emulator that denies `pai:CreateOrder` to the test's
//! key (docs/emulator.md, "Realism") also reports `HasPermissionToPurchase: false`; the plan
//! says so per product and apply sends no order, naming the RAM action to grant.

mod support;

use pai_spec::ProductCode;
use support::{hangzhou, want, Setup, Want, ACCESS_KEY_ID};

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
            .find(|b| b.contains(address) && b.contains("will be ordered"))
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

/// A plan made without asking the cloud cannot know the permission: the order is sent, the
/// service refuses it with 403, and the output shows the refusal's `AccessDeniedDetail`.
#[test]
fn a_403_on_the_order_shows_the_access_denied_detail() {
    let setup = denied();
    let apply = setup.apply(&["--refresh=false"]);
    assert_ne!(apply.code, Some(0), "{}", apply.describe());
    let all = format!("{}{}", apply.stdout, apply.stderr);
    // "RAM denied action ..." is the client's rendering of AccessDeniedDetail, not the message.
    assert!(all.contains("RAM denied action pai:CreateOrder"), "{all}");
    assert!(all.contains("HTTP 403, Code NoPermission"), "{all}");
    assert!(setup.emu.ledger().orders.is_empty(), "a refused order buys nothing");
}
