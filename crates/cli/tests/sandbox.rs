//! The README's main job, as a newcomer runs it: `apply --sandbox examples/quickstart.toml` in
//! a fresh directory, with no account, no credentials and no state. It orders the four products
//! in the sandbox once, orders nothing the second time, and never touches the real state.

mod support;

use std::path::Path;

use serde_json::Value;
use support::Workdir;

/// A work directory whose environment is `HOME` alone (no credentials at all); the binary runs
/// there with no terminal.
fn newcomer() -> Workdir {
    let mut work = Workdir::new();
    work.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", None);
    work.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", None);
    work
}

fn ledger(dir: &Path) -> Value {
    let path = dir.join("state/pai-provision.sandbox-ledger.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("the ledger is JSON")
}

#[test]
fn the_quickstart_in_the_sandbox_orders_once_and_leaves_the_real_state_alone() {
    let dir = newcomer();
    let quickstart = support::examples().join("quickstart.toml");
    std::fs::create_dir(dir.file("examples")).expect("examples/");
    std::fs::copy(&quickstart, dir.file("examples/quickstart.toml")).expect("copy the quickstart");
    let apply = ["apply", "--sandbox", "--auto-approve", "examples/quickstart.toml"];

    let first = dir.run_plain(&apply);
    assert_eq!(first.code, Some(0), "{}", first.describe());
    let out = &first.stdout;
    assert!(out.contains("Plan: 4 to order"), "{}", first.describe());
    assert!(out.contains("Apply complete: 4 ordered"), "{}", first.describe());
    assert!(
        out.contains("Sandbox: no real order was placed"),
        "{}",
        first.describe()
    );
    let orders = ledger(dir.path())["orders"].as_array().cloned().unwrap_or_default();
    assert_eq!(orders.len(), 1, "one CreateProductOrders for the one region");
    assert_eq!(orders[0]["ProductCodes"].as_array().map(Vec::len), Some(4));

    let second = dir.run_plain(&apply);
    assert_eq!(second.code, Some(0), "{}", second.describe());
    assert!(second.stdout.contains("No changes"), "{}", second.describe());
    assert_eq!(ledger(dir.path())["orders"].as_array().map(Vec::len), Some(1));

    // The sandbox's activations live in its own state; the real one was never created.
    assert!(dir.file("state/pai-provision.sandbox.db").is_file());
    assert!(!dir.file("state/pai-provision.db").exists());
    let listed = dir.run_plain(&["--sandbox", "state", "list", "--format", "json"]);
    assert_eq!(listed.code, Some(0), "{}", listed.describe());
    let rows: Vec<Value> = serde_json::from_str(&listed.stdout).expect("state list JSON");
    assert_eq!(rows.len(), 4, "{}", listed.describe());
    assert!(rows.iter().all(|r| r["status"] == "active"), "{}", listed.describe());

    // The run's history starts with the refresh that decided what to order.
    let history = dir.run_plain(&["--sandbox", "state", "history"]);
    let history = history.stdout;
    let events: Vec<&str> = history.lines().filter(|l| l.starts_with("  ")).collect();
    assert!(
        events
            .first()
            .is_some_and(|e| e.contains("ListProducts cn-hangzhou -> ok HTTP 200")
                && e.contains("products.dataworks, products.maxcompute, products.oss, products.pai")),
        "{history}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.contains("CreateProductOrders cn-hangzhou -> ok")),
        "{history}"
    );

    // Without --sandbox the same manifest plans against the real cloud, which needs credentials:
    // a clear error, and still no real state.
    let real = dir.run_plain(&["plan", "examples/quickstart.toml"]);
    assert_eq!(real.code, Some(1), "{}", real.describe());
    let said = &real.stderr;
    assert_eq!(
        said.matches("no Alibaba Cloud credentials found; tried, in order:")
            .count(),
        1,
        "said once, with what was tried: {}",
        real.describe()
    );
    assert!(!dir.file("state/pai-provision.db").exists());
}

#[test]
fn apply_without_a_terminal_needs_auto_approve_even_in_the_sandbox() {
    let dir = newcomer();
    let quickstart = support::examples().join("quickstart.toml");
    std::fs::copy(&quickstart, dir.file("q.toml")).expect("copy the quickstart");
    let refused = dir.run_plain(&["apply", "--sandbox", "q.toml"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(refused.stderr.contains("--auto-approve"), "{}", refused.describe());
    assert!(!dir.file("state").exists(), "nothing was written");
}
