//! [`Store`]: a state opened for reading, whichever backend holds it. It never creates, never
//! writes and takes no lock.

use pai_spec::Address;

use super::backend::{self, Reads};
use super::copy::StateDump;
use super::history::History;
use super::lock::LockInfo;
use super::{StateError, StateLocation, StateSnapshot};

/// A read-only view of a state, for `plan`, `show` and `state list/show/history`.
#[derive(Debug)]
pub struct Store {
    location: StateLocation,
    db: Box<dyn Reads>,
}

impl Store {
    /// Opens the state at `location` (a path, or a [`StateLocation`]) read-only. A missing
    /// state is empty and is not created; a file or schema that is not a pai-provision state,
    /// or whose schema is newer or older than this binary's, is refused and left untouched.
    pub fn open_read_only(location: impl Into<StateLocation>) -> Result<Store, StateError> {
        let location = location.into();
        let db = backend::open_read(&location)?;
        Ok(Store { location, db })
    }

    pub fn location(&self) -> &StateLocation {
        &self.location
    }

    /// Whether the state exists (a file, or a schema holding a state).
    pub fn exists(&self) -> bool {
        self.db.exists()
    }

    /// Lineage, serial and every recorded resource, read in one transaction.
    pub fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        self.db.snapshot()
    }

    /// The history, whole or for one address.
    pub fn history(&self, address: Option<&Address>) -> Result<History, StateError> {
        self.db.history(address)
    }

    /// Everything the state holds, read in one transaction; `None` when there is no state.
    pub fn dump(&self) -> Result<Option<StateDump>, StateError> {
        self.db.dump()
    }

    /// The current lock holder, if a process holds the lock or left its record behind.
    pub fn lock_holder(&self) -> Option<LockInfo> {
        self.db.lock_holder()
    }

    /// Whether a process holds the state's lock now ([`Store::lock_holder`] may be the record
    /// of a process that died holding it; the next writer takes the lock regardless).
    pub fn lock_held(&self) -> bool {
        self.db.lock_held()
    }
}
