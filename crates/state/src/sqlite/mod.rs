//! The SQLite backend: one file, WAL, `synchronous=FULL`, locked with an OS file lock beside it.
//!
//! - [`SqliteDb`]: the file and its connection, and the reads ([`Reads`]); opened read-only for
//!   a `Store`, or read-write under the lock for the writer.
//! - [`SqliteWriter`]: holds the lock ([`crate::lock`]), creates the file on the first write,
//!   and runs each write as one immediate transaction ([`Writes`]).
//! - `tx`: the write primitives as SQL.
//! - `schema`: the SQL schema, its migrations and the checks that refuse foreign files.
//! - `history`: the history's statements.

mod history;
pub(crate) mod schema;
mod tx;

use std::path::{Path, PathBuf};
use std::time::Duration;

use pai_spec::Address;
use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::backend::{Reads, TxBody, Writes};
use super::copy::StateDump;
use super::history::History;
use super::lock::{self, LockGuard, LockInfo};
use super::rows::{insert_statement, RawResource, Value, RESOURCE_COLUMNS};
use super::{StateError, StateLocation, StateSnapshot};
use crate::clock;
use schema::SCHEMA_VERSION;
use tx::SqliteTx;

/// How long SQLite waits for another connection's write to finish before giving up. Writers
/// are serialised by the state lock, so this only covers readers meeting a commit.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// refused and left untouched.
    pub(crate) fn open_read_only(path: &Path) -> Result<SqliteDb, StateError> {
        if !path.exists() {
            return Ok(SqliteDb {
                path: path.to_owned(),
                conn: None,
            });
        }
        let version = schema::check_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| StateError::sqlite(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| StateError::sqlite(path, e))?;
        let version = schema::check_open(&conn, path)?.max(version);
        if version < SCHEMA_VERSION {
            return Err(StateError::OlderSchema {
                location: at(path),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(SqliteDb {
            path: path.to_owned(),
            conn: Some(conn),
        })
    }

    /// Opens `path` for writing if it exists, refusing foreign files and newer schemas and
    /// migrating older ones. The caller holds the lock.
    fn open_read_write(path: &Path) -> Result<SqliteDb, StateError> {
        let conn = if path.exists() {
            Some(open_existing(path)?)
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
        lock::read_holder(&lock::lock_path(&self.path))
    }
}

/// A state file locked for writing.
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    db: SqliteDb,
    lock: LockGuard,
}

impl SqliteWriter {
    /// Takes the lock, waiting up to `timeout`, then opens the file if it exists.
    pub(crate) fn open(path: &Path, operation: &str, timeout: Duration) -> Result<SqliteWriter, StateError> {
        let lock = lock::acquire(path, operation, timeout)?;
        let db = SqliteDb::open_read_write(path)?;
        Ok(SqliteWriter { db, lock })
    }

    fn connection(&mut self) -> Result<&mut Connection, StateError> {
        let path = &self.db.path;
        if self.db.conn.is_none() {
            create(path)?;
            self.db.conn = Some(open_existing(path)?);
        }
        match self.db.conn.as_mut() {
            Some(conn) => Ok(conn),
            None => Err(StateError::NotAState {
                location: at(path),
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

    /// One immediate transaction.
    fn transact(&mut self, bump_serial: bool, body: TxBody<'_>) -> Result<(), StateError> {
        let path = self.db.path.clone();
        let conn = self.connection()?;
        let sql = |e| StateError::sqlite(&path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        body(&mut SqliteTx::new(&tx, &path))?;
        if bump_serial {
            tx.execute("UPDATE state SET serial = serial + 1 WHERE id = 1", [])
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    fn restore(&mut self, dump: &StateDump) -> Result<(), StateError> {
        let path = self.db.path.clone();
        create_with(&path, |conn, temp| {
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
        self.db.conn = Some(open_existing(&path)?);
        Ok(())
    }
}

fn open_existing(path: &Path) -> Result<Connection, StateError> {
    let version = schema::check_file(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let sql = |e| StateError::sqlite(path, e);
    let mut conn = Connection::open_with_flags(path, flags).map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    let version = schema::check_open(&conn, path)?.max(version);
    // Only now, with the file known to be ours, may anything be written to it.
    conn.pragma_update(None, "synchronous", "FULL").map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(sql)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            "{}: SQLite could not switch to WAL (journal mode {mode})",
            path.display()
        );
    }
    if version < SCHEMA_VERSION {
        tracing::info!(
            "{}: upgrading the state schema from version {version} to {SCHEMA_VERSION}",
            path.display()
        );
        schema::migrate(&mut conn, path, version)?;
    }
    Ok(conn)
}

/// Creates a new, empty state at `path` with a fresh lineage.
fn create(path: &Path) -> Result<(), StateError> {
    create_with(path, |conn, temp| {
        let lineage = uuid::Uuid::new_v4().to_string();
        schema::initialise(conn, temp, &lineage, &clock::now())
    })
}

/// Creates a new state at `path` atomically: `init` lays it out under a temporary name beside
/// it, and it is linked into place only when complete, so a crash leaves either nothing or a
/// whole state.
fn create_with(
    path: &Path,
    init: impl FnOnce(&mut Connection, &Path) -> Result<(), StateError>,
) -> Result<(), StateError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| StateError::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.creating-{}", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut conn = Connection::open(&temp).map_err(|e| StateError::sqlite(&temp, e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| StateError::sqlite(&temp, e))?;
        init(&mut conn, &temp)?;
        // Closing the only connection checkpoints the WAL into the file and removes it.
        conn.close().map_err(|(_, e)| StateError::sqlite(&temp, e))?;
        // A hard link never replaces an existing file, unlike a rename.
        std::fs::hard_link(&temp, path).map_err(|e| StateError::io(path, e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        tracing::info!("created the state {}", path.display());
        Ok(())
    })();
    let _ = std::fs::remove_file(&temp);
    result
}

fn read_snapshot(conn: &Connection, path: &Path) -> Result<StateSnapshot, StateError> {
    let sql = |e| StateError::sqlite(path, e);
    let tx = conn.unchecked_transaction().map_err(sql)?;
    let (lineage, serial, _) = read_meta(&tx).map_err(sql)?;
    let mut snapshot = StateSnapshot {
        lineage: Some(lineage),
        serial: u64::try_from(serial).unwrap_or(0),
        resources: Default::default(),
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
