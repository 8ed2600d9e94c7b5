//! The append-only history: one row per run, one per API call or state change, each linked to
//! the addresses it concerns. Nothing here is read by `plan`; the tables are indexed so that
//! `state history ADDR` stays fast however long the history grows.

use std::path::Path;
use std::time::Duration;

use pai_spec::{Address, Region};
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::StateError;

/// A run of a writing command (`apply`, `refresh`, `state rm` ...), as numbered in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunResult {
    Succeeded,
    Failed(String),
}

/// How the client classified an API call's outcome (see `docs/idempotency.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallOutcome {
    /// The server answered with success.
    Ok,
    /// Nothing was done and it may be tried again (throttling, connection refused).
    Retryable,
    /// The server refused it; nothing was done.
    Rejected,
    /// The server may have acted (timeout, reset after sending, 5xx).
    Ambiguous,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Retryable => "retryable",
            CallOutcome::Rejected => "rejected",
            CallOutcome::Ambiguous => "ambiguous",
        }
    }
}

/// One API call to record. It must carry no secrets: no credentials, tokens or signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    pub region: Region,
    /// The API action, e.g. `CreateProductOrders` or `ListProducts`.
    pub action: String,
    /// The addresses the call was about.
    pub addresses: Vec<Address>,
    pub outcome: CallOutcome,
    pub http_status: Option<u16>,
    /// The API's error `Code`, if any.
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub order_id: Option<String>,
    pub duration: Duration,
}

/// A run as the history records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: i64,
    pub command: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    pub started_at: String,
    /// `None` while running, or when the process ended without closing the run.
    pub ended_at: Option<String>,
    /// `succeeded` or `failed`; `None` as for `ended_at`.
    pub result: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A call to the cloud.
    Api,
    /// A change of the recorded resources.
    State,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub run_id: i64,
    pub at: String,
    pub kind: EventKind,
    /// The API action, or the state change (`pending`, `active`, `resolved`, `adopted`, `failed`,
    /// `imported`, `moved`, `removed`).
    pub action: String,
    pub region: Option<String>,
    pub addresses: Vec<String>,
    /// For API calls, a [`CallOutcome`]; for state changes, the status the row moved to.
    pub outcome: Option<String>,
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub order_id: Option<String>,
    pub duration_ms: Option<u64>,
}

/// Runs and events in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    pub runs: Vec<RunRecord>,
    pub events: Vec<Event>,
}

/// An event about to be appended.
#[derive(Debug, Default)]
pub(crate) struct NewEvent<'a> {
    pub kind: Option<EventKind>,
    pub action: &'a str,
    pub region: Option<&'a str>,
    pub addresses: Vec<&'a str>,
    pub outcome: Option<&'a str>,
    pub http_status: Option<u16>,
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
    pub duration_ms: Option<u64>,
}

pub(crate) fn append(tx: &Transaction<'_>, run: RunId, at: &str, ev: &NewEvent<'_>) -> rusqlite::Result<i64> {
    let kind = match ev.kind.unwrap_or(EventKind::State) {
        EventKind::Api => "api",
        EventKind::State => "state",
    };
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
        kind: if kind == "api" {
            EventKind::Api
        } else {
            EventKind::State
        },
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
    })
}

const RUN_COLUMNS: &str = "id, command, host, pid, version, started_at, ended_at, result, message";

/// The whole history, or the part that concerns one address (its events and their runs).
pub(crate) fn read(conn: &Connection, path: &Path, address: Option<&Address>) -> Result<History, StateError> {
    read_inner(conn, address).map_err(|e| StateError::sqlite(path, e))
}

fn read_inner(conn: &Connection, address: Option<&Address>) -> rusqlite::Result<History> {
    let tx = conn.unchecked_transaction()?;
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
    attach_addresses(&tx, &mut events)?;
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
    tx.finish()?;
    Ok(History { runs, events })
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
