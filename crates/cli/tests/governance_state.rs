//! The change freeze, the provenance of every run and `apply --expect-digest`, through the real
//! binary against the real emulator: what is refused is refused before any call to the cloud
//! (the emulator's ledger stays empty, the history holds nothing of the refused run).

mod support;

use pai_spec::ProductCode;
use pai_state::Store;
use serde_json::Value;
use support::fleet::{members, FleetSetup};
use support::{hangzhou, two_regions, want, Setup, Want};

const TOKEN: &str = "ghp_TokenThatMustNeverBeRecorded0123456789";

fn pai() -> Want {
    want("pai", ProductCode::Pai, &hangzhou())
}

/// The standard variables of a GitHub Actions pull-request run, and a token beside them.
fn in_github_actions(setup: &mut Setup) {
    for (name, value) in [
        ("USER", "runner"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/infra"),
        ("GITHUB_SHA", "0123abcd"),
        ("GITHUB_ACTOR", "alice"),
        ("GITHUB_REF", "refs/pull/42/merge"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "987"),
        ("GITHUB_TOKEN", TOKEN),
        ("PAI_GITHUB_API_TOKEN", TOKEN),
    ] {
        setup.work.set_env(name, Some(value));
    }
}

fn runs(setup: &Setup) -> usize {
    Store::open_read_only(&setup.work.state)
        .and_then(|s| s.history(None))
        .map(|h| h.runs.len())
        .unwrap_or(0)
}

#[test]
fn a_frozen_state_refuses_apply_before_any_call_and_plan_still_works() {
    let mut setup = Setup::new(&[pai()]);
    in_github_actions(&mut setup);
    let froze = setup.work.run(&["state", "freeze", "--reason", "quarter-end close"]);
    assert_eq!(froze.code, Some(0), "{}", froze.describe());
    assert!(froze.stdout.contains("Froze the state"), "{}", froze.stdout);
    assert!(setup.work.state.exists(), "a freeze on a missing state creates it");
    let frozen_runs = runs(&setup);

    let refused = setup.apply(&[]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    for part in [
        "is frozen",
        "runner@",
        "CI actor alice",
        "quarter-end close",
        "state unfreeze",
    ] {
        assert!(refused.stderr.contains(part), "{part}: {}", refused.describe());
    }
    assert!(setup.emu.ledger().orders.is_empty(), "nothing was ordered");
    assert_eq!(runs(&setup), frozen_runs, "the refused apply recorded no run");

    // A saved plan is refused the same way; plan works and says the state is frozen.
    let plan_file = setup.work.file("plan.json");
    let plan_path = plan_file.to_str().unwrap();
    let plan = setup.work.run(&["plan", "--out", plan_path]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    assert!(
        plan.stdout.contains("Frozen: the state is frozen by runner@"),
        "{}",
        plan.stdout
    );
    let json = setup.work.json(&["plan", "--format", "json"]);
    assert_eq!(json["frozen"]["reason"], "quarter-end close");
    assert_eq!(json["frozen"]["actor"], "alice");
    let markdown = setup.work.ok(&["plan", "--format", "markdown"]);
    assert!(
        markdown.contains("> [!CAUTION]\n> The state is frozen by runner@"),
        "{markdown}"
    );
    let saved = setup.work.run(&["apply", plan_path]);
    assert_eq!(saved.code, Some(1), "{}", saved.describe());
    assert!(saved.stderr.contains("quarter-end close"), "{}", saved.stderr);
    assert!(setup.emu.ledger().orders.is_empty());

    // The state commands show it; refresh buys nothing and may run.
    let list = setup.work.ok(&["state", "list"]);
    assert!(
        list.contains("Frozen by runner@") && list.contains("quarter-end close"),
        "{list}"
    );
    let shown = setup.work.ok(&["show"]);
    assert!(shown.contains("  frozen by runner@"), "{shown}");
    assert_eq!(
        setup.work.json(&["show", "--format", "json"])["frozen"]["reason"],
        "quarter-end close"
    );
    let refresh = setup.work.run(&["refresh"]);
    assert_eq!(refresh.code, Some(0), "{}", refresh.describe());

    let lifted = setup.work.ok(&["state", "unfreeze"]);
    assert!(lifted.contains("Lifted the freeze by runner@"), "{lifted}");
    let applied = setup.work.run(&["apply", plan_path]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    assert_eq!(setup.emu.ledger().orders.len(), 1);
    let again = setup.work.ok(&["state", "unfreeze"]);
    assert!(again.contains("is not frozen"), "{again}");
}

#[test]
fn a_freeze_needs_a_reason() {
    let setup = Setup::new(&[pai()]);
    let err = setup.work.fails(&["state", "freeze", "--reason", "  "]);
    assert!(err.contains("--reason"), "{err}");
    assert!(!setup.work.state.exists(), "a refused freeze creates nothing");
}

#[test]
fn every_run_records_its_provenance_and_the_history_exports_it_as_jsonl() {
    let mut setup = Setup::new(&[pai()]);
    in_github_actions(&mut setup);
    let plan_file = setup.work.file("plan.json");
    let plan_path = plan_file.to_str().unwrap();
    setup.work.ok(&["plan", "--out", plan_path]);
    let digest = serde_json::from_str::<Value>(&std::fs::read_to_string(&plan_file).unwrap()).unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let applied = setup.work.run(&["apply", plan_path]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());

    let text = setup.work.ok(&["state", "history"]);
    for part in [
        "by runner@",
        "(CI actor alice)",
        "ci github-actions",
        "repository acme/infra",
        "pull request 42",
        "commit 0123abcd",
        "run https://github.com/acme/infra/actions/runs/987",
        &format!("plan {digest}"),
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let lines = setup.work.ok(&[
        "state",
        "history",
        "--format",
        "jsonl",
        "--since",
        "2000-01-01T00:00:00Z",
    ]);
    let events: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(events.len() >= 3, "{lines}");
    for e in &events {
        assert_eq!(e["schema"], "pai-provision.history-event/1", "{e}");
        assert_eq!(e["lineage"], events[0]["lineage"]);
        assert!(e["at"].is_string() && e["action"].is_string(), "{e}");
        let p = &e["run"]["provenance"];
        assert_eq!(p["pull_request"], "42", "{e}");
        assert_eq!(p["plan_digest"], digest.as_str(), "{e}");
        assert_eq!(p["actor"], "alice", "{e}");
    }
    let later = setup.work.ok(&[
        "state",
        "history",
        "--format",
        "jsonl",
        "--since",
        "2999-01-01T00:00:00Z",
    ]);
    assert_eq!(later, "");
    let bad = setup
        .work
        .fails(&["state", "history", "--format", "jsonl", "--since", "yesterday"]);
    assert!(bad.contains("--since") && bad.contains("yesterday"), "{bad}");

    // The token in the environment is nowhere: not in any output, not in the state's bytes.
    let json = setup.work.ok(&["state", "history", "--format", "json"]);
    for out in [&text, &lines, &json, &applied.stdout, &applied.stderr] {
        assert!(!out.contains(TOKEN));
    }
    let bytes = std::fs::read(&setup.work.state).unwrap();
    let wal = std::fs::read(setup.work.state.with_extension("db-wal")).unwrap_or_default();
    let needle = TOKEN.as_bytes();
    for b in [&bytes, &wal] {
        assert!(
            !b.windows(needle.len()).any(|w| w == needle),
            "the token is in the state"
        );
    }
}

#[test]
fn expect_digest_refuses_another_plan_before_anything() {
    let setup = Setup::new(&[pai()]);
    let plan_file = setup.work.file("plan.json");
    let plan_path = plan_file.to_str().unwrap();
    let planned = setup.work.ok(&["plan", "--out", plan_path]);
    let digest = serde_json::from_str::<Value>(&std::fs::read_to_string(&plan_file).unwrap()).unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(planned.contains(&format!("Plan digest: {digest}")), "{planned}");
    let shown = setup.work.ok(&["show", plan_path]);
    assert!(shown.contains(&format!("Plan digest: {digest}")), "{shown}");
    let comment = setup.work.ok(&["show", plan_path, "--format", "markdown"]);
    assert!(comment.contains(&format!("Plan digest: `{digest}`")), "{comment}");

    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let refused = setup.work.run(&["apply", plan_path, "--expect-digest", other]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(
        refused.stderr.contains(other) && refused.stderr.contains(&digest),
        "{}",
        refused.describe()
    );
    assert!(setup.emu.ledger().orders.is_empty());
    assert!(!setup.work.state.exists(), "nothing was written: not even the state");

    let manifest = setup
        .work
        .fails(&["apply", "--auto-approve", "--expect-digest", &digest]);
    assert!(
        manifest.contains("--expect-digest") && manifest.contains("saved plan"),
        "{manifest}"
    );
    assert!(setup.emu.ledger().orders.is_empty());

    let applied = setup.work.run(&["apply", plan_path, "--expect-digest", &digest]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    assert_eq!(setup.emu.ledger().orders.len(), 1);
}

#[test]
fn a_frozen_account_fails_alone_in_a_fleet_apply() {
    let setup = FleetSetup::new(members(3), vec![]);
    let frozen = setup.member("acct-2").id.clone();
    let plan_file = setup.work.file("fleet-plan.json");
    let plan_path = plan_file.to_str().unwrap();
    let planned = setup.expect(
        2,
        &["fleet", "plan", "--detailed-exitcode", "--out", plan_path, "fleet.toml"],
    );
    let digest = serde_json::from_str::<Value>(&std::fs::read_to_string(&plan_file).unwrap()).unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        planned.stdout.contains(&format!("Fleet plan digest: {digest}")),
        "{}",
        planned.describe()
    );
    let again = setup.work.file("fleet-plan-2.json");
    let comment = setup.expect(
        0,
        &[
            "fleet",
            "plan",
            "--format",
            "markdown",
            "--out",
            again.to_str().unwrap(),
            "fleet.toml",
        ],
    );
    assert!(
        comment.stdout.contains("Fleet plan digest: `sha256:"),
        "{}",
        comment.describe()
    );

    std::fs::create_dir_all(&setup.state).unwrap();
    let mut writer =
        pai_state::StateWriter::open(setup.location(&frozen), "state freeze", std::time::Duration::ZERO).unwrap();
    writer.freeze("migration of acct-2").unwrap();
    drop(writer);

    let wrong = setup.expect(1, &["fleet", "apply", plan_path, "--expect-digest", "sha256:00"]);
    assert!(wrong.stderr.contains(&digest), "{}", wrong.describe());
    assert_eq!(setup.emu.ledger().orders.len(), 0);

    let run = setup.expect(
        1,
        &[
            "fleet",
            "apply",
            plan_path,
            "--expect-digest",
            &digest,
            "--format",
            "json",
        ],
    );
    let doc = run.json();
    let entry = doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "acct-2")
        .unwrap();
    assert_eq!(entry["outcome"], "failed", "{doc:#}");
    let reason = entry["reason"].as_str().unwrap();
    assert!(
        reason.contains("frozen by") && reason.contains("migration of acct-2"),
        "{reason}"
    );
    assert!(
        setup.ledger_of(&frozen).orders.is_empty(),
        "the frozen account ordered nothing"
    );
    for other in ["acct-1", "acct-3"] {
        let id = &setup.member(other).id;
        assert_eq!(setup.rows(id).len(), two_regions().len(), "{other} was applied");
        let history = Store::open_read_only(setup.location(id))
            .unwrap()
            .history(None)
            .unwrap();
        let p = history.runs.last().unwrap().provenance.clone().unwrap();
        assert_eq!(p.fleet_plan_digest.as_deref(), Some(digest.as_str()), "{other}");
        assert!(p.plan_digest.is_some(), "{other}: the account plan's digest");
    }
    let status = setup.expect(0, &["fleet", "status", "fleet.toml"]);
    assert!(status.stdout.contains("frozen"), "{}", status.describe());
}

/// Each account of `fleet apply FLEETPLAN --policy DIR` records the verdict the apply re-checked
/// for that account with its run's provenance, warnings included.
#[test]
fn each_account_of_a_fleet_apply_records_its_policy_verdict() {
    let setup = FleetSetup::new(members(2), vec![]);
    let policies = setup.work.file("policies");
    std::fs::create_dir_all(&policies).unwrap();
    support::write(
        &policies,
        "budget.rego",
        "package main\n\nimport rego.v1\n\nwarn contains msg if {\n\tsome change in input.plan.changes\n\tchange.action == \"order\"\n\tmsg := sprintf(\"%s orders %s\", [input.context.account.name, change.address])\n}\n",
    );
    let dir = policies.to_str().unwrap();
    let plan_file = setup.work.file("fleet-plan.json");
    let plan_path = plan_file.to_str().unwrap();
    setup.expect(
        2,
        &[
            "fleet",
            "plan",
            "--detailed-exitcode",
            "--policy",
            dir,
            "--out",
            plan_path,
            "fleet.toml",
        ],
    );
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    let digest = plan["accounts"][0]["outcome"]["plan"]["policy"]["policies_digest"]
        .as_str()
        .unwrap()
        .to_owned();
    setup.expect(0, &["fleet", "apply", plan_path, "--policy", dir]);
    for name in ["acct-1", "acct-2"] {
        let id = &setup.member(name).id;
        let history = Store::open_read_only(setup.location(id))
            .unwrap()
            .history(None)
            .unwrap();
        let p = history.runs.last().unwrap().provenance.clone().unwrap();
        let record = p.policy.unwrap_or_else(|| panic!("{name}: no verdict recorded"));
        assert_eq!(record.digest, digest, "{name}");
        assert_eq!(record.denied, 0, "{name}");
        assert_eq!(
            record.warned,
            two_regions().len(),
            "{name}: one warning per product ordered"
        );
        assert!(
            record
                .warnings
                .iter()
                .all(|w| w.starts_with(&format!("budget.rego: {name} orders "))),
            "{name}: {:?}",
            record.warnings
        );
    }
}

/// Points the work directory's `--state` at a new schema of `PAI_TEST_POSTGRES_URL`'s server.
fn on_postgres(setup: &mut Setup) -> String {
    let server = std::env::var("PAI_TEST_POSTGRES_URL").unwrap_or_default();
    assert!(
        !server.is_empty(),
        "PAI_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server. Start a throwaway one with \
         `eval \"$(scripts/postgres.sh)\"` (scripts/test.sh does this for the whole suite)"
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let url = format!("{server}?schema=gov_{}_{nanos}", std::process::id());
    setup.work.state = std::path::PathBuf::from(&url);
    url
}

#[test]
fn the_freeze_and_the_provenance_work_on_postgres() {
    let mut setup = Setup::new(&[pai()]);
    in_github_actions(&mut setup);
    let url = on_postgres(&mut setup);
    let location = pai_state::StateLocation::parse(&url, &|_: &str| None).unwrap();
    setup.work.ok(&["state", "freeze", "--reason", "db maintenance"]);
    let refused = setup.apply(&[]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(refused.stderr.contains("db maintenance"), "{}", refused.describe());
    assert!(setup.emu.ledger().orders.is_empty());
    let plan = setup.work.json(&["plan", "--format", "json"]);
    assert_eq!(plan["frozen"]["reason"], "db maintenance");

    setup.work.ok(&["state", "unfreeze"]);
    let applied = setup.apply(&[]);
    assert_eq!(applied.code, Some(0), "{}", applied.describe());
    let history = Store::open_read_only(location).unwrap().history(None).unwrap();
    let commands: Vec<&str> = history.runs.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(commands, ["state freeze", "state unfreeze", "apply"]);
    for run in &history.runs {
        let p = run.provenance.as_ref().expect("every run has its provenance");
        assert_eq!(p.pull_request.as_deref(), Some("42"));
        assert!(!serde_json::to_string(p).unwrap().contains(TOKEN));
    }
    let lines = setup.work.ok(&["state", "history", "--format", "jsonl"]);
    assert_eq!(lines.lines().count(), history.events.len());
    assert!(!lines.contains(TOKEN));
}
