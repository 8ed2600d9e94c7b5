//! The state file at its edges, through the real binary: a state reached through a symlink, a
//! state in a directory the binary cannot write, and files that are refused.

mod support;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use pai_spec::ProductCode;
use support::{hangzhou, Run, Setup, Workdir};

/// Two applies at once, one given the state file and one a symlink to it, take one lock: the
/// product that neither has ordered yet is ordered once.
#[test]
fn concurrent_applies_through_a_symlink_order_once() {
    let hz = hangzhou();
    let first = [support::want("pai", ProductCode::Pai, &hz)];
    // Latency keeps each apply inside its run long enough for the other to overlap it.
    let setup = Setup::with(&first, |c| c.faults.latency_ms = 300);
    let done = setup.apply(&[]);
    assert_eq!(done.code, Some(0), "{}", done.describe());
    let link = setup.work.file("link.db");
    symlink(&setup.work.state, &link).unwrap();

    let both = [
        support::want("pai", ProductCode::Pai, &hz),
        support::want("oss", ProductCode::Oss, &hz),
    ];
    setup.want(&both);
    let args = |state: &Path| {
        let mut cmd = setup.work.plain_command(&[]);
        cmd.arg("--state")
            .arg(state)
            .args(["--no-color", "--lock-timeout", "60s", "apply", "--auto-approve"]);
        cmd
    };
    let children = [args(&setup.work.state), args(&link)].map(|mut c| c.spawn().expect("start pai-provision"));
    let runs = children.map(|c| Run::from(c.wait_with_output().expect("wait for pai-provision")));
    for run in &runs {
        assert_eq!(run.code, Some(0), "{}", run.describe());
    }
    let ledger = setup.emu.ledger();
    assert_eq!(ledger.order_count(&hz, ProductCode::Oss), 1, "{:#?}", ledger.orders);
    assert_eq!(ledger.order_count(&hz, ProductCode::Pai), 1, "{:#?}", ledger.orders);
    assert!(!setup.work.file("link.db.lock").exists(), "the lock is the real file's");
}

/// Someone deletes the lock file while an apply runs, and a second apply takes a new one: the
/// serial check, not the lock, keeps them apart, and the product is ordered once.
#[test]
fn an_apply_started_after_the_lock_file_was_deleted_does_not_order_again() {
    let hz = hangzhou();
    let setup = Setup::with(&[support::want("pai", ProductCode::Pai, &hz)], |c| {
        c.faults.latency_ms = 300
    });
    let done = setup.apply(&[]);
    assert_eq!(done.code, Some(0), "{}", done.describe());
    setup.want(&[
        support::want("pai", ProductCode::Pai, &hz),
        support::want("oss", ProductCode::Oss, &hz),
    ]);
    let first = setup
        .work
        .command(&["apply", "--auto-approve"])
        .spawn()
        .expect("start the first apply");
    let lock_file = setup.work.file("s.db.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&lock_file).map_or(true, |m| m.len() == 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first apply never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::fs::remove_file(&lock_file).unwrap();
    let second = setup.work.run(&["--lock-timeout", "0s", "apply", "--auto-approve"]);
    let first = Run::from(first.wait_with_output().expect("wait for the first apply"));
    let ledger = setup.emu.ledger();
    assert_eq!(
        ledger.order_count(&hz, ProductCode::Oss),
        1,
        "first: {}\nsecond: {}",
        first.describe(),
        second.describe()
    );
    assert!(
        first.code == Some(0) || second.code == Some(0),
        "{}\n{}",
        first.describe(),
        second.describe()
    );
    for run in [&first, &second] {
        if run.code != Some(0) {
            assert!(
                run.stderr.contains("another writer changed the state"),
                "{}",
                run.describe()
            );
        }
    }
}

/// The names and sizes of the files in `dir`, sorted.
fn listing_of(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

const MANIFEST: &str =
    "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n\n[products.pai]\ncode = \"PAI_share\"\n";

/// `cmd` as a process that cannot write where its permissions say it cannot: when this test
/// runs as root (whom `chmod` does not stop), under `setpriv` with every capability dropped.
fn unprivileged(cmd: &Command) -> Command {
    let mut out = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-all", "--inh-caps=-all", "--"])
            .arg(cmd.get_program());
        c
    } else {
        Command::new(cmd.get_program())
    };
    out.args(cmd.get_args()).env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            out.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        out.current_dir(dir);
    }
    out
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// `plan` and `state list` read a state whose directory they may not write (a shared, read-only
/// checkout of the state, say): nothing needs to be created beside it to read it.
#[test]
fn read_only_commands_read_a_state_in_a_read_only_directory() {
    let work = Workdir::with_manifest(MANIFEST).state_at("ro/s.db");
    assert_eq!(work.run(&["state", "import", "pai"]).code, Some(0));
    let dir = work.file("ro");
    let files = listing_of(&dir);
    assert_eq!(
        files.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        ["s.db", "s.db.lock"]
    );
    let bytes = std::fs::read(&work.state).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let restore = Restore(dir.clone());

    // The proof that the directory is read-only for the binary: the same wrapper cannot create
    // a file in it.
    let mut touch = Command::new("touch");
    touch.arg(dir.join("probe"));
    let probe = unprivileged(&touch).output().expect("run touch");
    assert!(
        !probe.status.success() && !dir.join("probe").exists(),
        "the directory is writable"
    );

    let list = Run::of(&mut unprivileged(&work.command(&["state", "list", "--format", "json"])));
    assert_eq!(list.code, Some(0), "{}", list.describe());
    assert!(list.stdout.contains("\"pai\""), "{}", list.stdout);
    let plan = Run::of(&mut unprivileged(&work.command(&["plan", "--refresh=false"])));
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    assert!(plan.stdout.contains("No changes"), "{}", plan.describe());
    let show = Run::of(&mut unprivileged(&work.command(&["state", "show", "pai"])));
    assert_eq!(show.code, Some(0), "{}", show.describe());

    // A writer cannot work there, and says why without touching the state.
    let rm = Run::of(&mut unprivileged(&work.command(&["state", "rm", "pai"])));
    assert_eq!(rm.code, Some(1), "{}", rm.describe());
    assert!(rm.stderr.contains("cannot write the state"), "{}", rm.describe());
    drop(restore);
    assert_eq!(listing_of(&dir), files);
    assert_eq!(std::fs::read(&work.state).unwrap(), bytes);
}

/// A WAL that still holds frames (a writer killed before it closed the state) in a directory
/// that cannot be written: SQLite cannot read it without creating the `-shm` there, and the
/// reader says so instead of failing with SQLite's code.
#[test]
fn a_reader_says_why_it_cannot_read_a_pending_wal_in_a_read_only_directory() {
    let work = Workdir::with_manifest(MANIFEST).state_at("ro/s.db");
    assert_eq!(work.run(&["state", "import", "pai"]).code, Some(0));
    // Python's SQLite module plays the writer that died: a commit left in the WAL, no close.
    let status = Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3,sys,os; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0'); \
             c.execute(\"INSERT INTO runs (command, host, pid, version, started_at) VALUES ('x','h',1,'v','t')\"); \
             c.commit(); os._exit(0)",
        )
        .arg(&work.state)
        .status()
        .expect("run python3");
    assert!(status.success());
    let dir = work.file("ro");
    std::fs::remove_file(dir.join("s.db-shm")).unwrap();
    assert!(std::fs::metadata(dir.join("s.db-wal")).unwrap().len() > 0);
    let files = listing_of(&dir);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let restore = Restore(dir.clone());
    let list = Run::of(&mut unprivileged(&work.command(&["state", "list"])));
    drop(restore);
    assert_eq!(list.code, Some(1), "{}", list.describe());
    assert!(
        list.stderr.contains("cannot read the state here"),
        "{}",
        list.describe()
    );
    assert!(list.stderr.contains("-wal"), "{}", list.describe());
    assert_eq!(listing_of(&dir), files);
}

/// Gives a directory its write permission back, so that the temporary directory can go.
struct Restore(std::path::PathBuf);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

/// Writes the schema version (SQLite's `user_version`, header offset 60) of a state file.
fn set_user_version(path: &Path, version: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[60..64].copy_from_slice(&version.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

fn damage(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    for b in bytes.iter_mut().skip(100).take(3000) {
        *b ^= 0x5a;
    }
    std::fs::write(path, bytes).unwrap();
}

/// A file refused for what it holds is named in a short message, without SQL, and nothing
/// appears beside it: the message says it was left untouched, and it was.
#[test]
fn refused_state_files_get_a_short_message_and_no_side_files() {
    type Case = (&'static str, fn(&Path), &'static str);
    let cases: [Case; 2] = [
        ("version 0", |p| set_user_version(p, 0), "schema version is 0"),
        ("damaged", damage, "damaged"),
    ];
    for (name, make, message) in cases {
        let work = Workdir::with_manifest(MANIFEST).state_at("state/s.db");
        assert_eq!(work.run(&["state", "import", "pai"]).code, Some(0));
        make(&work.state);
        let dir = work.file("state");
        let files = listing_of(&dir);
        let bytes = std::fs::read(&work.state).unwrap();
        for args in [
            &["plan", "--refresh=false"][..],
            &["apply", "--auto-approve", "--refresh=false"],
            &["state", "list"],
            &["state", "rm", "pai"],
        ] {
            let out = work.run(args);
            assert_eq!(out.code, Some(1), "{name} {args:?}: {}", out.describe());
            let err = out.stderr.trim_end();
            assert!(err.contains(message), "{name} {args:?}: {err}");
            assert!(
                err.contains(&work.state.display().to_string()),
                "{name} {args:?}: {err}"
            );
            assert!(err.contains("left untouched"), "{name} {args:?}: {err}");
            for sql in ["CREATE TABLE", "CREATE TRIGGER", "INSERT INTO"] {
                assert!(!err.contains(sql), "{name} {args:?} prints SQL: {err}");
            }
            assert!(err.lines().count() <= 2, "{name} {args:?}: {err}");
            assert_eq!(listing_of(&dir), files, "{name} {args:?}: files appeared beside it");
            assert_eq!(std::fs::read(&work.state).unwrap(), bytes, "{name} {args:?} changed it");
        }
    }
}
