//! A forge that fails, rate-limits, answers late or loses an answer: each call is retried as
//! far as sending it again cannot do twice what it asks, within `--timeout` each; a post whose
//! outcome is unknown is looked for before it is posted again.

use std::time::{Duration, Instant};

use pai_testkit::forge::{Effect, FakeForge, Fault};

use super::support::{runtime, Setup};
use super::{count, drift, markdown_dir, ok, plan_out, products, run, Ci, DIGEST, TOKEN};

/// A 5xx on a listing, a 429 with `Retry-After` on the post: each retried, after the wait the
/// forge asked for, and the comment is there once.
#[test]
fn a_5xx_or_a_429_is_retried_and_the_run_succeeds() {
    let runtime = runtime();
    let dir = markdown_dir(DIGEST);
    for ci in [Ci::GitHub, Ci::GitLab] {
        let fake = FakeForge::start(runtime.handle(), TOKEN);
        let listing = match ci {
            Ci::GitHub => "/comments",
            Ci::GitLab => "/notes",
        };
        fake.inject(Fault::status("GET", listing, 502));
        fake.inject(Fault::status("GET", listing, 503));
        fake.inject(Fault::new(
            "POST",
            listing,
            Effect::Refuse {
                status: 429,
                headers: vec![("retry-after", "1".into())],
            },
        ));
        if ci == Ci::GitLab {
            fake.inject(Fault::status("GET", "/api/v4/user", 500));
        }
        let started = Instant::now();
        let done = ok(dir.path(), &ci.env(&fake), &["comment", "plan.md", "--key", "prod"]);
        assert!(done.stdout.starts_with("created comment "), "{}", done.describe());
        assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
        let store = fake.store();
        assert_eq!(store.faults_left(), 0, "{ci:?}: {:?}", store.calls);
        assert_eq!(store.comments.len(), 1, "{ci:?}: {:?}", store.calls);
    }
}

/// `--timeout` is each forge call's: a listing answered after 5 s is given up after 1 s and
/// asked again; one that is always late fails the run, saying so.
#[test]
fn the_timeout_flag_bounds_each_forge_call() {
    let runtime = runtime();
    let dir = markdown_dir(DIGEST);
    let fake = FakeForge::start(runtime.handle(), TOKEN);
    let env = Ci::GitHub.env(&fake);
    fake.inject(Fault::new("GET", "/comments", Effect::Delay(Duration::from_secs(5))));
    let started = Instant::now();
    let done = ok(
        dir.path(),
        &env,
        &["comment", "plan.md", "--key", "prod", "--timeout", "1s"],
    );
    assert!(done.stdout.starts_with("created comment "), "{}", done.describe());
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.store().comments.len(), 1);

    fake.inject(Fault::new("GET", "/comments", Effect::Delay(Duration::from_secs(5))).times(20));
    let started = Instant::now();
    let late = run(
        dir.path(),
        &env,
        &["comment", "plan.md", "--key", "prod", "--timeout", "300ms"],
    );
    assert_eq!(late.code, Some(1), "{}", late.describe());
    assert!(
        late.stderr.contains("timed out") && late.stderr.contains("--timeout"),
        "{}",
        late.describe()
    );
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

/// The forge did the post and the answer was lost (or it answered 5xx, which says nothing of
/// whether it did): the run lists again, finds its own comment and does not post a second.
#[test]
fn a_post_whose_answer_is_lost_creates_no_duplicate_comment() {
    let runtime = runtime();
    let dir = markdown_dir(DIGEST);
    for ci in [Ci::GitHub, Ci::GitLab] {
        for effect in [
            Effect::LoseAnswer,
            Effect::Refuse {
                status: 503,
                headers: vec![],
            },
        ] {
            let fake = FakeForge::start(runtime.handle(), TOKEN);
            let listing = match ci {
                Ci::GitHub => "/comments",
                Ci::GitLab => "/notes",
            };
            fake.inject(Fault::new("POST", listing, effect.clone()));
            let done = ok(dir.path(), &ci.env(&fake), &["comment", "plan.md", "--key", "prod"]);
            assert!(done.stdout.starts_with("created comment "), "{}", done.describe());
            let store = fake.store();
            assert_eq!(store.faults_left(), 0);
            assert_eq!(store.comments.len(), 1, "{ci:?} {effect:?}: {:?}", store.calls);
        }
    }
}

/// The same for drift: an issue opened whose answer was lost is found, not opened again; a
/// closing comment whose answer was lost is not posted twice.
#[test]
fn a_drift_post_whose_answer_is_lost_creates_no_duplicate() {
    for ci in [Ci::GitHub, Ci::GitLab] {
        let setup = Setup::new(&products(&["dataworks", "pai"]));
        let fake = FakeForge::start(setup.handle(), TOKEN);
        let mut env = ci.env(&fake);
        env.retain(|(k, _)| k != "GITHUB_REF" && k != "CI_MERGE_REQUEST_IID");
        let dir = setup.work.path();
        plan_out(&setup, "both.json");
        // PAI taken out of the manifest: its drift is gone.
        setup.want(&products(&["dataworks"]));
        plan_out(&setup, "one.json");

        fake.inject(Fault::new("POST", "/issues", Effect::LoseAnswer).at_end());
        let first = drift(dir, &env, "prod", &["both.json"]);
        assert_eq!(count(&first, "opened"), 2, "{ci:?}: {first:#}");
        assert_eq!(fake.store().open_issues(ci.project()).len(), 2, "{ci:?}");

        let closing = match ci {
            Ci::GitHub => "/comments",
            Ci::GitLab => "/notes",
        };
        fake.inject(Fault::new("POST", closing, Effect::LoseAnswer));
        let second = drift(dir, &env, "prod", &["one.json"]);
        assert_eq!(
            (count(&second, "updated"), count(&second, "closed")),
            (1, 1),
            "{ci:?}: {second:#}"
        );
        let store = fake.store();
        assert_eq!(store.faults_left(), 0, "{ci:?}");
        let closed: Vec<_> = store.issues.iter().filter(|i| !i.open).collect();
        assert_eq!(closed.len(), 1, "{ci:?}");
        assert_eq!(closed[0].comments.len(), 1, "{ci:?}: {:?}", closed[0].comments);
    }
}
