//! Every file pai-provision writes is its owner's alone (0600), whatever the umask: the state
//! (its history holds order ids, request ids and who ran what), its lock file, the saved plans
//! (a fleet plan names every account), the sandbox's state and ledger, a migrated state and the
//! policies' input. The binary runs under umask 022, the usual default, under which a file
//! created without a mode is readable by everyone.
#![cfg(unix)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::fleet::{members, FleetSetup};
use support::{single_region, Run, Setup, Workdir};

/// `cmd`, run through `sh` after `umask 022`.
fn under_umask_022(cmd: &Command) -> Run {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 022 && exec \"$@\"")
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear();
    for (name, value) in cmd.get_envs() {
        if let Some(value) = value {
            sh.env(name, value);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        sh.current_dir(dir);
    }
    Run::of(&mut sh)
}

fn ok(work: &Workdir, args: &[&str]) -> Run {
    let run = under_umask_022(&work.command(args));
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.describe());
    run
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every file under `dir`, but those the test wrote itself.
fn files_under(dir: &Path, written_by_the_test: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the directory") {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if path.is_dir() {
                pending.push(path);
            } else if !written_by_the_test.contains(&name.as_deref().unwrap_or_default()) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every file under `dir` the test did not write is 0600; `expected` are among them.
fn assert_private(dir: &Path, written_by_the_test: &[&str], expected: &[&str]) {
    let files = files_under(dir, written_by_the_test);
    for name in expected {
        assert!(
            files.iter().any(|f| f.ends_with(name)),
            "{name} was not written: {files:#?}"
        );
    }
    let open: Vec<String> = files
        .iter()
        .filter(|f| mode(f) != 0o600)
        .map(|f| format!("{} {:o}", f.display(), mode(f)))
        .collect();
    assert!(open.is_empty(), "not 0600: {open:#?}");
}

#[test]
fn the_state_its_lock_a_saved_plan_and_a_migrated_state_are_private() {
    let setup = Setup::new(&single_region());
    let work = &setup.work;
    ok(work, &["plan", "--out", "p.json", "--policy-input", "input.json"]);
    ok(work, &["apply", "--auto-approve"]);
    ok(work, &["state", "migrate", "--to", "moved/s.db"]);
    assert_private(
        work.path(),
        &["pai-provision.toml"],
        &["s.db", "s.db.lock", "p.json", "input.json", "ledger.json", "moved/s.db"],
    );
}

#[test]
fn replacing_a_saved_plan_does_not_widen_it() {
    let setup = Setup::new(&single_region());
    let work = &setup.work;
    ok(work, &["plan", "--refresh=false", "--out", "p.json"]);
    ok(work, &["plan", "--refresh=false", "--out", "p.json"]);
    assert_eq!(mode(&work.file("p.json")), 0o600);
    // One its owner narrowed further stays so.
    std::fs::set_permissions(work.file("p.json"), std::fs::Permissions::from_mode(0o400)).expect("chmod");
    ok(work, &["plan", "--refresh=false", "--out", "p.json"]);
    assert_eq!(mode(&work.file("p.json")), 0o400);
}

#[test]
fn the_sandboxs_state_ledger_and_plans_are_private() {
    let work = Workdir::with_manifest(&support::manifest(&Default::default(), &single_region()));
    ok(&work, &["--sandbox", "plan", "--out", "p.json"]);
    ok(&work, &["--sandbox", "apply", "--auto-approve", "p.json"]);
    assert_private(
        work.path(),
        &["pai-provision.toml"],
        &["s.sandbox.db", "s.sandbox-ledger.json", "s.sandbox.db.lock", "p.json"],
    );
}

#[test]
fn a_fleets_plan_states_and_sandbox_ledger_are_private() {
    let setup = FleetSetup::new(members(2), vec![]);
    for args in [
        &["fleet", "plan", "--out", "fleet-plan.json", "fleet.toml"][..],
        &["fleet", "apply", "fleet-plan.json"],
        &["--sandbox", "fleet", "plan", "--out", "sandbox-plan.json", "fleet.toml"],
        &["--sandbox", "fleet", "apply", "sandbox-plan.json"],
    ] {
        let run = under_umask_022(&setup.command(args));
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.describe());
    }
    let accounts: Vec<String> = setup.members.iter().map(|m| format!("{}.db", m.id)).collect();
    let mut expected = vec!["fleet-plan.json", "sandbox-plan.json", "ledger.json"];
    expected.extend(accounts.iter().map(String::as_str));
    assert_private(setup.work.path(), &["pai-provision.toml", "fleet.toml"], &expected);
}

/// A PostgreSQL state elsewhere reached with an `sslmode` weaker than `verify-full` is said to
/// be exposed, once a run; not on loopback, not with `verify-full`. No server is needed: the
/// warning comes before the connection, which then fails (`.invalid` never resolves).
#[test]
fn a_postgres_state_elsewhere_without_verify_full_is_warned_about_once() {
    let work = Workdir::with_manifest(&support::manifest(&Default::default(), &single_region()));
    let warning = "warning: the PostgreSQL state on";
    let cases = [
        (
            "postgres://ci@db.invalid:6432/infra?sslmode=require",
            Some("db.invalid:6432 is reached with sslmode=require"),
        ),
        (
            "postgres://ci@db.invalid/infra",
            Some("db.invalid:5432 is reached with sslmode=prefer"),
        ),
        ("postgres://ci@db.invalid/infra?sslmode=verify-full", None),
        ("postgres://ci@127.0.0.1:1/infra?sslmode=disable", None),
    ];
    for (url, want) in cases {
        for args in [&["state", "list"][..], &["plan"], &["apply", "--auto-approve"]] {
            let mut all = vec!["--no-color", "--state", url];
            all.extend_from_slice(args);
            let run = work.run_plain(&all);
            assert_eq!(run.code, Some(1), "{url} {args:?}: {}", run.describe());
            match want {
                Some(said) => {
                    assert_eq!(
                        run.stderr.matches(warning).count(),
                        1,
                        "{url} {args:?}: {}",
                        run.describe()
                    );
                    assert!(run.stderr.contains(said), "{url} {args:?}: {}", run.describe());
                }
                None => assert!(!run.stderr.contains(warning), "{url} {args:?}: {}", run.describe()),
            }
        }
    }
}
