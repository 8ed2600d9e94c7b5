//! The emulator serving a fleet, over real HTTP with real signatures: STS `AssumeRole` into a
//! member account's role, orders that land in that account only, every per-account rule, and
//! Resource Manager `ListAccounts`.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::*;
use pai_emulator::{AccountConfig, EmulatorConfig, Realism, RoleConfig, DEFAULT_HOME_ACCOUNT};
use pai_sign::wire::{resource_manager, sts};
use pai_spec::ProductCode;
use serde_json::Value;

const A: &str = "2000000000000001";
const B: &str = "2000000000000002";
/// An account whose role trusts only A, not the home account.
const C: &str = "2000000000000003";

fn fleet_config(regions: &[&str]) -> EmulatorConfig {
    let member = |id: &str, name: &str, trusted: &[&str]| AccountConfig {
        roles: vec![RoleConfig::new("pai-provision", trusted)],
        folder: Some("fd-fleet01".into()),
        tags: BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
        ..AccountConfig::new(id, name)
    };
    let mut config = common::config(regions);
    config.accounts = vec![
        member(A, "alpha", &[DEFAULT_HOME_ACCOUNT]),
        member(B, "beta", &[DEFAULT_HOME_ACCOUNT]),
        member(C, "gamma", &[A]),
    ];
    config
}

/// The keys an `AssumeRole` answer carries.
#[derive(Debug, Clone)]
struct Keys {
    id: String,
    secret: String,
    token: String,
}

impl Keys {
    fn sign(&self, call: Call) -> Call {
        call.with_key(&self.id, &self.secret, Some(&self.token))
    }
}

fn role_arn(account: &str) -> String {
    format!("acs:ram::{account}:role/pai-provision")
}

fn assume_call(account: &str, extra: &[(&str, &str)]) -> Call {
    let arn = role_arn(account);
    let mut params = vec![("RoleArn", arn.as_str()), ("RoleSessionName", "pai-provision-1a2b3c4d")];
    for (key, value) in extra {
        params.retain(|(k, _)| k != key);
        params.push((key, value));
    }
    Call::rpc(sts::ASSUME_ROLE, sts::VERSION, &params)
}

fn keys_of(answer: &Answer) -> Keys {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let c = &answer.body["Credentials"];
    Keys {
        id: c["AccessKeyId"].as_str().unwrap().to_owned(),
        secret: c["AccessKeySecret"].as_str().unwrap().to_owned(),
        token: c["SecurityToken"].as_str().unwrap().to_owned(),
    }
}

async fn assume(a: SocketAddr, account: &str) -> Keys {
    keys_of(&send(a, &assume_call(account, &[])).await)
}

async fn purchased(a: SocketAddr, call: Call) -> bool {
    let answer = send(a, &call).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["Products"][0]["IsPurchased"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_assumed_keys_lands_in_that_account_only() {
    let emu = pai_emulator::start(fleet_config(&["cn-hangzhou"])).await.unwrap();
    let a = addr(&emu, "cn-hangzhou");
    let answer = send(
        a,
        &assume_call(A, &[("SourceIdentity", "0123abcd4567"), ("DurationSeconds", "900")]),
    )
    .await;
    let alpha = keys_of(&answer);
    assert!(alpha.id.starts_with("STS."));
    assert_eq!(
        answer.body["AssumedRoleUser"]["Arn"],
        "acs:ram::2000000000000001:role/pai-provision/pai-provision-1a2b3c4d"
    );
    assert!(answer.body["AssumedRoleUser"]["AssumedRoleId"]
        .as_str()
        .unwrap()
        .ends_with(":pai-provision-1a2b3c4d"));
    assert_eq!(answer.body["SourceIdentity"], "0123abcd4567");
    assert!(answer.body["Credentials"]["Expiration"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    // The parameters may come in a form body too.
    let arn = role_arn(B);
    let form = Call::rpc_form(
        sts::ASSUME_ROLE,
        sts::VERSION,
        &[("RoleArn", &arn), ("RoleSessionName", "form-session")],
    );
    let beta = keys_of(&send(a, &form).await);

    let order = send(a, &alpha.sign(Call::order(Algo::V3, PAI_ORDER))).await;
    assert_eq!(order.status, 200, "{}", order.body);

    let ledger = emu.ledger();
    let hz = region("cn-hangzhou");
    let in_alpha = ledger.of_account(A);
    assert_eq!(in_alpha.orders.len(), 1);
    assert_eq!(in_alpha.order_count_in(A, &hz, ProductCode::Pai), 1);
    assert!(ledger.is_purchased_in(A, &hz, ProductCode::Pai));
    let caller = in_alpha.orders[0]
        .caller
        .as_ref()
        .expect("the role session is recorded");
    assert_eq!(caller.role_arn, role_arn(A));
    assert_eq!(caller.session_name, "pai-provision-1a2b3c4d");
    assert_eq!(caller.source_identity.as_deref(), Some("0123abcd4567"));
    for other in [B, DEFAULT_HOME_ACCOUNT] {
        assert!(ledger.of_account(other).orders.is_empty(), "{other}");
        assert!(!ledger.is_purchased_in(other, &hz, ProductCode::Pai), "{other}");
    }

    assert!(purchased(a, alpha.sign(Call::list(Algo::V3, "PAI_share"))).await);
    assert!(
        !purchased(a, beta.sign(Call::list(Algo::V2, "PAI_share"))).await,
        "not bought in B"
    );
    assert!(
        !purchased(a, Call::list(Algo::V3, "PAI_share")).await,
        "nor in the home account"
    );

    // The ledger over HTTP says whose each order is, and shows one account on request.
    let all = ledger_over_http(a).await;
    assert_eq!(all["orders"][0]["Account"], A);
    assert_eq!(all["orders"][0]["Caller"]["RoleSessionName"], "pai-provision-1a2b3c4d");
    let url = |account: &str| format!("http://{a}/_emulator/ledger?account={account}");
    let only_b: Value = client().get(url(B)).send().await.unwrap().json().await.unwrap();
    assert_eq!(only_b["orders"], Value::Array(vec![]));
    let only_a: Value = client().get(url(A)).send().await.unwrap().json().await.unwrap();
    assert_eq!(only_a["orders"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_refuses_as_the_real_sts_does() {
    let emu = pai_emulator::start(fleet_config(&["cn-hangzhou"])).await.unwrap();
    let a = addr(&emu, "cn-hangzhou");
    let alpha = assume(a, A).await;
    let long_name = "s".repeat(65);
    let cases: Vec<(&str, Call, u16, &str)> = vec![
        (
            "a role that is not in the account",
            Call::rpc(
                sts::ASSUME_ROLE,
                sts::VERSION,
                &[
                    ("RoleArn", "acs:ram::2000000000000001:role/admin"),
                    ("RoleSessionName", "s1"),
                ],
            ),
            404,
            "EntityNotExist.Role",
        ),
        (
            "an account the emulator does not serve",
            assume_call("9000000000000009", &[]),
            404,
            "EntityNotExist.Role",
        ),
        (
            "a role that does not trust the caller's account",
            assume_call(C, &[]),
            403,
            "NoPermission",
        ),
        (
            "a session name with a space",
            assume_call(A, &[("RoleSessionName", "a b")]),
            400,
            "InvalidParameter.RoleSessionName",
        ),
        (
            "a session name too long",
            assume_call(A, &[("RoleSessionName", &long_name)]),
            400,
            "InvalidParameter.RoleSessionName",
        ),
        (
            "a session longer than the role allows",
            assume_call(A, &[("DurationSeconds", "3601")]),
            400,
            "InvalidParameter.DurationSeconds",
        ),
        (
            "a session shorter than 15 minutes",
            assume_call(A, &[("DurationSeconds", "600")]),
            400,
            "InvalidParameter.DurationSeconds",
        ),
        (
            "a source identity out of the alphabet",
            assume_call(A, &[("SourceIdentity", "me/you")]),
            400,
            "InvalidParameter.SourceIdentity",
        ),
        (
            "the wrong STS version",
            Call::rpc(sts::ASSUME_ROLE, "2019-01-01", &[]),
            400,
            "InvalidVersion",
        ),
        (
            "an action neither STS nor Resource Manager has",
            Call::rpc("DeleteRole", sts::VERSION, &[]),
            404,
            "InvalidAction.NotFound",
        ),
        (
            "the ROA signature on an RPC call",
            Call {
                algo: Algo::V2,
                ..assume_call(A, &[])
            },
            400,
            "IncompleteSignature",
        ),
        (
            "an unknown key",
            assume_call(A, &[]).with_key("LTAI5tNobody", SECRET, None),
            404,
            "InvalidAccessKeyId.NotFound",
        ),
    ];
    for (what, call, status, code) in cases {
        let answer = send(a, &call).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{what}: {}",
            answer.body
        );
        assert!(
            answer.body["RequestId"].is_string() && answer.body["Message"].is_string(),
            "{what}"
        );
    }
    let untrusted = send(a, &assume_call(C, &[])).await;
    assert_eq!(untrusted.body["HostId"], "sts.aliyuncs.com");
    assert!(
        untrusted.body["Message"]
            .as_str()
            .unwrap()
            .contains("You are not authorized to assume this role"),
        "{}",
        untrusted.body
    );
    // A wrong signature is refused before anything is looked at.
    let mut tampered = assume_call(A, &[]);
    let headers = tampered.headers(&a.to_string());
    tampered.query.push(("DurationSeconds".into(), "900".into()));
    let answer = send_raw(a, &tampered, &headers, &[]).await;
    assert_eq!(answer.code(), "SignatureDoesNotMatch", "{}", answer.body);

    // Role chaining is allowed, as on the real STS: A's session may enter C, which trusts A,
    // for an hour at most, and the chain keeps its source identity.
    let over_an_hour = send(a, &alpha.sign(assume_call(C, &[("DurationSeconds", "3601")]))).await;
    assert_eq!(
        over_an_hour.code(),
        "InvalidParameter.DurationSeconds",
        "{}",
        over_an_hour.body
    );
    let gamma = keys_of(&send(a, &alpha.sign(assume_call(C, &[]))).await);
    let order = send(a, &gamma.sign(Call::order(Algo::V3, PAI_ORDER))).await;
    assert_eq!(order.status, 200, "{}", order.body);
    assert_eq!(emu.ledger().of_account(C).orders.len(), 1);
    // But C's session is not trusted by B's role, nor is A's.
    let refused = send(a, &gamma.sign(assume_call(B, &[]))).await;
    assert_eq!((refused.status, refused.code()), (403, "NoPermission"));
    assert!(
        emu.ledger().orders.iter().all(|o| o.account == C),
        "nothing else ordered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_by_rate_counts_each_account_apart() {
    let mut config = fleet_config(&["cn-hangzhou", "cn-shanghai"]);
    config.realism = "rate_per_s=3".parse::<Realism>().unwrap();
    let emu = pai_emulator::start(config).await.unwrap();
    let (hz, sh) = (addr(&emu, "cn-hangzhou"), addr(&emu, "cn-shanghai"));
    // AssumeRole is STS's, not counted against AIWorkSpace's rate.
    let alpha = assume(hz, A).await;
    let _beta = assume(hz, B).await;
    // The home account's fourth call in its second is refused, whichever listener gets it;
    // A's first calls are not.
    for (i, a) in [hz, sh, hz].into_iter().enumerate() {
        let ok = send(a, &Call::list(Algo::V3, "PAI_share")).await;
        assert_eq!(ok.status, 200, "home call {i}: {}", ok.body);
    }
    let over = send(sh, &Call::list(Algo::V3, "PAI_share")).await;
    assert_eq!((over.status, over.code()), (400, "Throttling.User"));
    let other = send(hz, &alpha.sign(Call::list(Algo::V3, "PAI_share"))).await;
    assert_eq!(
        other.status, 200,
        "A is not throttled by the home account's calls: {}",
        other.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_about_the_account_holds_per_account() {
    let mut config = fleet_config(&["cn-hangzhou", "cn-shanghai"]);
    config.realism = "repeat=order_opend,oss_account_wide=true".parse::<Realism>().unwrap();
    let emu = pai_emulator::start(config).await.unwrap();
    let (hz, sh) = (addr(&emu, "cn-hangzhou"), addr(&emu, "cn-shanghai"));
    let (alpha, beta) = (assume(hz, A).await, assume(hz, B).await);

    // A repeat is refused in the account that bought it, not in another.
    let oss = r#"{"AutoPay":true,"Products":[{"ProductCode":"OSS_share","ChargeType":"POSTPAY","OrderType":"BUY","Duration":1,"PricingCycle":"Hour","InstanceProperties":[{"Code":"commodity_type","Value":"oss"},{"Code":"ord_time","Value":"1:Hour"}]}]}"#;
    let first = send(hz, &alpha.sign(Call::order(Algo::V3, oss))).await;
    assert_eq!(first.status, 200, "{}", first.body);
    // OSS is account-wide: bought in A's Hangzhou, it is A's in Shanghai too, and not B's.
    let again = send(sh, &alpha.sign(Call::order(Algo::V3, oss))).await;
    assert_eq!((again.status, again.code()), (400, "ORDER.OPEND"), "{}", again.body);
    assert!(purchased(sh, alpha.sign(Call::list(Algo::V3, "OSS_share"))).await);
    assert!(!purchased(sh, beta.sign(Call::list(Algo::V3, "OSS_share"))).await);
    let in_b = send(sh, &beta.sign(Call::order(Algo::V3, oss))).await;
    assert_eq!(in_b.status, 200, "B buys its own: {}", in_b.body);

    let ledger = emu.ledger();
    let (r_hz, r_sh) = (region("cn-hangzhou"), region("cn-shanghai"));
    assert_eq!(ledger.order_count_in(A, &r_hz, ProductCode::Oss), 1);
    assert_eq!(ledger.order_count_in(A, &r_sh, ProductCode::Oss), 0);
    assert_eq!(ledger.order_count_in(B, &r_sh, ProductCode::Oss), 1);
    assert_eq!(ledger.refusals.len(), 1);
    assert_eq!(ledger.refusals[0].account, A);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_reach_sts_but_drop_nothing_there() {
    let mut config = fleet_config(&["cn-hangzhou"]);
    config.faults = "error_500=1".parse().unwrap();
    let emu = pai_emulator::start(config).await.unwrap();
    let a = addr(&emu, "cn-hangzhou");
    let answer = send(a, &assume_call(A, &[])).await;
    assert_eq!(
        (answer.status, answer.code()),
        (500, "InternalError"),
        "{}",
        answer.body
    );
    let listed = send(
        a,
        &Call::rpc(resource_manager::LIST_ACCOUNTS, resource_manager::VERSION, &[]),
    )
    .await;
    assert_eq!(listed.status, 500);
    assert_eq!(listed.body["HostId"], "resourcemanager.aliyuncs.com");
    // Authentication still comes first.
    let unknown = send(a, &assume_call(A, &[]).with_key("LTAI5tNobody", SECRET, None)).await;
    assert_eq!(unknown.code(), "InvalidAccessKeyId.NotFound");

    let mut config = fleet_config(&["cn-hangzhou"]);
    config.faults = "throttle=1,drop_after_commit=1".parse().unwrap();
    config.realism.throttle_400 = true;
    let emu = pai_emulator::start(config).await.unwrap();
    let throttled = send(addr(&emu, "cn-hangzhou"), &assume_call(A, &[])).await;
    assert_eq!((throttled.status, throttled.code()), (400, "Throttling.User"));
    assert!(throttled.headers.contains_key("x-acs-retry-after"));
}

fn many_accounts(n: usize) -> Vec<AccountConfig> {
    (0..n)
        .map(|i| AccountConfig {
            tags: BTreeMap::from([
                ("env".to_owned(), if i % 3 == 0 { "prod" } else { "dev" }.to_owned()),
                ("owner".to_owned(), format!("team-{}", i % 4)),
            ]),
            folder: Some(if i < 20 { "fd-fleet01" } else { "fd-other" }.to_owned()),
            roles: vec![RoleConfig::new("pai-provision", &[DEFAULT_HOME_ACCOUNT])],
            ..AccountConfig::new(format!("30000000000000{i:02}"), format!("acct-{i:02}"))
        })
        .collect()
}

async fn list_accounts(a: SocketAddr, call: Call) -> Answer {
    send(a, &call).await
}

fn list(params: &[(&str, &str)]) -> Call {
    Call::rpc(resource_manager::LIST_ACCOUNTS, resource_manager::VERSION, params)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_accounts_pages_and_filters_by_tag() {
    let mut config = common::config(&["cn-hangzhou"]);
    config.accounts = many_accounts(25);
    let emu = pai_emulator::start(config).await.unwrap();
    let a = addr(&emu, "cn-hangzhou");

    let mut seen = Vec::new();
    for page in 1..=3 {
        let n = page.to_string();
        let answer = list_accounts(a, list(&[("PageNumber", &n), ("PageSize", "10")])).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["TotalCount"], 25);
        assert_eq!(answer.body["PageNumber"], page);
        assert_eq!(answer.body["PageSize"], 10);
        let accounts = answer.body["Accounts"]["Account"].as_array().unwrap().clone();
        assert_eq!(accounts.len(), if page < 3 { 10 } else { 5 });
        for account in &accounts {
            assert!(account.get("Tags").is_none(), "tags only when asked: {account}");
            assert_eq!(account["Status"], "CreateSuccess");
            assert_eq!(account["Type"], "ResourceAccount");
            assert!(account["ResourceDirectoryId"].as_str().unwrap().starts_with("rd-"));
            seen.push(account["AccountId"].as_str().unwrap().to_owned());
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (seen.len(), unique.len()),
        (25, 25),
        "every account once across the pages"
    );

    let default_page = list_accounts(a, list(&[])).await;
    assert_eq!(default_page.body["Accounts"]["Account"].as_array().unwrap().len(), 10);

    let prod_team0 = list_accounts(
        a,
        list(&[
            ("IncludeTags", "true"),
            ("PageSize", "100"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod"),
            ("Tag.2.Key", "owner"),
            ("Tag.2.Value", "team-0"),
        ]),
    )
    .await;
    assert_eq!(prod_team0.status, 200, "{}", prod_team0.body);
    let ids: Vec<&str> = prod_team0.body["Accounts"]["Account"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["AccountId"].as_str().unwrap())
        .collect();
    // i % 3 == 0 and i % 4 == 0: 0, 12, 24.
    assert_eq!(ids, ["3000000000000000", "3000000000000012", "3000000000000024"]);
    assert_eq!(prod_team0.body["TotalCount"], 3);
    let tags = &prod_team0.body["Accounts"]["Account"][0]["Tags"]["Tag"];
    assert_eq!(tags[0]["Key"], "env");
    assert_eq!(tags[0]["Value"], "prod");
    assert_eq!(prod_team0.body["Accounts"]["Account"][0]["FolderId"], "fd-fleet01");
    assert_eq!(prod_team0.body["Accounts"]["Account"][2]["FolderId"], "fd-other");

    for (params, code) in [
        (vec![("PageSize", "101")], "InvalidParameter"),
        (vec![("PageSize", "0")], "InvalidParameter"),
        (vec![("PageNumber", "0")], "InvalidParameter"),
    ] {
        let answer = list_accounts(a, list(&params)).await;
        assert_eq!((answer.status, answer.code()), (400, code), "{params:?}");
    }
    let wrong_version = list_accounts(a, Call::rpc(resource_manager::LIST_ACCOUNTS, "2016-11-11", &[])).await;
    assert_eq!(wrong_version.code(), "InvalidVersion");

    // A member account's key may not read the directory.
    let member = assume(a, "3000000000000001").await;
    let refused = list_accounts(a, member.sign(list(&[]))).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "NoPermission"),
        "{}",
        refused.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_ledger_without_accounts_loads_as_the_home_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.json");
    let old = r#"{"orders":[{"OrderId":"210000000000001","Region":"cn-hangzhou","ProductCodes":["PAI_share"],
        "ProductIds":["21000000000000101"],"BuyProductRequestId":"b","RequestId":"r","AutoPay":true,
        "AccessKeyId":"LTAI5tTestKeyId","Body":{},"At":"2026-11-26T09:00:00Z"}],
        "purchased":[{"Region":"cn-hangzhou","ProductCode":"PAI_share","ProductId":"21000000000000101",
        "OrderId":"210000000000001","At":"2026-11-26T09:00:00Z"}]}"#;
    std::fs::write(&path, old).unwrap();
    let mut config = fleet_config(&["cn-hangzhou"]);
    config.ledger_path = Some(path.clone());
    let emu = pai_emulator::start(config).await.unwrap();
    let a = addr(&emu, "cn-hangzhou");
    let ledger = emu.ledger();
    assert_eq!(ledger.orders[0].account, DEFAULT_HOME_ACCOUNT);
    assert_eq!(ledger.purchased[0].account, DEFAULT_HOME_ACCOUNT);
    assert!(
        purchased(a, Call::list(Algo::V3, "PAI_share")).await,
        "the home account's, as before"
    );
    let alpha = assume(a, A).await;
    assert!(!purchased(a, alpha.sign(Call::list(Algo::V3, "PAI_share"))).await);
    let order = send(a, &alpha.sign(Call::order(Algo::V3, PAI_ORDER))).await;
    assert_eq!(order.status, 200, "{}", order.body);
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk["orders"][0]["Account"], DEFAULT_HOME_ACCOUNT);
    assert_eq!(on_disk["orders"][1]["Account"], A);
    assert_eq!(
        on_disk["orders"][1]["OrderId"], "210000000000002",
        "order ids stay one sequence"
    );
    // And a home account configured otherwise takes the old entries.
    let mut config = common::config(&["cn-hangzhou"]);
    std::fs::write(&path, old).unwrap();
    config.ledger_path = Some(path);
    config.home_account = "1999999999999999".into();
    let emu = pai_emulator::start(config).await.unwrap();
    assert_eq!(emu.ledger().orders[0].account, "1999999999999999");
}
