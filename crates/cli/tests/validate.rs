//! `pai-provision validate`, run as a process on real files.

mod support;

use support::{binary, examples, write, Run};

const BAD: &str = r#"[provider]
region = "cn-hangzhou"
access_key_secret = "hunter2"

[products.dataworks]
code = "Dataworks_share"

[products.pai]
code = "PAI_share"
pricing_cycle = "Hour"
properties.colour = "red"
"#;

#[test]
fn the_examples_are_valid() {
    for (name, summary) in [
        ("quickstart.toml", "is valid: 4 products in 1 region"),
        ("multi-region.toml", "is valid: 5 products in 2 regions"),
    ] {
        let (code, out, err) = Run::of(binary().arg("validate").arg(examples().join(name))).into_parts();
        assert_eq!(code, Some(0), "{name}: {err}");
        assert!(out.contains(summary), "{name}: {out}");
        assert!(err.is_empty(), "{name}: {err}");
    }
}

#[test]
fn every_error_is_printed_with_its_place_and_exit_is_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.toml", BAD.as_bytes());
    let (code, out, err) = Run::of(binary().arg("validate").arg(&path)).into_parts();
    assert_eq!(code, Some(1));
    assert!(out.is_empty(), "{out}");
    let file = path.display().to_string();
    for want in [
        "error: `provider.access_key_secret` is not a manifest key".to_string(),
        format!(" --> {file}:3:1"),
        "error: unknown product code `Dataworks_share`".to_string(),
        format!(" --> {file}:6:8"),
        "6 | code = \"Dataworks_share\"".to_string(),
        "  |        ^^^^^^^^^^^^^^^^^".to_string(),
        "= help: did you mean `DataWorks_share`?".to_string(),
        format!(" --> {file}:10:17"),
        "warning: instance property `colour` is not documented for PAI_share".to_string(),
        format!("`{file}` is not valid: 3 errors, 1 warning"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in\n{err}");
    }
    assert!(!err.contains("hunter2"), "secret printed:\n{err}");
    assert!(!err.contains('\x1b'), "colour without a terminal:\n{err}");
}

#[test]
fn json_lists_every_diagnostic_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.toml", BAD.as_bytes());
    let (code, out, err) = Run::of(binary().args(["validate", "--format", "json"]).arg(&path)).into_parts();
    assert_eq!(code, Some(1));
    assert!(err.is_empty(), "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    let list = list.as_array().expect("a JSON list");
    let found: Vec<(String, u64, u64)> = list
        .iter()
        .map(|d| {
            (
                d["severity"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_u64().unwrap_or(0),
                d["column"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("error".to_string(), 3, 1),
            ("error".to_string(), 6, 8),
            ("error".to_string(), 10, 17),
            ("warning".to_string(), 11, 12),
        ]
    );
    assert_eq!(list[1]["file"], path.display().to_string());
    assert_eq!(list[1]["message"], "unknown product code `Dataworks_share`");
    assert!(list[1]["hint"]
        .as_str()
        .unwrap_or_default()
        .starts_with("did you mean `DataWorks_share`?"));
    assert_eq!(list[1]["snippet"]["text"], "code = \"Dataworks_share\"");
    assert!(!out.contains("hunter2"));

    let (code, out, _) = Run::of(
        binary()
            .args(["validate", "--format", "json"])
            .arg(examples().join("quickstart.toml")),
    )
    .into_parts();
    assert_eq!((code, out.trim()), (Some(0), "[]"));
}

#[test]
fn warnings_alone_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "w.toml",
        b"[provider]\nregion = \"cn-hangzhou\"\n\n[products.pai]\ncode = \"PAI_share\"\nproperties.colour = \"red\"\n",
    );
    let (code, out, err) = Run::of(binary().arg("validate").arg(&path)).into_parts();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning: instance property `colour`"), "{err}");
    assert!(out.contains("is valid: 1 product in 1 region (1 warning)"), "{out}");
}

#[test]
fn the_default_manifest_is_pai_provision_toml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        examples().join("quickstart.toml"),
        dir.path().join("pai-provision.toml"),
    )
    .unwrap();
    let (code, out, err) = Run::of(binary().arg("validate").current_dir(dir.path())).into_parts();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("`pai-provision.toml` is valid"), "{out}");
}

#[test]
fn unreadable_empty_binary_and_broken_files_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = Run::of(binary().arg("validate").arg(dir.path().join("missing.toml"))).into_parts();
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot read manifest") && err.contains("missing.toml"),
        "{err}"
    );

    let cases: [(&str, &[u8], &str); 3] = [
        ("empty.toml", b"", "error: the manifest is empty"),
        (
            "binary.toml",
            b"\x89PNG\r\n\x1a\n\x00\x00",
            "error: the file is not a text file",
        ),
        ("syntax.toml", b"[provider\nregion = 1\n", "error: TOML syntax error"),
    ];
    for (name, bytes, want) in cases {
        let path = write(dir.path(), name, bytes);
        let (code, _, err) = Run::of(binary().arg("validate").arg(&path)).into_parts();
        assert_eq!(code, Some(1), "{name}");
        assert!(err.contains(want), "{name}: {err}");
        assert!(err.contains(&format!("{}:1:", path.display())), "{name}: {err}");
    }
}
