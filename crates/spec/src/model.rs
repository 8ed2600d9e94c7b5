//! Validated manifest types. Constructing them through the parser guarantees every API rule holds.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::address::{Address, AddressError, Region, RegionError};

/// The four products `CreateProductOrders` sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProductCode {
    #[serde(rename = "DataWorks_share")]
    DataWorks,
    #[serde(rename = "MaxCompute_share")]
    MaxCompute,
    #[serde(rename = "PAI_share")]
    Pai,
    #[serde(rename = "OSS_share")]
    Oss,
}

impl ProductCode {
    pub const ALL: [ProductCode; 4] = [
        ProductCode::DataWorks,
        ProductCode::MaxCompute,
        ProductCode::Pai,
        ProductCode::Oss,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProductCode::DataWorks => "DataWorks_share",
            ProductCode::MaxCompute => "MaxCompute_share",
            ProductCode::Pai => "PAI_share",
            ProductCode::Oss => "OSS_share",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Opened once for the whole account, whatever region the order goes through: OSS (its own
    /// open-service API takes no region; `docs/emulator.md`, "Realism", `oss_account_wide`).
    /// A manifest may declare it once: two declarations would send two orders, and a service
    /// that bills a repeat would bill it twice.
    pub fn is_account_wide(self) -> bool {
        self == ProductCode::Oss
    }
}

impl fmt::Display for ProductCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which request signature the client uses: ACS3-HMAC-SHA256 (`v3`, default) or ROA HMAC-SHA1 (`v2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureVersion {
    #[default]
    V3,
    V2,
}

impl SignatureVersion {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "v3" => Some(SignatureVersion::V3),
            "v2" => Some(SignatureVersion::V2),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V3 => "v3",
            SignatureVersion::V2 => "v2",
        }
    }
}

/// One `InstanceProperties` element. Field order is the official SDK's: Code, Name, Value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceProperty {
    #[serde(rename = "Code")]
    pub code: String,
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(rename = "Value")]
    pub value: String,
}

/// One `Products[]` element of the CreateProductOrders body, exactly as the official SDK
/// serialises it (`CreateProductOrdersRequestProducts.to_map`): keys in this order,
/// `InstanceProperties` always present (possibly empty), `PricingCycle` omitted when unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRequest {
    #[serde(rename = "AutoRenew")]
    pub auto_renew: bool,
    #[serde(rename = "ChargeType")]
    pub charge_type: String,
    #[serde(rename = "Duration")]
    pub duration: i64,
    #[serde(rename = "InstanceProperties", default)]
    pub instance_properties: Vec<InstanceProperty>,
    #[serde(rename = "OrderType")]
    pub order_type: String,
    #[serde(rename = "PricingCycle", skip_serializing_if = "Option::is_none", default)]
    pub pricing_cycle: Option<String>,
    #[serde(rename = "ProductCode")]
    pub product_code: ProductCode,
}

impl ProductRequest {
    /// Compact JSON in SDK key order; the bytes that are fingerprinted and sent.
    pub fn canonical_json(&self) -> String {
        // Serialising plain strings, bools and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(hex::encode(Sha256::digest(self.canonical_json().as_bytes())))
    }
}

/// The whole CreateProductOrders body for one region: `{"AutoPay":..,"Products":[..]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderBody {
    #[serde(rename = "AutoPay")]
    pub auto_pay: bool,
    #[serde(rename = "Products")]
    pub products: Vec<ProductRequest>,
}

impl OrderBody {
    /// The exact bytes sent (and signed): compact JSON, non-ASCII unescaped, as the SDK does.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Hex SHA-256 of a [`ProductRequest`]'s canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `[provider]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    pub region: Region,
    pub auto_pay: bool,
    pub signature: SignatureVersion,
    pub profile: Option<String>,
    /// Override for every region; may contain `{region}`.
    pub endpoint: Option<String>,
    /// Per-region overrides; win over `endpoint`.
    pub endpoints: BTreeMap<Region, String>,
}

/// One `[products.<address>]` entry after defaults and validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub address: Address,
    /// The region whose endpoint orders it: the product's own `region` or the provider's.
    pub region: Region,
    pub request: ProductRequest,
}

impl Product {
    pub fn code(&self) -> ProductCode {
        self.request.product_code
    }
    pub fn fingerprint(&self) -> Fingerprint {
        self.request.fingerprint()
    }
}

/// A whole validated manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub provider: Provider,
    /// Sorted by address.
    pub products: BTreeMap<Address, Product>,
    /// Hex SHA-256 of the manifest file's bytes; a saved plan is refused when it changes.
    pub source_hash: String,
    /// `[state] url`: where the state lives (a SQLite path or a `postgres://` URL), used after `--state`
    /// and `PAI_PROVISION_STATE`; `None` when not given.
    pub state: Option<String>,
}

impl Manifest {
    /// The endpoint URL for a region, as [`crate::Endpoints`] resolves the manifest's own.
    pub fn endpoint_for(&self, region: &Region) -> String {
        crate::Endpoints::from_provider(&self.provider).url_for(region)
    }

    /// The regions the manifest orders in, sorted.
    pub fn regions(&self) -> Vec<Region> {
        let mut regions: Vec<Region> = self.products.values().map(|p| p.region.clone()).collect();
        regions.sort();
        regions.dedup();
        regions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_serialises_in_sdk_key_order() {
        let req = ProductRequest {
            auto_renew: true,
            charge_type: "POSTPAY".into(),
            duration: 1,
            instance_properties: vec![InstanceProperty {
                code: "region".into(),
                name: None,
                value: "cn-shanghai".into(),
            }],
            order_type: "BUY".into(),
            pricing_cycle: Some("Month".into()),
            product_code: ProductCode::DataWorks,
        };
        // The body of the `order-dataworks` signing vector, produced by the official SDK.
        assert_eq!(
            OrderBody {
                auto_pay: true,
                products: vec![req.clone()]
            }
            .to_json(),
            r#"{"AutoPay":true,"Products":[{"AutoRenew":true,"ChargeType":"POSTPAY","Duration":1,"InstanceProperties":[{"Code":"region","Value":"cn-shanghai"}],"OrderType":"BUY","PricingCycle":"Month","ProductCode":"DataWorks_share"}]}"#
        );
        assert_eq!(req.fingerprint().0.len(), 64);
    }
}
