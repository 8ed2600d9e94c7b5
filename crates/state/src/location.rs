//! Where a state lives: a SQLite file, or a schema in a PostgreSQL database.
//!
//! A location is written as a path or as a `postgres://` / `postgresql://` URL. It is only ever
//! displayed with its password replaced by `***` ([`StateLocation`]'s `Display` and `Debug` both
//! redact), so that it can go into errors, logs, lock records and `show` output.

use std::fmt;
use std::path::{Path, PathBuf};

use super::postgres::target::{self, PgTarget};
use super::StateError;

/// A state's location.
#[derive(Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// A SQLite file.
    File(PathBuf),
    /// A schema in a PostgreSQL database.
    Postgres(Box<PgTarget>),
}

impl StateLocation {
    /// A `postgres://` or `postgresql://` URL names a PostgreSQL state; any other `scheme://`
    /// is an error (a mistyped `postgress://` taken for a file name would put the state in a
    /// local file that a CI runner throws away); anything else is a file path. `env` looks up
    /// environment variables (`PGPASSWORD`, `PGPASSFILE`, `HOME`, `PGSSLMODE`, ...): the caller
    /// passes `std::env::var`, tests pass their own.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<StateLocation, StateError> {
        if let Some(scheme) = foreign_scheme(text) {
            Err(StateError::BadLocation {
                location: target::redact_url(text),
                why: format!(
                    "`{scheme}://` is not a state backend; a state is a SQLite file path or a postgres:// \
                     (postgresql://) URL"
                ),
            })
        } else if target::is_postgres_url(text) {
            let target = PgTarget::parse(text, env).map_err(|why| StateError::BadLocation {
                location: target::redact_url(text),
                why,
            })?;
            Ok(StateLocation::Postgres(Box::new(target)))
        } else if text.is_empty() {
            Err(StateError::BadLocation {
                location: String::new(),
                why: "the state location is empty".into(),
            })
        } else {
            Ok(StateLocation::File(PathBuf::from(text)))
        }
    }

    /// The file of a SQLite state.
    pub fn as_file(&self) -> Option<&Path> {
        match self {
            StateLocation::File(p) => Some(p),
            StateLocation::Postgres(_) => None,
        }
    }

    pub fn as_postgres(&self) -> Option<&PgTarget> {
        match self {
            StateLocation::File(_) => None,
            StateLocation::Postgres(t) => Some(t),
        }
    }

    /// The state named briefly, where the database is already known (a fleet's accounts share
    /// one): the file's path, or `schema NAME`.
    pub fn brief(&self) -> String {
        match self {
            StateLocation::File(p) => p.display().to_string(),
            StateLocation::Postgres(t) => format!("schema {}", t.schema),
        }
    }

    /// What the state is, in a sentence: "the file" or "the schema".
    pub(crate) fn noun(&self) -> &'static str {
        match self {
            StateLocation::File(_) => "the file",
            StateLocation::Postgres(_) => "the schema",
        }
    }

    /// Whether `recorded`, a location as a saved plan records it (displayed: `***` for a
    /// password), names this state: read back as a location and compared by what names a state
    /// (the path; the database and schema, whoever the user and wherever the password).
    pub fn is_named_by(&self, recorded: &str) -> bool {
        let no_env = |_: &str| None;
        StateLocation::parse(recorded, &no_env).is_ok_and(|l| l.same_state(self))
    }

    /// Whether two locations name the same state (for `state migrate`, which refuses to copy a
    /// state onto itself). Passwords and TLS settings do not matter.
    pub fn same_state(&self, other: &StateLocation) -> bool {
        match (self, other) {
            (StateLocation::File(a), StateLocation::File(b)) => {
                a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
            }
            (StateLocation::Postgres(a), StateLocation::Postgres(b)) => a.same_schema(b),
            _ => false,
        }
    }
}

/// The scheme of a `scheme://...` text that is not a PostgreSQL URL: letters, digits, `+`, `-`
/// and `.`, starting with a letter (RFC 3986), before `://`.
fn foreign_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let looks_like_one = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (looks_like_one && !target::is_postgres_url(text)).then_some(scheme)
}

impl From<&Path> for StateLocation {
    fn from(p: &Path) -> Self {
        StateLocation::File(p.to_owned())
    }
}

impl From<&PathBuf> for StateLocation {
    fn from(p: &PathBuf) -> Self {
        StateLocation::File(p.clone())
    }
}

impl From<PathBuf> for StateLocation {
    fn from(p: PathBuf) -> Self {
        StateLocation::File(p)
    }
}

impl From<&StateLocation> for StateLocation {
    fn from(l: &StateLocation) -> Self {
        l.clone()
    }
}

impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::File(p) => write!(f, "{}", p.display()),
            StateLocation::Postgres(t) => write!(f, "{t}"),
        }
    }
}

impl fmt::Debug for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::File(p) => f.debug_tuple("File").field(p).finish(),
            StateLocation::Postgres(t) => f.debug_tuple("Postgres").field(&t.to_string()).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn paths_and_urls() {
        let file = StateLocation::parse("state/pai-provision.db", &no_env).unwrap();
        assert_eq!(file.as_file(), Some(Path::new("state/pai-provision.db")));
        assert_eq!(file.to_string(), "state/pai-provision.db");
        for url in ["postgres://u:pw@db:5433/app", "postgresql://u:pw@db:5433/app"] {
            let pg = StateLocation::parse(url, &no_env).unwrap();
            assert!(pg.as_postgres().is_some(), "{url}");
            assert_eq!(pg.to_string(), "postgres://u:***@db:5433/app?schema=pai_provision");
            assert!(!format!("{pg:?}").contains("pw"), "{pg:?}");
        }
        assert!(StateLocation::parse("", &no_env).is_err());
    }

    #[test]
    fn a_bad_url_is_reported_without_its_password() {
        let err = StateLocation::parse("postgres://u:hunter2@db/app?schema=Bad-Name", &no_env).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("postgres://u:***@db/app"), "{msg}");
        assert!(msg.contains("schema"), "{msg}");
    }

    #[test]
    fn an_unknown_scheme_is_an_error_not_a_file() {
        for text in [
            "postgress://ci:hunter2@db:5432/infra",
            "mysql://ci:hunter2@db/infra",
            "sqlite://state.db",
            "file:///var/lib/s.db",
            "PG+ssl://h",
        ] {
            let msg = StateLocation::parse(text, &no_env).unwrap_err().to_string();
            assert!(msg.contains("is not a state backend"), "{text}: {msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        for path in ["state/x.db", "./postgres://x", "a b://c", "C:\\state\\x.db", "1x://y"] {
            assert!(
                StateLocation::parse(path, &no_env).unwrap().as_file().is_some(),
                "{path}"
            );
        }
    }

    #[test]
    fn same_state_ignores_passwords() {
        let a = StateLocation::parse("postgres://u:one@db/app?schema=s1", &no_env).unwrap();
        let b = StateLocation::parse("postgres://u:two@db:5432/app?schema=s1&sslmode=require", &no_env).unwrap();
        let c = StateLocation::parse("postgres://u@db/app?schema=s2", &no_env).unwrap();
        assert!(a.same_state(&b));
        assert!(!a.same_state(&c));
        let f = StateLocation::parse("x.db", &no_env).unwrap();
        assert!(f.same_state(&StateLocation::parse("x.db", &no_env).unwrap()));
        assert!(!f.same_state(&a));
    }

    #[test]
    fn is_named_by_table() {
        let env = |k: &str| (k == "PGPASSWORD").then(|| "from-env".to_owned());
        let at = |text: &str| StateLocation::parse(text, &env).unwrap();
        let cases = [
            ("s.db", "s.db", true),
            ("a.db", "b.db", false),
            ("", "s.db", false),
            ("s.db", "postgres://ci@db/infra", false),
            // The plan job's read-only user, the apply job's writer: the same schema.
            (
                "postgres://pai_plan@db:5432/infra?schema=pai_provision",
                "postgres://pai_apply@db/infra",
                true,
            ),
            (
                "postgres://ci:***@db:5432/infra?schema=pai_provision",
                "postgres://ci:pw@db/infra",
                true,
            ),
            (
                "postgres://ci@db:5432/infra?schema=prod",
                "postgres://ci@db/infra?schema=staging",
                false,
            ),
            (
                "postgres://ci@db:5432/infra?schema=prod",
                "postgres://ci@other/infra?schema=prod",
                false,
            ),
            (
                "postgres://ci@/infra?host=/var/run/postgresql&schema=pai_provision",
                "postgres://ci@/infra?host=/var/run/postgresql",
                true,
            ),
        ];
        for (recorded, now, want) in cases {
            let now = at(now);
            assert_eq!(now.is_named_by(recorded), want, "{recorded} / {now}");
            if want {
                assert!(now.is_named_by(&now.to_string()), "{now} names itself");
            }
        }
    }
}
