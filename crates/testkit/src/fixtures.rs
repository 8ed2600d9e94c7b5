//! Values built directly, valid by construction (a manifest through the parser).

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

/// The `[products.oss]` table of a manifest, with OSS's documented properties.
pub const OSS_TABLE: &str = "[products.oss]\ncode = \"OSS_share\"\n\
                             properties.commodity_type = { value = \"oss\", name = \"Object Storage Service\" }\n\
                             properties.ord_time = { value = \"1:Hour\", name = \"1 Hour\" }\n";

/// A manifest of PAI and the product `second` declares (a `[products.NAME]` table) in
/// cn-hangzhou, whose orders go to `url`.
pub fn pai_manifest_with(url: &str, second: &str) -> pai_spec::Manifest {
    let text = format!(
        "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n\n[provider.endpoints]\ncn-hangzhou = \"{url}\"\n\n\
         [products.pai]\ncode = \"PAI_share\"\n\n{second}"
    );
    pai_spec::parse(text.as_bytes(), "pai.toml")
        .expect("a valid manifest")
        .manifest
}

/// PAI and OSS in cn-hangzhou, whose orders go to `url`: one order of two products.
pub fn pai_and_oss_manifest(url: &str) -> pai_spec::Manifest {
    pai_manifest_with(url, OSS_TABLE)
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
