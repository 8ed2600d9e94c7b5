//! The library against the fake code host (`pai_testkit::forge`): real HTTP, real paths,
//! pagination and authentication, for GitHub and GitLab alike.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pai_forge::comment::{fit, marker, CommentAction};
use pai_forge::context::{Forge, ForgeContext, Token};
use pai_forge::drift::{Drift, PlanDocument, LABEL};
use pai_forge::publish::{file_drift, post_comment};
use pai_forge::{Client, Retry};
use pai_planner::{Action, Plan};
use pai_state::StateSnapshot;
use pai_testkit::fixtures::pai_and_oss_manifest;
use pai_testkit::forge::{Effect, FakeForge, Fault, Kind};

const TOKEN: &str = "glpat-Fake-Forge-Token-0123";
const RUN: &str = "https://ci.example/runs/77";

fn project(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => "acme/infra",
        // A project path: `/` must be encoded in the URL.
        Forge::GitLab => "acme/infra",
    }
}

fn kind(forge: Forge) -> Kind {
    match forge {
        Forge::GitHub => Kind::GitHub,
        Forge::GitLab => Kind::GitLab,
    }
}

fn client(fake: &FakeForge, forge: Forge, pr: Option<u64>, token: &str) -> Client {
    let context = ForgeContext {
        forge,
        api_url: match forge {
            Forge::GitHub => fake.github_url(),
            Forge::GitLab => fake.gitlab_url(),
        },
        repo: project(forge).to_owned(),
        pr,
        token: Token::new(token.to_owned()),
        run_url: Some(RUN.to_owned()),
        author: None,
    };
    Client::new(context, Duration::from_secs(10)).expect("a client")
}

fn drifts(actions: [Action; 2]) -> Vec<Drift> {
    let manifest = pai_and_oss_manifest("http://127.0.0.1:9");
    let mut plan = Plan::build(
        &manifest,
        "m.toml",
        &StateSnapshot::default(),
        None,
        &|_| "x".into(),
        time::OffsetDateTime::UNIX_EPOCH,
    );
    for (change, action) in plan.changes.iter_mut().zip(actions) {
        change.action = action;
    }
    PlanDocument::Single(Box::new(plan)).drifts().expect("drifts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pushes_leave_one_comment_updated_in_place() {
    for forge in [Forge::GitHub, Forge::GitLab] {
        let fake = FakeForge::start(&tokio::runtime::Handle::current(), TOKEN);
        let p = project(forge);
        // Enough comments of others to span pages, and one of another key.
        for i in 0..3 {
            fake.add_comment(kind(forge), p, 7, &format!("review {i}"), forge == Forge::GitLab);
        }
        let other = fake.add_comment(
            kind(forge),
            p,
            7,
            &format!("{}\nstaging plan", marker("staging")),
            false,
        );
        let c = client(&fake, forge, Some(7), TOKEN);
        let mut ids = vec![];
        for push in 1..=3 {
            let body = fit("prod", &format!("Plan of push {push}\n"), forge.comment_limit(), None)
                .expect("fits")
                .body;
            let posted = post_comment(&c, "prod", &body, false).await.expect("posted");
            assert_eq!(
                posted.action == CommentAction::Create,
                push == 1,
                "{forge:?} push {push}"
            );
            let url = posted.url.expect("a URL");
            assert!(url.contains("/7"), "{url}");
            ids.push(url);
        }
        let store = fake.store();
        let mine: Vec<_> = store
            .comments_on(p, 7)
            .into_iter()
            .filter(|c| c.body.contains(&marker("prod")))
            .collect();
        assert_eq!(mine.len(), 1, "{forge:?}: {mine:?}");
        assert_eq!(mine[0].edits, 2);
        assert!(mine[0].body.contains("Plan of push 3"));
        assert_eq!(ids[0], ids[2], "the same comment each time");
        let untouched = store.comments.iter().find(|c| c.id == other).expect("the other key's");
        assert_eq!(untouched.edits, 0);
        // The listing took several pages.
        let lists = store
            .calls
            .iter()
            .filter(|c| c.starts_with("GET") && c.contains("/7/"))
            .count();
        assert!(lists >= 2 + 3 + 3, "{forge:?}: {:?}", store.calls);

        // A dry run says what it would do, and writes nothing.
        let before = fake.store().writes().len();
        let dry = post_comment(&c, "prod", "x", true).await.expect("a dry run");
        assert!(matches!(dry.action, CommentAction::Update { .. }));
        assert_eq!(fake.store().writes().len(), before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_opens_once_updates_while_it_lasts_and_closes_when_gone() {
    for forge in [Forge::GitHub, Forge::GitLab] {
        let fake = FakeForge::start(&tokio::runtime::Handle::current(), TOKEN);
        let p = project(forge);
        let c = client(&fake, forge, None, TOKEN);
        // Another key's drift issue and an unrelated labelled issue: never touched.
        let theirs = fake.add_issue(
            kind(forge),
            p,
            "their drift",
            "<!-- pai-provision:drift:staging:00000000000000aa -->\n",
            &[LABEL],
        );
        let bug = fake.add_issue(kind(forge), p, "a bug", "labelled by hand", &[LABEL]);

        let both = drifts([Action::Adopt, Action::Order]);
        let first = file_drift(&c, "prod", &both, &[], Some(RUN), false)
            .await
            .expect("first run");
        assert_eq!(
            (first.opened.len(), first.updated.len(), first.closed.len()),
            (2, 0, 0),
            "{forge:?}"
        );
        assert!(first.would_order);
        let again = file_drift(&c, "prod", &both, &[], Some(RUN), false)
            .await
            .expect("second run");
        assert_eq!(
            (again.opened.len(), again.updated.len(), again.closed.len()),
            (0, 2, 0),
            "{forge:?}"
        );
        assert_eq!(fake.store().open_issues(p).len(), 4);

        // The order went through; the adopt is still there (recorded only).
        let adopt_only = drifts([Action::Adopt, Action::Noop]);
        let third = file_drift(&c, "prod", &adopt_only, &[], Some(RUN), false)
            .await
            .expect("third run");
        assert_eq!(
            (third.opened.len(), third.updated.len(), third.closed.len()),
            (0, 1, 1),
            "{forge:?}"
        );
        assert!(!third.would_order);
        let store = fake.store();
        let closed = store.issues.iter().find(|i| !i.open).expect("a closed issue");
        assert_eq!(closed.comments.len(), 1);
        assert!(
            closed.comments[0].body.contains("Resolved") && closed.comments[0].body.contains(RUN),
            "{:?}",
            closed.comments
        );
        for n in [theirs, bug] {
            let i = store.issue(p, n).expect("still there");
            assert!(i.open && i.edits == 0 && i.comments.is_empty(), "{forge:?}: {i:?}");
        }
        // Every issue it opened carries the label, and was edited only while drifting.
        for i in store.issues.iter().filter(|i| i.number != theirs && i.number != bug) {
            assert!(i.labels.contains(&LABEL.to_owned()), "{i:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_names_the_status_and_the_forge_s_message_never_the_token() {
    for forge in [Forge::GitHub, Forge::GitLab] {
        let fake = FakeForge::start(&tokio::runtime::Handle::current(), TOKEN);
        let wrong = "wrong-token-9f8e7d";
        let c = client(&fake, forge, Some(1), wrong);
        let err = post_comment(&c, "prod", "x", false)
            .await
            .expect_err("refused")
            .to_string();
        assert!(err.contains("HTTP 401"), "{err}");
        assert!(
            err.contains(if forge == Forge::GitHub {
                "Bad credentials"
            } else {
                "401 Unauthorized"
            }),
            "{err}"
        );
        assert!(!err.contains(wrong) && !err.contains(TOKEN), "{err}");
        assert!(format!("{c:?}").contains("Token(***)") && !format!("{c:?}").contains(wrong));
        assert!(fake.store().calls.iter().all(|c| c.ends_with(" 401")));
    }
}

/// An update answered 500 is sent again (doing it twice is doing it once), and a listing refused
/// for a spent rate limit waits for the limit's reset, then goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_writes_are_retried_and_a_spent_rate_limit_is_waited_out() {
    for forge in [Forge::GitHub, Forge::GitLab] {
        let fake = FakeForge::start(&tokio::runtime::Handle::current(), TOKEN);
        let c = client(&fake, forge, None, TOKEN);
        let both = drifts([Action::Adopt, Action::Order]);
        file_drift(&c, "prod", &both, &[], Some(RUN), false)
            .await
            .expect("first run");
        let update = match forge {
            Forge::GitHub => "PATCH",
            Forge::GitLab => "PUT",
        };
        fake.inject(Fault::status(update, "/issues/", 500));
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs()
            + 2;
        let spent = match forge {
            Forge::GitHub => Effect::Refuse {
                status: 403,
                headers: vec![
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", reset.to_string()),
                ],
            },
            Forge::GitLab => Effect::Refuse {
                status: 429,
                headers: vec![
                    ("ratelimit-remaining", "0".into()),
                    ("ratelimit-reset", reset.to_string()),
                ],
            },
        };
        fake.inject(Fault::new("GET", "/issues", spent).at_end());
        let started = Instant::now();
        let again = file_drift(&c, "prod", &both, &[], Some(RUN), false)
            .await
            .expect("second run");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{forge:?}: the reset was waited for"
        );
        assert_eq!((again.opened.len(), again.updated.len()), (0, 2), "{forge:?}");
        let store = fake.store();
        assert_eq!(store.faults_left(), 0, "{forge:?}: {:?}", store.calls);
        assert_eq!(store.open_issues(project(forge)).len(), 2, "{forge:?}");
    }
}

/// With retries off, the first 5xx is the error: the retries are the client's, and only its.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_a_5xx_fails_at_once() {
    let fake = FakeForge::start(&tokio::runtime::Handle::current(), TOKEN);
    let c = client(&fake, Forge::GitHub, Some(3), TOKEN).with_retry(Retry::never());
    fake.inject(Fault::status("GET", "/comments", 503));
    let err = post_comment(&c, "prod", "x", false)
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("HTTP 503"), "{err}");
    assert_eq!(fake.store().calls.len(), 1);
}
