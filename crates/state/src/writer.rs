//! [`StateWriter`]: the state locked for writing, and the only way to change it. Every write
//! is one transaction that also appends its history entry and, when it changes the recorded
//! resources, bumps the serial. The writes are composed here once from the backend's
//! primitives (`Tx`); the backends differ only in SQL, locking and connections.

use std::time::Duration;

use pai_spec::{Address, Product, ProductCode, Region};

use super::backend::{self, Writes};
use super::copy::StateDump;
use super::history::{ApiCall, EventKind, History, NewEvent, RunId, RunResult};
use super::lock::{LockInfo, Unlocked};
use super::rows::product_ids_json;
use super::tx::{NewRow, NewRun, RowUpdate, Tx};
use super::{Origin, Resource, StateError, StateLocation, StateSnapshot, Status};
use crate::clock::{self, Clock, SystemClock};
use crate::provenance::Provenance;

pub use super::OrderOutcome;

/// The state, locked for writing. Created by [`StateWriter::open`], which waits for the lock;
/// dropping it releases the lock. The state itself is created by the first write.
///
/// Its methods block until the database answers; they may be called from inside a Tokio
/// runtime (the PostgreSQL backend drives its connection on a thread of its own).
#[derive(Debug)]
pub struct StateWriter {
    location: StateLocation,
    db: Box<dyn Writes>,
    clock: Box<dyn Clock>,
    provenance: Provenance,
}

impl StateWriter {
    /// Takes the lock of the state at `location` (a path, or a [`StateLocation`]) for
    /// `operation` (e.g. `apply`), waiting up to `timeout`, then opens the state if it exists,
    /// refusing foreign files or schemas and newer schemas and migrating older ones.
    pub fn open(
        location: impl Into<StateLocation>,
        operation: &str,
        timeout: Duration,
    ) -> Result<StateWriter, StateError> {
        let location = location.into();
        let db = backend::open_write(&location, operation, timeout)?;
        Ok(StateWriter {
            location,
            db,
            clock: Box::new(SystemClock),
            provenance: Provenance::of_process(),
        })
    }

    /// Records `provenance` with the runs this writer begins, instead of this process's own
    /// ([`Provenance::of_process`]): the caller adds the digest of the saved plan it applies.
    pub fn with_provenance(mut self, provenance: Provenance) -> StateWriter {
        self.provenance = provenance;
        self
    }

    /// What the runs this writer begins record as their provenance.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    pub(crate) fn run_record(&self, command: &str) -> (String, String, String) {
        let provenance = crate::provenance::to_column(Some(&self.provenance)).unwrap_or_default();
        (command.to_owned(), clock::host_name(), provenance)
    }

    /// Stamps the rows and history entries this writer writes with `clock`'s time instead of
    /// the system's.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> StateWriter {
        self.clock = Box::new(clock);
        self
    }

    pub(crate) fn now(&self) -> String {
        clock::format(self.clock.now_utc())
    }

    pub fn location(&self) -> &StateLocation {
        &self.location
    }

    pub fn lock_info(&self) -> &LockInfo {
        self.db.lock_info()
    }

    pub fn exists(&self) -> bool {
        self.db.reads().exists()
    }

    pub fn snapshot(&self) -> Result<StateSnapshot, StateError> {
        self.db.reads().snapshot()
    }

    pub fn history(&self, address: Option<&Address>) -> Result<History, StateError> {
        self.db.reads().history(address)
    }

    /// Everything the state holds; `None` when there is no state yet.
    pub fn dump(&self) -> Result<Option<StateDump>, StateError> {
        self.db.reads().dump()
    }

    /// Creates the state as an exact copy of `dump`: its lineage, serial, rows and history,
    /// keeping every id. Refuses when a state exists here. See [`super::migrate`].
    pub fn restore(&mut self, dump: &StateDump) -> Result<(), StateError> {
        if let Some(existing) = self.dump()? {
            return Err(StateError::TargetNotEmpty {
                location: self.location.clone(),
                lineage: existing.lineage,
                serial: existing.serial,
                resources: existing.resources.len(),
            });
        }
        self.db.restore(dump)
    }

    /// Opens a run in the history; pass its id to every write of the run.
    pub fn begin_run(&mut self, command: &str) -> Result<RunId, StateError> {
        let now = self.now();
        let (command, host, provenance) = self.run_record(command);
        self.write(false, |tx| tx.insert_run(&new_run(&command, &host, &now, &provenance)))
    }

    pub fn end_run(&mut self, run: RunId, result: &RunResult) -> Result<(), StateError> {
        let now = self.now();
        let (result, message) = match result {
            RunResult::Succeeded => ("succeeded", None),
            RunResult::Failed(m) => ("failed", Some(m.as_str())),
        };
        self.write(false, |tx| tx.close_run(run, &now, result, message))
    }

    /// Appends one API call to the history. Does not change the serial.
    pub fn record_api_call(&mut self, run: RunId, call: &ApiCall) -> Result<(), StateError> {
        let now = self.now();
        self.write(false, |tx| {
            tx.append_event(
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
            )
        })
    }

    /// Records the intent to order `products` (one region's order), durably, before the request
    /// is sent. Overwrites earlier rows of the same addresses (a reorder, a retry after `failed`).
    pub fn put_pending(&mut self, run: RunId, products: &[&Product]) -> Result<(), StateError> {
        let now = self.now();
        self.write_state(|tx| {
            for product in products {
                ensure_unique_activation(tx, &product.address, &product.region, product.code())?;
                let before = tx.status_of(&product.address)?;
                // Ordering what is recorded active is a reorder after drift; a retry of a
                // failed or pending order is the same reorder still.
                let reorders = match before {
                    None => 0,
                    Some(Status::Active) => tx.reorders_of(&product.address)?.saturating_add(1),
                    Some(_) => tx.reorders_of(&product.address)?,
                };
                tx.upsert(&NewRow {
                    product,
                    status: Status::Pending,
                    origin: Origin::Ordered,
                    reorders,
                    product_ids: "[]",
                    run,
                    now: &now,
                })?;
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

    /// Notes, just before a request for them leaves, that an order for the `pending` rows
    /// `addresses` is being sent (`attempt` numbers the order and its request), and that the
    /// service may carry it out, or show it, up to `settle` later. A row's `updated_at` is then
    /// when its last request may have left and its `settle_until` when a "not purchased" about
    /// it may be trusted, by this run or any later one whatever its settings (see
    /// `docs/idempotency.md`).
    pub fn note_sending(
        &mut self,
        run: RunId,
        addresses: &[Address],
        attempt: Attempt,
        settle: Duration,
    ) -> Result<(), StateError> {
        let sent = self.clock.now_utc();
        let now = clock::format(sent);
        let settle_until = clock::format_ceil(sent + settle);
        self.write_state(|tx| {
            for address in addresses {
                let before = require(tx, address)?;
                if before != Status::Pending {
                    return Err(StateError::NotPending {
                        address: address.clone(),
                        status: before,
                    });
                }
                tx.update(
                    address,
                    &RowUpdate::Sending {
                        settle_until: &settle_until,
                    },
                    run,
                    &now,
                )?;
                let message = format!(
                    "pending: request sent (order {} of this run, try {} of it); settles at {settle_until}",
                    attempt.order, attempt.request
                );
                state_event(tx, run, &now, "sending", address, Status::Pending, &message, None)?;
            }
            Ok(())
        })
    }

    /// Records a successful order for `addresses` (all pending in this region's order).
    pub fn mark_active(&mut self, run: RunId, addresses: &[Address], outcome: &OrderOutcome) -> Result<(), StateError> {
        let rows: Vec<(&Address, &[String])> = addresses.iter().map(|a| (a, &outcome.product_ids[..])).collect();
        self.mark_ordered(run, &rows, outcome, Status::Active, "ordered")
    }

    /// [`StateWriter::mark_active`] where each row keeps its own product ids (the order's answer
    /// matched them one to one), still in one transaction: one durable write per order, not
    /// one per product.
    pub fn mark_active_each(
        &mut self,
        run: RunId,
        rows: &[(Address, Vec<String>)],
        outcome: &OrderOutcome,
    ) -> Result<(), StateError> {
        let rows: Vec<(&Address, &[String])> = rows.iter().map(|(a, ids)| (a, &ids[..])).collect();
        self.mark_ordered(run, &rows, outcome, Status::Active, "ordered")
    }

    /// Records an accepted order placed with `AutoPay: false` for `addresses`: it waits for
    /// payment in the console and buys nothing until then. The row keeps the order's ids, so
    /// that the plan can name the order to pay and never places another one for it.
    pub fn mark_unpaid(&mut self, run: RunId, addresses: &[Address], outcome: &OrderOutcome) -> Result<(), StateError> {
        let rows: Vec<(&Address, &[String])> = addresses.iter().map(|a| (a, &outcome.product_ids[..])).collect();
        self.mark_ordered(run, &rows, outcome, Status::Unpaid, "ordered, awaiting payment")
    }

    fn mark_ordered(
        &mut self,
        run: RunId,
        rows: &[(&Address, &[String])],
        outcome: &OrderOutcome,
        status: Status,
        what: &str,
    ) -> Result<(), StateError> {
        let now = self.now();
        self.write_state(|tx| {
            for &(address, product_ids) in rows {
                let before = require(tx, address)?;
                tx.update(
                    address,
                    &RowUpdate::Ordered {
                        status,
                        outcome,
                        product_ids: &product_ids_json(product_ids),
                    },
                    run,
                    &now,
                )?;
                let message = format!("{} -> {}: {what}", before.as_str(), status.as_str());
                state_event(
                    tx,
                    run,
                    &now,
                    status.as_str(),
                    address,
                    status,
                    &message,
                    outcome.order_id.as_deref(),
                )?;
            }
            Ok(())
        })
    }

    /// Settles a `pending` row whose order the cloud reports purchased although its response
    /// was lost, or an `unpaid` row whose order someone has paid: the row becomes `active`,
    /// keeping the request that was sent and the order id.
    pub fn mark_resolved(&mut self, run: RunId, address: &Address, product_id: Option<&str>) -> Result<(), StateError> {
        let now = self.now();
        let ids = product_ids_json(&product_id.map(str::to_owned).into_iter().collect::<Vec<_>>());
        self.write_state(|tx| {
            let before = require(tx, address)?;
            tx.update(address, &RowUpdate::Resolved { product_ids: &ids }, run, &now)?;
            let message = format!(
                "{} -> active: resolved by observation, the cloud reports it purchased",
                before.as_str()
            );
            state_event(tx, run, &now, "resolved", address, Status::Active, &message, None)
        })
    }

    /// Notes that the cloud reports an `active` row that was reordered after drift purchased: the
    /// reorder showed, so a later drift may be reordered again.
    pub fn mark_seen(&mut self, run: RunId, address: &Address) -> Result<(), StateError> {
        let now = self.now();
        self.write_state(|tx| {
            let before = require(tx, address)?;
            if before != Status::Active {
                return Ok(());
            }
            tx.update(address, &RowUpdate::Seen, run, &now)?;
            let message = "active: the cloud reports the reorder purchased";
            state_event(tx, run, &now, "seen", address, Status::Active, message, None)
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
        let now = self.now();
        let ids = product_ids_json(&product_id.map(str::to_owned).into_iter().collect::<Vec<_>>());
        let action = origin.as_str();
        self.write_state(|tx| {
            ensure_unique_activation(tx, &product.address, &product.region, product.code())?;
            let before = tx.status_of(&product.address)?;
            tx.upsert(&NewRow {
                product,
                status: Status::Active,
                origin,
                reorders: 0,
                product_ids: &ids,
                run,
                now: &now,
            })?;
            let message = match before {
                Some(s) => format!("{} -> active: {action}", s.as_str()),
                None => format!("recorded active: {action}"),
            };
            state_event(tx, run, &now, action, &product.address, Status::Active, &message, None)
        })
    }

    /// Records that the orders of `addresses` were rejected: nothing was bought.
    pub fn mark_failed(&mut self, run: RunId, addresses: &[Address], error: &str) -> Result<(), StateError> {
        let now = self.now();
        self.write_state(|tx| {
            for address in addresses {
                let before = require(tx, address)?;
                tx.update(address, &RowUpdate::Failed { error }, run, &now)?;
                let message = format!("{} -> failed: {error}", before.as_str());
                state_event(tx, run, &now, "failed", address, Status::Failed, &message, None)?;
            }
            Ok(())
        })
    }

    /// Gives a recorded activation a new address (the manifest renamed it). The record keeps the
    /// request it was ordered with.
    pub fn move_resource(&mut self, run: RunId, from: &Address, to: &Address) -> Result<(), StateError> {
        let now = self.now();
        self.write_state(|tx| {
            let status = require(tx, from)?;
            if tx.status_of(to)?.is_some() {
                return Err(StateError::AlreadyRecorded(to.clone()));
            }
            tx.rename(from, to, run, &now)?;
            let message = format!("moved from `{from}` to `{to}`");
            tx.append_event(
                run,
                &now,
                &NewEvent {
                    action: "moved",
                    addresses: vec![from.as_str(), to.as_str()],
                    outcome: Some(status.as_str()),
                    message: Some(&message),
                    ..NewEvent::default()
                },
            )
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
        let now = self.now();
        self.write_state(|tx| {
            tx.delete(address)?;
            let message = format!(
                "{} -> removed from the state (order {})",
                removed.status.as_str(),
                removed.order_id.as_deref().unwrap_or("unknown")
            );
            tx.append_event(
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
            )
        })?;
        Ok(removed)
    }

    /// Records that the cloud contradicts the row of `address` (recorded active, reported not
    /// purchased) as a state event of its own: no API call is claimed, and the row is left as it
    /// is, for the plan to show the reorder.
    pub fn record_drift(&mut self, run: RunId, address: &Address, message: &str) -> Result<(), StateError> {
        let now = self.now();
        self.write(false, |tx| {
            tx.append_event(
                run,
                &now,
                &NewEvent {
                    action: "drift",
                    addresses: vec![address.as_str()],
                    message: Some(message),
                    ..NewEvent::default()
                },
            )
        })
    }

    fn write_state<T>(&mut self, f: impl FnMut(&mut dyn Tx) -> Result<T, StateError>) -> Result<T, StateError> {
        self.write(true, f)
    }

    /// Runs `f` in one transaction, creating the state first if it is missing.
    pub(crate) fn write<T>(
        &mut self,
        bump_serial: bool,
        mut f: impl FnMut(&mut dyn Tx) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let mut value = None;
        self.db.transact(bump_serial, &mut |tx| {
            value = Some(f(tx)?);
            Ok(())
        })?;
        // A backend commits only after the body succeeded, so a value is always there.
        value.ok_or_else(|| StateError::NotAState {
            location: self.location.clone(),
            why: "the write transaction committed without running".into(),
        })
    }
}

/// Clears the record of lock `id` left by a holder that is gone; refuses to break a lock that
/// a live process holds. See `docs/state.md` for what each backend does.
pub fn force_unlock(location: &StateLocation, id: &str) -> Result<Unlocked, StateError> {
    backend::force_unlock(location, id)
}

pub(crate) fn new_run<'a>(command: &'a str, host: &'a str, now: &'a str, provenance: &'a str) -> NewRun<'a> {
    NewRun {
        command,
        host,
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION"),
        started_at: now,
        provenance,
    }
}

fn require(tx: &mut dyn Tx, address: &Address) -> Result<Status, StateError> {
    tx.status_of(address)?
        .ok_or_else(|| StateError::NoSuchAddress(address.clone()))
}

fn ensure_unique_activation(
    tx: &mut dyn Tx,
    address: &Address,
    region: &Region,
    code: ProductCode,
) -> Result<(), StateError> {
    match tx.activation_address(region, code, address)? {
        Some(existing) => Err(StateError::DuplicateActivation {
            region: region.clone(),
            code,
            existing,
        }),
        None => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
fn state_event(
    tx: &mut dyn Tx,
    run: RunId,
    now: &str,
    action: &str,
    address: &Address,
    status: Status,
    message: &str,
    order_id: Option<&str>,
) -> Result<(), StateError> {
    tx.append_event(
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
    )
}

/// Which request of which order is leaving, as the history numbers it: a run that orders again
/// after an unknown outcome sends a new order, and its history says "order 2", not "try 1" again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Counts from 1 within a run and region: each order sent after the last one's outcome was
    /// found to be "not purchased".
    pub order: u32,
    /// Counts from 1 within one order: the client's retries of a request that was not bought.
    pub request: u32,
}

impl Attempt {
    pub const FIRST: Attempt = Attempt { order: 1, request: 1 };
}
