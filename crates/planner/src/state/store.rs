//! Opening the state for reading ([`Store`]: never creates, never writes) and the file-level
//! work both readers and the writer share: checking, opening, creating and reading a snapshot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pai_spec::{Address, Fingerprint, ProductCode, ProductRequest, Region};
use rusqlite::{Connection, OpenFlags};

use super::history::{self, History};
use super::lock::{self, LockInfo};
use super::schema::{self, SCHEMA_VERSION};
use super::{Origin, Resource, StateError, StateSnapshot, Status};
use crate::clock;

/// How long SQLite waits for another connection's write to finish before giving up. Writers
/// are serialised by the state lock, so this only covers readers meeting a commit.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A read-only view of a state file, for `plan`, `show` and `state list/show/history`.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// `None` when the file does not exist: an empty state.
    conn: Option<Connection>,
}

impl Store {
    /// Opens `path` read-only. A missing file is an empty state and is not created; a file that
    /// is not a pai-provision state, or whose schema is newer or older than this binary's, is
    /// refused and left untouched.
    pub fn open_read_only(path: &Path) -> Result<Store, StateError> {
        if !path.exists() {
            return Ok(Store {
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
                path: path.to_owned(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Store {
            path: path.to_owned(),
            conn: Some(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the state file exists.
    pub fn exists(&self) -> bool {
        self.conn.is_some()
    }

    /// Lineage, serial and every recorded resource, read in one transaction.
    pub fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        match &self.conn {
            None => Ok(StateSnapshot::default()),
            Some(conn) => read_snapshot(conn, &self.path),
        }
    }

    /// The history, whole or for one address.
    pub fn history(&self, address: Option<&Address>) -> Result<History, StateError> {
        match &self.conn {
            None => Ok(History::default()),
            Some(conn) => history::read(conn, &self.path, address),
        }
    }

    /// The current lock holder, if a process holds the lock or left its record behind.
    pub fn lock_holder(&self) -> Option<LockInfo> {
        lock::read_holder(&lock::lock_path(&self.path))
    }
}

pub(super) fn open_existing(path: &Path) -> Result<Connection, StateError> {
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

/// Creates a new state at `path` atomically: it is laid out under a temporary name beside it
/// and linked into place only when complete, so a crash leaves either nothing or a whole state.
pub(super) fn create(path: &Path) -> Result<(), StateError> {
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
        let lineage = uuid::Uuid::new_v4().to_string();
        schema::initialise(&mut conn, &temp, &lineage, &clock::now())?;
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

pub(super) fn read_snapshot(conn: &Connection, path: &Path) -> Result<StateSnapshot, StateError> {
    let sql = |e| StateError::sqlite(path, e);
    let tx = conn.unchecked_transaction().map_err(sql)?;
    let (lineage, serial): (String, i64) = tx
        .query_row("SELECT lineage, serial FROM state WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(sql)?;
    let mut stmt = tx
        .prepare(
            "SELECT address, region, product_code, status, origin, fingerprint, request_json, order_id, product_ids,
                    buy_product_request_id, request_id, last_error, run_id, created_at, updated_at
             FROM resources ORDER BY address",
        )
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
    let mut snapshot = StateSnapshot {
        lineage: Some(lineage),
        serial: u64::try_from(serial).unwrap_or(0),
        resources: Default::default(),
    };
    for raw in rows {
        let resource = raw.map_err(sql)?.parse(path)?;
        snapshot.resources.insert(resource.address.clone(), resource);
    }
    Ok(snapshot)
}

/// A `resources` row as stored, before its text columns are checked.
struct RawResource {
    address: String,
    region: String,
    product_code: String,
    status: String,
    origin: String,
    fingerprint: String,
    request_json: String,
    order_id: Option<String>,
    product_ids: String,
    buy_product_request_id: Option<String>,
    request_id: Option<String>,
    last_error: Option<String>,
    run_id: Option<i64>,
    created_at: String,
    updated_at: String,
}

impl RawResource {
    fn parse(self, path: &Path) -> Result<Resource, StateError> {
        let bad = |why: String| StateError::BadRecord {
            path: path.to_owned(),
            address: self.address.clone(),
            why,
        };
        let request: ProductRequest =
            serde_json::from_str(&self.request_json).map_err(|e| bad(format!("request: {e}")))?;
        Ok(Resource {
            address: Address::parse(&self.address).map_err(bad)?,
            region: Region::parse(&self.region).map_err(bad)?,
            product_code: ProductCode::parse(&self.product_code)
                .ok_or_else(|| bad(format!("unknown product code `{}`", self.product_code)))?,
            status: Status::parse(&self.status).ok_or_else(|| bad(format!("unknown status `{}`", self.status)))?,
            origin: Origin::parse(&self.origin).ok_or_else(|| bad(format!("unknown origin `{}`", self.origin)))?,
            fingerprint: Fingerprint(self.fingerprint.clone()),
            request,
            order_id: self.order_id.clone(),
            product_ids: serde_json::from_str(&self.product_ids).map_err(|e| bad(format!("product ids: {e}")))?,
            buy_product_request_id: self.buy_product_request_id.clone(),
            request_id: self.request_id.clone(),
            last_error: self.last_error.clone(),
            run_id: self.run_id,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        })
    }
}
