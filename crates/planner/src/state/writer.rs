//! [`StateWriter`]: the state locked for writing, and the only way to change it. Every write
//! is one transaction that also appends its history entry and, when it changes the recorded
//! resources, bumps the serial.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pai_spec::{Address, Product, ProductCode, Region};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::history::{self, ApiCall, EventKind, History, NewEvent, RunId, RunResult};
use super::lock::{self, LockGuard, LockInfo};
use super::store::{create, open_existing, read_snapshot};
use super::{Origin, Resource, StateError, StateSnapshot, Status};
use crate::clock;

/// What `CreateProductOrders` answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderOutcome {
    pub order_id: Option<String>,
    pub product_ids: Vec<String>,
    pub buy_product_request_id: Option<String>,
    pub request_id: Option<String>,
}

/// The state, locked for writing. Created by [`StateWriter::open`], which waits for the lock;
/// dropping it releases the lock. The state file itself is created by the first write.
#[derive(Debug)]
pub struct StateWriter {
    path: PathBuf,
    conn: Option<Connection>,
    lock: LockGuard,
}

impl StateWriter {
    /// Takes the lock of the state at `path` for `operation` (e.g. `apply`), waiting up to
    /// `timeout`, then opens the file if it exists, refusing foreign files and newer schemas
    /// and migrating older ones.
    pub fn open(path: &Path, operation: &str, timeout: Duration) -> Result<StateWriter, StateError> {
        let lock = lock::acquire(path, operation, timeout)?;
        let conn = if path.exists() {
            Some(open_existing(path)?)
        } else {
            None
        };
        Ok(StateWriter {
            path: path.to_owned(),
            conn,
            lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn lock_info(&self) -> &LockInfo {
        self.lock.info()
    }

    pub fn exists(&self) -> bool {
        self.conn.is_some()
    }

    pub fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        match &self.conn {
            None => Ok(StateSnapshot::default()),
            Some(conn) => read_snapshot(conn, &self.path),
        }
    }

    pub fn history(&self, address: Option<&Address>) -> Result<History, StateError> {
        match &self.conn {
            None => Ok(History::default()),
            Some(conn) => history::read(conn, &self.path, address),
        }
    }

    /// Opens a run in the history; pass its id to every write of the run.
    pub fn begin_run(&mut self, command: &str) -> Result<RunId, StateError> {
        let now = clock::now();
        let host = clock::host_name();
        self.write(false, |tx| {
            tx.execute(
                "INSERT INTO runs (command, host, pid, version, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                (command, &host, std::process::id(), env!("CARGO_PKG_VERSION"), &now),
            )?;
            Ok(RunId(tx.last_insert_rowid()))
        })
    }

    pub fn end_run(&mut self, run: RunId, result: &RunResult) -> Result<(), StateError> {
        let now = clock::now();
        let (result, message) = match result {
            RunResult::Succeeded => ("succeeded", None),
            RunResult::Failed(m) => ("failed", Some(m.as_str())),
        };
        self.write(false, |tx| {
            tx.execute(
                "UPDATE runs SET ended_at = ?2, result = ?3, message = ?4 WHERE id = ?1 AND ended_at IS NULL",
                (run.0, &now, result, message),
            )?;
            Ok(())
        })
    }

    /// Appends one API call to the history. Does not change the serial.
    pub fn record_api_call(&mut self, run: RunId, call: &ApiCall) -> Result<(), StateError> {
        let now = clock::now();
        self.write(false, |tx| {
            history::append(
                tx,
                run,
                &now,
                &NewEvent {
                    kind: Some(EventKind::Api),
                    action: &call.action,
                    region: Some(call.region.as_str()),
                    addresses: call.addresses.iter().map(Address::as_str).collect(),
                    outcome: Some(call.outcome.as_str()),
                    http_status: call.http_status,
                    code: call.code.as_deref(),
                    message: call.message.as_deref(),
                    request_id: call.request_id.as_deref(),
                    order_id: call.order_id.as_deref(),
                    duration_ms: Some(u64::try_from(call.duration.as_millis()).unwrap_or(u64::MAX)),
                },
            )?;
            Ok(())
        })
    }

    /// Records the intent to order `products` (one region's order), durably, before the request
    /// is sent. Overwrites earlier rows of the same addresses (a reorder, a retry after `failed`).
    pub fn put_pending(&mut self, run: RunId, products: &[&Product]) -> Result<(), StateError> {
        let now = clock::now();
        self.write_state(|tx| {
            for product in products {
                ensure_unique_activation(tx, &product.address, &product.region, product.code())?;
                let before = status_of(tx, &product.address)?;
                upsert(tx, product, Status::Pending, Origin::Ordered, run, &now)?;
                let message = match before {
                    Some(s) => format!("{} -> pending", s.as_str()),
                    None => "recorded -> pending".to_owned(),
                };
                state_event(
                    tx,
                    run,
                    &now,
                    "pending",
                    &product.address,
                    Status::Pending,
                    &message,
                    None,
                )?;
            }
            Ok(())
        })
    }

    /// Records a successful order for `addresses` (all pending in this region's order).
    pub fn mark_active(&mut self, run: RunId, addresses: &[Address], outcome: &OrderOutcome) -> Result<(), StateError> {
        let now = clock::now();
        let ids = serde_json::to_string(&outcome.product_ids).unwrap_or_else(|_| "[]".into());
        self.write_state(|tx| {
            for address in addresses {
                let before = require(tx, address)?;
                tx.execute(
                    "UPDATE resources SET status = 'active', order_id = ?2, product_ids = ?3,
                         buy_product_request_id = ?4, request_id = ?5, last_error = NULL, run_id = ?6,
                         updated_at = ?7
                     WHERE address = ?1",
                    rusqlite::params![
                        address.as_str(),
                        outcome.order_id,
                        ids,
                        outcome.buy_product_request_id,
                        outcome.request_id,
                        run.0,
                        now
                    ],
                )?;
                let message = format!("{} -> active: ordered", before.as_str());
                state_event(
                    tx,
                    run,
                    &now,
                    "active",
                    address,
                    Status::Active,
                    &message,
                    outcome.order_id.as_deref(),
                )?;
            }
            Ok(())
        })
    }

    /// Settles a `pending` row whose order the cloud reports purchased although its response
    /// was lost: the row becomes `active`, keeping the request that was sent.
    pub fn mark_resolved(&mut self, run: RunId, address: &Address, product_id: Option<&str>) -> Result<(), StateError> {
        let now = clock::now();
        let ids = serde_json::to_string(&product_id.into_iter().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into());
        self.write_state(|tx| {
            let before = require(tx, address)?;
            tx.execute(
                "UPDATE resources SET status = 'active', product_ids = ?2, last_error = NULL, run_id = ?3,
                     updated_at = ?4
                 WHERE address = ?1",
                (address.as_str(), &ids, run.0, &now),
            )?;
            let message = format!(
                "{} -> active: resolved by observation, the cloud reports it purchased",
                before.as_str()
            );
            state_event(tx, run, &now, "resolved", address, Status::Active, &message, None)
        })
    }

    /// Records an activation the cloud reports purchased that the state did not know, with the
    /// manifest's request; replaces a `failed` row of the same address.
    pub fn mark_adopted(&mut self, run: RunId, product: &Product, product_id: Option<&str>) -> Result<(), StateError> {
        self.record_found(run, product, product_id, Origin::Adopted)
    }

    /// Records an activation bought elsewhere (`state import`). Refuses an address that is
    /// already recorded.
    pub fn import(&mut self, run: RunId, product: &Product, product_id: Option<&str>) -> Result<(), StateError> {
        if self.snapshot()?.resources.contains_key(&product.address) {
            return Err(StateError::AlreadyRecorded(product.address.clone()));
        }
        self.record_found(run, product, product_id, Origin::Imported)
    }

    fn record_found(
        &mut self,
        run: RunId,
        product: &Product,
        product_id: Option<&str>,
        origin: Origin,
    ) -> Result<(), StateError> {
        let now = clock::now();
        let ids = serde_json::to_string(&product_id.into_iter().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into());
        let action = origin.as_str();
        self.write_state(|tx| {
            ensure_unique_activation(tx, &product.address, &product.region, product.code())?;
            let before = status_of(tx, &product.address)?;
            upsert(tx, product, Status::Active, origin, run, &now)?;
            tx.execute(
                "UPDATE resources SET product_ids = ?2 WHERE address = ?1",
                (product.address.as_str(), &ids),
            )?;
            let message = match before {
                Some(s) => format!("{} -> active: {action}", s.as_str()),
                None => format!("recorded active: {action}"),
            };
            state_event(tx, run, &now, action, &product.address, Status::Active, &message, None)
        })
    }

    /// Records that the orders of `addresses` were rejected: nothing was bought.
    pub fn mark_failed(&mut self, run: RunId, addresses: &[Address], error: &str) -> Result<(), StateError> {
        let now = clock::now();
        self.write_state(|tx| {
            for address in addresses {
                let before = require(tx, address)?;
                tx.execute(
                    "UPDATE resources SET status = 'failed', last_error = ?2, run_id = ?3, updated_at = ?4
                     WHERE address = ?1",
                    (address.as_str(), error, run.0, &now),
                )?;
                let message = format!("{} -> failed: {error}", before.as_str());
                state_event(tx, run, &now, "failed", address, Status::Failed, &message, None)?;
            }
            Ok(())
        })
    }

    /// Gives a recorded activation a new address (the manifest renamed it). The record keeps the
    /// request it was ordered with.
    pub fn move_resource(&mut self, run: RunId, from: &Address, to: &Address) -> Result<(), StateError> {
        let now = clock::now();
        self.write_state(|tx| {
            let status = require(tx, from)?;
            if status_of(tx, to)?.is_some() {
                return Err(TxError::State(StateError::AlreadyRecorded(to.clone())));
            }
            tx.execute(
                "UPDATE resources SET address = ?2, run_id = ?3, updated_at = ?4 WHERE address = ?1",
                (from.as_str(), to.as_str(), run.0, &now),
            )?;
            let message = format!("moved from `{from}` to `{to}`");
            history::append(
                tx,
                run,
                &now,
                &NewEvent {
                    action: "moved",
                    addresses: vec![from.as_str(), to.as_str()],
                    outcome: Some(status.as_str()),
                    message: Some(&message),
                    ..NewEvent::default()
                },
            )?;
            Ok(())
        })
    }

    /// Drops an address from the state and returns what was recorded. The activation itself is
    /// untouched: the API cannot cancel it.
    pub fn remove(&mut self, run: RunId, address: &Address) -> Result<Resource, StateError> {
        let removed = self
            .snapshot()?
            .resources
            .remove(address)
            .ok_or_else(|| StateError::NoSuchAddress(address.clone()))?;
        let now = clock::now();
        self.write_state(|tx| {
            tx.execute("DELETE FROM resources WHERE address = ?1", [address.as_str()])?;
            let message = format!(
                "{} -> removed from the state (order {})",
                removed.status.as_str(),
                removed.order_id.as_deref().unwrap_or("unknown")
            );
            history::append(
                tx,
                run,
                &now,
                &NewEvent {
                    action: "removed",
                    region: Some(removed.region.as_str()),
                    addresses: vec![address.as_str()],
                    message: Some(&message),
                    order_id: removed.order_id.as_deref(),
                    ..NewEvent::default()
                },
            )?;
            Ok(())
        })?;
        Ok(removed)
    }

    fn write_state<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T, TxError>) -> Result<T, StateError> {
        self.write(true, f)
    }

    /// Runs `f` in one immediate transaction, creating the state file first if it is missing.
    fn write<T>(
        &mut self,
        bump_serial: bool,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, TxError>,
    ) -> Result<T, StateError> {
        let path = self.path.clone();
        let conn = self.connection()?;
        let sql = |e| StateError::sqlite(&path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let value = f(&tx).map_err(|e| e.into_state(&path))?;
        if bump_serial {
            tx.execute("UPDATE state SET serial = serial + 1 WHERE id = 1", [])
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(value)
    }

    fn connection(&mut self) -> Result<&mut Connection, StateError> {
        if self.conn.is_none() {
            create(&self.path)?;
            self.conn = Some(open_existing(&self.path)?);
        }
        match self.conn.as_mut() {
            Some(conn) => Ok(conn),
            None => Err(StateError::NotAState {
                path: self.path.clone(),
                why: "it could not be created".into(),
            }),
        }
    }
}

/// An error inside a write transaction: SQL, or a refusal decided by the state's contents.
enum TxError {
    Sql(rusqlite::Error),
    State(StateError),
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        TxError::Sql(e)
    }
}

impl TxError {
    fn into_state(self, path: &Path) -> StateError {
        match self {
            TxError::Sql(e) => StateError::sqlite(path, e),
            TxError::State(e) => e,
        }
    }
}

fn status_of(tx: &Transaction<'_>, address: &Address) -> rusqlite::Result<Option<Status>> {
    let status: Option<String> = tx
        .query_row(
            "SELECT status FROM resources WHERE address = ?1",
            [address.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(status.and_then(|s| Status::parse(&s)))
}

fn require(tx: &Transaction<'_>, address: &Address) -> Result<Status, TxError> {
    status_of(tx, address)?.ok_or_else(|| TxError::State(StateError::NoSuchAddress(address.clone())))
}

fn ensure_unique_activation(
    tx: &Transaction<'_>,
    address: &Address,
    region: &Region,
    code: ProductCode,
) -> Result<(), TxError> {
    let existing: Option<String> = tx
        .query_row(
            "SELECT address FROM resources WHERE region = ?1 AND product_code = ?2 AND address <> ?3",
            (region.as_str(), code.as_str(), address.as_str()),
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(existing) => Err(TxError::State(StateError::DuplicateActivation {
            region: region.clone(),
            code,
            existing,
        })),
        None => Ok(()),
    }
}

/// Inserts or replaces the row of `product` with the manifest's request; the order's ids are
/// cleared, since they belonged to an earlier order (the history keeps them).
fn upsert(
    tx: &Transaction<'_>,
    product: &Product,
    status: Status,
    origin: Origin,
    run: RunId,
    now: &str,
) -> Result<(), TxError> {
    let request = &product.request;
    tx.execute(
        "INSERT INTO resources (address, region, product_code, status, origin, fingerprint, request_json,
                                product_ids, run_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '[]', ?8, ?9, ?9)
         ON CONFLICT (address) DO UPDATE SET
             region = excluded.region, product_code = excluded.product_code, status = excluded.status,
             origin = excluded.origin, fingerprint = excluded.fingerprint, request_json = excluded.request_json,
             order_id = NULL, product_ids = '[]', buy_product_request_id = NULL, request_id = NULL,
             last_error = NULL, run_id = excluded.run_id, updated_at = excluded.updated_at",
        rusqlite::params![
            product.address.as_str(),
            product.region.as_str(),
            product.code().as_str(),
            status.as_str(),
            origin.as_str(),
            request.fingerprint().0,
            request.canonical_json(),
            run.0,
            now,
        ],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn state_event(
    tx: &Transaction<'_>,
    run: RunId,
    now: &str,
    action: &str,
    address: &Address,
    status: Status,
    message: &str,
    order_id: Option<&str>,
) -> Result<(), TxError> {
    history::append(
        tx,
        run,
        now,
        &NewEvent {
            action,
            addresses: vec![address.as_str()],
            outcome: Some(status.as_str()),
            message: Some(message),
            order_id,
            ..NewEvent::default()
        },
    )?;
    Ok(())
}
