//! The edges of a run, through the binary: a sandbox that must never reach the real endpoint,
//! a failed apply that did nothing and must leave nothing behind, and the waits that must say
//! what they wait for.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use pai_spec::ProductCode;
use support::{hangzhou, want, Setup, Want, Workdir};

fn pai() -> Want {
    want("pai", ProductCode::Pai, &hangzhou())
}

/// A proxy that no request may reach: it records the first line of each connection (`CONNECT
/// host:443` for HTTPS) and refuses it, so that a request that goes astray fails at once.
fn canary() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the canary");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            let _ = reader.read_line(&mut line);
            log.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(line.trim().to_owned());
            let _ = (&stream).write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (url, seen)
}

/// Point 6: a sandbox state that holds a region the manifest no longer declares (the manifest
/// was switched in the same directory). The sandbox serves that region too, and nothing
/// reaches past the emulator: the proxy every real request would go through sees none.
#[test]
fn the_sandbox_never_reaches_a_real_endpoint_for_a_region_only_its_state_holds() {
    let mut work = Workdir::new();
    work.write_manifest("[provider]\nregion = \"cn-beijing\"\n\n[products.pai]\ncode = \"PAI_share\"\n");
    work.ok(&["--sandbox", "apply", "--auto-approve"]);

    // Another manifest in the same directory: only cn-hangzhou.
    work.write_manifest("[provider]\nregion = \"cn-hangzhou\"\n\n[products.pai-hz]\ncode = \"PAI_share\"\n");
    let (proxy, seen) = canary();
    for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"] {
        work.set_env(name, Some(&proxy));
    }
    for args in [
        &["--sandbox", "plan"][..],
        &["--sandbox", "refresh"][..],
        &["--sandbox", "apply", "--auto-approve"][..],
    ] {
        let run = work.run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.describe());
        let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert!(
            seen.is_empty(),
            "{args:?} reached past the sandbox: {seen:?}\n{}",
            run.describe()
        );
        assert!(!run.stderr.contains("aliyuncs.com"), "{args:?}: {}", run.describe());
    }
}

/// Point 7: a saved plan applied with a wrong secret. The check before ordering is refused
/// (the emulator verifies signatures: a real 403), so nothing was sent: the output says so,
/// not "outcome unknown, left pending"; no state is created; and the reviewed plan still
/// applies once the credentials are right.
#[test]
fn a_failed_apply_that_sent_nothing_says_so_and_leaves_no_state() {
    let wanted = [pai()];
    let mut setup = Setup::new(&wanted);
    let plan_file = setup.work.file("reviewed.json");
    let plan_path = plan_file.display().to_string();
    setup.work.ok(&["plan", "--out", &plan_path]);
    assert!(!setup.work.state.exists());

    setup
        .work
        .set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", Some("not-the-secret-at-all-0000"));
    let failed = setup.work.run(&["apply", &plan_path]);
    assert_eq!(failed.code, Some(1), "{}", failed.describe());
    let all = format!("{}{}", failed.stdout, failed.stderr);
    assert!(!all.contains("outcome unknown"), "{}", failed.describe());
    assert!(!all.contains("left pending"), "{}", failed.describe());
    assert!(all.contains("nothing was sent"), "{}", failed.describe());
    assert!(!all.contains("not-the-secret-at-all"), "{}", failed.describe());
    assert!(
        !setup.work.state.exists(),
        "a run that recorded nothing created the state: {}",
        failed.describe()
    );
    assert!(setup.emu.ledger().orders.is_empty());

    setup
        .work
        .set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", Some(support::ACCESS_KEY_SECRET));
    let applied = setup.work.run(&["apply", &plan_path]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    assert_eq!(setup.emu.ledger().orders.len(), 1);
}

/// Runs ARGS in `work` and returns the first stderr line that `wanted` accepts, then stops the
/// run; `None` when the run ended without one (its whole stderr is in the panic message).
fn first_stderr_line(work: &Workdir, args: &[&str], wanted: impl Fn(&str) -> bool) -> (Option<String>, String) {
    let mut child = work
        .command(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pai-provision");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    let mut found = None;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        seen.push_str(&line);
        seen.push('\n');
        if wanted(&line) {
            found = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (found, seen)
}

/// Point 11: a refused connection is retried for up to a minute; without `-v` the run says at
/// once what it waits for and until when.
#[test]
fn a_refused_connection_says_what_it_waits_for() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let work = Workdir::with_manifest(&format!(
        "[provider]\nregion = \"cn-hangzhou\"\nendpoint = \"http://127.0.0.1:{port}\"\n\n[products.pai]\ncode = \
         \"PAI_share\"\n"
    ));
    let (line, stderr) = first_stderr_line(&work, &["plan"], |l| l.contains("until"));
    let line = line.unwrap_or_else(|| panic!("no wait announced:\n{stderr}"));
    assert!(line.contains("ListProducts") && line.contains("cn-hangzhou"), "{line}");
    assert!(line.to_lowercase().contains("refused"), "{line}");
}

/// Point 11: a server that answers every request with a 500.
#[test]
fn constant_server_errors_say_what_they_wait_for() {
    let wanted = [pai()];
    let setup = Setup::with(&wanted, |config| config.faults.error_500 = 1.0);
    let (line, stderr) = first_stderr_line(&setup.work, &["plan"], |l| l.contains("until"));
    let line = line.unwrap_or_else(|| panic!("no wait announced:\n{stderr}"));
    assert!(line.contains("ListProducts") && line.contains("500"), "{line}");
}

/// Point 11: a server that takes its time to answer: the wait is said after a second, with
/// when the client stops listening.
#[test]
fn an_unresponsive_server_says_what_it_waits_for() {
    let wanted = [pai()];
    let setup = Setup::with(&wanted, |config| config.faults.latency_ms = 5_000);
    let (line, stderr) = first_stderr_line(&setup.work, &["plan"], |l| l.contains("until"));
    let line = line.unwrap_or_else(|| panic!("no wait announced:\n{stderr}"));
    assert!(
        line.contains("ListProducts") && line.contains("no answer yet"),
        "{line}"
    );
}

/// Point 11: waiting for the state's lock says so, and until when, a second into the wait.
#[test]
fn waiting_for_the_lock_says_so() {
    let work = Workdir::with_manifest("[provider]\nregion = \"cn-hangzhou\"\n\n[products.pai]\ncode = \"PAI_share\"\n");
    let held = pai_state::StateWriter::open(work.state.clone(), "another apply", std::time::Duration::from_secs(5))
        .expect("hold the lock");
    let run = work.run(&["--lock-timeout", "2s", "refresh"]);
    drop(held);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stderr.contains("waiting for the lock of the state") && run.stderr.contains("until"),
        "{}",
        run.describe()
    );
}
