//! The history's SQL on SQLite: appending an event with its addresses, and reading the whole
//! history or one address's part of it.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction};

use pai_spec::Address;

use crate::freeze::{Freeze, LAST_FREEZE_SQL};
use crate::history::{Event, EventKind, History, NewEvent, RunId, RunRecord};
use crate::StateError;

pub(crate) fn append(tx: &Transaction<'_>, run: RunId, at: &str, ev: &NewEvent<'_>) -> rusqlite::Result<i64> {
    let kind = ev.kind.unwrap_or(EventKind::State).as_str();
    tx.execute(
        "INSERT INTO events (run_id, at, kind, action, region, outcome, http_status, code, message, request_id,
                             order_id, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        rusqlite::params![
            run.0,
            at,
            kind,
            ev.action,
            ev.region,
            ev.outcome,
            ev.http_status,
            ev.code,
            ev.message,
            ev.request_id,
            ev.order_id,
            ev.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut link = tx.prepare_cached("INSERT OR IGNORE INTO event_addresses (event_id, address) VALUES (?1, ?2)")?;
    for address in &ev.addresses {
        link.execute((id, address))?;
    }
    Ok(id)
}

const EVENT_COLUMNS: &str = "e.id, e.run_id, e.at, e.kind, e.action, e.region, e.outcome, e.http_status, e.code, \
                             e.message, e.request_id, e.order_id, e.duration_ms";

fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let kind: String = row.get(3)?;
    Ok(Event {
        id: row.get(0)?,
        run_id: row.get(1)?,
        at: row.get(2)?,
        kind: EventKind::parse(&kind),
        action: row.get(4)?,
        region: row.get(5)?,
        addresses: Vec::new(),
        outcome: row.get(6)?,
        http_status: row.get(7)?,
        code: row.get(8)?,
        message: row.get(9)?,
        request_id: row.get(10)?,
        order_id: row.get(11)?,
        duration_ms: row.get::<_, Option<i64>>(12)?.map(|d| u64::try_from(d).unwrap_or(0)),
    })
}

fn run_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        command: row.get(1)?,
        host: row.get(2)?,
        pid: row.get(3)?,
        version: row.get(4)?,
        started_at: row.get(5)?,
        ended_at: row.get(6)?,
        result: row.get(7)?,
        message: row.get(8)?,
        provenance: row
            .get::<_, Option<String>>(9)?
            .and_then(|p| serde_json::from_str(&p).ok()),
    })
}

const RUN_COLUMNS: &str = "id, command, host, pid, version, started_at, ended_at, result, message, provenance";

/// The whole history, or the part that concerns one address (its events and their runs).
pub(crate) fn read(conn: &Connection, path: &Path, address: Option<&Address>) -> Result<History, StateError> {
    let sql = |e| StateError::sqlite(path, e);
    let tx = conn.unchecked_transaction().map_err(sql)?;
    let history = read_in(&tx, address).map_err(sql)?;
    tx.finish().map_err(sql)?;
    Ok(history)
}

/// As [`read`], inside a transaction the caller holds.
pub(crate) fn read_in(tx: &Connection, address: Option<&Address>) -> rusqlite::Result<History> {
    let mut events: Vec<Event> = match address {
        None => tx
            .prepare(&format!("SELECT {EVENT_COLUMNS} FROM events e ORDER BY e.id"))?
            .query_map([], event_from_row)?
            .collect::<Result<_, _>>()?,
        Some(addr) => tx
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM event_addresses a JOIN events e ON e.id = a.event_id
                 WHERE a.address = ?1 ORDER BY a.event_id"
            ))?
            .query_map([addr.as_str()], event_from_row)?
            .collect::<Result<_, _>>()?,
    };
    attach_addresses(tx, &mut events)?;
    let runs = match address {
        None => tx
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id"))?
            .query_map([], run_from_row)?
            .collect::<Result<_, _>>()?,
        Some(_) => {
            let mut ids: Vec<i64> = events.iter().map(|e| e.run_id).collect();
            ids.dedup();
            let mut stmt = tx.prepare(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))?;
            let mut runs = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(run) = stmt.query_row([id], run_from_row).optional()? {
                    runs.push(run);
                }
            }
            runs.dedup_by_key(|r| r.id);
            runs
        }
    };
    Ok(History { runs, events })
}

/// The freeze in force: the last freeze or unfreeze event decides.
pub(crate) fn read_freeze(tx: &Connection) -> rusqlite::Result<Option<Freeze>> {
    let last = tx
        .query_row(LAST_FREEZE_SQL, [], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    Ok(last.and_then(|(action, at, message, host, provenance)| {
        Freeze::from_last_event(&action, at, message, host, provenance)
    }))
}

/// Fills each event's addresses with one ordered pass over the link table's primary key.
fn attach_addresses(conn: &Connection, events: &mut [Event]) -> rusqlite::Result<()> {
    let (Some(first), Some(last)) = (events.first().map(|e| e.id), events.last().map(|e| e.id)) else {
        return Ok(());
    };
    let mut stmt = conn.prepare(
        "SELECT event_id, address FROM event_addresses WHERE event_id BETWEEN ?1 AND ?2 ORDER BY event_id, address",
    )?;
    let mut rows = stmt.query((first, last))?;
    let mut i = 0;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        while i < events.len() && events[i].id < id {
            i += 1;
        }
        match events.get_mut(i) {
            Some(ev) if ev.id == id => ev.addresses.push(row.get(1)?),
            Some(_) => {}
            None => break,
        }
    }
    Ok(())
}

/// Inserts a whole history as it was read elsewhere, keeping its ids (`state migrate`).
pub(crate) fn insert_all(tx: &Transaction<'_>, history: &History) -> rusqlite::Result<()> {
    let mut run = tx.prepare(
        "INSERT INTO runs (id, command, host, pid, version, started_at, ended_at, result, message, provenance)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for r in &history.runs {
        run.execute(rusqlite::params![
            r.id,
            r.command,
            r.host,
            r.pid,
            r.version,
            r.started_at,
            r.ended_at,
            r.result,
            r.message,
            crate::provenance::to_column(r.provenance.as_ref()),
        ])?;
    }
    let mut event = tx.prepare(
        "INSERT INTO events (id, run_id, at, kind, action, region, outcome, http_status, code, message, request_id,
                             order_id, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    let mut link = tx.prepare("INSERT INTO event_addresses (event_id, address) VALUES (?1, ?2)")?;
    for e in &history.events {
        event.execute(rusqlite::params![
            e.id,
            e.run_id,
            e.at,
            e.kind.as_str(),
            e.action,
            e.region,
            e.outcome,
            e.http_status,
            e.code,
            e.message,
            e.request_id,
            e.order_id,
            e.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
        ])?;
        for address in &e.addresses {
            link.execute((e.id, address))?;
        }
    }
    Ok(())
}
