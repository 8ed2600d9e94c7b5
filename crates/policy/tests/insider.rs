//! What an insider could put in a policy directory (issue 20): a symbolic link to a file
//! nobody reviewed, a policy that never ends or eats the machine's memory, a policy that is not
//! a function of its input. Each is refused with an error naming the file; the process judging
//! the plans never aborts.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pai_planner::Plan;
use pai_policy::{judge, Evaluator, Limits, PolicyContext, PolicyError, PolicySet};
use pai_state::StateSnapshot;

/// The evaluating process of these tests: the crate's own worker binary, which runs what
/// `pai-provision` runs in its hidden worker command.
fn worker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pai-policy-worker"))
}

fn plan() -> Plan {
    let text = "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n[products.pai]\ncode = \"PAI_share\"\n";
    let m = pai_spec::parse(text.as_bytes(), "m.toml")
        .expect("fixture manifest")
        .manifest;
    let at = time::OffsetDateTime::from_unix_timestamp(1_795_685_400).expect("time");
    Plan::build(
        &m,
        "m.toml",
        &StateSnapshot::default(),
        None,
        &|r| m.endpoint_for(r),
        at,
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

const OK: &str = "package main\n\nimport rego.v1\n\nwarn contains \"fine\" if { true }\n";

#[cfg(unix)]
#[test]
fn a_symlinked_policy_file_or_directory_is_refused_naming_it() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    write(elsewhere.path(), "lax.rego", "package main\n");
    for (name, target) in [
        ("linked.rego", elsewhere.path().join("lax.rego")),
        ("dir.rego", elsewhere.path().to_owned()),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "ok.rego", OK);
        std::os::unix::fs::symlink(&target, dir.path().join(name)).expect("symlink");
        match PolicySet::load(dir.path()) {
            Err(e @ PolicyError::Symlink { .. }) => {
                let text = e.to_string();
                assert!(text.starts_with(&dir.path().join(name).display().to_string()), "{text}");
                assert!(text.contains("symbolic link"), "{text}");
            }
            other => panic!("{name}: expected the symbolic link refused, got {other:?}"),
        }
    }
}

/// Reading a policy directory evaluates nothing: a rule that would never end is only met
/// by the evaluating process, under its limits.
#[test]
fn loading_a_directory_evaluates_no_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "huge.rego",
        "package main\n\nimport rego.v1\n\nn := count(numbers.range(1, 2000000000))\n\nwarn contains \"x\" if { n > 0 }\n",
    );
    PolicySet::load(dir.path()).expect("it loads");
}

#[test]
fn non_deterministic_builtins_are_refused_naming_file_line_and_builtin() {
    for (builtin, call) in [
        ("rand.intn", "rand.intn(\"seed\", 100)"),
        ("uuid.rfc4122", "uuid.rfc4122(\"seed\")"),
        ("time.now_ns", "time.now_ns()"),
        (
            "http.send",
            "http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:1\"})",
        ),
        ("opa.runtime", "opa.runtime()"),
        ("net.lookup_ip_addr", "net.lookup_ip_addr(\"localhost\")"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "chance.rego",
            &format!("package main\n\nimport rego.v1\n\ndeny contains msg if {{\n  x := {call}\n  msg := sprintf(\"%v\", [x])\n}}\n"),
        );
        let set = PolicySet::load(dir.path()).expect("it parses");
        let err = judge(&set, plan(), &PolicyContext::default()).expect_err(builtin);
        let text = err.to_string();
        let want = format!("{}:6:", dir.path().join("chance.rego").display());
        assert!(text.starts_with(&want), "{builtin}: {text}");
        assert!(
            text.contains(&format!("`{builtin}` is not available to policies")),
            "{builtin}: {text}"
        );
        // The same through the evaluating process.
        let mut evaluator = Evaluator::start(worker(), &set, Limits::default()).expect("start");
        let err = evaluator.judge(plan(), &PolicyContext::default()).expect_err(builtin);
        assert_eq!(err.to_string(), text, "{builtin}");
    }
}

#[test]
fn a_policy_that_runs_past_the_timeout_is_stopped_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a_fine.rego", OK);
    write(
        dir.path(),
        "endless.rego",
        "package main\n\nimport rego.v1\n\ndeny contains \"never\" if {\n  every x in numbers.range(1, 100000) {\n    every y in numbers.range(1, 100000) {\n      x + y > 0\n    }\n  }\n}\n",
    );
    let set = PolicySet::load(dir.path()).expect("load");
    let limits = Limits {
        timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let mut evaluator = Evaluator::start(worker(), &set, limits).expect("start");
    let started = Instant::now();
    let err = evaluator.judge(plan(), &PolicyContext::default()).expect_err("stopped");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(
        matches!(&err, PolicyError::Timeout { path, .. } if path == &dir.path().join("endless.rego")),
        "{err:?}"
    );
    assert!(err.to_string().contains("1s"), "{err}");
}

#[test]
fn a_policy_that_would_exhaust_memory_is_stopped_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a_fine.rego", OK);
    write(
        dir.path(),
        "huge.rego",
        "package main\n\nimport rego.v1\n\nwarn contains msg if {\n  n := count(numbers.range(1, 2000000000))\n  msg := sprintf(\"%d\", [n])\n}\n",
    );
    let set = PolicySet::load(dir.path()).expect("load");
    let mut evaluator = Evaluator::start(worker(), &set, Limits::default()).expect("start");
    let err = evaluator.judge(plan(), &PolicyContext::default()).expect_err("stopped");
    assert!(
        matches!(&err, PolicyError::Memory { path, .. } if path == &dir.path().join("huge.rego")),
        "{err:?}"
    );
}

/// One evaluating process judges plan after plan and gives what the set gives in process.
#[test]
fn the_evaluating_process_judges_as_the_set_does() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let set = PolicySet::load(&examples).expect("load");
    let mut evaluator = Evaluator::start(worker(), &set, Limits::default()).expect("start");
    let want = judge(&set, plan(), &PolicyContext::default()).expect("in process");
    assert!(
        want.policy.as_ref().is_some_and(|v| !v.warn.is_empty()),
        "{:?}",
        want.policy
    );
    for _ in 0..3 {
        let got = evaluator.judge(plan(), &PolicyContext::default()).expect("evaluated");
        assert_eq!(got.policy, want.policy);
    }
}

/// An evaluating process whose parent is gone ends by itself: one stuck in an endless policy
/// must not outlive the run it was for.
#[cfg(unix)]
#[test]
fn the_evaluating_process_ends_when_its_parent_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.rego", OK);
    let set = PolicySet::load(dir.path()).expect("load");
    // A shell between this process and the worker, which says both their ids (fd 3: a
    // background command's stdin would be /dev/null).
    let ids = dir.path().join("ids");
    let script = format!(
        "exec 3<&0; '{}' <&3 3<&- & echo $$ $! > '{}'; wait",
        env!("CARGO_BIN_EXE_pai-policy-worker"),
        ids.display()
    );
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(script);
    let evaluator = Evaluator::start(shell, &set, Limits::default()).expect("start");
    let ids = std::fs::read_to_string(&ids).expect("ids");
    let (shell, worker) = ids.trim().split_once(' ').expect("two ids");
    let alive = |pid: &str| {
        Command::new("kill")
            .args(["-0", pid])
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(alive(worker));
    let killed = Command::new("kill").args(["-KILL", shell]).status().expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    while alive(worker) && started.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!alive(worker), "still running after {:?}", started.elapsed());
    drop(evaluator);
}
