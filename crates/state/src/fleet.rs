//! Where each account of a fleet keeps its state: one state per account, so that each has its
//! own lock, lineage, serial and history, two runners can work on different accounts at once,
//! and a broken account never blocks the others.
//!
//! A fleet's states are a directory holding one SQLite file per account, `<account id>.db`, or a
//! PostgreSQL database holding one schema per account, `<schema>_<account id>`. The account id,
//! never the account's name: a name is a label the fleet file may change, and an account whose
//! state moved with its name would be ordered again.

use std::fmt;
use std::path::PathBuf;

use super::{StateError, StateLocation};

/// The states of a fleet: a directory, or a PostgreSQL database and schema prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct FleetStates {
    base: StateLocation,
}

impl FleetStates {
    /// `base` is `--state` for a fleet: a directory (created by the first write) or a
    /// `postgres://` URL whose `schema` is the prefix of every account's schema. An existing
    /// file is refused: it is a single account's state, and taking it for a fleet's directory
    /// would fail later, half-way through a fleet.
    pub fn new(base: StateLocation) -> Result<FleetStates, StateError> {
        if let StateLocation::File(dir) = &base {
            if dir.is_file() || dir.extension().is_some_and(|e| e == "db" || e == "sqlite") {
                return Err(StateError::BadLocation {
                    location: dir.display().to_string(),
                    why: "a fleet keeps one state per account: its --state is a directory (or a postgres:// URL), \
                          not a state file"
                        .into(),
                });
            }
        }
        Ok(FleetStates { base })
    }

    /// The state of the account with this id (digits only, as `pai_spec::fleet::AccountId`).
    pub fn account(&self, account_id: &str) -> Result<StateLocation, StateError> {
        if account_id.is_empty() || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StateError::BadLocation {
                location: self.to_string(),
                why: format!("`{account_id}` is not an account id (digits only)"),
            });
        }
        Ok(match &self.base {
            StateLocation::File(dir) => StateLocation::File(dir.join(format!("{account_id}.db"))),
            StateLocation::Postgres(target) => {
                let schema = format!("{}_{account_id}", target.schema());
                let target = target.with_schema(schema).map_err(|why| StateError::BadLocation {
                    location: self.to_string(),
                    why,
                })?;
                StateLocation::Postgres(Box::new(target))
            }
        })
    }

    /// The directory of a file-based fleet, `None` for PostgreSQL.
    pub fn directory(&self) -> Option<&PathBuf> {
        match &self.base {
            StateLocation::File(dir) => Some(dir),
            StateLocation::Postgres(_) => None,
        }
    }

    pub fn base(&self) -> &StateLocation {
        &self.base
    }
}

impl fmt::Display for FleetStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.base.fmt(f)
    }
}

impl fmt::Debug for FleetStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FleetStates").field(&self.base).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn states(text: &str) -> FleetStates {
        FleetStates::new(StateLocation::parse(text, &no_env).unwrap()).unwrap()
    }

    #[test]
    fn each_account_has_its_own_state() {
        let cases = [
            ("states", "1234567890123456", "states/1234567890123456.db"),
            ("/var/lib/fleet/", "42", "/var/lib/fleet/42.db"),
            (
                "postgres://ci:pw@db/infra",
                "1234567890123456",
                "postgres://ci:***@db:5432/infra?schema=pai_provision_1234567890123456",
            ),
            (
                "postgres://ci@db/infra?schema=fleet",
                "7",
                "postgres://ci@db:5432/infra?schema=fleet_7",
            ),
        ];
        for (base, id, want) in cases {
            let location = states(base).account(id).unwrap();
            assert_eq!(location.to_string(), want, "{base} {id}");
        }
    }

    #[test]
    fn two_accounts_never_share_a_state() {
        for base in ["states", "postgres://ci@db/infra"] {
            let s = states(base);
            let a = s.account("1111111111111111").unwrap();
            let b = s.account("2222222222222222").unwrap();
            assert!(!a.same_state(&b), "{base}");
        }
    }

    #[test]
    fn refusals() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.db");
        std::fs::write(&file, b"").unwrap();
        for base in [file.clone(), PathBuf::from("fleet.db"), PathBuf::from("x/fleet.sqlite")] {
            let err = FleetStates::new(StateLocation::File(base.clone()))
                .unwrap_err()
                .to_string();
            assert!(err.contains("one state per account"), "{}: {err}", base.display());
        }
        for id in ["", "12a", "../x", "1/2"] {
            let err = states("states").account(id).unwrap_err().to_string();
            assert!(err.contains("not an account id"), "{id}: {err}");
        }
        // 63 characters is PostgreSQL's limit for a schema name.
        let long = format!("postgres://ci@db/infra?schema={}", "s".repeat(50));
        let err = states(&long).account("1234567890123456").unwrap_err().to_string();
        assert!(err.contains("63"), "{err}");
    }
}
