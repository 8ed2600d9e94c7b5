//! Every source path the documentation names exists: `docs/architecture.md` and its siblings send
//! a newcomer to files, and a file that moved must take its mentions along.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `crates/...` paths a Markdown text names, in backticks or bare, up to the first character
/// that cannot be part of a path (a `:` starts a line number or a Rust path).
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crates/") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.')))
            .unwrap_or(tail.len());
        let path = tail[..end].trim_end_matches('.');
        // `crates/*` and the like are patterns, not paths.
        if !path.ends_with('/') && path.len() > "crates/".len() {
            found.push(path.to_owned());
        }
        rest = &tail[end..];
    }
    found
}

#[test]
fn the_docs_name_only_paths_that_exist() {
    let root = root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.push(root.join("README.md"));
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).expect("a doc");
        for path in crate_paths(&text) {
            checked += 1;
            if !root.join(&path).exists() {
                missing.push(format!("{}: {path}", doc.display()));
            }
        }
    }
    assert!(checked > 50, "only {checked} paths found: is the scan broken?");
    assert!(
        missing.is_empty(),
        "paths named in the docs that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_scan_finds_paths_in_backticks_and_prose() {
    let text = "see `crates/spec/src/keys.rs` (`KEYS`) and crates/apply/tests/executor.rs: or crates/*.";
    assert_eq!(
        crate_paths(text),
        ["crates/spec/src/keys.rs", "crates/apply/tests/executor.rs"]
    );
}
