//! The two things a pipeline asks of the forge after a plan, each a listing, the pure rule,
//! then the writes it decided: the plan comment ([`post_comment`]) and the drift issues
//! ([`file_drift`]). Run again, each finds what it wrote by its marker, so a retried job does
//! not add a second comment or issue.

use serde::Serialize;

use crate::client::{Client, ForgeError};
use crate::comment::{decide, CommentAction};
use crate::drift::{closing_comment, reconcile, Drift, IssueAction};

/// The plan comment after [`post_comment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub action: CommentAction,
    /// Its page (`None` only in a dry run).
    pub url: Option<String>,
}

/// Creates the comment of `key` with `body` (already fitted, its marker first), or updates the
/// oldest that carries the marker. A dry run lists the comments and writes nothing.
pub async fn post_comment(client: &Client, key: &str, body: &str, dry_run: bool) -> Result<Posted, ForgeError> {
    let existing = client.list_comments().await?;
    let action = decide(&existing, key);
    if dry_run {
        let url = match action {
            CommentAction::Update { id } => existing.iter().find(|c| c.id == id).and_then(|c| c.url.clone()),
            CommentAction::Create => None,
        };
        return Ok(Posted { action, url });
    }
    let comment = match action {
        CommentAction::Create => client.create_comment(body).await?,
        CommentAction::Update { id } => client.update_comment(id, body).await?,
    };
    Ok(Posted {
        action,
        url: comment.url,
    })
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
    let open = client.list_drift_issues().await?;
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
    for action in reconcile(&open, drifts, key) {
        match action {
            IssueAction::Open { drift } => {
                report.drifts += 1;
                let url = if dry_run {
                    None
                } else {
                    Some(client.create_issue(&drift.title, &drift.body(key, run_url)).await?.url)
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
                    client
                        .close_issue(number, &closing_comment(duplicate_of, run_url))
                        .await?;
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

fn filed(drift: &Drift, url: Option<String>) -> Filed {
    Filed {
        fingerprint: drift.fingerprint.clone(),
        title: drift.title.clone(),
        url,
    }
}
