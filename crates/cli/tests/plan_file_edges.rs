//! A saved plan at its edges (issue 12): it is applied only to the target it was made for (the
//! state's location and lineage, the endpoints, the sandbox), `plan --out` never replaces a file
//! that is not a plan, and a plan edited by hand is refused whole. The real binary, real SQLite
//! states and real emulators throughout.

mod support;

use pai_spec::ProductCode;
use pai_state::Store;
use support::{hangzhou, want, Run, Setup, Want, Workdir};

fn pai() -> Want {
    want("pai", ProductCode::Pai, &hangzhou())
}

fn oss() -> Want {
    want("oss", ProductCode::Oss, &hangzhou())
}

/// `pai-provision --state STATE --no-color ARGS` in `work`: for a test that names the state
/// itself.
fn run_at(work: &Workdir, state: &str, args: &[&str]) -> Run {
    let mut all = vec!["--state", state, "--no-color"];
    all.extend_from_slice(args);
    work.run_plain(&all)
}

/// What a refused apply must leave as it was: the rows, the serial and the runs.
fn state_view(work: &Workdir) -> (u64, String, String) {
    let serial = Store::open_read_only(&work.state)
        .and_then(|s| s.snapshot())
        .expect("read the state")
        .serial;
    (
        serial,
        work.ok(&["state", "list", "--format", "json"]),
        work.ok(&["state", "history", "--format", "json"]),
    )
}

#[test]
fn a_plan_made_before_the_state_existed_applies_only_to_that_missing_state() {
    let setup = Setup::new(&[pai()]);
    let work = &setup.work;
    let planned = run_at(work, "a.db", &["plan", "--out", "p.json"]);
    assert_eq!(planned.code, Some(0), "{}", planned.describe());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.file("p.json")).unwrap()).unwrap();
    assert_eq!(saved["lineage"], serde_json::Value::Null);
    assert_eq!(saved["target"]["state"], "a.db", "{saved:#}");
    let shown = work.ok(&["show", "p.json"]);
    assert!(
        shown.contains("applies only to the state at a.db (not created yet), through the cloud"),
        "{shown}"
    );

    // Another state that does not exist yet either: not the one the plan was made for.
    let refused = run_at(work, "b.db", &["apply", "p.json"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    let err = &refused.stderr;
    assert!(err.contains("refusing the saved plan p.json"), "{err}");
    assert!(err.contains("a.db") && err.contains("b.db"), "names both states: {err}");
    assert!(setup.emu.ledger().orders.is_empty(), "nothing ordered");
    assert!(!work.file("b.db").exists(), "the other state is not created");

    let applied = run_at(work, "a.db", &["apply", "p.json"]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    assert_eq!(setup.emu.ledger().orders.len(), 1);
}

/// A manifest without endpoints of its own, so that `--endpoint` decides where orders go.
const BARE: &str = "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n\n[products.pai]\ncode = \"PAI_share\"\n";

#[test]
fn a_plan_made_against_one_endpoint_is_refused_against_another() {
    let a = Setup::new(&[pai()]);
    let b = Setup::new(&[pai()]);
    let url_a = a.emu.endpoints()[&hangzhou()].clone();
    let url_b = b.emu.endpoints()[&hangzhou()].clone();
    let work = Workdir::with_manifest(BARE);

    // Orders to place: the order's endpoint differs.
    let planned = work.run(&["--endpoint", &url_a, "plan", "--out", "p.json"]);
    assert_eq!(planned.code, Some(0), "{}", planned.describe());
    let refused = work.run(&["--endpoint", &url_b, "apply", "p.json"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(
        refused.stderr.contains(&url_a) && refused.stderr.contains(&url_b),
        "names both endpoints: {}",
        refused.stderr
    );
    assert!(a.emu.ledger().orders.is_empty() && b.emu.ledger().orders.is_empty());

    // Nothing to order, only something to record: the plan is still for A's cloud alone.
    let bought = a.elsewhere(&[pai()]);
    assert_eq!(bought.run(&["apply", "--auto-approve"]).code, Some(0));
    let planned = work.run(&["--endpoint", &url_a, "plan", "--out", "adopt.json"]);
    assert_eq!(planned.code, Some(0), "{}", planned.describe());
    assert!(planned.stdout.contains("adopt"), "{}", planned.stdout);
    let refused = work.run(&["--endpoint", &url_b, "apply", "adopt.json"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(
        refused.stderr.contains(&url_a) && refused.stderr.contains(&url_b),
        "names both endpoints: {}",
        refused.stderr
    );
    assert!(work.state_list().is_empty(), "nothing recorded");

    let applied = work.run(&["--endpoint", &url_a, "apply", "adopt.json"]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    assert_eq!(work.state_list().len(), 1);
    assert_eq!(a.emu.ledger().orders.len(), 1, "adopted, not ordered again");
}

#[test]
fn plan_out_replaces_plans_only() {
    let work = Workdir::with_manifest(BARE);
    assert_eq!(work.run(&["state", "import", "pai"]).code, Some(0));
    let state = work.state.display().to_string();
    let manifest = work.manifest.display().to_string();
    let notes = support::write(work.path(), "notes.txt", "keep me\n");
    for target in [state.as_str(), manifest.as_str(), notes.to_str().unwrap()] {
        let before = std::fs::read(target).unwrap();
        let refused = work.run(&["plan", "--refresh=false", "--out", target]);
        assert_eq!(refused.code, Some(1), "{target}: {}", refused.describe());
        assert!(
            refused.stderr.contains(target) && refused.stderr.contains("not a plan"),
            "{target}: {}",
            refused.stderr
        );
        assert_eq!(std::fs::read(target).unwrap(), before, "{target} left as it was");
        let temporary: Vec<_> = std::fs::read_dir(work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(temporary.is_empty(), "{target}: {temporary:?}");
    }
    assert_eq!(work.state_list().len(), 1, "the state still works");

    // A plan is replaced by a newer one.
    work.write_manifest(&format!("{BARE}\n[products.oss]\ncode = \"OSS_share\"\nproperties.commodity_type = \"oss\"\nproperties.ord_time = \"1:Hour\"\n"));
    let first = work.run(&["plan", "--refresh=false", "--out", "p.json"]);
    assert_eq!(first.code, Some(0), "{}", first.describe());
    let old = std::fs::read_to_string(work.file("p.json")).unwrap();
    work.write_manifest(BARE);
    let second = work.run(&["plan", "--refresh=false", "--out", "p.json"]);
    assert_eq!(second.code, Some(0), "{}", second.describe());
    assert_ne!(std::fs::read_to_string(work.file("p.json")).unwrap(), old);
}

/// Plans `[pai, oss]` over a state where `pai` is active, edits the saved plan with `edit`, and
/// applies it: refused, nothing ordered, the state as it was.
fn assert_edit_refused(what: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let setup = Setup::new(&[pai()]);
    assert_eq!(setup.apply(&[]).code, Some(0));
    setup.want(&[pai(), oss()]);
    let work = &setup.work;
    let planned = work.run(&["plan", "--out", "p.json"]);
    assert_eq!(planned.code, Some(0), "{}", planned.describe());
    let path = work.file("p.json");
    let mut plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut plan);
    std::fs::write(&path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let before = state_view(work);

    let refused = work.run(&["apply", "p.json"]);
    assert_eq!(refused.code, Some(1), "{what}: {}", refused.describe());
    assert!(
        refused.stderr.contains("p.json") && refused.stderr.contains("edited"),
        "{what}: {}",
        refused.stderr
    );
    assert_eq!(setup.emu.ledger().orders.len(), 1, "{what}: nothing ordered");
    assert_eq!(state_view(work), before, "{what}: the state as it was");
}

#[test]
fn an_edited_auto_pay_is_refused() {
    assert_edit_refused("AutoPay", |plan| {
        plan["orders"][0]["body"]["AutoPay"] = serde_json::json!(false);
    });
}

#[test]
fn an_edited_action_is_refused() {
    assert_edit_refused("action", |plan| {
        let changes = plan["changes"].as_array_mut().unwrap();
        let oss = changes.iter_mut().find(|c| c["address"] == "oss").unwrap();
        oss["action"] = serde_json::json!("adopt");
    });
}

#[test]
fn an_edited_address_is_refused() {
    assert_edit_refused("address", |plan| {
        let changes = plan["changes"].as_array_mut().unwrap();
        let oss = changes.iter_mut().find(|c| c["address"] == "oss").unwrap();
        oss["address"] = serde_json::json!("storage");
        plan["orders"][0]["addresses"] = serde_json::json!(["storage"]);
    });
}

#[test]
fn a_plan_made_for_one_account_is_refused_for_another() {
    let mut setup = Setup::new(&[pai()]);
    let token = support::write(setup.work.path(), "token", JWT);
    let sts = setup.emu.endpoints()[&hangzhou()].clone();
    setup.work.set_env("ALIBABA_CLOUD_STS_ENDPOINT", Some(&sts));
    let as_role = |work: &mut Workdir, role: &str| {
        work.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", None);
        work.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", None);
        work.set_env("ALIBABA_CLOUD_ROLE_ARN", Some(role));
        work.set_env(
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            Some("acs:ram::1234:oidc-provider/ci"),
        );
        work.set_env("ALIBABA_CLOUD_OIDC_TOKEN_FILE", Some(token.to_str().unwrap()));
    };
    as_role(&mut setup.work, "acs:ram::1234:role/deploy");
    // No refresh: the role is named by the configuration, nobody is asked.
    let planned = setup.work.run(&["plan", "--refresh=false", "--out", "p.json"]);
    assert_eq!(planned.code, Some(0), "{}", planned.describe());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(setup.work.file("p.json")).unwrap()).unwrap();
    assert_eq!(saved["target"]["account"], "1234", "the account, not the role");

    as_role(&mut setup.work, "acs:ram::5678:role/deploy");
    let refused = setup.work.run(&["apply", "p.json"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(
        refused.stderr.contains("account 1234") && refused.stderr.contains("account 5678"),
        "names both: {}",
        refused.stderr
    );
    assert!(setup.emu.ledger().orders.is_empty(), "nothing ordered");

    // An access key names no account: a plan made with the role is not for it either.
    setup.work.set_env("ALIBABA_CLOUD_ROLE_ARN", None);
    setup
        .work
        .set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", Some(support::ACCESS_KEY_ID));
    setup
        .work
        .set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", Some(support::ACCESS_KEY_SECRET));
    let refused = setup.work.run(&["apply", "p.json"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(refused.stderr.contains("account 1234"), "{}", refused.stderr);
    assert!(setup.emu.ledger().orders.is_empty(), "nothing ordered");

    // Another role of the same account (the plan job's read-only role, the apply job's ordering
    // role, docs/gitops.md): the same account, the plan applies.
    as_role(&mut setup.work, "acs:ram::1234:role/order");
    let applied = setup.work.run(&["apply", "p.json"]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    assert_eq!(setup.emu.ledger().orders.len(), 1);
}

/// A well-formed OIDC token that expires in 2100 (the emulator's STS does not check signatures):
/// `{"alg":"RS256"}`, `{"iss":"https://ci.example","sub":"leak-check","aud":"sts","exp":4102444800}`.
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.\
                   eyJpc3MiOiJodHRwczovL2NpLmV4YW1wbGUiLCJzdWIiOiJsZWFrLWNoZWNrIiwiYXVkIjoic3RzIiwiZXhwIjo0MTAy\
                   NDQ0ODAwfQ.\
                   LeakCheckJwtSignature-9z8y7x";
