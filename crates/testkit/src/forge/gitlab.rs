//! GitLab's side of the fake (under `/api/v4`): a merge request's comments are notes, listed
//! newest first unless `sort=asc`, pages announced by `x-next-page`.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{answer, not_found, page, Answer, Call, FakeComment, FakeIssue, FakeUser, Kind, Server, Store};

impl Server {
    pub(super) fn gitlab(&self, store: &mut Store, call: &Call) -> Answer {
        let s: Vec<&str> = call.segments.iter().map(String::as_str).collect();
        let m = &call.method;
        let text = |field: &str| call.body.get(field).and_then(Value::as_str).map(str::to_owned);
        let mr_url = |project: &str, iid: &str| format!("{}/{project}/-/merge_requests/{iid}", self.base);
        match s.as_slice() {
            // Whom the token acts as.
            ["api", "v4", "user"] if m == Method::GET => answer(StatusCode::OK, gitlab_user(&store.gitlab_bot)),
            ["api", "v4", "projects", project, "merge_requests", iid] if m == Method::GET => answer(
                StatusCode::OK,
                json!({"iid": iid.parse::<u64>().unwrap_or(0), "web_url": mr_url(project, iid)}),
            ),
            ["api", "v4", "projects", project, "merge_requests", iid, "notes"] => {
                let Ok(pr) = iid.parse::<u64>() else { return not_found() };
                if m == Method::POST {
                    let id = store.id();
                    let c = FakeComment {
                        id,
                        kind: Kind::GitLab,
                        project: (*project).to_owned(),
                        pr,
                        body: text("body").unwrap_or_default(),
                        author: store.gitlab_bot.clone(),
                        system: false,
                        edits: 0,
                    };
                    store.comments.push(c.clone());
                    return answer(StatusCode::CREATED, gitlab_note(&c));
                }
                let mut notes: Vec<&FakeComment> = store
                    .comments
                    .iter()
                    .filter(|c| c.kind == Kind::GitLab && c.project == *project && c.pr == pr)
                    .collect();
                // GitLab lists the newest first unless asked otherwise.
                if call.query.get("sort").map(String::as_str) != Some("asc") {
                    notes.reverse();
                }
                gitlab_page(notes.into_iter().map(gitlab_note).collect(), call)
            }
            ["api", "v4", "projects", project, "merge_requests", iid, "notes", id] if m == Method::PUT => {
                let Some(c) = store.comments.iter_mut().find(|c| {
                    c.kind == Kind::GitLab
                        && c.project == *project
                        && c.pr.to_string() == *iid
                        && c.id.to_string() == *id
                }) else {
                    return not_found();
                };
                c.body = text("body").unwrap_or_default();
                c.edits += 1;
                let c = c.clone();
                answer(StatusCode::OK, gitlab_note(&c))
            }
            ["api", "v4", "projects", project, "issues"] => {
                if m == Method::POST {
                    let number = store.id();
                    let labels = text("labels")
                        .map(|l| l.split(',').map(|s| s.trim().to_owned()).collect())
                        .unwrap_or_default();
                    let issue = FakeIssue {
                        kind: Kind::GitLab,
                        project: (*project).to_owned(),
                        number,
                        title: text("title").unwrap_or_default(),
                        body: text("description").unwrap_or_default(),
                        labels,
                        open: true,
                        comments: vec![],
                        edits: 0,
                        author: store.gitlab_bot.clone(),
                    };
                    store.issues.push(issue.clone());
                    return answer(StatusCode::CREATED, self.gitlab_issue(&issue));
                }
                let label = call.query.get("labels").cloned().unwrap_or_default();
                let state = call.query.get("state").cloned().unwrap_or_else(|| "all".into());
                let items: Vec<Value> = store
                    .issues
                    .iter()
                    .filter(|i| i.kind == Kind::GitLab && i.project == *project)
                    .filter(|i| state == "all" || i.open == (state == "opened"))
                    .filter(|i| label.is_empty() || i.labels.contains(&label))
                    .map(|i| self.gitlab_issue(i))
                    .collect();
                gitlab_page(items, call)
            }
            ["api", "v4", "projects", project, "issues", iid, rest @ ..] => {
                let Some(at) = store
                    .issues
                    .iter()
                    .position(|i| i.kind == Kind::GitLab && i.project == *project && i.number.to_string() == *iid)
                else {
                    return not_found();
                };
                let id = if m == Method::POST { store.id() } else { 0 };
                let bot = store.gitlab_bot.clone();
                let issue = &mut store.issues[at];
                match (m.clone(), rest) {
                    (Method::POST, ["notes"]) => {
                        let c = FakeComment {
                            id,
                            kind: Kind::GitLab,
                            project: (*project).to_owned(),
                            pr: issue.number,
                            body: text("body").unwrap_or_default(),
                            author: bot,
                            system: false,
                            edits: 0,
                        };
                        issue.comments.push(c.clone());
                        answer(StatusCode::CREATED, gitlab_note(&c))
                    }
                    (Method::GET, ["notes"]) => {
                        let mut notes: Vec<&FakeComment> = issue.comments.iter().collect();
                        if call.query.get("sort").map(String::as_str) != Some("asc") {
                            notes.reverse();
                        }
                        gitlab_page(notes.into_iter().map(gitlab_note).collect(), call)
                    }
                    (Method::PUT, []) => {
                        if let Some(body) = text("description") {
                            issue.body = body;
                            issue.edits += 1;
                        }
                        if text("state_event").as_deref() == Some("close") {
                            issue.open = false;
                        }
                        let issue = issue.clone();
                        answer(StatusCode::OK, self.gitlab_issue(&issue))
                    }
                    _ => not_found(),
                }
            }
            _ => not_found(),
        }
    }

    fn gitlab_issue(&self, i: &FakeIssue) -> Value {
        json!({
            "iid": i.number,
            "title": i.title,
            "description": i.body,
            "state": if i.open { "opened" } else { "closed" },
            "labels": i.labels,
            "author": gitlab_user(&i.author),
            "web_url": format!("{}/{}/-/issues/{}", self.base, i.project, i.number),
        })
    }
}

fn gitlab_note(c: &FakeComment) -> Value {
    json!({"id": c.id, "body": c.body, "system": c.system, "author": gitlab_user(&c.author)})
}

fn gitlab_user(u: &FakeUser) -> Value {
    json!({"id": u.id, "username": u.login})
}

/// One page, and GitLab's `x-next-page` (empty on the last).
fn gitlab_page(items: Vec<Value>, call: &Call) -> Answer {
    let (page, next) = page(items, call);
    let next = next.map(|n| n.to_string()).unwrap_or_default();
    (StatusCode::OK, Value::Array(page), vec![("x-next-page", next)])
}
