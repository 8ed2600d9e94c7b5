//! Field by field comparison of a recorded request with a desired one, classified by whether
//! the field can change after purchase (see `docs/state.md`, "What is a conflict").

use pai_spec::{ProductRequest, Region};
use serde_json::{json, Value};

use crate::plan::{Effect, FieldChange};

/// Field by field, what differs between a recorded request and a desired one. Instance
/// properties are compared by `Code`, so reordering them is cosmetic.
pub fn field_changes(
    before_region: &Region,
    before: &ProductRequest,
    after_region: &Region,
    after: &ProductRequest,
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let field = |out: &mut Vec<FieldChange>, name: &str, b: Option<Value>, a: Option<Value>, effect: Effect| {
        if b != a {
            out.push(FieldChange {
                field: name.to_owned(),
                before: b,
                after: a,
                effect,
            });
        }
    };
    field(
        &mut out,
        "region",
        Some(json!(before_region)),
        Some(json!(after_region)),
        Effect::Identity,
    );
    field(
        &mut out,
        "ProductCode",
        Some(json!(before.product_code)),
        Some(json!(after.product_code)),
        Effect::Identity,
    );
    field(
        &mut out,
        "ChargeType",
        Some(json!(before.charge_type)),
        Some(json!(after.charge_type)),
        Effect::Immutable,
    );
    field(
        &mut out,
        "OrderType",
        Some(json!(before.order_type)),
        Some(json!(after.order_type)),
        Effect::Immutable,
    );
    field(
        &mut out,
        "Duration",
        Some(json!(before.duration)),
        Some(json!(after.duration)),
        Effect::Immutable,
    );
    field(
        &mut out,
        "PricingCycle",
        before.pricing_cycle.as_ref().map(|v| json!(v)),
        after.pricing_cycle.as_ref().map(|v| json!(v)),
        Effect::Immutable,
    );
    field(
        &mut out,
        "AutoRenew",
        Some(json!(before.auto_renew)),
        Some(json!(after.auto_renew)),
        Effect::Immutable,
    );
    let mut codes: Vec<&str> = before
        .instance_properties
        .iter()
        .chain(&after.instance_properties)
        .map(|p| p.code.as_str())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    for code in codes {
        let b = before.instance_properties.iter().find(|p| p.code == code);
        let a = after.instance_properties.iter().find(|p| p.code == code);
        field(
            &mut out,
            &format!("InstanceProperties[{code}]"),
            b.map(|p| json!(p.value)),
            a.map(|p| json!(p.value)),
            Effect::Immutable,
        );
        if let (Some(b), Some(a)) = (b, a) {
            field(
                &mut out,
                &format!("InstanceProperties[{code}].Name"),
                b.name.as_ref().map(|n| json!(n)),
                a.name.as_ref().map(|n| json!(n)),
                Effect::Cosmetic,
            );
        }
    }
    if out.is_empty() && before.canonical_json() != after.canonical_json() {
        let order = |r: &ProductRequest| json!(r.instance_properties.iter().map(|p| &p.code).collect::<Vec<_>>());
        field(
            &mut out,
            "InstanceProperties order",
            Some(order(before)),
            Some(order(after)),
            Effect::Cosmetic,
        );
    }
    out
}
