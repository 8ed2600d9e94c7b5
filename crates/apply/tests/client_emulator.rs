//! The client against the emulator, which verifies both signatures, nonces, clock skew and STS
//! tokens the way the gateway does: orders and reads end to end, a wrong secret refused, and the
//! OIDC role of the default chain exchanging a token at the emulator's STS.

#[path = "client_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use pai_apply::{Client, Credentials, DefaultChain, EndpointResolver, ErrorKind, ListProductsStatus, OrderError};
use pai_emulator::EmulatorConfig;
use pai_planner::{Observation, StatusSource};
use pai_spec::{ProductCode, Region, SignatureVersion};
use support::*;

#[tokio::test]
async fn orders_and_reads_with_both_signatures() {
    for signature in [SignatureVersion::V3, SignatureVersion::V2] {
        let emu = emulator(&["cn-hangzhou"]);
        let url = emu.endpoints().into_values().next().expect("endpoint");
        let client = client(config(&url, signature, fast_retry(5_000)), Credentials::new(AK, SECRET));
        let before = client
            .list_products(&region(), &[ProductCode::Oss])
            .await
            .expect("list");
        assert_eq!(
            before.product(ProductCode::Oss).and_then(|p| p.is_purchased),
            Some(false),
            "{signature:?}"
        );
        let order = client
            .create_product_orders(&region(), &oss_order())
            .await
            .expect("order");
        assert!(order.order_id.is_some(), "{signature:?}: {order:?}");
        assert_eq!(order.product_ids.len(), 1);
        let after = client
            .list_products(&region(), &[ProductCode::Oss])
            .await
            .expect("list");
        assert_eq!(after.product(ProductCode::Oss).and_then(|p| p.is_purchased), Some(true));
        let ledger = emu.ledger();
        assert_eq!(ledger.orders.len(), 1, "{signature:?}: exactly one order");
    }
}

#[tokio::test]
async fn a_wrong_secret_is_refused_permanently() {
    let emu = emulator(&["cn-hangzhou"]);
    let url = emu.endpoints().into_values().next().expect("endpoint");
    for signature in [SignatureVersion::V3, SignatureVersion::V2] {
        let client = client(
            config(&url, signature, fast_retry(5_000)),
            Credentials::new(AK, "not-the-secret"),
        );
        let err = client
            .create_product_orders(&region(), &oss_order())
            .await
            .expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
        assert!(err.http_status.is_some_and(|s| (400..500).contains(&s)), "{err}");
        assert!(err.code.is_some() && err.request_id.is_some(), "{err}");
        assert!(!err.to_string().contains("not-the-secret"));
    }
    assert!(emu.ledger().orders.is_empty());
}

fn jwt() -> String {
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    let claims = serde_json::json!({
        "iss": "https://ci.example",
        "sub": "repo:team/infra",
        "aud": "sts.aliyuncs.com",
        "exp": exp,
    });
    format!("{}.{}.c2lnbmF0dXJl", b64(&header), b64(&claims))
}

#[tokio::test]
async fn the_oidc_role_orders_with_sts_credentials() {
    let emu = emulator(&["cn-hangzhou"]);
    let url = emu.endpoints().into_values().next().expect("endpoint");
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, jwt()).expect("token");
    let vars = BTreeMap::from([
        (
            "ALIBABA_CLOUD_ROLE_ARN",
            "acs:ram::1234567890123456:role/ci-deployer".to_owned(),
        ),
        (
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "acs:ram::1234567890123456:oidc-provider/ci".to_owned(),
        ),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file.display().to_string()),
    ]);
    let chain = DefaultChain::new(move |name| vars.get(name).cloned(), None, None, Some(url.clone()));
    let client = Client::new(config(&url, SignatureVersion::V3, fast_retry(5_000)), Arc::new(chain)).expect("client");
    let order = client
        .create_product_orders(&region(), &pai_order())
        .await
        .expect("ordered with STS credentials");
    assert!(order.order_id.is_some());
    assert_eq!(emu.ledger().orders.len(), 1);
}

fn two_region_setup(emu: &pai_emulator::Emulator) -> (ListProductsStatus, Vec<(Region, ProductCode)>) {
    let mut cfg = config("http://127.0.0.1:9", SignatureVersion::V3, fast_retry(5_000));
    cfg.endpoint = EndpointResolver::new(None, emu.endpoints());
    let client = client(cfg, Credentials::new(AK, SECRET));
    let shanghai = Region::parse("cn-shanghai").expect("region");
    let wanted = vec![
        (region(), ProductCode::Pai),
        (shanghai.clone(), ProductCode::Pai),
        (shanghai, ProductCode::Oss),
    ];
    (ListProductsStatus::new(client), wanted)
}

fn assert_observed(seen: &Observation) {
    let shanghai = Region::parse("cn-shanghai").expect("region");
    let purchased = |r: &Region, c| seen.get(r, c).map(|o| o.purchased);
    assert_eq!(purchased(&region(), ProductCode::Pai), Some(false));
    assert_eq!(purchased(&shanghai, ProductCode::Pai), Some(true));
    assert_eq!(purchased(&shanghai, ProductCode::Oss), Some(false));
    assert!(seen
        .get(&shanghai, ProductCode::Pai)
        .is_some_and(|o| o.product_id.is_some()));
}

#[tokio::test]
async fn status_is_observed_per_region_in_parallel() {
    let emu = emulator(&["cn-hangzhou", "cn-shanghai"]);
    let (status, wanted) = two_region_setup(&emu);
    let shanghai = Region::parse("cn-shanghai").expect("region");
    status
        .client()
        .create_product_orders(&shanghai, &pai_order())
        .await
        .expect("order in Shanghai");
    assert_observed(&status.observe_async(&wanted).await.expect("observed"));
}

/// The planner's synchronous trait, called from every kind of context the CLI might have.
#[test]
fn the_status_source_works_with_and_without_a_runtime() {
    let server_runtime = tokio::runtime::Runtime::new().expect("runtime");
    let emu = {
        let _guard = server_runtime.enter();
        emulator(&["cn-hangzhou", "cn-shanghai"])
    };
    let (status, wanted) = two_region_setup(&emu);
    let shanghai = Region::parse("cn-shanghai").expect("region");
    server_runtime
        .block_on(status.client().create_product_orders(&shanghai, &pai_order()))
        .expect("order");

    // No runtime at all.
    assert_observed(&StatusSource::observe(&status, &wanted).expect("observed without a runtime"));
    // Inside a multi-threaded runtime (the CLI's): blocks in place.
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let seen = multi.block_on(async { StatusSource::observe(&status, &wanted) });
    assert_observed(&seen.expect("observed in a multi-threaded runtime"));
    // Inside a current-thread runtime, which must not be blocked.
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let seen = single.block_on(async { StatusSource::observe(&status, &wanted) });
    assert_observed(&seen.expect("observed in a current-thread runtime"));

    // A failure carries the API error.
    let mut cfg = config("http://127.0.0.1:9", SignatureVersion::V3, fast_retry(5_000));
    cfg.endpoint = EndpointResolver::new(None, emu.endpoints());
    let refused = ListProductsStatus::new(client(cfg, Credentials::new(AK, "wrong")));
    let err = StatusSource::observe(&refused, &wanted).expect_err("refused");
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
}

/// The executor notes each send in the state through the hook: it sees every attempt, in
/// order, before the request leaves, and when it fails nothing leaves at all.
#[tokio::test]
async fn the_send_hook_runs_before_every_attempt_and_can_stop_the_send() {
    let mut emu_config = EmulatorConfig::new(vec![(region(), loopback())], vec![(AK.into(), SECRET.into())]);
    // With this seed the first request is throttled (Retry-After: 1 s) and the second is not.
    emu_config.faults = "throttle=0.5,retry_after_ms=1".parse().expect("faults");
    emu_config.seed = 5;
    let emu = pai_emulator::spawn(emu_config).expect("emulator");
    let url = emu.endpoints().into_values().next().expect("endpoint");
    let client = client(
        config(&url, SignatureVersion::V3, fast_retry(10_000)),
        Credentials::new(AK, SECRET),
    );
    let seen = std::sync::Mutex::new(Vec::new());
    let hook = |attempt: u32| {
        seen.lock().expect("not poisoned").push(attempt);
        Ok::<(), String>(())
    };
    let order = client
        .create_product_orders_noting(&region(), &pai_order(), &hook)
        .await
        .expect("ordered in the end");
    assert!(order.order_id.is_some());
    let attempts = seen.lock().expect("not poisoned").clone();
    assert_eq!(attempts, [1, 2], "one call for each attempt, numbered");
    assert_eq!(emu.ledger().orders.len(), 1);

    let refuse = |_: u32| Err("the state is read-only".to_owned());
    let err = client
        .create_product_orders_noting(&region(), &oss_order(), &refuse)
        .await
        .expect_err("not sent");
    assert!(
        matches!(&err, OrderError::NotSent(why) if why == "the state is read-only"),
        "the hook's own error comes back: {err:?}"
    );
    assert_eq!(
        emu.ledger().orders.len(),
        1,
        "the refused order never reached the server"
    );
}
