//! The planner's modules form a one-way graph: observe, change and reconcile below diff, diff
//! below plan, plan below render (the module map in `src/lib.rs`). A cycle would creep back
//! with one `use`, so this reads the sources and refuses the paths that would close one.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A source file without its test modules, which may use anything (the fixtures build plans).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match text.find("#[cfg(test)]\nmod ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The file's lines that name one of `forbidden`, as `file:line: text`.
fn mentions(path: &Path, forbidden: &[&str]) -> Vec<String> {
    code(path)
        .lines()
        .enumerate()
        .filter(|(_, line)| forbidden.iter().any(|f| line.contains(f)))
        .map(|(i, line)| format!("{}:{}: {}", path.display(), i + 1, line.trim()))
        .collect()
}

/// `diff.rs` and `diff/*.rs` but the test files.
fn diff_files() -> Vec<PathBuf> {
    let mut files = vec![src().join("diff.rs")];
    let entries = std::fs::read_dir(src().join("diff")).unwrap_or_else(|e| panic!("src/diff: {e}"));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("src/diff: {e}")).path();
        if path.extension().is_some_and(|x| x == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn below_the_plan_nothing_uses_the_plan_or_the_renderers() {
    let mut files = diff_files();
    assert!(files.len() >= 2, "diff.rs and diff/fields.rs at least: {files:?}");
    files.extend(["change.rs", "reconcile.rs", "observe.rs"].map(|f| src().join(f)));
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| mentions(f, &["crate::plan", "crate::render", "super::plan", "super::render"]))
        .collect();
    assert_eq!(
        found,
        Vec::<String>::new(),
        "these modules must not depend on plan or render"
    );
}

#[test]
fn the_plan_does_not_use_the_renderers() {
    let found = mentions(&src().join("plan.rs"), &["crate::render"]);
    assert_eq!(found, Vec::<String>::new(), "plan must not depend on render");
}

#[test]
fn the_check_sees_a_use_it_forbids() {
    // Guards the guard: a file that does use the plan is caught.
    let render = mentions(&src().join("render/human.rs"), &["crate::plan"]);
    assert_eq!(render.len(), 1, "{render:?}");
}
