//! The SQLite state at its edges: a path reached through a symlink, a lock file deleted under a
//! live writer, a schema version no state has, a damaged file. Real files in temporary
//! directories; each test says what the user would otherwise lose.

mod support;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use pai_spec::ProductCode;
use pai_state::{ErrorKind, StateError, StateWriter, Store};
use support::{addr, listing, product};

fn writer(path: &Path) -> StateWriter {
    StateWriter::open(path, "apply", Duration::ZERO).unwrap()
}

fn make_state(path: &Path) {
    let mut w = writer(path);
    let run = w.begin_run("apply").unwrap();
    w.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
        .unwrap();
}

fn assert_locked(result: Result<StateWriter, StateError>, what: &str) {
    match result {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Locked, "{what}: {e}"),
        Ok(w) => panic!("{what}: a second writer got the lock ({:?})", w.lock_info()),
    }
}

#[test]
fn two_writers_through_a_symlink_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("state/pai-provision.db");
    make_state(&real);
    let link = dir.path().join("link.db");
    symlink(&real, &link).unwrap();

    let first = writer(&real);
    assert_locked(
        StateWriter::open(&link, "apply", Duration::ZERO),
        "the file, then its link",
    );
    drop(first);
    let first = writer(&link);
    assert_locked(
        StateWriter::open(&real, "apply", Duration::ZERO),
        "the link, then its file",
    );
    assert_eq!(
        Store::open_read_only(&real).unwrap().lock_holder().as_ref(),
        Some(first.lock_info())
    );
    assert_eq!(
        Store::open_read_only(&link).unwrap().lock_holder().as_ref(),
        Some(first.lock_info())
    );
    drop(first);
    assert!(!dir.path().join("link.db.lock").exists(), "the lock is the real file's");
}

#[test]
fn writers_through_a_symlinked_directory_or_to_a_state_not_created_yet_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    symlink(dir.path().join("real"), dir.path().join("alias")).unwrap();
    // No state yet: the link dangles until the first write creates the file it names.
    symlink(dir.path().join("real/s.db"), dir.path().join("dangling.db")).unwrap();
    let names = ["real/s.db", "alias/s.db", "dangling.db", "real/../alias/s.db"];
    for first in names {
        let held = writer(&dir.path().join(first));
        for second in names {
            assert_locked(
                StateWriter::open(dir.path().join(second), "apply", Duration::ZERO),
                &format!("{first}, then {second}"),
            );
        }
        drop(held);
    }
    // The first write through the dangling link creates the file it names.
    make_state(&dir.path().join("dangling.db"));
    assert!(std::fs::symlink_metadata(dir.path().join("dangling.db"))
        .unwrap()
        .is_symlink());
    let snap = Store::open_read_only(dir.path().join("real/s.db"))
        .unwrap()
        .snapshot()
        .unwrap();
    assert_eq!(snap.resources.len(), 1);
}

/// A writer whose lock file was deleted: a second writer takes a new lock file and writes; the
/// first one's next write must fail and leave what the second recorded.
#[test]
fn a_writer_whose_lock_file_was_deleted_cannot_commit_over_the_next_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    make_state(&path);
    let lock = dir.path().join("s.db.lock");

    let mut first = writer(&path);
    let run = first.begin_run("apply").unwrap();
    std::fs::remove_file(&lock).unwrap();
    let mut second = writer(&path);
    let run2 = second.begin_run("apply").unwrap();
    second
        .put_pending(run2, &[&product("oss", ProductCode::Oss, "cn-hangzhou")])
        .unwrap();
    let recorded = Store::open_read_only(&path).unwrap().snapshot().unwrap();

    let err = first
        .put_pending(run, &[&product("dw", ProductCode::DataWorks, "cn-hangzhou")])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("serial {}", recorded.serial)), "{msg}");
    assert!(msg.contains(&format!("read {}", recorded.serial - 1)), "{msg}");
    assert!(msg.contains("nothing was written"), "{msg}");
    let err = first.remove(run, &addr("pai")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(Store::open_read_only(&path).unwrap().snapshot().unwrap(), recorded);
}

/// The other order: the writer that lost its lock file writes first; the one that took a new
/// lock read the state before that write, so its own write is refused.
#[test]
fn a_writer_that_read_before_another_wrote_cannot_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut first = writer(&path);
    std::fs::remove_file(dir.path().join("s.db.lock")).unwrap();
    let mut second = writer(&path);
    // Neither saw a state; the first creates it and records a pending order.
    let run = first.begin_run("apply").unwrap();
    first
        .put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
        .unwrap();
    let recorded = Store::open_read_only(&path).unwrap().dump().unwrap().unwrap();
    let err = second
        .begin_run("apply")
        .and_then(|run| second.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")]))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(Store::open_read_only(&path).unwrap().dump().unwrap().unwrap(), recorded);
    // The first one goes on: its own writes move the serial it expects.
    first.mark_failed(run, &[addr("pai")], "rejected").unwrap();
    drop(first);
    drop(second);
    assert!(listing(dir.path()).iter().any(|(f, _)| f == "s.db"));
}
