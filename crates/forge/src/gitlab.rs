//! GitLab's REST API (v4): a merge request's comments are its notes
//! (`/projects/{id}/merge_requests/{iid}/notes`), drift issues are issues with a label.
//! Authorization: `PRIVATE-TOKEN` with a project access token of `api` scope.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{str_field, u64_field, Client, ForgeError};
use crate::comment::Comment;
use crate::drift::{Issue, LABEL};
use crate::identity::{Author, Identity};

/// The project's id, or its path with `/` encoded, as the API takes it.
fn project(c: &Client) -> String {
    utf8_percent_encode(&c.context.repo, NON_ALPHANUMERIC).to_string()
}

/// The `author` of a note or an issue.
fn author_of(v: &Value) -> Author {
    let user = v.get("author").unwrap_or(&Value::Null);
    Author {
        id: u64_field(user, "id"),
        login: str_field(user, "username"),
    }
}

fn note_of(c: &Client, method: Method, path: &str, v: &Value, page: Option<&str>) -> Result<Comment, ForgeError> {
    let id = u64_field(v, "id").ok_or_else(|| c.missing(method, path, "id"))?;
    Ok(Comment {
        id,
        body: str_field(v, "body"),
        url: page.map(|u| format!("{u}#note_{id}")),
        author: author_of(v),
    })
}

fn issue_of(c: &Client, method: Method, path: &str, v: &Value) -> Result<Issue, ForgeError> {
    Ok(Issue {
        number: u64_field(v, "iid").ok_or_else(|| c.missing(method, path, "iid"))?,
        title: str_field(v, "title"),
        body: str_field(v, "description"),
        url: str_field(v, "web_url"),
        author: author_of(v),
    })
}

/// Whom the token acts as: `GET /user` (any token with `api` or `read_user` scope may ask).
pub(crate) async fn current_user(c: &Client) -> Result<Identity, ForgeError> {
    let path = "/user";
    let answer = c.send(Method::GET, path, None).await?;
    Ok(Identity::User {
        id: u64_field(&answer.json, "id").ok_or_else(|| c.missing(Method::GET, path, "id"))?,
        username: str_field(&answer.json, "username"),
    })
}

/// "added 1 commit", "approved this merge request", "closed": GitLab's own notes.
fn not_system(v: &&Value) -> bool {
    v.get("system").and_then(Value::as_bool) != Some(true)
}

fn notes_path(c: &Client) -> Result<String, ForgeError> {
    Ok(format!("/projects/{}/merge_requests/{}/notes", project(c), c.pr()?))
}

/// The merge request's page: notes carry no URL of their own, a note's is the page's `#note_ID`.
async fn mr_url(c: &Client) -> Result<String, ForgeError> {
    let path = format!("/projects/{}/merge_requests/{}", project(c), c.pr()?);
    let answer = c.send(Method::GET, &path, None).await?;
    answer
        .json
        .get("web_url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| c.missing(Method::GET, &path, "web_url"))
}

pub(crate) async fn list_comments(c: &Client) -> Result<Vec<Comment>, ForgeError> {
    let path = format!("{}?per_page=100&sort=asc&order_by=created_at", notes_path(c)?);
    let items = c.list(&path).await?;
    items
        .iter()
        .filter(not_system)
        .map(|v| note_of(c, Method::GET, &path, v, None))
        .collect()
}

pub(crate) async fn create_comment(c: &Client, body: &str) -> Result<Comment, ForgeError> {
    let path = notes_path(c)?;
    let answer = c.send(Method::POST, &path, Some(&json!({ "body": body }))).await?;
    let url = mr_url(c).await?;
    note_of(c, Method::POST, &path, &answer.json, Some(&url))
}

pub(crate) async fn update_comment(c: &Client, id: u64, body: &str) -> Result<Comment, ForgeError> {
    let path = format!("{}/{id}", notes_path(c)?);
    let answer = c.send(Method::PUT, &path, Some(&json!({ "body": body }))).await?;
    let url = mr_url(c).await?;
    note_of(c, Method::PUT, &path, &answer.json, Some(&url))
}

pub(crate) async fn list_drift_issues(c: &Client) -> Result<Vec<Issue>, ForgeError> {
    let path = format!(
        "/projects/{}/issues?state=opened&labels={LABEL}&per_page=100",
        project(c)
    );
    let items = c.list(&path).await?;
    items.iter().map(|v| issue_of(c, Method::GET, &path, v)).collect()
}

pub(crate) async fn create_issue(c: &Client, title: &str, body: &str) -> Result<Issue, ForgeError> {
    let path = format!("/projects/{}/issues", project(c));
    let answer = c
        .send(
            Method::POST,
            &path,
            Some(&json!({ "title": title, "description": body, "labels": LABEL })),
        )
        .await?;
    issue_of(c, Method::POST, &path, &answer.json)
}

pub(crate) async fn update_issue(c: &Client, number: u64, body: &str) -> Result<(), ForgeError> {
    let path = format!("/projects/{}/issues/{number}", project(c));
    c.send(Method::PUT, &path, Some(&json!({ "description": body })))
        .await?;
    Ok(())
}

pub(crate) async fn list_issue_comments(c: &Client, number: u64) -> Result<Vec<Comment>, ForgeError> {
    let path = format!(
        "/projects/{}/issues/{number}/notes?per_page=100&sort=asc&order_by=created_at",
        project(c)
    );
    let items = c.list(&path).await?;
    items
        .iter()
        .filter(not_system)
        .map(|v| note_of(c, Method::GET, &path, v, None))
        .collect()
}

pub(crate) async fn comment_on_issue(c: &Client, number: u64, body: &str) -> Result<Comment, ForgeError> {
    let path = format!("/projects/{}/issues/{number}/notes", project(c));
    let answer = c.send(Method::POST, &path, Some(&json!({ "body": body }))).await?;
    note_of(c, Method::POST, &path, &answer.json, None)
}

pub(crate) async fn close_issue(c: &Client, number: u64) -> Result<(), ForgeError> {
    let path = format!("/projects/{}/issues/{number}", project(c));
    c.send(Method::PUT, &path, Some(&json!({ "state_event": "close" })))
        .await?;
    Ok(())
}
