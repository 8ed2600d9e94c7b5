use pai_spec::ProductCode::{DataWorks, Oss, Pai};

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

#[test]
fn stale_plans_are_refused() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let m = manifest(std::slice::from_ref(&pai));
    let s = state(&[]);
    let plan = Plan::build(&m, "m.toml", &s, None, &|r| m.endpoint_for(r), at());
    assert_eq!(plan.check_current(&s, HASH, &public), Ok(()));

    let mut later = s.clone();
    later.serial += 1;
    assert!(matches!(
        plan.check_current(&later, HASH, &public),
        Err(StalePlan::Serial { plan: 7, state: 8 })
    ));
    let mut other = s.clone();
    other.lineage = Some("another".into());
    assert!(matches!(
        plan.check_current(&other, HASH, &public),
        Err(StalePlan::Lineage { .. })
    ));
    let err = plan.check_current(&s, "0000", &public).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the manifest changed since the plan was made; plan again"
    );

    // A plan made before the state existed is stale once it does.
    let none = StateSnapshot::default();
    let early = Plan::build(&m, "m.toml", &none, None, &|r| m.endpoint_for(r), at());
    assert_eq!(early.check_current(&none, HASH, &public), Ok(()));
    assert!(early.check_current(&s, HASH, &public).is_err());

    // Orders that would go elsewhere now: refused, naming both endpoints.
    let elsewhere = |_: &Region| "http://127.0.0.1:9".to_owned();
    let err = early.check_current(&none, HASH, &elsewhere).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the plan sends cn-hangzhou's order to https://aiworkspace.cn-hangzhou.aliyuncs.com, but this apply would \
         send it to http://127.0.0.1:9 (--endpoint, --sandbox or the manifest's endpoints differ); plan again with \
         the same options"
    );
}

fn public(region: &Region) -> String {
    format!("https://aiworkspace.{region}.aliyuncs.com")
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
    assert!(matches!(err, PlanFileError::NewerFormat { found: 3, .. }), "{err}");
    // Version 1 had the same fields; its endpoints are checked like any other (`check_current`).
    let mut older: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    older["format_version"] = serde_json::json!(1);
    assert_eq!(Plan::from_json(&older.to_string(), &path).unwrap().orders, plan.orders);
    for text in ["", "[]", r#"{"format_version": 1}"#, "version = 1"] {
        let err = Plan::from_json(text, &path).unwrap_err();
        assert!(matches!(err, PlanFileError::NotAPlan { .. }), "{text}: {err}");
    }
    assert!(matches!(
        Plan::load(&dir.path().join("missing.json")),
        Err(PlanFileError::Io { .. })
    ));
}
