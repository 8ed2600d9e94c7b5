//! The real binary with its state in PostgreSQL (the server of `PAI_TEST_POSTGRES_URL`; start one
//! with `eval "$(scripts/postgres.sh)"`): apply end to end through the executor, applies racing
//! from separate processes, a lock holder killed mid-apply, `state migrate`, the manifest's
//! `[state] url`, passwords from `PGPASSWORD` and `~/.pgpass`, and never a password in any
//! output. Each test has a schema of its own; the test server is throwaway.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pai_spec::ProductCode;
use pai_state::{StateLocation, Store};
use support::{hangzhou, Run, Setup, Want, Workdir};

fn server_url() -> String {
    match std::env::var("PAI_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PAI_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server. Start a throwaway one with \
             `eval \"$(scripts/postgres.sh)\"` (scripts/test.sh does this for the whole suite)"
        ),
    }
}

/// The password of the test server's URL, to check that no output ever shows it.
fn server_password() -> String {
    let url = server_url();
    url.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(info, _)| info.split_once(':'))
        .map(|(_, p)| p.to_owned())
        .expect("the test URL carries a password")
}

/// `PAI_TEST_POSTGRES_URL` without its password, and with a schema of this test's own.
fn url_without_password(schema: &str) -> String {
    let password = server_password();
    format!(
        "{}?schema={schema}",
        server_url().replacen(&format!(":{password}@"), "@", 1)
    )
}

fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Points the work directory's `--state` at a new schema, the password in the URL.
fn on_postgres(work: &mut Workdir) -> String {
    let url = format!("{}?schema={}", server_url(), unique_schema("cli"));
    work.state = PathBuf::from(&url);
    url
}

fn store(url: &str) -> Store {
    let location = StateLocation::parse(url, &|_: &str| None).expect("a valid URL");
    Store::open_read_only(location).expect("open the state")
}

fn assert_no_password(runs: &[&Run]) {
    let password = server_password();
    for run in runs {
        assert!(
            !run.stdout.contains(&password),
            "the password in stdout:\n{}",
            run.describe()
        );
        assert!(
            !run.stderr.contains(&password),
            "the password in stderr:\n{}",
            run.describe()
        );
    }
}

fn pai() -> Want {
    support::want("pai", ProductCode::Pai, &hangzhou())
}

#[test]
fn plan_apply_and_the_state_commands_work_on_postgres() {
    let wanted = support::two_regions();
    let mut setup = Setup::new(&wanted);
    let url = on_postgres(&mut setup.work);

    let plan_file = setup.work.path().join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8 path");
    let plan = setup.work.run(&["plan", "--out", plan_path]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    assert!(!store(&url).exists(), "plan does not create the state");

    // The executor writes the state from its tasks on a multi-thread runtime.
    let apply = setup.work.run(&["-vvv", "apply", plan_path]);
    assert_eq!(apply.code, Some(0), "{}", apply.describe());
    let problems = support::exactly_once_problems(&setup.emu.ledger(), &wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");

    let again = setup.apply(&[]);
    assert_eq!(again.code, Some(0), "{}", again.describe());
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);

    let show = setup.work.run(&["show", "--format", "json"]);
    assert_eq!(show.code, Some(0), "{}", show.describe());
    let path = show.json()["path"].as_str().expect("a path").to_owned();
    assert!(path.starts_with("postgres://") && path.contains(":***@"), "{path}");
    let history = setup.work.run(&["state", "history", "pai"]);
    assert_eq!(history.code, Some(0), "{}", history.describe());
    assert!(history.stdout.contains("CreateProductOrders"), "{}", history.stdout);
    let missing = setup.work.run(&["state", "show", "nope"]);
    assert_eq!(missing.code, Some(1));
    assert!(missing.stderr.contains(":***@"), "{}", missing.stderr);

    let rm = setup.work.run(&["state", "rm", "pai"]);
    assert_eq!(rm.code, Some(0), "{}", rm.describe());
    assert_eq!(setup.work.state_list().len(), wanted.len() - 1);

    assert_no_password(&[&plan, &apply, &again, &show, &history, &missing, &rm]);
}

#[test]
fn applies_racing_on_one_postgres_state_order_each_product_once() {
    let wanted = support::two_regions();
    // Latency keeps the winner inside its run long enough for the others to queue on the lock.
    let mut setup = Setup::with(&wanted, |c| c.faults.latency_ms = 40);
    on_postgres(&mut setup.work);
    let runs = setup
        .work
        .race(3, &["--lock-timeout", "60s", "apply", "--auto-approve"]);
    for run in &runs {
        assert_eq!(run.code, Some(0), "{}", run.describe());
    }
    assert_eq!(
        runs.iter().filter(|r| r.stdout.contains("No changes")).count(),
        2,
        "the others found nothing to do"
    );
    let problems = support::exactly_once_problems(&setup.emu.ledger(), &wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(setup.emu.ledger().orders.len(), 2, "one order per region");
    assert_no_password(&runs.iter().collect::<Vec<_>>());
}

#[test]
fn a_killed_apply_releases_the_lock_and_the_next_one_converges() {
    let wanted = support::two_regions();
    // Slow enough that the first apply is still running when it is killed.
    let mut setup = Setup::with(&wanted, |c| c.faults.latency_ms = 600);
    let url = on_postgres(&mut setup.work);
    let mut first = setup
        .work
        .command(&["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the first apply");
    let deadline = Instant::now() + Duration::from_secs(20);
    let holder = loop {
        if let Some(h) = store(&url).lock_holder() {
            break h;
        }
        assert!(Instant::now() < deadline, "the first apply never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(holder.pid, first.id());
    assert_eq!(holder.operation, "apply");

    let locked = setup.work.run(&["--lock-timeout", "0s", "apply", "--auto-approve"]);
    assert_eq!(locked.code, Some(1), "{}", locked.describe());
    assert!(locked.stderr.contains("locked by another process"), "{}", locked.stderr);
    assert!(locked.stderr.contains(&holder.id), "{}", locked.stderr);
    assert!(locked.stderr.contains("PostgreSQL session"), "{}", locked.stderr);
    let unlock = setup.work.run(&["force-unlock", &holder.id]);
    assert_eq!(unlock.code, Some(1), "{}", unlock.describe());
    assert!(unlock.stderr.contains("pg_terminate_backend"), "{}", unlock.stderr);

    first.kill().expect("kill the first apply");
    first.wait().expect("reap it");
    // Its record stays (no destructor ran); with the session gone, force-unlock may clear it.
    assert_eq!(store(&url).lock_holder().map(|h| h.id), Some(holder.id.clone()));
    // The server ends the session as soon as it reads the closed socket: a moment after the kill.
    let deadline = Instant::now() + Duration::from_secs(10);
    let cleared = loop {
        let run = setup.work.run(&["force-unlock", &holder.id]);
        if run.code == Some(0) || Instant::now() > deadline {
            break run;
        }
        assert!(run.stderr.contains("held by a live"), "{}", run.describe());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(cleared.code, Some(0), "{}", cleared.describe());
    assert!(
        cleared.stdout.contains("PostgreSQL had released it"),
        "{}",
        cleared.stdout
    );
    assert_eq!(store(&url).lock_holder(), None);
    // Its session ended with it; the lock is free at once: a zero lock timeout proves it
    // without timing anything (the apply itself may wait out the settle time of a killed send).
    let next = setup.work.run(&["--lock-timeout", "0s", "apply", "--auto-approve"]);
    assert_eq!(next.code, Some(0), "{}", next.describe());
    let problems = support::exactly_once_problems(&setup.emu.ledger(), &wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");
    assert_no_password(&[&locked, &unlock, &cleared, &next]);
}

#[test]
fn state_migrate_moves_a_file_state_to_postgres_and_a_saved_plan_is_made_again() {
    let wanted = vec![pai(), support::want("oss", ProductCode::Oss, &hangzhou())];
    let setup = Setup::new(&wanted[..1]);
    let first = setup.apply(&[]);
    assert_eq!(first.code, Some(0), "{}", first.describe());
    // A plan reviewed against the file state...
    setup.want(&wanted);
    let plan_file = setup.work.path().join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8 path");
    let plan = setup.work.run(&["plan", "--out", plan_path]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    let bytes = std::fs::read(&setup.work.state).expect("the state file");

    let url = format!("{}?schema={}", server_url(), unique_schema("migrate"));
    let migrated = setup.work.run(&["state", "migrate", "--to", &url, "--format", "json"]);
    assert_eq!(migrated.code, Some(0), "{}", migrated.describe());
    let summary = migrated.json();
    assert_eq!(summary["resources"], 1);
    assert!(
        summary["to"].as_str().unwrap_or_default().contains(":***@"),
        "{summary}"
    );
    assert_eq!(
        std::fs::read(&setup.work.state).expect("the state file"),
        bytes,
        "the source is unchanged"
    );

    // ...is for the file it was made against, not for the copy, though both have one lineage
    // and serial: two live copies must not take each other's plans (docs/plan-json.md).
    let mut moved = Workdir::new();
    moved.write_manifest(&std::fs::read_to_string(&setup.work.manifest).expect("the manifest"));
    moved.state = PathBuf::from(&url);
    let refused = moved.run(&["apply", plan_path]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(
        refused.stderr.contains(&setup.work.state.display().to_string()) && refused.stderr.contains("postgres://"),
        "names both states: {}",
        refused.stderr
    );
    assert_eq!(setup.emu.ledger().orders.len(), 1, "nothing ordered");
    // Planned again against the copy, it applies there.
    let moved_plan = moved.run(&["plan", "--out", "plan.json"]);
    assert_eq!(moved_plan.code, Some(0), "{}", moved_plan.describe());
    let saved = std::fs::read_to_string(moved.file("plan.json")).expect("the plan");
    assert!(
        saved.contains(":***@"),
        "the state's location, without its password: {saved}"
    );
    assert!(!saved.contains(&server_password()), "no password in the plan");
    let apply = moved.run(&["apply", "plan.json"]);
    assert_eq!(apply.code, Some(0), "{}", apply.describe());
    let problems = support::exactly_once_problems(&setup.emu.ledger(), &wanted, &moved.state_list());
    assert!(problems.is_empty(), "{problems:#?}");

    // A second copy into the same schema is refused.
    let again = setup.work.run(&["state", "migrate", "--to", &url]);
    assert_eq!(again.code, Some(1), "{}", again.describe());
    assert!(again.stderr.contains("already holds a state"), "{}", again.stderr);
    let human = setup.work.run(&[
        "state",
        "migrate",
        "--to",
        setup.work.path().join("copy.db").to_str().expect("UTF-8"),
    ]);
    assert_eq!(human.code, Some(0), "{}", human.describe());
    assert!(human.stdout.contains("the copy is exact"), "{}", human.stdout);
    assert_no_password(&[&migrated, &refused, &moved_plan, &apply, &again, &human]);
}

/// The binary without `--state`, so that the manifest's `[state] url` applies.
fn without_state_flag(work: &Workdir, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = work.plain_command(&["--no-color"]);
    cmd.envs(env.iter().copied()).args(args);
    Run::from(cmd.output().expect("run pai-provision"))
}

#[test]
fn the_manifests_state_url_with_passwords_from_pgpassword_or_pgpass() {
    let setup = Setup::new(&[pai()]);
    let schema = unique_schema("manifest");
    let url = url_without_password(&schema);
    let manifest = std::fs::read_to_string(&setup.work.manifest).expect("the manifest");
    setup
        .work
        .write_manifest(&format!("[state]\nurl = \"{url}\"\n\n{manifest}"));

    // PGPASSWORD.
    let password = server_password();
    let apply = without_state_flag(&setup.work, &[("PGPASSWORD", &password)], &["apply", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.describe());
    assert!(store(&format!("{}?schema=x", server_url()))
        .location()
        .to_string()
        .contains("***"));
    assert!(!setup.work.path().join("state").exists(), "no local state was made");

    // ~/.pgpass (HOME is the work directory), and a command that takes no manifest argument.
    let pgpass = setup.work.path().join(".pgpass");
    std::fs::write(&pgpass, format!("*:*:*:*:{password}\n")).expect("write .pgpass");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let list = without_state_flag(&setup.work, &[], &["state", "list", "--format", "json"]);
    assert_eq!(list.code, Some(0), "{}", list.describe());
    assert_eq!(list.json().as_array().map(Vec::len), Some(1), "{}", list.stdout);

    // Without a password: refused, saying where one may come from.
    std::fs::remove_file(&pgpass).expect("rm .pgpass");
    let refused = without_state_flag(&setup.work, &[], &["state", "list"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(refused.stderr.contains("PGPASSWORD"), "{}", refused.stderr);

    // A password written into the manifest is refused, and not repeated.
    let with_password = url.replacen('@', &format!(":{password}@"), 1);
    setup
        .work
        .write_manifest(&format!("[state]\nurl = \"{with_password}\"\n\n{manifest}"));
    let leaked = without_state_flag(&setup.work, &[], &["plan", "--refresh=false"]);
    assert_eq!(leaked.code, Some(1), "{}", leaked.describe());
    assert!(leaked.stderr.contains("carries a password"), "{}", leaked.stderr);
    assert_no_password(&[&apply, &list, &refused, &leaked]);
}

#[test]
fn a_bad_state_url_is_reported_without_its_password() {
    let mut work =
        Workdir::with_manifest("[provider]\nregion = \"cn-hangzhou\"\n\n[products.pai]\ncode = \"PAI_share\"\n");
    work.state = PathBuf::from("postgres://pai:Sup3rSecret@127.0.0.1:1/postgres?shema=x");
    let run = work.run(&["state", "list"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("did you mean `schema`"), "{}", run.stderr);
    assert!(!run.stderr.contains("Sup3rSecret"), "{}", run.stderr);
    // Nothing listens on port 1: the connection error names the location, redacted.
    work.state = PathBuf::from("postgres://pai:Sup3rSecret@127.0.0.1:1/postgres?connect_timeout=2");
    let run = work.run(&["-vvv", "state", "list"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("cannot connect"), "{}", run.stderr);
    assert!(
        run.stderr.contains("postgres://pai:***@127.0.0.1:1/postgres"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Sup3rSecret"), "{}", run.stderr);
}
