//! The HTTP side: one accept loop per listener, one task per connection, routing and faults.
//!
//! Connections are served by hand with hyper rather than through a framework's `serve`, so
//! that `drop_after_commit` can end one connection with no response at all: the handler
//! signals the connection task, which drops the connection (and its socket) mid-request.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming as Body;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use pai_sign::wire;
use pai_spec::Region;
use rand::rngs::StdRng;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::accounts::Directory;
use crate::api::{self, CreateProductOrdersResponse, ValidOrder};
use crate::auth::{self, Identity, Keys, NonceCache, StrictHeaders};
use crate::error::ApiError;
use crate::faults::{Draw, Faults};
use crate::ledger::{Ledger, Order, PayError, Refusal};
use crate::realism::{self, RateWindow, Realism};
use crate::{rpc, sts};

/// Bodies beyond this are refused; a real order is a few hundred bytes.
const BODY_LIMIT: usize = 1 << 20;

/// The RAM action CreateProductOrders needs (its API reference).
const CREATE_ORDER_RAM_ACTION: &str = "pai:CreateOrder";

/// State shared by every listener of one emulator.
pub struct Shared {
    pub keys: Keys,
    pub accounts: Directory,
    pub nonces: Mutex<NonceCache>,
    pub ledger: Mutex<Ledger>,
    /// Serialises commits so that each persisted file holds every earlier order.
    pub commit: tokio::sync::Mutex<()>,
    /// The orders waiting for the next group commit (`commit_pending`).
    pub pending: Mutex<Vec<Pending>>,
    /// Held (shared) by every commit from before its task is spawned until it is done, so that
    /// a shutdown, which takes it exclusively, waits for the commits a hung-up client left.
    pub in_flight: Arc<tokio::sync::RwLock<()>>,
    pub ledger_path: Option<PathBuf>,
    pub faults: Faults,
    pub rng: Mutex<StdRng>,
    pub max_skew: Duration,
    pub realism: Realism,
    /// When each order (by id) became active in this process, for the activation delay.
    pub activated: Mutex<HashMap<String, Instant>>,
    /// Per account: the real service throttles each account apart.
    pub rate: Mutex<HashMap<String, RateWindow>>,
}

impl Shared {
    pub fn ledger_snapshot(&self) -> Ledger {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn mark_active(&self, order_id: &str) {
        let mut activated = self.activated.lock().unwrap_or_else(|e| e.into_inner());
        activated.insert(order_id.to_owned(), Instant::now());
    }
}

/// Accept connections until `shutdown` fires; then drop every open connection.
pub async fn serve(listener: TcpListener, region: Region, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, region.clone(), shared.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    connections.shutdown().await;
}

#[derive(Clone)]
struct Ctx {
    region: Region,
    shared: Arc<Shared>,
    kill: Arc<Notify>,
}

async fn serve_connection(stream: TcpStream, region: Region, shared: Arc<Shared>) {
    let kill = Arc::new(Notify::new());
    let ctx = Ctx {
        region,
        shared,
        kill: kill.clone(),
    };
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(req, ctx).await) }
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        // Dropping the connection future closes the socket without a response.
        () = kill.notified() => tracing::debug!("connection closed after commit (drop_after_commit)"),
    }
}

enum Route {
    Ledger,
    Pay(String),
    /// The anonymous `AssumeRoleWithOIDC`.
    Sts,
    /// A signed RPC call on `/` (STS `AssumeRole`, Resource Manager `ListAccounts`).
    Rpc,
    Api(&'static str),
    NotFound,
}

/// Where a request goes. On `/` a call naming its action in `x-acs-action` is a signed RPC
/// call; one without (the credential chains' `?Action=AssumeRoleWithOIDC`) is the anonymous
/// STS call it always was.
fn route(method: &Method, path: &str, headers: &HeaderMap) -> Route {
    match (method, path) {
        (&Method::GET, "/_emulator/ledger") => Route::Ledger,
        (&Method::POST, p) if p.starts_with("/_emulator/pay/") => {
            Route::Pay(p.trim_start_matches("/_emulator/pay/").to_owned())
        }
        (&Method::GET | &Method::POST, "/" | "") => match headers.get("x-acs-action") {
            Some(action) if action != sts::ACTION => Route::Rpc,
            _ => Route::Sts,
        },
        _ => match wire::operation(method.as_str(), path) {
            Some(op) => Route::Api(op.action),
            None => Route::NotFound,
        },
    }
}

/// Which service answers, for the `HostId` and `Recommend` of an error.
#[derive(Clone, Copy)]
pub(crate) enum Service<'a> {
    AiWorkSpace(&'a Region),
    Sts,
    ResourceManager,
}

impl Service<'_> {
    fn host(self) -> String {
        match self {
            Service::AiWorkSpace(region) => format!("aiworkspace.{region}.aliyuncs.com"),
            Service::Sts => "sts.aliyuncs.com".to_owned(),
            Service::ResourceManager => "resourcemanager.aliyuncs.com".to_owned(),
        }
    }

    fn product(self) -> &'static str {
        match self {
            Service::AiWorkSpace(_) => "AIWorkSpace",
            Service::Sts => "Sts",
            Service::ResourceManager => "ResourceManager",
        }
    }
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

async fn handle(req: Request<Body>, ctx: Ctx) -> Response<Full<Bytes>> {
    let request_id = new_request_id();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let route = route(&parts.method, &path, &parts.headers);
    let rpc_action = parts
        .headers
        .get("x-acs-action")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (action, service) = match &route {
        Route::Api(action) => (*action, Service::AiWorkSpace(&ctx.region)),
        Route::Sts => (sts::ACTION, Service::Sts),
        Route::Rpc => (rpc_action.as_str(), rpc::service(&rpc_action)),
        _ => ("", Service::AiWorkSpace(&ctx.region)),
    };
    let recommend = ctx.shared.realism.recommend;
    let body = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return error_response(&ApiError::body_too_large(BODY_LIMIT), &request_id, service, recommend),
    };
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let headers = match lower_case_headers(&parts.headers) {
        Ok(h) => h,
        Err(e) => return error_response(&e, &request_id, service, recommend),
    };
    let incoming = pai_sign::Request {
        method: parts.method.as_str(),
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    let result = match route {
        Route::Ledger => return ledger_view(&ctx.shared, &query),
        Route::Pay(order_id) => pay(&ctx.shared, &order_id).await,
        Route::Sts => assume_role(&incoming, &ctx, &request_id),
        Route::Rpc => rpc::call(&incoming, &ctx.shared, &request_id).await,
        Route::Api(action) => api_call(action, &incoming, &ctx, &request_id).await,
        Route::NotFound => Err(ApiError::api_not_found()),
    };
    match result {
        Ok(response) => {
            tracing::info!(region = %ctx.region, action, status = 200, request_id, "ok");
            response
        }
        Err(e) => {
            tracing::info!(region = %ctx.region, action, status = e.status.as_u16(), code = %e.code, request_id, "refused");
            let e = if ctx.shared.realism.echo_string_to_sign {
                e.with_echo()
            } else {
                e
            };
            error_response(&e, &request_id, service, recommend)
        }
    }
}

/// `GET /_emulator/ledger`, or `?account=ID` for one account's own ledger.
fn ledger_view(shared: &Shared, query: &[(String, String)]) -> Response<Full<Bytes>> {
    let ledger = shared.ledger_snapshot();
    match query.iter().find(|(k, _)| k == "account") {
        Some((_, account)) => json_response(StatusCode::OK, &ledger.of_account(account), None),
        None => json_response(StatusCode::OK, &ledger, None),
    }
}

fn lower_case_headers(map: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    map.iter()
        .map(|(name, value)| {
            let value = value
                .to_str()
                .map_err(|_| ApiError::invalid_parameter(name.as_str(), "header values must be visible ASCII"))?;
            // http's header names are already lower-case.
            Ok((name.as_str().to_owned(), value.to_owned()))
        })
        .collect()
}

/// The API parameters of an RPC call: the query, and a form body's fields.
pub(crate) fn rpc_params(req: &pai_sign::Request<'_>) -> Vec<(String, String)> {
    let mut params = req.query.to_vec();
    let form = req
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("application/x-www-form-urlencoded"));
    if form {
        params.extend(form_urlencoded::parse(req.body).into_owned());
    }
    params
}

fn assume_role(req: &pai_sign::Request<'_>, ctx: &Ctx, request_id: &str) -> Result<Response<Full<Bytes>>, ApiError> {
    let params = rpc_params(req);
    let now = OffsetDateTime::now_utc();
    let role = sts::parse(&params, now)?;
    let issued = sts::issue(role, &ctx.shared.keys, now, request_id.to_owned());
    tracing::info!(access_key_id = %issued.credentials.access_key_id, expiration = %issued.credentials.expiration, "STS credential issued");
    Ok(json_response(StatusCode::OK, &issued, Some(request_id)))
}

async fn api_call(
    action: &'static str,
    req: &pai_sign::Request<'_>,
    ctx: &Ctx,
    request_id: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let shared = &ctx.shared;
    if shared.faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(shared.faults.latency_ms)).await;
    }
    let now = OffsetDateTime::now_utc();
    let identity = auth::authenticate(req, action, &shared.keys, &shared.nonces, now, shared.max_skew)?;
    let over_rate = {
        let now = Instant::now();
        let mut rate = shared.rate.lock().unwrap_or_else(|e| e.into_inner());
        rate.entry(identity.account.clone())
            .or_insert_with(|| RateWindow::new(now))
            .admit(now, shared.realism.rate_per_s)
    };
    if let Err(wait_ms) = over_rate {
        return Err(ApiError::throttled(wait_ms).with_status(StatusCode::BAD_REQUEST));
    }
    let draw = draw_faults(shared)?;
    if action == wire::LIST_PRODUCTS.action {
        let query = api::parse_list_query(req.query)?;
        let visible = {
            let ledger = shared.ledger.lock().unwrap_or_else(|e| e.into_inner());
            let activated = shared.activated.lock().unwrap_or_else(|e| e.into_inner());
            realism::visible_ledger(
                &ledger,
                &activated,
                &shared.realism,
                &identity.account,
                &ctx.region,
                Instant::now(),
            )
        };
        let mut response = api::list_products(&query, &ctx.region, &visible, request_id.to_owned());
        let may_buy = shared.realism.may_create_orders(&identity.access_key_id);
        for product in &mut response.products {
            product.has_permission_to_purchase = may_buy;
        }
        return Ok(json_response(StatusCode::OK, &response, Some(request_id)));
    }
    if draw.order_error_500 {
        return Err(ApiError::internal());
    }
    // The gateway checks RAM before the service reads the body.
    if !shared.realism.may_create_orders(&identity.access_key_id) {
        return Err(ApiError::no_permission(
            CREATE_ORDER_RAM_ACTION,
            &identity.access_key_id,
        ));
    }
    let content_type = req.single_header("content-type")?;
    let order = api::validate_order(req.body, content_type)?;
    // The commit runs in its own task: a client that hangs up mid-request cannot cancel it
    // halfway, so an order is either in the ledger (file and memory) or not at all.
    let in_flight = shared.in_flight.clone().read_owned().await;
    let committed = tokio::spawn(commit(
        shared.clone(),
        ctx.region.clone(),
        identity,
        order,
        request_id.to_owned(),
        in_flight,
    ))
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "commit task failed");
        ApiError::internal()
    })??;
    let codes: Vec<&str> = committed.product_codes.iter().map(|c| c.as_str()).collect();
    tracing::info!(region = %ctx.region, order_id = %committed.order_id, codes = %codes.join(","), "order recorded");
    if draw.drop_after_commit {
        ctx.kill.notify_one();
        std::future::pending::<()>().await;
    }
    if draw.slow_after_commit {
        tokio::time::sleep(Duration::from_millis(shared.faults.slow_ms)).await;
    }
    let response = CreateProductOrdersResponse {
        request_id: request_id.to_owned(),
        order_id: committed.order_id,
        message: api::SUCCESS_MESSAGE.to_owned(),
        buy_product_request_id: committed.buy_product_request_id,
        product_ids: committed.product_ids,
    };
    Ok(json_response(StatusCode::OK, &response, Some(request_id)))
}

/// Draw one request's faults; a throttle or a 5xx is its answer, the rest is the caller's.
pub(crate) fn draw_faults(shared: &Shared) -> Result<Draw, ApiError> {
    let draw = {
        let mut rng = shared.rng.lock().unwrap_or_else(|e| e.into_inner());
        shared.faults.draw(&mut rng)
    };
    if draw.throttle {
        let throttled = ApiError::throttled(shared.faults.retry_after_ms);
        return Err(if shared.realism.throttle_400 {
            throttled.with_status(StatusCode::BAD_REQUEST)
        } else {
            throttled
        });
    }
    if draw.error_500 {
        return Err(ApiError::internal());
    }
    Ok(draw)
}

/// What an order does to the ledger: records itself, or its refusal.
type Apply = Box<dyn FnOnce(&mut Ledger) -> Result<Order, ApiError> + Send>;

/// One order waiting to be committed: what it does to the ledger, and where its answer goes.
pub(crate) struct Pending {
    apply: Apply,
    answer: tokio::sync::oneshot::Sender<Result<Order, ApiError>>,
}

async fn commit(
    shared: Arc<Shared>,
    region: Region,
    identity: Identity,
    order: ValidOrder,
    request_id: String,
    _in_flight: tokio::sync::OwnedRwLockReadGuard<()>,
) -> Result<Order, ApiError> {
    if shared.realism.processing_ms > 0 {
        // Inside the commit task, so a client that hangs up meanwhile does not cancel it.
        tokio::time::sleep(Duration::from_millis(shared.realism.processing_ms)).await;
    }
    let realism = shared.realism.clone();
    let apply = move |ledger: &mut Ledger| {
        let refused = realism::refusal(ledger, &realism, &identity.account, &region, &order.codes);
        if let Some(refused) = refused {
            ledger.refusals.push(Refusal {
                request_id,
                account: identity.account,
                region,
                product_codes: order.codes,
                access_key_id: identity.access_key_id,
                status: refused.status.as_u16(),
                code: refused.code.clone(),
                at: auth::iso_8601(OffsetDateTime::now_utc()),
            });
            return Err(refused);
        }
        let order_id = ledger.next_order_id();
        let record = Order {
            product_ids: (1..=order.codes.len()).map(|i| format!("{order_id}{i:02}")).collect(),
            order_id,
            account: identity.account,
            region,
            product_codes: order.codes,
            buy_product_request_id: uuid::Uuid::new_v4().to_string(),
            request_id,
            auto_pay: order.auto_pay,
            access_key_id: identity.access_key_id,
            body: order.body,
            at: auth::iso_8601(OffsetDateTime::now_utc()),
            paid_at: None,
            caller: identity.caller,
        };
        ledger.record(record.clone());
        Ok(record)
    };
    let (answer, answered) = tokio::sync::oneshot::channel();
    shared.pending.lock().unwrap_or_else(|e| e.into_inner()).push(Pending {
        apply: Box::new(apply),
        answer,
    });
    commit_pending(&shared).await;
    let record = answered.await.map_err(|_| ApiError::internal())??;
    if !record.is_unpaid() {
        shared.mark_active(&record.order_id);
    }
    Ok(record)
}

/// Group commit: whoever holds the commit lock applies every order waiting by then, in the
/// order they came, writes the ledger file once for all of them and answers each. A fleet
/// orders in thousands of accounts at once, and a write of the whole ledger per order made
/// the emulator itself the bottleneck (orders answered after the client's timeout, then
/// carried out after its settle time). When the write fails nothing changes, and every order
/// of the group is answered `500 InternalError`.
async fn commit_pending(shared: &Shared) {
    let _serial = shared.commit.lock().await;
    let group = std::mem::take(&mut *shared.pending.lock().unwrap_or_else(|e| e.into_inner()));
    if group.is_empty() {
        // Committed by the holder before us.
        return;
    }
    if shared.ledger_path.is_none() {
        // Nothing to write, so nothing to roll back: the orders go into the ledger in place. A
        // copy of the whole ledger per order made a 1,000-account fleet quadratic.
        let mut ledger = shared.ledger.lock().unwrap_or_else(|e| e.into_inner());
        for pending in group {
            let _ = pending.answer.send((pending.apply)(&mut ledger));
        }
        return;
    }
    let mut next = shared.ledger_snapshot();
    let answers: Vec<_> = group
        .into_iter()
        .map(|pending| ((pending.apply)(&mut next), pending.answer))
        .collect();
    let persisted = persist(shared, next).await;
    for (result, answer) in answers {
        let _ = answer.send(match &persisted {
            Ok(()) => result,
            Err(e) => Err(e.clone()),
        });
    }
}

/// Write `next` to the ledger file (if any), then make it the ledger. The caller holds the
/// commit lock. When the write fails nothing changes and the answer is `500 InternalError`.
async fn persist(shared: &Shared, next: Ledger) -> Result<(), ApiError> {
    if let Some(path) = shared.ledger_path.clone() {
        let to_save = next.clone();
        match tokio::task::spawn_blocking(move || to_save.save(&path)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "refused: the ledger could not be persisted");
                return Err(ApiError::internal());
            }
            Err(e) => {
                tracing::error!(error = %e, "the ledger writer failed");
                return Err(ApiError::internal());
            }
        }
    }
    *shared.ledger.lock().unwrap_or_else(|e| e.into_inner()) = next;
    Ok(())
}

/// `POST /_emulator/pay/<OrderId>`, for tests: pay an `AutoPay: false` order.
async fn pay(shared: &Shared, order_id: &str) -> Result<Response<Full<Bytes>>, ApiError> {
    let _serial = shared.commit.lock().await;
    let mut next = shared.ledger_snapshot();
    let paid = next
        .pay(order_id, &auth::iso_8601(OffsetDateTime::now_utc()))
        .map_err(|e| match e {
            PayError::NoSuchOrder(_) => ApiError::business(StatusCode::NOT_FOUND, "OrderNotFound", e.to_string()),
            PayError::AlreadyPaid(_) => ApiError::business(StatusCode::CONFLICT, "OrderAlreadyPaid", e.to_string()),
        })?;
    persist(shared, next).await?;
    shared.mark_active(&paid.order_id);
    tracing::info!(order_id = %paid.order_id, "order paid");
    Ok(json_response(StatusCode::OK, &paid, None))
}

pub(crate) fn json_response<T: Serialize>(
    status: StatusCode,
    value: &T,
    request_id: Option<&str>,
) -> Response<Full<Bytes>> {
    let body = match serde_json::to_vec(value) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response");
            return plain_500();
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json;charset=utf-8"));
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert("x-acs-request-id", id);
    }
    response
}

fn plain_500() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody<'a> {
    request_id: &'a str,
    host_id: String,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    recommend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_denied_detail: Option<&'a serde_json::Value>,
}

fn error_response(e: &ApiError, request_id: &str, service: Service<'_>, recommend: bool) -> Response<Full<Bytes>> {
    let body = ErrorBody {
        request_id,
        host_id: service.host(),
        code: &e.code,
        message: &e.message,
        // The gateway's diagnosis link; codes are `[A-Za-z0-9._]`, so no escaping is needed
        // for them, and the message is not part of it.
        recommend: recommend.then(|| {
            format!(
                "https://api.aliyun.com/troubleshoot?q={}&product={}&requestId={request_id}",
                e.code,
                service.product()
            )
        }),
        access_denied_detail: e.access_denied_detail.as_deref(),
    };
    let mut response = json_response(e.status, &body, Some(request_id));
    if let Some(ms) = e.retry_after_ms {
        let headers = response.headers_mut();
        headers.insert(RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000).max(1)));
        // The official SDK reads this one, in milliseconds.
        headers.insert("x-acs-retry-after", HeaderValue::from(ms));
    }
    response
}
