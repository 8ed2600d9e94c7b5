//! The AIWorkSpace API client: `CreateProductOrders` and `ListProducts`, signed, retried when that
//! is safe, and failing with errors the executor can act on.
//!
//! - [`endpoint`]: region to URL (per-region override, template, public default).
//! - [`request`]: the headers the SDK sends, and signing (pure).
//! - [`error`]: [`ApiError`] and the three failure classes; the service's error body.
//! - `failure`: an [`ApiError`] from an error response, a transport or a credential failure.
//! - [`rpc`]: signed RPC calls (STS `AssumeRole`, Resource Manager `ListAccounts`) over one
//!   shared connection pool ([`RpcClient`]).
//! - [`retry`]: backoff with full jitter, `Retry-After` and `x-acs-retry-after`, the time budget.
//! - [`scrub`]: server text cleaned of the request's secrets and echoed string to sign.
//! - [`types`]: request and response types.
//! - [`transport`]: reqwest with timeouts and proxies, clock formats.

pub mod endpoint;
pub mod error;
mod failure;
pub mod request;
pub mod retry;
pub mod rpc;
pub mod scrub;
pub mod transport;
pub mod types;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use pai_sign::wire;
use pai_spec::{OrderBody, ProductCode, Region, SignatureVersion};
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

pub use endpoint::{Endpoint, EndpointResolver};
pub use error::{AccessDeniedDetail, ApiError, ErrorKind, Failure, OrderRefusal};
pub use request::{Call, SignedRequest, SigningContext};
pub use retry::RetryPolicy;
pub use rpc::RpcClient;
pub use scrub::RequestMaterial;
pub use transport::{ProxyConfig, TransportError};
pub use types::{ListProductsQuery, ListProductsResponse, OrderResponse, ProductStatus, ServiceStatus};

use crate::credentials::CredentialProvider;
use error::classify_response;
use failure::{credential_failure, transport_failure};

/// The action names, as errors and history entries name the call.
pub const CREATE_PRODUCT_ORDERS: &str = wire::CREATE_PRODUCT_ORDERS.action;
pub const LIST_PRODUCTS: &str = wire::LIST_PRODUCTS.action;

/// How the client reaches the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub endpoint: EndpointResolver,
    pub signature: SignatureVersion,
    /// Time allowed to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, from sending to the last byte of the response.
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    pub user_agent: String,
    pub proxy: ProxyConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoint: EndpointResolver::public(),
            signature: SignatureVersion::V3,
            // The SDK's defaults are 5 s and 10 s; an order may take longer to be accepted.
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            user_agent: default_user_agent(),
            proxy: ProxyConfig::FromEnvironment,
        }
    }
}

/// `pai-provision/0.1.0 (linux; x86_64)`.
pub fn default_user_agent() -> String {
    format!(
        "pai-provision/{} ({}; {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Why a [`Client`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A closed resolver ([`EndpointResolver::only`]) does not serve the region.
    #[error("no endpoint for {region}: only {served} are served here")]
    NoEndpoint { region: Region, served: String },
}

/// A wait of the client longer than a moment, for the caller to show (the client prints
/// nothing): a retry after a retry-safe failure (or, for a read, an ambiguous one), or a
/// request sent and not answered after [`ANSWER_NOTICE_AFTER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub action: &'static str,
    pub region: Region,
    /// `host[:port]` the request goes to.
    pub host: String,
    pub kind: WaitKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitKind {
    /// `error` (already cleaned of request material) is retried: attempt `next_attempt` leaves
    /// at `at`, and the client gives up by `gives_up_at` at the latest (no retry starts after
    /// the retry budget, and the last one lasts at most the timeout).
    Retry {
        error: String,
        /// The server refused for load ([`ApiError::is_throttling`]): a fleet run takes it as a
        /// sign to send fewer requests at once.
        throttled: bool,
        next_attempt: u32,
        at: SystemTime,
        gives_up_at: SystemTime,
    },
    /// No answer yet; the client stops listening at `gives_up_at`.
    Answer { gives_up_at: SystemTime },
}

/// Hears of every [`Waiting`] of a client ([`Client::with_wait_observer`]).
pub type WaitObserver = Arc<dyn Fn(&Waiting) + Send + Sync>;

/// A request unanswered this long is announced to the observer.
pub const ANSWER_NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Called with the attempt number just before a request leaves; an `Err` stops it unsent.
pub type BeforeSend<'a, E = String> = dyn Fn(u32) -> Result<(), E> + Send + Sync + 'a;

/// Why [`Client::create_product_orders_noting`] did not return an order: the send hook
/// stopped it before it left (with the hook's own error), or the API call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OrderError<E> {
    /// Nothing was sent: the hook failed.
    NotSent(E),
    Api(ApiError),
}

impl<E: std::fmt::Display> std::fmt::Display for OrderError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderError::NotSent(e) => write!(f, "not sent: {e}"),
            OrderError::Api(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for OrderError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OrderError::NotSent(e) => Some(e),
            OrderError::Api(e) => e.source(),
        }
    }
}

/// Why one attempt ended without a value.
enum Stop<E> {
    Failed(AttemptError),
    Hook(E),
}

impl<E> From<AttemptError> for Stop<E> {
    fn from(e: AttemptError) -> Self {
        Stop::Failed(e)
    }
}

/// Whether an ambiguous failure may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Orders: only failures where the server certainly did not act.
    RetrySafeOnly,
    /// Reads: also failures where it may have.
    AlsoAmbiguous,
}

/// The API client. Cheap to clone; clones share connections and credentials.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    http: reqwest::Client,
    credentials: Arc<dyn CredentialProvider>,
    observer: Option<WaitObserver>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// One failed attempt, before the retry decision.
struct AttemptError {
    error: ApiError,
    retry_after: Option<Duration>,
}

impl AttemptError {
    fn from(error: ApiError) -> Self {
        AttemptError {
            error,
            retry_after: None,
        }
    }
}

impl Client {
    /// A client whose proxies (with [`ProxyConfig::FromEnvironment`]) come from the process environment.
    pub fn new(config: ClientConfig, credentials: Arc<dyn CredentialProvider>) -> Result<Client, ClientError> {
        Client::with_env(config, credentials, &|name| std::env::var(name).ok())
    }

    /// A client whose proxy variables are read through `env`.
    pub fn with_env(
        config: ClientConfig,
        credentials: Arc<dyn CredentialProvider>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Client, ClientError> {
        config.endpoint.validate()?;
        let http = transport::http_client(config.connect_timeout, config.read_timeout, &config.proxy, env)?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                http,
                credentials,
                observer: None,
            }),
        })
    }

    /// This client (sharing its connections), telling `observer` of each wait longer than a
    /// moment: a retry, a request not answered within [`ANSWER_NOTICE_AFTER`].
    pub fn with_wait_observer(&self, observer: WaitObserver) -> Client {
        Client {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                http: self.inner.http.clone(),
                credentials: Arc::clone(&self.inner.credentials),
                observer: Some(observer),
            }),
        }
    }

    /// This client (sharing its connections, configuration and wait observer) signing with
    /// `credentials`: a fleet builds one per account this way, for the price of an `Arc`.
    pub fn with_credentials(&self, credentials: Arc<dyn CredentialProvider>) -> Client {
        Client {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                http: self.inner.http.clone(),
                credentials,
                observer: self.inner.observer.clone(),
            }),
        }
    }

    /// An [`RpcClient`] over this client's connection pool, with its timeout and user agent.
    pub fn rpc_client(&self) -> RpcClient {
        RpcClient::from_http(
            self.inner.http.clone(),
            self.inner.config.read_timeout,
            Some(self.inner.config.user_agent.clone()),
        )
    }

    fn notice(&self, action: &'static str, region: &Region, endpoint: &Endpoint, kind: WaitKind) {
        if let Some(observer) = &self.inner.observer {
            observer(&Waiting {
                action,
                region: region.clone(),
                host: endpoint.host.clone(),
                kind,
            });
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Order products in a region. Retries only failures where the server certainly did not act;
    /// an ambiguous failure comes back at once, after exactly one request reached the network.
    pub async fn create_product_orders(&self, region: &Region, body: &OrderBody) -> Result<OrderResponse, ApiError> {
        let no_hook = |_: u32| Ok::<(), std::convert::Infallible>(());
        self.create_product_orders_noting(region, body, &no_hook)
            .await
            .map_err(|e| match e {
                OrderError::NotSent(never) => match never {},
                OrderError::Api(e) => e,
            })
    }

    /// [`Client::create_product_orders`], calling `before_send` with the attempt number (from 1)
    /// just before each request leaves. When it fails nothing is sent and its error comes back as
    /// it is ([`OrderError::NotSent`]): the executor records each send durably, does not send
    /// what it could not record, and stops on the state's own error.
    pub async fn create_product_orders_noting<E>(
        &self,
        region: &Region,
        body: &OrderBody,
        before_send: &BeforeSend<'_, E>,
    ) -> Result<OrderResponse, OrderError<E>> {
        let call = Call::new(
            wire::CREATE_PRODUCT_ORDERS,
            Vec::new(),
            Some(body.to_json().into_bytes()),
        );
        self.call(region, &call, Replay::RetrySafeOnly, before_send).await
    }

    /// What the account has purchased among `codes` in a region. Read-only, so ambiguous failures
    /// are retried too.
    pub async fn list_products(
        &self,
        region: &Region,
        codes: &[ProductCode],
    ) -> Result<ListProductsResponse, ApiError> {
        self.list_products_with(region, &ListProductsQuery::for_products(codes))
            .await
    }

    /// `ListProducts` with every query parameter under the caller's control.
    pub async fn list_products_with(
        &self,
        region: &Region,
        query: &ListProductsQuery,
    ) -> Result<ListProductsResponse, ApiError> {
        let call = Call::new(wire::LIST_PRODUCTS, query.to_pairs(), None);
        let no_hook = |_: u32| Ok::<(), std::convert::Infallible>(());
        self.call(region, &call, Replay::AlsoAmbiguous, &no_hook)
            .await
            .map_err(|e| match e {
                OrderError::NotSent(never) => match never {},
                OrderError::Api(e) => e,
            })
    }

    async fn call<T: DeserializeOwned, E>(
        &self,
        region: &Region,
        call: &Call,
        replay: Replay,
        before_send: &BeforeSend<'_, E>,
    ) -> Result<T, OrderError<E>> {
        let policy = self.inner.config.retry;
        // Nothing was sent, so the error reports zero attempts.
        let endpoint = self.inner.config.endpoint.resolve(region).map_err(|e| {
            OrderError::Api(ApiError::new(
                ErrorKind::Permanent,
                Failure::Request,
                call.action,
                e.to_string(),
            ))
        })?;
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut previous_delay: Option<Duration> = None;
        loop {
            attempt += 1;
            let failed = match self
                .attempt(region, &endpoint, call, attempt, previous_delay, before_send)
                .await
            {
                Ok(value) => return Ok(value),
                Err(Stop::Hook(e)) => return Err(OrderError::NotSent(e)),
                Err(Stop::Failed(failed)) => failed,
            };
            let AttemptError { mut error, retry_after } = failed;
            error.attempts = attempt;
            let replayable = match error.kind {
                ErrorKind::RetrySafe => true,
                ErrorKind::Ambiguous => replay == Replay::AlsoAmbiguous,
                ErrorKind::Permanent => false,
            };
            if !replayable {
                tracing::debug!(action = call.action, %region, kind = %error.kind, attempt, "not retrying: {error}");
                return Err(OrderError::Api(error));
            }
            let unit: f64 = rand::thread_rng().gen();
            let Some(delay) = policy.next_delay(attempt, retry_after, started.elapsed(), unit) else {
                tracing::debug!(
                    action = call.action,
                    %region,
                    attempt,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "retry budget exhausted: {error}"
                );
                return Err(OrderError::Api(error));
            };
            tracing::debug!(
                action = call.action,
                %region,
                kind = %error.kind,
                attempt,
                delay_ms = delay.as_millis() as u64,
                retry_after_ms = retry_after.map(|d| d.as_millis() as u64),
                "retrying after: {error}"
            );
            // The first retry says what is retried and until when; later ones when they wait long.
            if attempt == 1 || delay >= ANSWER_NOTICE_AFTER {
                let now = SystemTime::now();
                let budget_left = policy.max_elapsed.saturating_sub(started.elapsed());
                let cause = match error.http_status {
                    Some(status) => format!("HTTP {status}: {}", error.message),
                    None => error.message.clone(),
                };
                self.notice(
                    call.action,
                    region,
                    &endpoint,
                    WaitKind::Retry {
                        error: cause,
                        throttled: error.is_throttling(),
                        next_attempt: attempt + 1,
                        at: now + delay,
                        gives_up_at: now + budget_left + self.inner.config.read_timeout,
                    },
                );
            }
            tokio::time::sleep(delay).await;
            previous_delay = Some(delay);
        }
    }

    async fn attempt<T: DeserializeOwned, E>(
        &self,
        region: &Region,
        endpoint: &Endpoint,
        call: &Call,
        attempt: u32,
        previous_delay: Option<Duration>,
        before_send: &BeforeSend<'_, E>,
    ) -> Result<T, Stop<E>> {
        let action = call.action;
        let credentials = self
            .inner
            .credentials
            .credentials()
            .await
            .map_err(|e| AttemptError::from(credential_failure(action, &e)))?;
        let ctx = SigningContext {
            host: endpoint.host.clone(),
            at: OffsetDateTime::now_utc(),
            nonce: request::new_nonce(),
            user_agent: Some(self.inner.config.user_agent.clone()).filter(|ua| !ua.is_empty()),
            retry: previous_delay.map(|d| (attempt - 1, d.as_millis() as u64)),
        };
        let signed = request::sign(self.inner.config.signature, call, &ctx, &credentials);
        // Whatever the server says about this request is cleaned of these before it is kept or logged.
        let material = RequestMaterial::of(&credentials, &signed);
        let mut url = endpoint.base.clone();
        url.set_path(signed.path);
        let query = signed.wire_query();
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        let headers = header_map(&signed)
            .map_err(|m| AttemptError::from(ApiError::new(ErrorKind::Permanent, Failure::Request, action, m)))?;
        tracing::debug!(action, %region, method = signed.method, %url, attempt, "sending request");
        tracing::trace!(headers = ?signed.redacted_headers(), body_bytes = signed.body.len(), "request headers");
        let method = if signed.method == "POST" {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        before_send(attempt).map_err(Stop::Hook)?;
        let sent_at = Instant::now();
        let request = self
            .inner
            .http
            .request(method, url.clone())
            .headers(headers)
            .body(signed.body.clone())
            .send();
        tokio::pin!(request);
        // A request is never dropped here: the wait is only announced.
        let response = tokio::select! {
            response = &mut request => response,
            () = tokio::time::sleep(ANSWER_NOTICE_AFTER) => {
                let left = self.inner.config.read_timeout.saturating_sub(ANSWER_NOTICE_AFTER);
                self.notice(action, region, endpoint, WaitKind::Answer { gives_up_at: SystemTime::now() + left });
                request.await
            }
        }
        .map_err(|e| AttemptError::from(transport_failure(action, signed.method, &url, &e)))?;
        let status = response.status().as_u16();
        let retry_after = retry::retry_after(response.headers(), SystemTime::now());
        let acs_retry_after = retry::acs_retry_after(response.headers()).is_some();
        let header_request_id = response
            .headers()
            .get("x-acs-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|id| scrub::clean(id, &material));
        let body = response.bytes().await;
        let elapsed_ms = sent_at.elapsed().as_millis() as u64;
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                let mut error = transport_failure(action, signed.method, &url, &e);
                error.http_status = Some(status);
                error.request_id = header_request_id;
                // The status line arrived: an error status still tells what happened.
                if status >= 400 {
                    error.kind = classify_response(status, None, acs_retry_after);
                } else {
                    error.kind = ErrorKind::Ambiguous;
                }
                return Err(AttemptError { error, retry_after }.into());
            }
        };
        if (200..300).contains(&status) {
            // Values only: the body must still parse, and what it holds may reach the state.
            let body = match std::str::from_utf8(&body) {
                Ok(text) => scrub::redact_values(text, &material).into_bytes(),
                Err(_) => body.to_vec(),
            };
            return match serde_json::from_slice::<T>(&body) {
                Ok(value) => {
                    tracing::debug!(action, %region, status, request_id = ?header_request_id, elapsed_ms, "response");
                    tracing::trace!(body = %scrub::clean(&String::from_utf8_lossy(&body), &material), "response body");
                    Ok(value)
                }
                Err(e) => {
                    // serde quotes the offending text, which came from the server.
                    let mut error = ApiError::new(
                        ErrorKind::Ambiguous,
                        Failure::InvalidResponse,
                        action,
                        scrub::clean(
                            &format!("HTTP {status} with a body that is not the expected JSON: {e}"),
                            &material,
                        ),
                    );
                    error.http_status = Some(status);
                    error.request_id = header_request_id;
                    Err(AttemptError { error, retry_after }.into())
                }
            };
        }
        let error = failure::status_error(action, status, &body, header_request_id, acs_retry_after, &material);
        tracing::debug!(
            action,
            %region,
            status,
            code = ?error.code,
            request_id = ?error.request_id,
            elapsed_ms,
            "error response"
        );
        Err(AttemptError { error, retry_after }.into())
    }
}

pub(crate) fn header_map(signed: &SignedRequest) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::with_capacity(signed.headers.len());
    for (name, value) in &signed.headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name `{name}`"))?;
        // The value is not quoted: it may be a token.
        let mut value = HeaderValue::from_str(value).map_err(|_| format!("invalid value for header `{name}`"))?;
        if request::SENSITIVE_HEADERS.contains(&name.as_str()) {
            value.set_sensitive(true);
        }
        map.insert(header, value);
    }
    Ok(map)
}
