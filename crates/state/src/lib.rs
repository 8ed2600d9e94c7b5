//! The state store of pai-provision: what it has ordered, adopted or imported, in a SQLite file
//! (the default) or in a schema of a PostgreSQL database, with the lock that serialises
//! writers, the lineage and serial that detect a foreign or stale state, and the append-only
//! history of every run. The crate root holds the row types ([`Resource`], [`StateSnapshot`],
//! [`Status`], [`Origin`]) that the planner decides on.
//!
//! Modules:
//! - [`location`]: [`StateLocation`], a path or a `postgres://` URL, displayed without secrets.
//! - [`store`]: [`Store`], read-only (for `plan` and `show`).
//! - [`writer`]: [`StateWriter`], which holds the lock and makes every change: the protocol of
//!   each write, once, over the `tx` primitives that each backend implements.
//! - [`lock`]: the holder record ([`LockInfo`]) and the SQLite backend's OS file lock.
//! - [`history`]: the append-only record of runs, API calls and state changes.
//! - [`copy`]: [`StateDump`] and [`migrate`], a verified copy between locations.
//! - [`clock`]: timestamps and the host name, as recorded.
//! - `sqlite`, `postgres`: the two backends (schema, migrations, locking, statements).
//! - `rows`: the text columns of a resource row, checked, which both backends share.
//!
//! The layout of both backends and the reasons behind it are in `docs/state.md`.

pub mod clock;
pub mod copy;
pub mod history;
pub mod location;
pub mod lock;
pub mod postgres;
mod rows;
mod sqlite;
pub mod store;
mod tx;
pub mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use pai_spec::{Address, Fingerprint, ProductCode, ProductRequest, Region};
use serde::{Deserialize, Serialize};

pub use copy::{migrate, Migrated, StateDump};
pub use history::{ApiCall, CallOutcome, Event, EventKind, History, RunId, RunRecord, RunResult};
pub use location::StateLocation;
pub use lock::{LockGuard, LockInfo, Unlocked};
pub use postgres::PG_SCHEMA_VERSION;
pub use sqlite::schema::SCHEMA_VERSION;
pub use store::Store;
pub use writer::{force_unlock, OrderOutcome, StateWriter};

/// Where an address stands. `pending` means an order may have reached the server and its
/// outcome is not known; `failed` means the server definitely rejected it (nothing was bought).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Active,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Status::Pending, Status::Active, Status::Failed]
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
}

/// Everything a plan needs from the state: read in one transaction, without the history.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// `None` when there is no state file yet.
    pub lineage: Option<String>,
    /// 0 when there is no state file yet.
    pub serial: u64,
    pub resources: BTreeMap<Address, Resource>,
}

impl StateSnapshot {
    /// The record holding an activation, whatever its address.
    pub fn find_activation(&self, region: &Region, code: ProductCode) -> Option<&Resource> {
        self.resources
            .values()
            .find(|r| &r.region == region && r.product_code == code)
    }
}

/// Why the state could not be read or written. Every variant that concerns a state that is not
/// ours says that it was left untouched, because it was. Locations display without passwords.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{location}: not a pai-provision state ({why}); {} was left untouched", location.noun())]
    NotAState { location: StateLocation, why: String },
    #[error(
        "{location}: the state's schema is version {found}, newer than this pai-provision understands ({supported}); \
         upgrade pai-provision. {} was left untouched",
        capitalise(location.noun())
    )]
    NewerSchema {
        location: StateLocation,
        found: i64,
        supported: i64,
    },
    #[error(
        "{location}: the state's schema is version {found}, older than this pai-provision's ({supported}); \
         a command that writes the state (apply, refresh, state rm/import) upgrades it"
    )]
    OlderSchema {
        location: StateLocation,
        found: i64,
        supported: i64,
    },
    #[error("{}: the state file is damaged ({source}); the file was left untouched", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL error: connecting, or a statement the server refused. `message` has been
    /// scrubbed of the password.
    #[error("{location}: {message}")]
    Postgres { location: StateLocation, message: String },
    #[error("{}", lock::locked_message(location, holder.as_deref(), *waited))]
    Locked {
        location: StateLocation,
        holder: Option<Box<LockInfo>>,
        waited: Duration,
    },
    #[error("{}: file locks are not supported here ({source}); put the state on a local filesystem", path.display())]
    LockUnsupported {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", lock::unlock_refused_message(path, requested, *held, holder.as_deref()))]
    UnlockRefused {
        path: PathBuf,
        requested: String,
        /// Whether a live process holds the OS lock.
        held: bool,
        holder: Option<Box<LockInfo>>,
    },
    #[error("{}", postgres::lock::unlock_refused_message(location, requested, *session, holder.as_deref()))]
    PgUnlockRefused {
        location: StateLocation,
        requested: String,
        /// The PostgreSQL session (backend pid) holding the advisory lock, if one does.
        session: Option<i32>,
        holder: Option<Box<LockInfo>>,
    },
    #[error(
        "{location}: another writer changed the state while this one held its lock (serial {found}, this writer \
         last wrote or read {expected}); nothing was written. The lock must have been broken (a terminated \
         session); run the command again to plan from what is recorded now"
    )]
    SerialConflict {
        location: StateLocation,
        expected: u64,
        found: u64,
    },
    #[error("`{location}` is not a usable state location: {why}")]
    BadLocation {
        /// The text as given, its password replaced by `***`.
        location: String,
        why: String,
    },
    #[error("`{0}` is not in the state")]
    NoSuchAddress(Address),
    #[error("`{address}` is {}, not pending: no order for it may be sent now", status.as_str())]
    NotPending { address: Address, status: Status },
    #[error("`{0}` is already in the state; `state rm` it first to record it again")]
    AlreadyRecorded(Address),
    #[error("the state already records {code} in {region} as `{existing}`; one activation cannot have two addresses")]
    DuplicateActivation {
        region: Region,
        code: ProductCode,
        existing: String,
    },
    #[error("{location}: the record of `{address}` is unreadable ({why}); {} was left untouched", location.noun())]
    BadRecord {
        location: StateLocation,
        address: String,
        why: String,
    },
    #[error("{location} holds no state; there is nothing to migrate")]
    NothingToMigrate { location: StateLocation },
    #[error("`state migrate` needs two different states; both locations name {location}")]
    SameState { location: StateLocation },
    #[error(
        "{location} already holds a state (lineage {lineage}, serial {serial}, {resources} addresses); \
         `state migrate` only copies into an empty location, so nothing was copied"
    )]
    TargetNotEmpty {
        location: StateLocation,
        lineage: String,
        serial: u64,
        resources: usize,
    },
    #[error(
        "the copy at {location} does not match its source ({what}); keep using the source, and remove the copy \
         before trying again"
    )]
    MigrationMismatch { location: StateLocation, what: String },
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl StateError {
    pub(crate) fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> Self {
        let corrupt = matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        );
        if corrupt {
            StateError::Corrupt {
                path: path.to_owned(),
                source,
            }
        } else {
            StateError::Sqlite {
                path: path.to_owned(),
                source,
            }
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        StateError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
