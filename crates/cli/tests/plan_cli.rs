//! `plan` and `show` through the real binary, against real state files.

use std::path::PathBuf;
use std::process::{Command, Output};

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

struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("pai-provision.toml"), MANIFEST).unwrap();
        Dir { tmp }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn state(&self) -> PathBuf {
        self.path("state/pai-provision.db")
    }

    /// Runs the binary in the directory with `--state` pointing into it.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pai-provision"))
            .current_dir(self.tmp.path())
            .env_remove("PAI_PROVISION_STATE")
            .env_remove("PAI_PROVISION_LOG")
            .arg("--state")
            .arg(self.state())
            .args(args)
            .output()
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn plan_from_the_state_alone_says_so_and_writes_nothing() {
    let dir = Dir::new();
    let out = dir.run(&["plan", "--refresh=false"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
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
        !dir.path("state").exists(),
        "plan must not create the state or its directory"
    );

    let detailed = dir.run(&["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(code(&detailed), 2);
}

#[test]
fn json_output_is_the_saved_plan_and_show_renders_it() {
    let dir = Dir::new();
    let out = dir.run(&["plan", "--refresh=false", "--format", "json", "--out", "plan.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("Saved the plan to plan.json"), "{}", stderr(&out));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let saved_text = std::fs::read_to_string(dir.path("plan.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved_text).unwrap();
    assert_eq!(printed, saved);

    assert_eq!(saved["format_version"], 2);
    assert_eq!(saved["refreshed"], false);
    assert_eq!(saved["lineage"], serde_json::Value::Null);
    assert_eq!(saved["serial"], 0);
    assert_eq!(saved["manifest_path"], "pai-provision.toml");
    let hash = sha256_hex(&std::fs::read(dir.path("pai-provision.toml")).unwrap());
    assert_eq!(saved["manifest_hash"], hash.as_str());
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
    assert_eq!(code(&shown), 0);
    assert_eq!(stdout(&shown), saved_text, "show prints the saved document as saved");
    let human = dir.run(&["show", "plan.json"]);
    assert!(stdout(&human).contains("Plan: 3 to order"), "{}", stdout(&human));
    let md = dir.run(&["show", "plan.json", "--format", "markdown"]);
    assert!(stdout(&md).starts_with("### pai-provision plan\n"), "{}", stdout(&md));
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
    let dir = Dir::new();
    for address in ["pai", "dataworks", "oss"] {
        let out = dir.run(&["state", "import", address]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let settled = dir.run(&["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(code(&settled), 0, "{}", stdout(&settled));
    assert!(stdout(&settled).contains("No changes: the state matches the manifest."));

    // AutoRenew cannot change after purchase: a conflict, exit 1 with or without the flag.
    let changed = MANIFEST.replace(
        "code = \"DataWorks_share\"",
        "code = \"DataWorks_share\"\nauto_renew = true",
    );
    std::fs::write(dir.path("pai-provision.toml"), changed).unwrap();
    for flags in [
        &["plan", "--refresh=false"][..],
        &["plan", "--refresh=false", "--detailed-exitcode"],
    ] {
        let out = dir.run(flags);
        assert_eq!(code(&out), 1, "{flags:?}");
        let text = stdout(&out);
        assert!(text.contains("! products.dataworks (DataWorks_share, cn-hangzhou) conflicts with the manifest"));
        assert!(text.contains("-   \"AutoRenew\": false,"), "{text}");
        assert!(text.contains("+   \"AutoRenew\": true,"), "{text}");
        assert!(
            stderr(&out).contains("error: the plan has 1 conflict"),
            "{}",
            stderr(&out)
        );
    }
    let out = dir.run(&["plan", "--refresh=false", "--out", "conflict.json"]);
    assert_eq!(code(&out), 1);
    assert!(
        !dir.path("conflict.json").exists(),
        "a plan with conflicts is not saved"
    );
    assert!(stderr(&out).contains("The plan was not saved."));

    // Removing a product from the manifest is a forget: a change.
    let fewer = MANIFEST.split("[products.oss]").next().unwrap().to_owned();
    std::fs::write(dir.path("pai-provision.toml"), fewer).unwrap();
    let out = dir.run(&["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2);
    let text = stdout(&out);
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
    let dir = Dir::new();
    assert_eq!(code(&dir.run(&["state", "import", "pai"])), 0);
    let out = dir.run(&["plan", "--refresh=false", "--out", "p.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path("p.json")).unwrap()).unwrap();
    let shown = dir.run(&["show", "--format", "json"]);
    let state: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(plan["lineage"], state["lineage"]);
    assert_eq!(plan["serial"], state["serial"]);
    assert_eq!(plan["serial"], 1);
}

#[test]
fn an_invalid_manifest_fails_with_its_diagnostics() {
    let dir = Dir::new();
    std::fs::write(
        dir.path("pai-provision.toml"),
        "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n[products.pai]\ncode = \"PAI\"\n",
    )
    .unwrap();
    let out = dir.run(&["plan", "--refresh=false"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("is not a valid manifest"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn show_reads_plans_and_refuses_other_files() {
    let dir = Dir::new();
    std::fs::write(dir.path("notes.json"), "{\"hello\": 1}").unwrap();
    let out = dir.run(&["show", "notes.json"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("not a pai-provision plan"), "{}", stderr(&out));
    let empty = dir.run(&["show"]);
    assert_eq!(code(&empty), 0);
    assert!(stdout(&empty).starts_with("No state at"), "{}", stdout(&empty));
}

fn make_corrupt(dir: &Dir) {
    assert_eq!(code(&dir.run(&["state", "import", "pai"])), 0);
    let mut bytes = std::fs::read(dir.state()).unwrap();
    for b in bytes.iter_mut().skip(100).take(3000) {
        *b ^= 0x5a;
    }
    std::fs::write(dir.state(), bytes).unwrap();
}

/// Runs a Python snippet with the path of the state file as `sys.argv[1]`: Python's own
/// SQLite module plays "another application" and "a newer pai-provision".
fn python_sqlite(dir: &Dir, code: &str) {
    let status = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); {code}; c.commit(); c.close()"
        ))
        .arg(dir.state())
        .status()
        .unwrap();
    assert!(status.success());
}

fn make_foreign(dir: &Dir) {
    std::fs::create_dir_all(dir.path("state")).unwrap();
    python_sqlite(
        dir,
        "c.execute('CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)'); \
         c.execute(\"INSERT INTO photos VALUES (1, 'a.jpg')\")",
    );
}

fn make_newer(dir: &Dir) {
    assert_eq!(code(&dir.run(&["state", "import", "pai"])), 0);
    python_sqlite(dir, "c.execute('PRAGMA user_version = 99')");
}

#[test]
fn foreign_corrupt_and_newer_state_files_are_refused_and_left_byte_identical() {
    type Case = (&'static str, fn(&Dir), &'static str);
    let cases: [Case; 3] = [
        ("corrupt", make_corrupt, "damaged"),
        ("foreign", make_foreign, "not a pai-provision state"),
        ("newer", make_newer, "newer than this pai-provision understands"),
    ];
    for (name, make, message) in cases {
        let dir = Dir::new();
        make(&dir);
        let before = std::fs::read(dir.state()).unwrap();
        for args in [
            &["plan", "--refresh=false"][..],
            &["show"],
            &["state", "list"],
            &["state", "rm", "pai"],
            &["state", "import", "dataworks"],
        ] {
            let out = dir.run(args);
            assert_eq!(code(&out), 1, "{name} {args:?}: {}", stdout(&out));
            let err = stderr(&out);
            assert!(err.contains(message), "{name} {args:?}: {err}");
            assert!(err.contains("left untouched"), "{name} {args:?}: {err}");
            assert_eq!(
                std::fs::read(dir.state()).unwrap(),
                before,
                "{name} {args:?} changed the file"
            );
        }
    }
}

/// The endpoint a plan names for a region's orders, in every format: the one apply will use.
fn endpoints_shown(dir: &Dir, extra: &[&str]) -> (String, Vec<String>, String) {
    let with = |format: &str| {
        let mut args = extra.to_vec();
        args.extend(["plan", "--refresh=false", "--format", format]);
        let out = dir.run(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        stdout(&out)
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
    let dir = Dir::new();
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
    let dir = Dir::new();
    let out = dir.run(&["plan", "--refresh=false", "--out", "p.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let before = std::fs::read(dir.path("p.json")).unwrap();

    let refused = dir.run(&["--endpoint", "http://127.0.0.1:9", "apply", "p.json"]);
    assert_eq!(code(&refused), 1, "{}", stdout(&refused));
    let err = stderr(&refused);
    assert!(err.contains("refusing the saved plan p.json"), "{err}");
    assert!(
        err.contains("https://aiworkspace.cn-hangzhou.aliyuncs.com") && err.contains("http://127.0.0.1:9"),
        "names both endpoints: {err}"
    );
    assert_eq!(std::fs::read(dir.path("p.json")).unwrap(), before);

    // A sandbox plan is for the sandbox only, and the sandbox takes only sandbox plans.
    let refused = dir.run(&["--sandbox", "apply", "p.json"]);
    assert_eq!(code(&refused), 1, "{}", stdout(&refused));
    assert!(stderr(&refused).contains("sandbox"), "{}", stderr(&refused));

    let out = dir.run(&["--sandbox", "plan", "--refresh=false", "--out", "s.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let refused = dir.run(&["apply", "s.json"]);
    assert_eq!(code(&refused), 1, "{}", stdout(&refused));
    let err = stderr(&refused);
    assert!(err.contains("sandbox") && err.contains("aliyuncs.com"), "{err}");
    let applied = dir.run(&["--sandbox", "apply", "s.json"]);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    assert!(
        stdout(&applied).contains("Apply complete: 3 ordered"),
        "{}",
        stdout(&applied)
    );
}

#[test]
fn an_unusable_manifest_in_the_working_directory_is_an_error_not_the_default_state() {
    let dir = Dir::new();
    assert_eq!(code(&dir.run(&["state", "import", "pai"])), 0);
    std::fs::write(dir.path("pai-provision.toml"), "[state\nurl = ").unwrap();
    let without_state = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pai-provision"))
            .current_dir(dir.tmp.path())
            .env_remove("PAI_PROVISION_STATE")
            .env_remove("PAI_PROVISION_LOG")
            .args(args)
            .output()
            .unwrap()
    };
    for args in [&["state", "list"][..], &["show"], &["state", "history"]] {
        let out = without_state(args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("pai-provision.toml decides where the state is"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // Naming the state makes the manifest irrelevant.
    let listed = dir.run(&["state", "list"]);
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    assert!(stdout(&listed).contains("pai"), "{}", stdout(&listed));
}
