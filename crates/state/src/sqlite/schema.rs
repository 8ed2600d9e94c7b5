//! The state's SQL schema, its migrations, and the checks that tell our files from others.
//!
//! A state file is recognised by SQLite's `application_id` header field (`PAIP`) and versioned
//! by `user_version`: migration N takes a file from version N-1 to N. The header is checked from
//! the raw bytes before SQLite opens the file, so a file that is not ours is never touched.

use std::io::Read;
use std::path::Path;

use rusqlite::Connection;

use crate::{StateError, StateLocation};

fn at(path: &Path) -> StateLocation {
    StateLocation::File(path.to_owned())
}

/// `PAIP` in SQLite's `application_id` header field (offset 68).
pub const APPLICATION_ID: i32 = 0x5041_4950;

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration `i` takes the schema from version `i` to `i + 1`. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

const V1: &str = r#"
CREATE TABLE state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    lineage     TEXT    NOT NULL,
    serial      INTEGER NOT NULL,
    created_at  TEXT    NOT NULL
);

CREATE TABLE resources (
    address                 TEXT PRIMARY KEY,
    region                  TEXT NOT NULL,
    product_code            TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('pending', 'active', 'failed')),
    origin                  TEXT NOT NULL CHECK (origin IN ('ordered', 'adopted', 'imported')),
    fingerprint             TEXT NOT NULL,
    request_json            TEXT NOT NULL,
    order_id                TEXT,
    product_ids             TEXT NOT NULL DEFAULT '[]',
    buy_product_request_id  TEXT,
    request_id              TEXT,
    last_error              TEXT,
    run_id                  INTEGER,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    UNIQUE (region, product_code)
);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    command     TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    version     TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    ended_at    TEXT,
    result      TEXT,
    message     TEXT
);

CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    at           TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('api', 'state')),
    action       TEXT    NOT NULL,
    region       TEXT,
    outcome      TEXT,
    http_status  INTEGER,
    code         TEXT,
    message      TEXT,
    request_id   TEXT,
    order_id     TEXT,
    duration_ms  INTEGER
);
CREATE INDEX events_by_run ON events (run_id, id);

CREATE TABLE event_addresses (
    event_id  INTEGER NOT NULL REFERENCES events (id),
    address   TEXT    NOT NULL,
    PRIMARY KEY (event_id, address)
) WITHOUT ROWID;
CREATE INDEX event_addresses_by_address ON event_addresses (address, event_id);

-- The history is append-only: a run may be closed once, nothing may be rewritten or deleted.
CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
    BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
CREATE TRIGGER runs_close_once BEFORE UPDATE ON runs
    WHEN OLD.ended_at IS NOT NULL OR NEW.id IS NOT OLD.id OR NEW.command IS NOT OLD.command
      OR NEW.started_at IS NOT OLD.started_at
    BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
CREATE TRIGGER event_addresses_no_update BEFORE UPDATE ON event_addresses
    BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
CREATE TRIGGER event_addresses_no_delete BEFORE DELETE ON event_addresses
    BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
"#;

/// Allows the `unpaid` status. SQLite cannot change a CHECK constraint in place, so the table
/// is rebuilt with the same columns; nothing refers to it (no foreign key, trigger or view).
const V2: &str = r#"
CREATE TABLE resources_v2 (
    address                 TEXT PRIMARY KEY,
    region                  TEXT NOT NULL,
    product_code            TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('pending', 'active', 'failed', 'unpaid')),
    origin                  TEXT NOT NULL CHECK (origin IN ('ordered', 'adopted', 'imported')),
    fingerprint             TEXT NOT NULL,
    request_json            TEXT NOT NULL,
    order_id                TEXT,
    product_ids             TEXT NOT NULL DEFAULT '[]',
    buy_product_request_id  TEXT,
    request_id              TEXT,
    last_error              TEXT,
    run_id                  INTEGER,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    UNIQUE (region, product_code)
);
INSERT INTO resources_v2 (address, region, product_code, status, origin, fingerprint, request_json,
        order_id, product_ids, buy_product_request_id, request_id, last_error, run_id, created_at,
        updated_at)
    SELECT address, region, product_code, status, origin, fingerprint, request_json, order_id,
        product_ids, buy_product_request_id, request_id, last_error, run_id, created_at, updated_at
    FROM resources;
DROP TABLE resources;
ALTER TABLE resources_v2 RENAME TO resources;
"#;

/// Each send's settle deadline (`docs/idempotency.md`) and the count of drift reorders since
/// the cloud last reported the product purchased. Older rows have no deadline: an `active`
/// one counts as settled, a `pending` one waits from its `updated_at`.
const V3: &str = r#"
ALTER TABLE resources ADD COLUMN settle_until TEXT;
ALTER TABLE resources ADD COLUMN reorders INTEGER NOT NULL DEFAULT 0 CHECK (reorders >= 0);
"#;

/// Each run's provenance (JSON, NULL for older runs), and an index that finds the last freeze or
/// unfreeze event without reading the whole history. A run's provenance is written once, with
/// the run: closing it may not change it.
const V4: &str = r#"
ALTER TABLE runs ADD COLUMN provenance TEXT;
CREATE INDEX events_freezes ON events (id) WHERE action IN ('freeze', 'unfreeze');
DROP TRIGGER runs_close_once;
CREATE TRIGGER runs_close_once BEFORE UPDATE ON runs
    WHEN OLD.ended_at IS NOT NULL OR NEW.id IS NOT OLD.id OR NEW.command IS NOT OLD.command
      OR NEW.started_at IS NOT OLD.started_at OR NEW.provenance IS NOT OLD.provenance
    BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
"#;

/// What the first 100 bytes of a file say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Ours, at this schema version (possibly older or newer than [`SCHEMA_VERSION`]).
    State {
        version: i64,
    },
    Empty,
    NotSqlite,
    ForeignSqlite {
        application_id: i32,
    },
}

/// Classifies a file from its first bytes (SQLite file format, section 1.3).
pub fn classify(head: &[u8]) -> Header {
    if head.is_empty() {
        return Header::Empty;
    }
    if head.len() < 100 || &head[..16] != b"SQLite format 3\0" {
        return Header::NotSqlite;
    }
    let be32 = |at: usize| i32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let application_id = be32(68);
    if application_id != APPLICATION_ID {
        return Header::ForeignSqlite { application_id };
    }
    Header::State {
        version: i64::from(be32(60)),
    }
}

/// Reads the header of an existing file and refuses anything that is not a state this binary
/// can use. Returns the schema version.
pub fn check_file(path: &Path) -> Result<i64, StateError> {
    let mut head = Vec::with_capacity(100);
    std::fs::File::open(path)
        .and_then(|f| f.take(100).read_to_end(&mut head))
        .map_err(|e| StateError::io(path, e))?;
    let not_a_state = |why: &str| StateError::NotAState {
        location: at(path),
        why: why.to_owned(),
    };
    match classify(&head) {
        Header::Empty => Err(not_a_state("the file is empty")),
        Header::NotSqlite => Err(not_a_state("not an SQLite database")),
        Header::ForeignSqlite { application_id: 0 } => Err(not_a_state(
            "an SQLite database of another application (no pai-provision application id)",
        )),
        Header::ForeignSqlite { application_id } => Err(not_a_state(&format!(
            "an SQLite database of another application (application id {application_id:#x})"
        ))),
        Header::State { version } if version > SCHEMA_VERSION => Err(StateError::NewerSchema {
            location: at(path),
            found: version,
            supported: SCHEMA_VERSION,
        }),
        Header::State { version } if version < 1 => Err(version_unknown(path, version)),
        Header::State { version } => Ok(version),
    }
}

/// A file with our application id but a schema version no state has: a state is laid out
/// whole under a temporary name before it is linked into place, so its version is at least 1.
fn version_unknown(path: &Path, version: i64) -> StateError {
    StateError::NotAState {
        location: at(path),
        why: format!(
            "its schema version is {version} (SQLite's user_version), which no state has: it was damaged or made \
             by something else"
        ),
    }
}

/// Repeats the header checks through SQLite, which also sees changes still in the WAL, and
/// checks that the lineage row exists. Returns the schema version.
pub fn check_open(conn: &Connection, path: &Path) -> Result<i64, StateError> {
    let sql = |e| StateError::sqlite(path, e);
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(sql)?;
    if application_id != APPLICATION_ID {
        return Err(StateError::NotAState {
            location: at(path),
            why: "an SQLite database of another application".into(),
        });
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql)?;
    if version > SCHEMA_VERSION {
        return Err(StateError::NewerSchema {
            location: at(path),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        return Err(version_unknown(path, version));
    }
    let rows: i64 = match conn.query_row("SELECT count(*) FROM state WHERE id = 1", [], |r| r.get(0)) {
        Ok(rows) => rows,
        // No `state` table at all: not damage that SQLite sees, a file that never was a state.
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::Unknown) => 0,
        Err(e) => return Err(sql(e)),
    };
    if rows != 1 {
        return Err(StateError::NotAState {
            location: at(path),
            why: "it has no lineage record".into(),
        });
    }
    Ok(version)
}

/// Brings a verified state at `from` up to [`SCHEMA_VERSION`], in one transaction.
pub fn migrate(conn: &mut Connection, path: &Path, from: i64) -> Result<(), StateError> {
    let sql = |e| StateError::sqlite(path, e);
    let tx = conn.transaction().map_err(sql)?;
    let start = usize::try_from(from).unwrap_or(0);
    for (i, step) in MIGRATIONS.iter().enumerate().skip(start) {
        tx.execute_batch(step).map_err(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

/// Lays out a brand-new state in `conn` (an empty database) with a fresh lineage.
pub fn initialise(conn: &mut Connection, path: &Path, lineage: &str, now: &str) -> Result<(), StateError> {
    let sql = |e| StateError::sqlite(path, e);
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(sql)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
    migrate(conn, path, 0)?;
    conn.execute(
        "INSERT INTO state (id, lineage, serial, created_at) VALUES (1, ?1, 0, ?2)",
        (lineage, now),
    )
    .map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(app: i32, version: i32) -> Vec<u8> {
        let mut h = vec![0u8; 100];
        h[..16].copy_from_slice(b"SQLite format 3\0");
        h[60..64].copy_from_slice(&version.to_be_bytes());
        h[68..72].copy_from_slice(&app.to_be_bytes());
        h
    }

    #[test]
    fn classify_table() {
        let cases: Vec<(&str, Vec<u8>, Header)> = vec![
            ("empty", vec![], Header::Empty),
            ("text", b"{\"version\": 4}".to_vec(), Header::NotSqlite),
            ("short sqlite", b"SQLite format 3\0".to_vec(), Header::NotSqlite),
            ("foreign", header(0, 7), Header::ForeignSqlite { application_id: 0 }),
            ("ours v1", header(APPLICATION_ID, 1), Header::State { version: 1 }),
            ("ours v9", header(APPLICATION_ID, 9), Header::State { version: 9 }),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(classify(&bytes), want, "{name}");
        }
    }

    #[test]
    fn fresh_schema_passes_its_own_checks() {
        let mut conn = Connection::open_in_memory().unwrap();
        initialise(&mut conn, Path::new(":memory:"), "lin", "2026-11-26T00:00:00Z").unwrap();
        assert_eq!(check_open(&conn, Path::new(":memory:")).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_state_is_migrated_keeping_its_rows_and_accepts_unpaid() {
        let path = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        conn.execute_batch(V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO state (id, lineage, serial, created_at) VALUES (1, 'lin', 3, 't');
             INSERT INTO resources (address, region, product_code, status, origin, fingerprint,
                 request_json, order_id, product_ids, created_at, updated_at)
             VALUES ('pai', 'cn-hangzhou', 'PAI_share', 'active', 'ordered', 'f', '{}', '42', '[\"p\"]', 't', 't');",
        )
        .unwrap();
        let unpaid = "UPDATE resources SET status = 'unpaid' WHERE address = 'pai'";
        assert!(conn.execute(unpaid, []).is_err(), "version 1 refuses `unpaid`");

        assert_eq!(check_open(&conn, path).unwrap(), 1);
        migrate(&mut conn, path, 1).unwrap();
        assert_eq!(check_open(&conn, path).unwrap(), SCHEMA_VERSION);
        let kept: (String, String, String) = conn
            .query_row(
                "SELECT status, order_id, product_ids FROM resources WHERE address = 'pai'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(kept, ("active".into(), "42".into(), "[\"p\"]".into()));
        assert_eq!(conn.execute(unpaid, []).unwrap(), 1);
        let other = "UPDATE resources SET status = 'paid' WHERE address = 'pai'";
        assert!(conn.execute(other, []).is_err(), "the constraint is still there");
    }

    #[test]
    fn history_tables_reject_rewrites() {
        let mut conn = Connection::open_in_memory().unwrap();
        initialise(&mut conn, Path::new(":memory:"), "lin", "t").unwrap();
        conn.execute_batch(
            "INSERT INTO runs (id, command, host, pid, version, started_at) VALUES (1, 'apply', 'h', 1, 'v', 't');
             INSERT INTO events (id, run_id, at, kind, action) VALUES (1, 1, 't', 'api', 'CreateProductOrders');
             INSERT INTO event_addresses (event_id, address) VALUES (1, 'pai');
             UPDATE runs SET ended_at = 't2', result = 'succeeded' WHERE id = 1;",
        )
        .unwrap();
        for stmt in [
            "UPDATE runs SET result = 'failed' WHERE id = 1",
            "DELETE FROM runs",
            "UPDATE events SET action = 'x'",
            "DELETE FROM events",
            "UPDATE event_addresses SET address = 'x'",
            "DELETE FROM event_addresses",
        ] {
            let err = conn.execute(stmt, []).unwrap_err();
            assert!(err.to_string().contains("append-only"), "{stmt}: {err}");
        }
    }
}
