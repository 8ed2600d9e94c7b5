//! A saved plan against an insider (issue 20): someone who can replace the plan file a pipeline
//! applies, edit it and seal it again with a fresh digest, or hand it to an apply whose manifest
//! is another. `apply PLANFILE` plans again under the lock and carries out only what lies within
//! the reviewed plan (`pai_planner::plan::bound`); `--manifest` and `--fleet` pin the files. The
//! real binary, real SQLite states and a real emulator throughout.

mod support;

use pai_planner::{Action, Plan};
use pai_spec::ProductCode;
use support::fleet::{members, FleetSetup};
use support::{hangzhou, want, Setup, Want};

const FLEET: &str = "fleet.toml";

fn pai() -> Want {
    want("pai", ProductCode::Pai, &hangzhou())
}

fn oss() -> Want {
    want("oss", ProductCode::Oss, &hangzhou())
}

/// The saved plan at `path` with `edit` applied to it, sealed again with a fresh digest, as an
/// insider with the library (or `sha256sum`) would.
fn reseal(path: &std::path::Path, edit: impl FnOnce(&mut Plan)) {
    let mut plan = Plan::load(path).expect("a saved plan");
    edit(&mut plan);
    std::fs::remove_file(path).expect("remove the reviewed plan");
    plan.save(path).expect("save the edited plan");
    Plan::load(path).expect("the edited plan loads: its digest is fresh");
}

fn set_action(plan: &mut Plan, address: &str, action: Action) {
    let change = plan
        .changes
        .iter_mut()
        .find(|c| c.address.as_str() == address)
        .expect("the address is in the plan");
    change.action = action;
    if action == Action::Forget {
        change.after = None;
    }
}

fn state_list(setup: &Setup) -> String {
    setup.work.ok(&["state", "list", "--format", "json"])
}

#[test]
fn a_resealed_plan_that_forgets_what_is_kept_is_refused_naming_the_change() {
    let setup = Setup::new(&[pai(), oss()]);
    let work = &setup.work;
    assert_eq!(setup.apply(&[]).code, Some(0));
    work.ok(&["plan", "--out", "p.json"]);
    reseal(&work.file("p.json"), |plan| set_action(plan, "pai", Action::Forget));
    let before = state_list(&setup);

    let refused = work.run(&["apply", "p.json"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    let err = &refused.stderr;
    assert!(err.contains("refusing the saved plan p.json"), "{err}");
    assert!(
        err.contains("products.pai: the reviewed plan would forget it, and a plan made now would keep (noop) it"),
        "names the change: {err}"
    );
    assert_eq!(state_list(&setup), before, "the record is not dropped");
    assert_eq!(
        setup.emu.ledger().orders.len(),
        1,
        "nothing ordered after the first apply"
    );
}

#[test]
fn a_resealed_plan_that_orders_what_is_bought_buys_nothing() {
    let setup = Setup::new(&[pai(), oss()]);
    let work = &setup.work;
    assert_eq!(setup.apply(&[]).code, Some(0));
    work.ok(&["plan", "--out", "p.json"]);
    // An order for what the state and the cloud hold: a plan made now keeps it, and an order
    // the reviewed plan allows may always have become a noop.
    reseal(&work.file("p.json"), |plan| set_action(plan, "pai", Action::Order));

    let applied = work.run(&["apply", "p.json"]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    assert!(
        applied
            .stdout
            .contains("products.pai: order in the reviewed plan, noop now"),
        "says what it leaves out: {}",
        applied.stdout
    );
    assert_eq!(setup.emu.ledger().orders.len(), 1, "no second order");
}

#[test]
fn a_plan_from_another_manifest_than_the_pinned_one_is_refused_naming_both() {
    let setup = Setup::new(&[pai()]);
    let work = &setup.work;
    std::fs::copy(work.file("pai-provision.toml"), work.file("other.toml")).expect("copy the manifest");
    work.ok(&["plan", "--out", "p.json", "other.toml"]);

    let refused = work.run(&["apply", "p.json", "--manifest", "pai-provision.toml"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    let err = &refused.stderr;
    assert!(err.contains("refusing the saved plan p.json"), "{err}");
    assert!(
        err.contains("`other.toml`") && err.contains("`pai-provision.toml`"),
        "names both: {err}"
    );
    assert!(setup.emu.ledger().orders.is_empty(), "nothing ordered");
    assert!(!work.file("state/pai-provision.db").exists() || state_list(&setup).contains("[]"));

    let usage = work.run(&["apply", "pai-provision.toml", "--manifest", "pai-provision.toml"]);
    assert_eq!(usage.code, Some(1), "{}", usage.describe());
    assert!(
        usage.stderr.contains("--manifest pins the manifest of a saved plan"),
        "{}",
        usage.stderr
    );

    let applied = work.run(&["apply", "p.json", "--manifest", "./other.toml"]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    assert_eq!(setup.emu.ledger().orders.len(), 1);
}

#[test]
fn a_fleet_plan_from_another_fleet_file_than_the_pinned_one_is_refused_naming_both() {
    let setup = FleetSetup::new(members(1), vec![]);
    let dir = setup.work.path();
    std::fs::copy(dir.join(FLEET), dir.join("copy.toml")).expect("copy the fleet file");
    setup.expect(0, &["fleet", "plan", "--out", "p.json", "copy.toml"]);
    let assumed_by_plan = setup.sts_requests();
    let refused = setup.expect(1, &["fleet", "apply", "p.json", "--fleet", FLEET]);
    assert!(
        refused.stderr.contains("`copy.toml`") && refused.stderr.contains(&format!("`{FLEET}`")),
        "names both: {}",
        refused.describe()
    );
    assert_eq!(
        setup.sts_requests(),
        assumed_by_plan,
        "no role assumed for a refused plan"
    );
    setup.expect(0, &["fleet", "apply", "p.json", "--fleet", "copy.toml"]);
}
