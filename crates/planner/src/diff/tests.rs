use pai_spec::ProductCode::{DataWorks, MaxCompute, Oss, Pai};
use pai_spec::ProductRequest;

use super::*;
use crate::fixtures::*;
use crate::observe::Observed;
use pai_testkit::fixtures::{addr, documented_product, region};

struct Case {
    name: &'static str,
    desired: Vec<Product>,
    recorded: Vec<Resource>,
    /// `None`: `--refresh=false`.
    observed: Option<Observation>,
    /// Per address: the action and a fragment of its reason.
    want: Vec<(&'static str, Action, &'static str)>,
}

fn pai() -> Product {
    documented_product("pai", Pai, "cn-hangzhou")
}
fn oss() -> Product {
    documented_product("oss", Oss, "cn-hangzhou")
}
fn dataworks() -> Product {
    documented_product("dataworks", DataWorks, "cn-shanghai")
}
fn maxcompute() -> Product {
    documented_product("maxcompute", MaxCompute, "cn-shanghai")
}

fn renewing(mut p: Product) -> Product {
    p.request.auto_renew = true;
    p
}

fn renamed(p: &Product, to: &str) -> Product {
    let mut p = p.clone();
    p.address = addr(to);
    p
}

fn run(case: &Case) -> Vec<Change> {
    diff(&manifest(&case.desired), &state(&case.recorded), case.observed.as_ref())
}

fn cases() -> Vec<Case> {
    use Action::*;
    use Status::*;
    vec![
        Case {
            name: "nothing at all",
            desired: vec![],
            recorded: vec![],
            observed: Some(seen(&[])),
            want: vec![],
        },
        Case {
            name: "unrecorded, purchased: adopt",
            desired: vec![pai()],
            recorded: vec![],
            observed: Some(seen(&[(&pai(), true)])),
            want: vec![(
                "pai",
                Adopt,
                "not in the state; the cloud reports it purchased (ProductId pid-pai)",
            )],
        },
        Case {
            name: "unrecorded, not purchased: order",
            desired: vec![pai()],
            recorded: vec![],
            observed: Some(seen(&[(&pai(), false)])),
            want: vec![("pai", Order, "the cloud reports it not purchased")],
        },
        Case {
            name: "unrecorded, not refreshed: order",
            desired: vec![pai()],
            recorded: vec![],
            observed: None,
            want: vec![("pai", Order, "the cloud was not asked (--refresh=false)")],
        },
        Case {
            name: "unrecorded, refreshed but not reported: order",
            desired: vec![pai()],
            recorded: vec![],
            observed: Some(seen(&[])),
            want: vec![("pai", Order, "the cloud did not report on it")],
        },
        Case {
            name: "active, same request, purchased: noop",
            desired: vec![pai()],
            recorded: vec![record(&pai(), Active)],
            observed: Some(seen(&[(&pai(), true)])),
            want: vec![("pai", Noop, "the cloud reports it purchased")],
        },
        Case {
            name: "active, same request, not refreshed: noop",
            desired: vec![pai()],
            recorded: vec![record(&pai(), Active)],
            observed: None,
            want: vec![("pai", Noop, "the cloud was not asked")],
        },
        Case {
            name: "unpaid, not purchased: noop, awaiting payment",
            desired: vec![pai()],
            recorded: vec![record(&pai(), Unpaid)],
            observed: Some(seen(&[(&pai(), false)])),
            want: vec![("pai", Noop, "awaiting payment of order 2120")],
        },
        Case {
            name: "unpaid, not refreshed: noop, awaiting payment",
            desired: vec![pai()],
            recorded: vec![record(&pai(), Unpaid)],
            observed: None,
            want: vec![("pai", Noop, "awaiting payment of order 2120")],
        },
        Case {
            name: "unpaid, refreshed but not reported: noop, awaiting payment",
            desired: vec![pai()],
            recorded: vec![record(&pai(), Unpaid)],
            observed: Some(seen(&[])),
            want: vec![("pai", Noop, "the cloud did not report on it")],
        },
        Case {
            name: "unpaid, paid: adopt (resolves)",
            desired: vec![pai()],
            recorded: vec![record(&pai(), Unpaid)],
            observed: Some(seen(&[(&pai(), true)])),
            want: vec![("pai", Adopt, "was paid: the cloud reports it purchased")],
        },
        Case {
            name: "unpaid, AutoRenew changed, not purchased: still no order",
            desired: vec![renewing(dataworks())],
            recorded: vec![record(&dataworks(), Unpaid)],
            observed: Some(seen(&[(&dataworks(), false)])),
            want: vec![("dataworks", Noop, "awaiting payment")],
        },
        Case {
            name: "active, the cloud lost it: reorder",
            desired: vec![pai()],
            recorded: vec![record(&pai(), Active)],
            observed: Some(seen(&[(&pai(), false)])),
            want: vec![("pai", Reorder, "not purchased (drift)")],
        },
        Case {
            name: "active, AutoRenew changed, purchased: conflict",
            desired: vec![renewing(dataworks())],
            recorded: vec![record(&dataworks(), Active)],
            observed: Some(seen(&[(&dataworks(), true)])),
            want: vec![(
                "dataworks",
                Conflict,
                "the manifest changed AutoRenew, which cannot change after purchase",
            )],
        },
        Case {
            name: "active, AutoRenew changed, not refreshed: conflict",
            desired: vec![renewing(dataworks())],
            recorded: vec![record(&dataworks(), Active)],
            observed: None,
            want: vec![("dataworks", Conflict, "AutoRenew")],
        },
        Case {
            name: "active, AutoRenew changed, the cloud lost it: reorder the new request",
            desired: vec![renewing(dataworks())],
            recorded: vec![record(&dataworks(), Active)],
            observed: Some(seen(&[(&dataworks(), false)])),
            want: vec![(
                "dataworks",
                Reorder,
                "the manifest changed AutoRenew since, so the new request is ordered",
            )],
        },
        Case {
            name: "active, region moved: conflict whatever the cloud says",
            desired: vec![documented_product("pai", Pai, "cn-beijing")],
            recorded: vec![record(&pai(), Active)],
            observed: Some(seen(&[(&documented_product("pai", Pai, "cn-beijing"), false)])),
            want: vec![(
                "pai",
                Conflict,
                "from PAI_share in cn-hangzhou to PAI_share in cn-beijing",
            )],
        },
        Case {
            name: "active, product code changed: conflict",
            desired: vec![documented_product("pai", Oss, "cn-hangzhou")],
            recorded: vec![record(&pai(), Active)],
            observed: None,
            want: vec![("pai", Conflict, "an activation cannot move")],
        },
        Case {
            name: "failed under another identity: order the new one",
            desired: vec![documented_product("pai", Pai, "cn-beijing")],
            recorded: vec![record(&pai(), Failed)],
            observed: Some(seen(&[(&documented_product("pai", Pai, "cn-beijing"), false)])),
            want: vec![(
                "pai",
                Order,
                "the last order attempt, for PAI_share in cn-hangzhou, failed",
            )],
        },
        Case {
            name: "pending, purchased: adopt, resolving the interrupted order",
            desired: vec![oss()],
            recorded: vec![record(&oss(), Pending)],
            observed: Some(seen(&[(&oss(), true)])),
            want: vec![(
                "oss",
                Adopt,
                "resolving an interrupted order: the cloud reports it purchased",
            )],
        },
        Case {
            name: "pending, not purchased: order",
            desired: vec![oss()],
            recorded: vec![record(&oss(), Pending)],
            observed: Some(seen(&[(&oss(), false)])),
            want: vec![(
                "oss",
                Order,
                "resolving an interrupted order: the cloud reports it not purchased",
            )],
        },
        Case {
            name: "pending, not refreshed: order after resolving",
            desired: vec![oss()],
            recorded: vec![record(&oss(), Pending)],
            observed: None,
            want: vec![("oss", Order, "unknown outcome (pending)")],
        },
        Case {
            name: "pending, purchased, AutoRenew changed since: conflict",
            desired: vec![renewing(oss())],
            recorded: vec![record(&oss(), Pending)],
            observed: Some(seen(&[(&oss(), true)])),
            want: vec![("oss", Conflict, "an interrupted order went through")],
        },
        Case {
            name: "failed, purchased after all: adopt",
            desired: vec![maxcompute()],
            recorded: vec![record(&maxcompute(), Failed)],
            observed: Some(seen(&[(&maxcompute(), true)])),
            want: vec![("maxcompute", Adopt, "failed (HTTP 400 InvalidParameter")],
        },
        Case {
            name: "failed, not purchased: order again",
            desired: vec![maxcompute()],
            recorded: vec![record(&maxcompute(), Failed)],
            observed: Some(seen(&[(&maxcompute(), false)])),
            want: vec![("maxcompute", Order, "so it is ordered again")],
        },
        Case {
            name: "failed, not refreshed: order again",
            desired: vec![maxcompute()],
            recorded: vec![record(&maxcompute(), Failed)],
            observed: None,
            want: vec![("maxcompute", Order, "ordering again (the cloud was not asked")],
        },
        Case {
            name: "active, gone from the manifest: forget",
            desired: vec![],
            recorded: vec![record(&pai(), Active)],
            observed: Some(seen(&[(&pai(), true)])),
            want: vec![("pai", Forget, "in the state, gone from the manifest")],
        },
        Case {
            name: "active, gone from the manifest and from the cloud: forget",
            desired: vec![],
            recorded: vec![record(&pai(), Active)],
            observed: Some(seen(&[(&pai(), false)])),
            want: vec![("pai", Forget, "so nothing stays billed")],
        },
        Case {
            name: "failed, gone from the manifest: forget",
            desired: vec![],
            recorded: vec![record(&pai(), Failed)],
            observed: None,
            want: vec![("pai", Forget, "its last order failed, so nothing was bought")],
        },
        Case {
            name: "pending, gone from the manifest: forget",
            desired: vec![],
            recorded: vec![record(&pai(), Pending)],
            observed: None,
            want: vec![("pai", Forget, "its outcome is unknown")],
        },
        Case {
            name: "renamed, active, purchased: the record moves (adopt)",
            desired: vec![renamed(&pai(), "ml")],
            recorded: vec![record(&pai(), Active)],
            observed: Some(seen(&[(&pai(), true)])),
            want: vec![("ml", Adopt, "renamed from `pai`; active with the same request")],
        },
        Case {
            name: "renamed, active, not refreshed: the record moves (adopt)",
            desired: vec![renamed(&pai(), "ml")],
            recorded: vec![record(&pai(), Active)],
            observed: None,
            want: vec![("ml", Adopt, "the record moves to the new address, nothing is ordered")],
        },
        Case {
            name: "renamed, active, gone from the cloud: reorder",
            desired: vec![renamed(&pai(), "ml")],
            recorded: vec![record(&pai(), Active)],
            observed: Some(seen(&[(&pai(), false)])),
            want: vec![("ml", Reorder, "renamed from `pai`; recorded active")],
        },
        Case {
            name: "renamed, pending, not refreshed: order after resolving",
            desired: vec![renamed(&oss(), "storage")],
            recorded: vec![record(&oss(), Pending)],
            observed: None,
            want: vec![("storage", Order, "renamed from `oss`; an order sent at")],
        },
        Case {
            name: "renamed with a changed request: conflict",
            desired: vec![renewing(renamed(&pai(), "ml"))],
            recorded: vec![record(&pai(), Active)],
            observed: Some(seen(&[(&pai(), true)])),
            want: vec![("ml", Conflict, "renamed from `pai`; the manifest changed AutoRenew")],
        },
        Case {
            name: "an activation declared under a second address while the first still claims another: conflict",
            desired: vec![documented_product("pai", Pai, "cn-beijing"), renamed(&pai(), "ml")],
            recorded: vec![record(&pai(), Active)],
            observed: None,
            want: vec![
                ("ml", Conflict, "the state records PAI_share in cn-hangzhou as `pai`"),
                ("pai", Conflict, "an activation cannot move"),
            ],
        },
        Case {
            name: "every action at once",
            desired: vec![
                pai(),
                oss(),
                renewing(dataworks()),
                maxcompute(),
                documented_product("ml", Pai, "cn-beijing"),
            ],
            recorded: vec![
                record(&oss(), Active),
                record(&dataworks(), Active),
                record(&maxcompute(), Active),
                record(&documented_product("old", Oss, "cn-beijing"), Active),
            ],
            observed: Some(seen(&[
                (&pai(), false),
                (&oss(), true),
                (&dataworks(), true),
                (&maxcompute(), false),
                (&documented_product("ml", Pai, "cn-beijing"), true),
                (&documented_product("old", Oss, "cn-beijing"), true),
            ])),
            want: vec![
                ("dataworks", Conflict, "AutoRenew"),
                ("maxcompute", Reorder, "drift"),
                ("ml", Adopt, "purchased"),
                ("old", Forget, "gone from the manifest"),
                ("oss", Noop, "same request"),
                ("pai", Order, "not purchased"),
            ],
        },
    ]
}

#[test]
fn decision_table() {
    for case in cases() {
        let got = run(&case);
        let got_actions: Vec<(String, Action)> = got.iter().map(|c| (c.address.to_string(), c.action)).collect();
        let want_actions: Vec<(String, Action)> = case.want.iter().map(|(a, act, _)| (a.to_string(), *act)).collect();
        assert_eq!(got_actions, want_actions, "{}", case.name);
        for ((_, _, fragment), change) in case.want.iter().zip(&got) {
            assert!(
                change.reason.contains(fragment),
                "{}: reason of {} is {:?}, expected it to contain {:?}",
                case.name,
                change.address,
                change.reason,
                fragment
            );
            if change.action == Action::Conflict {
                assert!(
                    !change.remedies.is_empty(),
                    "{}: a conflict must offer remedies",
                    case.name
                );
            } else {
                assert!(change.remedies.is_empty(), "{}", case.name);
            }
        }
    }
}

/// Every action appears somewhere in the table, and so does every recorded status.
#[test]
fn the_table_covers_every_action() {
    let all: Vec<Change> = cases().iter().flat_map(run).collect();
    for action in Action::ALL {
        assert!(all.iter().any(|c| c.action == action), "{action:?} not covered");
    }
    for status in [Status::Pending, Status::Active, Status::Failed, Status::Unpaid] {
        assert!(
            all.iter()
                .any(|c| c.before.as_ref().is_some_and(|b| b.status == status)),
            "{status:?} not covered"
        );
    }
}

fn one(case_desired: Vec<Product>, recorded: Vec<Resource>, observed: Option<Observation>) -> Change {
    let mut changes = diff(&manifest(&case_desired), &state(&recorded), observed.as_ref());
    assert_eq!(changes.len(), 1);
    changes.remove(0)
}

#[test]
fn only_a_pending_row_planned_blind_is_resolved_first() {
    let blind = one(vec![oss()], vec![record(&oss(), Status::Pending)], None);
    assert!(blind.resolve_first);
    let seen_gone = one(
        vec![oss()],
        vec![record(&oss(), Status::Pending)],
        Some(seen(&[(&oss(), false)])),
    );
    assert!(!seen_gone.resolve_first);
    for status in [Status::Active, Status::Failed] {
        assert!(!one(vec![oss()], vec![record(&oss(), status)], None).resolve_first);
    }
    assert!(!one(vec![oss()], vec![], None).resolve_first);
}

#[test]
fn a_blind_pending_order_warns_when_the_request_changed() {
    let c = one(vec![renewing(oss())], vec![record(&oss(), Status::Pending)], None);
    assert_eq!(c.action, Action::Order);
    assert!(
        c.warnings[0].contains("apply stops with a conflict"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn forget_warns_loudly_only_when_something_may_stay_billed() {
    let cases: &[(Status, Option<bool>, bool)] = &[
        (Status::Active, Some(true), true),
        (Status::Active, None, true),
        (Status::Active, Some(false), false),
        (Status::Pending, None, true),
        (Status::Pending, Some(true), true),
        (Status::Pending, Some(false), false),
        (Status::Failed, None, false),
        (Status::Failed, Some(true), true),
        (Status::Failed, Some(false), false),
        (Status::Unpaid, None, false),
        (Status::Unpaid, Some(true), true),
        (Status::Unpaid, Some(false), false),
    ];
    for (status, purchased, warns) in cases {
        let obs = purchased.map(|p| seen(&[(&pai(), p)]));
        let c = one(vec![], vec![record(&pai(), *status)], obs);
        assert_eq!(c.action, Action::Forget);
        let billed = c.warnings.iter().any(|w| w.contains("stays active and billed"));
        assert_eq!(billed, *warns, "{status:?} {purchased:?}: {:?}", c.warnings);
        assert!(c.after.is_none() && c.before.is_some());
    }
}

#[test]
fn renames_carry_the_old_address_and_hide_its_forget() {
    let c = one(vec![renamed(&pai(), "ml")], vec![record(&pai(), Status::Active)], None);
    assert_eq!(c.moved_from, Some(addr("pai")));
    assert_eq!(
        c.before.as_ref().unwrap().order_id,
        record(&pai(), Status::Active).order_id
    );
}

#[test]
fn a_failed_row_under_another_identity_cannot_take_a_renamed_record() {
    let moved = documented_product("pai", Pai, "cn-beijing");
    let c = diff(
        &manifest(std::slice::from_ref(&moved)),
        &state(&[
            record(&pai(), Status::Failed),
            record(&renamed(&moved, "old"), Status::Active),
        ]),
        None,
    );
    let actions: Vec<(&str, Action)> = c.iter().map(|c| (c.address.as_str(), c.action)).collect();
    assert_eq!(actions, [("old", Action::Forget), ("pai", Action::Conflict)]);
    assert_eq!(c[1].moved_from, None);
    assert!(c[1].remedies[0].contains("state rm pai"), "{:?}", c[1].remedies);
}

#[test]
fn cosmetic_changes_are_noops_with_a_note() {
    let mut labelled = oss();
    labelled.request.instance_properties[0].name = Some("Object Storage Service".into());
    let c = one(
        vec![labelled],
        vec![record(&oss(), Status::Active)],
        Some(seen(&[(&oss(), true)])),
    );
    assert_eq!(c.action, Action::Noop);
    assert_eq!(c.field_changes.len(), 1);
    assert_eq!(c.field_changes[0].field, "InstanceProperties[commodity_type].Name");
    assert_eq!(c.field_changes[0].effect, Effect::Cosmetic);
    assert!(c.warnings[0].contains("a label"), "{:?}", c.warnings);

    let mut reordered = oss();
    reordered.request.instance_properties.reverse();
    let c = one(vec![reordered], vec![record(&oss(), Status::Active)], None);
    assert_eq!(c.action, Action::Noop);
    assert_eq!(c.field_changes[0].field, "InstanceProperties order");
}

#[test]
fn field_changes_table() {
    let base = maxcompute();
    let edit = |f: fn(&mut ProductRequest)| {
        let mut p = base.clone();
        f(&mut p.request);
        p
    };
    type FieldCase = (&'static str, Product, Vec<(&'static str, Effect)>);
    let cases: Vec<FieldCase> = vec![
        ("same", base.clone(), vec![]),
        (
            "auto renew",
            edit(|r| r.auto_renew = true),
            vec![("AutoRenew", Effect::Immutable)],
        ),
        (
            "pricing cycle dropped",
            edit(|r| r.pricing_cycle = None),
            vec![("PricingCycle", Effect::Immutable)],
        ),
        (
            "property value",
            edit(|r| r.instance_properties[0].value = "cn-beijing".into()),
            vec![("InstanceProperties[region]", Effect::Immutable)],
        ),
        (
            "property removed",
            edit(|r| {
                r.instance_properties.pop();
            }),
            vec![("InstanceProperties[ord_time]", Effect::Immutable)],
        ),
        (
            "product code",
            edit(|r| r.product_code = Oss),
            vec![("ProductCode", Effect::Identity)],
        ),
    ];
    for (name, after, want) in cases {
        let got: Vec<(String, Effect)> = field_changes(&base.region, &base.request, &after.region, &after.request)
            .into_iter()
            .map(|c| (c.field, c.effect))
            .collect();
        let want: Vec<(String, Effect)> = want.into_iter().map(|(f, e)| (f.to_owned(), e)).collect();
        assert_eq!(got, want, "{name}");
    }
    let moved = field_changes(&base.region, &base.request, &region("cn-beijing"), &base.request);
    assert_eq!(moved[0].field, "region");
    assert_eq!(moved[0].before, Some(serde_json::json!("cn-shanghai")));
}

#[test]
fn a_refusal_to_sell_is_a_warning_on_the_order() {
    let mut obs = seen(&[]);
    obs.insert(
        pai().region,
        Pai,
        Observed {
            purchased: false,
            product_id: None,
            has_permission: Some(false),
            purchase_url: Some("https://common-buy.aliyun.com/?commodityCode=learn".into()),
        },
    );
    let c = one(vec![pai()], vec![], Some(obs));
    assert_eq!(c.action, Action::Order);
    assert!(c.warnings[0].contains("HasPermissionToPurchase=false"));
    assert!(c.warnings[0].contains("common-buy"));
    assert!(c.warnings[0].contains("no permission to purchase"), "{}", c.warnings[0]);
    assert!(
        c.warnings[0].contains("apply sends no order for it"),
        "{}",
        c.warnings[0]
    );
    assert!(c.warnings[0].contains("pai:CreateOrder"), "{}", c.warnings[0]);
}

#[test]
fn an_unpaid_order_is_never_ordered_again_and_warns_with_its_order_id() {
    for observed in [None, Some(seen(&[(&pai(), false)])), Some(seen(&[]))] {
        let c = one(vec![pai()], vec![record(&pai(), Status::Unpaid)], observed);
        assert_eq!(c.action, Action::Noop, "{}", c.reason);
        assert!(!c.action.is_change());
        let id = c.before.as_ref().unwrap().order_id.clone().unwrap();
        assert!(
            c.warnings[0].contains(&format!("awaiting payment of order {id}")),
            "{:?}",
            c.warnings
        );
    }
    let c = one(
        vec![renewing(dataworks())],
        vec![record(&dataworks(), Status::Unpaid)],
        None,
    );
    assert!(
        c.warnings.iter().any(|w| w.contains("the manifest changed AutoRenew")),
        "{:?}",
        c.warnings
    );

    let c = one(vec![], vec![record(&pai(), Status::Unpaid)], None);
    assert_eq!(c.action, Action::Forget);
    assert!(c.reason.contains("awaits payment"), "{}", c.reason);
    assert!(c.warnings[0].contains("cancel it"), "{:?}", c.warnings);
}
