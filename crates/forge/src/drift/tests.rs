use pai_planner::{Action, Plan};
use pai_state::StateSnapshot;
use pai_testkit::fixtures::pai_and_oss_manifest;

use super::{
    closing_comment, closing_marker, fingerprint, issue_marker, marked_fingerprint, reconcile, Drift, Issue,
    IssueAction, PlanDocument,
};
use crate::comment::carries;
use crate::identity::{Author, Identity, GITHUB_ACTIONS};

fn me() -> Identity {
    Identity::Login(GITHUB_ACTIONS.to_owned())
}

fn bot() -> Author {
    Author {
        id: Some(41_898_282),
        login: GITHUB_ACTIONS.to_owned(),
    }
}

/// A real plan of PAI and OSS on an empty state: two `order`s, then the actions given.
fn plan(actions: [Action; 2], created_at: time::OffsetDateTime) -> Plan {
    let manifest = pai_and_oss_manifest("http://127.0.0.1:9");
    let mut plan = Plan::build(
        &manifest,
        "m.toml",
        &StateSnapshot::default(),
        None,
        &|_| "x".into(),
        created_at,
    );
    for (change, action) in plan.changes.iter_mut().zip(actions) {
        change.action = action;
        change.reason = format!("reason at {created_at}");
    }
    plan
}

fn drifts(actions: [Action; 2]) -> Vec<Drift> {
    PlanDocument::Single(Box::new(plan(actions, time::OffsetDateTime::UNIX_EPOCH)))
        .drifts()
        .expect("a single plan always reads")
}

#[test]
fn every_change_but_a_noop_is_a_drift_with_a_fingerprint_that_lasts() {
    let early = PlanDocument::Single(Box::new(plan(
        [Action::Adopt, Action::Order],
        time::OffsetDateTime::UNIX_EPOCH,
    )));
    let later = PlanDocument::Single(Box::new(plan(
        [Action::Adopt, Action::Order],
        time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(3),
    )));
    let (a, b) = (early.drifts().expect("drifts"), later.drifts().expect("drifts"));
    assert_eq!(a.len(), 2);
    // The time and the reason changed; the drifts did not.
    assert_ne!(a[0].reason, b[0].reason);
    let fps = |d: &[Drift]| d.iter().map(|d| d.fingerprint.clone()).collect::<Vec<_>>();
    assert_eq!(fps(&a), fps(&b));
    assert_ne!(a[0].fingerprint, a[1].fingerprint);

    // (actions, the actions drifting, whether some would place an order)
    let table: [([Action; 2], Vec<Action>, bool); 6] = [
        ([Action::Noop, Action::Noop], vec![], false),
        ([Action::Adopt, Action::Noop], vec![Action::Adopt], false),
        (
            [Action::Forget, Action::Conflict],
            vec![Action::Forget, Action::Conflict],
            false,
        ),
        ([Action::Noop, Action::Order], vec![Action::Order], true),
        (
            [Action::Reorder, Action::Adopt],
            vec![Action::Reorder, Action::Adopt],
            true,
        ),
        ([Action::Conflict, Action::Noop], vec![Action::Conflict], false),
    ];
    for (actions, want, orders) in table {
        let got = drifts(actions);
        assert_eq!(got.iter().map(|d| d.action).collect::<Vec<_>>(), want, "{actions:?}");
        assert_eq!(got.iter().any(Drift::would_order), orders, "{actions:?}");
    }
    // Another action on the same address is another drift; so is another account.
    // (The changes are sorted: OSS first.)
    let adopt = fingerprint("", "products.oss", "OSS_share", Action::Adopt);
    assert_eq!(drifts([Action::Adopt, Action::Noop])[0].fingerprint, adopt);
    assert_ne!(adopt, fingerprint("", "products.oss", "OSS_share", Action::Reorder));
    assert_ne!(
        adopt,
        fingerprint("1234567890123456", "products.oss", "OSS_share", Action::Adopt)
    );
    assert_eq!(adopt.len(), 16);
}

#[test]
fn the_body_is_marked_and_says_whether_it_would_order() {
    let d = &drifts([Action::Reorder, Action::Noop])[0];
    let body = d.body("prod", Some("https://ci.example/run/1"));
    assert!(
        body.starts_with(&format!("{}\n", issue_marker("prod", &d.fingerprint))),
        "{body}"
    );
    assert_eq!(
        marked_fingerprint(&body, "prod").as_deref(),
        Some(d.fingerprint.as_str())
    );
    assert_eq!(marked_fingerprint(&body, "staging"), None);
    assert_eq!(marked_fingerprint(&body, "pro"), None);
    assert!(
        body.contains("**place an order**") && body.contains("https://ci.example/run/1"),
        "{body}"
    );
    assert_eq!(d.title, "Drift: reorder products.oss (OSS_share)");
}

fn issue(number: u64, key: &str, fp: &str) -> Issue {
    Issue {
        number,
        title: format!("issue {number}"),
        body: format!("{}\nbody", issue_marker(key, fp)),
        url: format!("https://forge/issues/{number}"),
        author: bot(),
    }
}

/// The same, opened by someone else.
fn theirs(number: u64, key: &str, fp: &str) -> Issue {
    Issue {
        author: Author {
            id: Some(501),
            login: "octo-alice".into(),
        },
        ..issue(number, key, fp)
    }
}

/// An action in short: `open FP`, `update N FP`, `close N FP`, `close N FP dup M`.
fn short(a: &IssueAction) -> String {
    match a {
        IssueAction::Open { drift } => format!("open {}", drift.fingerprint),
        IssueAction::Update { number, drift, .. } => format!("update {number} {}", drift.fingerprint),
        IssueAction::Close {
            number,
            fingerprint,
            duplicate_of,
            ..
        } => match duplicate_of {
            Some(of) => format!("close {number} {fingerprint} dup {of}"),
            None => format!("close {number} {fingerprint}"),
        },
    }
}

/// (name, open issues, drifts, the actions in short)
type Row = (&'static str, Vec<Issue>, Vec<Drift>, Vec<String>);

#[test]
fn reconcile_opens_updates_and_closes_only_its_own_key() {
    let d = drifts([Action::Adopt, Action::Order]);
    let (a, b) = (d[0].fingerprint.clone(), d[1].fingerprint.clone());
    let gone = "00000000000000aa".to_owned();
    let plain = Issue {
        number: 50,
        title: "a bug".into(),
        body: "nothing to do with drift".into(),
        url: "u".into(),
        author: bot(),
    };
    let table: Vec<Row> = vec![
        ("no drift, no issue", vec![], vec![], vec![]),
        (
            "new drift",
            vec![],
            d.clone(),
            vec![format!("open {a}"), format!("open {b}")],
        ),
        (
            "same drift again",
            vec![issue(7, "prod", &a), issue(8, "prod", &b)],
            d.clone(),
            vec![format!("update 7 {a}"), format!("update 8 {b}")],
        ),
        (
            "one resolved, one new",
            vec![issue(7, "prod", &a), issue(9, "prod", &gone)],
            vec![d[0].clone(), d[1].clone()],
            vec![format!("update 7 {a}"), format!("open {b}"), format!("close 9 {gone}")],
        ),
        (
            "all resolved",
            vec![issue(7, "prod", &a)],
            vec![],
            vec![format!("close 7 {a}")],
        ),
        // Another key's issue for the very same fingerprint, and an unrelated issue: untouched.
        (
            "another key",
            vec![issue(3, "staging", &a), issue(4, "staging", &gone), plain.clone()],
            vec![d[0].clone()],
            vec![format!("open {a}")],
        ),
        (
            "a key that prefixes this one",
            vec![issue(3, "prod-eu", &gone)],
            vec![],
            vec![],
        ),
        // Someone else's issues with this key's markers: not ours, whether drifting or gone.
        (
            "someone else's",
            vec![theirs(2, "prod", &a), theirs(3, "prod", &gone), issue(5, "prod", &b)],
            vec![d[0].clone()],
            vec![format!("open {a}"), format!("close 5 {b}")],
        ),
        // Two issues of one drift (two runs raced): the oldest is kept.
        (
            "duplicate",
            vec![issue(12, "prod", &a), issue(10, "prod", &a)],
            vec![d[0].clone()],
            vec![format!("update 10 {a}"), format!("close 12 {a} dup 10")],
        ),
        (
            "duplicates resolved",
            vec![issue(12, "prod", &a), issue(10, "prod", &a)],
            vec![],
            vec![format!("close 10 {a}"), format!("close 12 {a}")],
        ),
        // The same drift twice in the input (two plan files): one issue.
        (
            "repeated drift",
            vec![],
            vec![d[0].clone(), d[0].clone()],
            vec![format!("open {a}")],
        ),
    ];
    for (name, open, drifts, want) in table {
        let got: Vec<String> = reconcile(&open, &drifts, "prod", &me()).iter().map(short).collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn the_closing_comment_names_the_run_and_carries_its_marker() {
    let resolved = closing_comment("prod", "00000000000000aa", None, Some("https://ci/run/2"));
    assert!(
        resolved.contains("Resolved") && resolved.contains("https://ci/run/2"),
        "{resolved}"
    );
    assert!(
        carries(&resolved, &closing_marker("prod", "00000000000000aa")),
        "{resolved}"
    );
    assert!(
        !carries(&resolved, &closing_marker("prod", "00000000000000bb")),
        "{resolved}"
    );
    assert!(closing_comment("prod", "00000000000000aa", Some(10), None).contains("#10"));
}
