//! Makes a state for benchmarks: every product of a manifest recorded `active` through the
//! public writer API (as one apply would), then HISTORY more history events appended in bulk
//! with plain SQL on the schema documented in docs/state.md.
//!
//!     cargo run --release -p pai-planner --example seed_history -- MANIFEST STATE [EVENTS]
//!
//! EVENTS defaults to 100000. STATE must not exist yet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pai_state::{OrderOutcome, RunResult, StateWriter};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed_history: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(manifest), Some(state)) = (args.next(), args.next()) else {
        return Err("usage: seed_history MANIFEST STATE [EVENTS]".into());
    };
    let events: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(100_000);
    let state = PathBuf::from(state);
    if state.exists() {
        return Err(format!("{} exists; give a new path", state.display()).into());
    }
    let manifest = pai_spec::load(manifest.as_ref())?.manifest;
    if manifest.products.is_empty() {
        return Err("the manifest declares no products; nothing to record".into());
    }

    let mut writer = StateWriter::open(&state, "apply", Duration::ZERO)?;
    let run = writer.begin_run("apply")?;
    let products: Vec<_> = manifest.products.values().collect();
    writer.put_pending(run, &products)?;
    let addresses: Vec<_> = manifest.products.keys().cloned().collect();
    let outcome = OrderOutcome {
        order_id: Some("221300000000001".into()),
        product_ids: addresses.iter().map(|a| format!("pid-{a}")).collect(),
        buy_product_request_id: Some("BUY-0001".into()),
        request_id: Some("7B4E0C2A-0000-4000-8000-000000000001".into()),
    };
    writer.mark_active(run, &addresses, &outcome)?;
    writer.end_run(run, &RunResult::Succeeded)?;
    drop(writer);

    // Bulk history: runs of ten API calls each, every call linked to every address, as the
    // refreshes of a long-lived pipeline would leave them.
    let mut conn = rusqlite::Connection::open(&state)?;
    let tx = conn.transaction()?;
    {
        let mut new_run = tx.prepare(
            "INSERT INTO runs (command, host, pid, version, started_at, ended_at, result)
             VALUES ('refresh', 'bench', 1, 'bench', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'succeeded')",
        )?;
        let mut new_event = tx.prepare(
            "INSERT INTO events (run_id, at, kind, action, region, outcome, http_status, request_id, duration_ms)
             VALUES (?1, '2026-01-01T00:00:00Z', 'api', 'ListProducts', ?2, 'ok', 200, ?3, 80)",
        )?;
        let mut link = tx.prepare("INSERT INTO event_addresses (event_id, address) VALUES (?1, ?2)")?;
        let regions = manifest.regions();
        let mut run_id = 0;
        for i in 0..events {
            if i % 10 == 0 {
                new_run.execute([])?;
                run_id = tx.last_insert_rowid();
            }
            let region = &regions[(i as usize) % regions.len()];
            new_event.execute((run_id, region.as_str(), format!("REQ-{i:08}")))?;
            let event = tx.last_insert_rowid();
            for address in &addresses {
                link.execute((event, address.as_str()))?;
            }
        }
    }
    tx.commit()?;
    drop(conn);
    println!(
        "{}: {} products active, {events} history events added",
        state.display(),
        addresses.len()
    );
    Ok(())
}
