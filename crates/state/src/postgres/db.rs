//! [`PgDb`], a state in PostgreSQL and the session that reads it, and [`PgWriter`], the same
//! locked for writing. Every write transaction locks the `meta` row and compares its serial
//! with the one this writer last saw; a difference means another writer got in (only possible
//! if the lock was broken), and the write is refused.

use std::time::Duration;

use pai_spec::Address;

use super::conn::{block_on, Conn};
use super::schema::{self, Found, PG_SCHEMA_VERSION};
use super::target::PgTarget;
use super::{lock, sql};
use crate::backend::{Reads, TxBody, Writes};
use crate::clock;
use crate::copy::StateDump;
use crate::history::History;
use crate::lock::{LockInfo, Unlocked};
use crate::{DriverError, LiveHolder, StateError, StateLocation, StateSnapshot};

/// A PostgreSQL error as one line: the server's severity, code, message, detail and hint, or
/// the driver's error and its causes.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!(" hint: {hint}"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// A [`StateError`] for a PostgreSQL error at `location`, scrubbed of the password, keeping
/// the server's SQLSTATE and the driver's error.
pub(crate) fn error(location: &StateLocation, e: tokio_postgres::Error) -> StateError {
    error_in(location, "", e)
}

/// [`error`], its message led by `context` (which must hold no secret).
pub(crate) fn error_in(location: &StateLocation, context: &str, e: tokio_postgres::Error) -> StateError {
    let text = describe(&e);
    let text = match location.as_postgres() {
        Some(t) => t.scrub(&text),
        None => text,
    };
    let message = if context.is_empty() {
        text.clone()
    } else {
        format!("{context}: {text}")
    };
    StateError::Postgres {
        location: location.clone(),
        message,
        sqlstate: e.code().map(|c| c.code().to_owned()),
        source: Some(DriverError::new(text, e)),
    }
}

/// A PostgreSQL failure that is not the driver's (a thread, the TLS set-up).
pub(crate) fn failure(location: &StateLocation, message: String) -> StateError {
    StateError::Postgres {
        location: location.clone(),
        message,
        sqlstate: None,
        source: None,
    }
}

/// A state in PostgreSQL and the session that reads it: the reads, written once for
/// [`Store`](crate::Store) and for the writer.
#[derive(Debug)]
pub(crate) struct PgDb {
    location: StateLocation,
    /// The state's schema, whose advisory lock is the state's lock.
    schema: String,
    conn: Conn,
    exists: bool,
}

impl PgDb {
    /// Connects and checks the schema: nothing there is an empty state; a schema that is not
    /// a state, or whose version differs from this binary's, is refused and left untouched.
    pub(crate) fn open(location: &StateLocation, target: &PgTarget) -> Result<PgDb, StateError> {
        let conn = Conn::open(location, target)?;
        let exists = match schema::inspect(conn.client(), location, target.schema())? {
            Found::Absent => false,
            Found::State { version } if version < PG_SCHEMA_VERSION => {
                return Err(StateError::OlderSchema {
                    location: location.clone(),
                    found: version,
                    supported: PG_SCHEMA_VERSION,
                })
            }
            Found::State { .. } => true,
        };
        Ok(PgDb {
            location: location.clone(),
            schema: target.schema().to_owned(),
            conn,
            exists,
        })
    }
}

impl Reads for PgDb {
    fn exists(&self) -> bool {
        self.exists
    }

    fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        if !self.exists {
            return Ok(StateSnapshot::default());
        }
        sql::read_snapshot(self.conn.client(), &self.location)
    }

    fn history(&self, address: Option<&Address>) -> Result<History, StateError> {
        if !self.exists {
            return Ok(History::default());
        }
        sql::read_history(self.conn.client(), &self.location, address)
    }

    fn dump(&self) -> Result<Option<StateDump>, StateError> {
        if !self.exists {
            return Ok(None);
        }
        sql::read_dump(self.conn.client(), &self.location).map(Some)
    }

    fn lock_holder(&self) -> Option<LockInfo> {
        lock::read_holder(self.conn.client())
    }

    fn lock_held(&self) -> bool {
        // Unknown (the query failed) is reported as held: never say "free" without knowing.
        lock::holding_session(self.conn.client(), &self.schema).map_or(true, |s| s.is_some())
    }
}

/// A state in PostgreSQL, locked for writing for as long as this lives.
#[derive(Debug)]
pub(crate) struct PgWriter {
    db: PgDb,
    schema: String,
    info: LockInfo,
    /// The serial of the last state this writer read or wrote; every write checks it.
    serial_seen: u64,
}

impl PgWriter {
    /// Connects, takes the lock (waiting up to `timeout`), then checks the schema and upgrades
    /// an older state.
    pub(crate) fn open(
        location: &StateLocation,
        target: &PgTarget,
        operation: &str,
        timeout: Duration,
    ) -> Result<PgWriter, StateError> {
        let conn = Conn::open(location, target)?;
        let info = lock::acquire(conn.client(), location, target.schema(), operation, timeout)?;
        let pg = |e: tokio_postgres::Error| error(location, e);
        let found = schema::inspect(conn.client(), location, target.schema());
        let found = match found {
            Ok(f) => f,
            Err(e) => {
                lock::release(conn.client(), target.schema(), &info);
                return Err(e);
            }
        };
        let mut writer = PgWriter {
            db: PgDb {
                location: location.clone(),
                schema: target.schema().to_owned(),
                conn,
                exists: false,
            },
            schema: target.schema().to_owned(),
            info,
            serial_seen: 0,
        };
        if let Found::State { version } = found {
            if version < PG_SCHEMA_VERSION {
                let tx = block_on(writer.db.conn.client_mut().transaction()).map_err(pg)?;
                schema::migrate(&tx, location, version)?;
                block_on(tx.commit()).map_err(pg)?;
            }
            writer.db.exists = true;
            writer.serial_seen = sql::read_serial(writer.db.conn.client(), location)?;
        }
        Ok(writer)
    }
}

impl Writes for PgWriter {
    fn reads(&self) -> &dyn Reads {
        &self.db
    }

    fn lock_info(&self) -> &LockInfo {
        &self.info
    }

    /// One transaction that first checks the serial (and creates the state if it does not
    /// exist yet).
    fn transact(&mut self, bump_serial: bool, body: TxBody<'_>) -> Result<(), StateError> {
        let location = &self.db.location;
        let pg = |e: tokio_postgres::Error| error(location, e);
        let tx = block_on(self.db.conn.client_mut().transaction()).map_err(pg)?;
        if !self.db.exists {
            match schema::inspect(&tx, location, &self.schema)? {
                Found::Absent => {
                    let lineage = uuid::Uuid::new_v4().to_string();
                    schema::create(&tx, location, &lineage, &clock::now())?;
                }
                Found::State { .. } => {
                    // Created behind this writer's back: its lock was broken.
                    let found = sql::read_serial(&tx, location)?;
                    return Err(StateError::SerialConflict {
                        location: location.clone(),
                        expected: self.serial_seen,
                        found,
                    });
                }
            }
        }
        let serial: i64 = block_on(tx.query_one("SELECT serial FROM meta WHERE id = 1 FOR UPDATE", &[]))
            .and_then(|r| r.try_get(0))
            .map_err(pg)?;
        let serial = u64::try_from(serial).unwrap_or(0);
        if serial != self.serial_seen {
            return Err(StateError::SerialConflict {
                location: location.clone(),
                expected: self.serial_seen,
                found: serial,
            });
        }
        body(&mut sql::PgTx::new(&tx, location))?;
        let serial = if bump_serial {
            let bumped: i64 =
                block_on(tx.query_one("UPDATE meta SET serial = serial + 1 WHERE id = 1 RETURNING serial", &[]))
                    .and_then(|r| r.try_get(0))
                    .map_err(pg)?;
            u64::try_from(bumped).unwrap_or(0)
        } else {
            serial
        };
        block_on(tx.commit()).map_err(pg)?;
        self.db.exists = true;
        self.serial_seen = serial;
        Ok(())
    }

    /// In one transaction.
    fn restore(&mut self, dump: &StateDump) -> Result<(), StateError> {
        let location = &self.db.location;
        let pg = |e: tokio_postgres::Error| error(location, e);
        let tx = block_on(self.db.conn.client_mut().transaction()).map_err(pg)?;
        if schema::inspect(&tx, location, &self.schema)? != Found::Absent {
            let existing = sql::dump_in(&tx, location)?;
            return Err(StateError::TargetNotEmpty {
                location: location.clone(),
                lineage: existing.lineage,
                serial: existing.serial,
                resources: existing.resources.len(),
            });
        }
        schema::create(&tx, location, &dump.lineage, &dump.created_at)?;
        sql::insert_dump(&tx, dump).map_err(pg)?;
        block_on(tx.commit()).map_err(pg)?;
        self.db.exists = true;
        self.serial_seen = dump.serial;
        Ok(())
    }
}

impl Drop for PgWriter {
    fn drop(&mut self) {
        lock::release(self.db.conn.client(), &self.schema, &self.info);
    }
}

/// `force-unlock` for a PostgreSQL state: clears the record of a holder whose session is
/// gone; never ends a live session (see `crate::lock::unlock_refused_message`).
pub(crate) fn force_unlock(location: &StateLocation, target: &PgTarget, id: &str) -> Result<Unlocked, StateError> {
    let conn = Conn::open(location, target)?;
    let client = conn.client();
    let pg = |e: tokio_postgres::Error| error(location, e);
    let refused = |session: Option<i32>, holder: Option<LockInfo>| StateError::UnlockRefused {
        location: location.clone(),
        requested: id.to_owned(),
        live: session.map(LiveHolder::Session),
        holder: holder.map(Box::new),
    };
    let schema = target.schema();
    if let Some(session) = lock::holding_session(client, schema).map_err(pg)? {
        return Err(refused(Some(session), lock::read_holder(client)));
    }
    // Hold the lock while looking, so that a new holder cannot write its record meanwhile.
    if !lock::try_lock(client, schema).map_err(pg)? {
        let session = lock::holding_session(client, schema).map_err(pg)?;
        return Err(refused(session, lock::read_holder(client)));
    }
    let result = match lock::read_holder(client) {
        Some(stale) if stale.id == id => {
            block_on(client.execute("DELETE FROM lock_holder WHERE id = 1 AND lock_id = $1", &[&stale.id]))
                .map(|_| Unlocked { stale })
                .map_err(pg)
        }
        other => Err(refused(None, other)),
    };
    if let Err(e) = block_on(client.query_one("SELECT pg_advisory_unlock($1)", &[&lock::key(schema)])) {
        tracing::debug!("releasing the state lock after force-unlock: {e}");
    }
    result
}
