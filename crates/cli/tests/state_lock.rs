//! Two processes contending for one state's lock: the real binary against a holder that is
//! this test binary re-executed (`lock_holder`), or this test process itself.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pai_state::StateWriter;

const MANIFEST: &str = "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n[products.pai]\ncode = \"PAI_share\"\n";
const HOLDER_ENV: &str = "PAI_TEST_LOCK_HOLDER_STATE";

fn setup() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("pai-provision.toml"), MANIFEST).unwrap();
    let state = tmp.path().join("s.db");
    (tmp, state)
}

fn binary(dir: &Path, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pai-provision"));
    cmd.current_dir(dir)
        .env_remove("PAI_PROVISION_STATE")
        .arg("--state")
        .arg(state)
        .args(args);
    cmd
}

fn run(dir: &Path, state: &Path, args: &[&str]) -> Output {
    binary(dir, state, args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Not a test: the body of the process that holds the lock, started by the tests below.
#[test]
#[ignore = "helper process for the lock tests; it runs only when they start it"]
fn lock_holder() {
    let state = std::env::var_os(HOLDER_ENV).expect("started by a lock test, with the state path");
    let writer = StateWriter::open(Path::new(&state), "apply", Duration::ZERO).unwrap();
    println!("LOCK_ID={}", writer.lock_info().id);
    // Hold until killed, or until the test that started us goes away and closes our stdin.
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}

/// The holder process; killed when dropped, so a failing test leaves no process behind.
struct Holder {
    child: Child,
    id: String,
}

impl Holder {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no destructor runs in the holder, so its lock record stays behind.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a holder process and waits until it holds the lock.
fn spawn_holder(state: &Path) -> Holder {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_holder", "--ignored", "--nocapture", "--test-threads=1"])
        .env(HOLDER_ENV, state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let id = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest prints `test lock_holder ... ` before the holder's own output on that line.
        .find_map(|l| l.split_once("LOCK_ID=").map(|(_, id)| id.trim().to_owned()))
        .expect("the holder reports its lock ID");
    Holder { child, id }
}

#[test]
fn a_second_process_times_out_naming_the_holder_then_gets_the_lock_when_it_is_released() {
    let (tmp, state) = setup();
    let holder = StateWriter::open(&state, "apply", Duration::ZERO).unwrap();
    let id = holder.lock_info().id.clone();

    let started = Instant::now();
    let out = run(
        tmp.path(),
        &state,
        &["--lock-timeout", "300ms", "state", "import", "pai"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited for the timeout"
    );
    let err = stderr(&out);
    assert!(err.contains("is locked by another process"), "{err}");
    assert!(err.contains(&format!("lock ID {id}")), "{err}");
    assert!(err.contains(&format!("`apply` by pid {}", std::process::id())), "{err}");
    assert!(!state.exists(), "the refused writer created nothing");

    let out = run(tmp.path(), &state, &["force-unlock", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is held by a live process"), "{}", stderr(&out));

    // A patient writer gets the lock as soon as the holder lets go. It is seen waiting (its
    // `-v` log says so) and still running before the release, so that this cannot pass by a
    // writer that came late to an unlocked state.
    let mut waiter = binary(
        tmp.path(),
        &state,
        &["-v", "--lock-timeout", "20s", "state", "import", "pai"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut log = BufReader::new(waiter.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("waiting for the state lock") {
        let mut line = String::new();
        if log.read_line(&mut line).unwrap() == 0 {
            panic!("the waiter ended without waiting: {seen}");
        }
        seen.push_str(&line);
    }
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "the waiter is blocked while the lock is held"
    );
    drop(holder);
    let out = waiter.wait_with_output().unwrap();
    std::io::Read::read_to_string(&mut log, &mut seen).unwrap();
    assert_eq!(out.status.code(), Some(0), "{seen}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Imported products.pai"));
}

#[test]
fn a_killed_holder_leaves_the_state_unlocked() {
    let (tmp, state) = setup();
    let mut holder = spawn_holder(&state);
    let id = holder.id.clone();

    let out = run(tmp.path(), &state, &["--lock-timeout", "0s", "state", "import", "pai"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("by pid {} on", holder.pid())),
        "{}",
        stderr(&out)
    );

    holder.kill();
    let out = run(tmp.path(), &state, &["--lock-timeout", "0s", "state", "import", "pai"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // That writer replaced the dead holder's record and cleared its own: nothing to unlock.
    let out = run(tmp.path(), &state, &["force-unlock", &id]);
    assert!(stderr(&out).contains("is not locked"), "{}", stderr(&out));
}

#[test]
fn force_unlock_clears_the_record_of_a_killed_holder() {
    let (tmp, state) = setup();
    let mut holder = spawn_holder(&state);
    let id = holder.id.clone();
    holder.kill();

    let out = run(tmp.path(), &state, &["force-unlock", "not-the-id"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("the leftover record is of lock ID {id}")),
        "{}",
        stderr(&out)
    );

    let out = run(tmp.path(), &state, &["force-unlock", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("Cleared the record of lock {id}")), "{text}");
    assert!(text.contains("No process held the lock"), "{text}");
    assert_eq!(std::fs::metadata(tmp.path().join("s.db.lock")).unwrap().len(), 0);
}
