//! GitHub's side of the fake: a pull request's comments are issue comments, pages are linked
//! with `Link: <...>; rel="next"`.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{answer, not_found, page, Answer, Call, FakeComment, FakeIssue, FakeUser, Kind, Server, Store};

impl Server {
    pub(super) fn github(&self, store: &mut Store, call: &Call, path: &str) -> Answer {
        let s: Vec<&str> = call.segments.iter().map(String::as_str).collect();
        let m = &call.method;
        let text = |field: &str| call.body.get(field).and_then(Value::as_str).map(str::to_owned);
        match s.as_slice() {
            ["repos", owner, name, "issues", "comments", id] if m == Method::PATCH => {
                let project = format!("{owner}/{name}");
                let Some(c) = store
                    .comments
                    .iter_mut()
                    .find(|c| c.kind == Kind::GitHub && c.project == project && c.id.to_string() == *id)
                else {
                    return not_found();
                };
                c.body = text("body").unwrap_or_default();
                c.edits += 1;
                let c = c.clone();
                answer(StatusCode::OK, self.github_comment(&c))
            }
            // A pull request's comments and an issue's share the path, as on GitHub.
            ["repos", owner, name, "issues", n, "comments"] => {
                let project = format!("{owner}/{name}");
                let Ok(n) = n.parse::<u64>() else { return not_found() };
                let is_issue = |i: &FakeIssue| i.kind == Kind::GitHub && i.project == project && i.number == n;
                if m == Method::POST {
                    let id = store.id();
                    let c = FakeComment {
                        id,
                        kind: Kind::GitHub,
                        project: project.clone(),
                        pr: n,
                        body: text("body").unwrap_or_default(),
                        author: store.github_bot.clone(),
                        system: false,
                        edits: 0,
                    };
                    match store.issues.iter_mut().find(|i| is_issue(i)) {
                        Some(issue) => issue.comments.push(c.clone()),
                        None => store.comments.push(c.clone()),
                    }
                    return answer(StatusCode::CREATED, self.github_comment(&c));
                }
                let comments = match store.issues.iter().find(|i| is_issue(i)) {
                    Some(issue) => issue.comments.iter().collect::<Vec<_>>(),
                    None => store
                        .comments
                        .iter()
                        .filter(|c| c.kind == Kind::GitHub && c.project == project && c.pr == n)
                        .collect(),
                };
                let items = comments.into_iter().map(|c| self.github_comment(c)).collect();
                self.github_page(items, call, path)
            }
            ["repos", owner, name, "issues"] => {
                let project = format!("{owner}/{name}");
                if m == Method::POST {
                    let number = store.id();
                    let labels: Vec<String> = call
                        .body
                        .get("labels")
                        .and_then(Value::as_array)
                        .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default();
                    let issue = FakeIssue {
                        kind: Kind::GitHub,
                        project,
                        number,
                        title: text("title").unwrap_or_default(),
                        body: text("body").unwrap_or_default(),
                        labels,
                        open: true,
                        comments: vec![],
                        edits: 0,
                        author: store.github_bot.clone(),
                    };
                    store.issues.push(issue.clone());
                    return answer(StatusCode::CREATED, self.github_issue(&issue));
                }
                let label = call.query.get("labels").cloned().unwrap_or_default();
                let state = call.query.get("state").cloned().unwrap_or_else(|| "open".into());
                let items: Vec<Value> = store
                    .issues
                    .iter()
                    .filter(|i| i.kind == Kind::GitHub && i.project == project)
                    .filter(|i| state == "all" || i.open == (state == "open"))
                    .filter(|i| label.is_empty() || i.labels.contains(&label))
                    .map(|i| self.github_issue(i))
                    .collect();
                self.github_page(items, call, path)
            }
            ["repos", owner, name, "issues", n] if m == Method::PATCH => {
                let project = format!("{owner}/{name}");
                let Some(issue) = store
                    .issues
                    .iter_mut()
                    .find(|i| i.kind == Kind::GitHub && i.project == project && i.number.to_string() == *n)
                else {
                    return not_found();
                };
                if let Some(body) = text("body") {
                    issue.body = body;
                    issue.edits += 1;
                }
                match text("state").as_deref() {
                    Some("closed") => issue.open = false,
                    Some("open") => issue.open = true,
                    _ => {}
                }
                let issue = issue.clone();
                answer(StatusCode::OK, self.github_issue(&issue))
            }
            _ => not_found(),
        }
    }

    fn github_comment(&self, c: &FakeComment) -> Value {
        json!({
            "id": c.id,
            "body": c.body,
            "user": github_user(&c.author),
            "html_url": format!("{}/{}/pull/{}#issuecomment-{}", self.base, c.project, c.pr, c.id),
        })
    }

    fn github_issue(&self, i: &FakeIssue) -> Value {
        json!({
            "number": i.number,
            "title": i.title,
            "body": i.body,
            "state": if i.open { "open" } else { "closed" },
            "labels": i.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "user": github_user(&i.author),
            "html_url": format!("{}/{}/issues/{}", self.base, i.project, i.number),
        })
    }

    /// One page, and GitHub's `Link` header to the next.
    fn github_page(&self, items: Vec<Value>, call: &Call, path: &str) -> Answer {
        let (page, next) = page(items, call);
        let mut headers = vec![];
        if let Some(next) = next {
            let mut query = call.query.clone();
            query.insert("page".into(), next.to_string());
            let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            headers.push((
                "link",
                format!("<{}{path}?{}>; rel=\"next\"", self.base, query.join("&")),
            ));
        }
        (StatusCode::OK, Value::Array(page), headers)
    }
}

/// GitHub's `user` object: a bot's login ends with `[bot]`.
fn github_user(u: &FakeUser) -> Value {
    let kind = if u.login.ends_with("[bot]") { "Bot" } else { "User" };
    json!({"login": u.login, "id": u.id, "type": kind})
}
