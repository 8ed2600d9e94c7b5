//! The SQLite backend: one file, WAL, `synchronous=FULL`, locked with an OS file lock beside it.
//!
//! - [`SqliteDb`]: the file and its connection, and the reads ([`Reads`]); opened read-only for
//!   a `Store`, or read-write under the lock for the writer.
//! - [`SqliteWriter`]: holds the lock ([`crate::lock`]) of the real file, creates the file on
//!   the first write, and runs each write as one immediate transaction that first checks the
//!   serial ([`Writes`]).
//! - `open`: opening and creating a file, and the checks that refuse one before anything is
//!   created beside it.
//! - `tx`: the write primitives as SQL.
//! - `schema`: the SQL schema, its migrations and the checks that refuse foreign files.
//! - `history`: the history's statements.

mod history;
mod open;
pub(crate) mod schema;
mod tx;

use std::path::{Path, PathBuf};
use std::time::Duration;

use pai_spec::Address;
use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::backend::{Reads, TxBody, Writes};
use super::copy::StateDump;
use super::history::History;
use super::lock::{self, LockGuard, LockInfo};
use super::rows::{insert_statement, RawResource, Value, RESOURCE_COLUMNS};
use super::{StateError, StateLocation, StateSnapshot};
use tx::SqliteTx;

fn at(path: &Path) -> StateLocation {
    StateLocation::File(path.to_owned())
}

/// A state file and its connection: the reads, written once for [`Store`](crate::Store) and
/// for the writer.
#[derive(Debug)]
pub(crate) struct SqliteDb {
    path: PathBuf,
    /// `None` when the file does not exist: an empty state.
    conn: Option<Connection>,
}

impl SqliteDb {
    /// Opens `path` read-only. A missing file is an empty state and is not created; a file that
    /// is not a pai-provision state, or whose schema is newer or older than this binary's, is
    /// refused and left untouched. Works in a directory this process may not write.
    pub(crate) fn open_read_only(path: &Path) -> Result<SqliteDb, StateError> {
        let conn = if path.exists() {
            Some(open::open_reader(path)?)
        } else {
            None
        };
        Ok(SqliteDb {
            path: path.to_owned(),
            conn,
        })
    }

    /// Opens `path` for writing if it exists, refusing foreign files and newer schemas and
    /// migrating older ones. The caller holds the lock.
    fn open_read_write(path: &Path) -> Result<SqliteDb, StateError> {
        let conn = if path.exists() {
            Some(open::open_writer(path)?)
        } else {
            None
        };
        Ok(SqliteDb {
            path: path.to_owned(),
            conn,
        })
    }
}

impl Reads for SqliteDb {
    fn exists(&self) -> bool {
        self.conn.is_some()
    }

    fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        match &self.conn {
            None => Ok(StateSnapshot::default()),
            Some(conn) => read_snapshot(conn, &self.path),
        }
    }

    fn history(&self, address: Option<&Address>) -> Result<History, StateError> {
        match &self.conn {
            None => Ok(History::default()),
            Some(conn) => history::read(conn, &self.path, address),
        }
    }

    fn dump(&self) -> Result<Option<StateDump>, StateError> {
        self.conn.as_ref().map(|c| read_dump(c, &self.path)).transpose()
    }

    fn lock_holder(&self) -> Option<LockInfo> {
        let real = lock::resolve(&self.path).unwrap_or_else(|_| self.path.clone());
        lock::read_holder(&lock::lock_path(&real))
    }

    fn lock_held(&self) -> bool {
        let real = lock::resolve(&self.path).unwrap_or_else(|_| self.path.clone());
        lock::is_held(&lock::lock_path(&real))
    }
}

/// A state file locked for writing.
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    /// At the path as given, which messages name.
    db: SqliteDb,
    /// The file itself, symlinks resolved: what the lock is taken on and what is created.
    real: PathBuf,
    lock: LockGuard,
    /// The serial of the state as this writer last read or wrote it (0: no state yet). Every
    /// write checks it, so that a writer whose lock did not exclude another (its lock file was
    /// deleted and taken anew, say) never records over what the other wrote.
    serial_seen: u64,
}

impl SqliteWriter {
    /// Takes the lock, waiting up to `timeout`, then opens the file if it exists.
    pub(crate) fn open(path: &Path, operation: &str, timeout: Duration) -> Result<SqliteWriter, StateError> {
        let lock = lock::acquire(path, operation, timeout)?;
        let real = lock::resolve(path).map_err(|e| StateError::io(path, e))?;
        let db = SqliteDb::open_read_write(path)?;
        let serial_seen = match &db.conn {
            Some(conn) => read_serial(conn, path)?,
            None => 0,
        };
        Ok(SqliteWriter {
            db,
            real,
            lock,
            serial_seen,
        })
    }

    /// The connection, creating the state first if there is none. A state that appeared since
    /// this writer looked was created by another writer: a conflict.
    fn connection(&mut self) -> Result<&mut Connection, StateError> {
        if self.db.conn.is_none() {
            let created = if self.real.exists() {
                None
            } else {
                Some(open::create(&self.real))
            };
            match created {
                Some(Ok(())) => {}
                Some(Err(e)) if !self.real.exists() => return Err(e),
                // The file is there although it was not when this writer took the lock.
                _ => {
                    let path = &self.db.path;
                    let found = open::open_reader(path).and_then(|c| read_serial(&c, path));
                    return Err(StateError::SerialConflict {
                        location: at(path),
                        expected: self.serial_seen,
                        found: found.unwrap_or(0),
                    });
                }
            }
            self.db.conn = Some(open::open_writer(&self.db.path)?);
        }
        match self.db.conn.as_mut() {
            Some(conn) => Ok(conn),
            None => Err(StateError::NotAState {
                location: at(&self.db.path),
                why: "it could not be created".into(),
            }),
        }
    }
}

impl Writes for SqliteWriter {
    fn reads(&self) -> &dyn Reads {
        &self.db
    }

    fn lock_info(&self) -> &LockInfo {
        self.lock.info()
    }

    /// One immediate transaction, which first checks that the serial is still the one this
    /// writer last read or wrote. The immediate transaction holds SQLite's write lock from its
    /// start, so nothing can change the serial between the check and the commit.
    fn transact(&mut self, bump_serial: bool, body: TxBody<'_>) -> Result<(), StateError> {
        let path = self.db.path.clone();
        let expected = self.serial_seen;
        let conn = self.connection()?;
        let sql = |e| StateError::sqlite(&path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let found = read_serial(&tx, &path)?;
        if found != expected {
            return Err(StateError::SerialConflict {
                location: at(&path),
                expected,
                found,
            });
        }
        body(&mut SqliteTx::new(&tx, &path))?;
        let serial = if bump_serial {
            tx.execute("UPDATE state SET serial = serial + 1 WHERE id = 1", [])
                .map_err(sql)?;
            found + 1
        } else {
            found
        };
        tx.commit().map_err(sql)?;
        self.serial_seen = serial;
        Ok(())
    }

    fn restore(&mut self, dump: &StateDump) -> Result<(), StateError> {
        let real = self.real.clone();
        open::create_with(&real, |conn, temp| {
            schema::initialise(conn, temp, &dump.lineage, &dump.created_at)?;
            let sql = |e| StateError::sqlite(temp, e);
            let tx = conn.transaction().map_err(sql)?;
            history::insert_all(&tx, &dump.history).map_err(sql)?;
            for r in &dump.resources {
                insert_resource(&tx, r).map_err(sql)?;
            }
            let serial = i64::try_from(dump.serial).unwrap_or(i64::MAX);
            tx.execute("UPDATE state SET serial = ?1 WHERE id = 1", [serial])
                .map_err(sql)?;
            tx.commit().map_err(sql)
        })?;
        self.db.conn = Some(open::open_writer(&self.db.path)?);
        self.serial_seen = dump.serial;
        Ok(())
    }
}

/// The serial, as `conn` sees it now.
fn read_serial(conn: &Connection, path: &Path) -> Result<u64, StateError> {
    let serial: i64 = conn
        .query_row("SELECT serial FROM state WHERE id = 1", [], |r| r.get(0))
        .map_err(|e| StateError::sqlite(path, e))?;
    Ok(u64::try_from(serial).unwrap_or(0))
}

fn read_snapshot(conn: &Connection, path: &Path) -> Result<StateSnapshot, StateError> {
    let sql = |e| StateError::sqlite(path, e);
    let tx = conn.unchecked_transaction().map_err(sql)?;
    let (lineage, serial, _) = read_meta(&tx).map_err(sql)?;
    let mut snapshot = StateSnapshot {
        lineage: Some(lineage),
        serial: u64::try_from(serial).unwrap_or(0),
        resources: Default::default(),
        freeze: history::read_freeze(&tx).map_err(sql)?,
    };
    for resource in read_resources(&tx, path)? {
        snapshot.resources.insert(resource.address.clone(), resource);
    }
    Ok(snapshot)
}

fn read_meta(conn: &Connection) -> rusqlite::Result<(String, i64, String)> {
    conn.query_row("SELECT lineage, serial, created_at FROM state WHERE id = 1", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

fn read_resources(conn: &Connection, path: &Path) -> Result<Vec<super::Resource>, StateError> {
    let sql = |e| StateError::sqlite(path, e);
    let mut stmt = conn
        .prepare(&format!("SELECT {RESOURCE_COLUMNS} FROM resources ORDER BY address"))
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| RawResource::read(|i| r.get(i), |i| r.get(i)))
        .map_err(sql)?;
    let location = at(path);
    let mut out = Vec::new();
    for raw in rows {
        out.push(raw.map_err(sql)?.parse(&location)?);
    }
    Ok(out)
}

/// Everything, read in one transaction.
fn read_dump(conn: &Connection, path: &Path) -> Result<StateDump, StateError> {
    let sql = |e| StateError::sqlite(path, e);
    let tx = conn.unchecked_transaction().map_err(sql)?;
    let (lineage, serial, created_at) = read_meta(&tx).map_err(sql)?;
    let resources = read_resources(&tx, path)?;
    let history = history::read_in(&tx, None).map_err(sql)?;
    Ok(StateDump {
        lineage,
        serial: u64::try_from(serial).unwrap_or(0),
        created_at,
        resources,
        history,
    })
}

fn insert_resource(tx: &Transaction<'_>, r: &super::Resource) -> rusqlite::Result<()> {
    let raw = RawResource::of(r);
    tx.execute(
        &insert_statement(|i| format!("?{i}")),
        rusqlite::params_from_iter(raw.values()),
    )?;
    Ok(())
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Value::Text(t) => t.to_sql(),
            Value::Int(i) => i.to_sql(),
        }
    }
}
