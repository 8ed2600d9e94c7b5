//! `state migrate`: a verified copy of a state from one location to another (a file to a
//! PostgreSQL schema, or any other pair).
//!
//! The copy keeps everything that identifies the state and its past: the lineage (so saved
//! plans stay valid against the copy, and only against it), the serial, every row, and the
//! whole history with its ids. Both locks are held throughout, the source's first, so that
//! nothing writes either state while it is copied. The target must hold no state; the copy is
//! written in one transaction (PostgreSQL) or laid out beside the file and linked into place
//! (SQLite), so a failure leaves the target empty. Afterwards both states are read again through
//! fresh read-only connections and compared; the source is never written.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::history::History;
use super::{Resource, StateError, StateLocation, StateWriter, Store};

/// Everything a state holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDump {
    pub lineage: String,
    pub serial: u64,
    /// When the state was first created (not when it was copied).
    pub created_at: String,
    /// Sorted by address.
    pub resources: Vec<Resource>,
    pub history: History,
}

/// What [`migrate`] copied, for its summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migrated {
    /// The source, displayed without its password.
    pub from: String,
    pub to: String,
    pub lineage: String,
    pub serial: u64,
    pub resources: usize,
    pub runs: usize,
    pub events: usize,
}

/// Copies the state at `from` into the empty location `to`, holding both locks (each waited
/// for up to `lock_timeout`), then verifies the copy.
pub fn migrate(from: &StateLocation, to: &StateLocation, lock_timeout: Duration) -> Result<Migrated, StateError> {
    if from.same_state(to) {
        return Err(StateError::SameState { location: from.clone() });
    }
    let source = StateWriter::open(from, "state migrate (source)", lock_timeout)?;
    let mut target = StateWriter::open(to, "state migrate (target)", lock_timeout)?;
    let dump = source
        .dump()?
        .ok_or_else(|| StateError::NothingToMigrate { location: from.clone() })?;
    target.restore(&dump)?;

    // Read both again, each through a connection of its own, while the locks are still held.
    let copied = Store::open_read_only(to)?.dump()?;
    let original = Store::open_read_only(from)?.dump()?;
    if original.as_ref() != Some(&dump) {
        return Err(StateError::MigrationMismatch {
            location: to.clone(),
            what: "the source changed while it was copied".into(),
        });
    }
    if let Some(what) = difference(&dump, copied.as_ref()) {
        return Err(StateError::MigrationMismatch {
            location: to.clone(),
            what,
        });
    }
    drop(target);
    drop(source);
    Ok(Migrated {
        from: from.to_string(),
        to: to.to_string(),
        lineage: dump.lineage,
        serial: dump.serial,
        resources: dump.resources.len(),
        runs: dump.history.runs.len(),
        events: dump.history.events.len(),
    })
}

/// The first difference between a state and its copy, said plainly; `None` when equal.
pub fn difference(original: &StateDump, copy: Option<&StateDump>) -> Option<String> {
    let Some(copy) = copy else {
        return Some("the copy holds no state".into());
    };
    if original.lineage != copy.lineage {
        return Some(format!("lineage {} instead of {}", copy.lineage, original.lineage));
    }
    if original.serial != copy.serial {
        return Some(format!("serial {} instead of {}", copy.serial, original.serial));
    }
    if original.created_at != copy.created_at {
        return Some("another creation time".into());
    }
    if original.resources != copy.resources {
        let differs = original
            .resources
            .iter()
            .zip(&copy.resources)
            .find(|(a, b)| a != b)
            .map(|(a, _)| format!("the record of `{}` differs", a.address))
            .unwrap_or_else(|| {
                format!(
                    "{} addresses instead of {}",
                    copy.resources.len(),
                    original.resources.len()
                )
            });
        return Some(differs);
    }
    if original.history.runs != copy.history.runs {
        return Some(format!(
            "the runs differ ({} copied of {})",
            copy.history.runs.len(),
            original.history.runs.len()
        ));
    }
    if original.history.events != copy.history.events {
        return Some(format!(
            "the events differ ({} copied of {})",
            copy.history.events.len(),
            original.history.events.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::RunRecord;

    fn dump() -> StateDump {
        StateDump {
            lineage: "l".into(),
            serial: 3,
            created_at: "t".into(),
            resources: vec![],
            history: History {
                runs: vec![RunRecord {
                    id: 1,
                    command: "apply".into(),
                    host: "h".into(),
                    pid: 1,
                    version: "v".into(),
                    started_at: "t".into(),
                    ended_at: None,
                    result: None,
                    message: None,
                    provenance: None,
                }],
                events: vec![],
            },
        }
    }

    #[test]
    fn difference_table() {
        let a = dump();
        assert_eq!(difference(&a, Some(&a)), None);
        assert_eq!(difference(&a, None).as_deref(), Some("the copy holds no state"));
        type Change = fn(&mut StateDump);
        let cases: Vec<(Change, &str)> = vec![
            (|d| d.lineage = "x".into(), "lineage x instead of l"),
            (|d| d.serial = 4, "serial 4 instead of 3"),
            (|d| d.created_at = "u".into(), "another creation time"),
            (|d| d.history.runs.clear(), "the runs differ (0 copied of 1)"),
        ];
        for (change, want) in cases {
            let mut b = dump();
            change(&mut b);
            assert_eq!(difference(&a, Some(&b)).as_deref(), Some(want));
        }
    }
}
