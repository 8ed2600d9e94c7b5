//! `state list | show | rm | history | import` and `force-unlock` through the real binary.

mod support;

use support::Workdir;

const MANIFEST: &str = r#"
[provider]
region = "cn-hangzhou"
auto_pay = true

[products.pai]
code = "PAI_share"

[products.oss]
code = "OSS_share"
properties.commodity_type = "oss"
properties.ord_time = "1:Hour"
"#;

#[test]
fn import_list_show_history_rm() {
    let dir = Workdir::with_manifest(MANIFEST);
    assert_eq!(
        dir.ok(&["state", "list"]),
        format!(
            "State: {} (none there yet: apply, refresh or state import creates it)\nNo addresses recorded.\n",
            dir.state.display()
        )
    );
    assert!(!dir.state.exists(), "reading must not create the state");

    let imported = dir.json(&["state", "import", "products.pai", "--format", "json"]);
    assert_eq!(imported["status"], "active");
    assert_eq!(imported["origin"], "imported");
    assert_eq!(imported["request"]["ProductCode"], "PAI_share");
    dir.ok(&["state", "import", "oss"]);

    let rows = dir.json(&["state", "list", "--format", "json"]);
    assert_eq!(
        rows,
        serde_json::json!([
            {"address": "oss", "region": "cn-hangzhou", "product_code": "OSS_share", "status": "active", "order_id": null},
            {"address": "pai", "region": "cn-hangzhou", "product_code": "PAI_share", "status": "active", "order_id": null},
        ])
    );
    let table = dir.ok(&["state", "list"]);
    assert!(
        table.starts_with(&format!("State: {}\n\nADDRESS", dir.state.display())),
        "{table}"
    );
    assert!(table.contains("products.oss  "), "{table}");

    let shown = dir.json(&["state", "show", "pai", "--format", "json"]);
    assert_eq!(shown, imported);
    assert!(dir
        .ok(&["state", "show", "pai"])
        .contains("origin                  imported"));
    assert!(dir
        .fails(&["state", "show", "dataworks"])
        .contains("`products.dataworks` is not in the state"));

    let state = dir.json(&["show", "--format", "json"]);
    assert_eq!(state["serial"], 2);
    assert_eq!(state["resources"].as_array().unwrap().len(), 2);

    let out = dir.run(&["state", "rm", "pai"]);
    assert_eq!(out.code, Some(0));
    assert_eq!(
        out.stdout,
        format!("Removed products.pai from the state {}.\n", dir.state.display())
    );
    let warning = &out.stderr;
    assert!(
        warning.contains("WARNING: PAI_share in cn-hangzhou stays active and billed"),
        "{warning}"
    );
    assert!(dir.fails(&["state", "rm", "pai"]).contains("is not in the state"));

    let history = dir.json(&["state", "history", "--format", "json"]);
    let commands: Vec<&str> = history["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["state import pai", "state import oss", "state rm pai"]);
    let pai = dir.json(&["state", "history", "pai", "--format", "json"]);
    let actions: Vec<&str> = pai["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["imported", "removed"]);
    let human = dir.ok(&["state", "history", "products.pai"]);
    assert!(human.contains("products.pai recorded active: imported"), "{human}");
    assert!(!human.contains("products.oss"), "{human}");
}

#[test]
fn import_checks_the_manifest_and_the_state() {
    let dir = Workdir::with_manifest(MANIFEST);
    let err = dir.fails(&["state", "import", "dataworks"]);
    assert!(
        err.contains("`products.dataworks` is not declared in pai-provision.toml"),
        "{err}"
    );
    assert!(err.contains("declared: products.oss, products.pai"), "{err}");
    assert!(!dir.state.exists(), "a refused import must not create the state");

    dir.ok(&["state", "import", "pai"]);
    let err = dir.fails(&["state", "import", "pai"]);
    assert!(err.contains("already in the state"), "{err}");

    // The same activation under a second address is refused.
    std::fs::write(
        dir.file("other.toml"),
        "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n[products.ml]\ncode = \"PAI_share\"\n",
    )
    .unwrap();
    let err = dir.fails(&["state", "import", "ml", "--manifest", "other.toml"]);
    assert!(
        err.contains("already records PAI_share in cn-hangzhou as `products.pai`"),
        "{err}"
    );
    assert!(dir.fails(&["state", "import", "Bad.Name"]).contains("invalid address"));
}

#[test]
fn force_unlock_without_a_lock_is_refused() {
    let dir = Workdir::with_manifest(MANIFEST);
    let err = dir.fails(&["force-unlock", "6b0f0d62-0000-0000-0000-000000000000"]);
    assert!(err.contains("is not locked"), "{err}");
}

#[test]
fn markdown_is_for_plans() {
    let dir = Workdir::with_manifest(MANIFEST);
    let run = dir.run(&["state", "list", "--format", "markdown"]);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(
        run.stderr.contains("invalid value 'markdown' for '--format"),
        "{}",
        run.describe()
    );
}
