//! What the cloud reports as purchased, from `ListProducts`: the "observed" input of the plan.

use std::collections::{BTreeMap, BTreeSet};

use pai_spec::{ProductCode, Region};
use serde::Serialize;

use crate::client::{ApiError, Client, ListProductsResponse};

/// What `ListProducts` says about one product in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub purchased: bool,
    pub product_id: Option<String>,
    pub has_permission_to_purchase: Option<bool>,
    /// The `RequestId` of the `ListProducts` call that reported it.
    pub request_id: Option<String>,
}

/// Observes products with one `ListProducts` call per region, regions in parallel.
#[derive(Debug, Clone)]
pub struct ListProductsStatus {
    client: Client,
}

impl ListProductsStatus {
    pub fn new(client: Client) -> Self {
        ListProductsStatus { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The observation for each wanted `(region, product)`. A product the response does not list,
    /// or lists without `IsPurchased`, is left out of the map: unknown is not "not purchased", and
    /// only the planner may decide what unknown means. Any region's failure fails the whole call
    /// (the first failing region in sorted order, so the error is deterministic).
    pub async fn observe(
        &self,
        wanted: &[(Region, ProductCode)],
    ) -> Result<BTreeMap<(Region, ProductCode), Observation>, ApiError> {
        let mut by_region: BTreeMap<Region, BTreeSet<ProductCode>> = BTreeMap::new();
        for (region, code) in wanted {
            by_region.entry(region.clone()).or_default().insert(*code);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (region, codes) in by_region {
            let client = self.client.clone();
            tasks.spawn(async move {
                let codes: Vec<ProductCode> = codes.into_iter().collect();
                let result = client.list_products(&region, &codes).await;
                (region, codes, result)
            });
        }
        let mut answers = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((region, codes, result)) => {
                    answers.insert(region, (codes, result));
                }
                // A panicking task is a bug; report it as an error rather than propagate the panic.
                Err(e) => {
                    return Err(ApiError::new(
                        crate::client::ErrorKind::Permanent,
                        crate::client::Failure::Request,
                        crate::client::LIST_PRODUCTS,
                        format!("internal error while listing products: {e}"),
                    ))
                }
            }
        }
        let mut observed = BTreeMap::new();
        for (region, (codes, result)) in answers {
            let response = result?;
            observed.extend(observations(&region, &codes, &response));
        }
        Ok(observed)
    }
}

/// The observations one region's response gives for the codes asked about.
pub fn observations(
    region: &Region,
    codes: &[ProductCode],
    response: &ListProductsResponse,
) -> Vec<((Region, ProductCode), Observation)> {
    codes
        .iter()
        .filter_map(|code| {
            let status = response.product(*code)?;
            let purchased = status.is_purchased?;
            Some((
                (region.clone(), *code),
                Observation {
                    purchased,
                    product_id: status.product_id.clone(),
                    has_permission_to_purchase: status.has_permission_to_purchase,
                    request_id: response.request_id.clone(),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ProductStatus;

    #[test]
    fn unknown_products_are_left_out() {
        let region = Region::parse("cn-hangzhou").unwrap_or_else(|e| panic!("{e}"));
        let response = ListProductsResponse {
            request_id: Some("R".into()),
            products: vec![
                ProductStatus {
                    product_code: Some("PAI_share".into()),
                    is_purchased: Some(true),
                    product_id: Some("p-1".into()),
                    ..ProductStatus::default()
                },
                ProductStatus {
                    product_code: Some("OSS_share".into()),
                    is_purchased: Some(false),
                    ..ProductStatus::default()
                },
                ProductStatus {
                    product_code: Some("DataWorks_share".into()),
                    is_purchased: None,
                    ..ProductStatus::default()
                },
            ],
            services: Vec::new(),
        };
        let codes = [
            ProductCode::Pai,
            ProductCode::Oss,
            ProductCode::DataWorks,
            ProductCode::MaxCompute,
        ];
        let seen: BTreeMap<_, _> = observations(&region, &codes, &response).into_iter().collect();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen.get(&(region.clone(), ProductCode::Pai)).map(|o| o.purchased),
            Some(true)
        );
        assert_eq!(
            seen.get(&(region.clone(), ProductCode::Oss)).map(|o| o.purchased),
            Some(false)
        );
        assert_eq!(
            seen.get(&(region, ProductCode::Pai))
                .and_then(|o| o.request_id.clone())
                .as_deref(),
            Some("R")
        );
    }
}
