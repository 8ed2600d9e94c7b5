//! The README's main job, as a newcomer runs it: `apply --sandbox examples/quickstart.toml` in
//! a fresh directory, with no account, no credentials and no state. It orders the four products
//! in the sandbox once, orders nothing the second time, and never touches the real state.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// `pai-provision ARGS` in `dir`, with an empty environment but for `HOME` (no credentials at
/// all), no terminal.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pai-provision"))
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pai-provision")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ledger(dir: &Path) -> Value {
    let path = dir.join("state/pai-provision.sandbox-ledger.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("the ledger is JSON")
}

#[test]
fn the_quickstart_in_the_sandbox_orders_once_and_leaves_the_real_state_alone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.toml");
    std::fs::create_dir(dir.path().join("examples")).expect("examples/");
    std::fs::copy(&quickstart, dir.path().join("examples/quickstart.toml")).expect("copy the quickstart");
    let apply = ["apply", "--sandbox", "--auto-approve", "examples/quickstart.toml"];

    let first = run(dir.path(), &apply);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("Plan: 4 to order"), "{}", text(&first));
    assert!(out.contains("Apply complete: 4 ordered"), "{}", text(&first));
    assert!(out.contains("Sandbox: no real order was placed"), "{}", text(&first));
    let orders = ledger(dir.path())["orders"].as_array().cloned().unwrap_or_default();
    assert_eq!(orders.len(), 1, "one CreateProductOrders for the one region");
    assert_eq!(orders[0]["ProductCodes"].as_array().map(Vec::len), Some(4));

    let second = run(dir.path(), &apply);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("No changes"),
        "{}",
        text(&second)
    );
    assert_eq!(ledger(dir.path())["orders"].as_array().map(Vec::len), Some(1));

    // The sandbox's activations live in its own state; the real one was never created.
    assert!(dir.path().join("state/pai-provision.sandbox.db").is_file());
    assert!(!dir.path().join("state/pai-provision.db").exists());
    let listed = run(dir.path(), &["--sandbox", "state", "list", "--format", "json"]);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    let rows: Vec<Value> = serde_json::from_slice(&listed.stdout).expect("state list JSON");
    assert_eq!(rows.len(), 4, "{}", text(&listed));
    assert!(rows.iter().all(|r| r["status"] == "active"), "{}", text(&listed));

    // The run's history starts with the refresh that decided what to order.
    let history = run(dir.path(), &["--sandbox", "state", "history"]);
    let history = String::from_utf8_lossy(&history.stdout).into_owned();
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
    let real = run(dir.path(), &["plan", "examples/quickstart.toml"]);
    assert_eq!(real.status.code(), Some(1), "{}", text(&real));
    let said = String::from_utf8_lossy(&real.stderr);
    assert_eq!(
        said.matches("no Alibaba Cloud credentials found; tried, in order:")
            .count(),
        1,
        "said once, with what was tried: {}",
        text(&real)
    );
    assert!(!dir.path().join("state/pai-provision.db").exists());
}

#[test]
fn apply_without_a_terminal_needs_auto_approve_even_in_the_sandbox() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.toml");
    std::fs::copy(&quickstart, dir.path().join("q.toml")).expect("copy the quickstart");
    let refused = run(dir.path(), &["apply", "--sandbox", "q.toml"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--auto-approve"),
        "{}",
        text(&refused)
    );
    assert!(!dir.path().join("state").exists(), "nothing was written");
}
