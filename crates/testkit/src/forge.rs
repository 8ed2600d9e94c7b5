//! A fake code host on loopback: the few REST endpoints of GitHub and GitLab that
//! `pai-forge` calls, at their real paths, with their pagination (two items a page, so that
//! every listing takes several), their authentication (401 without the one token), and a
//! store of comments and issues a test reads and seeds. One server answers both: GitHub's API
//! at its root ([`FakeForge::github_url`]), GitLab's under `/api/v4` ([`FakeForge::gitlab_url`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
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

mod github;
mod gitlab;

/// Items a page, whatever `per_page` asks.
pub const PAGE: usize = 2;

/// Which API wrote or reads an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
}

/// A comment on a pull request (GitHub) or a note on a merge request (GitLab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    pub id: u64,
    pub kind: Kind,
    /// `owner/name`, or the GitLab project id or path as the test gave it.
    pub project: String,
    pub pr: u64,
    pub body: String,
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
    pub comments: Vec<String>,
    pub edits: usize,
}

/// Everything the fake holds, and every call it answered.
#[derive(Debug, Clone, Default)]
pub struct Store {
    next_id: u64,
    pub comments: Vec<FakeComment>,
    pub issues: Vec<FakeIssue>,
    /// `METHOD PATH` of every call, in order, with `401` appended to a refused one.
    pub calls: Vec<String>,
}

impl Store {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
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
            ..Store::default()
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
                                async move { Ok::<_, Infallible>(server.handle(req).await) }
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

    /// A copy of the store as it is now.
    pub fn store(&self) -> Store {
        self.store.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A comment someone else wrote (or, with `system`, GitLab did); returns its id.
    pub fn add_comment(&self, kind: Kind, project: &str, pr: u64, body: &str, system: bool) -> u64 {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let id = store.id();
        store.comments.push(FakeComment {
            id,
            kind,
            project: project.to_owned(),
            pr,
            body: body.to_owned(),
            system,
            edits: 0,
        });
        id
    }

    /// An open issue someone else opened; returns its number.
    pub fn add_issue(&self, kind: Kind, project: &str, title: &str, body: &str, labels: &[&str]) -> u64 {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
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
        });
        number
    }
}

#[derive(Clone)]
struct Server {
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
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let query: BTreeMap<String, String> = parts
            .uri
            .query()
            .unwrap_or_default()
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
        };
        let gitlab = path.starts_with("/api/v4/");
        let authorized = if gitlab {
            header("private-token") == self.token
        } else {
            header("authorization") == format!("Bearer {}", self.token)
        };
        let mut log = format!("{} {path}", parts.method);
        let (status, value, headers) = if !authorized {
            log.push_str(" 401");
            let message = if gitlab { "401 Unauthorized" } else { "Bad credentials" };
            answer(StatusCode::UNAUTHORIZED, json!({ "message": message }))
        } else {
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let call = Call {
                method: parts.method.clone(),
                segments: path.trim_start_matches('/').split('/').map(decode).collect(),
                query,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
            if gitlab {
                self.gitlab(&mut store, &call)
            } else {
                self.github(&mut store, &call, &path)
            }
        };
        self.store.lock().unwrap_or_else(|e| e.into_inner()).calls.push(log);
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
