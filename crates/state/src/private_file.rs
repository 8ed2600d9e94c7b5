//! The files of a local state are their owner's alone: the history names every order, request
//! id, runner and CI job, and the lock file who holds it. Created 0600 on Unix, whatever the
//! umask; SQLite gives a database's `-wal` and `-shm` the database file's own mode, so creating
//! the file before SQLite opens it covers those too.

use std::fs::OpenOptions;

/// Options that create a file readable and writable by its owner only (on Unix); the caller
/// adds how it opens one that exists.
pub(crate) fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}
