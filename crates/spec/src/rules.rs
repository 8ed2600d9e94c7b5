//! The documented rules of `CreateProductOrders` (see `docs/manifest.md`), as pure checks on a
//! request element. The manifest validator maps each violation to a source span; the emulator
//! answers them with `InvalidParameter` errors.

use crate::model::{InstanceProperty, ProductCode, Region};

/// Which field a [`Violation`] is about, so callers can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    ChargeType,
    OrderType,
    Duration,
    PricingCycle,
    /// An `InstanceProperties` element, by its `Code`.
    Property(String),
}

impl Field {
    /// The wire name, as in `InvalidParameter` messages (`Products.1.ChargeType`).
    pub fn wire_name(&self) -> String {
        match self {
            Field::ChargeType => "ChargeType".into(),
            Field::OrderType => "OrderType".into(),
            Field::Duration => "Duration".into(),
            Field::PricingCycle => "PricingCycle".into(),
            Field::Property(code) => format!("InstanceProperties[{code}]"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: Field,
    pub severity: Severity,
    pub message: String,
    /// What would be valid, for the diagnostic's help line.
    pub hint: Option<String>,
}

/// What a documented instance property's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyValue {
    /// A region id such as `cn-shanghai`.
    Region,
    Exactly(&'static str),
}

pub const CHARGE_TYPES: &[&str] = &["POSTPAY"];
pub const ORDER_TYPES: &[&str] = &["BUY"];
pub const DURATIONS: &[i64] = &[1];

/// The pricing cycle a product takes; `None` for PAI_share, which takes none.
pub fn pricing_cycle(code: ProductCode) -> Option<&'static str> {
    match code {
        ProductCode::DataWorks => Some("Month"),
        ProductCode::MaxCompute | ProductCode::Oss => Some("Hour"),
        ProductCode::Pai => None,
    }
}

/// The documented `InstanceProperties` of each product (API reference, CreateProductOrders).
pub fn documented_properties(code: ProductCode) -> &'static [(&'static str, PropertyValue)] {
    match code {
        ProductCode::DataWorks => &[("region", PropertyValue::Region)],
        ProductCode::Oss => &[
            ("commodity_type", PropertyValue::Exactly("oss")),
            ("ord_time", PropertyValue::Exactly("1:Hour")),
        ],
        ProductCode::MaxCompute => &[
            ("region", PropertyValue::Region),
            ("odps_specification_type", PropertyValue::Exactly("OdpsStandard")),
            ("ord_time", PropertyValue::Exactly("1:Hour")),
        ],
        ProductCode::Pai => &[],
    }
}

fn error(field: Field, message: String, hint: Option<String>) -> Violation {
    Violation {
        field,
        severity: Severity::Error,
        message,
        hint,
    }
}

/// Every rule of `CreateProductOrders` on one product element (`docs/manifest.md`). Empty means valid.
pub fn check_product(
    code: ProductCode,
    charge_type: &str,
    order_type: &str,
    duration: i64,
    pricing: Option<&str>,
    properties: &[InstanceProperty],
) -> Vec<Violation> {
    let mut out = Vec::new();
    if !CHARGE_TYPES.contains(&charge_type) {
        out.push(error(
            Field::ChargeType,
            format!("ChargeType `{charge_type}` is not supported"),
            Some("the only valid value is `POSTPAY`".into()),
        ));
    }
    if !ORDER_TYPES.contains(&order_type) {
        out.push(error(
            Field::OrderType,
            format!("OrderType `{order_type}` is not supported"),
            Some("the only valid value is `BUY`".into()),
        ));
    }
    if !DURATIONS.contains(&duration) {
        out.push(error(
            Field::Duration,
            format!("Duration {duration} is not supported"),
            Some("the only valid value is 1".into()),
        ));
    }
    match (pricing_cycle(code), pricing) {
        (Some(want), Some(got)) if want != got => out.push(error(
            Field::PricingCycle,
            format!("PricingCycle `{got}` is not valid for {code}"),
            Some(format!("{code} takes `{want}`")),
        )),
        (None, Some(got)) => out.push(error(
            Field::PricingCycle,
            format!("PricingCycle `{got}` is not valid for {code}"),
            Some(format!("{code} takes no pricing cycle; remove it")),
        )),
        _ => {}
    }
    let documented = documented_properties(code);
    for prop in properties {
        match documented.iter().find(|(c, _)| *c == prop.code) {
            None => {
                let known: Vec<&str> = documented.iter().map(|(c, _)| *c).collect();
                out.push(Violation {
                    field: Field::Property(prop.code.clone()),
                    severity: Severity::Warning,
                    message: format!("instance property `{}` is not documented for {code}", prop.code),
                    hint: Some(if known.is_empty() {
                        format!("{code} documents no instance properties")
                    } else {
                        format!("documented for {code}: {}", known.join(", "))
                    }),
                })
            }
            Some((_, PropertyValue::Exactly(want))) if prop.value != *want => out.push(error(
                Field::Property(prop.code.clone()),
                format!(
                    "instance property `{}` must be `{want}` for {code}, not `{}`",
                    prop.code, prop.value
                ),
                Some(format!("use `{want}`")),
            )),
            Some((_, PropertyValue::Region)) if Region::parse(&prop.value).is_err() => out.push(error(
                Field::Property(prop.code.clone()),
                format!(
                    "instance property `{}` must be a region id, not `{}`",
                    prop.code, prop.value
                ),
                Some("for example `cn-hangzhou`".into()),
            )),
            _ => {}
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for prop in properties {
        if !seen.insert(prop.code.as_str()) {
            out.push(error(
                Field::Property(prop.code.clone()),
                format!("instance property `{}` is given twice", prop.code),
                None,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(code: &str, value: &str) -> InstanceProperty {
        InstanceProperty {
            code: code.into(),
            name: None,
            value: value.into(),
        }
    }

    /// (code, charge type, order type, duration, pricing cycle, properties, expected (field, severity)).
    type Case<'a> = (
        ProductCode,
        &'a str,
        &'a str,
        i64,
        Option<&'a str>,
        Vec<InstanceProperty>,
        &'a [(&'a str, Severity)],
    );

    #[test]
    fn table() {
        use ProductCode::*;
        let cases: &[Case] = &[
            (
                DataWorks,
                "POSTPAY",
                "BUY",
                1,
                Some("Month"),
                vec![prop("region", "cn-shanghai")],
                &[],
            ),
            (Pai, "POSTPAY", "BUY", 1, None, vec![], &[]),
            (
                Oss,
                "POSTPAY",
                "BUY",
                1,
                Some("Hour"),
                vec![prop("commodity_type", "oss"), prop("ord_time", "1:Hour")],
                &[],
            ),
            (
                Pai,
                "PREPAY",
                "BUY",
                1,
                None,
                vec![],
                &[("ChargeType", Severity::Error)],
            ),
            (
                Pai,
                "POSTPAY",
                "RENEW",
                1,
                None,
                vec![],
                &[("OrderType", Severity::Error)],
            ),
            (Pai, "POSTPAY", "BUY", 2, None, vec![], &[("Duration", Severity::Error)]),
            (
                Pai,
                "POSTPAY",
                "BUY",
                1,
                Some("Hour"),
                vec![],
                &[("PricingCycle", Severity::Error)],
            ),
            (
                DataWorks,
                "POSTPAY",
                "BUY",
                1,
                Some("Hour"),
                vec![],
                &[("PricingCycle", Severity::Error)],
            ),
            (
                Oss,
                "POSTPAY",
                "BUY",
                1,
                Some("Hour"),
                vec![prop("commodity_type", "s3")],
                &[("InstanceProperties[commodity_type]", Severity::Error)],
            ),
            (
                Pai,
                "POSTPAY",
                "BUY",
                1,
                None,
                vec![prop("colour", "red")],
                &[("InstanceProperties[colour]", Severity::Warning)],
            ),
            (
                MaxCompute,
                "POSTPAY",
                "BUY",
                1,
                Some("Hour"),
                vec![prop("region", "Hangzhou")],
                &[("InstanceProperties[region]", Severity::Error)],
            ),
            (
                DataWorks,
                "POSTPAY",
                "BUY",
                1,
                Some("Month"),
                vec![prop("region", "cn-shanghai"), prop("region", "cn-beijing")],
                &[("InstanceProperties[region]", Severity::Error)],
            ),
        ];
        for (code, ct, ot, d, pc, props, want) in cases {
            let got: Vec<(String, Severity)> = check_product(*code, ct, ot, *d, *pc, props)
                .into_iter()
                .map(|v| (v.field.wire_name(), v.severity))
                .collect();
            let want: Vec<(String, Severity)> = want.iter().map(|(f, s)| (f.to_string(), *s)).collect();
            assert_eq!(got, want, "{code} {ct} {ot} {d} {pc:?}");
        }
    }
}
