//! Issue 20 through the binary: what an insider could put in a policy directory. A symbolic
//! link, a policy that never ends or would exhaust memory, one that is not a function of its
//! input: each ends the run with exit 1 and a message naming the file, never with an abort
//! (exit 134); nothing is saved or ordered.

use std::time::{Duration, Instant};

use super::support::write;
use super::{orders_in_ledger, sandbox, workdir, Workdir, QUICKSTART};

const FLEET: &str = "examples/fleet/fleet.toml";

/// Never ends within a test's patience, and allocates nothing as it goes.
const ENDLESS: &str = "package main\n\nimport rego.v1\n\ndeny contains \"never\" if {\n  every x in numbers.range(1, 100000) {\n    every y in numbers.range(1, 100000) {\n      x + y > 0\n    }\n  }\n}\n";

/// Asks for far more memory than the machine has, in one allocation.
const HUGE: &str = "package main\n\nimport rego.v1\n\nwarn contains msg if {\n  n := count(numbers.range(1, 2000000000))\n  msg := sprintf(\"%d\", [n])\n}\n";

fn policies(work: &Workdir, dir: &str, files: &[(&str, &str)]) {
    std::fs::create_dir_all(work.file(dir)).expect("mkdir");
    for (name, text) in files {
        write(&work.file(dir), name, text);
    }
}

#[cfg(unix)]
#[test]
fn a_symlinked_policy_is_refused_naming_it() {
    let work = workdir();
    std::fs::create_dir_all(work.file("elsewhere")).expect("mkdir");
    write(&work.file("elsewhere"), "lax.rego", "package main\n");
    policies(&work, "links", &[("ok.rego", "package main\n")]);
    std::os::unix::fs::symlink(work.file("elsewhere/lax.rego"), work.file("links/lax.rego")).expect("symlink");
    let plan = sandbox(&work, &["plan", QUICKSTART, "--policy", "links", "--out", "plan.json"]);
    assert_eq!(plan.code, Some(1), "{}", plan.describe());
    assert!(plan.stderr.contains("links/lax.rego"), "{}", plan.describe());
    assert!(plan.stderr.contains("symbolic link"), "{}", plan.describe());
    assert!(!work.file("plan.json").exists());
}

#[test]
fn a_policy_that_would_exhaust_memory_ends_the_run_naming_it() {
    let work = workdir();
    policies(&work, "huge", &[("huge.rego", HUGE)]);
    let plan = sandbox(&work, &["plan", QUICKSTART, "--policy", "huge", "--out", "plan.json"]);
    assert_eq!(plan.code, Some(1), "never an abort: {}", plan.describe());
    assert!(plan.stderr.contains("huge/huge.rego"), "{}", plan.describe());
    assert!(plan.stderr.contains("memory"), "{}", plan.describe());
    assert!(!work.file("plan.json").exists());
}

#[test]
fn a_policy_that_runs_past_the_timeout_ends_the_run_naming_it() {
    let work = workdir();
    policies(
        &work,
        "endless",
        &[("a.rego", "package main\n"), ("endless.rego", ENDLESS)],
    );
    for args in [
        &["plan", QUICKSTART][..],
        &["apply", "--auto-approve", QUICKSTART][..],
        &["fleet", "plan", FLEET][..],
        &["fleet", "apply", "--auto-approve", FLEET][..],
    ] {
        let mut all = args.to_vec();
        all.extend(["--policy", "endless", "--policy-timeout", "1s"]);
        let started = Instant::now();
        let run = sandbox(&work, &all);
        let took = started.elapsed();
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.describe());
        assert!(
            run.stderr.contains("endless/endless.rego"),
            "{args:?}: {}",
            run.describe()
        );
        assert!(run.stderr.contains("1s"), "{args:?}: {}", run.describe());
        assert!(took < Duration::from_secs(20), "{args:?}: {took:?}");
    }
    assert_eq!(orders_in_ledger(work.path()), 0);
}

#[test]
fn a_saved_plan_is_judged_again_within_the_timeout() {
    let work = workdir();
    let plan = sandbox(
        &work,
        &[
            "plan",
            QUICKSTART,
            "--policy",
            "examples/policies",
            "--policy-timeout",
            "30s",
            "--out",
            "plan.json",
        ],
    );
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    let apply = sandbox(
        &work,
        &[
            "apply",
            "plan.json",
            "--policy",
            "examples/policies",
            "--policy-timeout",
            "30s",
        ],
    );
    assert_eq!(apply.code, Some(0), "{}", apply.describe());
    let zero = sandbox(
        &work,
        &[
            "plan",
            QUICKSTART,
            "--policy",
            "examples/policies",
            "--policy-timeout",
            "0s",
        ],
    );
    assert_eq!(
        zero.code,
        Some(2),
        "a zero timeout is a usage error: {}",
        zero.describe()
    );
}

#[test]
fn non_deterministic_builtins_are_refused_naming_file_line_and_builtin() {
    let work = workdir();
    for (builtin, call) in [
        ("rand.intn", "rand.intn(\"seed\", 100)"),
        ("uuid.rfc4122", "uuid.rfc4122(\"seed\")"),
    ] {
        let dir = builtin.replace('.', "_");
        policies(
            &work,
            &dir,
            &[(
                "chance.rego",
                &format!("package main\n\nimport rego.v1\n\ndeny contains msg if {{\n  x := {call}\n  msg := sprintf(\"%v\", [x])\n}}\n"),
            )],
        );
        let plan = sandbox(&work, &["plan", QUICKSTART, "--policy", &dir, "--out", "plan.json"]);
        assert_eq!(plan.code, Some(1), "{builtin}: {}", plan.describe());
        assert!(
            plan.stderr.contains(&format!("{dir}/chance.rego:6:")),
            "{builtin}: {}",
            plan.describe()
        );
        assert!(
            plan.stderr
                .contains(&format!("`{builtin}` is not available to policies")),
            "{builtin}: {}",
            plan.describe()
        );
        assert!(!work.file("plan.json").exists());
    }
}
