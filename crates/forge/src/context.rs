//! Which code host a run talks to, where, about which repository and pull request, and with
//! which token: a pure function of the CI's environment (a lookup) and the command line's
//! overrides, so that every way of getting it wrong is a table row (`docs/forge.md`, "Where it
//! runs").

use std::path::Path;

/// The code hosts this crate speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
}

impl Forge {
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        }
    }

    /// The most characters a comment may have: GitHub refuses more than 65,536, GitLab more
    /// than 1,000,000.
    pub fn comment_limit(self) -> usize {
        match self {
            Forge::GitHub => 65_536,
            Forge::GitLab => 1_000_000,
        }
    }

    /// The variable the token is read from.
    pub fn token_variable(self) -> &'static str {
        match self {
            Forge::GitHub => "GITHUB_TOKEN",
            // `CI_JOB_TOKEN` cannot write notes or issues: a project access token with `api` scope.
            Forge::GitLab => "PAI_GITLAB_API_TOKEN",
        }
    }
}

impl std::str::FromStr for Forge {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "github" => Ok(Forge::GitHub),
            "gitlab" => Ok(Forge::GitLab),
            _ => Err(format!("`{s}` is not a forge: github or gitlab")),
        }
    }
}

/// An API token. It is sent in a header and nowhere else: `Debug` shows `Token(***)` and there
/// is no `Display`, so no message, log line or dump can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(secret: String) -> Token {
        Token(secret)
    }

    /// The secret, for the one header that carries it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the token replaced by `***`: for what a server answers,
    /// which could echo it.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// What the command line says, each overriding what the environment says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub forge: Option<Forge>,
    pub api_url: Option<String>,
    /// GitHub's `owner/name`, or GitLab's project id or path.
    pub repo: Option<String>,
    pub pr: Option<u64>,
    /// On GitHub, the login the token writes as (`--author`), when not the job's bot.
    pub author: Option<String>,
}

/// Everything a run needs to reach the code host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeContext {
    pub forge: Forge,
    /// The REST API's base, without a trailing slash: `https://api.github.com`,
    /// `https://gitlab.example.com/api/v4`.
    pub api_url: String,
    /// GitHub's `owner/name`, or GitLab's project id (or its path, `group/project`).
    pub repo: String,
    /// The pull request's number or merge request's IID, when the run is for one.
    pub pr: Option<u64>,
    pub token: Token,
    /// The CI run's page, for "see the full plan" and "resolved by": `None` outside CI.
    pub run_url: Option<String>,
    /// On GitHub, the login the token writes as, when not `github-actions[bot]`
    /// ([`crate::identity`]); always `None` on GitLab, which says whom the token acts as.
    pub author: Option<String>,
}

/// What is missing or wrong in the environment and the flags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error(
        "not running in GitHub Actions (GITHUB_ACTIONS=true) or GitLab CI (GITLAB_CI=true): say which with --forge github|gitlab"
    )]
    NoForge,
    #[error("{what} is not set: {hint}")]
    Missing { what: String, hint: String },
    #[error("{what} is `{value}`, {why}")]
    Invalid { what: String, value: String, why: String },
}

/// Resolves the context from `env` (a variable's value, `None` when unset or empty is the
/// caller's choice: an empty value counts as unset here too) and `read` (a file's text, for
/// GitHub's event file). `need_pr`: a comment needs the pull request, drift issues do not.
pub fn resolve(
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
    flags: &Overrides,
    need_pr: bool,
) -> Result<ForgeContext, ContextError> {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let forge = match flags.forge {
        Some(forge) => forge,
        None if get("GITHUB_ACTIONS").as_deref() == Some("true") => Forge::GitHub,
        None if get("GITLAB_CI").as_deref() == Some("true") => Forge::GitLab,
        None => return Err(ContextError::NoForge),
    };
    let missing = |what: &str, hint: &str| ContextError::Missing {
        what: what.to_owned(),
        hint: hint.to_owned(),
    };
    let api_url = match (&flags.api_url, forge) {
        (Some(url), _) => url.clone(),
        (None, Forge::GitHub) => get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_owned()),
        (None, Forge::GitLab) => get("CI_API_V4_URL").ok_or_else(|| {
            missing(
                "CI_API_V4_URL",
                "GitLab CI sets it; elsewhere give --api-url https://HOST/api/v4",
            )
        })?,
    };
    let api_url = check_url(api_url.trim_end_matches('/'))?;
    let repo = match (&flags.repo, forge) {
        (Some(repo), _) => repo.clone(),
        (None, Forge::GitHub) => get("GITHUB_REPOSITORY").ok_or_else(|| {
            missing(
                "GITHUB_REPOSITORY",
                "GitHub Actions sets it; elsewhere give --repo OWNER/NAME",
            )
        })?,
        (None, Forge::GitLab) => get("CI_PROJECT_ID")
            .ok_or_else(|| missing("CI_PROJECT_ID", "GitLab CI sets it; elsewhere give --repo PROJECT_ID"))?,
    };
    check_repo(forge, &repo)?;
    let pr = match flags.pr {
        Some(pr) => Some(pr),
        None => match forge {
            Forge::GitHub => github_pr(&get, read)?,
            Forge::GitLab => get("CI_MERGE_REQUEST_IID")
                .map(|iid| number("CI_MERGE_REQUEST_IID", &iid))
                .transpose()?,
        },
    };
    if need_pr && pr.is_none() {
        return Err(match forge {
            Forge::GitHub => missing(
                "the pull request's number",
                "run on a `pull_request` event (GITHUB_EVENT_PATH's pull_request.number, or \
                 GITHUB_REF=refs/pull/N/merge), or give --pr N",
            ),
            Forge::GitLab => missing(
                "CI_MERGE_REQUEST_IID",
                "run in a merge request pipeline (rules: if: $CI_PIPELINE_SOURCE == \"merge_request_event\"), or give --pr IID",
            ),
        });
    }
    let author = match (&flags.author, forge) {
        (None, _) => None,
        (Some(login), Forge::GitHub) if crate::identity::is_github_login(login) => Some(login.clone()),
        (Some(login), Forge::GitHub) => {
            return Err(ContextError::Invalid {
                what: "--author".into(),
                value: login.clone(),
                why: "not a GitHub login (letters, digits and `-`, with `[bot]` after an app's)".into(),
            })
        }
        (Some(login), Forge::GitLab) => {
            return Err(ContextError::Invalid {
                what: "--author".into(),
                value: login.clone(),
                why: "which only GitHub takes: on GitLab the token's own user is the author, asked with GET \
                      /user; leave --author out"
                    .into(),
            })
        }
    };
    let variable = forge.token_variable();
    let token = get(variable).map(Token::new).ok_or_else(|| {
        missing(
            variable,
            match forge {
                Forge::GitHub => "give the job `permissions:` (pull-requests: write, issues: write) and `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`",
                Forge::GitLab => "a project access token with `api` scope, in a masked CI/CD variable (CI_JOB_TOKEN cannot write notes or issues)",
            },
        )
    })?;
    Ok(ForgeContext {
        forge,
        api_url,
        repo,
        pr,
        token,
        run_url: run_url(forge, &get),
        author,
    })
}

/// The CI run's page: GitHub's `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`,
/// GitLab's `CI_JOB_URL`.
fn run_url(forge: Forge, get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    match forge {
        Forge::GitHub => Some(format!(
            "{}/{}/actions/runs/{}",
            get("GITHUB_SERVER_URL")?.trim_end_matches('/'),
            get("GITHUB_REPOSITORY")?,
            get("GITHUB_RUN_ID")?
        )),
        Forge::GitLab => get("CI_JOB_URL"),
    }
}

/// The pull request of a GitHub run: the event file's `pull_request.number` (a `pull_request`
/// or `pull_request_target` event), else `GITHUB_REF=refs/pull/N/merge`. A run of another
/// event has none.
fn github_pr(
    get: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Option<u64>, ContextError> {
    if let Some(path) = get("GITHUB_EVENT_PATH") {
        let invalid = |why: String| ContextError::Invalid {
            what: "GITHUB_EVENT_PATH".into(),
            value: path.clone(),
            why,
        };
        let text = read(Path::new(&path)).map_err(|e| invalid(format!("which cannot be read: {e}")))?;
        let event: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("which is not JSON: {e}")))?;
        if let Some(n) = event.pointer("/pull_request/number") {
            return n
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid(format!("whose pull_request.number is not a number: {n}")));
        }
    }
    let Some(reference) = get("GITHUB_REF") else {
        return Ok(None);
    };
    match reference
        .strip_prefix("refs/pull/")
        .and_then(|rest| rest.strip_suffix("/merge").or_else(|| rest.strip_suffix("/head")))
    {
        Some(n) => number("GITHUB_REF", n).map(Some),
        None => Ok(None),
    }
}

fn number(what: &str, value: &str) -> Result<u64, ContextError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ContextError::Invalid {
            what: what.to_owned(),
            value: value.to_owned(),
            why: "not a pull or merge request number".into(),
        })
}

/// An http(s) URL: the token goes there.
fn check_url(url: &str) -> Result<String, ContextError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url.to_owned())
    } else {
        Err(ContextError::Invalid {
            what: "the API URL".into(),
            value: url.to_owned(),
            why: "not an http(s) URL".into(),
        })
    }
}

fn check_repo(forge: Forge, repo: &str) -> Result<(), ContextError> {
    let ok = match forge {
        Forge::GitHub => repo
            .split_once('/')
            .is_some_and(|(owner, name)| !owner.is_empty() && !name.is_empty() && !name.contains('/')),
        Forge::GitLab => !repo.is_empty(),
    } && !repo.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ContextError::Invalid {
            what: "the repository".into(),
            value: repo.to_owned(),
            why: match forge {
                Forge::GitHub => "not OWNER/NAME".into(),
                Forge::GitLab => "not a project id or path".into(),
            },
        })
    }
}

#[cfg(test)]
mod tests;
