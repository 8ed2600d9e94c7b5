//! The one HTTP client of both forges: the token in its header and nowhere else (no redirect
//! is followed, no page outside the API URL read), every page of a listing, each call retried
//! as [`crate::retry`] allows within `--timeout` each, and errors that name the call, the HTTP
//! status and the forge's own message. The paths and documents of each forge are in
//! [`crate::github`] and [`crate::gitlab`].

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, LOCATION};
use reqwest::Method;
use serde_json::Value;

use crate::comment::Comment;
use crate::context::{Forge, ForgeContext};
use crate::drift::Issue;
pub use crate::error::ForgeError;
use crate::identity::{Identity, GITHUB_ACTIONS};
use crate::retry::{rate_limited, retry_safe, wait_asked, Retry};
use crate::{github, gitlab};

/// How many pages of one listing are read at most: past it, a forge that always answers
/// "next" would keep a run going for ever.
pub(crate) const MAX_PAGES: usize = 500;

/// A client for the forge of `context`.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) context: ForgeContext,
    http: reqwest::Client,
    timeout: Duration,
    pub(crate) retry: Retry,
}

/// A forge's answer: its headers and its JSON (`Null` for an empty body).
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub json: Value,
}

/// A failed attempt, and what its answer said about trying again.
struct Failed {
    error: ForgeError,
    rate_limited: bool,
    wait: Option<Duration>,
}

impl From<ForgeError> for Failed {
    fn from(error: ForgeError) -> Failed {
        Failed {
            error,
            rate_limited: false,
            wait: None,
        }
    }
}

impl Client {
    /// A client whose every call has `timeout`, from sending to the last byte of the answer.
    pub fn new(context: ForgeContext, timeout: Duration) -> Result<Client, ForgeError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("pai-provision/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            // A redirect would carry the token's header to wherever it points (reqwest drops
            // `Authorization` on another host, not GitLab's `PRIVATE-TOKEN`): none is followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| ForgeError::Transport {
                forge: context.forge.as_str(),
                method: Method::GET,
                path: String::new(),
                source,
            })?;
        Ok(Client {
            context,
            http,
            timeout,
            retry: Retry::default(),
        })
    }

    /// The same client, retrying as `retry` says.
    pub fn with_retry(mut self, retry: Retry) -> Client {
        self.retry = retry;
        self
    }

    pub fn context(&self) -> &ForgeContext {
        &self.context
    }

    pub(crate) fn forge_name(&self) -> &'static str {
        self.context.forge.as_str()
    }

    pub(crate) fn pr(&self) -> Result<u64, ForgeError> {
        self.context.pr.ok_or(ForgeError::NoPullRequest)
    }

    /// Whom the token acts as: on GitHub the login `--author` gives, else the job's bot; on
    /// GitLab, the token's user, asked.
    pub async fn identity(&self) -> Result<Identity, ForgeError> {
        match self.context.forge {
            Forge::GitHub => Ok(Identity::Login(
                self.context.author.clone().unwrap_or_else(|| GITHUB_ACTIONS.to_owned()),
            )),
            Forge::GitLab => gitlab::current_user(self).await,
        }
    }

    /// One call, tried again as long as [`retry_safe`] and the budget allow: `path` is under
    /// the API URL (or, for a page, a whole URL under it).
    pub(crate) async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer, ForgeError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failed = match self.attempt(&method, path, body).await {
                Ok(answer) => return Ok(answer),
                Err(failed) => failed,
            };
            if !retry_safe(&failed.error, &method, failed.rate_limited) {
                return Err(failed.error);
            }
            let Some(delay) = self.retry.delay(attempt, failed.wait, started.elapsed()) else {
                tracing::debug!(attempt, "no retry left: {}", failed.error);
                return Err(failed.error);
            };
            // Said by default: a run that waits should say why.
            tracing::warn!(
                "{}; retrying in {delay:?} (attempt {} of at most {})",
                failed.error,
                attempt + 1,
                self.retry.attempts
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, method: &Method, path: &str, body: Option<&Value>) -> Result<Answer, Failed> {
        let forge = self.forge_name();
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.context.api_url)
        };
        let shown = url.strip_prefix(&self.context.api_url).unwrap_or(&url).to_owned();
        let (name, scheme) = match self.context.forge {
            Forge::GitHub => ("Authorization", "Bearer "),
            Forge::GitLab => ("PRIVATE-TOKEN", ""),
        };
        // Sensitive: left out of the HTTP stack's own debug output.
        let mut secret = HeaderValue::from_str(&format!("{scheme}{}", self.context.token.expose())).map_err(|_| {
            ForgeError::BadToken {
                variable: self.context.forge.token_variable(),
            }
        })?;
        secret.set_sensitive(true);
        let mut request = self.http.request(method.clone(), &url).header(name, secret);
        if self.context.forge == Forge::GitHub {
            request = request
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28");
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        tracing::debug!(forge, %method, path = %shown, "forge call");
        let transport = |source: reqwest::Error| {
            if source.is_timeout() {
                ForgeError::Timeout {
                    forge,
                    method: method.clone(),
                    path: shown.clone(),
                    after: self.timeout,
                }
            } else {
                ForgeError::Transport {
                    forge,
                    method: method.clone(),
                    path: shown.clone(),
                    source: source.without_url(),
                }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if status.is_redirection() {
            return Err(ForgeError::Redirect {
                forge,
                method: method.clone(),
                path: shown,
                status: status.as_u16(),
                host: self.host_of(&url, &headers),
            }
            .into());
        }
        let text = response.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(Failed {
                error: ForgeError::Status {
                    forge,
                    method: method.clone(),
                    path: shown,
                    status: status.as_u16(),
                    message: self.message_of(&text),
                },
                rate_limited: rate_limited(&headers),
                wait: wait_asked(&headers, SystemTime::now()),
            });
        }
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| ForgeError::Answer {
                forge,
                method: method.clone(),
                path: shown.clone(),
                why: format!("not JSON ({e})"),
            })?
        };
        Ok(Answer { headers, json })
    }

    /// Where a redirect points, for the error: the `Location`'s host and port, printable.
    fn host_of(&self, url: &str, headers: &HeaderMap) -> String {
        let target = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| reqwest::Url::parse(url).ok()?.join(location).ok());
        let host = match target.as_ref().and_then(|t| Some((t.host_str()?, t.port()))) {
            Some((host, Some(port))) => format!("{host}:{port}"),
            Some((host, None)) => host.to_owned(),
            None => "an unknown place (no Location)".to_owned(),
        };
        pai_spec::escape(&self.context.token.scrub(&host)).into_owned()
    }

    /// The forge's own words from an error body, short and printable, without the token.
    fn message_of(&self, text: &str) -> String {
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        let message = parsed
            .as_ref()
            .and_then(|v| v.get("message").or_else(|| v.get("error")))
            .map(|m| match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| text.to_owned());
        let message = self.context.token.scrub(message.trim());
        let mut short: String = pai_spec::escape(&message).chars().take(300).collect();
        if short.is_empty() {
            short.push_str("(no message)");
        }
        short
    }

    /// Every item of a listing, following the forge's pagination: GitHub's `Link: <...>;
    /// rel="next"`, GitLab's `x-next-page`. `first` has a query string already.
    pub(crate) async fn list(&self, first: &str) -> Result<Vec<Value>, ForgeError> {
        let forge = self.forge_name();
        let mut items = Vec::new();
        let mut next = Some(first.to_owned());
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(ForgeError::TooManyPages {
                    forge,
                    path: first.to_owned(),
                });
            }
            let answer = self.send(Method::GET, &path, None).await?;
            match answer.json {
                Value::Array(page) => items.extend(page),
                other => {
                    return Err(ForgeError::Answer {
                        forge,
                        method: Method::GET,
                        path,
                        why: format!("a list was expected, not {}", kind(&other)),
                    })
                }
            }
            next = match self.context.forge {
                Forge::GitHub => match next_link(&answer.headers) {
                    Some(url) if url.starts_with(&format!("{}/", self.context.api_url)) => Some(url),
                    Some(url) => {
                        return Err(ForgeError::ForeignPage {
                            forge,
                            url,
                            base: self.context.api_url.clone(),
                        })
                    }
                    None => None,
                },
                Forge::GitLab => header(&answer.headers, "x-next-page")
                    .filter(|n| !n.is_empty())
                    .and_then(|n| n.parse::<u64>().ok())
                    .map(|n| format!("{first}&page={n}")),
            };
        }
        Ok(items)
    }

    /// The pull or merge request's comments, oldest first (GitLab's system notes left out).
    pub async fn list_comments(&self) -> Result<Vec<Comment>, ForgeError> {
        match self.context.forge {
            Forge::GitHub => github::list_comments(self).await,
            Forge::GitLab => gitlab::list_comments(self).await,
        }
    }

    /// Posts a comment; returns it with its page's URL.
    pub async fn create_comment(&self, body: &str) -> Result<Comment, ForgeError> {
        match self.context.forge {
            Forge::GitHub => github::create_comment(self, body).await,
            Forge::GitLab => gitlab::create_comment(self, body).await,
        }
    }

    pub async fn update_comment(&self, id: u64, body: &str) -> Result<Comment, ForgeError> {
        match self.context.forge {
            Forge::GitHub => github::update_comment(self, id, body).await,
            Forge::GitLab => gitlab::update_comment(self, id, body).await,
        }
    }

    /// The open issues labelled [`crate::drift::LABEL`].
    pub async fn list_drift_issues(&self) -> Result<Vec<Issue>, ForgeError> {
        match self.context.forge {
            Forge::GitHub => github::list_drift_issues(self).await,
            Forge::GitLab => gitlab::list_drift_issues(self).await,
        }
    }

    /// Opens an issue labelled [`crate::drift::LABEL`].
    pub async fn create_issue(&self, title: &str, body: &str) -> Result<Issue, ForgeError> {
        match self.context.forge {
            Forge::GitHub => github::create_issue(self, title, body).await,
            Forge::GitLab => gitlab::create_issue(self, title, body).await,
        }
    }

    /// Rewrites an issue's body (and nothing else: an edit notifies nobody).
    pub async fn update_issue(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        match self.context.forge {
            Forge::GitHub => github::update_issue(self, number, body).await,
            Forge::GitLab => gitlab::update_issue(self, number, body).await,
        }
    }

    /// An issue's comments, oldest first (GitLab's system notes left out).
    pub async fn list_issue_comments(&self, number: u64) -> Result<Vec<Comment>, ForgeError> {
        match self.context.forge {
            Forge::GitHub => github::list_issue_comments(self, number).await,
            Forge::GitLab => gitlab::list_issue_comments(self, number).await,
        }
    }

    /// Comments on an issue.
    pub async fn comment_on_issue(&self, number: u64, body: &str) -> Result<Comment, ForgeError> {
        match self.context.forge {
            Forge::GitHub => github::comment_on_issue(self, number, body).await,
            Forge::GitLab => gitlab::comment_on_issue(self, number, body).await,
        }
    }

    /// Closes an issue (closing one closed already changes nothing).
    pub async fn close_issue(&self, number: u64) -> Result<(), ForgeError> {
        match self.context.forge {
            Forge::GitHub => github::close_issue(self, number).await,
            Forge::GitLab => gitlab::close_issue(self, number).await,
        }
    }

    /// An error for an answer without a field the API documents.
    pub(crate) fn missing(&self, method: Method, path: &str, field: &str) -> ForgeError {
        ForgeError::Answer {
            forge: self.forge_name(),
            method,
            path: path.to_owned(),
            why: format!("no `{field}`"),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

/// The `rel="next"` URL of a `Link` header.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = header(headers, "link")?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

/// A field of a JSON object as a number.
pub(crate) fn u64_field(v: &Value, field: &str) -> Option<u64> {
    v.get(field).and_then(Value::as_u64)
}

/// A field of a JSON object as text (`null` and absent are empty).
pub(crate) fn str_field(v: &Value, field: &str) -> String {
    v.get(field).and_then(Value::as_str).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::next_link;

    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        let table = [
            (
                r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#,
                Some("https://api.github.com/repositories/1/issues?page=2"),
            ),
            (
                r#"<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=1>; rel="first""#,
                None,
            ),
            (r#"<https://h/x?page=3>;rel=next"#, Some("https://h/x?page=3")),
            ("", None),
        ];
        for (link, want) in table {
            let mut headers = HeaderMap::new();
            headers.insert("link", HeaderValue::from_str(link).expect("a header value"));
            assert_eq!(next_link(&headers).as_deref(), want, "{link}");
        }
    }
}
