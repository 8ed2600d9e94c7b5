//! STS `AssumeRoleWithOIDC` on the wire, and the credentials it issues.

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

fn jwt(exp_in: i64) -> String {
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    format!(
        "{}.{}.c2ln",
        enc(json!({"alg": "RS256", "typ": "JWT"})),
        enc(
            json!({"iss": "https://oidc.ci.example", "sub": "repo:acme/infra", "aud": ["sts.aliyuncs.com"], "exp": now + exp_in})
        )
    )
}

fn params(role_arn: &str, token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Action", "AssumeRoleWithOIDC".into()),
        ("Format", "JSON".into()),
        ("Version", "2015-04-01".into()),
        ("DurationSeconds", "900".into()),
        ("RoleArn", role_arn.into()),
        ("OIDCProviderArn", "acs:ram::1234567890123456:oidc-provider/ci".into()),
        ("OIDCToken", token.into()),
        ("RoleSessionName", "wire-test".into()),
    ]
}

async fn assume(a: std::net::SocketAddr, params: &[(&str, String)]) -> (u16, Value) {
    let r = client().get(format!("http://{a}/")).query(params).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issued_credentials_sign_both_algorithms_and_need_their_token() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    let (status, body) = assume(a, &params("acs:ram::1234567890123456:role/ci-deployer", &jwt(600))).await;
    assert_eq!(status, 200, "{body}");
    let creds = &body["Credentials"];
    let (id, secret, token) = (
        creds["AccessKeyId"].as_str().unwrap(),
        creds["AccessKeySecret"].as_str().unwrap(),
        creds["SecurityToken"].as_str().unwrap(),
    );
    assert!(id.starts_with("STS."));
    assert!(creds["Expiration"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        body["AssumedRoleUser"]["Arn"],
        "acs:ram::1234567890123456:role/ci-deployer/wire-test"
    );

    for algo in [Algo::V3, Algo::V2] {
        let ok = send(a, &Call::list(algo, "PAI_share").with_key(id, secret, Some(token))).await;
        assert_eq!(ok.status, 200, "{algo:?}: {}", ok.body);
        let bare = send(a, &Call::list(algo, "PAI_share").with_key(id, secret, None)).await;
        assert_eq!((bare.status, bare.code()), (400, "MissingSecurityToken"), "{algo:?}");
        let forged = send(
            a,
            &Call::list(algo, "PAI_share").with_key(id, secret, Some("CAISforged")),
        )
        .await;
        assert_eq!(forged.code(), "InvalidSecurityToken.MismatchWithAccessKey", "{algo:?}");
    }
    let order = send(a, &Call::order(Algo::V3, PAI_ORDER).with_key(id, secret, Some(token))).await;
    assert_eq!(order.status, 200);
    assert_eq!(emu.ledger().orders[0].access_key_id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_posts_are_accepted_too() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    let r = client()
        .post(format!("http://{a}/"))
        .form(&params("acs:ram::1234567890123456:role/ci", &jwt(600)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["Credentials"]["SecurityToken"]
        .as_str()
        .unwrap()
        .starts_with("CAIS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    let (status, body) = assume(a, &params("acs:ram::1234567890123456:user/x", &jwt(600))).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter.RoleArn")),
        "{body}"
    );
    let (status, body) = assume(a, &params("acs:ram::1234567890123456:role/ci", &jwt(-5))).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("AuthenticationFail.OIDCToken.Expired"))
    );
    let (status, body) = assume(a, &params("acs:ram::1234567890123456:role/ci", "not-a-jwt")).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter.OIDCToken"))
    );
    let mut other = params("acs:ram::1234567890123456:role/ci", &jwt(600));
    other[0].1 = "AssumeRole".into();
    let (status, body) = assume(a, &other).await;
    assert_eq!((status, body["Code"].as_str()), (404, Some("InvalidAction.NotFound")));
    let (status, body) = assume(a, &[]).await;
    assert_eq!((status, body["Code"].as_str()), (400, Some("MissingParameter")));
    assert!(body["RequestId"].is_string());
}
