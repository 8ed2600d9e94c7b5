//! Each fault does what it says, only on the API routes, and reproducibly for a seed.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pai_emulator::Faults;
use pai_sign::wire;
use pai_spec::ProductCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_answers_429_with_retry_after_and_records_nothing() {
    let emu = start_with_faults("throttle=1,retry_after_ms=2500", 3).await;
    let a = addr(&emu, "cn-hangzhou");
    for call in [Call::order(Algo::V3, PAI_ORDER), Call::list(Algo::V2, "PAI_share")] {
        let r = send(a, &call).await;
        assert_eq!((r.status, r.code()), (429, "Throttling.User"), "{}", r.body);
        assert_eq!(r.headers["retry-after"], "3", "seconds, rounded up");
        assert_eq!(
            r.headers["x-acs-retry-after"], "2500",
            "milliseconds, as the SDK reads it"
        );
    }
    assert!(emu.ledger().orders.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_500_happens_before_anything_is_recorded() {
    let emu = start_with_faults("error_500=1", 3).await;
    let a = addr(&emu, "cn-hangzhou");
    let r = send(a, &Call::order(Algo::V3, PAI_ORDER)).await;
    assert_eq!((r.status, r.code()), (500, "InternalError"));
    assert_eq!(send(a, &Call::list(Algo::V3, "PAI_share")).await.status, 500);
    assert!(emu.ledger().orders.is_empty());
    // The emulator's own routes are never faulted.
    let ledger = ledger_over_http(a).await;
    assert_eq!(ledger["orders"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_come_after_authentication() {
    let emu = start_with_faults("throttle=1,error_500=1", 3).await;
    let a = addr(&emu, "cn-hangzhou");
    let r = send(a, &Call::list(Algo::V3, "PAI_share").with_key(AK, "nope", None)).await;
    assert_eq!(r.code(), "SignatureDoesNotMatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_after_commit_records_then_closes_without_a_response() {
    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.json");
    let mut cfg = config(&["cn-hangzhou"]);
    cfg.faults = "drop_after_commit=1".parse::<Faults>().unwrap();
    cfg.ledger_path = Some(ledger_path.clone());
    let emu = pai_emulator::start(cfg.clone()).await.unwrap();
    let a = addr(&emu, "cn-hangzhou");

    // A raw socket sees the connection closed with not one byte of response.
    let received = raw_exchange(a, &Call::order(Algo::V3, PAI_ORDER), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(received.is_empty(), "got {:?}", String::from_utf8_lossy(&received));
    assert_eq!(emu.ledger().orders.len(), 1, "the order was committed");

    // An HTTP client sees a failed request, not a timeout and not an answer.
    let err = client()
        .post(format!("http://{a}{}", wire::CREATE_PRODUCT_ORDERS.path))
        .headers(
            Call::order(Algo::V2, PAI_ORDER)
                .headers(&a.to_string())
                .iter()
                .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                .collect(),
        )
        .body(PAI_ORDER)
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    assert_eq!(emu.ledger().orders.len(), 2);

    // Other routes still answer; ListProducts sees the dropped order as a purchase.
    let list = send(a, &Call::list(Algo::V3, "PAI_share")).await;
    assert_eq!(list.body["Products"][0]["IsPurchased"], true);

    // It was durable before the connection was dropped: a restart keeps it.
    emu.shutdown().await;
    cfg.faults = Faults::default();
    let again = pai_emulator::start(cfg).await.unwrap();
    let ledger = again.ledger();
    assert_eq!(ledger.order_count(&region("cn-hangzhou"), ProductCode::Pai), 2);
    let r = send(addr(&again, "cn-hangzhou"), &Call::list(Algo::V3, "PAI_share")).await;
    assert_eq!(r.body["Products"][0]["IsPurchased"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_after_commit_outlasts_the_client_timeout() {
    let emu = start_with_faults("slow_after_commit=1,slow_ms=30000", 3).await;
    let a = addr(&emu, "cn-hangzhou");
    let call = Call::order(Algo::V3, PAI_ORDER);
    let started = Instant::now();
    let mut req = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap()
        .post(format!("http://{a}{}", wire::CREATE_PRODUCT_ORDERS.path))
        .body(call.body.clone());
    for (k, v) in call.headers(&a.to_string()) {
        req = req.header(k, v);
    }
    let err = req.send().await.unwrap_err();
    // The client's own timeout ended the wait: the response was held past it.
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(emu.ledger().orders.len(), 1, "recorded before the response was held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_after_commit_answers_eventually() {
    let emu = start_with_faults("slow_after_commit=1,slow_ms=300", 3).await;
    let a = addr(&emu, "cn-hangzhou");
    let started = Instant::now();
    let r = send(a, &Call::order(Algo::V3, PAI_ORDER)).await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(emu.ledger().orders.len(), 1);
}

/// ListProducts commits nothing, so it is never held: with an hour-long hold configured it is
/// answered at all (a held one would outlast the test client's timeout and fail the test), and
/// it sees the order whose own response is still being held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_after_commit_never_holds_a_listing() {
    let emu = start_with_faults("slow_after_commit=1,slow_ms=3600000", 3).await;
    let a = addr(&emu, "cn-hangzhou");
    let call = Call::order(Algo::V3, PAI_ORDER);
    let held = tokio::spawn(async move { send(a, &call).await });
    while emu.ledger().orders.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = send(a, &Call::list(Algo::V3, "PAI_share")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["Products"][0]["IsPurchased"], true, "{}", r.body);
    assert!(!held.is_finished(), "the order's response is still held");
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_api_calls() {
    let emu = start_with_faults("latency_ms=250", 3).await;
    let a = addr(&emu, "cn-hangzhou");
    let started = Instant::now();
    assert_eq!(send(a, &Call::list(Algo::V3, "PAI_share")).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(250));
}

/// With an hour of latency configured, the ledger route still answers (a delayed one would
/// outlast the test client's timeout and fail the test): latency is for the API routes only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_spares_the_ledger_route() {
    let emu = start_with_faults("latency_ms=3600000", 3).await;
    let ledger = ledger_over_http(addr(&emu, "cn-hangzhou")).await;
    assert!(ledger["orders"].as_array().is_some_and(Vec::is_empty), "{ledger}");
}

async fn statuses(seed: u64) -> Vec<u16> {
    let emu = start_with_faults("throttle=0.3,error_500=0.3", seed).await;
    let a = addr(&emu, "cn-hangzhou");
    let mut out = Vec::new();
    for _ in 0..24 {
        out.push(send(a, &Call::list(Algo::V3, "PAI_share")).await.status);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_reproducible_with_a_seed() {
    let first = statuses(42).await;
    assert_eq!(first, statuses(42).await);
    assert_ne!(first, statuses(43).await);
    for status in [200, 429, 500] {
        assert!(first.contains(&status), "{first:?} should mix outcomes");
    }
}
