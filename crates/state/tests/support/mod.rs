//! What the state store's tests share: a backend to run a test against, each test on a state
//! of its own. SQLite states live in a temporary directory; PostgreSQL states in a schema of a
//! unique name on the server of `PAI_TEST_POSTGRES_URL` (start one with
//! `eval "$(scripts/postgres.sh)"`), dropped when the test ends.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_state::{StateLocation, StateWriter, Store};

/// The fixtures every crate's tests share: `product` is a plain pay-as-you-go request.
pub use pai_testkit::fixtures::{addr, product};

/// The URL of the test server; a test that needs it fails without it.
pub fn postgres_url() -> String {
    match std::env::var("PAI_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PAI_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server. Start a throwaway one with \
             `eval \"$(scripts/postgres.sh)\"` (scripts/test.sh does this for the whole suite)"
        ),
    }
}

/// A schema name no other test uses, even across processes running at once.
pub fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// `url` with `?schema=` (or `&schema=`) appended.
pub fn with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}schema={schema}")
}

/// A plain client for the test's own look at the server (and for cleaning up).
pub fn admin(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("connect to the test server")
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// A state for one test.
pub enum Backend {
    Sqlite { dir: tempfile::TempDir, path: PathBuf },
    Postgres { url: String, schema: String },
}

impl Backend {
    pub fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("state/pai-provision.db");
        Backend::Sqlite { dir, path }
    }

    pub fn postgres() -> Backend {
        let url = postgres_url();
        let schema = unique_schema("store");
        Backend::Postgres { url, schema }
    }

    pub fn location(&self) -> StateLocation {
        match self {
            Backend::Sqlite { path, .. } => StateLocation::File(path.clone()),
            Backend::Postgres { url, schema } => {
                StateLocation::parse(&with_schema(url, schema), &no_env).expect("a valid test URL")
            }
        }
    }

    pub fn writer(&self) -> StateWriter {
        StateWriter::open(self.location(), "test", Duration::ZERO).expect("lock the state")
    }

    pub fn store(&self) -> Store {
        Store::open_read_only(self.location()).expect("open the state")
    }

    /// What exists of the state outside pai-provision's own view: the files of the directory,
    /// or the schema and its tables.
    pub fn footprint(&self) -> Vec<String> {
        match self {
            Backend::Sqlite { dir, .. } => listing(dir.path()).into_iter().map(|(name, _)| name).collect(),
            Backend::Postgres { url, schema } => {
                let mut client = admin(url);
                let mut found: Vec<String> = client
                    .query("SELECT nspname::text FROM pg_namespace WHERE nspname = $1", &[schema])
                    .expect("query pg_namespace")
                    .iter()
                    .map(|r| format!("schema {}", r.get::<_, String>(0)))
                    .collect();
                found.extend(
                    client
                        .query(
                            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
                            &[schema],
                        )
                        .expect("query pg_tables")
                        .iter()
                        .map(|r| format!("table {}", r.get::<_, String>(0))),
                );
                found
            }
        }
    }

    /// Runs SQL on the state directly, behind pai-provision's back.
    pub fn raw_sql(&self, sql: &str) -> Result<(), String> {
        match self {
            Backend::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                conn.execute_batch(sql).map_err(|e| e.to_string())
            }
            Backend::Postgres { url, schema } => {
                let mut client = admin(url);
                client
                    .batch_execute(&format!("SET search_path TO \"{schema}\"; {sql}"))
                    .map_err(|e| {
                        e.as_db_error()
                            .map(|d| d.message().to_owned())
                            .unwrap_or_else(|| e.to_string())
                    })
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Postgres { url, schema } = self {
            if let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
            }
        }
    }
}

/// The files in `dir`, recursively, sorted, with their sizes.
pub fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let e = e.expect("a directory entry");
        let meta = e.metadata().expect("metadata");
        let name = e.file_name().to_string_lossy().into_owned();
        if meta.is_dir() {
            out.extend(listing(&e.path()).into_iter().map(|(n, s)| (format!("{name}/{n}"), s)));
        } else {
            out.push((name, meta.len()));
        }
    }
    out.sort();
    out
}

/// A clock that moves on one second at every reading, so that each write's stamp is later
/// than the one before without waiting for the wall clock.
#[derive(Debug)]
pub struct TickingClock(std::sync::atomic::AtomicI64);

impl Default for TickingClock {
    /// Starts at 2026-11-26T09:30:00Z.
    fn default() -> TickingClock {
        TickingClock(std::sync::atomic::AtomicI64::new(1_795_685_400))
    }
}

impl pai_state::clock::Clock for TickingClock {
    fn now_utc(&self) -> time::OffsetDateTime {
        let t = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        time::OffsetDateTime::from_unix_timestamp(t).expect("a time in range")
    }
}

/// Runs `f` on this thread with the log lines it emits (at `info` and above) appended to `log`,
/// so that a test can see what a writer is doing on another thread while it does it.
pub fn logging_into<T>(log: Arc<Mutex<String>>, f: impl FnOnce() -> T) -> T {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || LogLines(Arc::clone(&log)))
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f)
}

struct LogLines(Arc<Mutex<String>>);

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut log = self.0.lock().map_err(|_| std::io::Error::other("log poisoned"))?;
        log.push_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
