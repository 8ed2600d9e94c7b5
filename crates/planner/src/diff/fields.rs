//! Field by field comparison of a recorded request with a desired one, classified by whether
//! the field can change after purchase (see `docs/state.md`, "What is a conflict").

use pai_spec::{ProductRequest, Region};
use serde_json::{json, Value};

use crate::change::{Effect, FieldChange};

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
    for ((name, b, effect), (_, a, _)) in scalar_fields(before).into_iter().zip(scalar_fields(after)) {
        field(&mut out, name, b, a, effect);
    }
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

/// Every field of a request but its instance properties (compared by `Code` above), in the
/// order they are reported, with what changing it means. The request is destructured without
/// `..`: a field added to [`ProductRequest`] does not compile until it is classified here.
fn scalar_fields(request: &ProductRequest) -> [(&'static str, Option<Value>, Effect); 6] {
    let ProductRequest {
        auto_renew,
        charge_type,
        duration,
        instance_properties: _,
        order_type,
        pricing_cycle,
        product_code,
    } = request;
    [
        ("ProductCode", Some(json!(product_code)), Effect::Identity),
        ("ChargeType", Some(json!(charge_type)), Effect::Immutable),
        ("OrderType", Some(json!(order_type)), Effect::Immutable),
        ("Duration", Some(json!(duration)), Effect::Immutable),
        (
            "PricingCycle",
            pricing_cycle.as_ref().map(|v| json!(v)),
            Effect::Immutable,
        ),
        ("AutoRenew", Some(json!(auto_renew)), Effect::Immutable),
    ]
}

#[cfg(test)]
mod tests {
    use pai_spec::ProductCode;

    use super::*;
    use pai_testkit::fixtures::{documented_request, region};

    #[test]
    fn each_field_is_reported_with_its_effect() {
        let base = documented_request(ProductCode::Oss, "cn-hangzhou");
        let hz = region("cn-hangzhou");
        type Edit = fn(&mut ProductRequest);
        let cases: [(Edit, &str, Effect); 6] = [
            (|r| r.product_code = ProductCode::Pai, "ProductCode", Effect::Identity),
            (|r| r.charge_type = "PREPAY".into(), "ChargeType", Effect::Immutable),
            (|r| r.order_type = "UPGRADE".into(), "OrderType", Effect::Immutable),
            (|r| r.duration = 2, "Duration", Effect::Immutable),
            (|r| r.pricing_cycle = None, "PricingCycle", Effect::Immutable),
            (|r| r.auto_renew = !r.auto_renew, "AutoRenew", Effect::Immutable),
        ];
        for (edit, name, effect) in cases {
            let mut after = base.clone();
            edit(&mut after);
            let changes = field_changes(&hz, &base, &hz, &after);
            let got: Vec<(&str, Effect)> = changes.iter().map(|c| (c.field.as_str(), c.effect)).collect();
            assert_eq!(got, [(name, effect)], "{name}");
        }
        assert!(field_changes(&hz, &base, &hz, &base).is_empty());
        let moved = field_changes(&hz, &base, &region("cn-shanghai"), &base);
        assert_eq!(moved.len(), 1);
        assert_eq!((moved[0].field.as_str(), moved[0].effect), ("region", Effect::Identity));
    }
}
