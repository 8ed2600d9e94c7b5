use std::collections::BTreeMap;
use std::path::Path;

use super::{resolve, ContextError, Forge, ForgeContext, Overrides, Token};

const SECRET: &str = "ghs_s3cr3tT0kenValue";
const EVENT: &str = "/runner/event.json";

fn run(
    vars: &[(&str, &str)],
    event: Option<&str>,
    flags: &Overrides,
    need_pr: bool,
) -> Result<ForgeContext, ContextError> {
    let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let env = |name: &str| vars.get(name).cloned();
    let read = |path: &Path| {
        assert_eq!(path, Path::new(EVENT));
        event
            .map(str::to_owned)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"))
    };
    resolve(&env, &read, flags, need_pr)
}

const GITHUB: &[(&str, &str)] = &[
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_REPOSITORY", "acme/infra"),
    ("GITHUB_TOKEN", SECRET),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_RUN_ID", "42"),
];

const GITLAB: &[(&str, &str)] = &[
    ("GITLAB_CI", "true"),
    ("CI_API_V4_URL", "https://gitlab.example.com/api/v4/"),
    ("CI_PROJECT_ID", "17"),
    ("PAI_GITLAB_API_TOKEN", SECRET),
    ("CI_JOB_URL", "https://gitlab.example.com/acme/infra/-/jobs/9"),
];

fn with(
    base: &[(&'static str, &'static str)],
    extra: &[(&'static str, &'static str)],
    without: &[&str],
) -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<_> = base.iter().filter(|(k, _)| !without.contains(k)).copied().collect();
    v.extend_from_slice(extra);
    v
}

/// (forge, api url, repo, pr, run url) of a resolved context.
type Resolved = (Forge, String, String, Option<u64>, Option<String>);

/// (name, variables, the event file, flags, whether a pull request is needed, the outcome or a
/// part of the error's text)
type Row = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Option<&'static str>,
    Overrides,
    bool,
    Result<Resolved, String>,
);

/// A resolved context in short, or the error's text.
fn outcome(r: Result<ForgeContext, ContextError>) -> Result<Resolved, String> {
    r.map(|c| (c.forge, c.api_url, c.repo, c.pr, c.run_url))
        .map_err(|e| e.to_string())
}

#[test]
fn the_context_comes_from_the_environment_and_the_flags_override_it() {
    let none = Overrides::default();
    let pr_event = r#"{"pull_request": {"number": 7}}"#;
    let gh = |pr, run: bool| {
        Ok((
            Forge::GitHub,
            "https://api.github.com".to_owned(),
            "acme/infra".to_owned(),
            pr,
            run.then(|| "https://github.com/acme/infra/actions/runs/42".to_owned()),
        ))
    };
    let table: Vec<Row> = vec![
        (
            "github, event file",
            with(GITHUB, &[("GITHUB_EVENT_PATH", EVENT)], &[]),
            Some(pr_event),
            none.clone(),
            true,
            gh(Some(7), true),
        ),
        (
            "github, ref",
            with(GITHUB, &[("GITHUB_REF", "refs/pull/12/merge")], &[]),
            None,
            none.clone(),
            true,
            gh(Some(12), true),
        ),
        // A push event's file has no pull_request: the ref decides, and a branch has none.
        (
            "github, push event",
            with(
                GITHUB,
                &[("GITHUB_EVENT_PATH", EVENT), ("GITHUB_REF", "refs/heads/main")],
                &[],
            ),
            Some(r#"{"ref": "refs/heads/main"}"#),
            none.clone(),
            false,
            gh(None, true),
        ),
        (
            "github, no run id",
            with(GITHUB, &[], &["GITHUB_RUN_ID"]),
            None,
            none.clone(),
            false,
            gh(None, false),
        ),
        (
            "github, enterprise",
            with(GITHUB, &[("GITHUB_API_URL", "https://ghe.example.com/api/v3")], &[]),
            None,
            Overrides {
                pr: Some(3),
                ..none.clone()
            },
            true,
            Ok((
                Forge::GitHub,
                "https://ghe.example.com/api/v3".into(),
                "acme/infra".into(),
                Some(3),
                Some("https://github.com/acme/infra/actions/runs/42".into()),
            )),
        ),
        (
            "gitlab",
            with(GITLAB, &[("CI_MERGE_REQUEST_IID", "5")], &[]),
            None,
            none.clone(),
            true,
            Ok((
                Forge::GitLab,
                "https://gitlab.example.com/api/v4".into(),
                "17".into(),
                Some(5),
                Some("https://gitlab.example.com/acme/infra/-/jobs/9".into()),
            )),
        ),
        (
            "flags everywhere",
            vec![("PAI_GITLAB_API_TOKEN", SECRET)],
            None,
            Overrides {
                forge: Some(Forge::GitLab),
                api_url: Some("http://127.0.0.1:9/api/v4".into()),
                repo: Some("acme/infra".into()),
                pr: Some(2),
                author: None,
            },
            true,
            Ok((
                Forge::GitLab,
                "http://127.0.0.1:9/api/v4".into(),
                "acme/infra".into(),
                Some(2),
                None,
            )),
        ),
        (
            "no CI",
            vec![("GITHUB_TOKEN", SECRET)],
            None,
            none.clone(),
            false,
            Err("not running in GitHub Actions".into()),
        ),
        (
            "github, no repository",
            with(GITHUB, &[], &["GITHUB_REPOSITORY"]),
            None,
            none.clone(),
            false,
            Err("GITHUB_REPOSITORY is not set".into()),
        ),
        (
            "github, no token",
            with(GITHUB, &[("GITHUB_REF", "refs/pull/1/merge")], &["GITHUB_TOKEN"]),
            None,
            none.clone(),
            true,
            Err("GITHUB_TOKEN is not set".into()),
        ),
        (
            "github, empty token",
            with(GITHUB, &[("GITHUB_TOKEN", "")], &["GITHUB_TOKEN"]),
            None,
            none.clone(),
            false,
            Err("GITHUB_TOKEN is not set".into()),
        ),
        (
            "github, no pull request",
            GITHUB.to_vec(),
            None,
            none.clone(),
            true,
            Err("the pull request's number is not set".into()),
        ),
        (
            "github, event file unreadable",
            with(GITHUB, &[("GITHUB_EVENT_PATH", EVENT)], &[]),
            None,
            none.clone(),
            true,
            Err("GITHUB_EVENT_PATH is `/runner/event.json`, which cannot be read".into()),
        ),
        (
            "github, bad repository",
            with(GITHUB, &[], &[]),
            None,
            Overrides {
                repo: Some("infra".into()),
                ..none.clone()
            },
            false,
            Err("the repository is `infra`, not OWNER/NAME".into()),
        ),
        (
            "gitlab, no api url",
            with(GITLAB, &[], &["CI_API_V4_URL"]),
            None,
            none.clone(),
            false,
            Err("CI_API_V4_URL is not set".into()),
        ),
        (
            "gitlab, no project",
            with(GITLAB, &[], &["CI_PROJECT_ID"]),
            None,
            none.clone(),
            false,
            Err("CI_PROJECT_ID is not set".into()),
        ),
        (
            "gitlab, job token only",
            with(GITLAB, &[("CI_JOB_TOKEN", "x")], &["PAI_GITLAB_API_TOKEN"]),
            None,
            none.clone(),
            false,
            Err("PAI_GITLAB_API_TOKEN is not set".into()),
        ),
        (
            "gitlab, no merge request",
            GITLAB.to_vec(),
            None,
            none.clone(),
            true,
            Err("CI_MERGE_REQUEST_IID is not set".into()),
        ),
        (
            "gitlab, bad iid",
            with(GITLAB, &[("CI_MERGE_REQUEST_IID", "five")], &[]),
            None,
            none.clone(),
            false,
            Err("CI_MERGE_REQUEST_IID is `five`".into()),
        ),
        (
            "bad api url",
            GITHUB.to_vec(),
            None,
            Overrides {
                api_url: Some("api.github.com".into()),
                ..none.clone()
            },
            false,
            Err("not an http(s) URL".into()),
        ),
        (
            "github, an author that is no login",
            GITHUB.to_vec(),
            None,
            Overrides {
                author: Some("acme planner".into()),
                ..none.clone()
            },
            false,
            Err("--author is `acme planner`, not a GitHub login".into()),
        ),
        (
            "gitlab, an author",
            GITLAB.to_vec(),
            None,
            Overrides {
                author: Some("project_42_bot".into()),
                ..none.clone()
            },
            false,
            Err("which only GitHub takes".into()),
        ),
    ];
    for (name, vars, event, flags, need_pr, want) in table {
        let got = outcome(run(&vars, event, &flags, need_pr));
        match (&got, &want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
            (Err(g), Err(w)) => assert!(g.contains(w.as_str()), "{name}: {g}"),
            _ => panic!("{name}: got {got:?}, want {want:?}"),
        }
        if let Err(text) = &got {
            assert!(!text.contains(SECRET), "{name}: {text}");
        }
    }
}

#[test]
fn the_token_is_never_shown() {
    let context = run(
        &with(GITHUB, &[("GITHUB_REF", "refs/pull/1/merge")], &[]),
        None,
        &Overrides::default(),
        true,
    )
    .expect("a context");
    assert_eq!(context.token.expose(), SECRET);
    let dump = format!("{context:?} {:?} {:#?}", context.token, context);
    assert!(!dump.contains(SECRET), "{dump}");
    assert!(dump.contains("Token(***)"), "{dump}");
    let token = Token::new(SECRET.into());
    assert_eq!(token.scrub(&format!("echoed {SECRET}!")), "echoed ***!");
}
