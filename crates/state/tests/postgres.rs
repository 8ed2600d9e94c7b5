//! What only the PostgreSQL backend has: its schema checks, the advisory lock across sessions
//! and processes (a killed holder releases it), the serial check, `force-unlock`, passwords
//! from the environment and the password file, TLS, calls from inside a Tokio runtime, and
//! `migrate` between backends. Runs against the server of `PAI_TEST_POSTGRES_URL`.
#![cfg(feature = "postgres")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_spec::ProductCode;
use pai_state::postgres::target::PgTarget;
use pai_state::{migrate, ErrorKind, LiveHolder, PG_SCHEMA_VERSION};
use pai_state::{ApiCall, CallOutcome, OrderOutcome, RunResult, StateError, StateLocation, StateWriter, Status, Store};
use support::{addr, admin, postgres_url, product, unique_schema, with_schema, Backend};

fn no_env(_: &str) -> Option<String> {
    None
}

fn location_of(b: &Backend) -> StateLocation {
    b.location()
}

fn schema_of(b: &Backend) -> &str {
    match b {
        Backend::Postgres { schema, .. } => schema,
        Backend::Sqlite { .. } => unreachable!("a PostgreSQL test"),
    }
}

/// One apply's worth of writes: a run, `pai` ordered, the run closed.
fn seed(b: &Backend) {
    let mut w = b.writer();
    let run = w.begin_run("apply").unwrap();
    w.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
        .unwrap();
    let outcome = OrderOutcome {
        order_id: Some("ORDER-1".into()),
        product_ids: vec!["p-1".into()],
        buy_product_request_id: None,
        request_id: Some("REQ-1".into()),
    };
    w.mark_active(run, &[addr("pai")], &outcome).unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();
}

#[test]
fn the_state_is_one_schema_of_its_own() {
    let b = Backend::postgres();
    seed(&b);
    assert_eq!(
        b.footprint(),
        [
            format!("schema {}", schema_of(&b)),
            "table event_addresses".into(),
            "table events".into(),
            "table lock_holder".into(),
            "table meta".into(),
            "table resources".into(),
            "table runs".into(),
        ]
    );
    let mut client = admin(&postgres_url());
    let row = client
        .query_one(
            &format!("SELECT application, schema_version FROM \"{}\".meta", schema_of(&b)),
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "pai-provision");
    assert_eq!(i64::from(row.get::<_, i32>(1)), PG_SCHEMA_VERSION);
    // Nothing leaked into the public schema.
    let public: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('meta', 'resources', 'runs')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(public, 0);
}

#[test]
fn schemas_that_are_not_our_state_are_refused_and_left_untouched() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "foreign tables",
            "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'x');",
            "the schema holds other tables (notes)",
        ),
        (
            "another application's meta",
            "CREATE TABLE meta (id INT PRIMARY KEY, application TEXT, schema_version INT, lineage TEXT,
                                serial BIGINT, created_at TEXT);
             INSERT INTO meta VALUES (1, 'terraform', 1, 'x', 0, 't');",
            "belongs to `terraform`",
        ),
        (
            "a meta of other types",
            "CREATE TABLE meta (id INT PRIMARY KEY, application TEXT, schema_version TEXT, lineage TEXT,
                                serial TEXT, created_at TEXT);
             INSERT INTO meta VALUES (1, 'pai-provision', 'one', 'x', 'zero', 't');",
            "is not pai-provision's",
        ),
        (
            "newer",
            "UPDATE meta SET schema_version = schema_version + 1",
            "newer than this pai-provision",
        ),
    ];
    for (name, sql, want) in cases {
        let b = Backend::postgres();
        if name == "newer" {
            seed(&b);
        } else {
            admin(&postgres_url())
                .batch_execute(&format!("CREATE SCHEMA \"{}\"", schema_of(&b)))
                .unwrap();
        }
        b.raw_sql(sql).unwrap();
        let before = b.footprint();
        let read = Store::open_read_only(b.location()).and_then(|s| s.snapshot());
        let err = read.expect_err(name).to_string();
        assert!(err.contains(want), "{name} (read): {err}");
        assert!(err.contains("left untouched"), "{name} (read): {err}");
        let write = StateWriter::open(b.location(), "state rm", Duration::ZERO).and_then(|mut w| {
            let run = w.begin_run("state rm")?;
            w.remove(run, &addr("pai"))
        });
        let err = write.expect_err(name).to_string();
        assert!(err.contains(want), "{name} (write): {err}");
        // The lock's own table may appear (a writer takes the lock before it looks); nothing else.
        let mut after = b.footprint();
        after.retain(|t| t != "table lock_holder");
        let mut before = before;
        before.retain(|t| t != "table lock_holder");
        assert_eq!(after, before, "{name}");
    }
}

#[test]
fn a_write_after_another_writer_got_in_is_refused() {
    let b = Backend::postgres();
    seed(&b);
    let mut w = b.writer();
    let serial = w.snapshot().unwrap().serial;
    // Another writer changing the state means the lock was broken; play it behind the lock.
    b.raw_sql("UPDATE meta SET serial = serial + 1").unwrap();
    let run = w.begin_run("apply");
    let err = run.expect_err("the serial moved");
    assert!(
        matches!(err, StateError::SerialConflict { expected, found, .. } if expected == serial && found == serial + 1)
    );
    assert!(err.to_string().contains("nothing was written"), "{err}");
    let err = w
        .put_pending(pai_state::RunId(1), &[&product("oss", ProductCode::Oss, "cn-hangzhou")])
        .unwrap_err();
    assert!(matches!(err, StateError::SerialConflict { .. }), "{err}");
    drop(w);
    let after = b.store().dump().unwrap().unwrap();
    assert_eq!(after.history.runs.len(), 1, "the refused run was not recorded");
    assert!(!after.resources.iter().any(|r| r.address == addr("oss")));
}

#[test]
fn the_writer_works_from_inside_tokio_runtimes() {
    let b = Backend::postgres();
    let writer = Arc::new(Mutex::new(b.writer()));
    let run = writer.lock().unwrap().begin_run("apply").unwrap();
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    multi.block_on(async {
        let tasks: Vec<_> = [("pai", ProductCode::Pai), ("oss", ProductCode::Oss)]
            .into_iter()
            .map(|(address, code)| {
                let writer = Arc::clone(&writer);
                tokio::spawn(async move {
                    let p = product(address, code, "cn-hangzhou");
                    writer.lock().unwrap().put_pending(run, &[&p]).unwrap();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    writer
                        .lock()
                        .unwrap()
                        .mark_active(run, &[addr(address)], &OrderOutcome::default())
                        .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    current.block_on(async {
        writer.lock().unwrap().end_run(run, &RunResult::Succeeded).unwrap();
    });
    let snap = writer.lock().unwrap().snapshot().unwrap();
    assert_eq!(snap.serial, 4);
    assert!(snap.resources.values().all(|r| r.status == Status::Active));
    assert_eq!(snap.resources.len(), 2);
}

#[test]
fn writers_on_separate_sessions_take_turns() {
    let b = Backend::postgres();
    let location = b.location();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let location = location.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    let mut w = StateWriter::open(&location, "apply", Duration::from_secs(30)).unwrap();
                    let run = w.begin_run("apply").unwrap();
                    let address = format!("p{t}x{i}");
                    let region = format!("cn-region{t}{i}");
                    w.put_pending(run, &[&product(&address, ProductCode::Pai, &region)])
                        .unwrap();
                    w.mark_active(run, &[addr(&address)], &OrderOutcome::default()).unwrap();
                    w.end_run(run, &RunResult::Succeeded).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let dump = b.store().dump().unwrap().unwrap();
    assert_eq!(dump.serial, 20, "two state writes for each of ten runs");
    assert_eq!(dump.resources.len(), 10);
    assert_eq!(dump.history.runs.len(), 10);
    assert!(dump
        .history
        .runs
        .iter()
        .all(|r| r.result.as_deref() == Some("succeeded")));
    // Runs never overlapped: each run's events come before the next run starts.
    let runs: Vec<i64> = dump.history.events.iter().map(|e| e.run_id).collect();
    let mut sorted = runs.clone();
    sorted.sort();
    assert_eq!(runs, sorted);
}

/// Not a test on its own: the lock holder that `a_killed_holder_releases_the_lock` starts as a
/// separate process and kills.
#[test]
#[ignore = "run by a_killed_holder_releases_the_lock"]
fn lock_holder_process() {
    let Ok(url) = std::env::var("PAI_TEST_HOLDER_URL") else {
        return;
    };
    let location = StateLocation::parse(&url, &no_env).unwrap();
    let writer = StateWriter::open(location, "apply", Duration::from_secs(10)).unwrap();
    println!("LOCK_ID={}", writer.lock_info().id);
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_killed_holder_releases_the_lock() {
    let b = Backend::postgres();
    seed(&b);
    let url = with_schema(&postgres_url(), schema_of(&b));
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_holder_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PAI_TEST_HOLDER_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = holder.stdout.take().unwrap();
    let id = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split("LOCK_ID=").nth(1).map(str::to_owned))
        .expect("the holder reports its lock");

    let err = StateWriter::open(b.location(), "apply", Duration::ZERO).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&id), "{msg}");
    assert!(msg.contains("PostgreSQL session"), "{msg}");
    assert!(msg.contains(&format!("pid {}", holder.id())), "{msg}");
    let err = pai_state::force_unlock(&b.location(), &id).unwrap_err();
    assert!(err.to_string().contains("held by a live PostgreSQL session"), "{err}");

    // SIGKILL: no destructor runs, the record stays; the closed socket ends the session.
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The lock was released with the session (a live one would hold it past any timeout).
    let w = StateWriter::open(b.location(), "refresh", Duration::from_secs(20)).unwrap();
    assert_ne!(w.lock_info().id, id, "the stale record was replaced");
    assert_eq!(b.store().lock_holder().unwrap(), *w.lock_info());
    assert_eq!(w.snapshot().unwrap().resources.len(), 1);
}

#[test]
fn force_unlock_table() {
    let b = Backend::postgres();
    let location = b.location();
    let unlock = |id: &str| pai_state::force_unlock(&location, id);

    let err = unlock("x").unwrap_err();
    assert!(err.to_string().ends_with("is not locked"), "{err}");

    let live = b.writer();
    let live_id = live.lock_info().id.clone();
    let session = live
        .lock_info()
        .session
        .expect("a PostgreSQL holder records its session");
    let err = unlock(&live_id).unwrap_err();
    assert!(
        matches!(err, StateError::UnlockRefused { live: Some(LiveHolder::Session(s)), .. } if s == session),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::UnlockRefused);
    let err = err.to_string();
    assert!(err.contains("held by a live PostgreSQL session"), "{err}");
    assert!(err.contains(&format!("pg_terminate_backend({session})")), "{err}");
    let err = unlock("other").unwrap_err().to_string();
    assert!(err.contains("not other"), "{err}");
    drop(live);

    // A record left by a session that is gone.
    b.raw_sql("INSERT INTO lock_holder VALUES (1, 'dead', 'apply', 'ci-7', 4242, 99999, 't', '0.1.0')")
        .unwrap();
    let err = unlock("other").unwrap_err().to_string();
    assert!(
        err.contains("is not locked; the leftover record is of lock ID dead"),
        "{err}"
    );
    assert!(b.store().lock_holder().is_some());
    let done = unlock("dead").unwrap();
    assert_eq!(done.stale.host, "ci-7");
    assert_eq!(b.store().lock_holder(), None);
}

#[test]
fn passwords_come_from_the_url_the_environment_or_the_password_file() {
    let url = postgres_url();
    let full = PgTarget::parse(&url, &no_env).unwrap();
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(info, _)| info.split_once(':'))
        .map(|(_, p)| p.to_owned())
        .expect("the test URL carries a password");
    let bare = format!(
        "postgres://{}@{}/{}?schema={}",
        full.user(),
        url.rsplit_once('@').unwrap().1.split('/').next().unwrap(),
        full.database(),
        unique_schema("pw")
    );
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().display().to_string();
    let open = |env: &dyn Fn(&str) -> Option<String>| {
        let location = StateLocation::parse(&bare, env)?;
        Store::open_read_only(location).map(|s| s.exists())
    };

    // PGPASSWORD.
    let pw = password.clone();
    assert!(!open(&move |k| (k == "PGPASSWORD").then(|| pw.clone())).unwrap());

    // ~/.pgpass, read only at mode 0600.
    let pgpass = home.path().join(".pgpass");
    std::fs::write(&pgpass, format!("# test\n*:*:*:{}:{password}\n", full.user())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let h = home_path.clone();
    assert!(!open(&move |k| (k == "HOME").then(|| h.clone())).unwrap());
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let h = home_path.clone();
    let err = open(&move |k| (k == "HOME").then(|| h.clone()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no password was given"), "{err}");

    // A wrong password: the error says where it came from, never what it is.
    let err = open(&|k| (k == "PGPASSWORD").then(|| "wrong-password-123".to_owned())).unwrap_err();
    assert_eq!(err.sqlstate(), Some("28P01"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Database, "{err}");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(source.is_some_and(|s| s.contains("28P01") && !s.contains("wrong-password-123")));
    let err = err.to_string();
    assert!(err.contains("28P01") && err.contains("PGPASSWORD"), "{err}");
    assert!(!err.contains("wrong-password-123"), "{err}");
    let wrong_url = bare.replacen('@', ":wrong-password-456@", 1);
    let err = Store::open_read_only(StateLocation::parse(&wrong_url, &no_env).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("the password came from the URL"), "{err}");
    assert!(!err.contains("wrong-password-456"), "{err}");
    assert!(err.contains(":***@"), "{err}");
}

#[test]
fn tls_modes_against_the_test_server() {
    let url = postgres_url();
    let ssl: String = admin(&url).query_one("SHOW ssl", &[]).unwrap().get(0);
    let open = |mode: &str| {
        let location = StateLocation::parse(&format!("{}&sslmode={mode}", with_schema(&url, "tls_probe")), &no_env)?;
        Store::open_read_only(location).map(|_| ())
    };
    assert!(open("disable").is_ok());
    assert!(open("prefer").is_ok());
    if ssl == "on" {
        open("require").unwrap();
        // The test server's certificate is self-signed: no trusted root vouches for it.
        let err = open("verify-full").unwrap_err().to_string();
        assert!(err.contains("cannot connect"), "{err}");
        let err = open("verify-ca").unwrap_err().to_string();
        assert!(err.contains("cannot connect"), "{err}");
    } else {
        let err = open("require").unwrap_err().to_string();
        assert!(err.contains("cannot connect"), "{err}");
    }
}

#[test]
fn migrate_copies_a_state_between_backends_exactly() {
    let file = Backend::sqlite();
    seed(&file);
    {
        // A second run with a failure and a history entry of every kind.
        let mut w = file.writer();
        let run = w.begin_run("apply").unwrap();
        w.put_pending(run, &[&product("oss", ProductCode::Oss, "cn-shanghai")])
            .unwrap();
        w.record_api_call(
            run,
            &ApiCall {
                region: pai_spec::Region::parse("cn-shanghai").unwrap(),
                action: "CreateProductOrders".into(),
                // Unsorted on purpose: both backends store and return them sorted.
                addresses: vec![addr("zeta"), addr("oss"), addr("a-b"), addr("a_b")],
                outcome: CallOutcome::Rejected,
                http_status: Some(400),
                code: Some("InvalidParameter".into()),
                message: Some("ünïcode message".into()),
                request_id: Some("REQ-2".into()),
                order_id: None,
                duration: Duration::from_millis(12),
            },
        )
        .unwrap();
        w.mark_failed(run, &[addr("oss")], "HTTP 400 InvalidParameter").unwrap();
        w.end_run(run, &RunResult::Failed("1 failed".into())).unwrap();
    }
    let Backend::Sqlite { path, .. } = &file else {
        unreachable!()
    };
    let bytes = std::fs::read(path).unwrap();
    let original = file.store().dump().unwrap().unwrap();

    let pg = Backend::postgres();
    let done = migrate(&location_of(&file), &location_of(&pg), Duration::ZERO).unwrap();
    assert_eq!(done.lineage, original.lineage);
    assert_eq!((done.serial, done.resources, done.runs), (original.serial, 2, 2));
    assert_eq!(done.events, original.history.events.len());
    assert!(
        !done.to.contains(&postgres_url()),
        "the password is not shown: {}",
        done.to
    );
    assert_eq!(pg.store().dump().unwrap().unwrap(), original);
    let call = original.history.events.iter().find(|e| e.code.is_some()).unwrap();
    assert_eq!(call.addresses, ["a-b", "a_b", "oss", "zeta"]);
    assert_eq!(std::fs::read(path).unwrap(), bytes, "the source was not written");

    // The copy goes on: its ids continue after the copied ones.
    {
        let mut w = pg.writer();
        let run = w.begin_run("apply").unwrap();
        assert_eq!(run.0, 3);
        w.end_run(run, &RunResult::Succeeded).unwrap();
    }

    // Into a non-empty target: refused, nothing changed.
    let before = pg.store().dump().unwrap();
    let err = migrate(&location_of(&file), &location_of(&pg), Duration::ZERO).unwrap_err();
    assert!(matches!(err, StateError::TargetNotEmpty { resources: 2, .. }), "{err}");
    assert_eq!(pg.store().dump().unwrap(), before);
    // Onto itself, or from nothing: refused.
    let err = migrate(&location_of(&pg), &location_of(&pg), Duration::ZERO).unwrap_err();
    assert!(matches!(err, StateError::SameState { .. }), "{err}");
    let empty = Backend::postgres();
    let err = migrate(&location_of(&empty), &location_of(&Backend::sqlite()), Duration::ZERO).unwrap_err();
    assert!(matches!(err, StateError::NothingToMigrate { .. }), "{err}");

    // And back to a file, then to another schema: still the same state.
    let back = Backend::sqlite();
    migrate(&location_of(&pg), &location_of(&back), Duration::ZERO).unwrap();
    let again = Backend::postgres();
    migrate(&location_of(&back), &location_of(&again), Duration::ZERO).unwrap();
    assert_eq!(back.store().dump().unwrap(), again.store().dump().unwrap());
    assert_eq!(again.store().dump().unwrap().unwrap().history.runs.len(), 3);
}

#[test]
fn migrate_waits_for_a_writer_of_the_source() {
    let file = Backend::sqlite();
    seed(&file);
    let busy = file.writer();
    let pg = Backend::postgres();
    let err = migrate(&location_of(&file), &location_of(&pg), Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err}");
    assert!(!pg.store().exists(), "nothing was copied");
    drop(busy);
    migrate(&location_of(&file), &location_of(&pg), Duration::from_secs(5)).unwrap();
    assert!(pg.store().exists());
}
