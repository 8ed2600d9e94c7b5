//! The state store on both backends: real SQLite files in temporary directories, and real
//! PostgreSQL schemas on the server of `PAI_TEST_POSTGRES_URL`. The tests of the shared
//! behaviour run once per backend (`sqlite::NAME`, `postgres::NAME`); the file format's own
//! checks follow, SQLite only (the PostgreSQL ones are in `postgres.rs`).

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_spec::{Product, ProductCode};
use pai_state::SCHEMA_VERSION;
use pai_state::{
    ApiCall, Attempt, CallOutcome, OrderOutcome, Origin, RunResult, StateError, StateWriter, Status, Store,
};
use support::{addr, listing, product, Backend, TickingClock};

/// Runs each named test once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::Backend::sqlite()) } )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $( #[test] fn $name() { super::$name(&super::Backend::postgres()) } )*
        }
    };
}

on_both_backends!(
    a_missing_state_is_empty_and_reading_it_creates_nothing,
    the_first_write_creates_the_state_and_each_change_bumps_the_serial,
    state_writes_cover_every_transition,
    a_refused_write_changes_nothing,
    a_send_is_noted_on_pending_rows_only,
    reading_never_modifies_a_state,
    the_history_is_append_only,
    a_stale_lock_record_is_replaced,
    the_lock_excludes_a_second_writer_and_names_the_holder,
    an_unpaid_order_keeps_its_order_id_and_resolves_to_active,
    a_version_1_state_is_migrated_to_allow_unpaid,
    a_version_2_state_is_migrated_to_store_settle_deadlines,
    settle_deadlines_and_reorders_follow_the_row,
);

fn writer(path: &Path) -> StateWriter {
    StateWriter::open(path, "test", Duration::ZERO).unwrap()
}

fn a_missing_state_is_empty_and_reading_it_creates_nothing(b: &Backend) {
    let store = b.store();
    assert!(!store.exists());
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.lineage, None);
    assert_eq!(snap.serial, 0);
    assert!(snap.resources.is_empty());
    assert!(store.history(None).unwrap().runs.is_empty());
    assert_eq!(store.dump().unwrap(), None);
    assert_eq!(store.lock_holder(), None);
    assert!(b.footprint().is_empty(), "{:?}", b.footprint());
}

fn the_first_write_creates_the_state_and_each_change_bumps_the_serial(b: &Backend) {
    let mut w = b.writer();
    assert!(!w.exists());
    assert!(!b.store().exists(), "opening the writer must not create the state");
    assert!(w.snapshot().unwrap().resources.is_empty());

    let run = w.begin_run("apply").unwrap();
    assert!(w.exists());
    assert!(b.store().exists());
    let first = w.snapshot().unwrap();
    let lineage = first.lineage.clone().unwrap();
    assert_eq!(lineage.len(), 36);
    assert_eq!(first.serial, 0, "history appends do not bump the serial");

    let pai = product("pai", ProductCode::Pai, "cn-hangzhou");
    let oss = product("oss", ProductCode::Oss, "cn-hangzhou");
    w.put_pending(run, &[&pai, &oss]).unwrap();
    assert_eq!(w.snapshot().unwrap().serial, 1, "one transaction, one bump");
    w.record_api_call(
        run,
        &ApiCall {
            region: pai.region.clone(),
            action: "CreateProductOrders".into(),
            addresses: vec![addr("oss"), addr("pai")],
            outcome: CallOutcome::Ok,
            http_status: Some(200),
            code: None,
            message: None,
            request_id: Some("REQ-1".into()),
            order_id: Some("ORDER-1".into()),
            duration: Duration::from_millis(312),
        },
    )
    .unwrap();
    assert_eq!(w.snapshot().unwrap().serial, 1);
    let outcome = OrderOutcome {
        order_id: Some("ORDER-1".into()),
        product_ids: vec!["p-1".into(), "p-2".into()],
        buy_product_request_id: Some("BUY-1".into()),
        request_id: Some("REQ-1".into()),
    };
    w.mark_active(run, &[addr("oss"), addr("pai")], &outcome).unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();
    drop(w);

    let store = b.store();
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.lineage.as_deref(), Some(lineage.as_str()));
    assert_eq!(snap.serial, 2);
    let r = &snap.resources[&addr("pai")];
    assert_eq!(r.status, Status::Active);
    assert_eq!(r.origin, Origin::Ordered);
    assert_eq!(r.order_id.as_deref(), Some("ORDER-1"));
    assert_eq!(r.product_ids, ["p-1", "p-2"]);
    assert_eq!(r.buy_product_request_id.as_deref(), Some("BUY-1"));
    assert_eq!(r.request, pai.request);
    assert_eq!(r.fingerprint, pai.fingerprint());
    assert_eq!(r.run_id, Some(run.0));

    let h = store.history(None).unwrap();
    assert_eq!(h.runs.len(), 1);
    assert_eq!(h.runs[0].command, "apply");
    assert_eq!(h.runs[0].result.as_deref(), Some("succeeded"));
    let actions: Vec<&str> = h.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["pending", "pending", "CreateProductOrders", "active", "active"]
    );
    assert_eq!(h.events[2].addresses, ["oss", "pai"]);
    assert_eq!(h.events[2].duration_ms, Some(312));

    let only_pai = store.history(Some(&addr("pai"))).unwrap();
    assert_eq!(only_pai.events.len(), 3);
    assert!(only_pai.events.iter().all(|e| e.addresses.contains(&"pai".to_owned())));
    assert_eq!(only_pai.runs.len(), 1);
}

fn state_writes_cover_every_transition(b: &Backend) {
    let mut w = b.writer();
    let run = w.begin_run("apply").unwrap();
    let pai = product("pai", ProductCode::Pai, "cn-hangzhou");
    let dw = product("dataworks", ProductCode::DataWorks, "cn-shanghai");
    let oss = product("oss", ProductCode::Oss, "cn-hangzhou");

    w.put_pending(run, &[&pai]).unwrap();
    w.mark_failed(run, &[addr("pai")], "HTTP 400 InvalidParameter").unwrap();
    let r = &w.snapshot().unwrap().resources[&addr("pai")];
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.last_error.as_deref(), Some("HTTP 400 InvalidParameter"));

    w.put_pending(run, &[&pai]).unwrap();
    w.mark_resolved(run, &addr("pai"), Some("pid-9")).unwrap();
    let r = &w.snapshot().unwrap().resources[&addr("pai")];
    assert_eq!((r.status, r.origin), (Status::Active, Origin::Ordered));
    assert_eq!(r.product_ids, ["pid-9"]);
    assert_eq!(r.last_error, None);

    w.mark_adopted(run, &dw, Some("pid-dw")).unwrap();
    let r = &w.snapshot().unwrap().resources[&addr("dataworks")];
    assert_eq!((r.status, r.origin), (Status::Active, Origin::Adopted));

    w.import(run, &oss, None).unwrap();
    assert_eq!(w.snapshot().unwrap().resources[&addr("oss")].origin, Origin::Imported);
    assert!(matches!(w.import(run, &oss, None), Err(StateError::AlreadyRecorded(_))));

    // One activation, two addresses: refused.
    let twin = Product {
        address: addr("twin"),
        ..pai.clone()
    };
    let err = w.put_pending(run, &[&twin]).unwrap_err();
    assert!(
        matches!(&err, StateError::DuplicateActivation { existing, .. } if existing == "pai"),
        "{err}"
    );

    w.move_resource(run, &addr("pai"), &addr("ml")).unwrap();
    let snap = w.snapshot().unwrap();
    assert!(!snap.resources.contains_key(&addr("pai")));
    assert_eq!(snap.resources[&addr("ml")].product_ids, ["pid-9"]);
    assert!(matches!(
        w.move_resource(run, &addr("ml"), &addr("oss")),
        Err(StateError::AlreadyRecorded(_))
    ));

    let removed = w.remove(run, &addr("ml")).unwrap();
    assert_eq!(removed.product_code, ProductCode::Pai);
    assert!(matches!(w.remove(run, &addr("ml")), Err(StateError::NoSuchAddress(_))));
    assert!(matches!(
        w.mark_active(run, &[addr("nope")], &OrderOutcome::default()),
        Err(StateError::NoSuchAddress(_))
    ));
    w.end_run(run, &RunResult::Failed("stopped".into())).unwrap();

    let serial_before = w.snapshot().unwrap().serial;
    let h = w.history(Some(&addr("ml"))).unwrap();
    let ml: Vec<&str> = h.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(ml, ["moved", "removed"]);
    assert_eq!(h.runs[0].message.as_deref(), Some("stopped"));
    assert_eq!(serial_before, 8, "every successful state change bumped the serial once");
}

fn a_send_is_noted_on_pending_rows_only(b: &Backend) {
    // Timestamps are whole seconds: a clock that ticks at every write tells the note's time
    // apart from the row's.
    let mut w = b.writer().with_clock(TickingClock::default());
    let first = w.begin_run("apply").unwrap();
    let pai = product("pai", ProductCode::Pai, "cn-hangzhou");
    let oss = product("oss", ProductCode::Oss, "cn-hangzhou");
    w.put_pending(first, &[&pai, &oss]).unwrap();
    w.end_run(first, &RunResult::Failed("killed".into())).unwrap();

    let second = w.begin_run("apply").unwrap();
    let before = w.snapshot().unwrap();
    w.note_sending(
        second,
        &[addr("pai"), addr("oss")],
        Attempt { order: 1, request: 2 },
        Duration::from_secs(60),
    )
    .unwrap();
    let snap = w.snapshot().unwrap();
    assert_eq!(snap.serial, before.serial + 1, "one transaction for the whole order");
    for a in ["pai", "oss"] {
        let (was, r) = (&before.resources[&addr(a)], &snap.resources[&addr(a)]);
        assert_eq!(r.status, Status::Pending, "{a}");
        assert_eq!(r.run_id, Some(second.0), "{a}: the row names the run that sent it last");
        assert!(
            r.updated_at > was.updated_at,
            "{a}: updated_at is the last send ({} after {})",
            r.updated_at,
            was.updated_at
        );
        assert_eq!(r.created_at, was.created_at, "{a}");
    }
    let h = w.history(Some(&addr("pai"))).unwrap();
    let sent: Vec<(&str, Option<&str>)> = h
        .events
        .iter()
        .map(|e| (e.action.as_str(), e.message.as_deref()))
        .collect();
    assert_eq!(
        sent,
        [
            ("pending", Some("recorded -> pending")),
            (
                "sending",
                Some(
                    format!(
                        "pending: request sent (order 1 of this run, try 2 of it); settles at {}",
                        snap.resources[&addr("pai")].settle_until.as_deref().unwrap_or("?")
                    )
                    .as_str()
                )
            )
        ]
    );

    w.mark_active(second, &[addr("pai")], &OrderOutcome::default()).unwrap();
    let before = w.snapshot().unwrap();
    let err = w
        .note_sending(
            second,
            &[addr("oss"), addr("pai")],
            Attempt { order: 1, request: 3 },
            Duration::from_secs(60),
        )
        .unwrap_err();
    assert!(
        matches!(&err, StateError::NotPending { address, status: Status::Active } if address == &addr("pai")),
        "{err}"
    );
    assert_eq!(
        w.snapshot().unwrap(),
        before,
        "a refused note changes nothing, not even `oss`"
    );
    assert!(matches!(
        w.note_sending(second, &[addr("nope")], Attempt::FIRST, Duration::from_secs(60)),
        Err(StateError::NoSuchAddress(_))
    ));
}

fn a_refused_write_changes_nothing(b: &Backend) {
    let mut w = b.writer();
    let run = w.begin_run("apply").unwrap();
    let pai = product("pai", ProductCode::Pai, "cn-hangzhou");
    w.put_pending(run, &[&pai]).unwrap();
    let before = w.snapshot().unwrap();
    let twin = Product {
        address: addr("twin"),
        ..pai.clone()
    };
    let oss = product("oss", ProductCode::Oss, "cn-hangzhou");
    // The second product is refused, so the first of the same batch must not stay either.
    assert!(w.put_pending(run, &[&oss, &twin]).is_err());
    assert_eq!(w.snapshot().unwrap(), before);
    // And the writer goes on writing after a refusal.
    w.put_pending(run, &[&oss]).unwrap();
    assert_eq!(w.snapshot().unwrap().serial, before.serial + 1);
}

fn make_state(path: &Path) {
    let mut w = writer(path);
    let run = w.begin_run("apply").unwrap();
    w.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
        .unwrap();
}

fn reading_never_modifies_a_state(b: &Backend) {
    {
        let mut w = b.writer();
        let run = w.begin_run("apply").unwrap();
        w.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
            .unwrap();
    }
    // SQLite may leave the -wal and -shm side files of a reader behind; they hold no data.
    let footprint = || {
        let mut f = b.footprint();
        f.retain(|f| !f.ends_with("-wal") && !f.ends_with("-shm"));
        f
    };
    let before = b.store().dump().unwrap().unwrap();
    let files = footprint();
    for _ in 0..3 {
        let store = b.store();
        assert_eq!(store.snapshot().unwrap().resources.len(), 1);
        store.history(None).unwrap();
        store.history(Some(&addr("pai"))).unwrap();
    }
    assert_eq!(b.store().dump().unwrap().unwrap(), before);
    assert_eq!(footprint(), files);
}

fn the_history_is_append_only(b: &Backend) {
    let mut w = b.writer();
    let run = w.begin_run("apply").unwrap();
    w.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
        .unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();
    // Closing a run twice leaves the first result.
    w.end_run(run, &RunResult::Failed("again".into())).unwrap();
    drop(w);
    let before = b.store().history(None).unwrap();
    assert_eq!(before.runs[0].result.as_deref(), Some("succeeded"));
    for sql in [
        "UPDATE runs SET result = 'failed'",
        "DELETE FROM runs",
        "UPDATE events SET action = 'x'",
        "DELETE FROM events",
        "UPDATE event_addresses SET address = 'x'",
        "DELETE FROM event_addresses",
    ] {
        let err = b.raw_sql(sql).expect_err(sql);
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(b.store().history(None).unwrap(), before);
}

fn a_stale_lock_record_is_replaced(b: &Backend) {
    let first = b.writer();
    let first_id = first.lock_info().id.clone();
    assert_eq!(b.store().lock_holder().unwrap(), *first.lock_info());
    drop(first);
    assert_eq!(b.store().lock_holder(), None, "a clean release clears the record");
    // A record left behind by a holder that is gone.
    match b {
        Backend::Sqlite { path, .. } => {
            let stale = r#"{"id":"dead","operation":"apply","host":"ci-7","pid":4242,"created_at":"2026-11-26T00:00:00Z","version":"0.1.0"}"#;
            std::fs::write(format!("{}.lock", path.display()), stale).unwrap();
        }
        Backend::Postgres { .. } => b
            .raw_sql(
                "INSERT INTO lock_holder VALUES (1, 'dead', 'apply', 'ci-7', 4242, 99999, '2026-11-26T00:00:00Z', \
                 '0.1.0')",
            )
            .unwrap(),
    }
    assert_eq!(b.store().lock_holder().unwrap().id, "dead");
    let w = StateWriter::open(b.location(), "refresh", Duration::ZERO).unwrap();
    assert_ne!(w.lock_info().id, "dead");
    assert_ne!(w.lock_info().id, first_id);
    assert_eq!(w.lock_info().operation, "refresh");
    assert_eq!(b.store().lock_holder().unwrap(), *w.lock_info());
}

fn the_lock_excludes_a_second_writer_and_names_the_holder(b: &Backend) {
    let first = b.writer();
    let started = std::time::Instant::now();
    let err = StateWriter::open(b.location(), "state rm", Duration::from_millis(250)).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(250));
    let msg = err.to_string();
    assert!(matches!(err, StateError::Locked { .. }), "{msg}");
    assert!(msg.contains(&first.lock_info().id), "{msg}");
    assert!(msg.contains("`test`"), "{msg}");
    assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
    // A waiter gets the lock once it is released; it is seen waiting before the release, so
    // this cannot pass by a waiter that came late to an unlocked state.
    let location = b.location();
    let log = Arc::new(Mutex::new(String::new()));
    let waiter = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            support::logging_into(log, || StateWriter::open(location, "refresh", Duration::from_secs(20)))
        })
    };
    while !log.lock().unwrap().contains("waiting for the state lock") {
        assert!(!waiter.is_finished(), "the waiter ended without waiting");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!waiter.is_finished(), "the waiter is blocked while the lock is held");
    drop(first);
    let second = waiter.join().unwrap().unwrap();
    assert_eq!(second.lock_info().operation, "refresh");
}

fn corrupt(path: &Path) {
    make_state(path);
    let mut bytes = std::fs::read(path).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(100).take(3000) {
        *b = (i * 31 % 251) as u8;
    }
    std::fs::write(path, bytes).unwrap();
}

fn foreign(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'x');")
        .unwrap();
}

fn newer(path: &Path) {
    make_state(path);
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
}

fn text(path: &Path) {
    std::fs::write(path, "version = 4\nserial = 12\n").unwrap();
}

fn empty(path: &Path) {
    std::fs::write(path, "").unwrap();
}

#[test]
fn files_that_are_not_our_state_are_refused_and_left_byte_identical() {
    type Case = (&'static str, fn(&Path), &'static str);
    let cases: [Case; 5] = [
        ("corrupt", corrupt, "damaged"),
        ("foreign", foreign, "another application"),
        ("newer", newer, "newer than this pai-provision understands"),
        ("text", text, "not an SQLite database"),
        ("empty", empty, "the file is empty"),
    ];
    for (name, make, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().join("s.db");
        make(&path);
        let bytes = std::fs::read(&path).unwrap();
        let mut files = listing(dir.path());
        files.retain(|(f, _)| f != "s.db.lock");

        let read = Store::open_read_only(&path).and_then(|s| s.snapshot());
        let err = read.expect_err(name).to_string();
        assert!(err.contains(message), "{name} (read): {err}");
        assert!(err.contains("left untouched"), "{name} (read): {err}");

        let write = StateWriter::open(&path, "state rm", Duration::ZERO).and_then(|mut w| {
            let run = w.begin_run("state rm")?;
            w.remove(run, &addr("pai"))
        });
        let err = write.expect_err(name).to_string();
        assert!(err.contains(message), "{name} (write): {err}");

        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}: the file changed");
        let mut after = listing(dir.path());
        after.retain(|(f, _)| f != "s.db.lock");
        assert_eq!(after, files, "{name}: files appeared or changed beside it");
    }
}

#[test]
fn reading_never_modifies_a_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    make_state(&path);
    let bytes = std::fs::read(&path).unwrap();
    for _ in 0..3 {
        let store = Store::open_read_only(&path).unwrap();
        assert_eq!(store.snapshot().unwrap().resources.len(), 1);
        store.history(None).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn the_state_is_wal_with_full_sync_and_recognisable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    make_state(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let app: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
    assert_eq!(app, 0x5041_4950);
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn history_queries_by_address_use_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    make_state(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT e.id FROM event_addresses a JOIN events e ON e.id = a.event_id
             WHERE a.address = 'pai' ORDER BY a.event_id",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let text = plan.join("\n");
    assert!(text.contains("event_addresses_by_address"), "{text}");
    assert!(!text.contains("SCAN"), "{text}");
}

fn an_unpaid_order_keeps_its_order_id_and_resolves_to_active(b: &Backend) {
    let mut w = b.writer();
    let run = w.begin_run("apply").unwrap();
    let pai = product("pai", ProductCode::Pai, "cn-hangzhou");
    w.put_pending(run, &[&pai]).unwrap();
    let outcome = OrderOutcome {
        order_id: Some("210292536260646".into()),
        product_ids: vec![],
        buy_product_request_id: None,
        request_id: Some("REQ-1".into()),
    };
    w.mark_unpaid(run, &[addr("pai")], &outcome).unwrap();
    let r = &w.snapshot().unwrap().resources[&addr("pai")];
    assert_eq!((r.status, r.origin), (Status::Unpaid, Origin::Ordered));
    assert_eq!(r.order_id.as_deref(), Some("210292536260646"));
    assert_eq!(
        b.store().snapshot().unwrap().resources[&addr("pai")].status,
        Status::Unpaid
    );

    w.mark_resolved(run, &addr("pai"), Some("pid-1")).unwrap();
    let r = &w.snapshot().unwrap().resources[&addr("pai")];
    assert_eq!(r.status, Status::Active);
    assert_eq!(r.order_id.as_deref(), Some("210292536260646"), "the paid order is kept");
    assert_eq!(r.product_ids, ["pid-1"]);
    w.end_run(run, &RunResult::Succeeded).unwrap();

    let h = w.history(Some(&addr("pai"))).unwrap();
    let messages: Vec<&str> = h.events.iter().filter_map(|e| e.message.as_deref()).collect();
    assert!(
        messages.contains(&"pending -> unpaid: ordered, awaiting payment"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("unpaid -> active")),
        "{messages:?}"
    );
}

/// The `resources` table exactly as schema version 1 laid it out, with its old constraint.
const V1_RESOURCES: &str = "
    address TEXT PRIMARY KEY, region TEXT NOT NULL, product_code TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'failed')),
    origin TEXT NOT NULL CHECK (origin IN ('ordered', 'adopted', 'imported')),
    fingerprint TEXT NOT NULL, request_json TEXT NOT NULL, order_id TEXT,
    product_ids TEXT NOT NULL DEFAULT '[]', buy_product_request_id TEXT, request_id TEXT,
    last_error TEXT, run_id INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    UNIQUE (region, product_code)";

/// Its columns, in order.
const V1_COLUMNS: &str = "address, region, product_code, status, origin, fingerprint, request_json, order_id, \
                          product_ids, buy_product_request_id, request_id, last_error, run_id, created_at, updated_at";

/// A state holding `pai` active and `oss` pending, as a migration must keep them; its snapshot.
fn an_active_and_a_pending_row(b: &Backend) -> pai_state::StateSnapshot {
    let mut w = b.writer();
    let run = w.begin_run("apply").unwrap();
    w.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
        .unwrap();
    w.mark_active(run, &[addr("pai")], &OrderOutcome::default()).unwrap();
    w.put_pending(run, &[&product("oss", ProductCode::Oss, "cn-hangzhou")])
        .unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();
    drop(w);
    b.store().snapshot().unwrap()
}

/// The SQL that takes a state back from schema version 4 to 3 (`governance.rs` tests that step).
fn undo_v4(b: &Backend) -> &'static str {
    match b {
        Backend::Sqlite { .. } => {
            "DROP INDEX events_freezes;
             DROP TRIGGER runs_close_once;
             ALTER TABLE runs DROP COLUMN provenance;
             CREATE TRIGGER runs_close_once BEFORE UPDATE ON runs
                 WHEN OLD.ended_at IS NOT NULL OR NEW.id IS NOT OLD.id OR NEW.command IS NOT OLD.command
                   OR NEW.started_at IS NOT OLD.started_at
                 BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
             PRAGMA user_version = 3;"
        }
        Backend::Postgres { .. } => "DROP INDEX events_freezes; ALTER TABLE runs DROP COLUMN provenance;",
    }
}

fn a_version_2_state_is_migrated_to_store_settle_deadlines(b: &Backend) {
    let before = an_active_and_a_pending_row(b);
    let downgrade = match b {
        Backend::Sqlite { .. } => {
            "ALTER TABLE resources DROP COLUMN settle_until;
             ALTER TABLE resources DROP COLUMN reorders;
             PRAGMA user_version = 2;"
        }
        Backend::Postgres { .. } => {
            "ALTER TABLE resources DROP COLUMN settle_until;
             ALTER TABLE resources DROP COLUMN reorders;
             UPDATE meta SET schema_version = 2;"
        }
    };
    b.raw_sql(&format!("{}{downgrade}", undo_v4(b))).unwrap();

    let mut w = b.writer();
    assert_eq!(
        w.snapshot().unwrap(),
        before,
        "rows read back as they were, without deadlines"
    );
    let run = w.begin_run("apply").unwrap();
    w.note_sending(run, &[addr("oss")], Attempt::FIRST, Duration::from_secs(60))
        .unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();
    let after = b.store().snapshot().unwrap();
    assert!(after.resources[&addr("oss")].settle_until.is_some());
    assert_eq!(after.resources[&addr("pai")], before.resources[&addr("pai")]);
    assert!(
        b.raw_sql("UPDATE resources SET reorders = -1").is_err(),
        "a count is never negative"
    );
}

fn settle_deadlines_and_reorders_follow_the_row(b: &Backend) {
    let mut w = b.writer().with_clock(TickingClock::default());
    let run = w.begin_run("apply").unwrap();
    let pai = product("pai", ProductCode::Pai, "cn-hangzhou");
    let row = |w: &StateWriter| w.snapshot().unwrap().resources[&addr("pai")].clone();
    w.put_pending(run, &[&pai]).unwrap();
    assert_eq!((row(&w).settle_until, row(&w).reorders), (None, 0), "not sent yet");
    w.note_sending(run, &[addr("pai")], Attempt::FIRST, Duration::from_secs(90))
        .unwrap();
    let sent = row(&w);
    let at = time::OffsetDateTime::parse(&sent.updated_at, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(
        sent.settle_until.as_deref(),
        Some(pai_state::clock::format(at + Duration::from_secs(90)).as_str()),
        "the deadline is the send's time plus its settle time"
    );
    w.mark_active(run, &[addr("pai")], &OrderOutcome::default()).unwrap();
    assert_eq!(
        row(&w).settle_until,
        sent.settle_until,
        "an answered order keeps its deadline"
    );

    // Drift: the reorder of an active row counts, its retries do not, a sighting clears it.
    w.put_pending(run, &[&pai]).unwrap();
    assert_eq!((row(&w).settle_until, row(&w).reorders), (None, 1));
    w.mark_failed(run, &[addr("pai")], "HTTP 503").unwrap();
    w.put_pending(run, &[&pai]).unwrap();
    assert_eq!(row(&w).reorders, 1, "a retry after failure is the same reorder");
    w.note_sending(run, &[addr("pai")], Attempt::FIRST, Duration::from_secs(90))
        .unwrap();
    w.mark_active(run, &[addr("pai")], &OrderOutcome::default()).unwrap();
    w.put_pending(run, &[&pai]).unwrap();
    assert_eq!(row(&w).reorders, 2);
    w.note_sending(run, &[addr("pai")], Attempt::FIRST, Duration::from_secs(90))
        .unwrap();
    w.mark_active(run, &[addr("pai")], &OrderOutcome::default()).unwrap();
    let serial = w.snapshot().unwrap().serial;
    w.mark_seen(run, &addr("pai")).unwrap();
    assert_eq!(row(&w).reorders, 0, "seen purchased");
    assert_eq!(w.snapshot().unwrap().serial, serial + 1);
    let seen: Vec<String> = w
        .history(Some(&addr("pai")))
        .unwrap()
        .events
        .iter()
        .map(|e| e.action.clone())
        .collect();
    assert_eq!(seen.last().map(String::as_str), Some("seen"));

    w.put_pending(run, &[&pai]).unwrap();
    assert_eq!(row(&w).reorders, 1);
    w.mark_resolved(run, &addr("pai"), Some("pid")).unwrap();
    assert_eq!(row(&w).reorders, 0, "resolved by observation: it shows");
    w.put_pending(run, &[&pai]).unwrap();
    w.mark_failed(run, &[addr("pai")], "HTTP 400").unwrap();
    w.mark_adopted(run, &pai, Some("pid")).unwrap();
    assert_eq!(
        (row(&w).settle_until, row(&w).reorders),
        (None, 0),
        "adopted: seen, never sent"
    );
}

fn a_version_1_state_is_migrated_to_allow_unpaid(b: &Backend) {
    let before = an_active_and_a_pending_row(b);
    // Put the state back as version 1 wrote it.
    let downgrade = match b {
        Backend::Sqlite { .. } => format!(
            "CREATE TABLE resources_v1 ({V1_RESOURCES});
             INSERT INTO resources_v1 SELECT {V1_COLUMNS} FROM resources;
             DROP TABLE resources;
             ALTER TABLE resources_v1 RENAME TO resources;
             PRAGMA user_version = 1;"
        ),
        Backend::Postgres { .. } => "ALTER TABLE resources DROP COLUMN settle_until;
             ALTER TABLE resources DROP COLUMN reorders;
             ALTER TABLE resources DROP CONSTRAINT resources_status_check;
             ALTER TABLE resources ADD CONSTRAINT resources_status_check
                 CHECK (status IN ('pending', 'active', 'failed'));
             UPDATE meta SET schema_version = 1;"
            .to_owned(),
    };
    b.raw_sql(&format!("{}{downgrade}", undo_v4(b))).unwrap();
    let refused = b.raw_sql("UPDATE resources SET status = 'unpaid' WHERE address = 'oss'");
    assert!(refused.is_err(), "version 1 refuses `unpaid`");

    let mut w = b.writer();
    let run = w.begin_run("apply").unwrap();
    let outcome = OrderOutcome {
        order_id: Some("ORDER-9".into()),
        ..OrderOutcome::default()
    };
    w.mark_unpaid(run, &[addr("oss")], &outcome).unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();

    let after = b.store().snapshot().unwrap();
    assert_eq!(after.lineage, before.lineage);
    assert_eq!(
        after.resources[&addr("pai")],
        before.resources[&addr("pai")],
        "rows are kept"
    );
    assert_eq!(after.resources[&addr("oss")].status, Status::Unpaid);
    let refused = b.raw_sql("UPDATE resources SET status = 'paid' WHERE address = 'oss'");
    assert!(
        refused.is_err(),
        "the migrated constraint still refuses unknown statuses"
    );
}
