//! A forge that fails, rate-limits, answers late or loses an answer: each call is retried as
//! far as sending it again cannot do twice what it asks, within `--timeout` each; a post whose
//! outcome is unknown is looked for before it is posted again.

use std::time::{Duration, Instant};

use pai_testkit::forge::{Effect, FakeForge, Fault};

use super::support::runtime;
use super::{markdown_dir, ok, run, Ci, DIGEST, TOKEN};

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
