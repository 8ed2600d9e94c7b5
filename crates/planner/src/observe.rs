//! What the cloud reports, as the planner consumes it. The API client implements
//! [`StatusSource`] with `ListProducts`; tests and saved observations use [`Observation`] itself.

use std::collections::BTreeMap;

use pai_spec::{Manifest, ProductCode, Region};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use pai_state::StateSnapshot;

/// One product in one region, as `ListProducts` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Observed {
    /// `IsPurchased`.
    pub purchased: bool,
    /// `ProductId`.
    pub product_id: Option<String>,
    /// `HasPermissionToPurchase`.
    pub has_permission: Option<bool>,
    /// `PurchaseUrl`.
    pub purchase_url: Option<String>,
}

/// The cloud's answers, keyed by (region, product code). A pair that is absent was not reported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observation {
    products: BTreeMap<(Region, ProductCode), Observed>,
    asked_at: Option<OffsetDateTime>,
}

impl Observation {
    pub fn new() -> Self {
        Self::default()
    }

    /// When the question was asked (before any answer left the cloud): a row's settle window
    /// is judged against it ([`crate::reconcile::Window`]). `None`: unknown, and every window
    /// counts as still open.
    pub fn asked_at(&self) -> Option<OffsetDateTime> {
        self.asked_at
    }

    pub fn with_asked_at(mut self, at: OffsetDateTime) -> Self {
        self.asked_at = Some(at);
        self
    }

    pub fn insert(&mut self, region: Region, code: ProductCode, observed: Observed) {
        self.products.insert((region, code), observed);
    }

    pub fn get(&self, region: &Region, code: ProductCode) -> Option<&Observed> {
        self.products.get(&(region.clone(), code))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Region, ProductCode, &Observed)> {
        self.products.iter().map(|((r, c), o)| (r, *c, o))
    }

    pub fn len(&self) -> usize {
        self.products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }
}

/// Why the cloud's status could not be read. Carries no secrets: implementors put the API's
/// code, message and request id in it, never credentials.
#[derive(Debug, thiserror::Error)]
#[error("could not read the products' status from the cloud: {message}")]
pub struct ObserveError {
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ObserveError {
    pub fn new(message: impl Into<String>) -> Self {
        ObserveError {
            message: message.into(),
            source: None,
        }
    }

    /// With a `source` that `message` does not already spell out (an error chain shows both).
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        ObserveError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Where the planner learns what the cloud has: the API client (`ListProducts`, one call per
/// region, blocking) or, in tests, a fixed [`Observation`].
pub trait StatusSource {
    /// Reports on every pair in `wanted`. A pair missing from the answer is treated as unknown.
    fn observe(&self, wanted: &[(Region, ProductCode)]) -> Result<Observation, ObserveError>;
}

impl StatusSource for Observation {
    fn observe(&self, wanted: &[(Region, ProductCode)]) -> Result<Observation, ObserveError> {
        let mut out = Observation {
            asked_at: self.asked_at,
            ..Observation::new()
        };
        for (region, code) in wanted {
            if let Some(o) = self.get(region, *code) {
                out.insert(region.clone(), *code, o.clone());
            }
        }
        Ok(out)
    }
}

/// The pairs a plan needs to know about: every product of the manifest and every recorded
/// activation, sorted and without repeats.
pub fn wanted(manifest: &Manifest, state: &StateSnapshot) -> Vec<(Region, ProductCode)> {
    let mut pairs: Vec<(Region, ProductCode)> = manifest
        .products
        .values()
        .map(|p| (p.region.clone(), p.code()))
        .chain(state.resources.values().map(|r| (r.region.clone(), r.product_code)))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}
