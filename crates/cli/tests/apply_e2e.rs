//! `apply` and `refresh` end to end: the real binary against an in-process emulator, the state in
//! a real SQLite file. What a user relies on: a second run orders nothing, a saved plan is
//! carried out as reviewed and refused once stale, nothing happens without approval or with
//! conflicts, forgetting warns about billing, and `refresh` records what the cloud reports.

mod support;

use std::time::Duration;

use pai_spec::ProductCode;
use pai_state::{StateWriter, Status, Store};
use support::{hangzhou, shanghai, want, Setup, Want};

const ACTIONS: [&str; 6] = ["order", "adopt", "noop", "reorder", "forget", "conflict"];

fn pai() -> Want {
    want("pai", ProductCode::Pai, &hangzhou())
}

fn oss() -> Want {
    want("oss", ProductCode::Oss, &hangzhou())
}

fn pai_shanghai() -> Want {
    want("pai-shanghai", ProductCode::Pai, &shanghai())
}

fn serial(setup: &Setup) -> u64 {
    Store::open_read_only(&setup.work.state)
        .and_then(|s| s.snapshot())
        .expect("read the state")
        .serial
}

fn assert_exactly_once(setup: &Setup, wanted: &[Want]) {
    let problems = support::exactly_once_problems(&setup.emu.ledger(), wanted, &setup.work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Leaves `products` `pending`, as an apply killed between its intent and its answer does.
fn leave_pending(setup: &Setup, addresses: &[&str]) {
    let loaded = pai_spec::load(&setup.work.manifest).expect("the manifest loads");
    let products: Vec<_> = addresses
        .iter()
        .map(|a| {
            loaded
                .manifest
                .products
                .values()
                .find(|p| p.address.as_str() == *a)
                .expect("declared")
        })
        .collect();
    let mut writer = StateWriter::open(&setup.work.state, "apply", Duration::ZERO).expect("lock the state");
    let run = writer.begin_run("apply").expect("begin a run");
    writer.put_pending(run, &products).expect("write the intent");
    // No end_run: the process "died" here.
}

#[test]
fn a_second_apply_orders_nothing() {
    let wanted = [pai(), oss(), pai_shanghai()];
    let setup = Setup::new(&wanted);
    let first = setup.apply(&[]);
    assert_eq!(first.code, Some(0), "{}", first.describe());
    assert!(first.stdout.contains("Apply complete: 3 ordered"), "{}", first.stdout);
    assert_eq!(setup.emu.ledger().orders.len(), 2, "one order per region");
    let before = serial(&setup);

    let second = setup.apply(&[]);
    assert_eq!(second.code, Some(0), "{}", second.describe());
    assert!(second.stdout.contains("No changes"), "{}", second.stdout);
    assert!(second.stdout.contains("3 unchanged"), "{}", second.stdout);
    assert_eq!(setup.emu.ledger().orders.len(), 2, "nothing ordered again");
    assert_eq!(serial(&setup), before, "a run with nothing to do writes nothing");
    assert_exactly_once(&setup, &wanted);

    let plan = setup.work.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let setup = Setup::new(&[pai()]);
    let run = setup.work.run(&["apply"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("--auto-approve"), "{}", run.stderr);
    assert!(setup.emu.ledger().orders.is_empty(), "nothing ordered");
    assert!(!setup.work.state.exists(), "no state created");
}

#[test]
fn a_saved_plan_is_applied_as_reviewed_and_only_once() {
    let wanted = [pai(), oss()];
    let setup = Setup::new(&wanted);
    let plan_file = setup.work.path().join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8 path");
    let plan = setup.work.run(&["plan", "--out", plan_path]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());

    // A saved plan was approved when it was reviewed: no --auto-approve.
    let applied = setup.work.run(&["apply", plan_path]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    assert!(
        applied.stdout.contains("Apply complete: 2 ordered"),
        "{}",
        applied.stdout
    );
    assert_exactly_once(&setup, &wanted);

    // Applying changed the state's serial: the same plan is now stale.
    let again = setup.work.run(&["apply", plan_path]);
    assert_eq!(again.code, Some(1), "{}", again.describe());
    assert!(again.stderr.contains("refusing the saved plan"), "{}", again.stderr);
    assert_exactly_once(&setup, &wanted);
}

#[test]
fn a_saved_plan_is_refused_when_the_state_changed_since() {
    let setup = Setup::new(&[pai()]);
    assert_eq!(setup.apply(&[]).code, Some(0));
    setup.want(&[pai(), oss()]);
    let plan_file = setup.work.path().join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8 path");
    assert_eq!(setup.work.run(&["plan", "--out", plan_path]).code, Some(0));

    // Another apply gets there first.
    let direct = setup.apply(&[]);
    assert_eq!(direct.code, Some(0), "{}", direct.describe());
    let stale = setup.work.run(&["apply", plan_path]);
    assert_eq!(stale.code, Some(1), "{}", stale.describe());
    assert!(stale.stderr.contains("refusing the saved plan"), "{}", stale.stderr);
    assert!(stale.stderr.contains("serial"), "names what changed: {}", stale.stderr);
    assert_exactly_once(&setup, &[pai(), oss()]);

    // A plan made before the state existed belongs to no state at all.
    let fresh = Setup::new(&[pai()]);
    assert_eq!(fresh.work.run(&["plan", "--out", plan_path]).code, Some(0));
    assert_eq!(fresh.apply(&[]).code, Some(0));
    let foreign = fresh.work.run(&["apply", plan_path]);
    assert_eq!(foreign.code, Some(1), "{}", foreign.describe());
    assert!(foreign.stderr.contains("lineage"), "{}", foreign.stderr);
    assert_eq!(fresh.emu.ledger().orders.len(), 1);
}

#[test]
fn a_saved_plan_is_refused_when_the_manifest_changed_since() {
    let setup = Setup::new(&[pai()]);
    let plan_file = setup.work.path().join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8 path");
    assert_eq!(setup.work.run(&["plan", "--out", plan_path]).code, Some(0));

    let mut text = std::fs::read_to_string(&setup.work.manifest).expect("read the manifest");
    text.push_str("\n# reviewed again\n");
    setup.work.write_manifest(&text);
    let stale = setup.work.run(&["apply", plan_path]);
    assert_eq!(stale.code, Some(1), "{}", stale.describe());
    assert!(stale.stderr.contains("refusing the saved plan"), "{}", stale.stderr);
    assert!(
        stale.stderr.contains("manifest"),
        "names what changed: {}",
        stale.stderr
    );
    assert!(setup.emu.ledger().orders.is_empty(), "nothing ordered");
}

#[test]
fn a_saved_plan_records_instead_of_ordering_what_was_bought_since() {
    let setup = Setup::new(&[pai()]);
    let plan_file = setup.work.path().join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8 path");
    assert_eq!(setup.work.run(&["plan", "--out", plan_path]).code, Some(0));

    // Someone buys it elsewhere (the console, another state) between plan and apply.
    let other = setup.elsewhere(&[pai()]);
    assert_eq!(other.run(&["apply", "--auto-approve"]).code, Some(0));
    let applied = setup.work.run(&["apply", plan_path]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    // Planned again under the lock, the order is an adoption now: recorded, not bought.
    assert!(
        applied
            .stdout
            .contains("products.pai: order in the reviewed plan, adopt now")
            && applied.stdout.contains("products.pai: adopted (already purchased)"),
        "{}",
        applied.stdout
    );
    assert_eq!(
        setup.emu.ledger().order_count(&hangzhou(), ProductCode::Pai),
        1,
        "the saved plan did not buy it a second time"
    );
    let rows = setup.work.state_list();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "active");
}

/// OSS is account-wide (`ProductCode::is_account_wide`): moved to another region, under a new
/// address or its own, it is adopted there and forgotten here, never ordered again (issue 21).
/// The emulator reports it as the real service is assumed to: purchased in every region once
/// bought in one (docs/emulator.md, `oss_account_wide`).
#[test]
fn moving_oss_to_another_region_orders_it_once() {
    for new_address in ["oss-sh", "oss"] {
        let setup = Setup::with(&[oss()], |config| config.realism.oss_account_wide = true);
        assert_eq!(setup.apply(&[]).code, Some(0));
        // Both regions' endpoints: the recorded row's region is still asked about.
        let endpoints = setup.emu.endpoints();
        let moved = support::manifest(&endpoints, &[want(new_address, ProductCode::Oss, &shanghai())]).replace(
            "[provider.endpoints]\n",
            &format!("[provider.endpoints]\ncn-hangzhou = \"{}\"\n", endpoints[&hangzhou()]),
        );
        setup.work.write_manifest(&moved);
        let applied = setup.apply(&[]);
        assert_eq!(applied.code, Some(0), "{new_address}: {}", applied.describe());
        assert!(
            applied.stdout.contains("account-wide"),
            "{new_address}: the plan says why: {}",
            applied.stdout
        );
        let ledger = setup.emu.ledger();
        let oss_orders =
            ledger.order_count(&hangzhou(), ProductCode::Oss) + ledger.order_count(&shanghai(), ProductCode::Oss);
        assert_eq!(
            oss_orders, 1,
            "{new_address}: OSS was ordered again: {}",
            applied.stdout
        );
        let rows = setup.work.state_list();
        assert_eq!(rows.len(), 1, "{new_address}: {rows:?}");
        assert_eq!(rows[0].address, new_address);
        assert_eq!(rows[0].region, "cn-shanghai");
        assert_eq!(rows[0].status, "active");
        assert_eq!(setup.apply(&[]).code, Some(0), "{new_address}: a second apply");
        assert_eq!(
            setup.emu.ledger().orders.len(),
            ledger.orders.len(),
            "{new_address}: nothing after"
        );
    }
}

#[test]
fn a_conflict_blocks_the_whole_apply() {
    let setup = Setup::new(&[pai(), oss()]);
    assert_eq!(setup.apply(&[]).code, Some(0));
    let before = serial(&setup);

    // AutoRenew cannot change after purchase; a new product in the same run must wait too.
    setup.want(&[pai(), oss(), pai_shanghai()]);
    let text = std::fs::read_to_string(&setup.work.manifest).expect("read the manifest");
    let renewing = "[products.pai]\ncode = \"PAI_share\"\nauto_renew = true\n";
    setup
        .work
        .write_manifest(&text.replace("[products.pai]\ncode = \"PAI_share\"\n", renewing));

    let run = setup.apply(&[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stdout.contains("AutoRenew"),
        "the plan shows the field: {}",
        run.stdout
    );
    assert!(run.stderr.contains("conflicts; nothing was done"), "{}", run.stderr);
    assert_eq!(
        setup.emu.ledger().orders.len(),
        1,
        "nothing ordered, not even the new product"
    );
    assert_eq!(serial(&setup), before, "nothing written");

    let json = setup.apply(&["--format", "json"]).json();
    assert_eq!(json["success"], false);
    assert!(json["report"].is_null());
    let pai = change(&json, "pai");
    assert_eq!(pai["action"], "conflict");
    assert!(!pai["remedies"].as_array().expect("remedies").is_empty(), "{pai}");
}

#[test]
fn forgetting_warns_that_the_activation_stays_billed() {
    let setup = Setup::new(&[pai(), oss()]);
    assert_eq!(setup.apply(&[]).code, Some(0));
    setup.want(&[pai()]);

    let plan = setup.work.run(&["plan"]);
    assert!(plan.stdout.contains("oss"), "{}", plan.stdout);
    assert!(
        plan.stdout.to_lowercase().contains("billed"),
        "the plan warns: {}",
        plan.stdout
    );

    let run = setup.apply(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stdout
            .contains("products.oss: forgotten; it stays ACTIVE and BILLED"),
        "{}",
        run.stdout
    );
    let rows = setup.work.state_list();
    assert_eq!(rows.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(), ["pai"]);
    let ledger = setup.emu.ledger();
    assert_eq!(ledger.orders.len(), 1, "nothing ordered");
    assert!(
        ledger.is_purchased(&hangzhou(), ProductCode::Oss),
        "and of course nothing cancelled"
    );
}

#[test]
fn refresh_adopts_what_the_cloud_reports_purchased() {
    let setup = Setup::new(&[pai(), oss()]);
    let other = setup.elsewhere(&[oss()]);
    assert_eq!(other.run(&["apply", "--auto-approve"]).code, Some(0));

    let refresh = setup.work.run(&["refresh", "--format", "json"]);
    assert_eq!(refresh.code, Some(0), "{}", refresh.describe());
    let findings = refresh.json();
    let findings = findings.as_array().expect("an array of findings");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["address"], "oss");
    assert_eq!(findings[0]["kind"], "adopted");
    assert_eq!(findings[0]["product_code"], "OSS_share");
    let rows = setup.work.state_list();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].address.as_str(), rows[0].status.as_str()), ("oss", "active"));

    // Apply then orders only what is missing.
    let run = setup.apply(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(run.stdout.contains("Apply complete: 1 ordered"), "{}", run.stdout);
    assert_exactly_once(&setup, &[pai(), oss()]);
}

#[test]
fn refresh_records_drift_and_apply_reorders() {
    let mut setup = Setup::new(&[pai(), oss()]);
    assert_eq!(
        setup.apply(&["--timeout", "200ms", "--settle-time", "400ms"]).code,
        Some(0)
    );
    // The PAI activation is released in the console, after its order's settle deadline (stored
    // a whole second up): before it, "not purchased" is awaiting activation, not drift.
    setup
        .emu
        .edit_ledger(|ledger| ledger.purchased.retain(|p| p.product_code != ProductCode::Pai));
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let first_order = setup.emu.ledger().orders[0].order_id.clone();

    let refresh = setup.work.run(&["refresh"]);
    assert_eq!(refresh.code, Some(0), "{}", refresh.describe());
    assert!(
        refresh.stdout.contains("products.pai (PAI_share, cn-hangzhou): drift"),
        "{}",
        refresh.stdout
    );
    let history = setup.work.run(&["state", "history", "pai", "--format", "json"]).json();
    let events = history["events"].as_array().expect("events");
    let drift = events.iter().any(|e| e["kind"] == "state" && e["action"] == "drift");
    assert!(drift, "the drift is in the history, as a state event: {history}");
    let listing = setup.work.run(&["state", "history", "pai"]);
    assert!(
        listing
            .stdout
            .contains("products.pai drift: recorded active, the cloud reports it not purchased"),
        "{}",
        listing.stdout
    );
    assert!(
        events
            .iter()
            .filter(|e| e["kind"] == "api")
            .all(|e| e["request_id"].is_string() && e["code"] != "Drift"),
        "no API call is recorded that was not made: {history}"
    );

    let plan = setup.work.run(&["plan", "--format", "json"]).json();
    assert_eq!(change(&plan, "pai")["action"], "reorder");
    assert_eq!(change(&plan, "oss")["action"], "noop");
    let run = setup.apply(&[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let ledger = setup.emu.ledger();
    assert_eq!(
        ledger.order_count(&hangzhou(), ProductCode::Pai),
        2,
        "ordered again, once"
    );
    assert_eq!(ledger.order_count(&hangzhou(), ProductCode::Oss), 1);
    let rows = setup.work.state_list();
    let pai_row = rows.iter().find(|r| r.address == "pai").expect("pai");
    assert_eq!(pai_row.status, "active");
    assert_ne!(
        pai_row.order_id.as_deref(),
        Some(first_order.as_str()),
        "records the new order"
    );
}

#[test]
fn refresh_settles_interrupted_orders_both_ways() {
    let setup = Setup::new(&[pai(), oss()]);
    leave_pending(&setup, &["pai", "oss"]);
    // The interrupted PAI order went through (bought under another state to the same effect);
    // the OSS one never reached the server.
    let other = setup.elsewhere(&[pai()]);
    assert_eq!(other.run(&["apply", "--auto-approve"]).code, Some(0));

    // A short request timeout: the intent was written just now, and an order sent with it is
    // given that long (plus the timestamps' second) to land before the cloud is asked.
    let refresh = setup.work.run(&[
        "--timeout",
        "200ms",
        "--settle-time",
        "400ms",
        "refresh",
        "--format",
        "json",
    ]);
    assert_eq!(refresh.code, Some(0), "{}", refresh.describe());
    assert!(
        refresh.stderr.contains("left pending by an interrupted run"),
        "{}",
        refresh.stderr
    );
    let findings = refresh.json();
    let kind = |address: &str| {
        findings
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["address"] == address)
            .map(|f| f["kind"].clone())
    };
    assert_eq!(kind("pai"), Some("resolved".into()), "{findings}");
    assert_eq!(kind("oss"), Some("not_placed".into()), "{findings}");
    let snapshot = Store::open_read_only(&setup.work.state)
        .and_then(|s| s.snapshot())
        .expect("state");
    let status = |a: &str| {
        snapshot
            .resources
            .values()
            .find(|r| r.address.as_str() == a)
            .map(|r| r.status)
    };
    assert_eq!(status("pai"), Some(Status::Active));
    assert_eq!(status("oss"), Some(Status::Pending), "refresh orders nothing");
    assert_eq!(setup.emu.ledger().orders.len(), 1);

    let run = setup.apply(&["--timeout", "200ms", "--settle-time", "400ms"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_exactly_once(&setup, &[pai(), oss()]);
}

#[test]
fn apply_resolves_a_leftover_pending_order_before_ordering() {
    let setup = Setup::new(&[pai(), oss()]);
    leave_pending(&setup, &["pai", "oss"]);
    let other = setup.elsewhere(&[pai()]);
    assert_eq!(other.run(&["apply", "--auto-approve"]).code, Some(0));

    let plan = setup.work.run(&["plan", "--format", "json"]).json();
    assert_eq!(change(&plan, "pai")["action"], "adopt", "{plan}");
    assert_eq!(change(&plan, "oss")["action"], "order", "{plan}");
    let started = std::time::Instant::now();
    let run = setup.apply(&["--timeout", "200ms", "--settle-time", "400ms"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stderr
            .contains("products.oss, products.pai left pending by an interrupted run"),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "it waited for the grace"
    );
    assert_exactly_once(&setup, &[pai(), oss()]);
    let history = setup.work.run(&["state", "history", "pai", "--format", "json"]).json();
    let resolved = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .any(|e| e["action"] == "resolved");
    assert!(resolved, "the history says it was resolved by observation: {history}");
}

#[test]
fn apply_json_output_has_the_plan_the_report_and_the_verdict() {
    let wanted = [pai(), oss(), pai_shanghai()];
    let setup = Setup::new(&wanted);
    let run = setup.apply(&["--format", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let json = run.json();
    assert_eq!(json["success"], true);
    let changes = json["plan"]["changes"].as_array().expect("plan.changes");
    assert_eq!(changes.len(), 3);
    for c in changes {
        assert!(c["address"].is_string(), "{c}");
        assert!(ACTIONS.contains(&c["action"].as_str().unwrap_or("")), "{c}");
        assert_eq!(c["action"], "order");
        assert!(c["reason"].is_string(), "{c}");
        assert!(c["after"]["request"]["ProductCode"].is_string(), "{c}");
    }
    let regions = json["report"]["regions"].as_array().expect("report.regions");
    assert_eq!(regions.len(), 2);
    let ledger = setup.emu.ledger();
    for region in regions {
        for p in region["products"].as_array().expect("products") {
            assert_eq!(p["outcome"], "ordered", "{p}");
            let order_id = p["order_id"].as_str().expect("order_id");
            assert!(ledger.orders.iter().any(|o| o.order_id == order_id), "{p}");
            assert!(p["address"].is_string(), "{p}");
        }
    }
    assert!(!run.stdout.contains("Apply complete"), "JSON only on stdout");

    let again = setup.apply(&["--format", "json"]).json();
    assert_eq!(again["success"], true);
    assert!(again["report"].is_null(), "nothing was carried out: {again}");
    assert!(again["plan"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .all(|c| c["action"] == "noop"));
}

fn change<'a>(json: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    let changes = json
        .get("plan")
        .map_or(&json["changes"], |plan| &plan["changes"])
        .as_array()
        .expect("changes");
    changes
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no change for {address}: {json}"))
}

/// An apply killed just after it sent its order, while the order is still on its way (a slow
/// network path, a busy gateway): the server carries the order out after the process is gone.
/// The next apply must not take `ListProducts`' "not purchased", answered before that order
/// landed, as the last word on it.
#[test]
fn an_order_still_on_its_way_when_apply_was_killed_is_not_bought_twice() {
    let wanted = [pai(), oss()];
    let setup = Setup::new(&wanted);
    // Long enough that the kill below lands while the order is held, even on a loaded machine;
    // shorter than the settle time (3 s), as the protocol assumes of the service.
    let hold = Duration::from_millis(1000);
    let wire = support::Wire::default();
    let endpoints = support::gateway(setup.handle(), &setup.emu.endpoints(), &wire, Some(hold), None);
    setup.work.write_manifest(&support::manifest(&endpoints, &wanted));
    let args = ["--timeout", "1500ms", "--settle-time", "3s", "apply", "--auto-approve"];

    let mut first = setup.work.command(&args).spawn().expect("start apply");
    let held = wire.wait_for_held_order(|| !matches!(first.try_wait(), Ok(None)));
    assert!(held, "the first apply ended before its order reached the gateway");
    // The intent is durable before the request leaves, so the order held is a pending one.
    let pending = Store::open_read_only(&setup.work.state)
        .and_then(|s| s.snapshot())
        .is_ok_and(|s| s.resources.values().any(|r| r.status == Status::Pending));
    assert!(pending, "an order was sent without its intent in the state");
    first.kill().expect("kill the first apply");
    first.wait().expect("reap it");
    assert!(setup.emu.ledger().orders.is_empty(), "the order is still on its way");

    let second = setup.work.run(&args);
    assert_eq!(second.code, Some(0), "{}", second.describe());
    assert_eq!(wire.held_orders(), 1, "the second apply sent no order");
    assert_exactly_once(&setup, &wanted);
}

/// A live apply whose order times out while the order is still on its way: the gateway holds
/// it past the client's timeout, then carries it out. `ListProducts` asked right after the
/// timeout says "not purchased"; apply must wait out the settle time (600 ms here) and
/// ask again before it orders anything a second time.
#[test]
fn an_order_that_lands_after_its_timeout_is_not_bought_twice() {
    let wanted = [pai(), oss()];
    let setup = Setup::new(&wanted);
    // Past the 300 ms timeout, well inside the 600 ms settle time.
    let hold = Duration::from_millis(400);
    let wire = support::Wire::default();
    let endpoints = support::gateway(setup.handle(), &setup.emu.endpoints(), &wire, Some(hold), None);
    setup.work.write_manifest(&support::manifest(&endpoints, &wanted));

    let run = setup.work.run(&[
        "--timeout",
        "300ms",
        "--settle-time",
        "600ms",
        "apply",
        "--auto-approve",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stderr.contains("does not report the order yet; waiting"),
        "{}",
        run.describe()
    );
    // The apply confirmed its order before it ended; a second one would have been counted at
    // the gateway as it arrived, landed or not.
    assert_eq!(wire.held_orders(), 1, "one order reached the gateway");
    assert_exactly_once(&setup, &wanted);
    let history = setup.work.run(&["state", "history", "--format", "json"]);
    assert!(
        history
            .stdout
            .contains("pending: request sent (order 1 of this run, try 1 of it)"),
        "each send is in the history: {}",
        history.describe()
    );
}

/// The settle time counts until the question is asked, not until its answer arrives: a
/// "not purchased" given before the order landed, but delivered late (a slow return path),
/// must not be taken as the last word because it arrived after the settle time.
#[test]
fn a_late_answer_given_before_the_order_landed_is_not_the_last_word() {
    let wanted = [pai(), oss()];
    let setup = Setup::new(&wanted);
    // The order times out at 1 s and lands at 1.2 s, inside the 1.5 s settle time. The
    // ListProducts asked at 1 s answers "not purchased" at once, but the answer is held 0.7 s
    // (under the timeout) and arrives at 1.7 s, past the settle time.
    let hold_order = Duration::from_millis(1200);
    let hold_answers = Duration::from_millis(700);
    let wire = support::Wire::default();
    let endpoints = support::gateway(
        setup.handle(),
        &setup.emu.endpoints(),
        &wire,
        Some(hold_order),
        Some(hold_answers),
    );
    setup.work.write_manifest(&support::manifest(&endpoints, &wanted));

    let run = setup
        .work
        .run(&["--timeout", "1s", "--settle-time", "1500ms", "apply", "--auto-approve"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    // The apply confirmed its order before it ended; a second one would have been counted at
    // the gateway as it arrived, landed or not.
    assert_eq!(wire.held_orders(), 1, "one order reached the gateway");
    assert_exactly_once(&setup, &wanted);
}

/// Against an emulator as unkind as `--realistic`: PAI was bought in the console moments ago,
/// so the plan's refresh does not see it yet (the activation delay) and orders PAI and OSS. The
/// service refuses that order as already open; apply records PAI once ListProducts reports it,
/// orders OSS once, and succeeds.
#[test]
fn apply_records_what_was_already_open_and_orders_the_rest_once() {
    let wanted = [pai(), oss()];
    let setup = Setup::with(&wanted, |config| config.realism = pai_emulator::Realism::realistic());
    let console = setup.elsewhere(&[pai()]);
    let bought = console.run(&["apply", "--auto-approve"]);
    assert_eq!(bought.code, Some(0), "{}", bought.describe());

    // The settle time outlasts the activation delay (5 s), so the executor's second question
    // sees the purchase; the timeout outlasts the processing time (2 s).
    let run = setup
        .work
        .run(&["--timeout", "3s", "--settle-time", "6s", "apply", "--auto-approve"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_exactly_once(&setup, &wanted);
    let ledger = setup.emu.ledger();
    let ours: Vec<_> = ledger.orders.iter().skip(1).collect();
    assert_eq!(ours.len(), 1, "one order of ours: {:?}", ledger.orders);
    assert_eq!(ours[0].product_codes, [ProductCode::Oss], "holding only OSS");
    // A machine slow enough for the refresh to see the purchase plans an adoption instead: the
    // outcome is the same, and there is no refusal to tell of.
    assert!(ledger.refusals.len() <= 1, "{:?}", ledger.refusals);
    if let Some(refusal) = ledger.refusals.first() {
        assert_eq!(refusal.code, "ORDER.OPEND");
        assert!(run.stdout.contains("already open"), "{}", run.stdout);
    }
    let rows = setup.work.state_list();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.status == "active"), "{rows:?}");
}
