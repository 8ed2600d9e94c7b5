//! The change freeze: `state freeze` and `state unfreeze` append a `freeze` or `unfreeze` event to
//! the history, and the last of them says whether the state is frozen. Keeping it in the
//! append-only history, rather than in a column that is overwritten, gives every freeze its
//! record of who, when and why for free, and `state migrate` copies it with the history.

use serde::{Deserialize, Serialize};

use crate::history::NewEvent;
use crate::provenance::Provenance;
use crate::writer::new_run;
use crate::{StateError, StateWriter};

/// The actions of the history events that freeze and unfreeze a state.
pub(crate) const FREEZE_ACTION: &str = "freeze";
pub(crate) const UNFREEZE_ACTION: &str = "unfreeze";

/// The last freeze or unfreeze event, with its run's host and provenance; the same SQL on both
/// backends (a partial index of schema version 4 finds it without reading the whole history).
pub(crate) const LAST_FREEZE_SQL: &str = "SELECT e.action, e.at, e.message, r.host, r.provenance
     FROM events e JOIN runs r ON r.id = e.run_id
     WHERE e.action IN ('freeze', 'unfreeze') ORDER BY e.id DESC LIMIT 1";

/// A freeze in force: `apply` (and every account of `fleet apply`) refuses while it lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    /// `user@host` of whoever froze it.
    pub by: String,
    /// The CI's actor, when the freeze was made in CI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// When (RFC 3339 UTC).
    pub at: String,
    pub reason: String,
}

impl Freeze {
    /// The freeze that the last freeze or unfreeze event leaves in force, if any.
    pub(crate) fn from_last_event(
        action: &str,
        at: String,
        message: Option<String>,
        host: String,
        provenance: Option<String>,
    ) -> Option<Freeze> {
        if action != FREEZE_ACTION {
            return None;
        }
        let provenance: Option<Provenance> = provenance.and_then(|p| serde_json::from_str(&p).ok());
        let (by, actor) = match provenance {
            Some(p) => (p.user, p.actor),
            None => (format!("unknown@{host}"), None),
        };
        Some(Freeze {
            by,
            actor,
            at,
            reason: message.unwrap_or_default(),
        })
    }

    /// Who froze it: `user@host`, and the CI actor when there is one.
    pub fn who(&self) -> String {
        match &self.actor {
            Some(actor) => format!("{} (CI actor {actor})", self.by),
            None => self.by.clone(),
        }
    }

    /// One line for every output: who, when and why.
    pub fn describe(&self) -> String {
        format!("frozen by {} since {}: {}", self.who(), self.at, self.reason)
    }
}

impl StateWriter {
    /// Freezes the state for `reason`, in one transaction: a run `state freeze` with its
    /// provenance (who), one `freeze` event (when, why). Creates the state if it is missing, so
    /// that an account can be frozen before its first apply. Returns the freeze it replaces.
    pub fn freeze(&mut self, reason: &str) -> Result<Option<Freeze>, StateError> {
        let before = self.snapshot()?.freeze;
        let message = match &before {
            Some(old) => format!(
                "{reason} (replaces the freeze by {} since {}: {})",
                old.who(),
                old.at,
                old.reason
            ),
            None => reason.to_owned(),
        };
        self.freeze_event("state freeze", FREEZE_ACTION, &message)?;
        Ok(before)
    }

    /// Lifts the freeze in force, recording an `unfreeze` event with who lifted it, and returns
    /// it; `None`, and nothing written, when the state is not frozen.
    pub fn unfreeze(&mut self) -> Result<Option<Freeze>, StateError> {
        let Some(before) = self.snapshot()?.freeze else {
            return Ok(None);
        };
        let message = format!(
            "lifted the freeze by {} since {}: {}",
            before.who(),
            before.at,
            before.reason
        );
        self.freeze_event("state unfreeze", UNFREEZE_ACTION, &message)?;
        Ok(Some(before))
    }

    fn freeze_event(&mut self, command: &str, action: &str, message: &str) -> Result<(), StateError> {
        let now = self.now();
        let (command, host, provenance) = self.run_record(command);
        self.write(false, |tx| {
            let run = tx.insert_run(&new_run(&command, &host, &now, &provenance))?;
            tx.append_event(
                run,
                &now,
                &NewEvent {
                    action,
                    message: Some(message),
                    ..NewEvent::default()
                },
            )?;
            tx.close_run(run, &now, "succeeded", None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_event_decides() {
        let p = r#"{"user":"u@h","actor":"alice"}"#.to_owned();
        let frozen = Freeze::from_last_event("freeze", "t".into(), Some("release".into()), "h".into(), Some(p));
        assert_eq!(
            frozen.as_ref().map(Freeze::describe).as_deref(),
            Some("frozen by u@h (CI actor alice) since t: release")
        );
        assert_eq!(
            Freeze::from_last_event("unfreeze", "t".into(), None, "h".into(), None),
            None
        );
        let old = Freeze::from_last_event("freeze", "t".into(), None, "h".into(), None).unwrap();
        assert_eq!(old.by, "unknown@h");
    }
}
