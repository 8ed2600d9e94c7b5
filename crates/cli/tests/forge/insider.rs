//! What an insider could make the bot do, refused: a marker line pasted in their own comment or
//! issue (only the token's identity's count), and a redirect that would carry the token to
//! another host (none is followed).

use pai_testkit::forge::{FakeForge, FakeUser, Kind};

use super::support::{runtime, Setup};
use super::{
    count, drift, markdown_dir, marked, ok, plan_out, printed_url, products, run, Ci, DIGEST, FORGED, PR, TOKEN,
};

/// An insider comments first with the marker line and a digest of their choosing: the bot
/// never edits their comment (an apply job reading the bot's comment would find nothing, or
/// their digest), it creates its own and keeps it; at -v it says what it ignored.
#[test]
fn a_person_s_comment_carrying_the_marker_is_never_edited() {
    let runtime = runtime();
    for ci in [Ci::GitHub, Ci::GitLab] {
        let fake = FakeForge::start(runtime.handle(), TOKEN);
        let env = ci.env(&fake);
        let dir = markdown_dir(DIGEST);
        let forged = format!("<!-- pai-provision:plan:prod -->\nPlan digest: `{FORGED}`\n");
        let theirs = fake.add_comment(ci.kind(), ci.project(), PR, &forged, false);
        let first = ok(dir.path(), &env, &["-v", "comment", "plan.md", "--key", "prod"]);
        let url = printed_url(&first, "created");
        assert!(
            first.stderr.contains("ignored") && first.stderr.contains(&format!("{theirs}")),
            "{ci:?}: -v says which comment was ignored: {}",
            first.describe()
        );
        let second = ok(dir.path(), &env, &["comment", "plan.md", "--key", "prod"]);
        assert_eq!(printed_url(&second, "updated"), url, "{ci:?}");
        let store = fake.store();
        let person = store.comments.iter().find(|c| c.id == theirs).expect("theirs");
        assert_eq!((person.edits, person.body.as_str()), (0, forged.as_str()), "{ci:?}");
        let bot = store.bot(ci.kind());
        let ours: Vec<_> = marked(&store, ci, "prod")
            .into_iter()
            .filter(|(id, _, _)| *id != theirs)
            .collect();
        assert_eq!(ours.len(), 1, "{ci:?}: {ours:?}");
        assert!(ours[0].1.contains(DIGEST) && ours[0].2 == 1, "{ci:?}: {ours:?}");
        assert!(
            store.comments.iter().all(|c| c.id == theirs || c.author == *bot),
            "{ci:?}"
        );
    }
}

/// The bot's comment is there, and below it in the listing order (older, a lower id) someone
/// else's copy of it with another digest, or a look-alike login: the run reads the bot's
/// comment, and its dry run names it.
#[test]
fn a_copy_of_the_bot_s_comment_by_someone_else_is_ignored_when_reading() {
    let runtime = runtime();
    for ci in [Ci::GitHub, Ci::GitLab] {
        let fake = FakeForge::start(runtime.handle(), TOKEN);
        let env = ci.env(&fake);
        let dir = markdown_dir(DIGEST);
        let bot = fake.bot(ci.kind());
        let forged = format!("<!-- pai-provision:plan:prod -->\nPlan digest: `{FORGED}`\n");
        // The bot's login without `[bot]` on GitHub; on GitLab the bot's name, not its id.
        let look_alike = FakeUser::new(bot.id + 1, bot.login.trim_end_matches("[bot]"));
        let copy = fake.add_comment_by(ci.kind(), ci.project(), PR, &forged, false, &look_alike);
        let genuine = format!("<!-- pai-provision:plan:prod -->\nPlan digest: `{DIGEST}`\n");
        let ours = fake.add_comment_by(ci.kind(), ci.project(), PR, &genuine, false, &bot);
        let dry = ok(dir.path(), &env, &["comment", "plan.md", "--key", "prod", "--dry-run"]);
        assert!(
            dry.stdout.contains("would update comment ") && dry.stdout.contains(&format!("{ours}")),
            "{ci:?}: {}",
            dry.describe()
        );
        ok(dir.path(), &env, &["comment", "plan.md", "--key", "prod"]);
        let store = fake.store();
        let edits = |id: u64| store.comments.iter().find(|c| c.id == id).map(|c| c.edits);
        assert_eq!((edits(copy), edits(ours)), (Some(0), Some(1)), "{ci:?}");
        assert_eq!(store.comments.len(), 2, "{ci:?}: nothing created");
    }
}

/// A GitHub App's token (or a person's) writes as another login: `--author` names it. Without
/// it, the run fails once it sees whom its comment is by, naming the flag to give.
#[test]
fn author_names_the_login_a_github_token_writes_as() {
    let runtime = runtime();
    let fake = FakeForge::start(runtime.handle(), TOKEN);
    let app = FakeUser::new(7_001, "acme-planner[bot]");
    fake.act_as(Kind::GitHub, app.clone());
    let env = Ci::GitHub.env(&fake);
    let dir = markdown_dir(DIGEST);
    let args = ["comment", "plan.md", "--key", "prod", "--author", "acme-planner[bot]"];
    let url = printed_url(&ok(dir.path(), &env, &args), "created");
    assert_eq!(printed_url(&ok(dir.path(), &env, &args), "updated"), url);
    assert_eq!(fake.store().comments.len(), 1);

    let other = tempfile::tempdir().expect("a directory");
    std::fs::write(other.path().join("plan.md"), "Plan: 1 to order\n").expect("write");
    let wrong = run(other.path(), &env, &["comment", "plan.md", "--key", "staging"]);
    assert_eq!(wrong.code, Some(1), "{}", wrong.describe());
    assert!(
        wrong.stderr.contains("--author acme-planner[bot]") && wrong.stderr.contains("github-actions[bot]"),
        "{}",
        wrong.describe()
    );

    // GitLab asks whom the token acts as: --author has nothing to say there.
    let refused = run(
        dir.path(),
        &Ci::GitLab.env(&fake),
        &["comment", "plan.md", "--key", "prod", "--author", "someone"],
    );
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(refused.stderr.contains("--author"), "{}", refused.describe());
}

/// A drift issue with the label and the marker of a drift of this key, opened by someone else:
/// not ours. It is neither updated nor closed, and ours is opened beside it.
#[test]
fn a_drift_issue_by_someone_else_is_neither_updated_nor_closed() {
    for ci in [Ci::GitHub, Ci::GitLab] {
        let setup = Setup::new(&products(&["dataworks"]));
        let fake = FakeForge::start(setup.handle(), TOKEN);
        let mut env = ci.env(&fake);
        env.retain(|(k, _)| k != "GITHUB_REF" && k != "CI_MERGE_REQUEST_IID");
        let dir = setup.work.path();
        plan_out(&setup, "order.json");
        let dry = ok(
            dir,
            &env,
            &["drift", "order.json", "--key", "prod", "--format", "json", "--dry-run"],
        )
        .json();
        let fingerprint = dry["opened"][0]["fingerprint"].as_str().unwrap_or_default().to_owned();
        assert_eq!(fingerprint.len(), 16, "{dry:#}");
        let label = ["pai-provision-drift"];
        let same = fake.add_issue(
            ci.kind(),
            ci.project(),
            "Drift: order products.dataworks (DataWorks)",
            &format!("<!-- pai-provision:drift:prod:{fingerprint} -->\nsee me"),
            &label,
        );
        let gone = fake.add_issue(
            ci.kind(),
            ci.project(),
            "Drift: order products.pai (PAI_share)",
            "<!-- pai-provision:drift:prod:00000000000000aa -->\nclose me",
            &label,
        );
        for night in 0..2 {
            let report = drift(dir, &env, "prod", &["order.json"]);
            let want = if night == 0 { (1, 0, 0) } else { (0, 1, 0) };
            assert_eq!(
                (
                    count(&report, "opened"),
                    count(&report, "updated"),
                    count(&report, "closed")
                ),
                want,
                "{ci:?} night {night}: {report:#}"
            );
        }
        let store = fake.store();
        for n in [same, gone] {
            let i = store.issue(ci.project(), n).expect("still there");
            assert!(i.open && i.edits == 0 && i.comments.is_empty(), "{ci:?}: {i:?}");
        }
        assert_eq!(store.open_issues(ci.project()).len(), 3, "{ci:?}");
    }
}

/// A 302 from the API to another host: not followed, whatever the header the token is in;
/// the other host receives nothing, and the error names the status and the host.
#[test]
fn a_redirect_to_another_host_is_refused_and_the_token_goes_nowhere() {
    let runtime = runtime();
    let dir = markdown_dir(DIGEST);
    for ci in [Ci::GitHub, Ci::GitLab] {
        let fake = FakeForge::start(runtime.handle(), TOKEN);
        let elsewhere = FakeForge::start(runtime.handle(), TOKEN);
        fake.redirect_to(&match ci {
            Ci::GitHub => elsewhere.github_url(),
            Ci::GitLab => elsewhere.gitlab_url(),
        });
        let refused = run(dir.path(), &ci.env(&fake), &["comment", "plan.md", "--key", "prod"]);
        assert_eq!(refused.code, Some(1), "{ci:?}: {}", refused.describe());
        assert!(
            refused.stderr.contains("HTTP 302")
                && refused.stderr.contains(&elsewhere.host())
                && refused.stderr.contains("not sent"),
            "{ci:?}: {}",
            refused.describe()
        );
        let there = elsewhere.store();
        assert!(
            there.calls.is_empty() && there.credentials_seen == 0,
            "{ci:?}: {:?}",
            there.calls
        );
        assert_eq!(fake.store().calls.len(), 1, "{ci:?}: no retry of a redirect");
    }
}
