//! `-vvv` must not leak: every log event at TRACE level, from every crate, over a full run
//! (OIDC exchange, reads and orders in both signature versions, refusals, retries, transport
//! failures) plus every error's `Display` and `Debug`, must contain no secret, token or signature.
//!
//! Alone in its test binary because it installs the process-wide tracing subscriber.

#[path = "client_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use pai_apply::{Client, CredentialProvider, Credentials, DefaultChain, ListProductsStatus};
use pai_spec::{ProductCode, Region, SignatureVersion};
use support::*;

const AK: &str = "LTAI5tLeakTestKey";
const SECRET: &str = "LeakTest-AccessKeySecret-0123456789";
const CLI_SECRET: &str = "LeakTest-CliProfileSecret-abcdef";
const CLI_TOKEN: &str = "LeakTest-CliProfileStsToken-ghijkl";

fn jwt() -> String {
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    format!(
        "{}.{}.LeakTestJwtSignature",
        b64(serde_json::json!({"alg": "RS256"})),
        b64(serde_json::json!({"iss": "https://ci.example", "sub": "LeakTestSubject", "aud": "sts", "exp": exp}))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_of_a_full_run_contain_no_secret() {
    let logs = Logs::capture();

    let emu = pai_testkit::emulator::spawn(pai_testkit::emulator::config(&[region()], AK, SECRET));
    let url = emu.endpoints().into_values().next().expect("endpoint");
    let mut secrets: Vec<String> = vec![SECRET.into(), CLI_SECRET.into(), CLI_TOKEN.into()];

    // The OIDC role, through the emulator's STS.
    let dir = tempfile::tempdir().expect("tempdir");
    let token = jwt();
    secrets.push(token.clone());
    secrets.push("LeakTestJwtSignature".into());
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).expect("token");
    let vars = BTreeMap::from([
        ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1234567890123456:role/ci".to_owned()),
        (
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "acs:ram::1234567890123456:oidc-provider/ci".to_owned(),
        ),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file.display().to_string()),
    ]);
    let chain = Arc::new(DefaultChain::new(
        move |n| vars.get(n).cloned(),
        None,
        None,
        Some(url.clone()),
    ));
    let sts = chain.credentials().await.expect("STS credentials");
    secrets.push(sts.access_key_secret.expose().to_owned());
    secrets.push(sts.security_token.as_ref().expect("token").expose().to_owned());
    tracing::debug!(credentials = ?sts, "resolved");

    for signature in [SignatureVersion::V3, SignatureVersion::V2] {
        let oidc = Client::new(config(&url, signature, fast_retry(2_000)), chain.clone()).expect("client");
        let order = oidc.create_product_orders(&region(), &oss_order()).await;
        tracing::info!(?order, "order");
        let status = ListProductsStatus::new(oidc.clone())
            .observe_async(&[(region(), ProductCode::Oss)])
            .await;
        tracing::info!(?status, "status");

        let static_keys = client(config(&url, signature, fast_retry(2_000)), Credentials::new(AK, SECRET));
        let listed = static_keys.list_products(&region(), &[ProductCode::Pai]).await;
        tracing::info!(?listed, "listed");
        let wrong = client(
            config(&url, signature, fast_retry(2_000)),
            Credentials::new(AK, "wrong-secret-LeakTest"),
        );
        secrets.push("wrong-secret-LeakTest".into());
        let refused = wrong
            .create_product_orders(&region(), &oss_order())
            .await
            .expect_err("refused");
        tracing::error!("{refused} / {refused:?}");
    }

    // A CLI profile with STS credentials, against a server that throttles, fails and drops.
    let home = tempfile::tempdir().expect("home");
    let config_json = format!(
        r#"{{"current":"ci","profiles":[{{"name":"ci","mode":"StsToken","access_key_id":"id","access_key_secret":"{CLI_SECRET}","sts_token":"{CLI_TOKEN}"}}]}}"#
    );
    std::fs::create_dir_all(home.path().join(".aliyun")).expect("mkdir");
    std::fs::write(home.path().join(".aliyun/config.json"), config_json).expect("write");
    let profile_chain = Arc::new(DefaultChain::new(|_| None, Some(home.path().to_owned()), None, None));
    let server = ScriptedServer::start(
        vec![
            Step::Respond(
                429,
                vec![("retry-after".into(), "0".into())],
                r#"{"Code":"Throttling"}"#.into(),
            ),
            Step::Close,
        ],
        Step::json(500, r#"{"Code":"InternalError","Message":"boom","RequestId":"R"}"#),
    )
    .await;
    for signature in [SignatureVersion::V3, SignatureVersion::V2] {
        let flaky =
            Client::new(config(&server.url(), signature, fast_retry(300)), profile_chain.clone()).expect("client");
        let listed = flaky.list_products(&region(), &[ProductCode::Pai]).await;
        let ordered = flaky.create_product_orders(&region(), &oss_order()).await;
        tracing::warn!("{listed:?} {ordered:?} {:?}", profile_chain.credentials().await);
        if let Err(e) = &ordered {
            tracing::warn!("{e}");
        }
    }
    // Every request's signature is a secret derivative; collect them from what the server saw.
    for request in server.requests() {
        if let Some(auth) = request.header("authorization") {
            let signature = match auth.split_once("Signature=") {
                Some((_, v3)) => v3,
                None => auth.rsplit_once(':').map_or("", |(_, v2)| v2),
            };
            secrets.push(signature.to_owned());
        }
    }
    let shanghai = Region::parse("cn-shanghai").expect("region");
    let missing_region = client(
        config(&server.url(), SignatureVersion::V3, fast_retry(100)),
        Credentials::new(AK, SECRET),
    );
    let _ = missing_region.list_products(&shanghai, &[]).await;

    let logs = logs.text();
    assert!(
        logs.contains("TRACE") && logs.contains("sending request"),
        "TRACE logging was captured"
    );
    assert!(
        logs.contains("\"x-acs-security-token\", \"***\""),
        "headers are logged, redacted"
    );
    assert!(
        logs.lines().count() > 50,
        "a full run logs plenty: {} lines",
        logs.lines().count()
    );
    for secret in &secrets {
        assert!(!secret.is_empty());
        if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
            panic!("a secret reached the logs: {line}");
        }
    }
}
