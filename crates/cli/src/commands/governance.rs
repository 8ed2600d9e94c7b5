//! `state freeze --reason TEXT`, `state unfreeze` and `state history [ADDR] [--since TIME]
//! [--format human|json|jsonl]`: the change freeze and the record of who did what. A freeze
//! takes the state's lock (it waits for a running apply) and records a run of its own;
//! `history` reads without locking.

use pai_planner::render::state as render;
use pai_state::{Event, History, RunRecord};
use serde::Serialize;

use super::state::{heading, name_beside_json};
use crate::cli::{Format, Global, HistoryFormat, StateFormatArgs, StateFreezeArgs, StateHistoryArgs};
use crate::context;

pub fn freeze(g: &Global, args: StateFreezeArgs) -> anyhow::Result<u8> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        anyhow::bail!("--reason: say why the state is frozen (it is shown to whoever tries to apply)");
    }
    let manifest = context::working_manifest(g)?;
    let mut writer = context::open_write(g, manifest.as_ref(), "state freeze")?;
    let replaced = writer.freeze(reason)?;
    let freeze = writer
        .snapshot()?
        .freeze
        .ok_or_else(|| anyhow::anyhow!("the freeze was recorded but cannot be read back"))?;
    match args.format {
        Format::Json => {
            note!("State: {}", writer.location());
            context::emit_json(&freeze)?
        }
        Format::Human => {
            let replaced = replaced
                .map(|old| format!(" It replaces the freeze by {} since {}.", old.who(), old.at))
                .unwrap_or_default();
            context::emit(&format!(
                "Froze the state {}: {}. apply (and fleet apply of this account) refuses until \
                 `pai-provision state unfreeze`; plan and refresh still run.{replaced}\n",
                writer.location(),
                freeze.describe()
            ))?
        }
    }
    Ok(0)
}

pub fn unfreeze(g: &Global, args: StateFormatArgs) -> anyhow::Result<u8> {
    let manifest = context::working_manifest(g)?;
    let mut writer = context::open_write(g, manifest.as_ref(), "state unfreeze")?;
    // A state that does not exist is not frozen: nothing to lift, nothing to create.
    let lifted = if writer.exists() { writer.unfreeze()? } else { None };
    match args.format {
        Format::Json => {
            note!("State: {}", writer.location());
            context::emit_json(&serde_json::json!({ "lifted": lifted }))?
        }
        Format::Human => match lifted {
            Some(f) => context::emit(&format!(
                "Lifted the freeze by {} since {} ({}) on the state {}: apply may run again.\n",
                f.who(),
                f.at,
                f.reason,
                writer.location()
            ))?,
            None => context::emit(&format!(
                "The state {} is not frozen; nothing was changed.\n",
                writer.location()
            ))?,
        },
    }
    Ok(0)
}

pub fn history(g: &Global, args: StateHistoryArgs) -> anyhow::Result<u8> {
    let address = args.address.as_deref().map(context::parse_address).transpose()?;
    let since = args
        .since
        .as_deref()
        .map(|s| {
            pai_state::clock::parse(s)
                .map(pai_state::clock::format)
                .ok_or_else(|| anyhow::anyhow!("--since {s}: not an RFC 3339 time (for example 2026-11-30T00:00:00Z)"))
        })
        .transpose()?;
    let store = context::open_read(g, context::working_manifest(g)?.as_ref())?;
    let mut history = store.history(address.as_ref())?;
    if let Some(since) = &since {
        history = since_time(history, since);
    }
    match args.format {
        HistoryFormat::Human => context::emit(&format!("{}\n{}", heading(&store), render::history(&history)))?,
        HistoryFormat::Json => {
            name_beside_json(&store);
            context::emit_json(&history)?
        }
        HistoryFormat::Jsonl => {
            let lineage = store.snapshot()?.lineage;
            let state = store.location().to_string();
            let mut out = String::new();
            for event in &history.events {
                let line = EventLine {
                    schema: EVENT_SCHEMA,
                    state: &state,
                    lineage: lineage.as_deref(),
                    event,
                    run: history.runs.iter().find(|r| r.id == event.run_id),
                };
                out.push_str(&serde_json::to_string(&line)?);
                out.push('\n');
            }
            context::emit(&out)?
        }
    }
    Ok(0)
}

/// The `schema` of every line of `state history --format jsonl` (docs/state.md, "Exporting the
/// history"): a consumer checks it, and a change of the line's shape changes it.
const EVENT_SCHEMA: &str = "pai-provision.history-event/1";

/// One line of `state history --format jsonl`: the event's fields, then its run with the run's
/// provenance, so that each line stands alone in a SIEM.
#[derive(Serialize)]
struct EventLine<'a> {
    schema: &'static str,
    state: &'a str,
    lineage: Option<&'a str>,
    #[serde(flatten)]
    event: &'a Event,
    run: Option<&'a RunRecord>,
}

/// The events at or after `since` (both RFC 3339 UTC to the second, so they compare as text),
/// and the runs they belong to or that started since.
fn since_time(history: History, since: &str) -> History {
    let events: Vec<Event> = history.events.into_iter().filter(|e| e.at.as_str() >= since).collect();
    let runs: Vec<RunRecord> = history
        .runs
        .into_iter()
        .filter(|r| r.started_at.as_str() >= since || events.iter().any(|e| e.run_id == r.id))
        .collect();
    History { runs, events }
}

#[cfg(test)]
mod tests {
    use super::super::state::capitalised;

    #[test]
    fn capitalised_opens_a_line() {
        assert_eq!(capitalised("frozen by a"), "Frozen by a");
        assert_eq!(capitalised(""), "");
    }
}
