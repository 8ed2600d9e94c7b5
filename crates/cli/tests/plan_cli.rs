//! `plan` and `show` through the real binary, against real state files.

mod support;

use std::process::Command;

use support::Workdir;

const MANIFEST: &str = r#"
[provider]
region = "cn-hangzhou"
auto_pay = true

[products.pai]
code = "PAI_share"

[products.dataworks]
code = "DataWorks_share"
properties.region = "cn-shanghai"

[products.oss]
code = "OSS_share"
region = "cn-shanghai"
properties.commodity_type = { value = "oss", name = "Object Storage Service" }
properties.ord_time = { value = "1:Hour", name = "1 Hour" }
"#;

/// A work directory with [`MANIFEST`] and its state in a subdirectory that does not exist yet.
fn workdir() -> Workdir {
    Workdir::with_manifest(MANIFEST).state_at("state/pai-provision.db")
}

#[test]
fn plan_from_the_state_alone_says_so_and_writes_nothing() {
    let dir = workdir();
    // Without `--no-color`: the binary itself must see that there is no terminal.
    let state = dir.state.display().to_string();
    let out = dir.run_plain(&["--state", &state, "plan", "--refresh=false"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = out.stdout;
    assert!(
        text.starts_with("Note: planned from the state alone (--refresh=false); the cloud was not asked.\n"),
        "{text}"
    );
    assert!(
        text.contains("  + products.pai (PAI_share, cn-hangzhou) will be ordered\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Plan: 3 to order, 0 to adopt, 0 to reorder, 0 to forget, 0 conflicts, 0 unchanged.\n"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour without a terminal");
    assert!(
        !dir.file("state").exists(),
        "plan must not create the state or its directory"
    );

    let detailed = dir.run(&["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(detailed.code, Some(2));
}

#[test]
fn json_output_is_the_saved_plan_and_show_renders_it() {
    let dir = workdir();
    let out = dir.run(&["plan", "--refresh=false", "--format", "json", "--out", "plan.json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("Saved the plan to plan.json"), "{}", out.stderr);
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let saved_text = std::fs::read_to_string(dir.file("plan.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved_text).unwrap();
    assert_eq!(printed, saved);

    assert_eq!(saved["format_version"], 3);
    assert_eq!(saved["refreshed"], false);
    assert_eq!(saved["lineage"], serde_json::Value::Null);
    assert_eq!(saved["serial"], 0);
    assert_eq!(saved["manifest_path"], "pai-provision.toml");
    let hash = sha256_hex(&std::fs::read(dir.file("pai-provision.toml")).unwrap());
    assert_eq!(saved["manifest_hash"], hash.as_str());
    assert_eq!(
        saved["target"],
        serde_json::json!({
            "sandbox": false,
            "state": dir.state.display().to_string(),
            "account": null,
            "endpoints": {
                "cn-hangzhou": "https://aiworkspace.cn-hangzhou.aliyuncs.com",
                "cn-shanghai": "https://aiworkspace.cn-shanghai.aliyuncs.com"
            }
        })
    );
    assert!(saved["digest"].as_str().unwrap().starts_with("sha256:"), "{saved}");
    let orders = saved["orders"].as_array().unwrap();
    let regions: Vec<&str> = orders.iter().map(|o| o["region"].as_str().unwrap()).collect();
    assert_eq!(regions, ["cn-hangzhou", "cn-shanghai"]);
    assert_eq!(orders[0]["addresses"], serde_json::json!(["dataworks", "pai"]));
    assert_eq!(orders[0]["body"]["AutoPay"], true);
    assert_eq!(
        orders[1]["body"]["Products"][0]["InstanceProperties"][0],
        serde_json::json!({"Code": "commodity_type", "Name": "Object Storage Service", "Value": "oss"})
    );

    let shown = dir.run(&["show", "plan.json", "--format", "json"]);
    assert_eq!(shown.code, Some(0));
    assert_eq!(shown.stdout, saved_text, "show prints the saved document as saved");
    let human = dir.run(&["show", "plan.json"]);
    assert!(human.stdout.contains("Plan: 3 to order"), "{}", human.stdout);
    let md = dir.run(&["show", "plan.json", "--format", "markdown"]);
    assert!(md.stdout.starts_with("### pai-provision plan\n"), "{}", md.stdout);
}

fn sha256_hex(bytes: &[u8]) -> String {
    // The same digest the manifest loader records, computed independently with the system tool.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("sha256sum").arg(&file).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

#[test]
fn detailed_exit_codes_and_conflicts() {
    let dir = workdir();
    for address in ["pai", "dataworks", "oss"] {
        let out = dir.run(&["state", "import", address]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    let settled = dir.run(&["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(settled.code, Some(0), "{}", settled.stdout);
    assert!(settled.stdout.contains("No changes: the state matches the manifest."));

    // AutoRenew cannot change after purchase: a conflict, exit 1 with or without the flag.
    let changed = MANIFEST.replace(
        "code = \"DataWorks_share\"",
        "code = \"DataWorks_share\"\nauto_renew = true",
    );
    std::fs::write(dir.file("pai-provision.toml"), changed).unwrap();
    for flags in [
        &["plan", "--refresh=false"][..],
        &["plan", "--refresh=false", "--detailed-exitcode"],
    ] {
        let out = dir.run(flags);
        assert_eq!(out.code, Some(1), "{flags:?}");
        let text = out.stdout;
        assert!(text.contains("! products.dataworks (DataWorks_share, cn-hangzhou) conflicts with the manifest"));
        assert!(text.contains("-   \"AutoRenew\": false,"), "{text}");
        assert!(text.contains("+   \"AutoRenew\": true,"), "{text}");
        assert!(out.stderr.contains("error: the plan has 1 conflict"), "{}", out.stderr);
    }
    let out = dir.run(&["plan", "--refresh=false", "--out", "conflict.json"]);
    assert_eq!(out.code, Some(1));
    assert!(
        !dir.file("conflict.json").exists(),
        "a plan with conflicts is not saved"
    );
    assert!(out.stderr.contains("The plan was not saved."));

    // Removing a product from the manifest is a forget: a change.
    let fewer = MANIFEST.split("[products.oss]").next().unwrap().to_owned();
    std::fs::write(dir.file("pai-provision.toml"), fewer).unwrap();
    let out = dir.run(&["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(out.code, Some(2));
    let text = out.stdout;
    assert!(
        text.contains("- products.oss (OSS_share, cn-shanghai) will be forgotten"),
        "{text}"
    );
    assert!(
        text.contains("WARNING: The activation stays active and billed"),
        "{text}"
    );
}

#[test]
fn saved_plans_carry_the_state_lineage_and_serial() {
    let dir = workdir();
    assert_eq!(dir.run(&["state", "import", "pai"]).code, Some(0));
    let out = dir.run(&["plan", "--refresh=false", "--out", "p.json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.file("p.json")).unwrap()).unwrap();
    let shown = dir.run(&["show", "--format", "json"]);
    let state: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(plan["lineage"], state["lineage"]);
    assert_eq!(plan["serial"], state["serial"]);
    assert_eq!(plan["serial"], 1);
}

#[test]
fn an_invalid_manifest_fails_with_its_diagnostics() {
    let dir = workdir();
    std::fs::write(
        dir.file("pai-provision.toml"),
        "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n[products.pai]\ncode = \"PAI\"\n",
    )
    .unwrap();
    let out = dir.run(&["plan", "--refresh=false"]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("is not a valid manifest"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn show_reads_plans_and_refuses_other_files() {
    let dir = workdir();
    std::fs::write(dir.file("notes.json"), "{\"hello\": 1}").unwrap();
    let out = dir.run(&["show", "notes.json"]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("not a pai-provision plan"), "{}", out.stderr);
    let empty = dir.run(&["show"]);
    assert_eq!(empty.code, Some(0));
    assert!(empty.stdout.starts_with("No state at"), "{}", empty.stdout);
}

fn make_corrupt(dir: &Workdir) {
    assert_eq!(dir.run(&["state", "import", "pai"]).code, Some(0));
    let mut bytes = std::fs::read(&dir.state).unwrap();
    for b in bytes.iter_mut().skip(100).take(3000) {
        *b ^= 0x5a;
    }
    std::fs::write(&dir.state, bytes).unwrap();
}

/// Runs a Python snippet with the path of the state file as `sys.argv[1]`: Python's own
/// SQLite module plays "another application" and "a newer pai-provision".
fn python_sqlite(dir: &Workdir, code: &str) {
    let status = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); {code}; c.commit(); c.close()"
        ))
        .arg(&dir.state)
        .status()
        .unwrap();
    assert!(status.success());
}

fn make_foreign(dir: &Workdir) {
    std::fs::create_dir_all(dir.file("state")).unwrap();
    python_sqlite(
        dir,
        "c.execute('CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)'); \
         c.execute(\"INSERT INTO photos VALUES (1, 'a.jpg')\")",
    );
}

fn make_newer(dir: &Workdir) {
    assert_eq!(dir.run(&["state", "import", "pai"]).code, Some(0));
    python_sqlite(dir, "c.execute('PRAGMA user_version = 99')");
}

#[test]
fn foreign_corrupt_and_newer_state_files_are_refused_and_left_byte_identical() {
    type Case = (&'static str, fn(&Workdir), &'static str);
    let cases: [Case; 3] = [
        ("corrupt", make_corrupt, "damaged"),
        ("foreign", make_foreign, "not a pai-provision state"),
        ("newer", make_newer, "newer than this pai-provision understands"),
    ];
    for (name, make, message) in cases {
        let dir = workdir();
        make(&dir);
        let before = std::fs::read(&dir.state).unwrap();
        for args in [
            &["plan", "--refresh=false"][..],
            &["show"],
            &["state", "list"],
            &["state", "rm", "pai"],
            &["state", "import", "dataworks"],
        ] {
            let out = dir.run(args);
            assert_eq!(out.code, Some(1), "{name} {args:?}: {}", out.stdout);
            let err = out.stderr;
            assert!(err.contains(message), "{name} {args:?}: {err}");
            assert!(err.contains("left untouched"), "{name} {args:?}: {err}");
            assert_eq!(
                std::fs::read(&dir.state).unwrap(),
                before,
                "{name} {args:?} changed the file"
            );
        }
    }
}

/// The endpoint a plan names for a region's orders, in every format: the one apply will use.
fn endpoints_shown(dir: &Workdir, extra: &[&str]) -> (String, Vec<String>, String) {
    let with = |format: &str| {
        let mut args = extra.to_vec();
        args.extend(["plan", "--refresh=false", "--format", format]);
        let out = dir.run(&args);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        out.stdout
    };
    let json: serde_json::Value = serde_json::from_str(&with("json")).unwrap();
    let endpoints = json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["endpoint"].as_str().unwrap().to_owned())
        .collect();
    (with("human"), endpoints, with("markdown"))
}

#[test]
fn the_plan_names_the_endpoint_apply_will_use() {
    let dir = workdir();
    let (human, json, markdown) = endpoints_shown(&dir, &[]);
    assert!(
        human.contains("  cn-hangzhou  https://aiworkspace.cn-hangzhou.aliyuncs.com  AutoPay=true\n"),
        "{human}"
    );
    assert_eq!(
        json,
        [
            "https://aiworkspace.cn-hangzhou.aliyuncs.com",
            "https://aiworkspace.cn-shanghai.aliyuncs.com"
        ]
    );
    assert!(
        markdown.contains("(<code>https://aiworkspace.cn-shanghai.aliyuncs.com</code>)"),
        "{markdown}"
    );

    let (human, json, markdown) = endpoints_shown(&dir, &["--endpoint", "http://127.0.0.1:9/"]);
    assert!(
        human.contains("  cn-hangzhou  http://127.0.0.1:9/  AutoPay=true\n"),
        "{human}"
    );
    assert_eq!(json, ["http://127.0.0.1:9/", "http://127.0.0.1:9/"]);
    assert!(markdown.contains("(<code>http://127.0.0.1:9/</code>)"), "{markdown}");
    for text in [&human, &markdown] {
        assert!(!text.contains("aliyuncs.com"), "{text}");
    }

    let (human, json, markdown) = endpoints_shown(&dir, &["--endpoint", "http://{region}.test:8080"]);
    assert!(
        human.contains("  cn-shanghai  http://cn-shanghai.test:8080  AutoPay=true\n"),
        "{human}"
    );
    assert_eq!(json, ["http://cn-hangzhou.test:8080", "http://cn-shanghai.test:8080"]);
    assert!(
        markdown.contains("(<code>http://cn-hangzhou.test:8080</code>)"),
        "{markdown}"
    );

    // The sandbox's emulator takes a new port each run: a plan names the sandbox, not the port.
    let (human, json, markdown) = endpoints_shown(&dir, &["--sandbox"]);
    assert!(human.contains("  cn-hangzhou  sandbox  AutoPay=true\n"), "{human}");
    assert_eq!(json, ["sandbox", "sandbox"]);
    assert!(markdown.contains("(<code>sandbox</code>)"), "{markdown}");
    for text in [&human, &markdown] {
        assert!(!text.contains("aliyuncs.com") && !text.contains("127.0.0.1"), "{text}");
    }
}

#[test]
fn apply_refuses_a_saved_plan_made_for_another_endpoint() {
    let dir = workdir();
    let out = dir.run(&["plan", "--refresh=false", "--out", "p.json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let before = std::fs::read(dir.file("p.json")).unwrap();

    let refused = dir.run(&["--endpoint", "http://127.0.0.1:9", "apply", "p.json"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    let err = refused.stderr;
    assert!(err.contains("refusing the saved plan p.json"), "{err}");
    assert!(
        err.contains("https://aiworkspace.cn-hangzhou.aliyuncs.com") && err.contains("http://127.0.0.1:9"),
        "names both endpoints: {err}"
    );
    assert_eq!(std::fs::read(dir.file("p.json")).unwrap(), before);

    // A sandbox plan is for the sandbox only, and the sandbox takes only sandbox plans.
    let refused = dir.run(&["--sandbox", "apply", "p.json"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    assert!(refused.stderr.contains("sandbox"), "{}", refused.stderr);

    let out = dir.run(&["--sandbox", "plan", "--refresh=false", "--out", "s.json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let refused = dir.run(&["apply", "s.json"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    let err = refused.stderr;
    assert!(err.contains("sandbox") && err.contains("aliyuncs.com"), "{err}");
    let applied = dir.run(&["--sandbox", "apply", "s.json"]);
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    assert!(
        applied.stdout.contains("Apply complete: 3 ordered"),
        "{}",
        applied.stdout
    );
}

#[test]
fn an_unusable_manifest_in_the_working_directory_is_an_error_not_the_default_state() {
    let dir = workdir();
    assert_eq!(dir.run(&["state", "import", "pai"]).code, Some(0));
    std::fs::write(dir.file("pai-provision.toml"), "[state\nurl = ").unwrap();
    for args in [&["state", "list"][..], &["show"], &["state", "history"]] {
        let out = dir.run_plain(args);
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.stdout);
        assert!(
            out.stderr.contains("pai-provision.toml decides where the state is"),
            "{args:?}: {}",
            out.stderr
        );
    }
    // Naming the state makes the manifest irrelevant.
    let listed = dir.run(&["state", "list"]);
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    assert!(listed.stdout.contains("pai"), "{}", listed.stdout);
}
