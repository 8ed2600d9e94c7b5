//! The two things a pipeline asks of the forge after a plan, each a listing, the pure rule,
//! then the writes it decided: the plan comment ([`post_comment`]) and the drift issues
//! ([`file_drift`]). Run again, each finds what it wrote by its marker and its author, so a
//! retried job does not add a second comment or issue; and a post whose outcome is unknown (a
//! 5xx, a lost answer) is followed by a listing before it is ever posted again (`post_once`).

use std::future::Future;
use std::time::Instant;

use serde::Serialize;

use crate::client::{Client, ForgeError};
use crate::comment::{carries, decide, strangers, Comment, CommentAction};
use crate::drift::{self, closing_comment, closing_marker, marked_fingerprint, reconcile, Drift, Issue, IssueAction};
use crate::error::NotByUs;
use crate::identity::{Author, Identity};

/// The plan comment after [`post_comment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub action: CommentAction,
    /// Its page (`None` only in a dry run).
    pub url: Option<String>,
}

/// Creates the comment of `key` with `body` (already fitted, its marker first), or updates the
/// oldest of the token's own that carries the marker. A dry run lists the comments and writes
/// nothing.
pub async fn post_comment(client: &Client, key: &str, body: &str, dry_run: bool) -> Result<Posted, ForgeError> {
    let me = client.identity().await?;
    let existing = client.list_comments().await?;
    for c in strangers(&existing, key, &me) {
        tracing::info!(
            "comment {} carries the marker of `{key}` but is by {}, not by {me}: ignored (neither read nor edited)",
            c.id,
            c.author
        );
    }
    let action = decide(&existing, key, &me);
    if dry_run {
        let url = match action {
            CommentAction::Update { id } => existing.iter().find(|c| c.id == id).and_then(|c| c.url.clone()),
            CommentAction::Create => None,
        };
        return Ok(Posted { action, url });
    }
    let comment = match action {
        CommentAction::Update { id } => client.update_comment(id, body).await?,
        CommentAction::Create => {
            let find = || async {
                let existing = client.list_comments().await?;
                Ok(match decide(&existing, key, &me) {
                    CommentAction::Update { id } => Some(id),
                    CommentAction::Create => None,
                })
            };
            match post_once(client, "the comment", || client.create_comment(body), find).await? {
                Outcome::Posted(comment) => {
                    check_author(client, &me, "comment", &comment.author, comment.url.as_deref())?;
                    comment
                }
                // Found after a lost answer: it holds this run's body, whoever's post made it.
                Outcome::Found(id) => client.update_comment(id, body).await?,
            }
        }
    };
    Ok(Posted {
        action,
        url: comment.url,
    })
}

/// What [`post_once`] ended with.
enum Outcome<T, F> {
    /// The post's own answer.
    Posted(T),
    /// Found by listing again after a post whose outcome was unknown.
    Found(F),
}

/// Posts with `post`, at most once in effect: when the post fails so that whether the forge
/// made it is unknown ([`ForgeError::outcome_unknown`]), `find` lists again; what it finds is
/// taken as posted, and only when it finds nothing is the post made again, within the client's
/// retries.
async fn post_once<T, F, P, PF, L, LF>(
    client: &Client,
    what: &str,
    mut post: P,
    mut find: L,
) -> Result<Outcome<T, F>, ForgeError>
where
    P: FnMut() -> PF,
    PF: Future<Output = Result<T, ForgeError>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<F>, ForgeError>>,
{
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match post().await {
            Ok(posted) => return Ok(Outcome::Posted(posted)),
            Err(error) if error.outcome_unknown() => error,
            Err(error) => return Err(error),
        };
        let Some(delay) = client.retry.delay(attempt, None, started.elapsed()) else {
            return Err(error);
        };
        tracing::warn!("posting {what}: {error}: it may have been made; listing again before posting again");
        tokio::time::sleep(delay).await;
        if let Some(found) = find().await? {
            tracing::info!("{what} was made after all: not posted again");
            return Ok(Outcome::Found(found));
        }
    }
}

/// Whether what the forge just made is `me`'s: if the token writes as another (a GitHub App's
/// token without `--author`), the next run would not take it for its own and make another.
fn check_author(
    client: &Client,
    me: &Identity,
    what: &'static str,
    author: &Author,
    url: Option<&str>,
) -> Result<(), ForgeError> {
    if me.wrote(author) {
        return Ok(());
    }
    Err(ForgeError::NotByUs(Box::new(NotByUs {
        forge: client.context().forge.as_str(),
        what,
        url: url.unwrap_or_default().to_owned(),
        author: author.to_string(),
        author_login: author.login.clone(),
        expected: me.to_string(),
    })))
}

/// One issue of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filed {
    pub fingerprint: String,
    pub title: String,
    /// The issue's page; `null` for one a dry run would open.
    pub url: Option<String>,
}

/// What `drift --format json` prints (`docs/forge.md`): a workflow notifies when `opened` is
/// not empty, and tells "would place orders" from "only records" by `would_order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    pub key: String,
    /// Drifts found in the plans (each counted once).
    pub drifts: usize,
    /// Whether applying the plans would place an order for some drift (`order`, `reorder`).
    pub would_order: bool,
    pub opened: Vec<Filed>,
    pub updated: Vec<Filed>,
    pub closed: Vec<Filed>,
    /// Fleet accounts that could not be planned: their drift is unknown, and their issues are
    /// left open.
    pub not_planned: Vec<String>,
    pub dry_run: bool,
}

/// Reconciles the open drift issues of `key` with `drifts`: opens one per new drift, rewrites
/// the body of one still drifting, closes with a comment one resolved. While some fleet
/// account could not be planned (`not_planned`), no issue is closed as resolved: not seeing
/// a drift is then not seeing it gone, and an issue does not say which account it is of in a
/// form to trust. A dry run lists and writes nothing.
pub async fn file_drift(
    client: &Client,
    key: &str,
    drifts: &[Drift],
    not_planned: &[String],
    run_url: Option<&str>,
    dry_run: bool,
) -> Result<DriftReport, ForgeError> {
    let me = client.identity().await?;
    let open = client.list_drift_issues().await?;
    for i in drift::strangers(&open, key, &me) {
        tracing::info!(
            "issue #{} carries a drift marker of `{key}` but is by {}, not by {me}: ignored (neither updated nor closed)",
            i.number,
            i.author
        );
    }
    let mut report = DriftReport {
        key: key.to_owned(),
        drifts: 0,
        would_order: drifts.iter().any(Drift::would_order),
        opened: vec![],
        updated: vec![],
        closed: vec![],
        not_planned: not_planned.to_vec(),
        dry_run,
    };
    for action in reconcile(&open, drifts, key, &me) {
        match action {
            IssueAction::Open { drift } => {
                report.drifts += 1;
                let url = if dry_run {
                    None
                } else {
                    Some(open_issue(client, &me, key, &drift, run_url).await?.url)
                };
                report.opened.push(filed(&drift, url));
            }
            IssueAction::Update { number, url, drift } => {
                report.drifts += 1;
                if !dry_run {
                    client.update_issue(number, &drift.body(key, run_url)).await?;
                }
                report.updated.push(filed(&drift, Some(url)));
            }
            IssueAction::Close {
                number,
                url,
                title,
                fingerprint,
                duplicate_of,
            } => {
                if duplicate_of.is_none() && !not_planned.is_empty() {
                    // An account not planned may still drift: its issues are not resolved.
                    continue;
                }
                if !dry_run {
                    let comment = closing_comment(key, &fingerprint, duplicate_of, run_url);
                    close_issue(client, &me, number, &closing_marker(key, &fingerprint), &comment).await?;
                }
                report.closed.push(Filed {
                    fingerprint,
                    title,
                    url: Some(url),
                });
            }
        }
    }
    Ok(report)
}

/// Opens the issue of `drift`, once: after a post whose outcome is unknown, the open issues are
/// listed again and `me`'s of the same drift, if there is one now, is the one opened.
async fn open_issue(
    client: &Client,
    me: &Identity,
    key: &str,
    drift: &Drift,
    run_url: Option<&str>,
) -> Result<Issue, ForgeError> {
    let body = drift.body(key, run_url);
    let find = || async {
        let open = client.list_drift_issues().await?;
        Ok(open
            .into_iter()
            .find(|i| me.wrote(&i.author) && marked_fingerprint(&i.body, key).as_deref() == Some(&drift.fingerprint)))
    };
    match post_once(client, "the issue", || client.create_issue(&drift.title, &body), find).await? {
        Outcome::Posted(issue) => {
            check_author(client, me, "issue", &issue.author, Some(&issue.url))?;
            Ok(issue)
        }
        Outcome::Found(issue) => Ok(issue),
    }
}

/// Comments on an issue with its closing comment, unless `me`'s is there already (a run that
/// failed before closing, a lost answer), then closes it.
async fn close_issue(
    client: &Client,
    me: &Identity,
    number: u64,
    marker: &str,
    comment: &str,
) -> Result<(), ForgeError> {
    let find = || async {
        let comments: Vec<Comment> = client.list_issue_comments(number).await?;
        Ok(comments
            .into_iter()
            .find(|c| me.wrote(&c.author) && carries(&c.body, marker))
            .map(|c| c.id))
    };
    if find().await?.is_none() {
        post_once(
            client,
            "the closing comment",
            || client.comment_on_issue(number, comment),
            find,
        )
        .await?;
    }
    client.close_issue(number).await
}

fn filed(drift: &Drift, url: Option<String>) -> Filed {
    Filed {
        fingerprint: drift.fingerprint.clone(),
        title: drift.title.clone(),
        url,
    }
}
