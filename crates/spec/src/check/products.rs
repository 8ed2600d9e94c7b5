//! `[products.<address>]`: each entry's keys, its instance properties, the API rules of
//! `CreateProductOrders` (see [`crate::rules`]), and the (region, product code) identity that two addresses may not share.

use std::collections::BTreeMap;

use toml_edit::Item;

use super::{join, values, Checker, Span};
use crate::keys::Section;
use crate::model::{Address, InstanceProperty, Product, ProductCode, ProductRequest, Region};
use crate::rules::{self, Field, Severity};
use crate::suggest;

/// What one entry yielded, enough to check identities even when the entry has errors.
pub(crate) struct Draft {
    name: String,
    address: Option<Address>,
    code: Option<(ProductCode, Option<Span>)>,
    /// The entry's own `region`; `None` takes the provider's.
    region: Option<Region>,
    region_invalid: bool,
    /// Present when the entry has no error.
    request: Option<ProductRequest>,
}

struct PropertyDraft {
    key_span: Option<Span>,
    value_span: Option<Span>,
    property: InstanceProperty,
}

pub(crate) fn check_products(checker: &mut Checker, item: &Item, key_span: Option<Span>) -> Vec<Draft> {
    let Some(table) = values::table(checker, item, "products", key_span) else {
        return Vec::new();
    };
    table
        .iter()
        .map(|(name, entry)| {
            let span = table.key(name).and_then(|k| k.span());
            check_product(checker, name, span, entry)
        })
        .collect()
}

fn check_product(checker: &mut Checker, name: &str, key_span: Option<Span>, item: &Item) -> Draft {
    let path = join("products", name);
    let address = match Address::parse(name) {
        Ok(a) => Some(a),
        Err(_) => {
            let lower = name.to_ascii_lowercase().replace([' ', '.'], "_");
            let near = Address::parse(&lower).ok().map(|a| format!("did you mean `{a}`? "));
            checker.error(
                key_span.clone(),
                format!("invalid address `{name}`"),
                format!(
                    "{}an address is a lower-case letter followed by lower-case letters, digits, `_` or `-`, \
                     at most 64 characters, like `products.dataworks`",
                    near.unwrap_or_default()
                ),
            );
            None
        }
    };
    let mut draft = Draft {
        name: path.clone(),
        address,
        code: None,
        region: None,
        region_invalid: false,
        request: None,
    };
    let Some(table) = values::table(checker, item, &path, key_span.clone()) else {
        return draft;
    };
    let errors_before = checker.errors;
    let mut charge_type = None;
    let mut order_type = None;
    let mut pricing_cycle = None;
    let mut duration = None;
    let mut auto_renew = false;
    let mut properties = Vec::new();
    for (key, value) in table.iter() {
        let span = table.key(key).and_then(|k| k.span());
        let field = join(&path, key);
        match key {
            "code" => draft.code = product_code(checker, value, &field),
            "region" => {
                draft.region = values::region(checker, value, &field);
                draft.region_invalid = draft.region.is_none();
            }
            "charge_type" => charge_type = values::string(checker, value, &field, "charge_type = \"POSTPAY\""),
            "order_type" => order_type = values::string(checker, value, &field, "order_type = \"BUY\""),
            "pricing_cycle" => pricing_cycle = values::string(checker, value, &field, "pricing_cycle = \"Hour\""),
            "duration" => duration = values::integer(checker, value, &field, "duration = 1"),
            "auto_renew" => auto_renew = values::boolean(checker, value, &field).unwrap_or(false),
            "properties" => properties = check_properties(checker, value, &field),
            _ => checker.unknown_key(&path, key, span, Section::Product),
        }
    }
    if table.get("code").is_none() {
        checker.error(
            key_span.clone(),
            format!("`{path}` has no `code`"),
            format!("add `code = \"...\"`, one of: {}", code_list()),
        );
    }
    let Some((code, _)) = draft.code else {
        return draft;
    };
    let given: Vec<InstanceProperty> = properties.iter().map(|p| p.property.clone()).collect();
    let violations = rules::check_product(
        code,
        charge_type.as_ref().map_or("POSTPAY", |(s, _)| s),
        order_type.as_ref().map_or("BUY", |(s, _)| s),
        duration.as_ref().map_or(1, |(d, _)| *d),
        pricing_cycle.as_ref().map(|(s, _)| *s),
        &given,
    );
    for v in violations {
        let (span, hint) = match &v.field {
            Field::ChargeType => (charge_type.as_ref().and_then(|c| c.1.clone()), v.hint),
            Field::OrderType => (order_type.as_ref().and_then(|c| c.1.clone()), v.hint),
            Field::Duration => (duration.as_ref().and_then(|c| c.1.clone()), v.hint),
            Field::PricingCycle => (pricing_cycle.as_ref().and_then(|c| c.1.clone()), v.hint),
            Field::Property(prop) => {
                let found = properties.iter().find(|p| &p.property.code == prop);
                if v.severity == Severity::Warning {
                    let documented: Vec<&str> = rules::documented_properties(code).iter().map(|(c, _)| *c).collect();
                    let near = suggest::did_you_mean(prop, &documented).map(|n| format!("did you mean `{n}`? "));
                    let hint = v.hint.map(|h| format!("{}{h}", near.unwrap_or_default()));
                    (found.and_then(|p| p.key_span.clone()), hint)
                } else {
                    (found.and_then(|p| p.value_span.clone()), v.hint)
                }
            }
        };
        let span = span.or_else(|| key_span.clone());
        match v.severity {
            Severity::Error => checker.error(span, v.message, hint),
            Severity::Warning => checker.warn(span, v.message, hint),
        }
    }
    if checker.errors == errors_before {
        let mut instance_properties = given;
        // Sorted so that reordering a table in the manifest does not change the fingerprint.
        instance_properties.sort_by(|a, b| a.code.cmp(&b.code));
        draft.request = Some(ProductRequest {
            auto_renew,
            charge_type: charge_type.map_or("POSTPAY", |(s, _)| s).to_owned(),
            duration: duration.map_or(1, |(d, _)| d),
            instance_properties,
            order_type: order_type.map_or("BUY", |(s, _)| s).to_owned(),
            pricing_cycle: pricing_cycle
                .map(|(s, _)| s.to_owned())
                .or_else(|| rules::pricing_cycle(code).map(str::to_owned)),
            product_code: code,
        });
    }
    draft
}

fn code_list() -> String {
    ProductCode::ALL
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn product_code(checker: &mut Checker, item: &Item, path: &str) -> Option<(ProductCode, Option<Span>)> {
    let (s, span) = values::string(checker, item, path, "code = \"PAI_share\"")?;
    match ProductCode::parse(s) {
        Some(code) => Some((code, span)),
        None => {
            let codes: Vec<&str> = ProductCode::ALL.iter().map(|c| c.as_str()).collect();
            checker.error(
                span,
                format!("unknown product code `{s}`"),
                suggest::hint(s, &codes, "valid codes"),
            );
            None
        }
    }
}

fn check_properties(checker: &mut Checker, item: &Item, path: &str) -> Vec<PropertyDraft> {
    let mut out = Vec::new();
    let Some(table) = values::table(checker, item, path, item.span()) else {
        return out;
    };
    for (code, value) in table.iter() {
        let key_span = table.key(code).and_then(|k| k.span());
        let field = join(path, code);
        if code.trim().is_empty() {
            checker.error(
                key_span,
                format!("an instance property code in `{path}` is empty"),
                None,
            );
            continue;
        }
        if super::names_role(code) {
            // Sent in InstanceProperties, a role would reach the API from a manifest edit; which
            // role to assume, hence which account, is the fleet file's call alone.
            checker.error(
                key_span,
                format!("`{field}` is not an instance property: roles come only from the fleet file"),
                "the platform team's fleet file gives each account its RAM role (see docs/fleet.md); remove the \
                 property from the manifest"
                    .to_string(),
            );
            continue;
        }
        let property = |value: &str, name: Option<&str>| InstanceProperty {
            code: code.to_owned(),
            name: name.map(str::to_owned),
            value: value.to_owned(),
        };
        if let Some(s) = value.as_str() {
            out.push(PropertyDraft {
                key_span,
                value_span: value.span(),
                property: property(s, None),
            });
            continue;
        }
        let Some(parts) = value.as_table_like() else {
            checker.error(
                value.span(),
                format!(
                    "`{field}` must be a string or a table with `value` and `name`, not {}",
                    values::describe(value)
                ),
                "for example `region = \"cn-shanghai\"` or `ord_time = { value = \"1:Hour\", name = \"1 Hour\" }`"
                    .to_string(),
            );
            continue;
        };
        let mut val = None;
        let mut name = None;
        for (key, part) in parts.iter() {
            let span = parts.key(key).and_then(|k| k.span());
            match key {
                "value" => val = values::string(checker, part, &join(&field, key), "value = \"oss\""),
                "name" => {
                    name = values::string(checker, part, &join(&field, key), "name = \"Object Storage Service\"")
                        .map(|(s, _)| s)
                }
                _ => checker.unknown_key(&field, key, span, Section::Property),
            }
        }
        match val {
            Some((v, value_span)) => out.push(PropertyDraft {
                key_span,
                value_span,
                property: property(v, name),
            }),
            None if parts.get("value").is_none() => checker.error(
                key_span.or_else(|| value.span()),
                format!("`{field}` has no `value`"),
                format!("write `{code} = {{ value = \"...\", name = \"...\" }}` or just `{code} = \"...\"`"),
            ),
            None => {}
        }
    }
    out
}

/// Identities across entries, the empty-manifest warning, and the validated products.
pub(crate) fn finish(
    checker: &mut Checker,
    mut drafts: Vec<Draft>,
    products_span: Option<Span>,
    provider_region: Option<&Region>,
) -> BTreeMap<Address, Product> {
    if drafts.is_empty() && checker.errors == 0 {
        checker.warn(
            products_span,
            "the manifest declares no products",
            "applying it orders nothing and forgets every address recorded in the state".to_string(),
        );
    }
    drafts.sort_by_key(|d| d.code.as_ref().and_then(|(_, s)| s.as_ref().map(|s| s.start)));
    let mut seen: BTreeMap<(Region, ProductCode), (String, Option<usize>)> = BTreeMap::new();
    // An account-wide product's first declaration, whatever its region.
    let mut account_wide: BTreeMap<ProductCode, (String, Region)> = BTreeMap::new();
    let mut products = BTreeMap::new();
    for draft in drafts {
        let region = match (&draft.region, draft.region_invalid) {
            (Some(own), _) => own.clone(),
            (None, false) => match provider_region {
                Some(r) => r.clone(),
                None => continue,
            },
            (None, true) => continue,
        };
        let Some((code, code_span)) = &draft.code else {
            continue;
        };
        match seen.get(&(region.clone(), *code)) {
            Some((first, first_line)) => {
                let at = first_line.map(|l| format!(" (line {l})")).unwrap_or_default();
                checker.error(
                    code_span.clone(),
                    format!("`{}` orders {code} in {region}, as `{first}` does", draft.name),
                    format!(
                        "an activation is identified by (account, region, product code), and `{first}`{at} already \
                         declares this one; remove one of them, or order it through another `region`"
                    ),
                );
                continue;
            }
            None => {
                let line = code_span.as_ref().map(|s| checker.line_of(s.start));
                seen.insert((region.clone(), *code), (draft.name.clone(), line));
            }
        }
        if code.is_account_wide() {
            if let Some((first, first_region)) = account_wide.get(code) {
                checker.error(
                    code_span.clone(),
                    format!(
                        "`{}` orders {code} in {region}, but `{first}` already orders it in {first_region}",
                        draft.name
                    ),
                    "OSS is opened once per account, for every region: two declarations send two orders, and a \
                     service that bills a repeat bills it twice; keep one of them"
                        .to_string(),
                );
                continue;
            }
            account_wide.insert(*code, (draft.name.clone(), region.clone()));
        }
        if let (Some(address), Some(request)) = (draft.address, draft.request) {
            products.insert(
                address.clone(),
                Product {
                    address,
                    region,
                    request,
                },
            );
        }
    }
    products
}
