//! The default credential chain over real files in a temporary home, and the OIDC exchange
//! against a loopback STS: order of sources, explicit profiles, errors that stop the chain, the
//! request STS receives, caching and refresh.

#[path = "client_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use pai_apply::{CredentialError, CredentialProvider, DefaultChain};
use support::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

type Vars = BTreeMap<&'static str, String>;

fn chain(vars: Vars, home: &Path, profile: Option<&str>, sts: Option<String>) -> DefaultChain {
    DefaultChain::new(
        move |name| vars.get(name).cloned(),
        Some(home.to_owned()),
        profile.map(str::to_owned),
        sts,
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn env_keys() -> Vars {
    Vars::from([
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id-env".to_owned()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret-env".to_owned()),
    ])
}

/// A home with an aliyun CLI config (profiles `dev`, current, and `ci`) and a credentials file.
fn home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join(".aliyun/config.json"),
        r#"{"current":"dev","profiles":[
            {"name":"dev","mode":"AK","access_key_id":"id-cli-dev","access_key_secret":"secret-cli-dev"},
            {"name":"ci","mode":"StsToken","access_key_id":"id-cli-ci","access_key_secret":"secret-cli-ci","sts_token":"token-cli-ci"}]}"#,
    );
    write(
        &dir.path().join(".alibabacloud/credentials.ini"),
        "[default]\ntype = access_key\naccess_key_id = id-file\naccess_key_secret = secret-file\n\
         [only-in-file]\ntype = access_key\naccess_key_id = id-file-2\naccess_key_secret = secret-file-2\n",
    );
    dir
}

async fn key_id(chain: &DefaultChain) -> Result<String, CredentialError> {
    chain
        .credentials()
        .await
        .map(|c| format!("{} ({})", c.access_key_id, c.provider_name))
}

#[tokio::test]
async fn sources_in_the_sdk_order() {
    let home = home();
    assert_eq!(
        key_id(&chain(env_keys(), home.path(), None, None))
            .await
            .ok()
            .as_deref(),
        Some("id-env (env)")
    );
    assert_eq!(
        key_id(&chain(Vars::new(), home.path(), None, None))
            .await
            .ok()
            .as_deref(),
        Some("id-cli-dev (cli_profile/static_ak)")
    );
    let profile_env = Vars::from([("ALIBABA_CLOUD_PROFILE", "ci".to_owned())]);
    let ci = chain(profile_env, home.path(), None, None)
        .credentials()
        .await
        .expect("ci");
    assert_eq!(ci.security_token.as_ref().map(|t| t.expose()), Some("token-cli-ci"));
    // Not a CLI profile, but a section of the credentials file.
    assert_eq!(
        key_id(&chain(Vars::new(), home.path(), Some("only-in-file"), None))
            .await
            .ok()
            .as_deref(),
        Some("id-file-2 (profile/static_ak)")
    );
    std::fs::remove_file(home.path().join(".aliyun/config.json")).expect("rm");
    assert_eq!(
        key_id(&chain(Vars::new(), home.path(), None, None))
            .await
            .ok()
            .as_deref(),
        Some("id-file (profile/static_ak)")
    );
}

#[tokio::test]
async fn an_explicit_profile_wins_over_the_environment() {
    let home = home();
    let ci = key_id(&chain(env_keys(), home.path(), Some("ci"), None)).await;
    assert_eq!(ci.ok().as_deref(), Some("id-cli-ci (cli_profile/static_sts)"));
    let missing = chain(env_keys(), home.path(), Some("nope"), None)
        .credentials()
        .await
        .expect_err("no such profile");
    let text = missing.to_string();
    assert!(
        text.contains("skipped, because profile `nope` was requested explicitly"),
        "{text}"
    );
    assert!(
        text.contains("no profile `nope`") && text.contains("no section [nope]"),
        "{text}"
    );
}

#[tokio::test]
async fn nothing_configured_lists_every_source_tried() {
    let empty = tempfile::tempdir().expect("tempdir");
    let err = chain(Vars::new(), empty.path(), None, None)
        .credentials()
        .await
        .expect_err("nothing");
    let CredentialError::NotFound { tried } = &err else {
        panic!("expected NotFound, got {err}")
    };
    assert_eq!(tried.len(), 4, "{tried:#?}");
    for (line, source) in tried
        .iter()
        .zip(["environment", "OIDC role", "aliyun CLI profile", "credentials file"])
    {
        assert!(line.starts_with(source), "{line}");
    }
}

#[tokio::test]
async fn a_broken_source_stops_the_chain() {
    let home = home();
    // A half-set environment must not fall through to the CLI profile's (other) account.
    let half = Vars::from([("ALIBABA_CLOUD_ACCESS_KEY_ID", "id-env".to_owned())]);
    let err = chain(half, home.path(), None, None)
        .credentials()
        .await
        .expect_err("half set");
    assert!(matches!(err, CredentialError::Invalid { .. }), "{err}");
    write(
        &home.path().join(".aliyun/config.json"),
        r#"{"current":"x","profiles":[{"name":"x","mode":"EcsRamRole"}]}"#,
    );
    let err = chain(Vars::new(), home.path(), None, None)
        .credentials()
        .await
        .expect_err("unsupported");
    assert!(
        err.to_string().contains("profile mode `EcsRamRole` is not supported"),
        "{err}"
    );
}

fn oidc_vars(token_file: &Path) -> Vars {
    Vars::from([
        ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1234567890123456:role/ci".to_owned()),
        (
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "acs:ram::1234567890123456:oidc-provider/ci".to_owned(),
        ),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file.display().to_string()),
        ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "pipeline-42".to_owned()),
    ])
}

fn sts_ok(expires_in: Duration) -> Step {
    let expiration = (OffsetDateTime::now_utc() + expires_in)
        .replace_nanosecond(0)
        .expect("ns");
    let body = serde_json::json!({
        "RequestId": "STS-REQ",
        "AssumedRoleUser": {"Arn": "acs:ram::1234567890123456:role/ci/pipeline-42", "AssumedRoleId": "1:pipeline-42"},
        "Credentials": {
            "AccessKeyId": "STS.id",
            "AccessKeySecret": "sts-secret-value",
            "SecurityToken": "sts-token-value",
            "Expiration": expiration.format(&Rfc3339).expect("format"),
        }
    });
    Step::json(200, &body.to_string())
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace('+', " ")))
        .collect()
}

#[tokio::test]
async fn the_oidc_exchange_is_the_credentials_library_call_and_is_cached() {
    let sts = ScriptedServer::start(vec![sts_ok(Duration::from_secs(3600))], Step::json(500, "{}")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "header.payload.signature\n").expect("token");
    let chain = chain(oidc_vars(&token_file), dir.path(), None, Some(sts.url()));
    let first = chain.credentials().await.expect("assumed");
    assert_eq!(first.access_key_id, "STS.id");
    assert_eq!(
        first.security_token.as_ref().map(|t| t.expose()),
        Some("sts-token-value")
    );
    assert_eq!(first.provider_name, "oidc_role_arn");
    let second = chain.credentials().await.expect("cached");
    assert_eq!(second, first);
    let seen = sts.requests();
    assert_eq!(seen.len(), 1, "cached until shortly before expiry");
    let request = &seen[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/"));
    assert!(request.query.contains("Action=AssumeRoleWithOIDC") && request.query.contains("Version=2015-04-01"));
    assert!(request.query.contains("Format=JSON") && request.query.contains("Timestamp="));
    assert!(
        !request.query.contains("OIDCToken"),
        "the token stays out of the URL: {}",
        request.query
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let params = form(&request.body);
    assert_eq!(
        params.get("OIDCToken").map(String::as_str),
        Some("header.payload.signature"),
        "trimmed"
    );
    assert_eq!(params.get("RoleSessionName").map(String::as_str), Some("pipeline-42"));
    assert_eq!(params.get("DurationSeconds").map(String::as_str), Some("3600"));
    assert_eq!(
        params.get("RoleArn").map(String::as_str),
        Some("acs%3Aram%3A%3A1234567890123456%3Arole%2Fci")
    );
}

#[tokio::test]
async fn credentials_due_for_refresh_are_exchanged_again() {
    // Issued with no lifetime left, so they are due at once: when in a lifetime that falls is
    // `refresh_time`'s unit test, not a wait for the wall clock here.
    let sts = ScriptedServer::start(vec![sts_ok(Duration::ZERO)], sts_ok(Duration::from_secs(3600))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "a.b.c").expect("token");
    let chain = chain(oidc_vars(&token_file), dir.path(), None, Some(sts.url()));
    chain.credentials().await.expect("first");
    chain.credentials().await.expect("refreshed");
    assert_eq!(sts.requests().len(), 2, "exchanged again once due");
    chain.credentials().await.expect("cached");
    assert_eq!(sts.requests().len(), 2, "an hour's credentials are kept");
}

#[tokio::test]
async fn sts_failures_are_reported_without_the_token() {
    let sts = ScriptedServer::start(
        vec![Step::json(
            400,
            r#"{"RequestId":"STS-ERR","Code":"InvalidParameter.OIDCToken","Message":"The OIDC token is invalid."}"#,
        )],
        Step::json(503, r#"{"Code":"ServiceUnavailable","Message":"try later"}"#),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "secret.oidc.token").expect("token");
    let refused = chain(oidc_vars(&token_file), dir.path(), None, Some(sts.url()))
        .credentials()
        .await;
    let err = refused.expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("InvalidParameter.OIDCToken") && text.contains("STS-ERR") && text.contains("HTTP 400"),
        "{text}"
    );
    assert!(!text.contains("secret.oidc.token"));
    assert!(!err.is_transient());
    let unavailable = chain(oidc_vars(&token_file), dir.path(), None, Some(sts.url()))
        .credentials()
        .await;
    assert!(unavailable.expect_err("503").is_transient());

    let missing = chain(oidc_vars(&dir.path().join("absent")), dir.path(), None, Some(sts.url()))
        .credentials()
        .await;
    assert!(matches!(missing, Err(CredentialError::Io { .. })));
}

#[tokio::test]
async fn credential_failures_reach_the_caller_as_api_errors() {
    let empty = tempfile::tempdir().expect("tempdir");
    let server = ScriptedServer::start(vec![], Step::json(200, ORDER_OK)).await;
    let chain = chain(Vars::new(), empty.path(), None, None);
    let client = pai_apply::Client::new(
        config(&server.url(), pai_spec::SignatureVersion::V3, fast_retry(1_000)),
        std::sync::Arc::new(chain),
    )
    .expect("client");
    let err = client
        .create_product_orders(&region(), &oss_order())
        .await
        .expect_err("no credentials");
    assert_eq!(
        (err.kind, err.failure),
        (pai_apply::ErrorKind::Permanent, pai_apply::Failure::Credentials)
    );
    assert!(err.message.contains("no Alibaba Cloud credentials found"), "{err}");
    assert!(server.requests().is_empty(), "nothing is sent unsigned");
}

/// STS may quote what it was sent; its message must not carry the OIDC token on into errors,
/// logs or the state.
#[tokio::test]
async fn an_sts_error_echoing_the_oidc_token_is_cleaned() {
    let echo = Step::Reply(Responder(std::sync::Arc::new(|request: &Captured| {
        let token = form(&request.body).get("OIDCToken").cloned().unwrap_or_default();
        let body = serde_json::json!({
            "RequestId": "STS-ECHO",
            "Code": "InvalidParameter.OIDCToken",
            "Message": format!("The OIDC token {token} is expired. string to sign is: {token}"),
        });
        Step::json(400, &body.to_string())
    })));
    let sts = ScriptedServer::start(vec![], echo).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "echoed.oidc-token.signature").expect("token");
    let err = chain(oidc_vars(&token_file), dir.path(), None, Some(sts.url()))
        .credentials()
        .await
        .expect_err("refused");
    let text = format!("{err} {err:?}");
    assert!(text.contains("The OIDC token *** is expired."), "{text}");
    assert!(!text.contains("echoed.oidc-token"), "{text}");
    assert_eq!(sts.requests().len(), 1);
}
