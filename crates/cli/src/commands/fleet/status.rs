//! `fleet status FLEET`: what each selected account's state records, read without locking:
//! its products by status, its last run, and a lock that is held. One line per account, or
//! JSON for a drift job.

use std::collections::BTreeMap;

use pai_state::{StateLocation, Status, Store};
use serde::Serialize;

use crate::cli::{FleetStatusArgs, Format, Global};
use crate::context;

/// One account's state, summarised.
#[derive(Debug, Serialize)]
struct AccountStatus {
    name: String,
    id: String,
    state: String,
    /// `false` when the account has no state yet (nothing was ever recorded for it).
    exists: bool,
    serial: u64,
    /// Products by status (`active`, `pending`, `unpaid`, `failed`).
    products: BTreeMap<&'static str, usize>,
    last_run: Option<LastRun>,
    /// The operation holding the lock, when one does.
    locked_by: Option<String>,
    /// The lock record of a process that no longer holds the lock (a killed run), when one
    /// was left: not a lock.
    stale_lock: Option<String>,
    /// The change freeze in force (`state freeze`): fleet apply fails this account while it lasts.
    frozen: Option<pai_state::Freeze>,
    /// Why the state could not be read, when it could not.
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct LastRun {
    command: String,
    started_at: String,
    result: Option<String>,
}

pub fn run(g: &Global, args: FleetStatusArgs) -> anyhow::Result<u8> {
    let mut loaded = super::load(g, &args.fleet)?;
    let states = super::states(g, &args.fleet)?;
    if loaded.fleet.discovery.is_some() {
        // Only to learn which accounts the folder holds: no role is assumed, no state written.
        let cloud = super::env::FleetCloud::connect(g, &loaded.fleet, &states, pai_fleet::run::DEFAULT_STS_RATE)?;
        loaded.fleet = cloud.discover(loaded.fleet)?;
    }
    let accounts = super::select(&loaded.fleet, &args.accounts, args.shard.as_ref())?;
    let rows: Vec<AccountStatus> = accounts
        .iter()
        .map(|account| {
            let location = states.account(account.id.as_str());
            let mut row = AccountStatus {
                name: account.name.as_str().to_owned(),
                id: account.id.as_str().to_owned(),
                state: location.as_ref().map(ToString::to_string).unwrap_or_default(),
                exists: false,
                serial: 0,
                products: BTreeMap::new(),
                last_run: None,
                locked_by: None,
                stale_lock: None,
                frozen: None,
                error: None,
            };
            match location.map_err(|e| e.to_string()).and_then(|l| read(&l, &mut row)) {
                Ok(()) => {}
                Err(e) => row.error = Some(e),
            }
            row
        })
        .collect();
    let unreadable = rows.iter().filter(|r| r.error.is_some()).count();
    match args.format {
        Format::Json => context::emit_json(&rows)?,
        Format::Human => context::emit(&human(&rows))?,
    }
    // No state of any listed account: a fleet never applied, or (more often, if it was) the
    // wrong states (a renamed or copied fleet file, a mistyped --state). Either way nothing here
    // describes the fleet, and a monitoring job must not read it as healthy.
    let nothing = |r: &AccountStatus| !r.exists && r.error.is_none() && r.locked_by.is_none() && r.stale_lock.is_none();
    if !rows.is_empty() && rows.iter().all(nothing) {
        note!(
            "WARNING: {states} holds no state of any of the {} listed account{}: if this fleet was applied before, \
             its states are elsewhere (a renamed or copied fleet file, or another --state)",
            rows.len(),
            if rows.len() == 1 { "" } else { "s" }
        );
        return Ok(1);
    }
    Ok(if unreadable == 0 { 0 } else { 1 })
}

fn read(location: &StateLocation, row: &mut AccountStatus) -> Result<(), String> {
    let store = Store::open_read_only(location.clone()).map_err(|e| e.to_string())?;
    // Read first: the first apply of an account holds the lock before its state exists.
    // A record is a lock only while its process holds it; one that a killed run left is said
    // as what it is (the next writer takes the lock over it).
    let held = store.lock_held();
    match store.lock_holder() {
        Some(l) if held => row.locked_by = Some(format!("{} on {} (pid {})", l.operation, l.host, l.pid)),
        Some(l) => {
            row.stale_lock = Some(format!(
                "{} on {} (pid {}), since {}",
                l.operation, l.host, l.pid, l.created_at
            ))
        }
        None => {}
    }
    row.exists = store.exists();
    if !row.exists {
        return Ok(());
    }
    let snapshot = store.snapshot().map_err(|e| e.to_string())?;
    row.serial = snapshot.serial;
    row.frozen = snapshot.freeze;
    for resource in snapshot.resources.values() {
        *row.products.entry(resource.status.as_str()).or_default() += 1;
    }
    let history = store.history(None).map_err(|e| e.to_string())?;
    row.last_run = history.runs.last().map(|run| LastRun {
        command: run.command.clone(),
        started_at: run.started_at.clone(),
        result: run.result.clone(),
    });
    Ok(())
}

/// `; LOCKED by ...` while a process holds the lock; what a killed run left otherwise.
fn lock_clause(row: &AccountStatus) -> String {
    match (&row.locked_by, &row.stale_lock) {
        (Some(holder), _) => format!("; LOCKED by {holder}"),
        (None, Some(record)) => format!(
            "; not locked: a stale lock record of {record} is left by a process that no longer holds it (the next \
             apply takes the lock over it)"
        ),
        (None, None) => String::new(),
    }
}

fn human(rows: &[AccountStatus]) -> String {
    let mut text = String::new();
    for row in rows {
        let line = if let Some(error) = &row.error {
            format!("{} ({}): cannot read the state: {error}", row.name, row.id)
        } else if !row.exists {
            let lock = lock_clause(row);
            format!("{} ({}): no state yet{lock}", row.name, row.id)
        } else {
            let products: Vec<String> = [Status::Active, Status::Pending, Status::Unpaid, Status::Failed]
                .iter()
                .filter_map(|s| row.products.get(s.as_str()).map(|n| format!("{n} {}", s.as_str())))
                .collect();
            let run = row
                .last_run
                .as_ref()
                .map(|r| {
                    format!(
                        "; last run: {} at {}, {}",
                        r.command,
                        r.started_at,
                        r.result.as_deref().unwrap_or("not finished")
                    )
                })
                .unwrap_or_default();
            let lock = lock_clause(row);
            let frozen = row
                .frozen
                .as_ref()
                .map(|f| format!("; FROZEN: {}", f.describe()))
                .unwrap_or_default();
            format!(
                "{} ({}): serial {}, {}{run}{lock}{frozen}",
                row.name,
                row.id,
                row.serial,
                if products.is_empty() {
                    "no products".to_owned()
                } else {
                    products.join(", ")
                }
            )
        };
        text.push_str(&pai_spec::escape(&line));
        text.push('\n');
    }
    let pending: usize = rows.iter().filter_map(|r| r.products.get("pending")).sum();
    text.push_str(&format!(
        "\n{} account{}: {} with a state, {} without, {} unreadable; {pending} product{} pending.\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        rows.iter().filter(|r| r.exists).count(),
        rows.iter().filter(|r| !r.exists && r.error.is_none()).count(),
        rows.iter().filter(|r| r.error.is_some()).count(),
        if pending == 1 { "" } else { "s" },
    ));
    text
}
