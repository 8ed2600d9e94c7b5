//! The PostgreSQL backend: a state in one schema of a database a team already runs, for
//! pipelines on fresh machines and several runners at once. Without the `postgres` feature only
//! the location's parsing is built (a `postgres://` location is then refused when opened).
//!
//! - [`target`]: the connection URL, parsed as libpq reads it, and its password.
//! - [`exposure`]: what an `sslmode` weaker than `verify-full` leaves open to a server elsewhere.
//! - `pgpass`: libpq's password file rules.
//! - `db`: `PgDb` (the session and the reads) and `PgWriter` (the lock and the writes),
//!   which mirror the SQLite backend's, and `force-unlock`.
//! - `conn`: a session driven on a thread of its own (usable inside a Tokio runtime), and TLS.
//! - `schema`: the tables, their migrations, and the checks that refuse foreign schemas.
//! - `lock`: the advisory lock held for the whole operation, and its holder record.
//! - `sql`: the write primitives and the reads, as SQL.

#[cfg(feature = "postgres")]
mod conn;
#[cfg(feature = "postgres")]
mod db;
pub mod exposure;
#[cfg(feature = "postgres")]
pub(crate) mod lock;
mod pgpass;
#[cfg(feature = "postgres")]
mod schema;
#[cfg(feature = "postgres")]
mod sql;
pub mod target;

#[cfg(feature = "postgres")]
pub(crate) use db::{describe, error, error_in, failure, force_unlock, PgDb, PgWriter};
#[cfg(feature = "postgres")]
pub use schema::PG_SCHEMA_VERSION;
