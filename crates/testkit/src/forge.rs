//! A fake code host on loopback: the few REST endpoints of GitHub and GitLab that
//! `pai-forge` calls, at their real paths, with their pagination (two items a page, so that
//! every listing takes several), their authentication (401 without the one token), and a
//! store of comments and issues a test reads and seeds. One server answers both: GitHub's API
//! at its root ([`FakeForge::github_url`]), GitLab's under `/api/v4` ([`FakeForge::gitlab_url`]).
//!
//! Every comment and issue has an author: what the token writes is its user's
//! ([`FakeForge::bot`], GitLab's also at `GET /api/v4/user`), what a test seeds is a person's
//! ([`person`]) unless it says whose. A test can also make the server misbehave
//! ([`faults`]): refuse a call (a 5xx, a 429 with `Retry-After`), lose an answer after doing
//! the work, answer late, or redirect every call to another host, which is a second
//! [`FakeForge`] that records whatever reaches it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::watch;

pub mod faults;
mod github;
mod gitlab;

pub use faults::{Effect, Fault};

/// Items a page, whatever `per_page` asks.
pub const PAGE: usize = 2;

/// Which API wrote or reads an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
}

/// A user of the forge: GitHub's `login` and `id`, GitLab's `username` and `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    pub id: u64,
    pub login: String,
}

impl FakeUser {
    pub fn new(id: u64, login: &str) -> FakeUser {
        FakeUser {
            id,
            login: login.to_owned(),
        }
    }
}

/// Someone who is not the token's user: what [`FakeForge::add_comment`] and
/// [`FakeForge::add_issue`] write as.
pub fn person() -> FakeUser {
    FakeUser::new(501, "octo-alice")
}

/// Whom the token acts as on GitHub by default: the Actions job's bot (its real id).
pub fn github_actions_bot() -> FakeUser {
    FakeUser::new(41_898_282, "github-actions[bot]")
}

/// Whom the token acts as on GitLab by default: a project access token's bot user.
pub fn gitlab_project_bot() -> FakeUser {
    FakeUser::new(9_001, "project_42_bot_3f2a")
}

/// A comment on a pull request (GitHub) or a note on a merge request (GitLab), or a comment on
/// an issue (then `pr` is the issue's number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    pub id: u64,
    pub kind: Kind,
    /// `owner/name`, or the GitLab project id or path as the test gave it.
    pub project: String,
    pub pr: u64,
    pub body: String,
    pub author: FakeUser,
    /// A GitLab system note ("added 1 commit").
    pub system: bool,
    /// How many times it was edited.
    pub edits: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeIssue {
    pub kind: Kind,
    pub project: String,
    pub number: u64,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub open: bool,
    pub comments: Vec<FakeComment>,
    pub edits: usize,
    pub author: FakeUser,
}

/// Everything the fake holds, and every call it answered.
#[derive(Debug, Clone)]
pub struct Store {
    next_id: u64,
    pub comments: Vec<FakeComment>,
    pub issues: Vec<FakeIssue>,
    /// `METHOD PATH` of every call, in order, with the status appended to one not answered
    /// as asked (`401`, a fault's, `302`) and `lost` to one whose answer was lost.
    pub calls: Vec<String>,
    /// How many calls carried a credential (`Authorization` or `PRIVATE-TOKEN`), right or wrong.
    pub credentials_seen: usize,
    /// Whom the token acts as, on each API.
    pub github_bot: FakeUser,
    pub gitlab_bot: FakeUser,
    /// Faults still to happen, the first that matches a call first.
    pub(crate) faults: Vec<Fault>,
    /// Where every call is sent with a `302`, when set.
    pub(crate) redirect: Option<String>,
}

impl Store {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Whom the token acts as on the API of `kind`.
    pub fn bot(&self, kind: Kind) -> &FakeUser {
        match kind {
            Kind::GitHub => &self.github_bot,
            Kind::GitLab => &self.gitlab_bot,
        }
    }

    pub fn comments_on(&self, project: &str, pr: u64) -> Vec<&FakeComment> {
        self.comments
            .iter()
            .filter(|c| c.project == project && c.pr == pr)
            .collect()
    }

    pub fn open_issues(&self, project: &str) -> Vec<&FakeIssue> {
        self.issues.iter().filter(|i| i.project == project && i.open).collect()
    }

    pub fn issue(&self, project: &str, number: u64) -> Option<&FakeIssue> {
        self.issues.iter().find(|i| i.project == project && i.number == number)
    }

    /// The calls that change something (not GETs).
    pub fn writes(&self) -> Vec<&String> {
        self.calls.iter().filter(|c| !c.starts_with("GET ")).collect()
    }
}

/// The server. Stopped when dropped.
pub struct FakeForge {
    addr: SocketAddr,
    store: Arc<Mutex<Store>>,
    _stop: watch::Sender<bool>,
}

impl FakeForge {
    /// Serves on a free loopback port, on the runtime of `handle`, accepting `token` only.
    pub fn start(handle: &tokio::runtime::Handle, token: &str) -> FakeForge {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap_or_else(|e| panic!("bind: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("non-blocking: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("local address: {e}"));
        let store = Arc::new(Mutex::new(Store {
            // Issues and pull requests share GitHub's numbers: issues from 100, tests' PRs below.
            next_id: 100,
            comments: vec![],
            issues: vec![],
            calls: vec![],
            credentials_seen: 0,
            github_bot: github_actions_bot(),
            gitlab_bot: gitlab_project_bot(),
            faults: vec![],
            redirect: None,
        }));
        let (stop, mut stopped) = watch::channel(false);
        let server = Server {
            store: store.clone(),
            token: token.to_owned(),
            base: format!("http://{addr}"),
        };
        let _entered = handle.enter();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap_or_else(|e| panic!("listener: {e}"));
        handle.spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let server = server.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| {
                                let server = server.clone();
                                async move { server.handle(req).await }
                            });
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        });
                    }
                    _ = stopped.changed() => break,
                }
            }
        });
        FakeForge {
            addr,
            store,
            _stop: stop,
        }
    }

    /// What `GITHUB_API_URL` is set to.
    pub fn github_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What `CI_API_V4_URL` is set to.
    pub fn gitlab_url(&self) -> String {
        format!("http://{}/api/v4", self.addr)
    }

    /// The host and port it serves on, as a `Location` names them.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// A copy of the store as it is now.
    pub fn store(&self) -> Store {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whom the token acts as on the API of `kind`.
    pub fn bot(&self, kind: Kind) -> FakeUser {
        self.lock().bot(kind).clone()
    }

    /// Makes the token act as `user` on the API of `kind` (a GitHub App's bot, a person's
    /// token).
    pub fn act_as(&self, kind: Kind, user: FakeUser) {
        let mut store = self.lock();
        match kind {
            Kind::GitHub => store.github_bot = user,
            Kind::GitLab => store.gitlab_bot = user,
        }
    }

    /// A fault to come (see [`faults`]).
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// From now on every call is answered `302 Found` with `Location: {base}{path}?{query}`,
    /// nothing done.
    pub fn redirect_to(&self, base: &str) {
        self.lock().redirect = Some(base.trim_end_matches('/').to_owned());
    }

    /// A comment a person wrote (or, with `system`, GitLab did); returns its id.
    pub fn add_comment(&self, kind: Kind, project: &str, pr: u64, body: &str, system: bool) -> u64 {
        self.add_comment_by(kind, project, pr, body, system, &person())
    }

    /// A comment `author` wrote; returns its id.
    pub fn add_comment_by(
        &self,
        kind: Kind,
        project: &str,
        pr: u64,
        body: &str,
        system: bool,
        author: &FakeUser,
    ) -> u64 {
        let mut store = self.lock();
        let id = store.id();
        store.comments.push(FakeComment {
            id,
            kind,
            project: project.to_owned(),
            pr,
            body: body.to_owned(),
            author: author.clone(),
            system,
            edits: 0,
        });
        id
    }

    /// An open issue a person opened; returns its number.
    pub fn add_issue(&self, kind: Kind, project: &str, title: &str, body: &str, labels: &[&str]) -> u64 {
        self.add_issue_by(kind, project, title, body, labels, &person())
    }

    /// An open issue `author` opened; returns its number.
    pub fn add_issue_by(
        &self,
        kind: Kind,
        project: &str,
        title: &str,
        body: &str,
        labels: &[&str],
        author: &FakeUser,
    ) -> u64 {
        let mut store = self.lock();
        let number = store.id();
        store.issues.push(FakeIssue {
            kind,
            project: project.to_owned(),
            number,
            title: title.to_owned(),
            body: body.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            open: true,
            comments: vec![],
            edits: 0,
            author: author.clone(),
        });
        number
    }
}

#[derive(Clone)]
pub(crate) struct Server {
    store: Arc<Mutex<Store>>,
    token: String,
    pub(crate) base: String,
}

/// A request as the handlers see it.
pub(crate) struct Call {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: BTreeMap<String, String>,
    pub body: Value,
}

pub(crate) type Answer = (StatusCode, Value, Vec<(&'static str, String)>);

pub(crate) fn answer(status: StatusCode, body: Value) -> Answer {
    (status, body, vec![])
}

pub(crate) fn not_found() -> Answer {
    answer(StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

impl Server {
    /// A call's answer, or an error when its answer is to be lost (the connection closes
    /// without one).
    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let raw_query = parts.uri.query().unwrap_or_default().to_owned();
        let query: BTreeMap<String, String> = raw_query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let gitlab = path.starts_with("/api/v4/");
        let mut log = format!("{} {path}", parts.method);
        let (redirect, fault) = {
            let mut store = self.lock();
            if parts.headers.contains_key("authorization") || parts.headers.contains_key("private-token") {
                store.credentials_seen += 1;
            }
            let fault = store
                .redirect
                .is_none()
                .then(|| store.take_fault(parts.method.as_str(), &path));
            (store.redirect.clone(), fault.flatten())
        };
        if let Some(base) = redirect {
            log.push_str(" 302");
            self.lock().calls.push(log);
            let query = if raw_query.is_empty() {
                String::new()
            } else {
                format!("?{raw_query}")
            };
            return Ok(respond(
                StatusCode::FOUND,
                json!({"message": "Moved"}),
                vec![("location", format!("{base}{path}{query}"))],
            ));
        }
        let authorized = if gitlab {
            header("private-token") == self.token
        } else {
            header("authorization") == format!("Bearer {}", self.token)
        };
        if !authorized {
            log.push_str(" 401");
            self.lock().calls.push(log);
            let message = if gitlab { "401 Unauthorized" } else { "Bad credentials" };
            return Ok(respond(StatusCode::UNAUTHORIZED, json!({ "message": message }), vec![]));
        }
        let mut lose = false;
        match fault {
            Some(Effect::Refuse { status, headers }) => {
                log.push_str(&format!(" {status}"));
                self.lock().calls.push(log);
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let reason = status.canonical_reason().unwrap_or("Refused");
                return Ok(respond(status, json!({ "message": reason }), headers));
            }
            Some(Effect::Delay(wait)) => {
                log.push_str(" late");
                tokio::time::sleep(wait).await;
            }
            Some(Effect::LoseAnswer) => {
                log.push_str(" lost");
                lose = true;
            }
            None => {}
        }
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let call = Call {
            method: parts.method.clone(),
            segments: path.trim_start_matches('/').split('/').map(decode).collect(),
            query,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        };
        let (status, value, headers) = {
            let mut store = self.lock();
            let answer = if gitlab {
                self.gitlab(&mut store, &call)
            } else {
                self.github(&mut store, &call, &path)
            };
            store.calls.push(log);
            answer
        };
        if lose {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the answer is lost (a fault)",
            ));
        }
        Ok(respond(status, value, headers))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn respond(status: StatusCode, value: Value, headers: Vec<(&'static str, String)>) -> Response<Full<Bytes>> {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap_or_else(|e| panic!("a response: {e}"))
}

/// The items of the page the call asks for, and the next page's number if there is one.
pub(crate) fn page(items: Vec<Value>, call: &Call) -> (Vec<Value>, Option<usize>) {
    let n: usize = call.query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let per = call
        .query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(PAGE)
        .clamp(1, PAGE);
    let start = (n - 1) * per;
    let page: Vec<Value> = items.iter().skip(start).take(per).cloned().collect();
    let next = (start + per < items.len()).then_some(n + 1);
    (page, next)
}
