//! The two calls' request and response types. Responses tolerate missing and `null` fields, as
//! the SDK's `from_map` does; none of them holds a secret, so they may be stored and logged.

use pai_spec::ProductCode;
use serde::{Deserialize, Deserializer, Serialize};

/// `null` and a missing list both read as empty.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The answer to `CreateProductOrders`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrderResponse {
    #[serde(rename = "RequestId", default)]
    pub request_id: Option<String>,
    #[serde(rename = "OrderId", default)]
    pub order_id: Option<String>,
    #[serde(rename = "Message", default)]
    pub message: Option<String>,
    #[serde(rename = "BuyProductRequestId", default)]
    pub buy_product_request_id: Option<String>,
    #[serde(rename = "ProductIds", default, deserialize_with = "null_as_empty")]
    pub product_ids: Vec<String>,
}

/// The query of `ListProducts`, in the SDK's parameter order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListProductsQuery {
    /// Comma-separated product codes.
    pub product_codes: Option<String>,
    /// Comma-separated service codes.
    pub service_codes: Option<String>,
    pub verbose: Option<bool>,
}

impl ListProductsQuery {
    /// The products of interest, with `Verbose=true` as the design's example call has it.
    pub fn for_products(codes: &[ProductCode]) -> Self {
        ListProductsQuery {
            product_codes: (!codes.is_empty()).then(|| codes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")),
            service_codes: None,
            verbose: Some(true),
        }
    }

    pub(crate) fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if let Some(codes) = &self.product_codes {
            pairs.push(("ProductCodes".to_owned(), codes.clone()));
        }
        if let Some(codes) = &self.service_codes {
            pairs.push(("ServiceCodes".to_owned(), codes.clone()));
        }
        if let Some(verbose) = self.verbose {
            pairs.push(("Verbose".to_owned(), verbose.to_string()));
        }
        pairs
    }
}

/// The answer to `ListProducts`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListProductsResponse {
    #[serde(rename = "RequestId", default)]
    pub request_id: Option<String>,
    #[serde(rename = "Products", default, deserialize_with = "null_as_empty")]
    pub products: Vec<ProductStatus>,
    #[serde(rename = "Services", default, deserialize_with = "null_as_empty")]
    pub services: Vec<ServiceStatus>,
}

impl ListProductsResponse {
    /// The entry for a product code, if the response has one.
    pub fn product(&self, code: ProductCode) -> Option<&ProductStatus> {
        self.products
            .iter()
            .find(|p| p.product_code.as_deref() == Some(code.as_str()))
    }
}

/// One `Products[]` entry. The code stays a string: the service may list products this tool
/// does not order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProductStatus {
    #[serde(rename = "ProductCode", default)]
    pub product_code: Option<String>,
    #[serde(rename = "IsPurchased", default)]
    pub is_purchased: Option<bool>,
    #[serde(rename = "HasPermissionToPurchase", default)]
    pub has_permission_to_purchase: Option<bool>,
    #[serde(rename = "ProductId", default)]
    pub product_id: Option<String>,
    #[serde(rename = "PurchaseUrl", default)]
    pub purchase_url: Option<String>,
}

/// One `Services[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceStatus {
    #[serde(rename = "ServiceCode", default)]
    pub service_code: Option<String>,
    #[serde(rename = "IsOpen", default)]
    pub is_open: Option<bool>,
    #[serde(rename = "OpenUrl", default)]
    pub open_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_response_tolerates_missing_and_null() {
        let full: OrderResponse = serde_json::from_str(
            r#"{"RequestId":"R","OrderId":"O","Message":"ok","BuyProductRequestId":"B","ProductIds":["p1","p2"],"Extra":1}"#,
        )
        .unwrap_or_default();
        assert_eq!(full.order_id.as_deref(), Some("O"));
        assert_eq!(full.product_ids, ["p1", "p2"]);
        let sparse: Result<OrderResponse, _> =
            serde_json::from_str(r#"{"RequestId":"R","ProductIds":null,"OrderId":null}"#);
        assert_eq!(
            sparse.ok(),
            Some(OrderResponse {
                request_id: Some("R".into()),
                ..OrderResponse::default()
            })
        );
    }

    #[test]
    fn list_response_and_query() {
        let parsed: ListProductsResponse = serde_json::from_str(
            r#"{"RequestId":"R","Products":[{"ProductCode":"PAI_share","IsPurchased":true,"ProductId":"p"},
                {"ProductCode":"SomethingNew","IsPurchased":false}],"Services":null}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            parsed.product(ProductCode::Pai).and_then(|p| p.is_purchased),
            Some(true)
        );
        assert!(parsed.product(ProductCode::Oss).is_none());
        assert!(parsed.services.is_empty());

        let query = ListProductsQuery::for_products(&[ProductCode::Pai, ProductCode::Oss]);
        assert_eq!(
            query.to_pairs(),
            [
                ("ProductCodes".to_owned(), "PAI_share,OSS_share".to_owned()),
                ("Verbose".to_owned(), "true".to_owned())
            ]
        );
        assert_eq!(ListProductsQuery::for_products(&[]).to_pairs().len(), 1);
    }
}
