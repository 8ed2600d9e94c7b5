//! The starter policies of `examples/policies/` on real plans, their own Rego tests run by the
//! same engine, and the errors of policies that do not parse or do not evaluate.

use std::path::{Path, PathBuf};

use pai_planner::Plan;
use pai_policy::{judge, AccountContext, CiContext, PolicyContext, PolicyError, PolicySet};
use pai_state::StateSnapshot;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

/// A manifest with the given products (TOML tables) and `auto_pay`.
fn plan_of(auto_pay: bool, products: &[&str]) -> Plan {
    let mut text = format!("[provider]\nregion = \"cn-hangzhou\"\nauto_pay = {auto_pay}\n");
    for p in products {
        text.push_str(match *p {
            "dataworks" => "[products.dataworks]\ncode = \"DataWorks_share\"\npricing_cycle = \"Month\"\nproperties.region = \"cn-shanghai\"\n",
            "maxcompute" => "[products.maxcompute]\ncode = \"MaxCompute_share\"\npricing_cycle = \"Hour\"\nproperties.odps_specification_type = \"OdpsStandard\"\nproperties.ord_time = \"1:Hour\"\nproperties.region = \"cn-hangzhou\"\n",
            "oss" => "[products.oss]\ncode = \"OSS_share\"\npricing_cycle = \"Hour\"\nproperties.commodity_type = \"oss\"\nproperties.ord_time = \"1:Hour\"\n",
            "pai" => "[products.pai]\ncode = \"PAI_share\"\n",
            other => panic!("no fixture product {other}"),
        });
    }
    let loaded = pai_spec::parse(text.as_bytes(), "m.toml").expect("fixture manifest");
    let m = loaded.manifest;
    let at = time::OffsetDateTime::from_unix_timestamp(1_795_685_400).expect("time");
    Plan::build(
        &m,
        "m.toml",
        &StateSnapshot::default(),
        None,
        &|r| m.endpoint_for(r),
        at,
    )
}

fn account(tags: &[&str]) -> PolicyContext {
    PolicyContext {
        account: Some(AccountContext {
            id: "1234567890123456".into(),
            name: "research".into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }),
        ci: Some(CiContext {
            system: "github".into(),
            repository: Some("acme/infra".into()),
            pull_request: Some("42".into()),
            commit: Some("0123abc".into()),
            actor: Some("alice".into()),
            run_url: None,
        }),
    }
}

/// `(file, rule)` of each denial and each warning.
fn verdict(plan: Plan, context: &PolicyContext) -> (Vec<String>, Vec<String>) {
    let set = PolicySet::load(&examples()).expect("the starter policies load");
    let judged = judge(&set, plan, context).expect("the starter policies evaluate");
    let v = judged.policy.expect("a verdict");
    assert_eq!(v.policies_digest, set.digest());
    let names = |fs: &[pai_policy::PolicyFinding]| fs.iter().map(|f| format!("{}:{}", f.file, f.rule)).collect();
    (names(&v.deny), names(&v.warn))
}

#[test]
fn starter_policies_on_fixture_plans() {
    let none: Vec<String> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    // Everything allowed: DataWorks beside MaxCompute, AutoPay, few orders, a pull request.
    assert_eq!(
        verdict(plan_of(true, &["dataworks", "maxcompute"]), &account(&["ml"])),
        (none.clone(), none.clone())
    );
    // MaxCompute alone.
    assert_eq!(
        verdict(plan_of(true, &["maxcompute"]), &account(&["ml"])),
        (s(&["maxcompute_dataworks.rego:deny"]), none.clone())
    );
    // AutoPay false: one denial per region order.
    assert_eq!(
        verdict(plan_of(false, &["pai"]), &account(&["ml"])),
        (s(&["auto_pay.rego:deny"]), none.clone())
    );
    // A sandbox account: every ordered product denied.
    assert_eq!(
        verdict(plan_of(true, &["pai", "oss"]), &account(&["sandbox"])),
        (s(&["sandbox.rego:deny", "sandbox.rego:deny"]), none.clone())
    );
    // Three orders: past half of the maximum (5), a warning; no pull request: another.
    let outside_ci = PolicyContext {
        account: None,
        ci: None,
    };
    assert_eq!(
        verdict(plan_of(true, &["dataworks", "maxcompute", "pai"]), &outside_ci),
        (none.clone(), s(&["max_orders.rego:warn", "review.rego:warn"]))
    );
}

#[test]
fn max_orders_reads_its_limit_from_the_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(examples().join("max_orders.rego")).expect("read");
    std::fs::write(
        dir.path().join("max_orders.rego"),
        text.replace("max_new_orders := 5", "max_new_orders := 1"),
    )
    .expect("write");
    let set = PolicySet::load(dir.path()).expect("load");
    let judged = judge(&set, plan_of(true, &["pai", "oss"]), &PolicyContext::default()).expect("evaluate");
    let v = judged.policy.expect("verdict");
    assert_eq!(v.deny.len(), 1, "{v:?}");
    assert_eq!(
        v.deny[0].message,
        "2 products ordered in one run, more than 1: split the change"
    );
}

/// `opa test examples/policies` in process: every `test_*` rule of the `*_test.rego` files,
/// loaded with the policies as `opa test` loads them, must be true.
#[test]
fn the_starter_policies_pass_their_own_rego_tests() {
    let mut engine = regorus::Engine::new();
    let mut tests = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(examples())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "rego")) {
        let text = std::fs::read_to_string(path).expect("read");
        if path.to_string_lossy().ends_with("_test.rego") {
            for line in text.lines() {
                if let Some(name) = line.strip_prefix("test_").and_then(|l| l.split_whitespace().next()) {
                    tests.push(format!("test_{name}"));
                }
            }
        }
        engine.add_policy(path.display().to_string(), text).expect("parses");
    }
    assert!(tests.len() >= 10, "{tests:?}");
    for test in tests {
        let got = engine.eval_rule(format!("data.main.{test}")).expect(&test);
        assert_eq!(got, regorus::Value::from(true), "{test}");
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

#[test]
fn a_policy_that_does_not_parse_names_its_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "ok.rego",
        "package main\n\ndeny contains \"x\" if { false }\n",
    );
    write(
        dir.path(),
        "broken.rego",
        "package main\n\ndeny contains msg if {\n  msg := \n}\n",
    );
    match PolicySet::load(dir.path()) {
        Err(e @ PolicyError::Syntax { .. }) => {
            let PolicyError::Syntax { path, line, column, .. } = &e else {
                unreachable!()
            };
            assert_eq!(path, &dir.path().join("broken.rego"));
            // `msg :=` with nothing after it: the engine points at the `:=`.
            assert_eq!((*line, *column), (4, 7), "{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("{}:4:7: ", dir.path().join("broken.rego").display())),
                "{e}"
            );
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn rego_v0_rules_in_conftest_layout_are_read_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "v0.rego",
        "package main\n\ndeny[msg] {\n  input.plan.summary.order > 0\n  msg := \"v0 deny\"\n}\n\nwarn_orders[msg] {\n  msg := sprintf(\"%d\", [input.plan.summary.order])\n}\n",
    );
    let set = PolicySet::load(dir.path()).expect("v0 loads");
    let v = judge(&set, plan_of(true, &["pai"]), &PolicyContext::default())
        .expect("eval")
        .policy
        .expect("verdict");
    assert_eq!(
        v.deny.iter().map(|f| f.message.as_str()).collect::<Vec<_>>(),
        ["v0 deny"]
    );
    assert_eq!(
        v.warn
            .iter()
            .map(|f| (f.rule.as_str(), f.message.as_str()))
            .collect::<Vec<_>>(),
        [("warn_orders", "1")]
    );
}

#[test]
fn policies_read_the_fleet_tags_and_the_ci_context_and_may_use_a_library() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "lib.rego",
        "package lib\n\nimport rego.v1\n\nprod if \"prod\" in input.context.account.tags\n",
    );
    write(
        dir.path(),
        "prod.rego",
        "package main\n\nimport rego.v1\nimport data.lib\n\ndeny contains msg if {\n  lib.prod\n  input.context.ci.actor != \"release-bot\"\n  msg := sprintf(\"%s may not plan prod from %s#%s\", [input.context.ci.actor, input.context.ci.repository, input.context.ci.pull_request])\n}\n",
    );
    write(
        dir.path(),
        "prod_test.rego",
        "package main\n\nthis does not parse and is never read\n",
    );
    let set = PolicySet::load(dir.path()).expect("load");
    let v = |tags: &[&str]| {
        judge(&set, plan_of(true, &["pai"]), &account(tags))
            .expect("eval")
            .policy
            .expect("verdict")
    };
    assert_eq!(v(&["ml"]).deny, []);
    let denied = v(&["prod"]);
    assert_eq!(denied.deny.len(), 1);
    assert_eq!(denied.deny[0].file, "prod.rego");
    assert_eq!(denied.deny[0].message, "alice may not plan prod from acme/infra#42");
}

#[test]
fn empty_and_mainless_directories_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(PolicySet::load(dir.path()), Err(PolicyError::Empty { .. })));
    write(dir.path(), "lib.rego", "package lib\n\nx := 1\n");
    assert!(matches!(PolicySet::load(dir.path()), Err(PolicyError::NoMain { .. })));
    assert!(matches!(
        PolicySet::load(&dir.path().join("missing")),
        Err(PolicyError::Io { .. })
    ));
}

#[test]
fn the_digest_covers_names_and_contents_but_not_tests() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a.rego",
        "package main\n\ndeny contains \"a\" if { false }\n",
    );
    let first = PolicySet::load(dir.path()).expect("load").digest().to_owned();
    write(dir.path(), "a_test.rego", "package main\n");
    assert_eq!(PolicySet::load(dir.path()).expect("load").digest(), first);
    write(
        dir.path(),
        "a.rego",
        "package main\n\ndeny contains \"b\" if { false }\n",
    );
    assert_ne!(PolicySet::load(dir.path()).expect("load").digest(), first);
}

#[test]
fn a_builtin_left_out_is_an_error_at_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "net.rego",
        "package main\n\nimport rego.v1\n\ndeny contains msg if {\n  r := http.send({\"method\": \"get\", \"url\": \"http://x\"})\n  msg := r.body\n}\n",
    );
    let set = PolicySet::load(dir.path()).expect("it parses");
    let err = judge(&set, plan_of(true, &["pai"]), &PolicyContext::default()).expect_err("no http.send");
    // The engine points at the call's parenthesis.
    let want = format!("{}:6:17: ", dir.path().join("net.rego").display());
    assert!(err.to_string().starts_with(&want), "{err}");
    assert!(err.to_string().contains("http.send"), "{err}");
}

/// One set judges plan after plan (a fleet's accounts, in turn, on one thread): nothing of one
/// evaluation shows in the next.
#[test]
fn one_set_judges_plan_after_plan_without_carrying_anything_over() {
    let policies = PolicySet::load(&examples()).unwrap();
    let judge = |plan: Plan, context: &PolicyContext| {
        let judged = pai_policy::judge(&policies, plan, context).unwrap();
        let v = judged.policy.unwrap();
        (v.deny.len(), v.warn.len())
    };
    let sandbox = account(&["sandbox"]);
    let team = account(&["team"]);
    let denied = judge(plan_of(true, &["pai", "oss"]), &sandbox);
    assert!(denied.0 > 0, "{denied:?}");
    for _ in 0..3 {
        assert_eq!(
            judge(plan_of(true, &["pai"]), &team).0,
            0,
            "a team account after a sandbox one"
        );
        assert_eq!(
            judge(plan_of(true, &["pai", "oss"]), &sandbox),
            denied,
            "the same plan, the same verdict"
        );
        assert_eq!(
            judge(plan_of(false, &["pai"]), &team).0,
            1,
            "auto_pay false is denied on its own"
        );
    }
}
