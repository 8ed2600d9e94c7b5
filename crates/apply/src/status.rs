//! What the cloud reports as purchased, from `ListProducts`: the planner's [`StatusSource`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pai_planner::{Observation, ObserveError, Observed, StatusSource};
use pai_spec::{ProductCode, Region};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Semaphore;

use crate::client::{ApiError, Client, ErrorKind, Failure, ListProductsResponse, LIST_PRODUCTS};

/// Observes products with one `ListProducts` call per region, regions in parallel (at most
/// [`ListProductsStatus::at_most`] at once).
#[derive(Debug, Clone)]
pub struct ListProductsStatus {
    client: Client,
    /// Calls at once; `None`: every region at once.
    at_once: Option<Arc<Semaphore>>,
}

impl ListProductsStatus {
    pub fn new(client: Client) -> Self {
        ListProductsStatus { client, at_once: None }
    }

    /// No more than `calls` `ListProducts` at once (at least one): the API throttles per
    /// account, and a fleet plans many accounts at the same time.
    pub fn at_most(mut self, calls: usize) -> Self {
        self.at_once = Some(Arc::new(Semaphore::new(calls.max(1))));
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What the cloud reports for each wanted `(region, product)`. A product the response does
    /// not list, or lists without `IsPurchased`, is left out: unknown is not "not purchased".
    /// Any region's failure fails the whole call (the first failing region in sorted order, so
    /// the error does not depend on timing).
    pub async fn observe_async(&self, wanted: &[(Region, ProductCode)]) -> Result<Observation, ApiError> {
        self.observe_recorded(wanted).await.0
    }

    /// [`ListProductsStatus::observe_async`], and the calls it made, for the history.
    pub async fn observe_recorded(
        &self,
        wanted: &[(Region, ProductCode)],
    ) -> (Result<Observation, ApiError>, Vec<ListCall>) {
        let mut by_region: BTreeMap<Region, BTreeSet<ProductCode>> = BTreeMap::new();
        for (region, code) in wanted {
            by_region.entry(region.clone()).or_default().insert(*code);
        }
        // Before any question leaves: an answer is no older than this.
        let asked_at = pai_state::clock::now_utc();
        let mut tasks = tokio::task::JoinSet::new();
        for (region, codes) in by_region {
            let client = self.client.clone();
            let at_once = self.at_once.clone();
            tasks.spawn(tracing::Instrument::in_current_span(async move {
                let codes: Vec<ProductCode> = codes.into_iter().collect();
                // The semaphore is never closed, so a permit is always had in the end.
                let _permit = match &at_once {
                    Some(semaphore) => semaphore.acquire().await.ok(),
                    None => None,
                };
                let started = Instant::now();
                let result = client.list_products(&region, &codes).await;
                (region, codes, started.elapsed(), result)
            }));
        }
        let mut answers = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((region, codes, duration, result)) => {
                    answers.insert(region, (codes, duration, result));
                }
                // A task that panicked is a bug; report it rather than take the caller down.
                Err(e) => {
                    let error = ApiError::new(
                        ErrorKind::Permanent,
                        Failure::Request,
                        LIST_PRODUCTS,
                        format!("internal error while listing products: {e}"),
                    );
                    return (Err(error), Vec::new());
                }
            }
        }
        let mut observation = Ok(Observation::new().with_asked_at(asked_at));
        let mut calls = Vec::new();
        for (region, (codes, duration, result)) in answers {
            match (&result, &mut observation) {
                (Ok(response), Ok(seen)) => {
                    for (code, observed) in observations(&codes, response) {
                        seen.insert(region.clone(), code, observed);
                    }
                }
                (Err(e), Ok(_)) => observation = Err(e.clone()),
                (_, Err(_)) => {}
            }
            calls.push(ListCall {
                region,
                codes,
                duration,
                result: result.map(|r| r.request_id),
            });
        }
        (observation, calls)
    }
}

/// One region's `ListProducts` of an observation: what it asked about, how long it took, and
/// its `RequestId` or its error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCall {
    pub region: Region,
    pub codes: Vec<ProductCode>,
    pub duration: Duration,
    pub result: Result<Option<String>, ApiError>,
}

/// The observations one region's response gives for the codes asked about.
pub fn observations(codes: &[ProductCode], response: &ListProductsResponse) -> Vec<(ProductCode, Observed)> {
    codes
        .iter()
        .filter_map(|code| {
            let status = response.product(*code)?;
            Some((
                *code,
                Observed {
                    purchased: status.is_purchased?,
                    product_id: status.product_id.clone(),
                    has_permission: status.has_permission_to_purchase,
                    purchase_url: status.purchase_url.clone(),
                },
            ))
        })
        .collect()
}

/// The planner asks synchronously; the client is async. On a multi-threaded runtime the current
/// worker blocks in place; on a current-thread runtime (which must not block) or outside any
/// runtime, the calls run on a scoped thread with a runtime of its own.
fn block_on<F>(future: F) -> Result<F::Output, ObserveError>
where
    F: Future + Send,
    F::Output: Send,
{
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Ok(tokio::task::block_in_place(|| handle.block_on(future)))
        }
        _ => std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|runtime| runtime.block_on(future))
            });
            match worker.join() {
                Ok(Ok(output)) => Ok(output),
                Ok(Err(e)) => Err(ObserveError::with_source("cannot start an async runtime", e)),
                Err(_) => Err(ObserveError::new("the ListProducts worker thread panicked")),
            }
        }),
    }
}

impl StatusSource for ListProductsStatus {
    fn observe(&self, wanted: &[(Region, ProductCode)]) -> Result<Observation, ObserveError> {
        block_on(self.observe_async(wanted))?.map_err(|e| ObserveError::with_source(e.to_string(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ProductStatus;

    #[test]
    fn unknown_products_are_left_out() {
        let response = ListProductsResponse {
            request_id: Some("R".into()),
            products: vec![
                ProductStatus {
                    product_code: Some("PAI_share".into()),
                    is_purchased: Some(true),
                    product_id: Some("p-1".into()),
                    has_permission_to_purchase: Some(true),
                    purchase_url: None,
                },
                ProductStatus {
                    product_code: Some("OSS_share".into()),
                    is_purchased: Some(false),
                    purchase_url: Some("https://buy".into()),
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
        let seen: BTreeMap<_, _> = observations(&codes, &response).into_iter().collect();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen.get(&ProductCode::Pai),
            Some(&Observed {
                purchased: true,
                product_id: Some("p-1".into()),
                has_permission: Some(true),
                purchase_url: None
            })
        );
        assert_eq!(seen.get(&ProductCode::Oss).map(|o| o.purchased), Some(false));
    }
}
