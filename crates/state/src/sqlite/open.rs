//! Opening a state file: the checks that refuse a file before anything is created beside it,
//! the read-only open that works in a directory this process may not write, the writer's open, and the
//! atomic creation of a new state.
//!
//! SQLite creates a WAL database's `-wal` and `-shm` side files as soon as it reads one, even
//! through a read-only connection. So an existing file is first checked through an
//! `immutable` connection, which reads the file alone and creates nothing: a file refused
//! there (damaged, no lineage, a schema version no state has) gets no side files. That is
//! exact only while the `-wal` holds nothing, which is the case whenever no writer is at work
//! and the last one closed cleanly; otherwise the checks must see the WAL, and run on the
//! normal connection.

use std::path::Path;
use std::time::Duration;

use percent_encoding::{percent_encode, AsciiSet, CONTROLS};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::schema::{self, SCHEMA_VERSION};
use crate::{clock, lock, StateError, StateLocation};

/// How long SQLite waits for another connection's write to finish before giving up. Writers
/// are serialised by the state lock, so this only covers readers meeting a commit.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a URI path may not hold as it is (RFC 3986 and SQLite's URI rules).
const URI_PATH: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'?').add(b'#').add(b'"');

fn at(path: &Path) -> StateLocation {
    StateLocation::File(path.to_owned())
}

/// The side file `suffix` (`-wal`, `-shm`) of the real file behind `path`: SQLite puts them
/// beside the file a symlink points at.
fn side_file(path: &Path, suffix: &str) -> std::path::PathBuf {
    let real = lock::resolve(path).unwrap_or_else(|_| path.to_owned());
    let mut name = real.into_os_string();
    name.push(suffix);
    name.into()
}

/// Whether the file's write-ahead log holds frames that are not in the file itself yet.
fn wal_has_frames(path: &Path) -> bool {
    std::fs::metadata(side_file(path, "-wal")).is_ok_and(|m| m.len() > 0)
}

/// `path` opened `immutable`: SQLite reads the file alone, takes no lock and creates nothing
/// beside it.
fn open_immutable(path: &Path) -> Result<Connection, StateError> {
    let real = lock::resolve(path).map_err(|e| StateError::io(path, e))?;
    let uri = format!("file:{}?immutable=1", percent_encode(&path_bytes(&real), URI_PATH));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(uri, flags).map_err(|e| StateError::sqlite(path, e))
}

/// The header check, then, when the WAL is empty, the checks through SQLite on an immutable
/// connection: a file that is not a usable state is refused before anything is created beside
/// it. Returns the schema version the header says, and, when the WAL was empty, the immutable
/// connection with the version it read (exact: there was nothing else to read).
fn probe(path: &Path) -> Result<(i64, Option<(Connection, i64)>), StateError> {
    let header = schema::check_file(path)?;
    if wal_has_frames(path) {
        return Ok((header, None));
    }
    let conn = open_immutable(path)?;
    let version = schema::check_open(&conn, path)?;
    Ok((header, Some((conn, version))))
}

/// The bytes of a path, as SQLite takes a file name.
#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().replace('\\', "/").into_bytes()
}

/// Whether SQLite failed because it could not create or write the side files it needs, as in
/// a directory this process may not write.
fn is_read_only_place(e: &StateError) -> bool {
    match e {
        StateError::Sqlite { source, .. } => matches!(
            source.sqlite_error_code(),
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen)
        ),
        _ => false,
    }
}

/// Opens an existing state file for reading: refuses what is not a usable state (a newer or
/// an older schema included), and returns the connection and the schema version.
///
/// In a directory this process may not write, SQLite cannot create the `-shm` that a WAL
/// reader needs; the file is then read through the immutable connection. That is exact while
/// nobody writes the state: the WAL was found empty, and a writer must be able to create the
/// `-wal` there (one of a user who may would, at worst, make a read that meets its checkpoint
/// fail). A WAL that still holds frames in such a directory cannot be read by anyone but a
/// writer, and is refused saying so.
pub(super) fn open_reader(path: &Path) -> Result<Connection, StateError> {
    let (header, immutable) = probe(path)?;
    let usable = |version: i64| {
        if version < SCHEMA_VERSION {
            Err(StateError::OlderSchema {
                location: at(path),
                found: version,
                supported: SCHEMA_VERSION,
            })
        } else {
            Ok(())
        }
    };
    if let Some((_, version)) = &immutable {
        usable(*version)?;
    }
    let shared = (|| {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| StateError::sqlite(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| StateError::sqlite(path, e))?;
        let version = schema::check_open(&conn, path)?.max(header);
        Ok((conn, version))
    })();
    match (shared, immutable) {
        (Ok((conn, version)), _) => usable(version).map(|()| conn),
        (Err(e), Some((immutable, _))) if is_read_only_place(&e) => {
            tracing::debug!(
                "{}: reading the state without its -shm, which cannot be created here ({e})",
                path.display()
            );
            Ok(immutable)
        }
        (Err(e), None) if is_read_only_place(&e) => Err(StateError::UnreadableWal {
            path: path.to_owned(),
            source: Box::new(e),
        }),
        (Err(e), _) => Err(e),
    }
}

/// Opens an existing state file for writing, refusing foreign files and newer schemas and
/// migrating older ones. The caller holds the lock.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StateError> {
    let (header, immutable) = probe(path)?;
    let version = immutable.map_or(header, |(_, version)| version);
    open_for_writing(path, version).map_err(|e| {
        if matches!(&e, StateError::Sqlite { source, .. } if source.sqlite_error_code() == Some(ErrorCode::ReadOnly)) {
            StateError::NotWritable {
                path: path.to_owned(),
                source: Box::new(e),
            }
        } else {
            e
        }
    })
}

/// [`open_writer`] once the file has passed the checks that create nothing.
fn open_for_writing(path: &Path, version: i64) -> Result<Connection, StateError> {
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
pub(super) fn create(path: &Path) -> Result<(), StateError> {
    create_with(path, |conn, temp| {
        let lineage = uuid::Uuid::new_v4().to_string();
        schema::initialise(conn, temp, &lineage, &clock::now())
    })
}

/// Creates a new state at `path` atomically: `init` lays it out under a temporary name beside
/// it, and it is linked into place only when complete, so a crash leaves either nothing or a
/// whole state. The file is 0600 on Unix (`private_file`). `path` is the real file (no symlink): a link cannot be made over a symlink,
/// and the temporary file must be on the file's own filesystem.
pub(super) fn create_with(
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
        // Not left to SQLite, which would create it readable by all (less the umask).
        crate::private_file::options()
            .create_new(true)
            .open(&temp)
            .map_err(|e| StateError::io(&temp, e))?;
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
