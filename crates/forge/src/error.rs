//! Why a call to the forge failed, and whether it may have been carried out all the same.

use std::time::Duration;

use reqwest::Method;

use crate::client::MAX_PAGES;

/// Why a call to the forge failed. No variant carries the token: it is only ever in a header,
/// and a forge's message is scrubbed of it.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("{forge} {method} {path}: HTTP {status}: {message}{}", hint(.forge, *.status))]
    Status {
        forge: &'static str,
        method: Method,
        path: String,
        status: u16,
        /// The forge's `message` (or `error`), cleaned of control characters, cut at 300.
        message: String,
    },
    #[error("{forge} {method} {path}: {source}")]
    Transport {
        forge: &'static str,
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{forge} {method} {path}: timed out: no answer within {after:?} (--timeout)")]
    Timeout {
        forge: &'static str,
        method: Method,
        path: String,
        after: Duration,
    },
    #[error(
        "{forge} {method} {path}: HTTP {status}, a redirect to {host}: not followed, so the token was not sent \
         there; give the API's own URL (--api-url)"
    )]
    Redirect {
        forge: &'static str,
        method: Method,
        path: String,
        status: u16,
        /// The `Location`'s host and port, printable and scrubbed of the token.
        host: String,
    },
    #[error("{forge} {method} {path}: the answer is not what the API documents: {why}")]
    Answer {
        forge: &'static str,
        method: Method,
        path: String,
        why: String,
    },
    #[error(
        "{forge}: the next page is announced at {url}, outside the API URL {base}: not followed, so that the \
         token goes nowhere else"
    )]
    ForeignPage {
        forge: &'static str,
        url: String,
        base: String,
    },
    #[error("{forge}: more than {MAX_PAGES} pages of {path}; stopped")]
    TooManyPages { forge: &'static str, path: String },
    #[error("{variable} holds characters an HTTP header cannot carry (a line break?); set it to the token alone")]
    BadToken { variable: &'static str },
    #[error("no pull or merge request to comment on: give --pr")]
    NoPullRequest,
    #[error(
        "github dropped the label `{}` from the new issue #{number} ({url}): the token may set no labels; give the \
         job `permissions: issues: write`, or the next run cannot find the issue again",
        crate::drift::LABEL
    )]
    LabelDropped { number: u64, url: String },
    #[error(transparent)]
    NotByUs(Box<NotByUs>),
}

impl ForgeError {
    /// Whether the forge may have carried out the call although it failed: a 5xx, or an answer
    /// that did not arrive (cut, or later than the timeout). A POST that failed so may have
    /// created what it posted; posting again could make two.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ForgeError::Status { status, .. } => *status >= 500,
            ForgeError::Timeout { .. } => true,
            // Refused at connecting, or never built: nothing reached the forge.
            ForgeError::Transport { source, .. } => !source.is_connect() && !source.is_builder(),
            _ => false,
        }
    }
}

/// What the forge made is by another author than the run expects: a GitHub token that writes
/// as some login other than `--author` (or `github-actions[bot]`).
#[derive(Debug, thiserror::Error)]
#[error(
    "{forge}: the new {what} {url} is by {author}, not by {expected}, whose comments and issues this run takes \
     for its own, so the next run would not find it{}",
    author_hint(.forge, .author_login)
)]
pub struct NotByUs {
    pub forge: &'static str,
    pub what: &'static str,
    pub url: String,
    /// Who the forge says wrote it, printable.
    pub author: String,
    pub author_login: String,
    pub expected: String,
}

/// What to check for a refusal, by status.
fn hint(forge: &'static str, status: u16) -> &'static str {
    match (forge, status) {
        ("github", 401) => " (GITHUB_TOKEN is not valid for this API)",
        ("github", 403 | 404) => {
            " (the token may lack a permission: the job needs `permissions:` pull-requests: write and issues: write)"
        }
        ("gitlab", 401) => " (PAI_GITLAB_API_TOKEN is not valid for this GitLab)",
        ("gitlab", 403 | 404) => {
            " (the token may lack a scope or role: a project access token with `api` scope and the Reporter role at least)"
        }
        (_, 429) => " (rate limited, and still after the retries)",
        _ => "",
    }
}

/// What to do when the token writes as someone the run did not expect.
fn author_hint(forge: &'static str, login: &str) -> String {
    match forge {
        "github" if crate::identity::is_github_login(login) => {
            format!("; give --author {login} (a GitHub App's or a person's token writes as its own login)")
        }
        "github" => "; give --author with the login the token writes as".to_owned(),
        _ => String::new(),
    }
}
