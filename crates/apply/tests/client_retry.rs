//! The failure classes against a local server that misbehaves on purpose: for each, the
//! classification, how many requests reached the server (an ambiguous order exactly one), and
//! the delays honoured.

#[path = "client_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use pai_apply::{Credentials, ErrorKind, Failure};
use pai_spec::{ProductCode, SignatureVersion};
use support::*;

fn creds() -> Credentials {
    Credentials::new("LTAI-retry-test", "retry-test-secret")
}

#[tokio::test]
async fn throttled_with_retry_after_then_ok_honours_the_delay() {
    let server = ScriptedServer::start(
        vec![Step::Respond(
            429,
            vec![("retry-after".into(), "1".into())],
            r#"{"RequestId":"T-1","Code":"Throttling.User","Message":"Request was denied due to user flow control."}"#
                .into(),
        )],
        Step::json(200, ORDER_OK),
    )
    .await;
    let client = client(config(&server.url(), SignatureVersion::V3, fast_retry(10_000)), creds());
    let order = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect("ordered after the throttle");
    assert_eq!(order.order_id.as_deref(), Some("ORDER-1"));
    assert_eq!(order.product_ids, ["P-1"]);
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "one throttled request and one retry");
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_secs(1), "Retry-After: 1 honoured, waited {gap:?}");
    // The retry is signed afresh, with the SDK's retry headers and a new nonce.
    assert_eq!(seen[1].header("x-acs-retry-attempts"), Some("1"));
    assert!(seen[1]
        .header("x-acs-retry-delay")
        .is_some_and(|d| d.parse::<u64>().is_ok_and(|ms| ms >= 1000)));
    assert_ne!(
        seen[0].header("x-acs-signature-nonce"),
        seen[1].header("x-acs-signature-nonce")
    );
    assert_eq!(seen[0].header("x-acs-retry-attempts"), None);
}

#[tokio::test]
async fn throttling_code_on_400_is_retried_with_the_acs_delay() {
    let throttle = Step::Respond(
        400,
        vec![("x-acs-retry-after".into(), "200".into())],
        r#"{"RequestId":"T-2","Code":"Throttling.Api","Message":"slow down"}"#.into(),
    );
    let server = ScriptedServer::start(vec![throttle.clone(), throttle], Step::json(200, LIST_OK)).await;
    let client = client(config(&server.url(), SignatureVersion::V2, fast_retry(5_000)), creds());
    let listed = client
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect("listed");
    assert_eq!(
        listed.product(ProductCode::Pai).and_then(|p| p.is_purchased),
        Some(true)
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    for pair in seen.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(200),
            "x-acs-retry-after honoured, waited {gap:?}"
        );
    }
}

#[tokio::test]
async fn server_error_on_an_order_is_ambiguous_and_sent_once() {
    let server = ScriptedServer::start(
        vec![],
        Step::json(
            500,
            r#"{"RequestId":"E-500","Code":"InternalError","Message":"The request processing has failed."}"#,
        ),
    )
    .await;
    let client = client(config(&server.url(), SignatureVersion::V3, fast_retry(5_000)), creds());
    let err = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("500 must fail");
    assert_eq!(err.kind, ErrorKind::Ambiguous);
    assert!(err.is_ambiguous());
    assert_eq!(err.failure, Failure::Status);
    assert_eq!(err.http_status, Some(500));
    assert_eq!(err.code.as_deref(), Some("InternalError"));
    assert_eq!(err.request_id.as_deref(), Some("E-500"));
    assert_eq!(err.attempts, 1);
    assert_eq!(server.requests().len(), 1, "an ambiguous order is never re-sent");
    let shown = err.to_string();
    assert!(
        shown.contains("CreateProductOrders failed") && shown.contains("RequestId E-500"),
        "{shown}"
    );
}

#[tokio::test]
async fn server_errors_on_a_read_are_retried() {
    let server = ScriptedServer::start(
        vec![
            Step::json(503, r#"{"Code":"ServiceUnavailable"}"#),
            Step::json(500, "{}"),
        ],
        Step::json(200, LIST_OK),
    )
    .await;
    let client = client(config(&server.url(), SignatureVersion::V3, fast_retry(5_000)), creds());
    client
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect("listed after two 5xx");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn connection_closed_without_answer_is_ambiguous_for_an_order() {
    let server = ScriptedServer::start(vec![], Step::Close).await;
    let client = client(config(&server.url(), SignatureVersion::V3, fast_retry(5_000)), creds());
    let err = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("no answer");
    assert_eq!(
        (err.kind, err.failure),
        (ErrorKind::Ambiguous, Failure::ConnectionLost),
        "{err}"
    );
    assert_eq!(err.http_status, None);
    assert_eq!(
        server.requests().len(),
        1,
        "the order reached the server once and was not re-sent"
    );
}

#[tokio::test]
async fn connection_closed_on_a_read_is_retried() {
    let server = ScriptedServer::start(vec![Step::Close], Step::json(200, LIST_OK)).await;
    let client = client(config(&server.url(), SignatureVersion::V2, fast_retry(5_000)), creds());
    client
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect("listed after a dropped connection");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn hanging_past_the_read_timeout_is_ambiguous() {
    let server = ScriptedServer::start(vec![], Step::Hang(Duration::from_secs(5))).await;
    let mut cfg = config(&server.url(), SignatureVersion::V3, fast_retry(5_000));
    cfg.read_timeout = Duration::from_millis(300);
    let client = client(cfg, creds());
    let started = Instant::now();
    let err = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("timed out");
    let took = started.elapsed();
    assert_eq!(
        (err.kind, err.failure),
        (ErrorKind::Ambiguous, Failure::Timeout),
        "{err}"
    );
    // A timeout, not the server's close after its 5 s hang: the read timeout ended the wait.
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn refused_connections_are_retried_within_the_budget() {
    // Bind, learn the port, close: connecting there is refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = client(
        config(
            &format!("http://127.0.0.1:{port}"),
            SignatureVersion::V3,
            fast_retry(600),
        ),
        creds(),
    );
    let err = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("refused");
    assert_eq!(
        (err.kind, err.failure),
        (ErrorKind::RetrySafe, Failure::Connect),
        "{err}"
    );
    assert!(
        err.attempts >= 3,
        "retried while the budget lasted: {} attempts",
        err.attempts
    );
    // That the budget stops the retries is `RetryPolicy::next_delay`'s own table test
    // (`budget_and_retry_after`); a bound on wall time here would only measure the machine.
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn client_errors_are_permanent_and_not_retried() {
    let server = ScriptedServer::start(
        vec![],
        Step::json(
            400,
            r#"{"RequestId":"E-400","Code":"InvalidParameter","Message":"ProductCode is invalid"}"#,
        ),
    )
    .await;
    let client = client(config(&server.url(), SignatureVersion::V2, fast_retry(5_000)), creds());
    let err = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("400");
    assert_eq!((err.kind, err.http_status), (ErrorKind::Permanent, Some(400)));
    assert_eq!(err.message, "ProductCode is invalid");
    let listed = client
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect_err("400");
    assert!(listed.is_permanent());
    assert_eq!(server.requests().len(), 2, "one request per call");
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_gives_up_at_once() {
    let server = ScriptedServer::start(
        vec![],
        Step::Respond(
            429,
            vec![("retry-after".into(), "30".into())],
            r#"{"Code":"Throttling"}"#.into(),
        ),
    )
    .await;
    let client = client(config(&server.url(), SignatureVersion::V3, fast_retry(2_000)), creds());
    let err = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("throttled");
    // One attempt: no retry was scheduled. That giving up does not first sleep is the pure
    // `RetryPolicy::next_delay` answering `None` (its unit test), not a wall-clock bound here.
    assert_eq!((err.kind, err.attempts), (ErrorKind::RetrySafe, 1));
    assert!(err.is_throttling());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unreadable_success_is_ambiguous_for_an_order() {
    let server = ScriptedServer::start(vec![], Step::json(200, "<html>ok</html>")).await;
    let client = client(config(&server.url(), SignatureVersion::V3, fast_retry(5_000)), creds());
    let err = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("garbage");
    assert_eq!(
        (err.kind, err.failure, err.http_status),
        (ErrorKind::Ambiguous, Failure::InvalidResponse, Some(200))
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn responses_with_missing_and_null_fields_are_accepted() {
    let server = ScriptedServer::start(
        vec![Step::json(200, r#"{"RequestId":"R","OrderId":null,"ProductIds":null}"#)],
        Step::json(200, r#"{"RequestId":"R2"}"#),
    )
    .await;
    let client = client(config(&server.url(), SignatureVersion::V3, fast_retry(5_000)), creds());
    let order = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect("accepted");
    assert_eq!(
        (order.request_id.as_deref(), order.order_id, order.product_ids.len()),
        (Some("R"), None, 0)
    );
    let listed = client
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect("accepted");
    assert!(listed.products.is_empty());
}

/// The real service's throttle, as the SDK's own tests mock it: HTTP 400, `Throttling.User`, and
/// `x-acs-retry-after` in milliseconds. Nothing was bought, so an order is sent again, after the
/// advertised wait.
#[tokio::test]
async fn an_order_throttled_with_400_and_acs_retry_after_is_retried_after_the_wait() {
    let server = ScriptedServer::start(
        vec![Step::Respond(
            400,
            vec![("x-acs-retry-after".into(), "300".into())],
            r#"{"RequestId":"A45EE076-334D-5012-9746-A8F828D20FD4","HostId":"aiworkspace.cn-hangzhou.aliyuncs.com","Code":"Throttling.User","Message":"Request was denied due to user flow control."}"#
                .into(),
        )],
        Step::json(200, ORDER_OK),
    )
    .await;
    let client = client(config(&server.url(), SignatureVersion::V3, fast_retry(5_000)), creds());
    let order = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect("ordered after the throttle");
    assert_eq!(order.order_id.as_deref(), Some("ORDER-1"));
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "one throttled order and one retry");
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(300),
        "x-acs-retry-after honoured, waited {gap:?}"
    );
    assert_eq!(seen[1].header("x-acs-retry-attempts"), Some("1"));
    assert!(seen[1]
        .header("x-acs-retry-delay")
        .is_some_and(|d| d.parse::<u64>().is_ok_and(|ms| ms >= 300)));
}

/// The SDK makes any error with a positive `x-acs-retry-after` a throttling error. A 4xx is
/// followed (the server refused it either way); a 5xx order stays ambiguous and is sent once.
#[tokio::test]
async fn acs_retry_after_makes_a_4xx_throttling_but_not_a_5xx_order() {
    let limited = Step::Respond(
        400,
        vec![("x-acs-retry-after".into(), "150".into())],
        r#"{"RequestId":"L-1","Code":"FlowLimit.Exceeded","Message":"too many requests"}"#.into(),
    );
    let server = ScriptedServer::start(vec![limited], Step::json(200, ORDER_OK)).await;
    let client_4xx = client(config(&server.url(), SignatureVersion::V3, fast_retry(5_000)), creds());
    let order = client_4xx.create_product_orders(&region(), &oss_order()).await;
    assert!(order.is_ok(), "{order:?}");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(150));

    let unavailable = ScriptedServer::start(
        vec![],
        Step::Respond(
            503,
            vec![("x-acs-retry-after".into(), "50".into())],
            r#"{"RequestId":"U-1","Code":"ServiceUnavailable","Message":"busy"}"#.into(),
        ),
    )
    .await;
    let client_5xx = client(
        config(&unavailable.url(), SignatureVersion::V3, fast_retry(5_000)),
        creds(),
    );
    let err = client_5xx
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("503");
    assert_eq!((err.kind, err.attempts), (ErrorKind::Ambiguous, 1));
    assert!(!err.is_throttling());
    assert_eq!(unavailable.requests().len(), 1, "an ambiguous order is never re-sent");
    // The same 4xx without the header is an ordinary refusal.
    let plain = ScriptedServer::start(vec![], Step::json(400, r#"{"Code":"FlowLimit.Exceeded"}"#)).await;
    let client_plain = client(config(&plain.url(), SignatureVersion::V2, fast_retry(5_000)), creds());
    let err = client_plain
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect_err("400");
    assert_eq!((err.kind, err.attempts), (ErrorKind::Permanent, 1));
}

/// The POP error shape: `HostId` and `Recommend` kept, an unknown API permanent, a RAM denial
/// naming the action it lacks.
#[tokio::test]
async fn the_service_error_shapes_are_kept() {
    let server = ScriptedServer::start(
        vec![
            Step::json(
                404,
                r#"{"RequestId":"2D26","HostId":"aiworkspace.cn-hangzhou.aliyuncs.com","Code":"InvalidAction.NotFound","Message":"Specified api is not found, please check your url and method.","Recommend":"https://api.aliyun.com/troubleshoot?q=InvalidAction.NotFound&product=AIWorkSpace"}"#,
            ),
            Step::json(
                403,
                r#"{"requestId":"E78A","code":"Forbidden.RAM","message":"User not authorized to operate on the specified resource.","accessDeniedDetail":{"AuthAction":"paiworkspace:CreateProductOrders","AuthPrincipalType":"SubUser","AuthPrincipalDisplayName":"ci","NoPermissionType":"ImplicitDeny","PolicyType":"AccountLevelIdentityBasedPolicy","EncodedDiagnosticMessage":"AQEAAAAAaBc"}}"#,
            ),
        ],
        Step::json(200, ORDER_OK),
    )
    .await;
    let client = client(config(&server.url(), SignatureVersion::V3, fast_retry(5_000)), creds());
    let unknown = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("404");
    assert_eq!((unknown.kind, unknown.attempts), (ErrorKind::Permanent, 1));
    assert_eq!(unknown.code.as_deref(), Some("InvalidAction.NotFound"));
    assert_eq!(unknown.host_id.as_deref(), Some("aiworkspace.cn-hangzhou.aliyuncs.com"));
    assert!(unknown
        .recommend
        .as_deref()
        .is_some_and(|r| r.starts_with("https://api.aliyun.com/troubleshoot")));
    let denied = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("403");
    assert_eq!(
        (denied.kind, denied.http_status, denied.request_id.as_deref()),
        (ErrorKind::Permanent, Some(403), Some("E78A"))
    );
    let detail = denied.access_denied.clone().expect("AccessDeniedDetail");
    assert_eq!(detail.no_permission_type.as_deref(), Some("ImplicitDeny"));
    let shown = denied.to_string();
    assert!(
        shown.contains("RAM denied action paiworkspace:CreateProductOrders"),
        "{shown}"
    );
    assert_eq!(server.requests().len(), 2, "neither was retried");
}
