//! The SQLite backend: one file, WAL, `synchronous=FULL`, locked with an OS file lock beside it.
//!
//! - [`Reader`]: read-only, never creates or writes, no lock.
//! - [`Writer`]: holds the lock ([`crate::lock`]), creates the file on the first write,
//!   and runs each write as one immediate transaction through [`SqliteTx`].
//! - `schema`: the SQL schema, its migrations and the checks that refuse foreign files.
//! - `history`: the history's statements.

mod history;
pub(crate) mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use pai_spec::{Address, ProductCode, Region};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use super::copy::StateDump;
use super::history::{History, NewEvent, RunId};
use super::lock::{self, LockGuard, LockInfo};
use super::rows::{RawResource, RESOURCE_COLUMNS};
use super::tx::{NewRow, NewRun, RowUpdate, Tx, TxError};
use super::{StateError, StateLocation, StateSnapshot, Status};
use crate::clock;
use schema::SCHEMA_VERSION;

/// How long SQLite waits for another connection's write to finish before giving up. Writers
/// are serialised by the state lock, so this only covers readers meeting a commit.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn at(path: &Path) -> StateLocation {
    StateLocation::File(path.to_owned())
}

/// A read-only view of a state file.
#[derive(Debug)]
pub(crate) struct Reader {
    path: PathBuf,
    /// `None` when the file does not exist: an empty state.
    conn: Option<Connection>,
}

impl Reader {
    /// Opens `path` read-only. A missing file is an empty state and is not created; a file that
    /// is not a pai-provision state, or whose schema is newer or older than this binary's, is
    /// refused and left untouched.
    pub(crate) fn open(path: &Path) -> Result<Reader, StateError> {
        if !path.exists() {
            return Ok(Reader {
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
        Ok(Reader {
            path: path.to_owned(),
            conn: Some(conn),
        })
    }

    pub(crate) fn exists(&self) -> bool {
        self.conn.is_some()
    }

    pub(crate) fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        match &self.conn {
            None => Ok(StateSnapshot::default()),
            Some(conn) => read_snapshot(conn, &self.path),
        }
    }

    pub(crate) fn history(&self, address: Option<&Address>) -> Result<History, StateError> {
        match &self.conn {
            None => Ok(History::default()),
            Some(conn) => history::read(conn, &self.path, address),
        }
    }

    pub(crate) fn dump(&self) -> Result<Option<StateDump>, StateError> {
        self.conn.as_ref().map(|c| read_dump(c, &self.path)).transpose()
    }

    pub(crate) fn lock_holder(&self) -> Option<LockInfo> {
        lock::read_holder(&lock::lock_path(&self.path))
    }
}

/// A state file locked for writing.
#[derive(Debug)]
pub(crate) struct Writer {
    path: PathBuf,
    conn: Option<Connection>,
    lock: LockGuard,
}

impl Writer {
    /// Takes the lock, waiting up to `timeout`, then opens the file if it exists, refusing
    /// foreign files and newer schemas and migrating older ones.
    pub(crate) fn open(path: &Path, operation: &str, timeout: Duration) -> Result<Writer, StateError> {
        let lock = lock::acquire(path, operation, timeout)?;
        let conn = if path.exists() {
            Some(open_existing(path)?)
        } else {
            None
        };
        Ok(Writer {
            path: path.to_owned(),
            conn,
            lock,
        })
    }

    pub(crate) fn lock_info(&self) -> &LockInfo {
        self.lock.info()
    }

    pub(crate) fn exists(&self) -> bool {
        self.conn.is_some()
    }

    pub(crate) fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        match &self.conn {
            None => Ok(StateSnapshot::default()),
            Some(conn) => read_snapshot(conn, &self.path),
        }
    }

    pub(crate) fn history(&self, address: Option<&Address>) -> Result<History, StateError> {
        match &self.conn {
            None => Ok(History::default()),
            Some(conn) => history::read(conn, &self.path, address),
        }
    }

    pub(crate) fn dump(&self) -> Result<Option<StateDump>, StateError> {
        self.conn.as_ref().map(|c| read_dump(c, &self.path)).transpose()
    }

    /// Runs `f` in one immediate transaction, creating the state file first if it is missing,
    /// and bumps the serial when asked.
    pub(crate) fn transact<T>(
        &mut self,
        bump_serial: bool,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, TxError>,
    ) -> Result<T, StateError> {
        let path = self.path.clone();
        let conn = self.connection()?;
        let sql = |e| StateError::sqlite(&path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let value = f(&mut SqliteTx(&tx)).map_err(|e| e.into_state(&at(&path)))?;
        if bump_serial {
            tx.execute("UPDATE state SET serial = serial + 1 WHERE id = 1", [])
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(value)
    }

    /// Creates the state as a copy of `dump` (lineage, serial, rows, history), atomically.
    /// The caller has checked that there is no state yet.
    pub(crate) fn restore(&mut self, dump: &StateDump) -> Result<(), StateError> {
        create_with(&self.path, |conn, temp| {
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
        self.conn = Some(open_existing(&self.path)?);
        Ok(())
    }

    fn connection(&mut self) -> Result<&mut Connection, StateError> {
        if self.conn.is_none() {
            create(&self.path)?;
            self.conn = Some(open_existing(&self.path)?);
        }
        match self.conn.as_mut() {
            Some(conn) => Ok(conn),
            None => Err(StateError::NotAState {
                location: at(&self.path),
                why: "it could not be created".into(),
            }),
        }
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
        .query_map([], |r| {
            Ok(RawResource {
                address: r.get(0)?,
                region: r.get(1)?,
                product_code: r.get(2)?,
                status: r.get(3)?,
                origin: r.get(4)?,
                fingerprint: r.get(5)?,
                request_json: r.get(6)?,
                order_id: r.get(7)?,
                product_ids: r.get(8)?,
                buy_product_request_id: r.get(9)?,
                request_id: r.get(10)?,
                last_error: r.get(11)?,
                run_id: r.get(12)?,
                created_at: r.get(13)?,
                updated_at: r.get(14)?,
            })
        })
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
    tx.execute(
        &format!(
            "INSERT INTO resources ({RESOURCE_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ),
        rusqlite::params![
            r.address.as_str(),
            r.region.as_str(),
            r.product_code.as_str(),
            r.status.as_str(),
            r.origin.as_str(),
            r.fingerprint.0,
            r.request.canonical_json(),
            r.order_id,
            super::rows::product_ids_json(&r.product_ids),
            r.buy_product_request_id,
            r.request_id,
            r.last_error,
            r.run_id,
            r.created_at,
            r.updated_at,
        ],
    )?;
    Ok(())
}

/// The write primitives on an open SQLite transaction.
struct SqliteTx<'a>(&'a Transaction<'a>);

impl Tx for SqliteTx<'_> {
    fn insert_run(&mut self, run: &NewRun<'_>) -> Result<RunId, TxError> {
        self.0.execute(
            "INSERT INTO runs (command, host, pid, version, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            (run.command, run.host, run.pid, run.version, run.started_at),
        )?;
        Ok(RunId(self.0.last_insert_rowid()))
    }

    fn close_run(&mut self, run: RunId, now: &str, result: &str, message: Option<&str>) -> Result<(), TxError> {
        self.0.execute(
            "UPDATE runs SET ended_at = ?2, result = ?3, message = ?4 WHERE id = ?1 AND ended_at IS NULL",
            (run.0, now, result, message),
        )?;
        Ok(())
    }

    fn append_event(&mut self, run: RunId, at: &str, event: &NewEvent<'_>) -> Result<(), TxError> {
        history::append(self.0, run, at, event)?;
        Ok(())
    }

    fn status_of(&mut self, address: &Address) -> Result<Option<Status>, TxError> {
        let status: Option<String> = self
            .0
            .query_row(
                "SELECT status FROM resources WHERE address = ?1",
                [address.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(status.and_then(|s| Status::parse(&s)))
    }

    fn activation_address(
        &mut self,
        region: &Region,
        code: ProductCode,
        except: &Address,
    ) -> Result<Option<String>, TxError> {
        Ok(self
            .0
            .query_row(
                "SELECT address FROM resources WHERE region = ?1 AND product_code = ?2 AND address <> ?3",
                (region.as_str(), code.as_str(), except.as_str()),
                |r| r.get(0),
            )
            .optional()?)
    }

    fn upsert(&mut self, row: &NewRow<'_>) -> Result<(), TxError> {
        let product = row.product;
        let request = &product.request;
        self.0.execute(
            "INSERT INTO resources (address, region, product_code, status, origin, fingerprint, request_json,
                                    product_ids, run_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
             ON CONFLICT (address) DO UPDATE SET
                 region = excluded.region, product_code = excluded.product_code, status = excluded.status,
                 origin = excluded.origin, fingerprint = excluded.fingerprint, request_json = excluded.request_json,
                 order_id = NULL, product_ids = excluded.product_ids, buy_product_request_id = NULL,
                 request_id = NULL, last_error = NULL, run_id = excluded.run_id, updated_at = excluded.updated_at",
            rusqlite::params![
                product.address.as_str(),
                product.region.as_str(),
                product.code().as_str(),
                row.status.as_str(),
                row.origin.as_str(),
                request.fingerprint().0,
                request.canonical_json(),
                row.product_ids,
                row.run.0,
                row.now,
            ],
        )?;
        Ok(())
    }

    fn update(&mut self, address: &Address, change: &RowUpdate<'_>, run: RunId, now: &str) -> Result<(), TxError> {
        match change {
            RowUpdate::Ordered { outcome, product_ids } => self.0.execute(
                "UPDATE resources SET status = 'active', order_id = ?2, product_ids = ?3,
                     buy_product_request_id = ?4, request_id = ?5, last_error = NULL, run_id = ?6,
                     updated_at = ?7
                 WHERE address = ?1",
                rusqlite::params![
                    address.as_str(),
                    outcome.order_id,
                    product_ids,
                    outcome.buy_product_request_id,
                    outcome.request_id,
                    run.0,
                    now
                ],
            )?,
            RowUpdate::Resolved { product_ids } => self.0.execute(
                "UPDATE resources SET status = 'active', product_ids = ?2, last_error = NULL, run_id = ?3,
                     updated_at = ?4
                 WHERE address = ?1",
                (address.as_str(), product_ids, run.0, now),
            )?,
            RowUpdate::Failed { error } => self.0.execute(
                "UPDATE resources SET status = 'failed', last_error = ?2, run_id = ?3, updated_at = ?4
                 WHERE address = ?1",
                (address.as_str(), error, run.0, now),
            )?,
            RowUpdate::Sending => self.0.execute(
                "UPDATE resources SET run_id = ?2, updated_at = ?3 WHERE address = ?1 AND status = 'pending'",
                (address.as_str(), run.0, now),
            )?,
        };
        Ok(())
    }

    fn rename(&mut self, from: &Address, to: &Address, run: RunId, now: &str) -> Result<(), TxError> {
        self.0.execute(
            "UPDATE resources SET address = ?2, run_id = ?3, updated_at = ?4 WHERE address = ?1",
            (from.as_str(), to.as_str(), run.0, now),
        )?;
        Ok(())
    }

    fn delete(&mut self, address: &Address) -> Result<(), TxError> {
        self.0
            .execute("DELETE FROM resources WHERE address = ?1", [address.as_str()])?;
        Ok(())
    }
}
