//! Each realism option, over real HTTP with real signatures: the emulator as hard as the real
//! service. Waits are lower bounds only: a slow machine makes these tests slower, never wrong.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use pai_emulator::{Emulator, Realism};
use pai_spec::ProductCode;
use serde_json::{json, Value};

const OSS: &str = r#"{"ProductCode":"OSS_share","ChargeType":"POSTPAY","OrderType":"BUY","PricingCycle":"Hour","Duration":1,"InstanceProperties":[{"Code":"commodity_type","Value":"oss"},{"Code":"ord_time","Value":"1:Hour"}]}"#;
const PAI: &str =
    r#"{"ProductCode":"PAI_share","ChargeType":"POSTPAY","OrderType":"BUY","Duration":1,"InstanceProperties":[]}"#;

fn order_body(auto_pay: bool, products: &[&str]) -> String {
    format!(r#"{{"AutoPay":{auto_pay},"Products":[{}]}}"#, products.join(","))
}

async fn start_realistic(regions: &[&str], spec: &str) -> Emulator {
    let mut c = config(regions);
    c.realism = spec.parse::<Realism>().unwrap();
    pai_emulator::start(c).await.unwrap()
}

/// `(IsPurchased, HasPermissionToPurchase)` of `code` from ListProducts.
async fn listed(a: SocketAddr, code: &str, key: (&str, &str)) -> (bool, bool) {
    let r = send(a, &Call::list(Algo::V3, code).with_key(key.0, key.1, None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = &r.body["Products"][0];
    assert_eq!(p["ProductCode"], code);
    (
        p["IsPurchased"].as_bool().unwrap(),
        p["HasPermissionToPurchase"].as_bool().unwrap(),
    )
}

async fn is_purchased(a: SocketAddr, code: &str) -> bool {
    listed(a, code, (AK, SECRET)).await.0
}

/// Poll until `check` holds, or fail after a generous minute.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < give_up, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_shows_only_after_the_activation_delay() {
    let delay = Duration::from_millis(3_000);
    let emu = start_realistic(&["cn-hangzhou"], "activation_delay_ms=3000").await;
    let a = addr(&emu, "cn-hangzhou");
    let r = send(a, &Call::order(Algo::V3, PAI_ORDER)).await;
    let ordered = Instant::now();
    assert_eq!(r.status, 200, "{}", r.body);
    let hz = region("cn-hangzhou");
    assert!(
        emu.ledger().is_purchased(&hz, ProductCode::Pai),
        "the ledger has it at once"
    );
    assert!(!is_purchased(a, "PAI_share").await, "ListProducts does not, yet");
    eventually("PAI_share purchased", || is_purchased(a, "PAI_share")).await;
    assert!(ordered.elapsed() >= delay - Duration::from_millis(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_carried_out_after_processing_even_when_the_client_hung_up() {
    let processing = Duration::from_millis(1_500);
    let emu = start_realistic(&["cn-hangzhou"], "processing_ms=1500").await;
    let a = addr(&emu, "cn-hangzhou");
    let sent = Instant::now();
    // The client gives up long before processing can be over, and closes its socket.
    let gave_up = raw_exchange(a, &Call::order(Algo::V3, PAI_ORDER), Duration::from_millis(200)).await;
    assert!(gave_up.is_err(), "no answer before processing: {gave_up:?}");
    eventually("the order recorded", || async { !emu.ledger().orders.is_empty() }).await;
    assert!(sent.elapsed() >= processing, "held for the processing time first");
    assert_eq!(emu.ledger().orders.len(), 1);
    assert!(is_purchased(a, "PAI_share").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_order_is_refused_whole_by_option() {
    let hz = region("cn-hangzhou");
    for (spec, status, code) in [
        ("repeat=order_opend", 400, "ORDER.OPEND"),
        ("repeat=already_opened_500", 500, "InternalError"),
    ] {
        let emu = start_realistic(&["cn-hangzhou"], spec).await;
        let a = addr(&emu, "cn-hangzhou");
        assert_eq!(send(a, &Call::order(Algo::V3, PAI_ORDER)).await.status, 200);
        let r = send(a, &Call::order(Algo::V3, &order_body(true, &[OSS, PAI]))).await;
        assert_eq!((r.status, r.code()), (status, code), "{spec}: {}", r.body);
        if status == 500 {
            assert!(r.body["Message"].as_str().unwrap().contains("您已开通过"), "{}", r.body);
        }
        let ledger = emu.ledger();
        assert_eq!(ledger.orders.len(), 1, "{spec}: nothing billed for the refused order");
        assert_eq!(
            ledger.order_count(&hz, ProductCode::Oss),
            0,
            "{spec}: not even the new product"
        );
        assert!(!ledger.is_purchased(&hz, ProductCode::Oss));
        assert_eq!(ledger.refusals.len(), 1);
        assert_eq!(ledger.refusals[0].code, code);
        assert_eq!(ledger.refusals[0].status, status);
        assert_eq!(ledger.refusals[0].product_codes, [ProductCode::Oss, ProductCode::Pai]);
        let over_http = ledger_over_http(a).await;
        assert_eq!(over_http["refusals"][0]["Code"], code);
    }

    // The kind default still bills a repeat, as today.
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    for _ in 0..2 {
        assert_eq!(send(a, &Call::order(Algo::V3, PAI_ORDER)).await.status, 200);
    }
    assert_eq!(emu.ledger().order_count(&hz, ProductCode::Pai), 2);
    assert!(emu.ledger().refusals.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_is_a_400_throttling_with_retry_after_in_ms() {
    let emu = start_realistic(&["cn-hangzhou"], "rate_per_s=2").await;
    let a = addr(&emu, "cn-hangzhou");
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..12 {
        calls.spawn(async move { send(a, &Call::list(Algo::V3, "PAI_share")).await });
    }
    let mut throttled = Vec::new();
    while let Some(r) = calls.join_next().await {
        let r = r.unwrap();
        if r.status != 200 {
            throttled.push(r);
        }
    }
    assert!(!throttled.is_empty(), "12 calls at once over a rate of 2 a second");
    for r in &throttled {
        assert_eq!((r.status, r.code()), (400, "Throttling.User"), "{}", r.body);
        let ms: u64 = r.headers["x-acs-retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=1000).contains(&ms), "{ms}");
    }

    // The `throttle` fault answers 400 too with throttle_400.
    let mut c = config(&["cn-hangzhou"]);
    c.faults = "throttle=1".parse().unwrap();
    c.realism = "throttle_400=true".parse().unwrap();
    let emu = pai_emulator::start(c).await.unwrap();
    let r = send(addr(&emu, "cn-hangzhou"), &Call::order(Algo::V2, PAI_ORDER)).await;
    assert_eq!((r.status, r.code()), (400, "Throttling.User"));
    assert!(r.headers.contains_key("x-acs-retry-after"));
    assert!(emu.ledger().orders.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_carry_recommend_when_asked() {
    let emu = start_realistic(&["cn-hangzhou"], "recommend=true").await;
    let a = addr(&emu, "cn-hangzhou");
    let r = send(a, &Call::list(Algo::V3, "PAI_share").with_key(AK, "nope", None)).await;
    let mut keys: Vec<&str> = r.body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["Code", "HostId", "Message", "Recommend", "RequestId"]);
    let recommend = r.body["Recommend"].as_str().unwrap();
    assert!(recommend.starts_with("https://"), "{recommend}");
    assert!(recommend.contains("SignatureDoesNotMatch") && recommend.contains(r.body["RequestId"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_pai_create_order_is_denied_and_told_so() {
    const NO_BUY: (&str, &str) = ("LTAI5tNoPurchase", "no-purchase-secret");
    let mut c = config(&["cn-hangzhou"]);
    c.credentials.push((NO_BUY.0.to_owned(), NO_BUY.1.to_owned()));
    c.realism = format!("deny_create_order={}", NO_BUY.0).parse().unwrap();
    let emu = pai_emulator::start(c).await.unwrap();
    let a = addr(&emu, "cn-hangzhou");
    let r = send(a, &Call::order(Algo::V3, PAI_ORDER).with_key(NO_BUY.0, NO_BUY.1, None)).await;
    assert_eq!((r.status, r.code()), (403, "NoPermission"), "{}", r.body);
    assert_eq!(r.body["AccessDeniedDetail"]["AuthAction"], "pai:CreateOrder");
    assert!(emu.ledger().orders.is_empty() && emu.ledger().refusals.is_empty());
    assert_eq!(listed(a, "PAI_share", NO_BUY).await, (false, false));
    assert_eq!(listed(a, "PAI_share", (AK, SECRET)).await, (false, true));
    assert_eq!(
        send(a, &Call::order(Algo::V3, PAI_ORDER)).await.status,
        200,
        "other keys may buy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_refusal_is_a_5xx_after_nothing_was_billed() {
    let hz = region("cn-hangzhou");
    for (spec, status) in [
        ("unbuyable=PAI_share,business_5xx=true", 500),
        ("unbuyable=PAI_share", 400),
    ] {
        let emu = start_realistic(&["cn-hangzhou"], spec).await;
        let a = addr(&emu, "cn-hangzhou");
        let r = send(a, &Call::order(Algo::V3, &order_body(true, &[OSS, PAI]))).await;
        assert_eq!(
            (r.status, r.code()),
            (status, "PRODUCT.NOT_PURCHASABLE"),
            "{spec}: {}",
            r.body
        );
        let ledger = emu.ledger();
        assert!(ledger.orders.is_empty(), "{spec}");
        assert_eq!(ledger.order_count(&hz, ProductCode::Oss), 0);
        assert_eq!(ledger.refusals.len(), 1);
        assert_eq!(ledger.refusals[0].status, status);
        assert!(!is_purchased(a, "OSS_share").await);
    }
}

fn jwt() -> String {
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    format!(
        "{}.{}.c2ln",
        enc(json!({"alg": "RS256", "typ": "JWT"})),
        enc(json!({"iss": "https://oidc.ci.example", "sub": "repo:acme/infra", "aud": "sts.aliyuncs.com", "exp": exp}))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_mismatch_echoes_what_the_server_signed_token_included() {
    let emu = start_realistic(&["cn-hangzhou"], "echo_string_to_sign=true").await;
    let a = addr(&emu, "cn-hangzhou");
    let message = |r: &Answer| r.body["Message"].as_str().unwrap_or_default().to_owned();

    let v2 = send(a, &Call::list(Algo::V2, "PAI_share").with_key(AK, "nope", None)).await;
    assert_eq!(v2.code(), "SignatureDoesNotMatch");
    let m = message(&v2);
    assert!(m.contains("server string to sign is:GET\n"), "{m}");
    assert!(m.contains("/api/v1/products?ProductCodes=PAI_share"), "{m}");
    let v3 = send(a, &Call::list(Algo::V3, "PAI_share").with_key(AK, "nope", None)).await;
    let m = message(&v3);
    assert!(m.contains("server string to sign is:GET\n/api/v1/products\n"), "{m}");
    assert!(m.contains("x-acs-action:ListProducts"), "{m}");
    assert!(!m.contains(SECRET));

    let sts = client()
        .get(format!("http://{a}/"))
        .query(&[
            ("Action", "AssumeRoleWithOIDC".to_owned()),
            ("Format", "JSON".into()),
            ("Version", "2015-04-01".into()),
            ("RoleArn", "acs:ram::1234567890123456:role/ci".into()),
            ("OIDCProviderArn", "acs:ram::1234567890123456:oidc-provider/ci".into()),
            ("OIDCToken", jwt()),
            ("RoleSessionName", "echo-test".into()),
        ])
        .send()
        .await
        .unwrap();
    let sts: Value = sts.json().await.unwrap();
    let creds = &sts["Credentials"];
    let (id, token) = (
        creds["AccessKeyId"].as_str().unwrap(),
        creds["SecurityToken"].as_str().unwrap(),
    );
    for algo in [Algo::V2, Algo::V3] {
        let r = send(
            a,
            &Call::list(algo, "PAI_share").with_key(id, "not-the-secret", Some(token)),
        )
        .await;
        assert_eq!(r.code(), "SignatureDoesNotMatch", "{algo:?}: {}", r.body);
        assert!(
            message(&r).contains(token),
            "{algo:?}: the token is echoed, as the real gateway does"
        );
    }

    // The kind default echoes nothing.
    let kind = start(&["cn-hangzhou"]).await;
    let r = send(
        addr(&kind, "cn-hangzhou"),
        &Call::list(Algo::V2, "PAI_share").with_key(AK, "nope", None),
    )
    .await;
    assert!(!message(&r).contains("string to sign"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_buys_nothing_until_paid() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    let r = send(a, &Call::order(Algo::V3, &order_body(false, &[PAI]))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let order_id = r.body["OrderId"].as_str().unwrap().to_owned();
    assert_eq!(emu.ledger().unpaid().count(), 1);
    assert!(!is_purchased(a, "PAI_share").await);

    let pay = |id: String| async move {
        client()
            .post(format!("http://{a}/_emulator/pay/{id}"))
            .send()
            .await
            .unwrap()
    };
    let paid = pay(order_id.clone()).await;
    assert_eq!(paid.status().as_u16(), 200);
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["OrderId"], order_id.as_str());
    assert!(paid["PaidAt"].is_string());
    assert!(is_purchased(a, "PAI_share").await);
    assert_eq!(emu.ledger().unpaid().count(), 0);
    assert_eq!(emu.ledger().orders.len(), 1, "paying is not another order");
    assert_eq!(pay(order_id).await.status().as_u16(), 409, "paid once");
    assert_eq!(pay("1".into()).await.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oss_bought_in_one_region_is_purchased_in_all() {
    let emu = start_realistic(
        &["cn-hangzhou", "cn-shanghai"],
        "oss_account_wide=true,repeat=order_opend",
    )
    .await;
    let (hz, sh) = (addr(&emu, "cn-hangzhou"), addr(&emu, "cn-shanghai"));
    assert!(!is_purchased(sh, "OSS_share").await);
    let oss = order_body(true, &[OSS]);
    assert_eq!(send(hz, &Call::order(Algo::V3, &oss)).await.status, 200);
    assert!(is_purchased(sh, "OSS_share").await);
    assert!(!is_purchased(sh, "PAI_share").await, "only OSS is account-wide");
    let again = send(sh, &Call::order(Algo::V3, &oss)).await;
    assert_eq!((again.status, again.code()), (400, "ORDER.OPEND"), "{}", again.body);
    assert_eq!(emu.ledger().orders.len(), 1);
}
