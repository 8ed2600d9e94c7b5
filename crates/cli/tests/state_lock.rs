//! Two processes contending for one state's lock: the real binary against a holder that is
//! this test binary re-executed (`lock_holder`), or this test process itself.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pai_state::StateWriter;
use support::{Run, Workdir};

const MANIFEST: &str = "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n[products.pai]\ncode = \"PAI_share\"\n";
const HOLDER_ENV: &str = "PAI_TEST_LOCK_HOLDER_STATE";

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
    let work = Workdir::with_manifest(MANIFEST);
    let state = work.state.clone();
    let holder = StateWriter::open(&state, "apply", Duration::ZERO).unwrap();
    let id = holder.lock_info().id.clone();

    let started = Instant::now();
    let out = work.run(&["--lock-timeout", "300ms", "state", "import", "pai"]);
    assert_eq!(out.code, Some(1));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited for the timeout"
    );
    let err = out.stderr;
    assert!(err.contains("is locked by another process"), "{err}");
    assert!(err.contains(&format!("lock ID {id}")), "{err}");
    assert!(err.contains(&format!("`apply` by pid {}", std::process::id())), "{err}");
    assert!(!state.exists(), "the refused writer created nothing");

    let out = work.run(&["force-unlock", &id]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("is held by a live process"), "{}", out.stderr);

    // A patient writer gets the lock as soon as the holder lets go. It is seen waiting (its
    // `-v` log says so) and still running before the release, so that this cannot pass by a
    // writer that came late to an unlocked state.
    let mut waiter = work
        .command(&["-v", "--lock-timeout", "20s", "state", "import", "pai"])
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
    let out = Run::from(waiter.wait_with_output().unwrap());
    std::io::Read::read_to_string(&mut log, &mut seen).unwrap();
    assert_eq!(out.code, Some(0), "{seen}");
    assert!(out.stdout.starts_with("Imported products.pai"));
}

#[test]
fn a_killed_holder_leaves_the_state_unlocked() {
    let work = Workdir::with_manifest(MANIFEST);
    let state = work.state.clone();
    let mut holder = spawn_holder(&state);
    let id = holder.id.clone();

    let out = work.run(&["--lock-timeout", "0s", "state", "import", "pai"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains(&format!("by pid {} on", holder.pid())),
        "{}",
        out.stderr
    );

    holder.kill();
    let out = work.run(&["--lock-timeout", "0s", "state", "import", "pai"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // That writer replaced the dead holder's record and cleared its own: nothing to unlock.
    let out = work.run(&["force-unlock", &id]);
    assert!(out.stderr.contains("is not locked"), "{}", out.stderr);
}

#[test]
fn force_unlock_clears_the_record_of_a_killed_holder() {
    let work = Workdir::with_manifest(MANIFEST);
    let state = work.state.clone();
    let mut holder = spawn_holder(&state);
    let id = holder.id.clone();
    holder.kill();

    let out = work.run(&["force-unlock", "not-the-id"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains(&format!("the leftover record is of lock ID {id}")),
        "{}",
        out.stderr
    );

    let out = work.run(&["force-unlock", &id]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = &out.stdout;
    assert!(text.starts_with(&format!("Cleared the record of lock {id}")), "{text}");
    assert!(text.contains("No process held the lock"), "{text}");
    assert_eq!(std::fs::metadata(work.file("s.db.lock")).unwrap().len(), 0);
}
