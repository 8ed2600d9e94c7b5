//! The state store of pai-provision: what it has ordered, adopted or imported, in a SQLite file
//! (the default) or in a schema of a PostgreSQL database, with the lock that serialises
//! writers, the lineage and serial that detect a foreign or stale state, and the append-only
//! history of every run. The crate root holds the row types ([`Resource`], [`StateSnapshot`],
//! [`Status`], [`Origin`]) that the planner decides on.
//!
//! Modules:
//! - `location`: [`StateLocation`], a path or a `postgres://` URL, displayed without secrets.
//! - `fleet`: [`FleetStates`], one state per account of a fleet: `<dir>/<account id>.db`, or the
//!   schema `<schema>_<account id>`.
//! - `store`: [`Store`], read-only (for `plan` and `show`).
//! - `writer`: [`StateWriter`], which holds the lock and makes every change: the protocol of
//!   each write, once, over the `tx` primitives that each backend implements.
//! - `backend`: the boundary, two traits (`Reads`; `Writes`: the reads, the lock, transactions
//!   and restore) that each backend implements once, and the one place that picks a backend for
//!   a location.
//! - `tx`: the primitives of a write transaction; the contract names no driver.
//! - `error`: [`StateError`], its classes ([`ErrorKind`]) and the driver error it may carry.
//! - `lock`: the holder record ([`LockInfo`]), the SQLite backend's OS file lock, and the
//!   `force-unlock` refusals of both backends.
//! - `history`: the append-only record of runs, API calls and state changes.
//! - `provenance`: [`Provenance`], who and what started a run (CI variables, user, plan digest),
//!   recorded with every run.
//! - `freeze`: [`Freeze`], the change freeze, kept as `freeze`/`unfreeze` events of the history.
//! - `copy`: [`StateDump`] and [`migrate`], a verified copy between locations.
//! - [`clock`]: timestamps, the [`clock::Clock`] the writer stamps with, and the host name.
//! - `sqlite`, [`postgres`]: the two backends (schema, migrations, locking, statements), each
//!   with one connection type whose reads serve both its `Store` and its writer. PostgreSQL is
//!   built with the `postgres` feature (default on); without it only its URL parsing is, and a
//!   `postgres://` location is refused when opened.
//! - `rows`: the text columns of a resource row, checked, which both backends share.
//! - `private_file`: how a local state's files are created: 0600 on Unix.
//!
//! The layout of both backends and the reasons behind it are in `docs/state.md`.

mod backend;
pub mod clock;
mod copy;
mod error;
mod fleet;
mod freeze;
mod history;
mod location;
mod lock;
pub mod postgres;
mod private_file;
mod provenance;
mod rows;
mod sqlite;
mod store;
mod tx;
mod writer;

use std::collections::BTreeMap;

use pai_spec::{Address, Fingerprint, ProductCode, ProductRequest, Region};
use serde::{Deserialize, Serialize};

pub use copy::{migrate, Migrated, StateDump};
pub use error::{DriverError, ErrorKind, LiveHolder, StateError};
pub use fleet::FleetStates;
pub use freeze::Freeze;
pub use history::{ApiCall, CallOutcome, Event, EventKind, History, RunId, RunRecord, RunResult};
pub use location::StateLocation;
pub use lock::{LockGuard, LockInfo, Unlocked};
#[cfg(feature = "postgres")]
pub use postgres::PG_SCHEMA_VERSION;
pub use provenance::{provenance, PolicyRecord, Provenance};
pub use sqlite::schema::SCHEMA_VERSION;
pub use store::Store;
pub use writer::{force_unlock, Attempt, StateWriter};

/// Where an address stands. `pending` means an order may have reached the server and its
/// outcome is not known; `failed` means the server definitely rejected it (nothing was bought);
/// `unpaid` means an order placed with `AutoPay: false` was accepted and waits for someone to
/// pay it in the console (its `order_id` is kept): nothing is bought until then, and it must
/// never be ordered again automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Active,
    Failed,
    Unpaid,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Failed => "failed",
            Status::Unpaid => "unpaid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Status::Pending, Status::Active, Status::Failed, Status::Unpaid]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// How a record came to be: ordered by pai-provision, adopted from the cloud's report, or
/// imported by hand (`state import`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Ordered,
    Adopted,
    Imported,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Ordered => "ordered",
            Origin::Adopted => "adopted",
            Origin::Imported => "imported",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Origin::Ordered, Origin::Adopted, Origin::Imported]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One address as the state records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub address: Address,
    pub region: Region,
    pub product_code: ProductCode,
    pub status: Status,
    pub origin: Origin,
    /// Fingerprint of `request`.
    pub fingerprint: Fingerprint,
    /// The `Products[]` element that was ordered (or, for adopted and imported records, the one
    /// the manifest declared when it was recorded).
    pub request: ProductRequest,
    pub order_id: Option<String>,
    pub product_ids: Vec<String>,
    pub buy_product_request_id: Option<String>,
    pub request_id: Option<String>,
    /// Why the last order failed (`failed` rows only).
    pub last_error: Option<String>,
    /// The run that last changed this row.
    pub run_id: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    /// Until when the last order sent for it may still be carried out or not yet show in
    /// `ListProducts` (the sender's settle time after the send): before then a "not purchased"
    /// is no reason to order again (`docs/idempotency.md`). `None` for rows never sent, adopted
    /// or imported, and for rows sent before schema version 3.
    #[serde(default)]
    pub settle_until: Option<String>,
    /// Reorders after drift since the cloud last reported it purchased: a reorder that never
    /// shows either is a conflict, not a reason to buy on every run.
    #[serde(default)]
    pub reorders: u32,
}

/// What `CreateProductOrders` answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderOutcome {
    pub order_id: Option<String>,
    pub product_ids: Vec<String>,
    pub buy_product_request_id: Option<String>,
    pub request_id: Option<String>,
}

/// Everything a plan needs from the state: read in one transaction, without the history.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// `None` when there is no state file yet.
    pub lineage: Option<String>,
    /// 0 when there is no state file yet.
    pub serial: u64,
    pub resources: BTreeMap<Address, Resource>,
    /// The change freeze in force (`state freeze`), if any: apply refuses while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<Freeze>,
}

impl StateSnapshot {
    /// The record holding an activation, whatever its address.
    pub fn find_activation(&self, region: &Region, code: ProductCode) -> Option<&Resource> {
        self.resources
            .values()
            .find(|r| &r.region == region && r.product_code == code)
    }
}
