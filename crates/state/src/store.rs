//! [`Store`]: a state opened for reading, whichever backend holds it. It never creates, never
//! writes and takes no lock.

use pai_spec::Address;

use super::copy::StateDump;
use super::history::History;
use super::lock::LockInfo;
use super::{postgres, sqlite, StateError, StateLocation, StateSnapshot};

/// A read-only view of a state, for `plan`, `show` and `state list/show/history`.
#[derive(Debug)]
pub struct Store {
    location: StateLocation,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Sqlite(sqlite::Reader),
    Postgres(postgres::Reader),
}

impl Store {
    /// Opens the state at `location` (a path, or a [`StateLocation`]) read-only. A missing
    /// state is empty and is not created; a file or schema that is not a pai-provision state,
    /// or whose schema is newer or older than this binary's, is refused and left untouched.
    pub fn open_read_only(location: impl Into<StateLocation>) -> Result<Store, StateError> {
        let location = location.into();
        let backend = match &location {
            StateLocation::File(path) => Backend::Sqlite(sqlite::Reader::open(path)?),
            StateLocation::Postgres(target) => Backend::Postgres(postgres::Reader::open(&location, target)?),
        };
        Ok(Store { location, backend })
    }

    pub fn location(&self) -> &StateLocation {
        &self.location
    }

    /// Whether the state exists (a file, or a schema holding a state).
    pub fn exists(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(r) => r.exists(),
            Backend::Postgres(r) => r.exists(),
        }
    }

    /// Lineage, serial and every recorded resource, read in one transaction.
    pub fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        match &self.backend {
            Backend::Sqlite(r) => r.snapshot(),
            Backend::Postgres(r) => r.snapshot(),
        }
    }

    /// The history, whole or for one address.
    pub fn history(&self, address: Option<&Address>) -> Result<History, StateError> {
        match &self.backend {
            Backend::Sqlite(r) => r.history(address),
            Backend::Postgres(r) => r.history(address),
        }
    }

    /// Everything the state holds, read in one transaction; `None` when there is no state.
    pub fn dump(&self) -> Result<Option<StateDump>, StateError> {
        match &self.backend {
            Backend::Sqlite(r) => r.dump(),
            Backend::Postgres(r) => r.dump(),
        }
    }

    /// The current lock holder, if a process holds the lock or left its record behind.
    pub fn lock_holder(&self) -> Option<LockInfo> {
        match &self.backend {
            Backend::Sqlite(r) => r.lock_holder(),
            Backend::Postgres(r) => r.lock_holder(),
        }
    }
}
