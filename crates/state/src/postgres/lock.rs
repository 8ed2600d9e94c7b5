//! The lock of a PostgreSQL state: a session-level advisory lock, plus a holder record in the
//! schema's `lock_holder` table so that others can say who holds it.
//!
//! The advisory lock is what excludes. It belongs to the writer's session, which stays open for
//! the whole operation, and PostgreSQL releases it when that session ends, however it ends: the
//! process exiting or being killed (its socket closes), the network dropping (TCP keepalives),
//! or an administrator's `pg_terminate_backend`. The key is derived from the schema's name, so
//! every client of one state contends for the same lock, in this database only (PostgreSQL
//! scopes advisory locks to a database). The record is information, written after the lock is
//! taken and cleared before it is released; a record left by a dead session is stale, and the
//! next holder replaces it.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::conn::block_on;
use super::schema::LOCK_TABLE;
use crate::lock::LockInfo;
use crate::{StateError, StateLocation};

/// How often a waiting writer tries again.
const RETRY: Duration = Duration::from_millis(100);

/// The advisory lock key of the state in `schema`: the first 8 bytes of a SHA-256, so that it
/// is stable across versions and unlikely to meet another application's keys.
pub(crate) fn key(schema: &str) -> i64 {
    let digest = Sha256::digest(format!("pai-provision state lock\0{schema}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Takes the lock on `client`'s session for `operation`, trying every 100 ms for up to
/// `timeout`, then creates the schema and the record's table if needed and writes the record.
pub(crate) fn acquire(
    client: &Client,
    location: &StateLocation,
    schema: &str,
    operation: &str,
    timeout: Duration,
) -> Result<LockInfo, StateError> {
    let pg = |e: tokio_postgres::Error| super::error(location, e);
    let key = key(schema);
    let started = Instant::now();
    let mut announced = false;
    loop {
        let got: bool = block_on(client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]))
            .and_then(|r| r.try_get(0))
            .map_err(pg)?;
        if got {
            break;
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(StateError::Locked {
                location: location.clone(),
                holder: read_holder(client).map(Box::new),
                waited,
            });
        }
        if !announced {
            announced = true;
            match read_holder(client) {
                Some(h) => tracing::info!("waiting for the state lock: {}", h.describe()),
                None => tracing::info!("waiting for the state lock of {location}"),
            }
        }
        std::thread::sleep((timeout - waited).min(RETRY));
    }
    let exists: bool = block_on(client.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
        &[&schema],
    ))
    .and_then(|r| r.try_get(0))
    .map_err(pg)?;
    if !exists {
        // Only a lock holder creates anything, so no two sessions race to create the schema.
        block_on(client.batch_execute(&format!("CREATE SCHEMA \"{schema}\""))).map_err(|e| {
            let context =
                format!("creating the schema `{schema}` (create it, or grant CREATE on the database to this user)");
            super::error_in(location, &context, e)
        })?;
    }
    if !lock_table_exists(client).map_err(pg)? {
        block_on(client.batch_execute(LOCK_TABLE)).map_err(pg)?;
    }
    if let Some(stale) = read_holder(client) {
        tracing::info!(
            "the previous holder of the state lock ended without releasing it cleanly; its record was: {}",
            stale.describe()
        );
    }
    let session: i32 = block_on(client.query_one("SELECT pg_backend_pid()", &[]))
        .and_then(|r| r.try_get(0))
        .map_err(pg)?;
    let info = LockInfo::new(operation, Some(session));
    let pid = i64::from(info.pid);
    block_on(client.execute(
        "INSERT INTO lock_holder (id, lock_id, operation, host, pid, session, created_at, version)
         VALUES (1, $1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET lock_id = excluded.lock_id, operation = excluded.operation,
             host = excluded.host, pid = excluded.pid, session = excluded.session,
             created_at = excluded.created_at, version = excluded.version",
        &[
            &info.id,
            &info.operation,
            &info.host,
            &pid,
            &session,
            &info.created_at,
            &info.version,
        ],
    ))
    .map_err(pg)?;
    Ok(info)
}

/// Clears the record and releases the lock. Failures are only logged: closing the session
/// releases the lock anyway, and a record left behind is stale and harmless.
pub(crate) fn release(client: &Client, schema: &str, info: &LockInfo) {
    if let Err(e) = block_on(client.execute("DELETE FROM lock_holder WHERE id = 1 AND lock_id = $1", &[&info.id])) {
        tracing::debug!("clearing the lock record: {e}");
    }
    if let Err(e) = block_on(client.query_one("SELECT pg_advisory_unlock($1)", &[&key(schema)])) {
        tracing::debug!("releasing the state lock: {e}");
    }
}

fn lock_table_exists(client: &Client) -> Result<bool, tokio_postgres::Error> {
    block_on(client.query_one("SELECT to_regclass('lock_holder') IS NOT NULL", &[]))?.try_get(0)
}

/// The holder record, if the table exists and holds one. Outside any transaction.
pub(crate) fn read_holder(client: &Client) -> Option<LockInfo> {
    if !lock_table_exists(client).ok()? {
        return None;
    }
    let row = block_on(client.query_opt(
        "SELECT lock_id, operation, host, pid, session, created_at, version FROM lock_holder WHERE id = 1",
        &[],
    ))
    .ok()??;
    let info = |row: &tokio_postgres::Row| -> Result<LockInfo, tokio_postgres::Error> {
        Ok(LockInfo {
            id: row.try_get(0)?,
            operation: row.try_get(1)?,
            host: row.try_get(2)?,
            pid: u32::try_from(row.try_get::<_, i64>(3)?).unwrap_or(0),
            session: Some(row.try_get(4)?),
            created_at: row.try_get(5)?,
            version: row.try_get(6)?,
        })
    };
    info(&row).ok()
}

/// The session (backend pid) holding the advisory lock of `schema` in this database, if any.
pub(crate) fn holding_session(client: &Client, schema: &str) -> Result<Option<i32>, tokio_postgres::Error> {
    // A bigint advisory key is stored as classid (high 32 bits) and objid (low), objsubid 1.
    let key = key(schema);
    let high = (key >> 32) & 0xffff_ffff;
    let low = key & 0xffff_ffff;
    let row = block_on(client.query_opt(
        "SELECT pid FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND classid::bigint = $1 AND objid::bigint = $2",
        &[&high, &low],
    ))?;
    row.map(|r| r.try_get(0)).transpose()
}

/// Tries once to take the lock, for `force-unlock`'s look at a lock nobody holds.
pub(crate) fn try_lock(client: &Client, schema: &str) -> Result<bool, tokio_postgres::Error> {
    block_on(client.query_one("SELECT pg_try_advisory_lock($1)", &[&key(schema)]))?.try_get(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_differ_by_schema() {
        assert_ne!(key("pai_provision"), key("pai_provision_staging"));
        // Pinned: a change would let two versions of pai-provision write one state at once.
        assert_eq!(key("pai_provision"), 5_796_538_935_753_408_406);
    }
}
