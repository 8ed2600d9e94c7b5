//! The aliyun CLI's `RamRoleArn` profile: an access key that assumes a role in another account
//! (STS `AssumeRole`). One `apply --profile` orders in the role's account, the plan records that
//! account, and a role that is not there is a clear error with nothing ordered.

mod support;

use pai_emulator::{AccountConfig, RoleConfig};
use pai_testkit::emulator::{runtime, Emu};
use support::{emu_config, hangzhou, manifest, single_region, Workdir, ACCESS_KEY_ID, ACCESS_KEY_SECRET};

const HOME: &str = "1900000000000002";
const MEMBER: &str = "2100000000000001";

fn profile_config(role: &str) -> String {
    format!(
        r#"{{"current": "member", "profiles": [{{"name": "member", "mode": "RamRoleArn",
        "access_key_id": "{ACCESS_KEY_ID}", "access_key_secret": "{ACCESS_KEY_SECRET}",
        "ram_role_arn": "acs:ram::{MEMBER}:role/{role}", "ram_session_name": "by-hand"}}]}}"#
    )
}

#[test]
fn a_ram_role_profile_orders_in_the_roles_account() {
    let rt = runtime();
    let mut work = Workdir::new();
    let mut config = emu_config(&[hangzhou()], &work.file("ledger.json"));
    config.home_account = HOME.to_owned();
    let mut member = AccountConfig::new(MEMBER, "member");
    member.roles = vec![RoleConfig::new("deploy", &[HOME])];
    config.accounts = vec![member];
    let emu = Emu::start(rt.handle(), config);
    let endpoint = emu.endpoints()[&hangzhou()].clone();
    work.write_manifest(&manifest(&emu.endpoints(), &single_region()));
    // Only the profile: the environment's key would otherwise come first in the chain.
    work.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", None);
    work.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", None);
    work.set_env("ALIBABA_CLOUD_STS_ENDPOINT", Some(&endpoint));
    std::fs::create_dir_all(work.file(".aliyun")).unwrap();

    // A role the account does not have: refused, nothing ordered.
    std::fs::write(work.file(".aliyun/config.json"), profile_config("nobody")).unwrap();
    let refused = work.run(&["apply", "--auto-approve", "--profile", "member"]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("EntityNotExist.Role"), "{}", refused.stderr);
    assert!(emu.ledger().orders.is_empty());

    std::fs::write(work.file(".aliyun/config.json"), profile_config("deploy")).unwrap();
    let plan = work.run(&["plan", "--profile", "member", "--out", "p.json"]);
    assert_eq!(plan.code, Some(0), "{plan:?}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(work.file("p.json")).unwrap()).unwrap();
    assert_eq!(saved["target"]["account"], MEMBER, "the plan names the role's account");
    let applied = work.run(&["apply", "--profile", "member", "p.json"]);
    assert_eq!(applied.code, Some(0), "{applied:?}");
    let ledger = emu.ledger();
    assert_eq!(ledger.of_account(MEMBER).orders.len(), 1, "{ledger:?}");
    assert!(ledger.of_account(HOME).orders.is_empty(), "{ledger:?}");
    let caller = ledger.orders[0]
        .caller
        .as_ref()
        .expect("an STS order records its caller");
    assert_eq!(caller.session_name, "by-hand");
    for output in [&applied.stdout, &applied.stderr, &plan.stdout, &plan.stderr] {
        assert!(!output.contains(ACCESS_KEY_SECRET));
    }
}
