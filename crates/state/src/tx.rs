//! The primitives of a write transaction, which each backend implements with its own SQL.
//! [`super::StateWriter`] composes them into the state's writes once, for both backends, so
//! that a transition means the same thing (the same rows, the same history entries, the same
//! refusals) whichever database holds the state. The contract names no driver: each backend
//! turns its driver's errors into [`StateError`] itself.

use pai_spec::{Address, Product, ProductCode, Region};

use super::history::{NewEvent, RunId};
use super::{OrderOutcome, Origin, StateError, Status};

/// A run about to be opened.
pub(crate) struct NewRun<'a> {
    pub command: &'a str,
    pub host: &'a str,
    pub pid: u32,
    pub version: &'a str,
    pub started_at: &'a str,
    /// The run's [`crate::Provenance`] as JSON.
    pub provenance: &'a str,
}

/// A resource row about to be inserted, or to replace the row of the same address. The
/// order's ids and settle deadline are cleared: they belonged to an earlier order (the history
/// keeps them).
pub(crate) struct NewRow<'a> {
    pub product: &'a Product,
    pub status: Status,
    pub origin: Origin,
    pub reorders: u32,
    /// JSON array.
    pub product_ids: &'a str,
    pub run: RunId,
    pub now: &'a str,
}

/// A change of an existing row's outcome; each also sets `run_id` and `updated_at`.
pub(crate) enum RowUpdate<'a> {
    /// `status` (`active`, or `unpaid` for an order left to be paid) with the order's ids;
    /// clears `last_error`.
    Ordered {
        status: Status,
        outcome: &'a OrderOutcome,
        product_ids: &'a str,
    },
    /// `active` by observation (from `pending` or `unpaid`), keeping the order id it may have;
    /// clears `last_error` and `reorders` (it shows).
    Resolved { product_ids: &'a str },
    /// The cloud reports an `active` row purchased: clears `reorders`.
    Seen,
    /// `failed`, with the reason.
    Failed { error: &'a str },
    /// Still `pending`: an order for it is being sent now, and may be carried out or show late
    /// until `settle_until`. Only that, `run_id` and `updated_at` change, so that `updated_at`
    /// of a `pending` row is when its last request may have left.
    Sending { settle_until: &'a str },
}

pub(crate) trait Tx {
    fn insert_run(&mut self, run: &NewRun<'_>) -> Result<RunId, StateError>;
    /// Closes a run that is still open; a closed run is left as it is.
    fn close_run(&mut self, run: RunId, now: &str, result: &str, message: Option<&str>) -> Result<(), StateError>;
    fn append_event(&mut self, run: RunId, at: &str, event: &NewEvent<'_>) -> Result<(), StateError>;
    fn status_of(&mut self, address: &Address) -> Result<Option<Status>, StateError>;
    /// The row's `reorders` (0 when there is no row).
    fn reorders_of(&mut self, address: &Address) -> Result<u32, StateError>;
    /// The address, other than `except`, that records the activation `(region, code)`.
    fn activation_address(
        &mut self,
        region: &Region,
        code: ProductCode,
        except: &Address,
    ) -> Result<Option<String>, StateError>;
    fn upsert(&mut self, row: &NewRow<'_>) -> Result<(), StateError>;
    fn update(&mut self, address: &Address, change: &RowUpdate<'_>, run: RunId, now: &str) -> Result<(), StateError>;
    fn rename(&mut self, from: &Address, to: &Address, run: RunId, now: &str) -> Result<(), StateError>;
    fn delete(&mut self, address: &Address) -> Result<(), StateError>;
}
