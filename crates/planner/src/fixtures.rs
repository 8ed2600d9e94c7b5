//! Values for the crate's own tests: manifests, records and observations built directly.
//! Regions, addresses and products come from `pai_testkit::fixtures`, shared with the other
//! crates' tests; what is here is the planner's alone.

use std::collections::BTreeMap;

use pai_spec::{Manifest, Product, Provider};
use pai_testkit::fixtures::hangzhou;

use crate::observe::{Observation, Observed};
use pai_state::{Origin, Resource, StateSnapshot, Status};

pub const LINEAGE: &str = "6f1c2a8e-3b1d-4c55-9a0e-2f7d8b9c0a11";
pub const HASH: &str = "9d3a5f0c7e2b4a6d8c1e3f5a7b9d0c2e4f6a8b0d1c3e5f7a9b2d4c6e8f0a1b3c";

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
        source_hash: HASH.into(),
        state: None,
    }
}

/// How `product` would be recorded with `status`.
pub fn record(p: &Product, status: Status) -> Resource {
    let ordered = status == Status::Active;
    // An unpaid order was answered with its ids; nothing is bought yet.
    let placed = ordered || status == Status::Unpaid;
    Resource {
        address: p.address.clone(),
        region: p.region.clone(),
        product_code: p.code(),
        status,
        origin: Origin::Ordered,
        fingerprint: p.fingerprint(),
        request: p.request.clone(),
        order_id: placed.then(|| format!("2120{:08}", p.address.as_str().len() * 7919)),
        product_ids: if ordered {
            vec![format!("{}-{}", p.code().as_str().to_lowercase(), p.address)]
        } else {
            vec![]
        },
        buy_product_request_id: None,
        request_id: placed.then(|| "4F1B1B5A-0C4E-4D8E-9F55-0D5C3E4B7A21".into()),
        last_error: (status == Status::Failed)
            .then(|| "HTTP 400 InvalidParameter: Products.1.PricingCycle is invalid".into()),
        run_id: Some(3),
        created_at: "2026-11-20T08:00:00Z".into(),
        updated_at: "2026-11-25T10:00:00Z".into(),
        settle_until: None,
        reorders: 0,
    }
}

pub fn state(records: &[Resource]) -> StateSnapshot {
    StateSnapshot {
        lineage: Some(LINEAGE.into()),
        serial: 7,
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
