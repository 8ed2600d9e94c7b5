//! The change freeze and the provenance of every run, on both backends (as `store.rs`): real
//! SQLite files and real PostgreSQL schemas on the server of `PAI_TEST_POSTGRES_URL`.

mod support;

use pai_spec::ProductCode;
use pai_state::{OrderOutcome, Provenance, RunResult, Store};
use support::{addr, product, Backend};

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
    a_freeze_creates_the_state_and_is_recorded_with_who_when_and_why,
    unfreeze_lifts_the_freeze_and_records_whose_it_was,
    every_run_records_its_provenance_and_a_copy_keeps_it,
    a_version_3_state_is_migrated_to_record_provenance,
);

fn ci() -> Provenance {
    Provenance {
        ci: Some("github-actions".into()),
        repository: Some("acme/infra".into()),
        pull_request: Some("42".into()),
        commit: Some("0123abcd".into()),
        actor: Some("alice".into()),
        run_url: Some("https://github.com/acme/infra/actions/runs/9".into()),
        user: "runner@ci-7".into(),
        plan_digest: Some("sha256:00ff".into()),
        fleet_plan_digest: None,
        // The verdict goes through both backends (and `state migrate`) with the rest.
        policy: Some(pai_state::PolicyRecord::new(
            "sha256:11ee",
            0,
            [("review.rego", "not made for a pull request")].into_iter(),
        )),
    }
}

fn a_freeze_creates_the_state_and_is_recorded_with_who_when_and_why(b: &Backend) {
    let mut w = b.writer().with_provenance(ci());
    assert_eq!(
        w.freeze("quarter-end close").unwrap(),
        None,
        "nothing was frozen before"
    );
    drop(w);
    let store = b.store();
    let snap = store.snapshot().unwrap();
    assert!(snap.lineage.is_some(), "the freeze created the state");
    assert_eq!(snap.serial, 0, "a freeze changes no resource: the serial stays");
    let freeze = snap.freeze.expect("frozen");
    assert_eq!(freeze.by, "runner@ci-7");
    assert_eq!(freeze.actor.as_deref(), Some("alice"));
    assert_eq!(freeze.reason, "quarter-end close");
    assert!(pai_state::clock::parse(&freeze.at).is_some(), "{}", freeze.at);
    let history = store.history(None).unwrap();
    assert_eq!(history.runs.len(), 1);
    assert_eq!(history.runs[0].command, "state freeze");
    assert_eq!(history.runs[0].result.as_deref(), Some("succeeded"));
    assert_eq!(history.runs[0].provenance, Some(ci()));
    assert_eq!(history.events.len(), 1);
    assert_eq!(history.events[0].action, "freeze");
    assert_eq!(history.events[0].message.as_deref(), Some("quarter-end close"));

    // A second freeze replaces the first, and says so in its record.
    let mut w = b.writer();
    let replaced = w.freeze("audit").unwrap().expect("the first freeze");
    assert_eq!(replaced.reason, "quarter-end close");
    assert_eq!(
        w.snapshot().unwrap().freeze.unwrap().reason.split(" (").next(),
        Some("audit")
    );
}

fn unfreeze_lifts_the_freeze_and_records_whose_it_was(b: &Backend) {
    let mut w = b.writer().with_provenance(ci());
    let run = w.begin_run("apply").unwrap();
    w.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
        .unwrap();
    w.mark_active(run, &[addr("pai")], &OrderOutcome::default()).unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();
    assert_eq!(w.unfreeze().unwrap(), None, "not frozen: nothing to lift");
    let before = Store::open_read_only(b.location()).unwrap().history(None).unwrap();
    assert_eq!(before.runs.len(), 1, "an unfreeze of a state not frozen writes nothing");

    w.freeze("incident 12").unwrap();
    let lifted = w.unfreeze().unwrap().expect("the freeze it lifted");
    assert_eq!(lifted.reason, "incident 12");
    drop(w);
    let store = b.store();
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.freeze, None);
    assert_eq!(snap.serial, 2, "neither freeze nor unfreeze bumps the serial");
    let history = store.history(None).unwrap();
    let last = history.events.last().unwrap();
    assert_eq!(last.action, "unfreeze");
    let message = last.message.as_deref().unwrap();
    assert!(
        message.contains("runner@ci-7 (CI actor alice)") && message.contains("incident 12"),
        "{message}"
    );
}

fn every_run_records_its_provenance_and_a_copy_keeps_it(b: &Backend) {
    let mut w = b.writer().with_provenance(ci());
    let run = w.begin_run("apply").unwrap();
    w.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
        .unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();
    drop(w);
    // A writer left to itself records this process's provenance.
    let mut w = b.writer();
    let run = w.begin_run("refresh").unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();
    drop(w);
    let history = b.store().history(None).unwrap();
    assert_eq!(history.runs[0].provenance, Some(ci()));
    assert_eq!(history.runs[1].provenance, Some(Provenance::of_process()));
    assert!(
        b.raw_sql("UPDATE runs SET provenance = NULL WHERE id = 1").is_err(),
        "a run's provenance is written once"
    );

    let dir = tempfile::tempdir().unwrap();
    let copy = pai_state::StateLocation::File(dir.path().join("copy.db"));
    pai_state::migrate(&b.location(), &copy, std::time::Duration::ZERO).unwrap();
    let copied = Store::open_read_only(copy).unwrap().history(None).unwrap();
    assert_eq!(copied.runs, history.runs);
}

fn a_version_3_state_is_migrated_to_record_provenance(b: &Backend) {
    let mut w = b.writer().with_provenance(ci());
    let run = w.begin_run("apply").unwrap();
    w.put_pending(run, &[&product("pai", ProductCode::Pai, "cn-hangzhou")])
        .unwrap();
    w.end_run(run, &RunResult::Succeeded).unwrap();
    drop(w);
    let before = b.store().snapshot().unwrap();
    // Put the state back as version 3 wrote it.
    let downgrade = match b {
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
        Backend::Postgres { .. } => {
            "DROP INDEX events_freezes;
             ALTER TABLE runs DROP COLUMN provenance;
             CREATE OR REPLACE FUNCTION runs_close_once() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF OLD.ended_at IS NOT NULL OR NEW.id IS DISTINCT FROM OLD.id
                    OR NEW.command IS DISTINCT FROM OLD.command OR NEW.started_at IS DISTINCT FROM OLD.started_at THEN
                     RAISE EXCEPTION 'the history is append-only';
                 END IF;
                 RETURN NEW;
             END $$;
             UPDATE meta SET schema_version = 3;"
        }
    };
    b.raw_sql(downgrade).unwrap();
    let Err(refused) = Store::open_read_only(b.location()) else {
        panic!("a reader refuses an older state")
    };
    assert!(refused.to_string().contains("upgrades it"), "{refused}");

    let mut w = b.writer().with_provenance(ci());
    assert_eq!(w.snapshot().unwrap(), before, "rows read back as they were");
    w.freeze("migrated").unwrap();
    drop(w);
    let store = b.store();
    let history = store.history(None).unwrap();
    assert_eq!(history.runs[0].provenance, None, "runs before version 4 have none");
    assert_eq!(history.runs[1].provenance, Some(ci()));
    assert_eq!(store.snapshot().unwrap().freeze.unwrap().reason, "migrated");
    assert!(b.raw_sql("UPDATE runs SET provenance = '{}' WHERE id = 2").is_err());
}
