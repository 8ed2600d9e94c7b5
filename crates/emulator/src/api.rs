//! The two AIWorkSpace calls, as pure functions: validate a CreateProductOrders body against
//! every documented rule of the API (`pai_spec::rules`, listed in `docs/manifest.md`), and answer
//! ListProducts from the ledger.

use pai_spec::rules::{self, Severity};
use pai_spec::{InstanceProperty, ProductCode, Region};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::ledger::Ledger;

/// What the real service answers in `Message` on success (the API reference's example).
pub const SUCCESS_MESSAGE: &str = "正常";

const BODY_KEYS: &[&str] = &["AutoPay", "Products"];
const PRODUCT_KEYS: &[&str] = &[
    "AutoRenew",
    "ChargeType",
    "Duration",
    "InstanceProperties",
    "OrderType",
    "PricingCycle",
    "ProductCode",
];
const PROPERTY_KEYS: &[&str] = &["Code", "Name", "Value"];

/// A CreateProductOrders body that passed every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidOrder {
    /// `AutoPay` absent means false, as the API's optional boolean does.
    pub auto_pay: bool,
    pub codes: Vec<ProductCode>,
    pub body: Value,
}

fn all_codes() -> String {
    ProductCode::ALL.map(|c| c.as_str()).join(", ")
}

fn check_keys(obj: &Map<String, Value>, known: &[&str], prefix: &str) -> Result<(), ApiError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::invalid_parameter(
            &format!("{prefix}{k}"),
            format!(
                "not a parameter of CreateProductOrders here; expected one of {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// `null` is treated as absent, as the SDK omits unset fields and a hand-written client may not.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str, name: &str, required: bool) -> Result<Option<&'a str>, ApiError> {
    match field(obj, key) {
        None if required => Err(ApiError::missing_parameter(name)),
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::invalid_parameter(
            name,
            format!("must be a string, not {other}"),
        )),
    }
}

fn boolean(obj: &Map<String, Value>, key: &str, name: &str) -> Result<bool, ApiError> {
    match field(obj, key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid_parameter(
            name,
            format!("must be true or false, not {other}"),
        )),
    }
}

/// Validate a CreateProductOrders body. The first violation is answered, as the service does.
pub fn validate_order(body: &[u8], content_type: Option<&str>) -> Result<ValidOrder, ApiError> {
    let json_type = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json_type {
        return Err(ApiError::invalid_parameter(
            "Content-Type",
            "CreateProductOrders takes a JSON body (application/json)",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_parameter("body", format!("not valid JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::invalid_parameter("body", "must be a JSON object"))?;
    check_keys(obj, BODY_KEYS, "")?;
    let auto_pay = boolean(obj, "AutoPay", "AutoPay")?;
    let products = match field(obj, "Products") {
        None => return Err(ApiError::missing_parameter("Products")),
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(ApiError::invalid_parameter(
                "Products",
                "must name at least one product",
            ))
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::invalid_parameter(
                "Products",
                format!("must be an array, not {other}"),
            ))
        }
    };
    let mut codes: Vec<ProductCode> = Vec::new();
    for (i, item) in products.iter().enumerate() {
        let prefix = format!("Products.{}.", i + 1);
        let code = validate_product(item, &prefix)?;
        if codes.contains(&code) {
            return Err(ApiError::invalid_parameter(
                &format!("{prefix}ProductCode"),
                format!("{code} is given more than once in one order"),
            ));
        }
        codes.push(code);
    }
    Ok(ValidOrder {
        auto_pay,
        codes,
        body: value,
    })
}

fn validate_product(item: &Value, prefix: &str) -> Result<ProductCode, ApiError> {
    let name = |key: &str| format!("{prefix}{key}");
    let obj = item
        .as_object()
        .ok_or_else(|| ApiError::invalid_parameter(prefix.trim_end_matches('.'), "must be an object"))?;
    check_keys(obj, PRODUCT_KEYS, prefix)?;
    let code_str = string(obj, "ProductCode", &name("ProductCode"), true)?.unwrap_or_default();
    let code = ProductCode::parse(code_str).ok_or_else(|| {
        ApiError::invalid_parameter(
            &name("ProductCode"),
            format!("`{code_str}` is not a product code; valid: {}", all_codes()),
        )
    })?;
    let charge_type = string(obj, "ChargeType", &name("ChargeType"), true)?.unwrap_or_default();
    let order_type = string(obj, "OrderType", &name("OrderType"), true)?.unwrap_or_default();
    let duration = match field(obj, "Duration") {
        None => return Err(ApiError::missing_parameter(&name("Duration"))),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::invalid_parameter(&name("Duration"), format!("must be an integer, not {v}")))?,
    };
    boolean(obj, "AutoRenew", &name("AutoRenew"))?;
    let pricing = string(obj, "PricingCycle", &name("PricingCycle"), false)?;
    if let (Some(want), None) = (rules::pricing_cycle(code), pricing) {
        return Err(ApiError::invalid_parameter(
            &name("PricingCycle"),
            format!("{code} is billed by the {want}; PricingCycle `{want}` is required"),
        ));
    }
    let properties = match field(obj, "InstanceProperties") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, p)| property(p, &format!("{prefix}InstanceProperties.{}.", j + 1)))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(ApiError::invalid_parameter(
                &name("InstanceProperties"),
                format!("must be an array, not {other}"),
            ))
        }
    };
    let violations = rules::check_product(code, charge_type, order_type, duration, pricing, &properties);
    // Undocumented properties are warnings in the manifest; the service ignores them.
    if let Some(v) = violations.into_iter().find(|v| v.severity == Severity::Error) {
        let detail = match v.hint {
            Some(hint) => format!("{}; {hint}", v.message),
            None => v.message,
        };
        return Err(ApiError::invalid_parameter(&name(&v.field.wire_name()), detail));
    }
    Ok(code)
}

fn property(item: &Value, prefix: &str) -> Result<InstanceProperty, ApiError> {
    let obj = item
        .as_object()
        .ok_or_else(|| ApiError::invalid_parameter(prefix.trim_end_matches('.'), "must be an object"))?;
    check_keys(obj, PROPERTY_KEYS, prefix)?;
    let get = |key: &str, required: bool| string(obj, key, &format!("{prefix}{key}"), required);
    Ok(InstanceProperty {
        code: get("Code", true)?.unwrap_or_default().to_owned(),
        name: get("Name", false)?.map(str::to_owned),
        value: get("Value", true)?.unwrap_or_default().to_owned(),
    })
}

/// The query of ListProducts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub codes: Vec<ProductCode>,
    pub services: Vec<String>,
    pub verbose: bool,
}

fn comma_list(query: &[(String, String)], key: &str) -> Option<Vec<String>> {
    query.iter().find(|(k, _)| k == key).map(|(_, v)| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// Parse `ProductCodes=A,B&ServiceCodes=..&Verbose=true`. No `ProductCodes` asks for every
/// product; an unknown code is an error, not silently dropped.
pub fn parse_list_query(query: &[(String, String)]) -> Result<ListQuery, ApiError> {
    let codes = match comma_list(query, "ProductCodes") {
        None => ProductCode::ALL.to_vec(),
        Some(names) => {
            let mut codes = Vec::new();
            for n in names {
                let code = ProductCode::parse(&n).ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "ProductCodes",
                        format!("`{n}` is not a product code; valid: {}", all_codes()),
                    )
                })?;
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
            codes
        }
    };
    let services = comma_list(query, "ServiceCodes").unwrap_or_default();
    // The Python SDK sends `str(True)`, i.e. `True`.
    let verbose = match query.iter().find(|(k, _)| k == "Verbose").map(|(_, v)| v.as_str()) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ApiError::invalid_parameter(
                "Verbose",
                format!("must be true or false, not `{v}`"),
            ))
        }
    };
    Ok(ListQuery {
        codes,
        services,
        verbose,
    })
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ProductStatus {
    pub product_code: ProductCode,
    pub is_purchased: bool,
    pub has_permission_to_purchase: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_url: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceStatus {
    pub service_code: String,
    pub is_open: bool,
    pub open_url: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListProductsResponse {
    pub request_id: String,
    pub products: Vec<ProductStatus>,
    pub services: Vec<ServiceStatus>,
}

/// Answer ListProducts for one region from the ledger.
pub fn list_products(q: &ListQuery, region: &Region, ledger: &Ledger, request_id: String) -> ListProductsResponse {
    let products = q
        .codes
        .iter()
        .map(|&code| {
            let purchase = ledger.purchase(region, code);
            ProductStatus {
                product_code: code,
                is_purchased: purchase.is_some(),
                has_permission_to_purchase: true,
                product_id: purchase.map(|p| p.product_id.clone()),
                purchase_url: q
                    .verbose
                    .then(|| format!("https://common-buy.aliyun.com/?commodityCode={code}&regionId={region}")),
            }
        })
        .collect();
    // A service counts as open when a product of its family (`PAI` for `PAI_share`) is active.
    let services = q
        .services
        .iter()
        .map(|svc| ServiceStatus {
            service_code: svc.clone(),
            is_open: ledger.purchased.iter().any(|p| {
                &p.region == region
                    && p.product_code
                        .as_str()
                        .split('_')
                        .next()
                        .is_some_and(|family| family.eq_ignore_ascii_case(svc))
            }),
            open_url: format!("https://common-buy.aliyun.com/?commodityCode={svc}&regionId={region}"),
        })
        .collect();
    ListProductsResponse {
        request_id,
        products,
        services,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateProductOrdersResponse {
    pub request_id: String,
    pub order_id: String,
    pub message: String,
    pub buy_product_request_id: String,
    pub product_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Order;

    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    fn check(body: &str) -> Result<ValidOrder, (String, String)> {
        validate_order(body.as_bytes(), JSON).map_err(|e| (e.code, e.message))
    }

    #[test]
    fn accepts_what_the_sdk_sends() {
        // The bodies of the official SDK's signing vectors.
        let ok = [
            r#"{"AutoPay":true,"Products":[{"AutoRenew":true,"ChargeType":"POSTPAY","Duration":1,"InstanceProperties":[{"Code":"region","Value":"cn-shanghai"}],"OrderType":"BUY","PricingCycle":"Month","ProductCode":"DataWorks_share"}]}"#,
            r#"{"AutoPay":true,"Products":[{"ProductCode":"OSS_share","ChargeType":"POSTPAY","OrderType":"BUY","PricingCycle":"Hour","Duration":1,"InstanceProperties":[{"Code":"commodity_type","Name":"对象存储OSS","Value":"oss"},{"Code":"ord_time","Name":"1 Hour","Value":"1:Hour"}]}]}"#,
            r#"{"AutoPay":false,"Products":[{"ProductCode":"PAI_share","ChargeType":"POSTPAY","OrderType":"BUY","Duration":1,"InstanceProperties":[]},{"ProductCode":"MaxCompute_share","ChargeType":"POSTPAY","OrderType":"BUY","Duration":1,"PricingCycle":"Hour","InstanceProperties":[{"Code":"region","Value":"cn-hangzhou"},{"Code":"odps_specification_type","Value":"OdpsStandard"},{"Code":"ord_time","Value":"1:Hour"}]}]}"#,
            r#"{"Products":[{"ProductCode":"PAI_share","ChargeType":"POSTPAY","OrderType":"BUY","Duration":1,"PricingCycle":null,"InstanceProperties":[{"Code":"colour","Value":"red"}]}]}"#,
        ];
        let codes: Vec<Vec<ProductCode>> = ok.iter().map(|b| check(b).unwrap().codes).collect();
        assert_eq!(
            codes,
            vec![
                vec![ProductCode::DataWorks],
                vec![ProductCode::Oss],
                vec![ProductCode::Pai, ProductCode::MaxCompute],
                vec![ProductCode::Pai]
            ]
        );
        assert!(check(ok[0]).unwrap().auto_pay);
        assert!(!check(ok[3]).unwrap().auto_pay, "AutoPay defaults to false");
    }

    #[test]
    fn rejects_every_rule_violation() {
        let pai = |extra: &str| {
            format!(
                r#"{{"AutoPay":true,"Products":[{{"ProductCode":"PAI_share","ChargeType":"POSTPAY","OrderType":"BUY","Duration":1{extra}}}]}}"#
            )
        };
        let oss = |props: &str| {
            format!(
                r#"{{"AutoPay":true,"Products":[{{"ProductCode":"OSS_share","ChargeType":"POSTPAY","OrderType":"BUY","Duration":1,"PricingCycle":"Hour","InstanceProperties":[{props}]}}]}}"#
            )
        };
        let cases: Vec<(String, &str, &str)> = vec![
            ("not json".into(), "InvalidParameter", "`body`"),
            ("[]".into(), "InvalidParameter", "`body`"),
            (r#"{"AutoPay":true}"#.into(), "MissingParameter", "`Products`"),
            (
                r#"{"AutoPay":true,"Products":[]}"#.into(),
                "InvalidParameter",
                "`Products`",
            ),
            (
                r#"{"AutoPay":"yes","Products":[]}"#.into(),
                "InvalidParameter",
                "`AutoPay`",
            ),
            (
                r#"{"AutoPay":true,"Products":[],"Extra":1}"#.into(),
                "InvalidParameter",
                "`Extra`",
            ),
            (
                r#"{"Products":[{"ChargeType":"POSTPAY","OrderType":"BUY","Duration":1}]}"#.into(),
                "MissingParameter",
                "`Products.1.ProductCode`",
            ),
            (
                r#"{"Products":[{"ProductCode":"ECS_share","ChargeType":"POSTPAY","OrderType":"BUY","Duration":1}]}"#
                    .into(),
                "InvalidParameter",
                "`Products.1.ProductCode`",
            ),
            (
                pai(r#","ChargeType":"PREPAY""#).replace(r#""ChargeType":"POSTPAY","#, ""),
                "InvalidParameter",
                "`Products.1.ChargeType`",
            ),
            (
                pai("").replace(r#""OrderType":"BUY","#, r#""OrderType":"RENEW","#),
                "InvalidParameter",
                "`Products.1.OrderType`",
            ),
            (
                pai("").replace(r#","Duration":1"#, r#","Duration":2"#),
                "InvalidParameter",
                "`Products.1.Duration`",
            ),
            (
                pai("").replace(r#","Duration":1"#, r#","Duration":"1""#),
                "InvalidParameter",
                "`Products.1.Duration`",
            ),
            (
                pai("").replace(r#","Duration":1"#, ""),
                "MissingParameter",
                "`Products.1.Duration`",
            ),
            (
                pai(r#","PricingCycle":"Hour""#),
                "InvalidParameter",
                "`Products.1.PricingCycle`",
            ),
            (
                pai(r#","AutoRenew":"true""#),
                "InvalidParameter",
                "`Products.1.AutoRenew`",
            ),
            (pai(r#","Colour":"red""#), "InvalidParameter", "`Products.1.Colour`"),
            (
                oss(r#"{"Code":"commodity_type","Value":"s3"}"#),
                "InvalidParameter",
                "`Products.1.InstanceProperties[commodity_type]`",
            ),
            (
                oss(r#"{"Code":"ord_time"}"#),
                "MissingParameter",
                "`Products.1.InstanceProperties.1.Value`",
            ),
            (
                oss(r#"{"Code":"ord_time","Value":"1:Hour"},{"Code":"ord_time","Value":"1:Hour"}"#),
                "InvalidParameter",
                "`Products.1.InstanceProperties[ord_time]`",
            ),
            (
                oss("").replace(r#","PricingCycle":"Hour""#, ""),
                "InvalidParameter",
                "`Products.1.PricingCycle`",
            ),
            (
                format!(
                    r#"{{"AutoPay":true,"Products":[{0},{0}]}}"#,
                    r#"{"ProductCode":"PAI_share","ChargeType":"POSTPAY","OrderType":"BUY","Duration":1}"#
                ),
                "InvalidParameter",
                "`Products.2.ProductCode`",
            ),
        ];
        for (body, code, field) in cases {
            let (got_code, message) = check(&body).expect_err(&body);
            assert_eq!(got_code, code, "{body}: {message}");
            assert!(message.contains(field), "{body}: {message} should name {field}");
        }
        let e = validate_order(br#"{"Products":[]}"#, Some("text/plain")).unwrap_err();
        assert!(e.message.contains("Content-Type"), "{}", e.message);
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn list_query() {
        let all = parse_list_query(&[]).unwrap();
        assert_eq!(all.codes, ProductCode::ALL.to_vec());
        assert!(!all.verbose);
        let some = parse_list_query(&q(&[
            ("ProductCodes", "PAI_share, OSS_share,PAI_share"),
            ("Verbose", "True"),
            ("ServiceCodes", "PAI"),
        ]))
        .unwrap();
        assert_eq!(some.codes, vec![ProductCode::Pai, ProductCode::Oss]);
        assert!(some.verbose);
        assert_eq!(some.services, vec!["PAI".to_string()]);
        assert_eq!(
            parse_list_query(&q(&[("ProductCodes", "PAI")])).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(
            parse_list_query(&q(&[("Verbose", "yes")])).unwrap_err().code,
            "InvalidParameter"
        );
    }

    #[test]
    fn list_reports_the_ledger_per_region() {
        let hz = Region::parse("cn-hangzhou").unwrap();
        let sh = Region::parse("cn-shanghai").unwrap();
        let mut ledger = Ledger::default();
        ledger.record(Order {
            account: crate::DEFAULT_HOME_ACCOUNT.into(),
            order_id: "210000000000001".into(),
            region: hz.clone(),
            product_codes: vec![ProductCode::Pai],
            product_ids: vec!["21000000000000101".into()],
            buy_product_request_id: "b".into(),
            request_id: "r".into(),
            auto_pay: true,
            access_key_id: "ak".into(),
            body: Value::Null,
            at: "2026-11-26T09:00:00Z".into(),
            paid_at: None,
            caller: None,
        });
        let query = parse_list_query(&q(&[
            ("ProductCodes", "PAI_share,OSS_share"),
            ("ServiceCodes", "PAI,OSS"),
        ]))
        .unwrap();
        let here = list_products(&query, &hz, &ledger, "rid".into());
        assert_eq!(
            here.products
                .iter()
                .map(|p| (p.product_code, p.is_purchased, p.product_id.clone()))
                .collect::<Vec<_>>(),
            vec![
                (ProductCode::Pai, true, Some("21000000000000101".to_string())),
                (ProductCode::Oss, false, None)
            ]
        );
        assert!(here
            .products
            .iter()
            .all(|p| p.purchase_url.is_none() && p.has_permission_to_purchase));
        assert_eq!(
            here.services.iter().map(|s| s.is_open).collect::<Vec<_>>(),
            vec![true, false]
        );
        let there = list_products(&query, &sh, &ledger, "rid".into());
        assert!(there.products.iter().all(|p| !p.is_purchased));
        let json = serde_json::to_value(&here).unwrap();
        assert_eq!(json["Products"][0]["ProductCode"], "PAI_share");
        assert_eq!(json["Products"][0]["IsPurchased"], true);
        assert!(json["Products"][1].get("ProductId").is_none());
        assert_eq!(json["RequestId"], "rid");
    }
}
