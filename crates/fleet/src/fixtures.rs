//! A small fleet for the crate's tests: account plans built with `pai_planner::Plan::build`
//! over manifests, states and the cloud's answers made directly (as the planner's own tests do).

use std::collections::BTreeMap;

use pai_planner::{Observation, Observed, Plan};
use pai_spec::ProductCode::{DataWorks, Oss, Pai};
use pai_spec::{Address, Manifest, Product, Provider};
use pai_state::{Origin, Resource, StateSnapshot, Status};
use pai_testkit::fixtures::{documented_product, hangzhou, region};
use time::OffsetDateTime;

use crate::plan::{AccountOutcome, AccountPlan, CompactPlan, FleetPlan};
use crate::shard::Shard;

pub const FLEET_HASH: &str = "4b7f0c2d9e1a3b5c7d9f1e3a5c7b9d0f2e4a6c8b0d2f4e6a8c0b2d4f6e8a0c2b";

pub fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_685_400).unwrap()
}

pub fn manifest(products: &[Product]) -> Manifest {
    Manifest {
        provider: Provider {
            region: hangzhou(),
            auto_pay: true,
            signature: Default::default(),
            profile: None,
            endpoint: None,
            endpoints: BTreeMap::new(),
        },
        products: products.iter().map(|p| (p.address.clone(), p.clone())).collect(),
        source_hash: "9d3a5f0c7e2b4a6d8c1e3f5a7b9d0c2e4f6a8b0d1c3e5f7a9b2d4c6e8f0a1b3c".into(),
        state: None,
    }
}

/// `p` recorded active, as an apply that ordered it leaves it.
pub fn active(p: &Product) -> Resource {
    Resource {
        address: p.address.clone(),
        region: p.region.clone(),
        product_code: p.code(),
        status: Status::Active,
        origin: Origin::Ordered,
        fingerprint: p.fingerprint(),
        request: p.request.clone(),
        order_id: Some("212000000001".into()),
        product_ids: vec![format!("pid-{}", p.address)],
        buy_product_request_id: None,
        request_id: Some("4F1B1B5A-0C4E-4D8E-9F55-0D5C3E4B7A21".into()),
        last_error: None,
        run_id: Some(3),
        created_at: "2026-11-20T08:00:00Z".into(),
        updated_at: "2026-11-25T10:00:00Z".into(),
        settle_until: None,
        reorders: 0,
    }
}

pub fn state(records: &[Resource]) -> StateSnapshot {
    StateSnapshot {
        lineage: (!records.is_empty()).then(|| "6f1c2a8e-3b1d-4c55-9a0e-2f7d8b9c0a11".into()),
        serial: records.len() as u64,
        resources: records.iter().map(|r| (r.address.clone(), r.clone())).collect(),
        freeze: None,
    }
}

/// The cloud's answer for each product: purchased or not.
pub fn seen(answers: &[(&Product, bool)]) -> Observation {
    let mut obs = Observation::new();
    for (p, purchased) in answers {
        obs.insert(
            p.region.clone(),
            p.code(),
            Observed {
                purchased: *purchased,
                product_id: purchased.then(|| format!("pid-{}", p.address)),
                has_permission: Some(true),
                purchase_url: None,
            },
        );
    }
    obs
}

/// A refreshed plan of `m` against `s` with the cloud's answers `obs`.
pub fn plan(m: &Manifest, s: &StateSnapshot, obs: &Observation) -> Plan {
    let mut plan = Plan::build(m, "manifests/pai.toml", s, Some(obs), &|r| m.endpoint_for(r), at());
    plan.tool_version = "0.0.0-test".into();
    plan
}

pub fn pai() -> Product {
    documented_product("pai", Pai, "cn-hangzhou")
}

pub fn oss() -> Product {
    documented_product("oss", Oss, "cn-hangzhou")
}

pub fn dataworks() -> Product {
    documented_product("dataworks", DataWorks, "cn-hangzhou")
}

/// New account: PAI and OSS to order.
pub fn fresh_account() -> Plan {
    let (pai, oss) = (pai(), oss());
    plan(
        &manifest(&[pai.clone(), oss.clone()]),
        &state(&[]),
        &seen(&[(&pai, false), (&oss, false)]),
    )
}

/// PAI active and purchased: nothing to do.
pub fn settled_account() -> Plan {
    let pai = pai();
    plan(
        &manifest(std::slice::from_ref(&pai)),
        &state(&[active(&pai)]),
        &seen(&[(&pai, true)]),
    )
}

/// DataWorks active, and the manifest now wants it renewed: a conflict; OSS purchased
/// outside the tool: adopted.
pub fn conflicted_account() -> Plan {
    let (dw, oss) = (dataworks(), oss());
    let mut renewing = dw.clone();
    renewing.request.auto_renew = true;
    plan(
        &manifest(&[renewing, oss.clone()]),
        &state(&[active(&dw)]),
        &seen(&[(&dw, true), (&oss, true)]),
    )
}

/// The account's plan made for its own state under `fleet/fleet.states` and its own id, as a
/// fleet plan makes it.
pub fn account(name: &str, id: &str, tags: &[&str], outcome: AccountOutcome) -> AccountPlan {
    let outcome = match outcome {
        AccountOutcome::Planned { plan } => planned(plan.decode().unwrap().made_for(
            false,
            format!("fleet/fleet.states/{id}.db"),
            Some(id.to_owned()),
        )),
        not_planned => not_planned,
    };
    AccountPlan {
        name: Address::parse(name).unwrap(),
        id: id.to_owned(),
        role_arn: format!("acs:ram::{id}:role/pai-provision"),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        regions: vec![hangzhou(), region("cn-shanghai")],
        manifest_path: "manifests/pai.toml".into(),
        outcome,
    }
}

pub fn planned(plan: Plan) -> AccountOutcome {
    AccountOutcome::Planned {
        plan: CompactPlan::encode(&plan).unwrap(),
    }
}

pub fn not_planned(reason: &str) -> AccountOutcome {
    AccountOutcome::NotPlanned { reason: reason.into() }
}

/// Five accounts: one to order in, two settled, one with a conflict, one not planned (whose
/// reason carries a terminal escape, as a server's answer could).
pub fn small_fleet() -> FleetPlan {
    let accounts = vec![
        account("team-b", "1000000000000002", &["prod"], planned(settled_account())),
        account("team-a", "1000000000000001", &["canary"], planned(fresh_account())),
        account("team-e", "1000000000000005", &[], planned(settled_account())),
        account("team-c", "1000000000000003", &["prod"], planned(conflicted_account())),
        account(
            "team-d",
            "1000000000000004",
            &["prod"],
            not_planned("AssumeRole refused: NoPermission: You are not authorized to assume this role \u{1b}[31m"),
        ),
    ];
    let mut fleet = FleetPlan::new(
        "fleet/fleet.toml",
        FLEET_HASH.into(),
        false,
        "fleet/fleet.states".into(),
        Some(Shard::new(1, 2).unwrap()),
        accounts,
        at(),
    );
    fleet.tool_version = "0.0.0-test".into();
    fleet
}
