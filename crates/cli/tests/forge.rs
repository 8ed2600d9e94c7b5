//! `comment` and `drift` end to end: the real binary, its environment set as GitHub Actions
//! and GitLab CI set it, talking to the fake code host of `pai_testkit::forge` (real HTTP,
//! real paths, two items a page, 401 without the token), on plans the binary made against the
//! emulator. Each test checks the output and what the fake holds afterwards.
//!
//! Two more sets share the helpers below: `forge/insider.rs`, what someone with a comment box
//! or a redirecting proxy could make the bot do, and `forge/unreliable.rs`, a forge that fails,
//! rate-limits, answers late or loses an answer.

#[path = "forge/insider.rs"]
mod insider;
mod support;
#[path = "forge/unreliable.rs"]
mod unreliable;

use std::path::Path;

use pai_spec::ProductCode;
use pai_testkit::forge::{FakeForge, Kind, Store};
use serde_json::Value;
use support::fleet::{member, members, FleetSetup, Role};
use support::{binary, hangzhou, runtime, want, Run, Setup, Want};

const TOKEN: &str = "ghp_FakeForgeToken0123456789abcdef";
const REPO: &str = "acme/infra";
const PROJECT: &str = "42";
const PR: u64 = 7;
const GITHUB_RUN: &str = "https://github.example/acme/infra/actions/runs/9001";
const GITLAB_JOB: &str = "https://gitlab.example/acme/infra/-/jobs/77";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ci {
    GitHub,
    GitLab,
}

impl Ci {
    fn project(self) -> &'static str {
        match self {
            Ci::GitHub => REPO,
            Ci::GitLab => PROJECT,
        }
    }

    fn kind(self) -> Kind {
        match self {
            Ci::GitHub => Kind::GitHub,
            Ci::GitLab => Kind::GitLab,
        }
    }

    fn run_url(self) -> &'static str {
        match self {
            Ci::GitHub => GITHUB_RUN,
            Ci::GitLab => GITLAB_JOB,
        }
    }

    /// The variables the CI sets for a job of pull (merge) request `PR`, the token included.
    fn env(self, fake: &FakeForge) -> Vec<(String, String)> {
        let pairs: Vec<(&str, String)> = match self {
            Ci::GitHub => vec![
                ("GITHUB_ACTIONS", "true".into()),
                ("GITHUB_API_URL", fake.github_url()),
                ("GITHUB_SERVER_URL", "https://github.example".into()),
                ("GITHUB_REPOSITORY", REPO.into()),
                ("GITHUB_RUN_ID", "9001".into()),
                ("GITHUB_REF", format!("refs/pull/{PR}/merge")),
                ("GITHUB_TOKEN", TOKEN.into()),
            ],
            Ci::GitLab => vec![
                ("GITLAB_CI", "true".into()),
                ("CI_API_V4_URL", fake.gitlab_url()),
                ("CI_PROJECT_ID", PROJECT.into()),
                ("CI_MERGE_REQUEST_IID", PR.to_string()),
                ("CI_JOB_URL", GITLAB_JOB.into()),
                ("PAI_GITLAB_API_TOKEN", TOKEN.into()),
                // What GitLab also sets, and which cannot write notes: never used.
                ("CI_JOB_TOKEN", "job-token-not-to-be-used".into()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// `pai-provision ARGS` in `dir` with `env` only; the token never in its output.
fn run(dir: &Path, env: &[(String, String)], args: &[&str]) -> Run {
    let mut cmd = binary();
    cmd.current_dir(dir).envs(env.iter().map(|(k, v)| (k, v))).args(args);
    let run = Run::of(&mut cmd);
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "{}",
        run.describe()
    );
    run
}

fn ok(dir: &Path, env: &[(String, String)], args: &[&str]) -> Run {
    let run = run(dir, env, args);
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.describe());
    run
}

fn products(names: &[&str]) -> Vec<Want> {
    let hz = hangzhou();
    names
        .iter()
        .map(|n| match *n {
            "dataworks" => want(n, ProductCode::DataWorks, &hz),
            "pai" => want(n, ProductCode::Pai, &hz),
            "oss" => want(n, ProductCode::Oss, &hz),
            other => panic!("no product {other}"),
        })
        .collect()
}

/// `plan --format markdown` of the setup's manifest, as a pipeline saves it for `comment`.
fn markdown(setup: &Setup, file: &str) {
    let run = setup.work.run(&["plan", "--format", "markdown"]);
    assert!(matches!(run.code, Some(0 | 2)), "{}", run.describe());
    std::fs::write(setup.work.file(file), run.stdout).expect("write the Markdown");
}

fn plan_out(setup: &Setup, file: &str) {
    let run = setup.work.run(&["plan", "--out", file]);
    assert!(matches!(run.code, Some(0 | 2)), "{}", run.describe());
}

fn marked(store: &Store, ci: Ci, key: &str) -> Vec<(u64, String, usize)> {
    let marker = format!("<!-- pai-provision:plan:{key} -->");
    store
        .comments_on(ci.project(), PR)
        .into_iter()
        .filter(|c| c.kind == ci.kind() && c.body.lines().any(|l| l == marker))
        .map(|c| (c.id, c.body.clone(), c.edits))
        .collect()
}

#[test]
fn three_pushes_of_a_pull_request_leave_one_comment_updated_in_place() {
    for ci in [Ci::GitHub, Ci::GitLab] {
        let setup = Setup::new(&products(&["dataworks"]));
        let fake = FakeForge::start(setup.handle(), TOKEN);
        let env = ci.env(&fake);
        let dir = setup.work.path();
        // Reviews already on the pull request, over more than one page, and another key's plan.
        for i in 0..3 {
            fake.add_comment(ci.kind(), ci.project(), PR, &format!("review {i}"), false);
        }
        fake.add_comment(
            ci.kind(),
            ci.project(),
            PR,
            "<!-- pai-provision:plan:staging -->\nplan",
            false,
        );
        let mut urls = vec![];
        for (push, names) in [
            ["dataworks"].as_slice(),
            &["dataworks", "pai"],
            &["dataworks", "pai", "oss"],
        ]
        .iter()
        .enumerate()
        {
            setup.want(&products(names));
            markdown(&setup, "plan.md");
            let out = ok(dir, &env, &["comment", "plan.md", "--key", "prod"]).stdout;
            let verb = if push == 0 { "created" } else { "updated" };
            let url = out
                .strip_prefix(&format!("{verb} comment "))
                .unwrap_or_else(|| panic!("{ci:?} push {push}: {out}"))
                .trim()
                .to_owned();
            assert_eq!(out.lines().count(), 1, "{out}");
            urls.push(url);
        }
        assert!(
            urls.iter().all(|u| u == &urls[0] && u.contains(&format!("/{PR}"))),
            "{ci:?}: {urls:?}"
        );
        let store = fake.store();
        let mine = marked(&store, ci, "prod");
        assert_eq!(mine.len(), 1, "{ci:?}: one comment: {mine:?}");
        assert_eq!(mine[0].2, 2, "{ci:?}: updated twice");
        assert!(
            mine[0].1.contains("products.oss"),
            "{ci:?}: the last push's plan: {}",
            mine[0].1
        );
        assert_eq!(
            marked(&store, ci, "staging")[0].2,
            0,
            "the other key's comment is untouched"
        );
        assert_eq!(store.comments_on(ci.project(), PR).len(), 5);

        // A dry run prints the body and what it would do, and writes nothing.
        let writes = fake.store().writes().len();
        let dry = ok(dir, &env, &["comment", "plan.md", "--key", "prod", "--dry-run"]).stdout;
        assert!(dry.starts_with("<!-- pai-provision:plan:prod -->\n"), "{dry}");
        assert!(
            dry.trim_end().ends_with("(dry run)") && dry.contains("would update comment"),
            "{dry}"
        );
        assert_eq!(fake.store().writes().len(), writes);
    }
}

#[test]
fn a_plan_longer_than_the_limit_is_cut_at_a_line_with_a_pointer_to_the_full_plan() {
    let setup = Setup::new(&products(&["dataworks", "pai", "oss"]));
    let fake = FakeForge::start(setup.handle(), TOKEN);
    let dir = setup.work.path();
    markdown(&setup, "plan.md");
    let whole = std::fs::read_to_string(dir.join("plan.md")).expect("the Markdown");
    assert!(
        whole.chars().count() > 1200,
        "a plan long enough to cut: {}",
        whole.len()
    );
    for (ci, flags, pointer) in [
        (
            Ci::GitHub,
            vec!["--artifact-url", "https://artifacts.example/plan.json"],
            "https://artifacts.example/plan.json",
        ),
        // Without --artifact-url: the CI run's page.
        (Ci::GitLab, vec![], GITLAB_JOB),
    ] {
        let mut args = vec!["comment", "plan.md", "--key", "prod", "--max-chars", "1000"];
        args.extend(flags);
        let run = ok(dir, &ci.env(&fake), &args);
        assert!(run.stderr.contains("lines left out"), "{}", run.describe());
        let store = fake.store();
        let body = &marked(&store, ci, "prod")[0].1;
        assert!(body.chars().count() <= 1000, "{}", body.chars().count());
        let last = body.trim_end().lines().last().unwrap_or_default();
        assert!(last.contains("left out") && last.contains(pointer), "{ci:?}: {last}");
        // Every line kept is a whole line of the plan (or closes what the cut left open).
        let kept: Vec<&str> = body.lines().skip(1).take_while(|l| !l.contains("left out")).collect();
        assert!(kept.len() > 3, "{body}");
        for line in kept.iter().filter(|l| !l.is_empty()) {
            assert!(
                whole.lines().any(|w| w == *line) || ["```", "</details>"].contains(line),
                "{ci:?}: not a line of the plan: {line:?}"
            );
        }
        assert_eq!(body.matches("```").count() % 2, 0, "{body}");
        assert_eq!(
            body.matches("<details").count(),
            body.matches("</details>").count(),
            "{body}"
        );
    }
}

/// `drift --format json` of `plans` for `key`.
fn drift(dir: &Path, env: &[(String, String)], key: &str, plans: &[&str]) -> Value {
    let mut args = vec!["drift", "--key", key, "--format", "json"];
    args.extend_from_slice(plans);
    ok(dir, env, &args).json()
}

fn count(report: &Value, field: &str) -> usize {
    report[field].as_array().map_or(usize::MAX, Vec::len)
}

#[test]
fn drift_opens_one_issue_per_drift_updates_it_while_it_lasts_and_closes_it_when_gone() {
    for ci in [Ci::GitHub, Ci::GitLab] {
        let setup = Setup::new(&products(&["dataworks"]));
        let fake = FakeForge::start(setup.handle(), TOKEN);
        let mut env = ci.env(&fake);
        // A scheduled run: no pull request.
        env.retain(|(k, _)| k != "GITHUB_REF" && k != "CI_MERGE_REQUEST_IID");
        let dir = setup.work.path();
        let project = ci.project();
        // DataWorks bought from elsewhere: active in the cloud, not in this state (an adopt).
        let other = setup.elsewhere(&products(&["dataworks"]));
        assert_eq!(other.run(&["apply", "--auto-approve"]).code, Some(0));
        plan_out(&setup, "adopt.json");

        let first = drift(dir, &env, "prod", &["adopt.json"]);
        assert_eq!(
            (first["drifts"].as_u64(), &first["would_order"]),
            (Some(1), &Value::Bool(false)),
            "{first:#}"
        );
        assert_eq!((count(&first, "opened"), count(&first, "updated")), (1, 0), "{first:#}");
        let fingerprint = first["opened"][0]["fingerprint"].clone();
        assert!(
            first["opened"][0]["title"]
                .as_str()
                .unwrap_or_default()
                .contains("adopt products.dataworks"),
            "{first:#}"
        );

        // The same drift the next night: the same issue, updated, nothing opened.
        let second = drift(dir, &env, "prod", &["adopt.json"]);
        assert_eq!(
            (
                count(&second, "opened"),
                count(&second, "updated"),
                count(&second, "closed")
            ),
            (0, 1, 0),
            "{second:#}"
        );
        assert_eq!(second["updated"][0]["fingerprint"], fingerprint);
        assert_eq!(second["updated"][0]["url"], first["opened"][0]["url"]);
        assert_eq!(fake.store().open_issues(project).len(), 1);

        // PAI added to the manifest and not ordered yet: new drift, and it would place an order.
        setup.want(&products(&["dataworks", "pai"]));
        plan_out(&setup, "both.json");
        let third = drift(dir, &env, "prod", &["both.json"]);
        assert_eq!((count(&third, "opened"), count(&third, "updated")), (1, 1), "{third:#}");
        assert_eq!(third["would_order"], true);
        assert!(third["opened"][0]["title"]
            .as_str()
            .unwrap_or_default()
            .contains("order products.pai"));

        // Another key on the same drift: its own issues, and the first key's are not touched.
        let edits = |store: &Store| store.issues.iter().map(|i| (i.number, i.edits)).collect::<Vec<_>>();
        let before = edits(&fake.store());
        let staging = drift(dir, &env, "staging", &["both.json"]);
        assert_eq!(count(&staging, "opened"), 2, "{staging:#}");
        let store = fake.store();
        assert_eq!(store.open_issues(project).len(), 4);
        assert!(
            before.iter().all(|b| edits(&store).contains(b)),
            "prod's issues were edited by staging's run"
        );

        // Applied: nothing drifts any more. Prod's issues close with a comment; staging's stay.
        assert_eq!(setup.apply(&[]).code, Some(0));
        plan_out(&setup, "none.json");
        let human = ok(dir, &env, &["drift", "none.json", "--key", "prod"]).stdout;
        assert_eq!(
            human.lines().filter(|l| l.starts_with("closed issue ")).count(),
            2,
            "{human}"
        );
        assert!(
            human.contains("Drift of prod: no drift; 0 opened, 0 updated, 2 closed."),
            "{human}"
        );
        let store = fake.store();
        assert_eq!(store.open_issues(project).len(), 2, "staging's two");
        for issue in store.issues.iter().filter(|i| !i.open) {
            assert!(issue.body.contains("pai-provision:drift:prod:"), "{issue:?}");
            assert_eq!(issue.comments.len(), 1, "{issue:?}");
            assert!(
                issue.comments[0].body.contains("Resolved") && issue.comments[0].body.contains(ci.run_url()),
                "{issue:?}"
            );
        }
        assert!(store
            .open_issues(project)
            .iter()
            .all(|i| i.labels == ["pai-provision-drift"]));
    }
}

#[test]
fn a_fleet_plan_has_one_drift_per_account_and_change() {
    let mut accounts = members(2);
    // An account whose role is missing: not planned, so its drift is unknown.
    accounts.push(member("ghost", "1700000000000009", &[]).with_role(Role::Missing));
    let setup = FleetSetup::new(accounts, vec![]);
    let fake = FakeForge::start(setup.handle(), TOKEN);
    let mut env = Ci::GitHub.env(&fake);
    env.retain(|(k, _)| k != "GITHUB_REF");
    let dir = setup.work.path();
    // An issue of an earlier run, perhaps the ghost account's: not closed while it is not planned.
    let earlier = fake.add_issue(
        Kind::GitHub,
        REPO,
        "Drift: order products.pai (PAI_share) in ghost",
        "<!-- pai-provision:drift:fleet:00000000000000bb -->\n",
        &["pai-provision-drift"],
    );
    setup.expect(1, &["fleet", "plan", "--out", "fleet.json", "fleet.toml"]);
    let first = ok(
        dir,
        &env,
        &["drift", "--key", "fleet", "--format", "json", "fleet.json"],
    );
    assert!(
        first.stderr.contains("ghost could not be planned"),
        "{}",
        first.describe()
    );
    let report = first.json();
    // Six products in each of two accounts; the same address in two accounts is two drifts.
    assert_eq!(report["drifts"], 12, "{report:#}");
    assert_eq!(count(&report, "opened"), 12);
    assert_eq!(report["would_order"], true);
    assert_eq!(report["not_planned"], serde_json::json!(["ghost"]), "{report:#}");
    assert_eq!(count(&report, "closed"), 0, "{report:#}");
    for m in setup.members.iter().filter(|m| m.name != "ghost") {
        let suffix = format!(" in {}", m.name);
        let titles = report["opened"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["title"].as_str().unwrap_or_default().ends_with(&suffix))
            .count();
        assert_eq!(titles, 6, "{}: {report:#}", m.name);
    }
    let again = drift(dir, &env, "fleet", &["fleet.json"]);
    assert_eq!(
        (count(&again, "opened"), count(&again, "updated")),
        (0, 12),
        "{again:#}"
    );
    let store = fake.store();
    assert_eq!(store.open_issues(REPO).len(), 13);
    assert!(store
        .issue(REPO, earlier)
        .is_some_and(|i| i.open && i.comments.is_empty()));
}

#[test]
fn a_missing_variable_is_named_and_a_refusal_never_shows_the_token() {
    let dir = tempfile::tempdir().expect("a directory");
    std::fs::write(dir.path().join("plan.md"), "Plan: 1 to order\n").expect("write");
    let runtime = runtime();
    let fake = FakeForge::start(runtime.handle(), TOKEN);
    let comment = ["comment", "plan.md", "--key", "prod"];
    let without = |ci: Ci, name: &str| -> Vec<(String, String)> {
        ci.env(&fake).into_iter().filter(|(k, _)| k != name).collect()
    };
    for (ci, missing) in [
        (Ci::GitHub, "GITHUB_REPOSITORY"),
        (Ci::GitHub, "GITHUB_TOKEN"),
        (Ci::GitLab, "CI_API_V4_URL"),
        (Ci::GitLab, "CI_PROJECT_ID"),
        (Ci::GitLab, "CI_MERGE_REQUEST_IID"),
        (Ci::GitLab, "PAI_GITLAB_API_TOKEN"),
    ] {
        let failed = run(dir.path(), &without(ci, missing), &comment);
        assert_eq!(failed.code, Some(1), "{}", failed.describe());
        assert!(
            failed.stderr.contains(&format!("{missing} is not set")),
            "{missing}: {}",
            failed.describe()
        );
    }
    let none = run(dir.path(), &[], &comment);
    assert!(none.stderr.contains("--forge github|gitlab"), "{}", none.describe());

    // A token the forge refuses: the status and the forge's message, at every log level.
    for ci in [Ci::GitHub, Ci::GitLab] {
        let wrong = "ghp_WrongTokenForTheFake42";
        let mut env = ci.env(&fake);
        for (k, v) in env.iter_mut() {
            if k == "GITHUB_TOKEN" || k == "PAI_GITLAB_API_TOKEN" {
                *v = wrong.to_owned();
            }
        }
        let refused = run(dir.path(), &env, &["-vvv", "comment", "plan.md", "--key", "prod"]);
        assert_eq!(refused.code, Some(1), "{}", refused.describe());
        assert!(refused.stderr.contains("HTTP 401"), "{}", refused.describe());
        assert!(
            !refused.stderr.contains(wrong) && !refused.stdout.contains(wrong),
            "{}",
            refused.describe()
        );
    }
    assert!(fake.store().comments.is_empty());
}

/// A tired engineer passes the saved plan (`plan.json`) where its Markdown belongs: refused,
/// naming what to pass, before the forge is called, so no JSON lands on the pull request.
#[test]
fn a_saved_plan_given_as_the_comment_is_refused() {
    let dir = tempfile::tempdir().expect("a directory");
    let plan = r#"{"format_version": 3, "manifest_path": "m.toml", "changes": []}"#;
    std::fs::write(dir.path().join("plan.json"), plan).expect("write");
    let runtime = runtime();
    let fake = FakeForge::start(runtime.handle(), TOKEN);
    for ci in [Ci::GitHub, Ci::GitLab] {
        let refused = run(dir.path(), &ci.env(&fake), &["comment", "plan.json", "--key", "prod"]);
        assert_eq!(refused.code, Some(1), "{}", refused.describe());
        assert!(refused.stderr.contains("--format markdown"), "{}", refused.describe());
    }
    assert!(fake.store().comments.is_empty());
}
/// A directory with a plan's Markdown in `plan.md`, for the tests that need no emulator.
pub(crate) fn markdown_dir(digest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a directory");
    let text = format!("Plan: 1 to order\n\nPlan digest: `{digest}`\n");
    std::fs::write(dir.path().join("plan.md"), text).expect("write");
    dir
}

pub(crate) const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub(crate) const FORGED: &str = "sha256:6666666666666666666666666666666666666666666666666666666666666666";

/// The comment's URL `comment` printed after `verb`.
pub(crate) fn printed_url(run: &Run, verb: &str) -> String {
    run.stdout
        .trim()
        .strip_prefix(&format!("{verb} comment "))
        .unwrap_or_else(|| panic!("`{verb} comment URL` expected: {}", run.describe()))
        .to_owned()
}
