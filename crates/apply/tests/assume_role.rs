//! A fleet's credentials and discovery end to end, against the emulator (which verifies every
//! signature, issues STS keys per account and refuses what the real STS refuses) and, for the
//! retries, a scripted server: `AssumeRole` into a member account's role, orders that land in
//! that account only, the refusals as typed errors without a secret in them, one `AssumeRole`
//! for many calls, and Resource Manager `ListAccounts` across pages.

#[path = "client_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pai_apply::credentials::CredentialFuture;
use pai_apply::{
    list_accounts, session_identity, AssumeRoleConfig, AssumeRoleProvider, Client, CredentialError, CredentialProvider,
    Credentials, DirectoryError, ErrorKind, Failure, RetryPolicy, RpcClient, StaticCredentials,
};
use pai_emulator::{AccountConfig, AccountStatus, EmulatorConfig, RoleConfig, DEFAULT_HOME_ACCOUNT};
use pai_spec::fleet::Discovery;
use pai_spec::{ProductCode, SignatureVersion};
use support::*;

const A: &str = "2000000000000001";
const B: &str = "2000000000000002";
/// Its role trusts only A, not the home account of the base keys.
const C: &str = "2000000000000003";
const ROLE: &str = "pai-provision";
const FOLDER: &str = "fd-fleet01";

fn role_arn(account: &str) -> String {
    format!("acs:ram::{account}:role/{ROLE}")
}

fn member(id: &str, trusted: &[&str]) -> AccountConfig {
    AccountConfig {
        roles: vec![RoleConfig::new(ROLE, trusted)],
        folder: Some(FOLDER.into()),
        tags: BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
        ..AccountConfig::new(id, format!("acc-{id}"))
    }
}

/// An emulator for `regions` whose base keys ([`AK`], [`SECRET`]) act in the home account,
/// with members A and B trusting it and C trusting only A.
fn fleet_emulator(regions: &[&str], mutate: impl FnOnce(&mut EmulatorConfig)) -> pai_emulator::Emulator {
    let regions: Vec<_> = regions.iter().map(|r| pai_testkit::fixtures::region(r)).collect();
    let mut config = pai_testkit::emulator::config(&regions, AK, SECRET);
    config.accounts = vec![
        member(A, &[DEFAULT_HOME_ACCOUNT]),
        member(B, &[DEFAULT_HOME_ACCOUNT]),
        member(C, &[A]),
    ];
    mutate(&mut config);
    pai_testkit::emulator::spawn(config)
}

/// The base keys, counting how often they are asked for: once per `AssumeRole` request sent.
struct Counted {
    inner: StaticCredentials,
    asked: AtomicU32,
}

impl Counted {
    fn base() -> Arc<Counted> {
        Arc::new(Counted {
            inner: StaticCredentials::new(Credentials::new(AK, SECRET)),
            asked: AtomicU32::new(0),
        })
    }
    fn asked(&self) -> u32 {
        self.asked.load(Ordering::SeqCst)
    }
}

impl CredentialProvider for Counted {
    fn credentials(&self) -> CredentialFuture<'_> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.inner.credentials()
    }
}

fn ci_env(name: &str) -> Option<String> {
    match name {
        "GITHUB_RUN_ID" => Some("9876543210".into()),
        "GITHUB_RUN_ATTEMPT" => Some("1".into()),
        "GITHUB_SHA" => Some("0123456789abcdef0123456789abcdef01234567".into()),
        _ => None,
    }
}

fn role_config(account: &str, sts: &str) -> AssumeRoleConfig {
    AssumeRoleConfig {
        sts_endpoint: sts.to_owned(),
        ..AssumeRoleConfig::new(role_arn(account), &session_identity(&ci_env))
    }
}

/// The base client (its endpoint the emulator's), and a provider for `account`'s role over its
/// connections, signed with `base`.
fn account_client(
    base_client: &Client,
    base: Arc<dyn CredentialProvider>,
    config: AssumeRoleConfig,
) -> (Client, Arc<AssumeRoleProvider>) {
    let provider = Arc::new(AssumeRoleProvider::new(&base_client.rpc_client(), base, config).expect("valid config"));
    (base_client.with_credentials(provider.clone()), provider)
}

fn base_client(url: &str) -> Client {
    client(
        config(url, SignatureVersion::V3, fast_retry(2_000)),
        Credentials::new(AK, SECRET),
    )
}

#[tokio::test]
async fn an_assumed_role_orders_in_its_own_account_only() {
    let emu = fleet_emulator(&["cn-hangzhou"], |_| {});
    let url = emu.endpoints().into_values().next().expect("endpoint");
    let base = base_client(&url);
    let (alpha, _) = account_client(&base, Counted::base(), role_config(A, &url));
    let (beta, _) = account_client(&base, Counted::base(), role_config(B, &url));

    let before = alpha
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect("list in A");
    assert_eq!(
        before.product(ProductCode::Pai).and_then(|p| p.is_purchased),
        Some(false)
    );
    let order = alpha
        .create_product_orders(&region(), &pai_order())
        .await
        .expect("order in A");
    assert!(order.order_id.is_some(), "{order:?}");

    let ledger = emu.ledger();
    let in_a = ledger.of_account(A);
    assert_eq!(in_a.orders.len(), 1, "exactly one order, in A");
    let caller = in_a.orders[0].caller.as_ref().expect("the role session is recorded");
    assert_eq!(caller.role_arn, role_arn(A));
    assert_eq!(caller.session_name, "pai-provision-9876543210-1");
    assert_eq!(caller.source_identity.as_deref(), Some("0123456789ab"));
    for other in [B, DEFAULT_HOME_ACCOUNT] {
        assert!(ledger.of_account(other).orders.is_empty(), "nothing in {other}");
    }
    let after_a = alpha
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect("list in A");
    assert_eq!(
        after_a.product(ProductCode::Pai).and_then(|p| p.is_purchased),
        Some(true)
    );
    let in_b = beta
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect("list in B");
    assert_eq!(
        in_b.product(ProductCode::Pai).and_then(|p| p.is_purchased),
        Some(false),
        "B's view is B's own"
    );
    let home = base
        .list_products(&region(), &[ProductCode::Pai])
        .await
        .expect("list at home");
    assert_eq!(home.product(ProductCode::Pai).and_then(|p| p.is_purchased), Some(false));
}

#[tokio::test]
async fn a_missing_role_and_an_untrusted_caller_are_typed_refusals() {
    let emu = fleet_emulator(&["cn-hangzhou"], |c| c.realism.echo_string_to_sign = true);
    let url = emu.endpoints().into_values().next().expect("endpoint");
    let base = base_client(&url);

    let missing = AssumeRoleConfig {
        role_arn: format!("acs:ram::{A}:role/not-there"),
        ..role_config(A, &url)
    };
    let counted = Counted::base();
    let (client, provider) = account_client(&base, counted.clone(), missing);
    let err = provider.credentials().await.expect_err("no such role");
    match &err {
        CredentialError::Sts {
            action,
            role_arn,
            answer,
            ..
        } => {
            assert_eq!(
                (*action, role_arn.as_str()),
                ("AssumeRole", "acs:ram::2000000000000001:role/not-there")
            );
            assert_eq!(answer.code.as_deref(), Some("EntityNotExist.Role"), "{err}");
            assert!(answer.request_id.is_some(), "{err}");
        }
        other => panic!("expected an STS refusal, got {other:?}"),
    }
    assert!(!err.is_transient(), "{err}");
    assert_eq!(counted.asked(), 1, "a refusal is not retried");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "AssumeRole of acs:ram::{A}:role/not-there at {url} failed (HTTP "
        )),
        "{shown}"
    );
    // Through the API client: a permanent credential failure, nothing ordered.
    let api = client
        .create_product_orders(&region(), &pai_order())
        .await
        .expect_err("no credentials for the order");
    assert_eq!(
        (api.kind, api.failure),
        (ErrorKind::Permanent, Failure::Credentials),
        "{api}"
    );
    assert!(api.message.contains("EntityNotExist.Role"), "{api}");

    // C's role trusts A only; the home account's keys may not assume it.
    let (_, untrusted) = account_client(&base, Counted::base(), role_config(C, &url));
    let err = untrusted.credentials().await.expect_err("untrusted caller");
    match &err {
        CredentialError::Sts {
            role_arn: arn, answer, ..
        } => {
            assert_eq!(arn, &role_arn(C));
            assert_eq!(answer.code.as_deref(), Some("NoPermission"), "{err}");
        }
        other => panic!("expected an STS refusal, got {other:?}"),
    }

    // An account the directory does not have.
    let (_, stranger) = account_client(&base, Counted::base(), role_config("2999999999999999", &url));
    assert!(stranger.credentials().await.is_err());
    assert!(emu.ledger().orders.is_empty());
}

#[tokio::test]
async fn no_secret_in_an_error() {
    let emu = fleet_emulator(&["cn-hangzhou"], |c| c.realism.echo_string_to_sign = true);
    let url = emu.endpoints().into_values().next().expect("endpoint");
    let base = base_client(&url);
    let mut errors: Vec<String> = Vec::new();
    // The assumed role's own keys, which the errors below must not carry either.
    let (alpha, provider) = account_client(&base, Counted::base(), role_config(A, &url));
    let issued = provider.credentials().await.expect("assumed");
    let token = issued.security_token.clone().expect("an STS token");
    // A wrong base secret: the emulator refuses the signature and echoes what it signed.
    let wrong: Arc<dyn CredentialProvider> =
        Arc::new(StaticCredentials::new(Credentials::new(AK, "wrong-base-secret")));
    let (_, refused) = account_client(&base, wrong.clone(), role_config(A, &url));
    let err = refused.credentials().await.expect_err("bad signature");
    assert!(
        matches!(&err, CredentialError::Sts { answer, .. } if answer.status == 400 || answer.status == 403),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("string to sign is: [removed]"),
        "the echo is cut: {err}"
    );
    errors.push(format!("{err} {err:?}"));
    let (_, missing) = account_client(&base, Counted::base(), role_config(C, &url));
    let err = missing.credentials().await.expect_err("untrusted");
    errors.push(format!("{err} {err:?}"));
    // An answer to a call signed with the assumed keys.
    let order = alpha
        .create_product_orders(&region(), &pai_order())
        .await
        .expect("order");
    errors.push(format!("{order:?}"));
    let discovery = Discovery {
        folder: FOLDER.into(),
        tags: BTreeMap::new(),
        role: "pai-provision".into(),
        plan_role: None,
        regions: vec![pai_spec::Region::parse("cn-hangzhou").unwrap()],
        manifest: "m.toml".into(),
    };
    let err = list_accounts(&base.rpc_client(), &url, wrong.as_ref(), &discovery)
        .await
        .expect_err("bad signature");
    errors.push(format!("{err} {err:?}"));
    for text in errors {
        for secret in [
            SECRET,
            "wrong-base-secret",
            issued.access_key_secret.expose(),
            token.expose(),
        ] {
            assert!(!text.contains(secret), "a secret in: {text}");
        }
    }
}

/// A CI OIDC token the emulator's STS accepts (it checks the shape and expiry, not the key).
fn jwt() -> String {
    use base64::Engine;
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    let claims = serde_json::json!({"iss": "https://ci.example", "sub": "repo:team/infra", "aud": "sts.aliyuncs.com", "exp": exp});
    format!("{}.{}.c2lnbmF0dXJl", b64(&header), b64(&claims))
}

#[tokio::test]
async fn the_oidc_role_of_the_chain_is_a_base_for_every_account() {
    let emu = fleet_emulator(&["cn-hangzhou"], |_| {});
    let url = emu.endpoints().into_values().next().expect("endpoint");
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, jwt()).expect("token");
    let vars = BTreeMap::from([
        (
            "ALIBABA_CLOUD_ROLE_ARN",
            format!("acs:ram::{DEFAULT_HOME_ACCOUNT}:role/ci"),
        ),
        (
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            format!("acs:ram::{DEFAULT_HOME_ACCOUNT}:oidc-provider/ci"),
        ),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file.display().to_string()),
    ]);
    let chain: Arc<dyn CredentialProvider> = Arc::new(pai_apply::DefaultChain::new(
        move |name| vars.get(name).cloned(),
        None,
        None,
        Some(url.clone()),
    ));
    let base = base_client(&url);
    for account in [A, B] {
        let (client, _) = account_client(&base, Arc::clone(&chain), role_config(account, &url));
        client
            .create_product_orders(&region(), &pai_order())
            .await
            .expect("ordered with a role assumed from the OIDC role");
    }
    let ledger = emu.ledger();
    for account in [A, B] {
        assert_eq!(ledger.of_account(account).orders.len(), 1, "{account}");
    }
    assert!(ledger.of_account(DEFAULT_HOME_ACCOUNT).orders.is_empty());
}

/// Everything the emulator logs, for counting what it served.
#[derive(Clone, Default)]
struct Served(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Served {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Served {
    /// Requests of `action` the emulator answered 200.
    fn count(&self, action: &str) -> usize {
        let text = String::from_utf8_lossy(&self.0.lock().expect("lock")).to_string();
        text.lines()
            .filter(|l| l.contains("pai_emulator") && l.contains(action) && l.contains("status=200"))
            .count()
    }
}

// One thread: the emulator's tasks run where the test's scoped subscriber is.
#[tokio::test(flavor = "current_thread")]
async fn one_assume_role_serves_many_calls() {
    let served = Served::default();
    let writer = served.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _scope = tracing::subscriber::set_default(subscriber);

    let emu = fleet_emulator(&["cn-hangzhou", "cn-shanghai"], |_| {});
    let endpoints = emu.endpoints();
    let url = endpoints.values().next().cloned().expect("endpoint");
    let mut cfg = config(&url, SignatureVersion::V3, fast_retry(2_000));
    cfg.endpoint = pai_apply::EndpointResolver::new(None, endpoints);
    let base = client(cfg, Credentials::new(AK, SECRET));
    let counted = Counted::base();
    let (alpha, _) = account_client(&base, counted.clone(), role_config(A, &url));
    let shanghai = pai_testkit::fixtures::region("cn-shanghai");
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..12 {
        let alpha = alpha.clone();
        let region = if i % 2 == 0 { region() } else { shanghai.clone() };
        calls.spawn(async move { alpha.list_products(&region, &[ProductCode::Pai]).await });
    }
    while let Some(answer) = calls.join_next().await {
        answer.expect("joined").expect("list");
    }
    alpha
        .create_product_orders(&region(), &pai_order())
        .await
        .expect("order");
    assert_eq!(served.count("ListProducts"), 12, "every list was served");
    assert_eq!(served.count("AssumeRole"), 1, "one AssumeRole for 13 calls");
    assert_eq!(counted.asked(), 1);
    // Another account is another role session, and one more AssumeRole.
    let (beta, _) = account_client(&base, counted.clone(), role_config(B, &url));
    beta.list_products(&region(), &[ProductCode::Pai])
        .await
        .expect("list in B");
    assert_eq!(served.count("AssumeRole"), 2);
}

const STS_OK: &str = r#"{"RequestId":"R-OK","AssumedRoleUser":{"Arn":"acs:ram::2000000000000001:role/pai-provision/s","AssumedRoleId":"3:s"},"Credentials":{"AccessKeyId":"STS.retried","AccessKeySecret":"ISSUED-SECRET","SecurityToken":"ISSUED-TOKEN","Expiration":"2099-01-01T00:00:00Z"}}"#;

fn quick_rpc(base: &Client) -> RpcClient {
    let quick = RetryPolicy {
        max_elapsed: Duration::from_secs(5),
        base: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    base.rpc_client().with_retry(quick, 4)
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_and_a_refusal_is_not() {
    let throttled =
        r#"{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"R-T"}"#;
    let server = ScriptedServer::start(
        vec![
            Step::json(400, throttled),
            Step::json(503, r#"{"Code":"ServiceUnavailable","Message":"busy"}"#),
            Step::Close,
            Step::json(200, STS_OK),
        ],
        Step::json(500, "{}"),
    )
    .await;
    let base = base_client(&server.url());
    let counted = Counted::base();
    let provider = AssumeRoleProvider::new(&quick_rpc(&base), counted.clone(), role_config(A, &server.url()))
        .expect("valid config");
    let creds = provider.credentials().await.expect("after three transient failures");
    assert_eq!(creds.access_key_id, "STS.retried");
    assert_eq!(creds.provider_name, "ram_role_arn");
    let seen = server.requests();
    assert_eq!(seen.len(), 4);
    for (n, request) in seen.iter().enumerate() {
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/"));
        assert_eq!(request.header("x-acs-action"), Some("AssumeRole"));
        assert_eq!(request.header("x-acs-version"), Some("2015-04-01"));
        assert!(
            request.query.contains("RoleSessionName=pai-provision-9876543210-1"),
            "{}",
            request.query
        );
        assert_eq!(
            request.header("x-acs-retry-attempts"),
            (n > 0).then(|| n.to_string()).as_deref()
        );
    }
    assert_eq!(counted.asked(), 4, "every attempt signed afresh");
    // Cached: no fifth request.
    provider.credentials().await.expect("cached");
    assert_eq!(server.requests().len(), 4);

    // Past the attempts: transient, named, without the server's secrets.
    let down = ScriptedServer::start(
        vec![],
        Step::json(503, r#"{"Code":"ServiceUnavailable","Message":"busy"}"#),
    )
    .await;
    let provider =
        AssumeRoleProvider::new(&quick_rpc(&base), Counted::base(), role_config(A, &down.url())).expect("valid");
    let err = provider.credentials().await.expect_err("STS stays down");
    assert!(err.is_transient(), "{err}");
    assert_eq!(down.requests().len(), 4);

    // A refusal is returned at once.
    let refusing = ScriptedServer::start(
        vec![],
        Step::json(
            400,
            r#"{"Code":"InvalidParameter.RoleSessionName","Message":"bad","RequestId":"R-1"}"#,
        ),
    )
    .await;
    let provider =
        AssumeRoleProvider::new(&quick_rpc(&base), Counted::base(), role_config(A, &refusing.url())).expect("valid");
    let err = provider.credentials().await.expect_err("refused");
    assert!(!err.is_transient(), "{err}");
    assert_eq!(refusing.requests().len(), 1);
    assert!(
        err.to_string()
            .contains("Code InvalidParameter.RoleSessionName, RequestId R-1"),
        "{err}"
    );

    // A success without the keys: named, not quoted.
    let partial = ScriptedServer::start(
        vec![],
        Step::json(
            200,
            r#"{"Credentials":{"AccessKeyId":"STS.x","AccessKeySecret":"ISSUED-SECRET"}}"#,
        ),
    )
    .await;
    let provider =
        AssumeRoleProvider::new(&quick_rpc(&base), Counted::base(), role_config(A, &partial.url())).expect("valid");
    let err = provider.credentials().await.expect_err("incomplete answer");
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("`Credentials` lacks SecurityToken, Expiration"),
        "{shown}"
    );
    assert!(!shown.contains("ISSUED-SECRET"), "{shown}");
}

#[tokio::test]
async fn list_accounts_reads_every_page_of_the_folder() {
    // 230 accounts to find across three pages, among others that must be left out.
    let mut accounts: Vec<AccountConfig> = (0..230)
        .map(|i| member(&format!("30000000000{i:05}"), &[DEFAULT_HOME_ACCOUNT]))
        .collect();
    let other_folder = AccountConfig {
        folder: Some("fd-other".into()),
        ..member("4000000000000001", &[DEFAULT_HOME_ACCOUNT])
    };
    let dev = AccountConfig {
        tags: BTreeMap::from([("env".to_owned(), "dev".to_owned())]),
        ..member("4000000000000002", &[DEFAULT_HOME_ACCOUNT])
    };
    let failed = AccountConfig {
        status: AccountStatus::CreateFailed,
        ..member("4000000000000003", &[DEFAULT_HOME_ACCOUNT])
    };
    accounts.extend([other_folder, dev, failed]);
    let emu = {
        let regions = [pai_testkit::fixtures::region("cn-hangzhou")];
        let mut config = pai_testkit::emulator::config(&regions, AK, SECRET);
        config.accounts = accounts;
        pai_testkit::emulator::spawn(config)
    };
    let url = emu.endpoints().into_values().next().expect("endpoint");
    let base = base_client(&url);
    let keys = StaticCredentials::new(Credentials::new(AK, SECRET));
    let discovery = Discovery {
        folder: FOLDER.into(),
        tags: BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
        role: "pai-provision".into(),
        plan_role: None,
        regions: vec![pai_spec::Region::parse("cn-hangzhou").unwrap()],
        manifest: "m.toml".into(),
    };
    let found = list_accounts(&base.rpc_client(), &url, &keys, &discovery)
        .await
        .expect("listed");
    let ids: Vec<&str> = found.iter().map(|a| a.account_id.as_str()).collect();
    let want: Vec<String> = (0..230).map(|i| format!("30000000000{i:05}")).collect();
    assert_eq!(ids.len(), 230);
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, want.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(found
        .iter()
        .all(|a| a.folder_id == FOLDER && a.status == "CreateSuccess"));
    assert_eq!(found[0].tags.get("env").map(String::as_str), Some("prod"));
    assert_eq!(found[0].display_name, format!("acc-{}", found[0].account_id));

    // A member's assumed role may not list the directory: a typed error naming page 1.
    let (_, alpha) = account_client(&base, Counted::base(), role_config("3000000000000000", &url));
    let err = list_accounts(&base.rpc_client(), &url, alpha.as_ref(), &discovery)
        .await
        .expect_err("not the management account");
    match &err {
        DirectoryError::Call { page, source, .. } => {
            assert_eq!(*page, 1);
            assert_eq!(source.action, "ListAccounts");
            assert_eq!(source.kind, ErrorKind::Permanent, "{err}");
        }
        other => panic!("expected a refused call, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with(&format!("ListAccounts page 1 at {url}: ")),
        "{err}"
    );
    let err = list_accounts(&base.rpc_client(), "ftp://x", &keys, &discovery)
        .await
        .expect_err("bad endpoint");
    assert!(matches!(err, DirectoryError::InvalidEndpoint { .. }), "{err}");
}
