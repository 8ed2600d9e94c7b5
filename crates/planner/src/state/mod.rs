//! The state store: what pai-provision has ordered, adopted or imported, in one SQLite file.
//!
//! - [`store`]: [`Store`], read-only (for `plan` and `show`), and opening and creating the file.
//! - [`writer`]: [`StateWriter`], which holds the lock and makes every change.
//! - [`lock`]: the OS file lock beside the database and the holder record others can read.
//! - [`history`]: the append-only record of runs, API calls and state changes.
//! - `schema`: the SQL schema, its migrations and the checks that refuse foreign files.
//!
//! The layout on disk and the reasons behind it are in `docs/state.md`.

pub mod history;
pub mod lock;
mod schema;
pub mod store;
pub mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use pai_spec::{Address, Fingerprint, ProductCode, ProductRequest, Region};
use serde::{Deserialize, Serialize};

pub use history::{ApiCall, CallOutcome, Event, EventKind, History, RunId, RunRecord, RunResult};
pub use lock::{LockGuard, LockInfo, Unlocked};
pub use schema::SCHEMA_VERSION;
pub use store::Store;
pub use writer::{OrderOutcome, StateWriter};

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

/// Why the state could not be read or written. Every variant that concerns a file that is not
/// ours says that the file was left untouched, because it was.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{}: not a pai-provision state ({why}); the file was left untouched", path.display())]
    NotAState { path: PathBuf, why: String },
    #[error(
        "{}: the state's schema is version {found}, newer than this pai-provision understands ({supported}); \
         upgrade pai-provision. The file was left untouched",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },
    #[error(
        "{}: the state's schema is version {found}, older than this pai-provision's ({supported}); \
         a command that writes the state (apply, refresh, state rm/import) upgrades it",
        path.display()
    )]
    OlderSchema { path: PathBuf, found: i64, supported: i64 },
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
    #[error("{}", lock::locked_message(path, holder.as_deref(), *waited))]
    Locked {
        path: PathBuf,
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
    #[error("`{0}` is not in the state")]
    NoSuchAddress(Address),
    #[error("`{0}` is already in the state; `state rm` it first to record it again")]
    AlreadyRecorded(Address),
    #[error("the state already records {code} in {region} as `{existing}`; one activation cannot have two addresses")]
    DuplicateActivation {
        region: Region,
        code: ProductCode,
        existing: String,
    },
    #[error("{}: the record of `{address}` is unreadable ({why}); the file was left untouched", path.display())]
    BadRecord {
        path: PathBuf,
        address: String,
        why: String,
    },
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
