//! GitHub's REST API: a pull request's comments are its issue comments
//! (`/repos/{owner}/{repo}/issues/{number}/comments`), drift issues are issues with a label.
//! Authorization: `Bearer` with the job's `GITHUB_TOKEN`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{str_field, u64_field, Client, ForgeError};
use crate::comment::Comment;
use crate::drift::{Issue, LABEL};
use crate::identity::Author;

fn repo(c: &Client) -> &str {
    &c.context.repo
}

/// The `user` of a comment or an issue (a deleted account's is `null`: nobody's).
fn author_of(v: &Value) -> Author {
    let user = v.get("user").unwrap_or(&Value::Null);
    Author {
        id: u64_field(user, "id"),
        login: str_field(user, "login"),
    }
}

fn comment_of(c: &Client, method: Method, path: &str, v: &Value) -> Result<Comment, ForgeError> {
    Ok(Comment {
        id: u64_field(v, "id").ok_or_else(|| c.missing(method, path, "id"))?,
        body: str_field(v, "body"),
        url: v.get("html_url").and_then(Value::as_str).map(str::to_owned),
        author: author_of(v),
    })
}

fn issue_of(c: &Client, method: Method, path: &str, v: &Value) -> Result<Issue, ForgeError> {
    Ok(Issue {
        number: u64_field(v, "number").ok_or_else(|| c.missing(method, path, "number"))?,
        title: str_field(v, "title"),
        body: str_field(v, "body"),
        url: str_field(v, "html_url"),
        author: author_of(v),
    })
}

pub(crate) async fn list_comments(c: &Client) -> Result<Vec<Comment>, ForgeError> {
    let path = format!("/repos/{}/issues/{}/comments?per_page=100", repo(c), c.pr()?);
    let items = c.list(&path).await?;
    items.iter().map(|v| comment_of(c, Method::GET, &path, v)).collect()
}

pub(crate) async fn create_comment(c: &Client, body: &str) -> Result<Comment, ForgeError> {
    let path = format!("/repos/{}/issues/{}/comments", repo(c), c.pr()?);
    let answer = c.send(Method::POST, &path, Some(&json!({ "body": body }))).await?;
    comment_of(c, Method::POST, &path, &answer.json)
}

pub(crate) async fn update_comment(c: &Client, id: u64, body: &str) -> Result<Comment, ForgeError> {
    let path = format!("/repos/{}/issues/comments/{id}", repo(c));
    let answer = c.send(Method::PATCH, &path, Some(&json!({ "body": body }))).await?;
    comment_of(c, Method::PATCH, &path, &answer.json)
}

pub(crate) async fn list_drift_issues(c: &Client) -> Result<Vec<Issue>, ForgeError> {
    let path = format!("/repos/{}/issues?state=open&labels={LABEL}&per_page=100", repo(c));
    let items = c.list(&path).await?;
    items
        .iter()
        // The issues API lists pull requests too.
        .filter(|v| v.get("pull_request").is_none())
        .map(|v| issue_of(c, Method::GET, &path, v))
        .collect()
}

pub(crate) async fn create_issue(c: &Client, title: &str, body: &str) -> Result<Issue, ForgeError> {
    let path = format!("/repos/{}/issues", repo(c));
    let answer = c
        .send(
            Method::POST,
            &path,
            Some(&json!({ "title": title, "body": body, "labels": [LABEL] })),
        )
        .await?;
    let issue = issue_of(c, Method::POST, &path, &answer.json)?;
    // GitHub silently drops the labels a token may not set; unlabelled, the issue would never
    // be listed again and the next run would open another.
    let labelled = answer
        .json
        .get("labels")
        .and_then(Value::as_array)
        .is_some_and(|labels| {
            labels
                .iter()
                .any(|l| l.get("name").and_then(Value::as_str) == Some(LABEL))
        });
    if !labelled {
        return Err(ForgeError::LabelDropped {
            number: issue.number,
            url: issue.url,
        });
    }
    Ok(issue)
}

pub(crate) async fn update_issue(c: &Client, number: u64, body: &str) -> Result<(), ForgeError> {
    let path = format!("/repos/{}/issues/{number}", repo(c));
    c.send(Method::PATCH, &path, Some(&json!({ "body": body }))).await?;
    Ok(())
}

pub(crate) async fn list_issue_comments(c: &Client, number: u64) -> Result<Vec<Comment>, ForgeError> {
    let path = format!("/repos/{}/issues/{number}/comments?per_page=100", repo(c));
    let items = c.list(&path).await?;
    items.iter().map(|v| comment_of(c, Method::GET, &path, v)).collect()
}

pub(crate) async fn comment_on_issue(c: &Client, number: u64, body: &str) -> Result<Comment, ForgeError> {
    let path = format!("/repos/{}/issues/{number}/comments", repo(c));
    let answer = c.send(Method::POST, &path, Some(&json!({ "body": body }))).await?;
    comment_of(c, Method::POST, &path, &answer.json)
}

pub(crate) async fn close_issue(c: &Client, number: u64) -> Result<(), ForgeError> {
    let path = format!("/repos/{}/issues/{number}", repo(c));
    c.send(
        Method::PATCH,
        &path,
        Some(&json!({ "state": "closed", "state_reason": "completed" })),
    )
    .await?;
    Ok(())
}
