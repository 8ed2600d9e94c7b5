//! `--policy DIR` end to end through the binary in the sandbox: `plan` (every format, the saved
//! plan, the input document for conftest), `apply PLANFILE` re-checking the policies, and
//! `fleet plan` / `fleet apply` on `examples/fleet/fleet.toml` with each account's own context.
//! The policies are the real starter policies of `examples/policies/` and small real ones.

mod support;

// Issue 20: what an insider could put in a policy directory.
#[path = "policy/insider.rs"]
mod insider;

use std::path::Path;

use serde_json::Value;
use support::{write, Workdir};

/// A work directory with no credentials holding a copy of the examples the tests use:
/// the manifests, the fleet file and the starter policies.
fn workdir() -> Workdir {
    let mut work = Workdir::new();
    work.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", None);
    work.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", None);
    let examples = support::examples();
    for dir in ["examples/fleet", "examples/policies"] {
        std::fs::create_dir_all(work.file(dir)).expect("mkdir");
    }
    for name in ["quickstart.toml", "multi-region.toml", "fleet/fleet.toml"] {
        std::fs::copy(examples.join(name), work.file(&format!("examples/{name}"))).expect("copy an example");
    }
    for entry in std::fs::read_dir(examples.join("policies")).expect("examples/policies") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("a name").to_string_lossy().into_owned();
        std::fs::copy(&path, work.file(&format!("examples/policies/{name}"))).expect("copy a policy");
    }
    work
}

fn sandbox(work: &Workdir, args: &[&str]) -> support::Run {
    let mut all = vec!["--sandbox", "--no-color"];
    all.extend_from_slice(args);
    work.run_plain(&all)
}

fn orders_in_ledger(dir: &Path) -> usize {
    match std::fs::read(dir.join("state/pai-provision.sandbox-ledger.json")) {
        Ok(bytes) => {
            let ledger: Value = serde_json::from_slice(&bytes).expect("ledger JSON");
            ledger["orders"].as_array().map_or(0, Vec::len)
        }
        Err(_) => 0,
    }
}

fn messages(verdict: &Value, kind: &str) -> Vec<String> {
    verdict[kind]
        .as_array()
        .unwrap_or_else(|| panic!("no {kind} in {verdict:#}"))
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f["file"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

const QUICKSTART: &str = "examples/quickstart.toml";
const POLICIES: &str = "examples/policies";

#[test]
fn plan_warns_saves_and_apply_rechecks_the_same_policies() {
    let work = workdir();
    let plan = sandbox(
        &work,
        &[
            "plan",
            QUICKSTART,
            "--policy",
            POLICIES,
            "--out",
            "plan.json",
            "--policy-input",
            "input.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    let doc = plan.json();
    let verdict = &doc["policy"];
    assert!(
        verdict["policies_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{verdict:#}"
    );
    assert_eq!(messages(verdict, "deny"), Vec::<String>::new());
    assert_eq!(
        messages(verdict, "warn"),
        [
            "max_orders.rego: 4 products ordered in one run (at most 5)",
            "review.rego: this plan orders products and was not made for a pull request: make sure it is the reviewed one"
        ]
    );
    // The saved plan is the printed one, verdict and digest included.
    let saved: Value = serde_json::from_slice(&std::fs::read(work.file("plan.json")).expect("saved")).expect("JSON");
    assert_eq!(saved, doc);
    // The input document for conftest: versioned, the plan without a verdict, no CI, no account.
    let input: Value = serde_json::from_slice(&std::fs::read(work.file("input.json")).expect("input")).expect("JSON");
    assert_eq!(input["input_version"], 1);
    assert_eq!(input["context"], serde_json::json!({"account": null, "ci": null}));
    assert_eq!(input["plan"]["summary"], doc["summary"]);
    assert!(input["plan"].get("policy").is_none(), "{input:#}");

    let human = sandbox(&work, &["plan", QUICKSTART, "--policy", POLICIES]);
    assert!(
        human.stdout.contains("Policy: 0 denials, 2 warnings (sha256:"),
        "{}",
        human.describe()
    );
    assert!(human
        .stdout
        .contains("warn: 4 products ordered in one run (at most 5)  [max_orders.rego: warn]"));
    let markdown = sandbox(
        &work,
        &["plan", QUICKSTART, "--policy", POLICIES, "--format", "markdown"],
    );
    assert!(markdown.stdout.contains("#### Policy"), "{}", markdown.describe());
    assert!(markdown
        .stdout
        .contains("| warn | 4 products ordered in one run (at most 5) | <code>max_orders.rego</code> (warn) |"));

    let apply = sandbox(&work, &["apply", "plan.json", "--policy", POLICIES]);
    assert_eq!(apply.code, Some(0), "{}", apply.describe());
    assert_eq!(orders_in_ledger(work.path()), 1, "one order call for the region");
}

#[test]
fn a_denial_exits_1_saves_nothing_and_apply_orders_nothing() {
    let work = workdir();
    let manifest = std::fs::read_to_string(work.file(QUICKSTART)).expect("quickstart");
    write(
        work.path(),
        "nopay.toml",
        manifest.replace("auto_pay = true", "auto_pay = false"),
    );
    let plan = sandbox(
        &work,
        &["plan", "nopay.toml", "--policy", POLICIES, "--out", "plan.json"],
    );
    assert_eq!(plan.code, Some(1), "{}", plan.describe());
    assert!(
        plan.stdout.contains("Policy: 1 denial, 2 warnings"),
        "{}",
        plan.describe()
    );
    assert!(
        plan.stdout
            .contains("deny: the order in cn-hangzhou is placed with AutoPay=false"),
        "{}",
        plan.describe()
    );
    assert!(plan.stderr.contains("a policy denies the plan"), "{}", plan.describe());
    assert!(plan.stderr.contains("The plan was not saved."), "{}", plan.describe());
    assert!(!work.file("plan.json").exists());

    let apply = sandbox(&work, &["apply", "--auto-approve", "nopay.toml", "--policy", POLICIES]);
    assert_eq!(apply.code, Some(1), "{}", apply.describe());
    assert!(
        apply.stderr.contains("a policy denies the plan; nothing was done"),
        "{}",
        apply.describe()
    );
    assert_eq!(orders_in_ledger(work.path()), 0);
}

#[test]
fn apply_refuses_a_plan_whose_policies_changed_or_deny_now() {
    let mut work = workdir();
    // Denies what a GitLab pipeline plans: the same files, another CI context at apply time.
    std::fs::create_dir_all(work.file("ci")).expect("mkdir");
    write(&work.file("ci"), "gitlab.rego", "package main\n\nimport rego.v1\n\ndeny contains msg if {\n\tinput.context.ci.system == \"gitlab\"\n\tmsg := sprintf(\"%s may not order\", [input.context.ci.actor])\n}\n");
    let plan = sandbox(&work, &["plan", QUICKSTART, "--policy", "ci", "--out", "plan.json"]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());

    // The policies changed since: refused, whatever they say.
    std::fs::create_dir_all(work.file("changed")).expect("mkdir");
    std::fs::copy(work.file("ci/gitlab.rego"), work.file("changed/gitlab.rego")).expect("copy");
    write(
        &work.file("changed"),
        "more.rego",
        "package main\n\nwarn contains \"w\" if { true }\n",
    );
    let changed = sandbox(&work, &["apply", "plan.json", "--policy", "changed"]);
    assert_eq!(changed.code, Some(1), "{}", changed.describe());
    assert!(
        changed
            .stderr
            .contains("the policies in changed changed since the plan was made"),
        "{}",
        changed.describe()
    );

    // The same policies, but they deny in this apply's context.
    work.set_env("GITLAB_CI", Some("true"));
    work.set_env("GITLAB_USER_LOGIN", Some("mallory"));
    let now = sandbox(&work, &["apply", "plan.json", "--policy", "ci"]);
    assert_eq!(now.code, Some(1), "{}", now.describe());
    assert!(
        now.stderr
            .contains("the policies deny the plan now: gitlab.rego: mallory may not order"),
        "{}",
        now.describe()
    );
    assert_eq!(orders_in_ledger(work.path()), 0);
}

#[test]
fn a_policy_that_does_not_parse_is_named_with_its_line_and_column() {
    let work = workdir();
    std::fs::create_dir_all(work.file("broken")).expect("mkdir");
    write(&work.file("broken"), "ok.rego", "package main\n");
    write(
        &work.file("broken"),
        "bad.rego",
        "package main\n\ndeny contains msg if {\n  msg := \n}\n",
    );
    let plan = sandbox(&work, &["plan", QUICKSTART, "--policy", "broken", "--out", "plan.json"]);
    assert_eq!(plan.code, Some(1), "{}", plan.describe());
    assert!(
        plan.stderr.contains("broken/bad.rego:4:7: expecting `}`"),
        "{}",
        plan.describe()
    );
    assert!(!work.file("plan.json").exists());
}

#[test]
fn policies_read_the_ci_context_of_github_actions() {
    let mut work = workdir();
    for (k, v) in [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/infra"),
        ("GITHUB_REF", "refs/pull/42/merge"),
        ("GITHUB_SHA", "0123abc"),
        ("GITHUB_ACTOR", "alice"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "7"),
    ] {
        work.set_env(k, Some(v));
    }
    std::fs::create_dir_all(work.file("ci")).expect("mkdir");
    write(&work.file("ci"), "who.rego", "package main\n\nimport rego.v1\n\nwarn contains msg if {\n\tci := input.context.ci\n\tmsg := sprintf(\"%s/%s by %s at %s: %s\", [ci.repository, ci.pull_request, ci.actor, ci.commit, ci.run_url])\n}\n");
    let plan = sandbox(&work, &["plan", QUICKSTART, "--policy", "ci", "--format", "json"]);
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    assert_eq!(
        messages(&plan.json()["policy"], "warn"),
        ["who.rego: acme/infra/42 by alice at 0123abc: https://github.com/acme/infra/actions/runs/7"]
    );
}

fn account<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .unwrap_or_else(|| panic!("no account {name}"))
}

#[test]
fn fleet_plan_judges_each_account_with_its_tags_and_fleet_apply_holds_back_the_denied() {
    let work = workdir();
    let fleet = "examples/fleet/fleet.toml";
    let plan = sandbox(
        &work,
        &[
            "fleet",
            "plan",
            fleet,
            "--policy",
            POLICIES,
            "--out",
            "fleet-plan.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        plan.code,
        Some(1),
        "a denied account fails the run: {}",
        plan.describe()
    );
    assert!(
        plan.stderr.contains("a policy denies the plan of 1 account"),
        "{}",
        plan.describe()
    );
    let doc = plan.json();
    // The `sandbox` account (tagged sandbox) is denied, one message per product it would order.
    let denied = &account(&doc, "sandbox")["outcome"]["plan"]["policy"];
    let deny = messages(denied, "deny");
    assert_eq!(deny.len(), 4, "{deny:?}");
    assert!(
        deny.iter()
            .all(|m| m.starts_with("sandbox.rego: account sandbox is tagged sandbox")),
        "{deny:?}"
    );
    for name in ["analytics", "research"] {
        let verdict = &account(&doc, name)["outcome"]["plan"]["policy"];
        assert_eq!(messages(verdict, "deny"), Vec::<String>::new(), "{name}");
        assert_eq!(verdict["policies_digest"], denied["policies_digest"]);
    }
    let markdown = sandbox(
        &work,
        &["fleet", "plan", fleet, "--policy", POLICIES, "--format", "markdown"],
    );
    assert!(
        markdown.stdout.contains("<b>denied by policy</b>"),
        "{}",
        markdown.describe()
    );

    // Other policies than the plan's: the whole fleet plan is refused before any account.
    std::fs::create_dir_all(work.file("other")).expect("mkdir");
    write(&work.file("other"), "p.rego", "package main\n");
    let refused = sandbox(&work, &["fleet", "apply", "fleet-plan.json", "--policy", "other"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(
        refused.stderr.contains("the plan was made with the policies sha256:"),
        "{}",
        refused.describe()
    );
    assert!(!refused.stdout.contains("ordered"), "{}", refused.describe());

    // Saved (one denied account must not hold back the others), and applied without it, the
    // same policies judging every account again.
    let apply = sandbox(&work, &["fleet", "apply", "fleet-plan.json", "--policy", POLICIES]);
    assert_eq!(apply.code, Some(1), "{}", apply.describe());
    assert!(
        apply
            .stdout
            .contains("sandbox: not started: denied by policy (sandbox.rego: account sandbox is tagged sandbox"),
        "{}",
        apply.describe()
    );
    let status = sandbox(&work, &["fleet", "status", fleet, "--format", "json"]);
    let status = status.json();
    let active = |name: &str| {
        let entry = status.as_array().and_then(|a| a.iter().find(|x| x["name"] == name));
        entry.is_some_and(|e| e["products"]["active"].as_u64().unwrap_or(0) > 0)
    };
    assert!(active("analytics") && active("research"), "{status:#}");
    assert!(!active("sandbox"), "{status:#}");
}

/// The verdict `apply PLANFILE --policy` re-checked is recorded with the run's provenance:
/// `state history --format jsonl` carries it, `state history` says it in a few words.
#[test]
fn apply_records_the_rechecked_verdict_in_the_runs_provenance() {
    let work = workdir();
    let plan = sandbox(
        &work,
        &[
            "plan",
            QUICKSTART,
            "--policy",
            POLICIES,
            "--out",
            "plan.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    let digest = plan.json()["policy"]["policies_digest"]
        .as_str()
        .expect("a verdict")
        .to_owned();
    let apply = sandbox(&work, &["apply", "plan.json", "--policy", POLICIES]);
    assert_eq!(apply.code, Some(0), "{}", apply.describe());

    let lines = sandbox(&work, &["state", "history", "--format", "jsonl"]);
    assert_eq!(lines.code, Some(0), "{}", lines.describe());
    let events: Vec<Value> = lines
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(!events.is_empty(), "{}", lines.describe());
    let want = serde_json::json!({
        "digest": digest,
        "denied": 0,
        "warned": 2,
        "warnings": [
            "max_orders.rego: 4 products ordered in one run (at most 5)",
            "review.rego: this plan orders products and was not made for a pull request: make sure it is the reviewed one"
        ]
    });
    for e in &events {
        assert_eq!(e["run"]["provenance"]["policy"], want, "{e}");
    }
    let human = sandbox(&work, &["state", "history"]);
    let short = &digest[..19];
    assert!(
        human.stdout.contains(&format!("policy passed, 2 warnings ({short}…)")),
        "{}",
        human.describe()
    );
}

/// A run without policies records none: `policy` is `null`.
#[test]
fn apply_without_policies_records_no_verdict() {
    let work = workdir();
    let apply = sandbox(&work, &["apply", QUICKSTART, "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.describe());
    let lines = sandbox(&work, &["state", "history", "--format", "jsonl"]);
    let events: Vec<Value> = lines
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(!events.is_empty(), "{}", lines.describe());
    for e in &events {
        assert!(e["run"]["provenance"]["policy"].is_null(), "{e}");
    }
    let human = sandbox(&work, &["state", "history"]);
    assert!(!human.stdout.contains("policy "), "{}", human.describe());
}
