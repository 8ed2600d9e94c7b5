//! The boundary between the state's rules and the databases that hold it: two object-safe
//! traits that each backend implements once, and the one place ([`open_read`], [`open_write`],
//! [`force_unlock`]) that picks a backend for a [`StateLocation`].
//!
//! [`Reads`] is what every open state answers, locked or not. [`Writes`] is a state locked for
//! writing: its reads, who holds the lock, and transactions whose primitives ([`Tx`]) the
//! writer composes into the state's changes. Each backend converts its driver's errors into
//! [`StateError`] inside itself, so nothing above this line names a driver.

use std::fmt::Debug;
use std::time::Duration;

use pai_spec::Address;

use super::copy::StateDump;
use super::history::History;
use super::lock::{LockInfo, Unlocked};
use super::tx::Tx;
use super::{sqlite, StateError, StateLocation, StateSnapshot};

/// The reads of an open state. A state that does not exist yet reads as empty.
pub(crate) trait Reads: Debug + Send {
    /// Whether the state exists (a file, or a schema holding a state).
    fn exists(&self) -> bool;
    /// Lineage, serial and every recorded resource, read in one transaction.
    fn snapshot(&self) -> Result<StateSnapshot, StateError>;
    /// The history, whole or for one address.
    fn history(&self, address: Option<&Address>) -> Result<History, StateError>;
    /// Everything the state holds, read in one transaction; `None` when there is no state.
    fn dump(&self) -> Result<Option<StateDump>, StateError>;
    /// The current lock holder's record, if there is one.
    fn lock_holder(&self) -> Option<LockInfo>;
    /// Whether a process holds the lock now. A record without a holder is what a killed process
    /// leaves: the lock itself (`flock`, an advisory lock) died with it.
    fn lock_held(&self) -> bool;
}

/// The body of a write transaction. It returns `()` so that the trait stays object-safe; the
/// writer carries a value out through the closure's captures.
pub(crate) type TxBody<'a> = &'a mut dyn FnMut(&mut dyn Tx) -> Result<(), StateError>;

/// A state locked for writing, for as long as the value lives.
pub(crate) trait Writes: Debug + Send {
    /// The reads, over the same connection as the writes.
    fn reads(&self) -> &dyn Reads;
    fn lock_info(&self) -> &LockInfo;
    /// Runs `body` once in one transaction, creating the state first if it is missing, and
    /// bumps the serial when asked. Nothing is written unless `body` succeeds.
    fn transact(&mut self, bump_serial: bool, body: TxBody<'_>) -> Result<(), StateError>;
    /// Creates the state as an exact copy of `dump`, atomically. The caller has checked that
    /// there is no state yet.
    fn restore(&mut self, dump: &StateDump) -> Result<(), StateError>;
}

/// Opens the state at `location` read-only.
pub(crate) fn open_read(location: &StateLocation) -> Result<Box<dyn Reads>, StateError> {
    match location {
        StateLocation::File(path) => Ok(Box::new(sqlite::SqliteDb::open_read_only(path)?)),
        #[cfg(feature = "postgres")]
        StateLocation::Postgres(target) => Ok(Box::new(super::postgres::PgDb::open(location, target)?)),
        #[cfg(not(feature = "postgres"))]
        StateLocation::Postgres(_) => Err(without_postgres(location)),
    }
}

/// Takes the lock of the state at `location` for `operation`, waiting up to `timeout`, then
/// opens it for writing.
pub(crate) fn open_write(
    location: &StateLocation,
    operation: &str,
    timeout: Duration,
) -> Result<Box<dyn Writes>, StateError> {
    match location {
        StateLocation::File(path) => Ok(Box::new(sqlite::SqliteWriter::open(path, operation, timeout)?)),
        #[cfg(feature = "postgres")]
        StateLocation::Postgres(target) => Ok(Box::new(super::postgres::PgWriter::open(
            location, target, operation, timeout,
        )?)),
        #[cfg(not(feature = "postgres"))]
        StateLocation::Postgres(_) => Err(without_postgres(location)),
    }
}

/// Clears the record of lock `id` left by a holder that is gone; refuses to break a lock that
/// a live process or session holds.
pub(crate) fn force_unlock(location: &StateLocation, id: &str) -> Result<Unlocked, StateError> {
    match location {
        StateLocation::File(path) => super::lock::force_unlock(path, id),
        #[cfg(feature = "postgres")]
        StateLocation::Postgres(target) => super::postgres::force_unlock(location, target, id),
        #[cfg(not(feature = "postgres"))]
        StateLocation::Postgres(_) => Err(without_postgres(location)),
    }
}

/// A `postgres://` location given to a build without the PostgreSQL backend.
#[cfg(not(feature = "postgres"))]
fn without_postgres(location: &StateLocation) -> StateError {
    StateError::BadLocation {
        location: location.to_string(),
        why: "this pai-provision was built without PostgreSQL support (the `postgres` feature of pai-state)".into(),
    }
}

#[cfg(all(test, not(feature = "postgres")))]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_location_is_refused_naming_the_feature() {
        let location = StateLocation::parse("postgres://u:secret@h/d", &|_| None).unwrap();
        let errors = [
            open_read(&location).err(),
            open_write(&location, "apply", Duration::ZERO).err(),
            force_unlock(&location, "x").err(),
        ];
        for err in errors {
            let Some(err) = err else {
                panic!("a postgres:// location opened without the feature")
            };
            let msg = err.to_string();
            assert_eq!(err.kind(), crate::ErrorKind::BadLocation, "{msg}");
            assert!(msg.contains("the `postgres` feature"), "{msg}");
            assert!(!msg.contains("secret"), "{msg}");
        }
    }
}
