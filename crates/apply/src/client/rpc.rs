//! Signed RPC calls to the services around AIWorkSpace: STS `AssumeRole` (a fleet's way into
//! each account) and Resource Manager `ListAccounts` (a fleet's discovery).
//!
//! An RPC call is `POST /` with the API parameters in the query and `x-acs-action` /
//! `x-acs-version` naming the call, signed ACS3-HMAC-SHA256 by [`request::sign`] exactly as the
//! AIWorkSpace calls are. Both calls are safe to repeat (a read, and an exchange that only makes
//! another session), so every failure but a refusal is retried a few times with jittered
//! backoff. One [`RpcClient`] serves every account of a fleet: its HTTP connection pool, DNS
//! cache and TLS configuration are built once.

use std::time::{Duration, Instant, SystemTime};

use pai_spec::SignatureVersion;
use rand::Rng;
use reqwest::Url;
use time::OffsetDateTime;

use super::error::ErrorKind;
use super::failure::{status_error, transport_failure};
use super::request::{self, Call, SigningContext};
use super::retry::{self, RetryPolicy};
use super::scrub::{self, RequestMaterial};
use super::transport::{http_client, ProxyConfig, TransportError};
use super::{header_map, ApiError, Failure};
use crate::credentials::{CredentialError, CredentialProvider};

/// Attempts of one RPC call, the first included.
pub const RPC_ATTEMPTS: u32 = 4;

/// Backoff between them: a short one, since a caller (the API client) may retry the whole
/// exchange again on its own budget.
pub const RPC_RETRY: RetryPolicy = RetryPolicy {
    max_elapsed: Duration::from_secs(20),
    base: Duration::from_millis(200),
    max_delay: Duration::from_secs(5),
};

/// The HTTP side of signed RPC calls, shared by every provider and discovery call of a run.
/// Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    user_agent: Option<String>,
    timeout: Duration,
    retry: RetryPolicy,
    attempts: u32,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Why an RPC call failed: no credentials to sign with, or the call itself (refused by the
/// server, unreachable, an unreadable answer), its server text already cleaned.
#[derive(Debug)]
pub(crate) enum RpcError {
    Credentials(CredentialError),
    Api(ApiError),
}

/// A success answer's body, with the request's own secrets (should the server echo them)
/// replaced by `***`.
pub(crate) struct RpcAnswer {
    pub body: Vec<u8>,
}

/// Where an RPC service is: a host name (reached over HTTPS) or an `http(s)://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RpcEndpoint {
    base: Url,
    host: String,
}

impl RpcEndpoint {
    /// The reason, when `endpoint` is neither a host name nor an http(s) URL.
    pub(crate) fn parse(endpoint: &str) -> Result<RpcEndpoint, String> {
        let base = endpoint_url(endpoint)?;
        let host = match (base.host_str(), base.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err("expected a host name or an http(s) URL".to_owned()),
        };
        Ok(RpcEndpoint { base, host })
    }

    /// As errors name it: the URL without a trailing `/`.
    pub(crate) fn shown(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }
}

/// `https://host` for a bare host name, the URL itself otherwise; the reason when it is neither.
pub(crate) fn endpoint_url(endpoint: &str) -> Result<Url, String> {
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected a host name or an http(s) URL".to_owned());
    }
    Ok(url)
}

impl RpcClient {
    /// An RPC client of its own; `env` is read for proxies only (with [`ProxyConfig::FromEnvironment`]).
    pub fn new(
        connect_timeout: Duration,
        timeout: Duration,
        proxy: &ProxyConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RpcClient, TransportError> {
        let http = http_client(connect_timeout, timeout, proxy, env)?;
        Ok(RpcClient::from_http(http, timeout, Some(super::default_user_agent())))
    }

    pub(crate) fn from_http(http: reqwest::Client, timeout: Duration, user_agent: Option<String>) -> RpcClient {
        RpcClient {
            http,
            user_agent,
            timeout,
            retry: RPC_RETRY,
            attempts: RPC_ATTEMPTS,
        }
    }

    /// This client with another retry policy and number of attempts (at least one).
    pub fn with_retry(mut self, retry: RetryPolicy, attempts: u32) -> RpcClient {
        self.retry = retry;
        self.attempts = attempts.max(1);
        self
    }

    /// Send `call`, signed with what `credentials` hands out, retrying what may succeed later.
    pub(crate) async fn call(
        &self,
        endpoint: &RpcEndpoint,
        call: &Call,
        credentials: &dyn CredentialProvider,
    ) -> Result<RpcAnswer, RpcError> {
        let started = Instant::now();
        let mut previous_delay: Option<Duration> = None;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (error, retry_after) = match self.attempt(endpoint, call, credentials, attempt, previous_delay).await {
                Ok(answer) => return Ok(answer),
                Err(failed) => failed,
            };
            let transient = match &error {
                RpcError::Credentials(e) => e.is_transient(),
                RpcError::Api(e) => e.kind != ErrorKind::Permanent,
            };
            let unit: f64 = rand::thread_rng().gen();
            let delay = (transient && attempt < self.attempts)
                .then(|| self.retry.next_delay(attempt, retry_after, started.elapsed(), unit))
                .flatten();
            let Some(delay) = delay else {
                return Err(match error {
                    RpcError::Api(mut e) => {
                        e.attempts = attempt;
                        RpcError::Api(e)
                    }
                    other => other,
                });
            };
            tracing::debug!(
                action = call.action,
                endpoint = %endpoint.shown(),
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying the RPC call"
            );
            tokio::time::sleep(delay).await;
            previous_delay = Some(delay);
        }
    }

    async fn attempt(
        &self,
        endpoint: &RpcEndpoint,
        call: &Call,
        credentials: &dyn CredentialProvider,
        attempt: u32,
        previous_delay: Option<Duration>,
    ) -> Result<RpcAnswer, (RpcError, Option<Duration>)> {
        let action = call.action;
        let credentials = credentials
            .credentials()
            .await
            .map_err(|e| (RpcError::Credentials(e), None))?;
        let ctx = SigningContext {
            host: endpoint.host.clone(),
            at: OffsetDateTime::now_utc(),
            nonce: request::new_nonce(),
            user_agent: self.user_agent.clone().filter(|ua| !ua.is_empty()),
            retry: previous_delay.map(|d| (attempt - 1, d.as_millis() as u64)),
        };
        let signed = request::sign(SignatureVersion::V3, call, &ctx, &credentials);
        let material = RequestMaterial::of(&credentials, &signed);
        let api = |e: ApiError| (RpcError::Api(e), None);
        let headers =
            header_map(&signed).map_err(|m| api(ApiError::new(ErrorKind::Permanent, Failure::Request, action, m)))?;
        let mut url = endpoint.base.clone();
        url.set_path(signed.path);
        // Errors name the endpoint, not the parameters.
        let shown = url.clone();
        let query = signed.wire_query();
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        tracing::debug!(action, endpoint = %endpoint.shown(), attempt, "sending RPC request");
        tracing::trace!(headers = ?signed.redacted_headers(), "RPC request headers");
        let response = self
            .http
            .post(url)
            .headers(headers)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| api(transport_failure(action, "POST", &shown, &e)))?;
        let status = response.status().as_u16();
        let retry_after = retry::retry_after(response.headers(), SystemTime::now());
        let acs_retry_after = retry::acs_retry_after(response.headers()).is_some();
        let header_request_id = response
            .headers()
            .get("x-acs-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|id| scrub::clean(id, &material));
        let body = response.bytes().await.map_err(|e| {
            let mut error = transport_failure(action, "POST", &shown, &e);
            error.http_status = Some(status);
            (RpcError::Api(error), retry_after)
        })?;
        if (200..300).contains(&status) {
            let body = match std::str::from_utf8(&body) {
                Ok(text) => scrub::redact_values(text, &material).into_bytes(),
                Err(_) => body.to_vec(),
            };
            tracing::debug!(action, status, request_id = ?header_request_id, "RPC response");
            return Ok(RpcAnswer { body });
        }
        let error = status_error(action, status, &body, header_request_id, acs_retry_after, &material);
        tracing::debug!(action, status, code = ?error.code, request_id = ?error.request_id, "RPC error response");
        Err((RpcError::Api(error), retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let parsed = |s: &str| RpcEndpoint::parse(s).map(|e| (e.shown(), e.host));
        assert_eq!(
            parsed("sts.aliyuncs.com"),
            Ok(("https://sts.aliyuncs.com".to_owned(), "sts.aliyuncs.com".to_owned()))
        );
        assert_eq!(
            parsed("http://127.0.0.1:9000/"),
            Ok(("http://127.0.0.1:9000".to_owned(), "127.0.0.1:9000".to_owned()))
        );
        assert!(parsed("ftp://x").is_err());
        assert!(parsed("http://").is_err());
    }
}
