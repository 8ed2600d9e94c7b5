//! Values built directly, valid by construction.

use pai_spec::rules::{documented_properties, pricing_cycle, PropertyValue};
use pai_spec::{Address, InstanceProperty, OrderBody, Product, ProductCode, ProductRequest, Region};

pub fn region(name: &str) -> Region {
    Region::parse(name).unwrap_or_else(|e| panic!("region {name}: {e}"))
}

pub fn hangzhou() -> Region {
    region("cn-hangzhou")
}

pub fn shanghai() -> Region {
    region("cn-shanghai")
}

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap_or_else(|e| panic!("address {s}: {e}"))
}

/// The plainest request for `code`: pay as you go, one unit, no properties, no pricing cycle.
pub fn request(code: ProductCode) -> ProductRequest {
    ProductRequest {
        auto_renew: false,
        charge_type: "POSTPAY".into(),
        duration: 1,
        instance_properties: Vec::new(),
        order_type: "BUY".into(),
        pricing_cycle: None,
        product_code: code,
    }
}

/// A product at `address` in `region` asking for [`request`]`(code)`.
pub fn product(address: &str, code: ProductCode, in_region: &str) -> Product {
    Product {
        address: addr(address),
        region: region(in_region),
        request: request(code),
    }
}

/// The request the API reference documents for `code` in `in_region`: its instance properties
/// (the region ones set to `in_region`) and its pricing cycle.
pub fn documented_request(code: ProductCode, in_region: &str) -> ProductRequest {
    let instance_properties = documented_properties(code)
        .iter()
        .map(|(c, v)| InstanceProperty {
            code: (*c).to_owned(),
            name: None,
            value: match v {
                PropertyValue::Region => in_region.to_owned(),
                PropertyValue::Exactly(x) => (*x).to_owned(),
            },
        })
        .collect();
    ProductRequest {
        instance_properties,
        pricing_cycle: pricing_cycle(code).map(str::to_owned),
        ..request(code)
    }
}

/// A product at `address` in `region` asking for [`documented_request`]: valid as a manifest's.
pub fn documented_product(address: &str, code: ProductCode, in_region: &str) -> Product {
    Product {
        address: addr(address),
        region: region(in_region),
        request: documented_request(code, in_region),
    }
}

/// An order for these requests, paid automatically.
pub fn order(products: Vec<ProductRequest>) -> OrderBody {
    OrderBody {
        auto_pay: true,
        products,
    }
}

/// An order for PAI alone.
pub fn pai_order() -> OrderBody {
    order(vec![request(ProductCode::Pai)])
}

/// An OSS order whose property name is the API reference's non-ASCII example, hourly.
pub fn oss_order() -> OrderBody {
    let property = |code: &str, name: &str, value: &str| InstanceProperty {
        code: code.into(),
        name: Some(name.into()),
        value: value.into(),
    };
    order(vec![ProductRequest {
        instance_properties: vec![
            property("commodity_type", "对象存储OSS", "oss"),
            property("ord_time", "1 Hour", "1:Hour"),
        ],
        pricing_cycle: Some("Hour".into()),
        ..request(ProductCode::Oss)
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_orders_serialize_as_the_wire_expects() {
        assert_eq!(
            pai_order().to_json(),
            r#"{"AutoPay":true,"Products":[{"AutoRenew":false,"ChargeType":"POSTPAY","Duration":1,"InstanceProperties":[],"OrderType":"BUY","ProductCode":"PAI_share"}]}"#
        );
        let oss = oss_order();
        assert_eq!(oss.products[0].product_code, ProductCode::Oss);
        assert_eq!(oss.products[0].instance_properties.len(), 2);
    }

    #[test]
    fn a_documented_request_sets_its_region_properties_to_its_region() {
        let dataworks = documented_request(ProductCode::DataWorks, "cn-shanghai");
        assert_eq!(dataworks.pricing_cycle.as_deref(), Some("Month"));
        let region = dataworks.instance_properties.iter().find(|p| p.code == "region");
        assert_eq!(region.map(|p| p.value.as_str()), Some("cn-shanghai"));
        assert_eq!(
            documented_product("pai", ProductCode::Pai, "cn-hangzhou").code(),
            ProductCode::Pai
        );
    }
}
