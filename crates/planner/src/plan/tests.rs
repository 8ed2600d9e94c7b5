use pai_spec::ProductCode::{DataWorks, Oss, Pai};

use std::collections::BTreeMap;

use super::*;
use crate::fixtures::*;
use pai_state::Status;
use pai_testkit::fixtures::{documented_product, region};

fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_685_400).unwrap()
}

#[test]
fn orders_group_by_region_in_address_order() {
    let products = [
        documented_product("zeta", Pai, "cn-hangzhou"),
        documented_product("alpha", Oss, "cn-hangzhou"),
        documented_product("dw", DataWorks, "cn-shanghai"),
        documented_product("kept", Pai, "cn-beijing"),
    ];
    let mut m = manifest(&products);
    m.provider.auto_pay = false;
    m.provider
        .endpoints
        .insert(region("cn-shanghai"), "http://127.0.0.1:8081".into());
    let s = state(&[record(&products[3], Status::Active)]);
    let plan = Plan::build(&m, "m.toml", &s, None, &|r| m.endpoint_for(r), at());
    let got: Vec<(&str, &str, Vec<&str>)> = plan
        .orders
        .iter()
        .map(|o| {
            (
                o.region.as_str(),
                o.endpoint.as_str(),
                o.addresses.iter().map(Address::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "cn-hangzhou",
                "https://aiworkspace.cn-hangzhou.aliyuncs.com",
                vec!["alpha", "zeta"]
            ),
            ("cn-shanghai", "http://127.0.0.1:8081", vec!["dw"]),
        ]
    );
    let hz = &plan.orders[0].body;
    assert!(!hz.auto_pay);
    assert_eq!(hz.products, [products[1].request.clone(), products[0].request.clone()]);
    assert_eq!(
        hz.to_json(),
        format!(
            r#"{{"AutoPay":false,"Products":[{},{}]}}"#,
            products[1].request.canonical_json(),
            products[0].request.canonical_json()
        )
    );
    assert_eq!(
        plan.summary,
        Summary {
            order: 3,
            noop: 1,
            ..Summary::default()
        }
    );
    assert_eq!(plan.created_at, "2026-11-26T09:30:00Z");
    assert!(!plan.refreshed);
}

#[test]
fn exit_codes() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let mut renewing = pai.clone();
    renewing.request.auto_renew = true;
    let active = state(&[record(&pai, Status::Active)]);
    let cases = [
        ("no changes", manifest(std::slice::from_ref(&pai)), active.clone(), 0, 0),
        ("changes", manifest(std::slice::from_ref(&pai)), state(&[]), 0, 2),
        ("conflict", manifest(&[renewing]), active.clone(), 1, 1),
        ("forget", manifest(&[]), active, 0, 2),
    ];
    for (name, m, s, plain, detailed) in cases {
        let plan = Plan::build(&m, "m.toml", &s, None, &|r| m.endpoint_for(r), at());
        assert_eq!(plan.exit_code(false), plain, "{name}");
        assert_eq!(plan.exit_code(true), detailed, "{name}");
    }
}

fn public(region: &Region) -> String {
    format!("https://aiworkspace.{region}.aliyuncs.com")
}

/// An apply against the public endpoints and the state at `s.db`, without a named account.
fn here<'a>(endpoint: &'a dyn Fn(&Region) -> String) -> Here<'a> {
    Here {
        sandbox: false,
        state: "s.db".into(),
        same_state: &|recorded| recorded == "s.db",
        account: None,
        endpoint,
    }
}

fn made(m: &Manifest, s: &StateSnapshot) -> Plan {
    Plan::build(m, "m.toml", s, None, &|r| m.endpoint_for(r), at()).made_for(false, "s.db".into(), None)
}

#[test]
fn stale_plans_are_refused() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let m = manifest(std::slice::from_ref(&pai));
    let s = state(&[]);
    let plan = made(&m, &s);
    assert_eq!(plan.check_current(&s, &m, &here(&public)), Ok(()));

    let mut later = s.clone();
    later.serial += 1;
    assert!(matches!(
        plan.check_current(&later, &m, &here(&public)),
        Err(StalePlan::Serial { plan: 7, state: 8 })
    ));
    let mut other = s.clone();
    other.lineage = Some("another".into());
    assert!(matches!(
        plan.check_current(&other, &m, &here(&public)),
        Err(StalePlan::Lineage { .. })
    ));
    let mut edited = m.clone();
    edited.source_hash = "0000".into();
    let err = plan.check_current(&s, &edited, &here(&public)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the manifest changed since the plan was made; plan again"
    );

    // A plan made before the state existed is stale once it does, and is for that state alone.
    let none = StateSnapshot::default();
    let early = made(&m, &none);
    assert_eq!(early.check_current(&none, &m, &here(&public)), Ok(()));
    assert!(early.check_current(&s, &m, &here(&public)).is_err());
    let elsewhere_state = Here {
        state: "other.db".into(),
        same_state: &|recorded| recorded == "other.db",
        ..here(&public)
    };
    assert_eq!(
        early
            .check_current(&none, &m, &elsewhere_state)
            .unwrap_err()
            .to_string(),
        "the plan was made for the state at s.db, but this apply uses the state at other.db (--state, \
         PAI_PROVISION_STATE or the manifest's [state] url differ); plan again against the state to change"
    );

    // Orders that would go elsewhere now: refused, naming both endpoints.
    let elsewhere = |_: &Region| "http://127.0.0.1:9".to_owned();
    let err = early.check_current(&none, &m, &here(&elsewhere)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the plan sends cn-hangzhou's calls to https://aiworkspace.cn-hangzhou.aliyuncs.com, but this apply would \
         send them to http://127.0.0.1:9 (--endpoint, --sandbox or the manifest's endpoints differ); plan again with \
         the same options"
    );
}

#[test]
fn every_part_of_the_target_must_match() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let m = manifest(std::slice::from_ref(&pai));
    let s = state(&[record(&pai, Status::Active)]);
    // Nothing to order: the target is still checked, region by region.
    let plan = made(&manifest(&[]), &s);
    assert!(plan.orders.is_empty());
    assert_eq!(
        plan.target.endpoints,
        BTreeMap::from([(region("cn-hangzhou"), public(&region("cn-hangzhou")))])
    );
    let m0 = manifest(&[]);
    assert_eq!(plan.check_current(&s, &m0, &here(&public)), Ok(()));
    let elsewhere = |_: &Region| "http://127.0.0.1:9".to_owned();
    assert!(matches!(
        plan.check_current(&s, &m0, &here(&elsewhere)),
        Err(StalePlan::Endpoint { .. })
    ));

    let sandbox = Here {
        sandbox: true,
        ..here(&public)
    };
    assert_eq!(
        plan.check_current(&s, &m0, &sandbox).unwrap_err().to_string(),
        "the plan was made without --sandbox (for the cloud), and this apply runs with --sandbox (for the \
         emulator): cn-hangzhou's calls would go to https://aiworkspace.cn-hangzhou.aliyuncs.com; plan again the \
         way you mean to apply"
    );

    let deploy = plan.clone().made_for(false, "s.db".into(), Some("1234".into()));
    let other = Here {
        account: Some("5678".into()),
        ..here(&public)
    };
    assert_eq!(
        deploy.check_current(&s, &m0, &other).unwrap_err().to_string(),
        "the plan was made with the credentials of account 1234, but this apply uses those of account 5678; plan \
         again with the credentials that will apply it"
    );
    assert!(matches!(
        deploy.check_current(&s, &m0, &here(&public)),
        Err(StalePlan::Account { .. })
    ));

    // What apply acts on is what the manifest declares, digest or not.
    let fresh = made(&m, &state(&[]));
    let mut paid = fresh.clone();
    paid.orders[0].body.auto_pay = false;
    assert_eq!(
        paid.check_current(&state(&[]), &m, &here(&public)),
        Err(StalePlan::Edited {
            what: "AutoPay for cn-hangzhou".into()
        })
    );
    let mut renamed = fresh.clone();
    renamed.changes[0].address = Address::parse("storage").unwrap();
    assert!(matches!(
        renamed.check_current(&state(&[]), &m, &here(&public)),
        Err(StalePlan::Edited { .. })
    ));
}

#[test]
fn saved_plans_round_trip_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let mut renewing = documented_product("dw", DataWorks, "cn-shanghai");
    let recorded = record(&renewing, Status::Active);
    renewing.request.auto_renew = true;
    let m = manifest(&[pai.clone(), renewing]);
    let plan = Plan::build(
        &m,
        "m.toml",
        &state(&[recorded]),
        Some(&seen(&[(&pai, false)])),
        &|r| m.endpoint_for(r),
        at(),
    );
    plan.save(&path).unwrap();
    assert_eq!(Plan::load(&path).unwrap(), plan);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );

    let mut newer: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    newer["format_version"] = serde_json::json!(FORMAT_VERSION + 1);
    let err = Plan::from_json(&newer.to_string(), &path).unwrap_err();
    assert!(matches!(err, PlanFileError::NewerFormat { found: 4, .. }), "{err}");
    // Versions 1 and 2 recorded no state location, account or digest: plan again.
    for version in [1, 2] {
        let mut older: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
        older["format_version"] = serde_json::json!(version);
        let err = Plan::from_json(&older.to_string(), &path).unwrap_err();
        assert!(matches!(err, PlanFileError::OlderFormat { .. }), "{err}");
        assert!(err.to_string().contains("plan again"), "{err}");
    }
    // A fleet plan (docs/fleet-plan-json.md) given to `apply` is named as one.
    let fleet = serde_json::json!({"format_version": 1, "fleet_path": "fleet.toml", "accounts": []});
    let err = Plan::from_json(&fleet.to_string(), &path).unwrap_err();
    assert!(err.to_string().contains("fleet apply"), "{err}");
    // Any edit to what apply reads is refused; layout is not part of the digest.
    let text = plan.to_json();
    let compact: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(Plan::from_json(&compact.to_string(), &path).unwrap(), plan);
    for (pointer, value) in [
        ("/orders/0/body/AutoPay", serde_json::json!(false)),
        ("/changes/0/action", serde_json::json!("adopt")),
        ("/target/state", serde_json::json!("elsewhere.db")),
        ("/serial", serde_json::json!(8)),
    ] {
        let mut edited = compact.clone();
        *edited.pointer_mut(pointer).unwrap() = value;
        let err = Plan::from_json(&edited.to_string(), &path).unwrap_err();
        assert!(matches!(err, PlanFileError::Edited { .. }), "{pointer}: {err}");
    }
    let mut unsealed = compact.clone();
    unsealed.as_object_mut().unwrap().remove("digest");
    assert!(matches!(
        Plan::from_json(&unsealed.to_string(), &path),
        Err(PlanFileError::NotAPlan { .. })
    ));
    for text in ["", "[]", r#"{"format_version": 3}"#, "version = 1"] {
        let err = Plan::from_json(text, &path).unwrap_err();
        assert!(matches!(err, PlanFileError::NotAPlan { .. }), "{text}: {err}");
    }
    assert!(matches!(
        Plan::load(&dir.path().join("missing.json")),
        Err(PlanFileError::Io { .. })
    ));
}

#[test]
fn save_replaces_a_plan_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(&[documented_product("pai", Pai, "cn-hangzhou")]);
    let plan = made(&m, &state(&[]));
    let old_plan = dir.path().join("old.json");
    std::fs::write(&old_plan, r#"{"format_version": 1, "anything": "else"}"#).unwrap();
    plan.save(&old_plan).unwrap();
    assert_eq!(Plan::load(&old_plan).unwrap(), plan);
    for (name, contents) in [
        ("state.db", &b"SQLite format 3\0\xff\xfe"[..]),
        ("pai-provision.toml", b"[provider]\nregion = \"cn-hangzhou\"\n"),
        ("notes.json", b"{\"notes\": true}"),
        ("empty", b""),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        let err = plan.save(&path).unwrap_err();
        assert!(matches!(err, PlanFileError::WouldReplace { .. }), "{name}: {err}");
        assert_eq!(std::fs::read(&path).unwrap(), contents, "{name}");
    }
    assert!(matches!(plan.save(dir.path()), Err(PlanFileError::WouldReplace { .. })));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_digest_covers_the_policy_verdict() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let m = manifest(std::slice::from_ref(&pai));
    let mut plan = made(&m, &state(&[]));
    plan.policy = Some(PolicyVerdict {
        policies_digest: "sha256:aa".into(),
        deny: vec![PolicyFinding {
            file: "a.rego".into(),
            rule: "deny".into(),
            message: "no".into(),
        }],
        warn: Vec::new(),
    });
    let path = std::path::Path::new("plan.json");
    let compact: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(Plan::from_json(&compact.to_string(), path).unwrap(), plan);
    for (pointer, value) in [
        ("/policy/deny", serde_json::json!([])),
        ("/policy/policies_digest", serde_json::json!("sha256:bb")),
    ] {
        let mut edited = compact.clone();
        *edited.pointer_mut(pointer).unwrap() = value;
        let err = Plan::from_json(&edited.to_string(), path).unwrap_err();
        assert!(matches!(err, PlanFileError::Edited { .. }), "{pointer}: {err}");
    }
    // Removing the verdict is an edit too.
    let mut stripped = compact.clone();
    stripped.as_object_mut().unwrap().remove("policy");
    assert!(matches!(
        Plan::from_json(&stripped.to_string(), path),
        Err(PlanFileError::Edited { .. })
    ));
}

#[test]
fn what_a_plan_would_do_by_its_counts() {
    use crate::plan::Would;
    // (order, reorder, adopt, forget, would)
    let cases = [
        (0, 0, 0, 0, Would::Nothing),
        (1, 0, 0, 0, Would::Order),
        (0, 1, 0, 0, Would::Order),
        (0, 0, 1, 0, Would::Record),
        (0, 0, 0, 1, Would::Record),
        (1, 0, 3, 2, Would::Order),
        (0, 2, 1, 1, Would::Order),
    ];
    for (order, reorder, adopt, forget, would) in cases {
        assert_eq!(
            Would::of(order, reorder, adopt, forget),
            would,
            "{order} {reorder} {adopt} {forget}"
        );
        let summary = Summary {
            order,
            reorder,
            adopt,
            forget,
            conflict: 3,
            noop: 5,
        };
        assert_eq!(
            summary.would(),
            would,
            "conflicts and noops are not what a plan would do"
        );
    }
}

#[test]
fn the_saved_document_says_what_the_plan_would_do_outside_its_digest() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let m = manifest(std::slice::from_ref(&pai));
    let plan = made(&m, &state(&[]));
    let doc: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(doc["would"], "order");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    plan.save(&path).unwrap();
    let mut edited = doc.clone();
    edited["would"] = serde_json::json!("nothing");
    std::fs::write(&path, serde_json::to_string(&edited).unwrap()).unwrap();
    assert_eq!(
        Plan::load(&path).unwrap(),
        plan,
        "`would` is derived: not read back, not in the digest"
    );
}
