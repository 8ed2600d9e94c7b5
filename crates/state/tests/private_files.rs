//! A local state's files are their owner's alone, under the usual umask 022 too: the state
//! (its history names every order, request id, runner and CI job), its `-wal` and `-shm`, which
//! SQLite creates with the state file's own mode, and its lock file.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use pai_state::{StateWriter, Store};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_new_state_its_wal_shm_and_lock_file_are_0600_under_umask_022() {
    // SAFETY: umask only sets this process's file mode mask; nothing else in it runs meanwhile
    // (nextest runs each test in a process of its own).
    unsafe { libc::umask(0o022) };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    let mut writer = StateWriter::open(state.as_path(), "apply", Duration::ZERO).unwrap();
    let run = writer.begin_run("apply").unwrap();
    // A reader beside the writer: SQLite keeps the -wal and -shm while a connection is open.
    let reader = Store::open_read_only(state.as_path()).unwrap();
    reader.snapshot().unwrap();
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let file = dir.path().join(format!("s.db{suffix}"));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    writer.end_run(run, &pai_state::RunResult::Succeeded).unwrap();
    drop(reader);
    drop(writer);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| mode(p) != 0o600)
        .collect();
    assert!(left.is_empty(), "not 0600: {left:?}");
}
