//! Plans made now against the reviewed one, each built with `Plan::build` from a manifest, a
//! state and the cloud's answers, as `apply PLANFILE` and a resumed fleet apply build them.

use pai_spec::ProductCode::{DataWorks, Oss, Pai};
use pai_spec::{Manifest, Product, Region};
use pai_state::{Resource, StateSnapshot, Status};
use pai_testkit::fixtures::documented_product;
use time::OffsetDateTime;

use super::*;
use crate::fixtures::{manifest, record, seen, state};
use crate::observe::Observation;

fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_685_400).unwrap()
}

fn pai() -> Product {
    documented_product("pai", Pai, "cn-hangzhou")
}

fn oss() -> Product {
    documented_product("oss", Oss, "cn-hangzhou")
}

fn dataworks() -> Product {
    documented_product("dataworks", DataWorks, "cn-hangzhou")
}

fn active(p: &Product) -> Resource {
    record(p, Status::Active)
}

/// DataWorks active, and the manifest now wants it renewed: a conflict.
fn conflicted_account() -> Plan {
    let (dw, oss) = (dataworks(), oss());
    let mut renewing = dw.clone();
    renewing.request.auto_renew = true;
    build(
        &manifest(&[renewing, oss.clone()]),
        &state(&[active(&dw)]),
        &seen(&[(&dw, true), (&oss, true)]),
        "https://ok",
    )
}

fn build(m: &Manifest, s: &StateSnapshot, obs: &Observation, endpoint: &str) -> Plan {
    let endpoint = |r: &Region| format!("{endpoint}/{r}");
    Plan::build(m, "manifests/pai.toml", s, Some(obs), &endpoint, at())
}

/// Nothing recorded, nothing purchased: PAI and OSS to order, to the usual endpoint.
fn new_account(products: &[Product]) -> Plan {
    let answers: Vec<(&Product, bool)> = products.iter().map(|p| (p, false)).collect();
    build(&manifest(products), &state(&[]), &seen(&answers), "https://ok")
}

fn without_permission(mut obs: Observation, p: &Product) -> Observation {
    obs.insert(
        p.region.clone(),
        p.code(),
        crate::observe::Observed {
            purchased: false,
            product_id: None,
            has_permission: Some(false),
            purchase_url: None,
        },
    );
    obs
}

fn refused(address: &str, why: Why) -> Result<(), NotReviewed> {
    Err(NotReviewed {
        address: pai_spec::Address::parse(address).unwrap(),
        why,
    })
}

#[test]
fn a_fresh_plan_applies_only_when_it_orders_nothing_unreviewed() {
    let (pai, oss, dw) = (pai(), oss(), dataworks());
    let both = [pai.clone(), oss.clone()];
    let reviewed = new_account(&both);
    let mut renewing = pai.clone();
    renewing.request.auto_renew = true;
    let mut in_shanghai = pai.clone();
    in_shanghai.region = pai_testkit::fixtures::shanghai();
    let mut as_oss = oss.clone();
    as_oss.address = pai.address.clone();
    let mut no_auto_pay = manifest(&both);
    no_auto_pay.provider.auto_pay = false;
    let nothing = seen(&[(&pai, false), (&oss, false)]);
    let settled = build(
        &manifest(&both),
        &state(&[active(&pai), active(&oss)]),
        &seen(&[(&pai, true), (&oss, true)]),
        "https://ok",
    );

    let table: Vec<(&str, Plan, Plan, Result<(), NotReviewed>)> = vec![
        ("the same plan", reviewed.clone(), new_account(&both), Ok(())),
        (
            "fewer: PAI was ordered before the run stopped",
            reviewed.clone(),
            build(
                &manifest(&both),
                &state(&[active(&pai)]),
                &seen(&[(&pai, true), (&oss, false)]),
                "https://ok",
            ),
            Ok(()),
        ),
        (
            "none: both were ordered, the cloud does not show them yet",
            reviewed.clone(),
            build(
                &manifest(&both),
                &state(&[active(&pai), active(&oss)]),
                &seen(&[(&pai, true), (&oss, true)]),
                "https://ok",
            ),
            Ok(()),
        ),
        (
            "an address the reviewed plan did not have",
            new_account(std::slice::from_ref(&pai)),
            reviewed.clone(),
            refused(
                "oss",
                Why::Action {
                    reviewed: None,
                    now: Action::Order,
                },
            ),
        ),
        (
            "the same address with another request",
            reviewed.clone(),
            new_account(&[renewing, oss.clone()]),
            refused("pai", Why::Request),
        ),
        (
            "the same address in another region",
            reviewed.clone(),
            new_account(&[in_shanghai, oss.clone()]),
            refused(
                "pai",
                Why::Region {
                    reviewed: pai.region.clone(),
                    now: pai_testkit::fixtures::shanghai(),
                },
            ),
        ),
        (
            "the same address as another product",
            reviewed.clone(),
            new_account(&[as_oss, oss.clone()]),
            refused(
                "pai",
                Why::ProductCode {
                    reviewed: "PAI_share".into(),
                    now: "OSS_share".into(),
                },
            ),
        ),
        (
            "an order where the reviewed plan adopted",
            build(
                &manifest(&both),
                &state(&[]),
                &seen(&[(&pai, false), (&oss, true)]),
                "https://ok",
            ),
            reviewed.clone(),
            refused(
                "oss",
                Why::Action {
                    reviewed: Some(Action::Adopt),
                    now: Action::Order,
                },
            ),
        ),
        (
            "an order where the reviewed plan reordered: the same call",
            build(
                &manifest(&both),
                &state(&[active(&pai), active(&oss)]),
                &nothing,
                "https://ok",
            ),
            reviewed.clone(),
            Ok(()),
        ),
        (
            "an order the reviewed plan could not send (no permission then)",
            build(
                &manifest(&both),
                &state(&[]),
                &without_permission(nothing.clone(), &oss),
                "https://ok",
            ),
            reviewed.clone(),
            refused("oss", Why::NotOrdered),
        ),
        (
            "an order the fresh plan cannot send is not sent",
            reviewed.clone(),
            build(
                &manifest(&both),
                &state(&[]),
                &without_permission(nothing.clone(), &oss),
                "https://ok",
            ),
            Ok(()),
        ),
        (
            "another AutoPay",
            reviewed.clone(),
            build(&no_auto_pay, &state(&[]), &nothing, "https://ok"),
            refused(
                "oss",
                Why::AutoPay {
                    reviewed: true,
                    now: false,
                },
            ),
        ),
        (
            "another endpoint",
            reviewed.clone(),
            build(&manifest(&both), &state(&[]), &nothing, "https://elsewhere"),
            refused(
                "oss",
                Why::Endpoint {
                    reviewed: "https://ok/cn-hangzhou".into(),
                    now: "https://elsewhere/cn-hangzhou".into(),
                },
            ),
        ),
        (
            "a conflict in the fresh plan",
            reviewed.clone(),
            conflicted_account(),
            refused("dataworks", Why::Conflict),
        ),
        (
            "a forget the reviewed plan did not have",
            new_account(std::slice::from_ref(&dw)),
            build(
                &manifest(std::slice::from_ref(&pai)),
                &state(&[active(&dw)]),
                &seen(&[(&pai, true)]),
                "https://ok",
            ),
            refused(
                "dataworks",
                Why::Action {
                    reviewed: Some(Action::Order),
                    now: Action::Forget,
                },
            ),
        ),
        (
            "an adoption where the reviewed plan ordered: bought meanwhile",
            reviewed.clone(),
            build(
                &manifest(&both),
                &state(&[]),
                &seen(&[(&pai, true), (&oss, true)]),
                "https://ok",
            ),
            Ok(()),
        ),
        (
            "an edited plan that forgets what a plan made now keeps",
            forgetting(settled.clone(), &pai),
            settled.clone(),
            refused(
                "pai",
                Why::Action {
                    reviewed: Some(Action::Forget),
                    now: Action::Noop,
                },
            ),
        ),
        (
            "a reorder where the reviewed plan ordered: the first order was answered",
            reviewed.clone(),
            build(&manifest(&both), &state(&[active(&pai)]), &nothing, "https://ok"),
            refused(
                "pai",
                Why::Action {
                    reviewed: Some(Action::Order),
                    now: Action::Reorder,
                },
            ),
        ),
    ];
    for (case, reviewed, fresh, want) in table {
        assert_eq!(within_reviewed(&reviewed, &fresh), want, "{case}");
    }
}

#[test]
fn the_refusal_names_the_address_and_why() {
    let (pai, oss) = (pai(), oss());
    let reviewed = build(
        &manifest(&[pai.clone(), oss.clone()]),
        &state(&[]),
        &seen(&[(&pai, false), (&oss, true)]),
        "https://ok",
    );
    let fresh = new_account(&[pai, oss]);
    assert_eq!(
        within_reviewed(&reviewed, &fresh).unwrap_err().to_string(),
        "products.oss: the reviewed plan would adopt it, and a plan made now would order it; plan again and \
         review it"
    );
}

/// `plan` with the change of `p` turned into a forget, as someone editing a saved plan would.
fn forgetting(mut plan: Plan, p: &Product) -> Plan {
    for change in &mut plan.changes {
        if change.address == p.address {
            change.action = Action::Forget;
            change.after = None;
        }
    }
    plan
}

#[test]
fn the_action_table_is_the_documented_one() {
    use Action::*;
    // (reviewed, allowed now), every other pair refused.
    let allowed: [(Option<Action>, &[Action]); 7] = [
        (Some(Order), &[Order, Adopt, Noop]),
        (Some(Reorder), &[Reorder, Order, Adopt, Noop]),
        (Some(Adopt), &[Adopt, Noop]),
        (Some(Noop), &[Noop]),
        (Some(Forget), &[Forget]),
        (Some(Conflict), &[]),
        (None, &[Noop]),
    ];
    for (reviewed, now_allowed) in allowed {
        for now in Action::ALL {
            assert_eq!(
                allows(reviewed, now),
                now_allowed.contains(&now),
                "{reviewed:?} -> {now:?}"
            );
        }
    }
}
