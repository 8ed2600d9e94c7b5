//! The state's statements on PostgreSQL: the write primitives ([`PgTx`]) and the reads. Every
//! table is named without its schema; the session's `search_path` points at the state's.
//!
//! Reads run in a `REPEATABLE READ READ ONLY` transaction, so that one read sees one state even
//! while a writer commits. Addresses are sorted with the `C` collation, byte by byte as in
//! SQLite, so that both backends return the same lists.

use pai_spec::{Address, ProductCode, Region};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, Row, Transaction};

use super::conn::block_on;
use crate::copy::StateDump;
use crate::freeze::{Freeze, LAST_FREEZE_SQL};
use crate::history::{Event, EventKind, History, NewEvent, RunId, RunRecord};
use crate::rows::{insert_statement, RawResource, Value, RESOURCE_COLUMNS};
use crate::tx::{NewRow, NewRun, RowUpdate, Tx};
use crate::{Resource, StateError, StateLocation, StateSnapshot, Status};

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// Runs `f` in a read-only snapshot transaction on `client`'s session.
fn in_read_tx<T>(
    client: &Client,
    location: &StateLocation,
    f: impl FnOnce(&Client) -> Result<T, StateError>,
) -> Result<T, StateError> {
    block_on(client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        .map_err(|e| super::error(location, e))?;
    let result = f(client);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    match block_on(client.batch_execute(end)) {
        Err(e) if result.is_ok() => Err(super::error(location, e)),
        _ => result,
    }
}

pub(crate) fn read_serial(c: &(impl GenericClient + Sync), location: &StateLocation) -> Result<u64, StateError> {
    let pg = |e: tokio_postgres::Error| super::error(location, e);
    let serial: i64 = block_on(c.query_one("SELECT serial FROM meta WHERE id = 1", &[]))
        .map_err(pg)?
        .try_get(0)
        .map_err(pg)?;
    Ok(u64::try_from(serial).unwrap_or(0))
}

pub(crate) fn read_snapshot(client: &Client, location: &StateLocation) -> Result<StateSnapshot, StateError> {
    in_read_tx(client, location, |c| {
        let (lineage, serial, _) = meta(c).map_err(|e| super::error(location, e))?;
        let mut snapshot = StateSnapshot {
            lineage: Some(lineage),
            serial,
            resources: Default::default(),
            freeze: freeze(c).map_err(|e| super::error(location, e))?,
        };
        for r in resources(c, location)? {
            snapshot.resources.insert(r.address.clone(), r);
        }
        Ok(snapshot)
    })
}

pub(crate) fn read_history(
    client: &Client,
    location: &StateLocation,
    address: Option<&Address>,
) -> Result<History, StateError> {
    in_read_tx(client, location, |c| {
        history(c, address).map_err(|e| super::error(location, e))
    })
}

pub(crate) fn read_dump(client: &Client, location: &StateLocation) -> Result<StateDump, StateError> {
    in_read_tx(client, location, |c| dump_in(c, location))
}

/// Everything, in the caller's transaction.
pub(crate) fn dump_in(c: &(impl GenericClient + Sync), location: &StateLocation) -> Result<StateDump, StateError> {
    let pg = |e: tokio_postgres::Error| super::error(location, e);
    let (lineage, serial, created_at) = meta(c).map_err(pg)?;
    Ok(StateDump {
        lineage,
        serial,
        created_at,
        resources: resources(c, location)?,
        history: history(c, None).map_err(pg)?,
    })
}

fn meta(c: &(impl GenericClient + Sync)) -> PgResult<(String, u64, String)> {
    let row = block_on(c.query_one("SELECT lineage, serial, created_at FROM meta WHERE id = 1", &[]))?;
    let serial: i64 = row.try_get(1)?;
    Ok((row.try_get(0)?, u64::try_from(serial).unwrap_or(0), row.try_get(2)?))
}

fn resources(c: &(impl GenericClient + Sync), location: &StateLocation) -> Result<Vec<Resource>, StateError> {
    let rows = block_on(c.query(
        &format!("SELECT {RESOURCE_COLUMNS} FROM resources ORDER BY address COLLATE \"C\""),
        &[],
    ))
    .map_err(|e| super::error(location, e))?;
    let raw = |r: &Row| RawResource::read(|i| r.try_get(i), |i| r.try_get(i));
    rows.iter()
        .map(|r| raw(r).map_err(|e| super::error(location, e))?.parse(location))
        .collect()
}

const EVENT_COLUMNS: &str = "e.id, e.run_id, e.at, e.kind, e.action, e.region, e.outcome, e.http_status, e.code, \
                             e.message, e.request_id, e.order_id, e.duration_ms, \
                             ARRAY(SELECT a.address FROM event_addresses a WHERE a.event_id = e.id \
                                   ORDER BY a.address COLLATE \"C\")";

const RUN_COLUMNS: &str = "id, command, host, pid, version, started_at, ended_at, result, message, provenance";

fn event_from_row(row: &Row) -> PgResult<Event> {
    let kind: String = row.try_get(3)?;
    Ok(Event {
        id: row.try_get(0)?,
        run_id: row.try_get(1)?,
        at: row.try_get(2)?,
        kind: EventKind::parse(&kind),
        action: row.try_get(4)?,
        region: row.try_get(5)?,
        addresses: row.try_get(13)?,
        outcome: row.try_get(6)?,
        http_status: row.try_get::<_, Option<i32>>(7)?.and_then(|s| u16::try_from(s).ok()),
        code: row.try_get(8)?,
        message: row.try_get(9)?,
        request_id: row.try_get(10)?,
        order_id: row.try_get(11)?,
        duration_ms: row
            .try_get::<_, Option<i64>>(12)?
            .map(|d| u64::try_from(d).unwrap_or(0)),
    })
}

fn run_from_row(row: &Row) -> PgResult<RunRecord> {
    Ok(RunRecord {
        id: row.try_get(0)?,
        command: row.try_get(1)?,
        host: row.try_get(2)?,
        pid: u32::try_from(row.try_get::<_, i64>(3)?).unwrap_or(0),
        version: row.try_get(4)?,
        started_at: row.try_get(5)?,
        ended_at: row.try_get(6)?,
        result: row.try_get(7)?,
        message: row.try_get(8)?,
        provenance: row
            .try_get::<_, Option<String>>(9)?
            .and_then(|p| serde_json::from_str(&p).ok()),
    })
}

/// The freeze in force: the last freeze or unfreeze event decides.
fn freeze(c: &(impl GenericClient + Sync)) -> PgResult<Option<Freeze>> {
    let Some(row) = block_on(c.query_opt(LAST_FREEZE_SQL, &[]))? else {
        return Ok(None);
    };
    let action: String = row.try_get(0)?;
    Ok(Freeze::from_last_event(
        &action,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    ))
}

/// The whole history, or the part that concerns one address (its events and their runs).
fn history(c: &(impl GenericClient + Sync), address: Option<&Address>) -> PgResult<History> {
    let events: Vec<Event> = match address {
        None => block_on(c.query(&format!("SELECT {EVENT_COLUMNS} FROM events e ORDER BY e.id"), &[]))?,
        Some(a) => block_on(c.query(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM event_addresses x JOIN events e ON e.id = x.event_id
                 WHERE x.address = $1 ORDER BY e.id"
            ),
            &[&a.as_str()],
        ))?,
    }
    .iter()
    .map(event_from_row)
    .collect::<PgResult<_>>()?;
    let runs = match address {
        None => block_on(c.query(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id"), &[]))?,
        Some(_) => {
            let mut ids: Vec<i64> = events.iter().map(|e| e.run_id).collect();
            ids.dedup();
            block_on(c.query(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ANY($1) ORDER BY id"),
                &[&ids],
            ))?
        }
    }
    .iter()
    .map(run_from_row)
    .collect::<PgResult<_>>()?;
    Ok(History { runs, events })
}

/// Inserts a dump's rows and history, keeping their ids, and sets the serial; the identity
/// sequences then continue after the copied ids.
pub(crate) fn insert_dump(tx: &Transaction<'_>, dump: &StateDump) -> PgResult<()> {
    for r in &dump.history.runs {
        block_on(tx.execute(
            "INSERT INTO runs (id, command, host, pid, version, started_at, ended_at, result, message, provenance)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &r.id,
                &r.command,
                &r.host,
                &i64::from(r.pid),
                &r.version,
                &r.started_at,
                &r.ended_at,
                &r.result,
                &r.message,
                &crate::provenance::to_column(r.provenance.as_ref()),
            ],
        ))?;
    }
    for e in &dump.history.events {
        let addresses: Vec<&str> = e.addresses.iter().map(String::as_str).collect();
        insert_event(tx, Some(e.id), RunId(e.run_id), &e.at, &event_fields(e, &addresses))?;
    }
    let insert = insert_statement(|i| format!("${i}"));
    for r in &dump.resources {
        let raw = RawResource::of(r);
        let values = raw.values();
        let params: Vec<&(dyn ToSql + Sync)> = values
            .iter()
            .map(|v| match v {
                Value::Text(t) => t as &(dyn ToSql + Sync),
                Value::Int(i) => i as &(dyn ToSql + Sync),
            })
            .collect();
        block_on(tx.execute(&insert, &params))?;
    }
    let serial = i64::try_from(dump.serial).unwrap_or(i64::MAX);
    block_on(tx.execute("UPDATE meta SET serial = $1 WHERE id = 1", &[&serial]))?;
    block_on(tx.batch_execute(
        "SELECT setval(pg_get_serial_sequence('runs', 'id'), COALESCE((SELECT max(id) FROM runs), 0) + 1, false);
         SELECT setval(pg_get_serial_sequence('events', 'id'), COALESCE((SELECT max(id) FROM events), 0) + 1, false);",
    ))?;
    Ok(())
}

fn event_fields<'a>(e: &'a Event, addresses: &[&'a str]) -> NewEvent<'a> {
    NewEvent {
        kind: Some(e.kind),
        action: &e.action,
        region: e.region.as_deref(),
        addresses: addresses.to_vec(),
        outcome: e.outcome.as_deref(),
        http_status: e.http_status,
        code: e.code.as_deref(),
        message: e.message.as_deref(),
        request_id: e.request_id.as_deref(),
        order_id: e.order_id.as_deref(),
        duration_ms: e.duration_ms,
    }
}

/// Inserts an event (with `id`, or the next one) and links its addresses.
fn insert_event(tx: &Transaction<'_>, id: Option<i64>, run: RunId, at: &str, ev: &NewEvent<'_>) -> PgResult<i64> {
    let kind = ev.kind.unwrap_or(EventKind::State).as_str();
    let http_status = ev.http_status.map(i32::from);
    let duration = ev.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX));
    let row = block_on(tx.query_one(
        "INSERT INTO events (id, run_id, at, kind, action, region, outcome, http_status, code, message, request_id,
                             order_id, duration_ms)
         VALUES (COALESCE($1, nextval(pg_get_serial_sequence('events', 'id'))), $2, $3, $4, $5, $6, $7, $8, $9,
                 $10, $11, $12, $13)
         RETURNING id",
        &[
            &id,
            &run.0,
            &at,
            &kind,
            &ev.action,
            &ev.region,
            &ev.outcome,
            &http_status,
            &ev.code,
            &ev.message,
            &ev.request_id,
            &ev.order_id,
            &duration,
        ],
    ))?;
    let id: i64 = row.try_get(0)?;
    if !ev.addresses.is_empty() {
        block_on(tx.execute(
            "INSERT INTO event_addresses (event_id, address) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
            &[&id, &ev.addresses],
        ))?;
    }
    Ok(id)
}

/// The write primitives on an open PostgreSQL transaction; the driver's errors become
/// [`StateError`]s of the location here.
pub(crate) struct PgTx<'a> {
    tx: &'a Transaction<'a>,
    location: &'a StateLocation,
}

impl<'a> PgTx<'a> {
    pub(crate) fn new(tx: &'a Transaction<'a>, location: &'a StateLocation) -> Self {
        PgTx { tx, location }
    }

    fn err(&self, e: tokio_postgres::Error) -> StateError {
        super::error(self.location, e)
    }
}

impl Tx for PgTx<'_> {
    fn insert_run(&mut self, run: &NewRun<'_>) -> Result<RunId, StateError> {
        let row = block_on(self.tx.query_one(
            "INSERT INTO runs (command, host, pid, version, started_at, provenance)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &run.command,
                &run.host,
                &i64::from(run.pid),
                &run.version,
                &run.started_at,
                &run.provenance,
            ],
        ))
        .map_err(|e| self.err(e))?;
        Ok(RunId(row.try_get(0).map_err(|e| self.err(e))?))
    }

    fn close_run(&mut self, run: RunId, now: &str, result: &str, message: Option<&str>) -> Result<(), StateError> {
        block_on(self.tx.execute(
            "UPDATE runs SET ended_at = $2, result = $3, message = $4 WHERE id = $1 AND ended_at IS NULL",
            &[&run.0, &now, &result, &message],
        ))
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn append_event(&mut self, run: RunId, at: &str, event: &NewEvent<'_>) -> Result<(), StateError> {
        insert_event(self.tx, None, run, at, event).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn status_of(&mut self, address: &Address) -> Result<Option<Status>, StateError> {
        let row = block_on(
            self.tx
                .query_opt("SELECT status FROM resources WHERE address = $1", &[&address.as_str()]),
        )
        .map_err(|e| self.err(e))?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Status::parse(r.try_get::<_, &str>(0).map_err(|e| self.err(e))?)),
        }
    }

    fn reorders_of(&mut self, address: &Address) -> Result<u32, StateError> {
        let row = block_on(self.tx.query_opt(
            "SELECT reorders FROM resources WHERE address = $1",
            &[&address.as_str()],
        ))
        .map_err(|e| self.err(e))?;
        match row {
            None => Ok(0),
            Some(r) => Ok(u32::try_from(r.try_get::<_, i64>(0).map_err(|e| self.err(e))?).unwrap_or(0)),
        }
    }

    fn activation_address(
        &mut self,
        region: &Region,
        code: ProductCode,
        except: &Address,
    ) -> Result<Option<String>, StateError> {
        let row = block_on(self.tx.query_opt(
            "SELECT address FROM resources WHERE region = $1 AND product_code = $2 AND address <> $3",
            &[&region.as_str(), &code.as_str(), &except.as_str()],
        ))
        .map_err(|e| self.err(e))?;
        row.map(|r| r.try_get(0)).transpose().map_err(|e| self.err(e))
    }

    fn upsert(&mut self, row: &NewRow<'_>) -> Result<(), StateError> {
        let product = row.product;
        let request = &product.request;
        block_on(self.tx.execute(
            "INSERT INTO resources (address, region, product_code, status, origin, fingerprint, request_json,
                                    product_ids, run_id, created_at, updated_at, reorders)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
             ON CONFLICT (address) DO UPDATE SET
                 region = excluded.region, product_code = excluded.product_code, status = excluded.status,
                 origin = excluded.origin, fingerprint = excluded.fingerprint, request_json = excluded.request_json,
                 order_id = NULL, product_ids = excluded.product_ids, buy_product_request_id = NULL,
                 request_id = NULL, last_error = NULL, run_id = excluded.run_id, updated_at = excluded.updated_at,
                 settle_until = NULL, reorders = excluded.reorders",
            &[
                &product.address.as_str(),
                &product.region.as_str(),
                &product.code().as_str(),
                &row.status.as_str(),
                &row.origin.as_str(),
                &request.fingerprint().0,
                &request.canonical_json(),
                &row.product_ids,
                &row.run.0,
                &row.now,
                &i64::from(row.reorders),
            ],
        ))
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn update(&mut self, address: &Address, change: &RowUpdate<'_>, run: RunId, now: &str) -> Result<(), StateError> {
        let address = address.as_str();
        match change {
            RowUpdate::Ordered {
                status,
                outcome,
                product_ids,
            } => block_on(self.tx.execute(
                "UPDATE resources SET status = $8, order_id = $2, product_ids = $3,
                     buy_product_request_id = $4, request_id = $5, last_error = NULL, run_id = $6, updated_at = $7
                 WHERE address = $1",
                &[
                    &address,
                    &outcome.order_id,
                    product_ids,
                    &outcome.buy_product_request_id,
                    &outcome.request_id,
                    &run.0,
                    &now,
                    &status.as_str(),
                ],
            ))
            .map_err(|e| self.err(e))?,
            RowUpdate::Resolved { product_ids } => block_on(self.tx.execute(
                "UPDATE resources SET status = 'active', product_ids = $2, last_error = NULL, run_id = $3,
                     updated_at = $4, reorders = 0
                 WHERE address = $1",
                &[&address, product_ids, &run.0, &now],
            ))
            .map_err(|e| self.err(e))?,
            RowUpdate::Seen => block_on(self.tx.execute(
                "UPDATE resources SET reorders = 0, run_id = $2, updated_at = $3 WHERE address = $1",
                &[&address, &run.0, &now],
            ))
            .map_err(|e| self.err(e))?,
            RowUpdate::Failed { error } => block_on(self.tx.execute(
                "UPDATE resources SET status = 'failed', last_error = $2, run_id = $3, updated_at = $4
                 WHERE address = $1",
                &[&address, error, &run.0, &now],
            ))
            .map_err(|e| self.err(e))?,
            RowUpdate::Sending { settle_until } => block_on(self.tx.execute(
                "UPDATE resources SET run_id = $2, updated_at = $3, settle_until = $4
                 WHERE address = $1 AND status = 'pending'",
                &[&address, &run.0, &now, settle_until],
            ))
            .map_err(|e| self.err(e))?,
        };
        Ok(())
    }

    fn rename(&mut self, from: &Address, to: &Address, run: RunId, now: &str) -> Result<(), StateError> {
        block_on(self.tx.execute(
            "UPDATE resources SET address = $2, run_id = $3, updated_at = $4 WHERE address = $1",
            &[&from.as_str(), &to.as_str(), &run.0, &now],
        ))
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn delete(&mut self, address: &Address) -> Result<(), StateError> {
        block_on(
            self.tx
                .execute("DELETE FROM resources WHERE address = $1", &[&address.as_str()]),
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}
