//! A `resources` row as both backends store it (text columns, JSON for the request and the
//! product ids), and the checks that turn it into a [`Resource`] or refuse it.

use pai_spec::{Address, Fingerprint, ProductCode, ProductRequest, Region};

use super::location::StateLocation;
use super::{Origin, Resource, StateError, Status};

/// The columns, in the order both backends select them.
pub(crate) const RESOURCE_COLUMNS: &str = "address, region, product_code, status, origin, fingerprint, request_json, \
                                           order_id, product_ids, buy_product_request_id, request_id, last_error, \
                                           run_id, created_at, updated_at";

/// A `resources` row as stored, before its text columns are checked.
pub(crate) struct RawResource {
    pub address: String,
    pub region: String,
    pub product_code: String,
    pub status: String,
    pub origin: String,
    pub fingerprint: String,
    pub request_json: String,
    pub order_id: Option<String>,
    pub product_ids: String,
    pub buy_product_request_id: Option<String>,
    pub request_id: Option<String>,
    pub last_error: Option<String>,
    pub run_id: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl RawResource {
    pub(crate) fn parse(self, location: &StateLocation) -> Result<Resource, StateError> {
        let bad = |why: String| StateError::BadRecord {
            location: location.clone(),
            address: self.address.clone(),
            why,
        };
        let request: ProductRequest =
            serde_json::from_str(&self.request_json).map_err(|e| bad(format!("request: {e}")))?;
        Ok(Resource {
            address: Address::parse(&self.address).map_err(|e| bad(e.to_string()))?,
            region: Region::parse(&self.region).map_err(|e| bad(e.to_string()))?,
            product_code: ProductCode::parse(&self.product_code)
                .ok_or_else(|| bad(format!("unknown product code `{}`", self.product_code)))?,
            status: Status::parse(&self.status).ok_or_else(|| bad(format!("unknown status `{}`", self.status)))?,
            origin: Origin::parse(&self.origin).ok_or_else(|| bad(format!("unknown origin `{}`", self.origin)))?,
            fingerprint: Fingerprint(self.fingerprint.clone()),
            request,
            order_id: self.order_id.clone(),
            product_ids: serde_json::from_str(&self.product_ids).map_err(|e| bad(format!("product ids: {e}")))?,
            buy_product_request_id: self.buy_product_request_id.clone(),
            request_id: self.request_id.clone(),
            last_error: self.last_error.clone(),
            run_id: self.run_id,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        })
    }
}

/// The JSON text of a resource's product ids, as both backends store it.
pub(crate) fn product_ids_json(ids: &[String]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}
