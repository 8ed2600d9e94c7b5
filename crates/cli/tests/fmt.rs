//! `pai-provision fmt`, run as a process on real files.

mod support;

use std::path::Path;

use support::{binary, write, Run};

const MESSY: &str = "[products.pai]\ncode='PAI_share' # the platform\n\n# the provider\n[provider]\nauto_pay=true\nregion='cn-hangzhou'\n";
const FORMATTED: &str = "# the provider\n[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n\n[products.pai]\ncode = \"PAI_share\" # the platform\n";

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn check_prints_a_diff_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "m.toml", MESSY);
    let (code, out, err) = Run::of(binary().args(["fmt", "--check"]).arg(&path)).into_parts();
    assert_eq!(code, Some(1), "{err}");
    let file = path.display().to_string();
    assert!(
        out.starts_with(&format!("--- {file} (current)\n+++ {file} (formatted)\n@@ ")),
        "{out}"
    );
    assert!(out.contains("\n-code='PAI_share' # the platform\n"), "{out}");
    assert!(out.contains("\n+code = \"PAI_share\" # the platform\n"), "{out}");
    assert!(err.contains("is not formatted"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), MESSY);
    assert_eq!(entries(dir.path()), ["m.toml"]);
}

#[test]
fn fmt_rewrites_in_place_keeping_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "m.toml", MESSY);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let (code, _, err) = Run::of(binary().arg("fmt").arg(&path)).into_parts();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FORMATTED);
    assert_eq!(entries(dir.path()), ["m.toml"], "a temporary file was left behind");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
    // Now formatted: --check passes silently and fmt changes nothing.
    let (code, out, err) = Run::of(binary().args(["fmt", "--check"]).arg(&path)).into_parts();
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
    let (code, _, _) = Run::of(binary().arg("fmt").arg(&path)).into_parts();
    assert_eq!(code, Some(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FORMATTED);
}

#[test]
fn an_invalid_manifest_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let source = "[provider]\nregion='cn-hangzhou'\n[products.pai]\ncode = 'PAI'\n";
    let path = write(dir.path(), "bad.toml", source);
    for args in [&["fmt"][..], &["fmt", "--check"][..]] {
        let (code, out, err) = Run::of(binary().args(args).arg(&path)).into_parts();
        assert_eq!(code, Some(1), "{args:?}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains(&format!("{}:4:8", path.display())), "{err}");
        assert!(err.contains("it was not formatted"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), source);
    }
    assert_eq!(entries(dir.path()), ["bad.toml"]);
}

#[test]
fn the_default_manifest_and_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "pai-provision.toml", MESSY);
    let (code, _, err) = Run::of(binary().arg("fmt").current_dir(dir.path())).into_parts();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("pai-provision.toml")).unwrap(),
        FORMATTED
    );
    let (code, _, err) = Run::of(binary().arg("fmt").arg(dir.path().join("nope.toml"))).into_parts();
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot read manifest") && err.contains("nope.toml"),
        "{err}"
    );
}
