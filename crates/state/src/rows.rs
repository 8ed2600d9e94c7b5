//! A `resources` row as both backends store it (text columns, JSON for the request and the
//! product ids): the column list, the row read from a driver's getters and written as a list
//! of values to bind, and the checks that turn it into a [`Resource`] or refuse it. A new
//! column is added here, to the type and to each backend's schema; the backends' statements
//! take the list from here.

use pai_spec::{Address, Fingerprint, ProductCode, ProductRequest, Region};

use super::location::StateLocation;
use super::{Origin, Resource, StateError, Status};

/// The columns, in the order both backends select them.
pub(crate) const RESOURCE_COLUMNS: &str = "address, region, product_code, status, origin, fingerprint, request_json, \
                                           order_id, product_ids, buy_product_request_id, request_id, last_error, \
                                           run_id, created_at, updated_at, settle_until, reorders";

/// `INSERT INTO resources (every column) VALUES (...)`, each value's placeholder written by
/// `placeholder` from its 1-based position (`?1` in SQLite, `$1` in PostgreSQL).
pub(crate) fn insert_statement(placeholder: impl Fn(usize) -> String) -> String {
    let count = RESOURCE_COLUMNS.split(',').count();
    let values: Vec<String> = (1..=count).map(placeholder).collect();
    format!(
        "INSERT INTO resources ({RESOURCE_COLUMNS}) VALUES ({})",
        values.join(", ")
    )
}

/// One value of a row, as a backend binds it.
pub(crate) enum Value<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

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
    pub settle_until: Option<String>,
    pub reorders: Option<i64>,
}

impl RawResource {
    /// Reads a row selected as [`RESOURCE_COLUMNS`] through a driver's getters of a text and an
    /// integer column (by 0-based position). A `NULL` where the schema forbids one reads as
    /// empty, which [`RawResource::parse`] then refuses.
    pub(crate) fn read<E>(
        mut text: impl FnMut(usize) -> Result<Option<String>, E>,
        mut int: impl FnMut(usize) -> Result<Option<i64>, E>,
    ) -> Result<RawResource, E> {
        let mut required = |i| text(i).map(Option::unwrap_or_default);
        let (address, region, product_code) = (required(0)?, required(1)?, required(2)?);
        let (status, origin, fingerprint, request_json) = (required(3)?, required(4)?, required(5)?, required(6)?);
        let product_ids = required(8)?;
        let (created_at, updated_at) = (required(13)?, required(14)?);
        Ok(RawResource {
            address,
            region,
            product_code,
            status,
            origin,
            fingerprint,
            request_json,
            order_id: text(7)?,
            product_ids,
            buy_product_request_id: text(9)?,
            request_id: text(10)?,
            last_error: text(11)?,
            run_id: int(12)?,
            created_at,
            updated_at,
            settle_until: text(15)?,
            reorders: int(16)?,
        })
    }

    /// A resource as it is stored.
    pub(crate) fn of(r: &Resource) -> RawResource {
        RawResource {
            address: r.address.as_str().to_owned(),
            region: r.region.as_str().to_owned(),
            product_code: r.product_code.as_str().to_owned(),
            status: r.status.as_str().to_owned(),
            origin: r.origin.as_str().to_owned(),
            fingerprint: r.fingerprint.0.clone(),
            request_json: r.request.canonical_json(),
            order_id: r.order_id.clone(),
            product_ids: product_ids_json(&r.product_ids),
            buy_product_request_id: r.buy_product_request_id.clone(),
            request_id: r.request_id.clone(),
            last_error: r.last_error.clone(),
            run_id: r.run_id,
            created_at: r.created_at.clone(),
            updated_at: r.updated_at.clone(),
            settle_until: r.settle_until.clone(),
            reorders: Some(i64::from(r.reorders)),
        }
    }

    /// The values to bind to [`insert_statement`], in [`RESOURCE_COLUMNS`] order.
    pub(crate) fn values(&self) -> [Value<'_>; 17] {
        fn text(s: &str) -> Value<'_> {
            Value::Text(Some(s))
        }
        [
            text(&self.address),
            text(&self.region),
            text(&self.product_code),
            text(&self.status),
            text(&self.origin),
            text(&self.fingerprint),
            text(&self.request_json),
            Value::Text(self.order_id.as_deref()),
            text(&self.product_ids),
            Value::Text(self.buy_product_request_id.as_deref()),
            Value::Text(self.request_id.as_deref()),
            Value::Text(self.last_error.as_deref()),
            Value::Int(self.run_id),
            text(&self.created_at),
            text(&self.updated_at),
            Value::Text(self.settle_until.as_deref()),
            Value::Int(Some(self.reorders.unwrap_or(0))),
        ]
    }

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
            settle_until: self.settle_until.clone(),
            reorders: self
                .reorders
                .map_or(Ok(0), u32::try_from)
                .map_err(|_| bad(format!("reorders: {:?} is not a count", self.reorders)))?,
        })
    }
}

/// The JSON text of a resource's product ids, as both backends store it.
pub(crate) fn product_ids_json(ids: &[String]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_binds_every_column_once() {
        let sql = insert_statement(|i| format!("${i}"));
        assert!(sql.ends_with("$16, $17)"), "{sql}");
        assert!(!sql.contains("$18"), "{sql}");
    }
}
