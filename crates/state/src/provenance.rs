//! Who and what started a run: the CI system, repository, pull or merge request, commit, actor
//! and run URL named by the CI's standard variables (GitHub Actions' `GITHUB_*`, GitLab CI's
//! `CI_*`), the local user, the digest of the saved plan applied and the policies' verdict on it.
//! Recorded with every run of the history (`docs/state.md`, "Provenance"), and the "who" of a
//! change freeze.
//!
//! Only the variables named here are read: a token in the environment (`GITHUB_TOKEN`,
//! `CI_JOB_TOKEN`, GitLab's `CI_REPOSITORY_URL`, which embeds one) is never looked at, so it
//! cannot end up in the state.

use serde::{Deserialize, Serialize};

/// The provenance of one run. Every field but `user` is `None` outside CI (and the digests
/// unless a saved plan is applied).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Provenance {
    /// `github-actions` or `gitlab-ci`.
    #[serde(default)]
    pub ci: Option<String>,
    /// `owner/name` (GitHub), the project path (GitLab).
    #[serde(default)]
    pub repository: Option<String>,
    /// The pull request's (GitHub) or merge request's (GitLab) number.
    #[serde(default)]
    pub pull_request: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
    /// The CI's user who triggered the run.
    #[serde(default)]
    pub actor: Option<String>,
    /// The CI run (GitHub: the workflow run attempt; GitLab: the job).
    #[serde(default)]
    pub run_url: Option<String>,
    /// `user@host` of the process.
    #[serde(default)]
    pub user: String,
    /// The `digest` of the saved plan applied (`apply PLANFILE`, each account of `fleet apply`).
    #[serde(default)]
    pub plan_digest: Option<String>,
    /// The `digest` of the saved fleet plan applied (`fleet apply FLEETPLAN`).
    #[serde(default)]
    pub fleet_plan_digest: Option<String>,
    /// The policies' verdict on the plan applied, as the apply re-checked it (`apply --policy`,
    /// each account of `fleet apply --policy`); `None` when no policy was evaluated, and in the
    /// runs recorded before this field existed.
    #[serde(default)]
    pub policy: Option<PolicyRecord>,
}

/// What a run keeps of a policy verdict (`pai_planner::PolicyVerdict`): enough to tell later
/// which policies judged the plan and what they said, bounded so that a policy printing one
/// warning per product cannot swell every row of the history.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// The policies' digest (`policies_digest`, `docs/policy.md`).
    pub digest: String,
    /// How many denials (0 for a plan that was applied: a denied plan is never carried out).
    #[serde(default)]
    pub denied: usize,
    /// How many warnings, all of them.
    #[serde(default)]
    pub warned: usize,
    /// The first [`PolicyRecord::MAX_WARNINGS`] warnings, each `file: message`, a message cut
    /// at [`PolicyRecord::MAX_WARNING_CHARS`] characters. A message is the policy's own text.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl PolicyRecord {
    pub const MAX_WARNINGS: usize = 20;
    pub const MAX_WARNING_CHARS: usize = 300;

    /// The record of a verdict: its policies' digest, its denial count, and its warnings as
    /// `(file, message)`, in the verdict's order.
    pub fn new<'a>(digest: &str, denied: usize, warnings: impl ExactSizeIterator<Item = (&'a str, &'a str)>) -> Self {
        let warned = warnings.len();
        let warnings = warnings
            .take(Self::MAX_WARNINGS)
            .map(|(file, message)| {
                let line = format!("{file}: {message}");
                match line.char_indices().nth(Self::MAX_WARNING_CHARS) {
                    Some((cut, _)) => format!("{}…", &line[..cut]),
                    None => line,
                }
            })
            .collect();
        PolicyRecord {
            digest: digest.to_owned(),
            denied,
            warned,
            warnings,
        }
    }

    /// One short phrase for `state history`: `policy passed, 2 warnings (sha256:98a948c6c56a…)`.
    pub fn summary(&self) -> String {
        let outcome = if self.denied > 0 {
            format!("denied ({})", count(self.denied, "denial"))
        } else {
            "passed".to_owned()
        };
        let warned = match self.warned {
            0 => String::new(),
            n => format!(", {}", count(n, "warning")),
        };
        let short = match self.digest.char_indices().nth("sha256:".len() + 12) {
            Some((cut, _)) => format!("{}…", &self.digest[..cut]),
            None => self.digest.clone(),
        };
        format!("policy {outcome}{warned} ({short})")
    }
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

impl Provenance {
    /// The provenance of this process: its environment, user and host.
    pub fn of_process() -> Provenance {
        provenance(&|name| std::env::var(name).ok(), &crate::clock::host_name())
    }

    /// `user@host`, and the CI's actor when there is one: who did it, for a message.
    pub fn who(&self) -> String {
        match &self.actor {
            Some(actor) => format!("{} (CI actor {actor})", self.user),
            None => self.user.clone(),
        }
    }
}

/// The text of a run's `provenance` column.
pub(crate) fn to_column(p: Option<&Provenance>) -> Option<String> {
    p.and_then(|p| serde_json::to_string(p).ok())
}

/// The provenance that the environment `env` (a variable's value by name) describes, on `host`.
/// Pure: the table test in this module runs it on made-up environments.
pub fn provenance(env: &dyn Fn(&str) -> Option<String>, host: &str) -> Provenance {
    let var = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let user = var("USER")
        .or_else(|| var("LOGNAME"))
        .unwrap_or_else(|| "unknown".into());
    let mut p = Provenance {
        user: format!("{user}@{host}"),
        ..Provenance::default()
    };
    if var("GITHUB_ACTIONS").as_deref() == Some("true") {
        p.ci = Some("github-actions".into());
        p.repository = var("GITHUB_REPOSITORY");
        p.commit = var("GITHUB_SHA");
        p.actor = var("GITHUB_TRIGGERING_ACTOR").or_else(|| var("GITHUB_ACTOR"));
        // `refs/pull/42/merge` (pull_request events) names the pull request.
        p.pull_request = var("GITHUB_REF").and_then(|r| {
            let number = r.strip_prefix("refs/pull/")?.split('/').next()?.to_owned();
            number.chars().all(|c| c.is_ascii_digit()).then_some(number)
        });
        p.run_url = match (var("GITHUB_SERVER_URL"), &p.repository, var("GITHUB_RUN_ID")) {
            (Some(server), Some(repo), Some(id)) => {
                let attempt = var("GITHUB_RUN_ATTEMPT")
                    .map(|a| format!("/attempts/{a}"))
                    .unwrap_or_default();
                Some(format!(
                    "{}/{repo}/actions/runs/{id}{attempt}",
                    without_userinfo(&server)
                ))
            }
            _ => None,
        };
    } else if var("GITLAB_CI").as_deref() == Some("true") {
        p.ci = Some("gitlab-ci".into());
        p.repository = var("CI_PROJECT_PATH");
        p.commit = var("CI_COMMIT_SHA");
        p.actor = var("GITLAB_USER_LOGIN");
        p.pull_request = var("CI_MERGE_REQUEST_IID");
        p.run_url = var("CI_JOB_URL")
            .or_else(|| var("CI_PIPELINE_URL"))
            .map(|u| without_userinfo(&u));
    }
    p
}

/// A URL without a `user:password@` part: a server URL is no place for credentials, but one
/// set by mistake must not reach the state.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(vars: &[(&str, &str)]) -> Provenance {
        let env = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        provenance(&env, "ci-7")
    }

    const TOKEN: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";

    #[test]
    fn provenance_table() {
        let github = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/infra"),
            ("GITHUB_SHA", "0123abcd"),
            ("GITHUB_ACTOR", "alice"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_RUN_ID", "987"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_TOKEN", TOKEN),
            ("USER", "runner"),
        ];
        let gitlab = [
            ("GITLAB_CI", "true"),
            ("CI", "true"),
            ("CI_PROJECT_PATH", "acme/infra"),
            ("CI_COMMIT_SHA", "4567ef"),
            ("GITLAB_USER_LOGIN", "bob"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_JOB_URL", "https://gitlab.example/acme/infra/-/jobs/55"),
            ("CI_JOB_TOKEN", TOKEN),
            (
                "CI_REPOSITORY_URL",
                "https://gitlab-ci-token:ghp_abcdefghijklmnopqrstuvwxyz0123456789@gitlab.example/acme/infra.git",
            ),
        ];
        let cases: Vec<(&str, Provenance, Provenance)> = vec![
            (
                "outside CI: only the user",
                run(&[("USER", "carol"), ("API_TOKEN", TOKEN)]),
                Provenance {
                    user: "carol@ci-7".into(),
                    ..Provenance::default()
                },
            ),
            (
                "no USER: LOGNAME, then unknown",
                run(&[("LOGNAME", "dan")]),
                Provenance {
                    user: "dan@ci-7".into(),
                    ..Provenance::default()
                },
            ),
            (
                "GitHub Actions pull request",
                run(&github),
                Provenance {
                    ci: Some("github-actions".into()),
                    repository: Some("acme/infra".into()),
                    pull_request: Some("42".into()),
                    commit: Some("0123abcd".into()),
                    actor: Some("alice".into()),
                    run_url: Some("https://github.com/acme/infra/actions/runs/987/attempts/2".into()),
                    user: "runner@ci-7".into(),
                    ..Provenance::default()
                },
            ),
            (
                "GitHub Actions push: no pull request, no attempt, a server URL with credentials",
                run(&[
                    ("GITHUB_ACTIONS", "true"),
                    ("GITHUB_REPOSITORY", "acme/infra"),
                    ("GITHUB_REF", "refs/heads/main"),
                    ("GITHUB_SERVER_URL", "https://x:secret@ghe.example"),
                    ("GITHUB_RUN_ID", "5"),
                ]),
                Provenance {
                    ci: Some("github-actions".into()),
                    repository: Some("acme/infra".into()),
                    run_url: Some("https://ghe.example/acme/infra/actions/runs/5".into()),
                    user: "unknown@ci-7".into(),
                    ..Provenance::default()
                },
            ),
            (
                "GitLab CI merge request pipeline",
                run(&gitlab),
                Provenance {
                    ci: Some("gitlab-ci".into()),
                    repository: Some("acme/infra".into()),
                    pull_request: Some("7".into()),
                    commit: Some("4567ef".into()),
                    actor: Some("bob".into()),
                    run_url: Some("https://gitlab.example/acme/infra/-/jobs/55".into()),
                    user: "unknown@ci-7".into(),
                    ..Provenance::default()
                },
            ),
            (
                "GITHUB_ACTIONS not true: not GitHub",
                run(&[("GITHUB_ACTIONS", "false"), ("GITHUB_SHA", "x"), ("USER", "e")]),
                Provenance {
                    user: "e@ci-7".into(),
                    ..Provenance::default()
                },
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
            let json = serde_json::to_string(&got).unwrap();
            assert!(!json.contains(TOKEN) && !json.contains("secret"), "{name}: {json}");
        }
    }

    #[test]
    fn a_policy_record_is_bounded_and_summed_up_in_one_phrase() {
        let long = "x".repeat(PolicyRecord::MAX_WARNING_CHARS + 50);
        let many: Vec<(&str, &str)> = (0..PolicyRecord::MAX_WARNINGS + 5)
            .map(|_| ("a.rego", long.as_str()))
            .collect();
        let digest = "sha256:98a948c6c56a5961f77f8feaf9b20985ddeadbb696a25cf3aef6c14ee0e24bd4";
        let r = PolicyRecord::new(digest, 0, many.into_iter());
        assert_eq!(r.warned, PolicyRecord::MAX_WARNINGS + 5);
        assert_eq!(r.warnings.len(), PolicyRecord::MAX_WARNINGS);
        assert!(r
            .warnings
            .iter()
            .all(|w| w.chars().count() == PolicyRecord::MAX_WARNING_CHARS + 1 && w.ends_with('…')));
        let cases = [
            ((0, vec![]), "policy passed (sha256:98a948c6c56a…)"),
            (
                (0, vec![("a.rego", "m")]),
                "policy passed, 1 warning (sha256:98a948c6c56a…)",
            ),
            (
                (0, vec![("a.rego", "m"), ("b.rego", "n")]),
                "policy passed, 2 warnings (sha256:98a948c6c56a…)",
            ),
            (
                (2, vec![("a.rego", "m")]),
                "policy denied (2 denials), 1 warning (sha256:98a948c6c56a…)",
            ),
        ];
        for ((denied, warnings), want) in cases {
            let r = PolicyRecord::new(digest, denied, warnings.into_iter());
            assert_eq!(r.summary(), want);
        }
        assert_eq!(
            PolicyRecord::new(digest, 0, [("a.rego", "m")].into_iter()).warnings,
            ["a.rego: m"]
        );
    }

    /// A row written before `policy` existed reads as a provenance without a verdict.
    #[test]
    fn an_older_provenance_reads_without_a_verdict() {
        let old = r#"{"ci":"github-actions","repository":"acme/infra","pull_request":"42","commit":"0123abcd","actor":"alice","run_url":null,"user":"runner@ci-7","plan_digest":"sha256:00","fleet_plan_digest":null}"#;
        let p: Provenance = serde_json::from_str(old).unwrap();
        assert_eq!(p.policy, None);
        assert_eq!(p.plan_digest.as_deref(), Some("sha256:00"));
    }

    #[test]
    fn who_names_the_ci_actor_when_there_is_one() {
        let mut p = run(&[("USER", "u")]);
        assert_eq!(p.who(), "u@ci-7");
        p.actor = Some("alice".into());
        assert_eq!(p.who(), "u@ci-7 (CI actor alice)");
    }
}
