use std::path::Path;

use super::*;

#[test]
fn a_digest_is_the_reviewed_one_or_refused_with_what_is_wrong() {
    let actual = "sha256:0123abcd";
    let table: [(&str, Option<&str>); 5] = [
        ("sha256:0123abcd", None),
        ("  sha256:0123abcd\n", None),
        ("0123abcd", Some("(the `sha256:` prefix is missing)")),
        ("sha256:ffff", Some("its digest is sha256:0123abcd, not sha256:ffff")),
        ("", Some("its digest is sha256:0123abcd, not  (--expect-digest);")),
    ];
    for (expected, refusal) in table {
        match (check_digest(actual, expected), refusal) {
            (Ok(()), None) => {}
            (Err(e), Some(words)) => assert!(e.to_string().contains(words), "{expected:?}: {e}"),
            (got, want) => panic!("{expected:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn a_pin_names_the_same_file_or_refuses_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("pai-provision.toml");
    std::fs::write(&manifest, "").unwrap();
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "").unwrap();
    let through_dot = dir.path().join(".").join("sub").join("..").join("pai-provision.toml");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let shown = |p: &Path| p.display().to_string();

    let table: [(String, &Path, bool); 5] = [
        (shown(&manifest), &manifest, true),
        (shown(&through_dot), &manifest, true),
        (shown(&other), &manifest, false),
        // Neither exists: compared as written, `./` folded.
        ("./gone/pai.toml".into(), Path::new("gone/pai.toml"), true),
        ("gone/pai.toml".into(), Path::new("gone/other.toml"), false),
    ];
    for (recorded, given, same) in table {
        match check_pin("the manifest", &recorded, given) {
            Ok(()) => assert!(same, "{recorded} ~ {}", given.display()),
            Err(e) => {
                assert!(!same, "{recorded} ~ {}: {e}", given.display());
                let text = e.to_string();
                assert!(
                    text.contains(&recorded) && text.contains(&shown(given)),
                    "names both: {text}"
                );
            }
        }
    }
}
