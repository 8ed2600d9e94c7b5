//! [`StateError`], why the state could not be read or written, and its classes
//! ([`ErrorKind`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use pai_spec::{Address, ProductCode, Region};

use super::lock::{self, LockInfo};
use super::{StateLocation, Status};

/// The classes of [`StateError`] that callers branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Another writer holds the lock.
    Locked,
    /// `force-unlock` refused.
    UnlockRefused,
    /// The file or schema is not a pai-provision state; it was left untouched.
    NotAState,
    /// The state's schema is newer than this binary's.
    NewerSchema,
    /// The state's schema is older; a writer upgrades it.
    OlderSchema,
    /// The state is damaged, or a record in it is unreadable.
    Corrupt,
    /// Another writer changed the state behind this one's lock.
    Conflict,
    /// The file system failed, or offers no locks.
    Io,
    /// The database failed or refused a statement (including failing to connect).
    Database,
    /// The location is not usable.
    BadLocation,
    /// The state's contents refuse the change (an unknown address, a duplicate, ...).
    Refused,
    /// `state migrate` refused or found a mismatch.
    Migration,
}

/// Who holds a lock that `force-unlock` was asked to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LiveHolder {
    /// A process on a host that shares the state file (the OS holds its file lock).
    Process,
    /// A PostgreSQL session (its backend pid) holding the advisory lock.
    Session(i32),
}

/// A database driver's error, kept as the [`StateError::Postgres`] source. It displays as the
/// one line the state's message ends with (scrubbed of the password); the driver's own error,
/// whose text is not scrubbed, is reached through [`DriverError::driver`] rather than through
/// `source()`, so that printing an error chain never shows it.
#[derive(Debug)]
pub struct DriverError {
    text: String,
    driver: Box<dyn std::error::Error + Send + Sync>,
}

impl DriverError {
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn new(text: String, driver: impl std::error::Error + Send + Sync + 'static) -> Self {
        DriverError {
            text,
            driver: Box::new(driver),
        }
    }

    /// The driver's error itself.
    pub fn driver(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.driver
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for DriverError {}

/// Why the state could not be read or written. Every variant that concerns a state that is not
/// ours says that it was left untouched, because it was. Locations display without passwords.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// SQLite's error is in the message and not returned as `source()`: printing the chain
    /// would say the same thing twice more.
    #[error("{}: the state file is damaged ({error}); the file was left untouched", path.display())]
    Corrupt { path: PathBuf, error: rusqlite::Error },
    #[error("{}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A reader cannot read the state where it is: its directory may not be written, and its
    /// WAL holds changes that SQLite reads only through a `-shm` it would have to create there.
    #[error(
        "{}: cannot read the state here: its directory may not be written, and its write-ahead log (the `-wal` \
         beside it) holds changes that SQLite reads only through a `-shm` file it would have to create there. \
         Run a command that writes the state (apply, refresh) where the directory can be written, or read a copy",
        path.display()
    )]
    UnreadableWal {
        path: PathBuf,
        #[source]
        source: Box<StateError>,
    },
    /// A writer cannot write the state where it is: this process may not write the file, or
    /// the directory where SQLite must create its `-wal` and `-shm`.
    #[error(
        "{}: cannot write the state: this process may not write the file, or the directory beside it where \
         SQLite must create its `-wal` and `-shm` files; the file was left untouched",
        path.display()
    )]
    NotWritable {
        path: PathBuf,
        #[source]
        source: Box<StateError>,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL error: connecting, or a statement the server refused. `message` has been
    /// scrubbed of the password and ends with the driver's error, when there is one.
    #[error("{location}: {message}")]
    Postgres {
        location: StateLocation,
        message: String,
        /// The server's SQLSTATE (e.g. `28P01`, `40001`), when the server answered with an error.
        sqlstate: Option<String>,
        #[source]
        source: Option<DriverError>,
    },
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
    /// `force-unlock` refused: a live holder has the lock, or the ID does not match, or
    /// nothing is locked.
    #[error("{}", lock::unlock_refused_message(location, requested, *live, holder.as_deref()))]
    UnlockRefused {
        location: StateLocation,
        requested: String,
        /// Who holds the lock now, if anyone does.
        live: Option<LiveHolder>,
        /// The holder record found, if any.
        holder: Option<Box<LockInfo>>,
    },
    #[error(
        "{location}: another writer changed the state while this one held its lock (serial {found}, this writer \
         last wrote or read {expected}); nothing was written. The lock must have been bypassed or broken (a \
         deleted lock file, a terminated PostgreSQL session); run the command again to plan from what is \
         recorded now"
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
    /// The class of the error, for callers that branch on it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::NotAState { .. } => ErrorKind::NotAState,
            StateError::NewerSchema { .. } => ErrorKind::NewerSchema,
            StateError::OlderSchema { .. } => ErrorKind::OlderSchema,
            StateError::Corrupt { .. } | StateError::BadRecord { .. } => ErrorKind::Corrupt,
            StateError::Sqlite { .. } | StateError::Postgres { .. } => ErrorKind::Database,
            StateError::Io { .. }
            | StateError::LockUnsupported { .. }
            | StateError::UnreadableWal { .. }
            | StateError::NotWritable { .. } => ErrorKind::Io,
            StateError::Locked { .. } => ErrorKind::Locked,
            StateError::UnlockRefused { .. } => ErrorKind::UnlockRefused,
            StateError::SerialConflict { .. } => ErrorKind::Conflict,
            StateError::BadLocation { .. } => ErrorKind::BadLocation,
            StateError::NoSuchAddress(_)
            | StateError::NotPending { .. }
            | StateError::AlreadyRecorded(_)
            | StateError::DuplicateActivation { .. } => ErrorKind::Refused,
            StateError::NothingToMigrate { .. }
            | StateError::SameState { .. }
            | StateError::TargetNotEmpty { .. }
            | StateError::MigrationMismatch { .. } => ErrorKind::Migration,
        }
    }

    /// The SQLSTATE of a PostgreSQL error that the server sent.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            StateError::Postgres { sqlstate, .. } => sqlstate.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> Self {
        // The statement goes no further than here: a message names the file and what SQLite
        // said, not the SQL (a failed migration would print the whole schema).
        let source = match source {
            rusqlite::Error::SqlInputError { error, msg, .. } => rusqlite::Error::SqliteFailure(error, Some(msg)),
            other => other,
        };
        let corrupt = matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        );
        if corrupt {
            StateError::Corrupt {
                path: path.to_owned(),
                error: source,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_the_errors_callers_branch_on() {
        let file = || StateLocation::File(PathBuf::from("s.db"));
        let table = [
            (
                StateError::Locked {
                    location: file(),
                    holder: None,
                    waited: Duration::ZERO,
                },
                ErrorKind::Locked,
            ),
            (
                StateError::SerialConflict {
                    location: file(),
                    expected: 1,
                    found: 2,
                },
                ErrorKind::Conflict,
            ),
            (
                StateError::NewerSchema {
                    location: file(),
                    found: 9,
                    supported: 1,
                },
                ErrorKind::NewerSchema,
            ),
            (
                StateError::BadRecord {
                    location: file(),
                    address: "a".into(),
                    why: "x".into(),
                },
                ErrorKind::Corrupt,
            ),
            (
                StateError::Postgres {
                    location: file(),
                    message: "m".into(),
                    sqlstate: Some("40001".into()),
                    source: None,
                },
                ErrorKind::Database,
            ),
            (
                StateError::UnlockRefused {
                    location: file(),
                    requested: "x".into(),
                    live: Some(LiveHolder::Process),
                    holder: None,
                },
                ErrorKind::UnlockRefused,
            ),
        ];
        for (err, kind) in table {
            assert_eq!(err.kind(), kind, "{err}");
        }
        let pg = StateError::Postgres {
            location: file(),
            message: "m".into(),
            sqlstate: Some("40001".into()),
            source: None,
        };
        assert_eq!(pg.sqlstate(), Some("40001"));
    }

    #[test]
    fn a_failed_statement_is_reported_without_its_sql() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a);").unwrap();
        let source = conn
            .execute_batch("CREATE TABLE u (b);\nCREATE TABLE t (\n    a INTEGER NOT NULL\n);")
            .unwrap_err();
        assert!(source.to_string().contains("INTEGER NOT NULL"), "{source}");
        let err = StateError::sqlite(std::path::Path::new("s.db"), source);
        let mut text = err.to_string();
        let mut cause = std::error::Error::source(&err);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        assert!(text.starts_with("s.db: table t already exists"), "{text}");
        assert!(!text.contains("CREATE") && !text.contains("INTEGER"), "{text}");
    }
}
