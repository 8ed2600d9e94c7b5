//! The write primitives ([`Tx`]) on a SQLite transaction.

use std::path::Path;

use pai_spec::{Address, ProductCode, Region};
use rusqlite::{OptionalExtension, Transaction};

use super::history;
use crate::history::{NewEvent, RunId};
use crate::tx::{NewRow, NewRun, RowUpdate, Tx};
use crate::{StateError, Status};

/// The write primitives on an open SQLite transaction; the driver's errors become
/// [`StateError`]s of the file here.
pub(super) struct SqliteTx<'a> {
    tx: &'a Transaction<'a>,
    path: &'a Path,
}

impl<'a> SqliteTx<'a> {
    pub(super) fn new(tx: &'a Transaction<'a>, path: &'a Path) -> Self {
        SqliteTx { tx, path }
    }

    fn err(&self, e: rusqlite::Error) -> StateError {
        StateError::sqlite(self.path, e)
    }
}

impl Tx for SqliteTx<'_> {
    fn insert_run(&mut self, run: &NewRun<'_>) -> Result<RunId, StateError> {
        self.tx
            .execute(
                "INSERT INTO runs (command, host, pid, version, started_at, provenance)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                (
                    run.command,
                    run.host,
                    run.pid,
                    run.version,
                    run.started_at,
                    run.provenance,
                ),
            )
            .map_err(|e| self.err(e))?;
        Ok(RunId(self.tx.last_insert_rowid()))
    }

    fn close_run(&mut self, run: RunId, now: &str, result: &str, message: Option<&str>) -> Result<(), StateError> {
        self.tx
            .execute(
                "UPDATE runs SET ended_at = ?2, result = ?3, message = ?4 WHERE id = ?1 AND ended_at IS NULL",
                (run.0, now, result, message),
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn append_event(&mut self, run: RunId, at: &str, event: &NewEvent<'_>) -> Result<(), StateError> {
        history::append(self.tx, run, at, event).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn status_of(&mut self, address: &Address) -> Result<Option<Status>, StateError> {
        let status: Option<String> = self
            .tx
            .query_row(
                "SELECT status FROM resources WHERE address = ?1",
                [address.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(status.and_then(|s| Status::parse(&s)))
    }

    fn reorders_of(&mut self, address: &Address) -> Result<u32, StateError> {
        let reorders: Option<i64> = self
            .tx
            .query_row(
                "SELECT reorders FROM resources WHERE address = ?1",
                [address.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(reorders.and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
    }

    fn activation_address(
        &mut self,
        region: &Region,
        code: ProductCode,
        except: &Address,
    ) -> Result<Option<String>, StateError> {
        self.tx
            .query_row(
                "SELECT address FROM resources WHERE region = ?1 AND product_code = ?2 AND address <> ?3",
                (region.as_str(), code.as_str(), except.as_str()),
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn upsert(&mut self, row: &NewRow<'_>) -> Result<(), StateError> {
        let product = row.product;
        let request = &product.request;
        self.tx
            .execute(
                "INSERT INTO resources (address, region, product_code, status, origin, fingerprint, request_json,
                                    product_ids, run_id, created_at, updated_at, reorders)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)
             ON CONFLICT (address) DO UPDATE SET
                 region = excluded.region, product_code = excluded.product_code, status = excluded.status,
                 origin = excluded.origin, fingerprint = excluded.fingerprint, request_json = excluded.request_json,
                 order_id = NULL, product_ids = excluded.product_ids, buy_product_request_id = NULL,
                 request_id = NULL, last_error = NULL, run_id = excluded.run_id, updated_at = excluded.updated_at,
                 settle_until = NULL, reorders = excluded.reorders",
                rusqlite::params![
                    product.address.as_str(),
                    product.region.as_str(),
                    product.code().as_str(),
                    row.status.as_str(),
                    row.origin.as_str(),
                    request.fingerprint().0,
                    request.canonical_json(),
                    row.product_ids,
                    row.run.0,
                    row.now,
                    row.reorders,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn update(&mut self, address: &Address, change: &RowUpdate<'_>, run: RunId, now: &str) -> Result<(), StateError> {
        let done = match change {
            RowUpdate::Ordered {
                status,
                outcome,
                product_ids,
            } => self.tx.execute(
                "UPDATE resources SET status = ?8, order_id = ?2, product_ids = ?3,
                     buy_product_request_id = ?4, request_id = ?5, last_error = NULL, run_id = ?6,
                     updated_at = ?7
                 WHERE address = ?1",
                rusqlite::params![
                    address.as_str(),
                    outcome.order_id,
                    product_ids,
                    outcome.buy_product_request_id,
                    outcome.request_id,
                    run.0,
                    now,
                    status.as_str()
                ],
            ),
            RowUpdate::Resolved { product_ids } => self.tx.execute(
                "UPDATE resources SET status = 'active', product_ids = ?2, last_error = NULL, run_id = ?3,
                     updated_at = ?4, reorders = 0
                 WHERE address = ?1",
                (address.as_str(), product_ids, run.0, now),
            ),
            RowUpdate::Seen => self.tx.execute(
                "UPDATE resources SET reorders = 0, run_id = ?2, updated_at = ?3 WHERE address = ?1",
                (address.as_str(), run.0, now),
            ),
            RowUpdate::Failed { error } => self.tx.execute(
                "UPDATE resources SET status = 'failed', last_error = ?2, run_id = ?3, updated_at = ?4
                 WHERE address = ?1",
                (address.as_str(), error, run.0, now),
            ),
            RowUpdate::Sending { settle_until } => self.tx.execute(
                "UPDATE resources SET run_id = ?2, updated_at = ?3, settle_until = ?4
                 WHERE address = ?1 AND status = 'pending'",
                (address.as_str(), run.0, now, settle_until),
            ),
        };
        done.map(|_| ()).map_err(|e| self.err(e))
    }

    fn rename(&mut self, from: &Address, to: &Address, run: RunId, now: &str) -> Result<(), StateError> {
        self.tx
            .execute(
                "UPDATE resources SET address = ?2, run_id = ?3, updated_at = ?4 WHERE address = ?1",
                (from.as_str(), to.as_str(), run.0, now),
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn delete(&mut self, address: &Address) -> Result<(), StateError> {
        self.tx
            .execute("DELETE FROM resources WHERE address = ?1", [address.as_str()])
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
