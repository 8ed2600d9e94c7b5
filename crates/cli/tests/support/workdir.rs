//! A work directory and the binary run in it: [`Workdir`] (a temporary directory with a
//! manifest, a state path and the binary's own environment), [`Run`] (a finished run), and the
//! bare [`binary`] for the commands that take their files as arguments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde::Deserialize;

use super::{ACCESS_KEY_ID, ACCESS_KEY_SECRET};

/// A temporary directory with a state file and a manifest, and the environment the binary
/// runs in: nothing of this process's own, a `HOME` inside the directory (no stray aliyun CLI
/// profile), and the test's credentials.
pub struct Workdir {
    dir: tempfile::TempDir,
    pub state: PathBuf,
    pub manifest: PathBuf,
    env: BTreeMap<String, String>,
}

impl Default for Workdir {
    fn default() -> Self {
        Workdir::new()
    }
}

impl Workdir {
    pub fn new() -> Workdir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let state = dir.path().join("s.db");
        let manifest = dir.path().join("pai-provision.toml");
        let env = BTreeMap::from([
            ("HOME".to_owned(), dir.path().display().to_string()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID".to_owned(), ACCESS_KEY_ID.to_owned()),
            (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET".to_owned(),
                ACCESS_KEY_SECRET.to_owned(),
            ),
        ]);
        Workdir {
            dir,
            state,
            manifest,
            env,
        }
    }

    /// A work directory whose manifest, `pai-provision.toml`, is `text`.
    pub fn with_manifest(text: &str) -> Workdir {
        let work = Workdir::new();
        work.write_manifest(text);
        work
    }

    /// Puts the state at `relative` inside the directory instead, e.g. in a subdirectory that
    /// does not exist yet.
    pub fn state_at(mut self, relative: &str) -> Workdir {
        self.state = self.dir.path().join(relative);
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the directory (state, ledger, logs) for a post-mortem, and says where it is.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }

    /// Sets (or, with `None`, removes) a variable of the binary's environment.
    pub fn set_env(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(v) => self.env.insert(name.to_owned(), v.to_owned()),
            None => self.env.remove(name),
        };
    }

    pub fn write_manifest(&self, text: &str) {
        std::fs::write(&self.manifest, text).expect("write the manifest");
    }

    /// A file of the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `pai-provision --state <state> --no-color ARGS`, in the directory, with only the
    /// workdir's environment; output captured, no stdin (so never a terminal).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.plain_command(&[]);
        cmd.arg("--state").arg(&self.state).arg("--no-color").args(args);
        cmd
    }

    /// `pai-provision ARGS` as [`Workdir::command`] runs it, but with neither `--state` nor
    /// `--no-color`: for what the binary decides by itself (where the state is, whether to
    /// colour).
    pub fn plain_command(&self, args: &[&str]) -> Command {
        let mut cmd = binary();
        cmd.current_dir(self.dir.path()).envs(&self.env).args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(&mut self.command(args))
    }

    /// [`Workdir::run`] of [`Workdir::plain_command`].
    pub fn run_plain(&self, args: &[&str]) -> Run {
        Run::of(&mut self.plain_command(args))
    }

    /// Starts `n` copies of ARGS at once and waits for all of them.
    pub fn race(&self, n: usize, args: &[&str]) -> Vec<Run> {
        let children: Vec<Child> = (0..n)
            .map(|_| self.command(args).spawn().expect("start pai-provision"))
            .collect();
        children
            .into_iter()
            .map(|c| Run::from(c.wait_with_output().expect("wait for pai-provision")))
            .collect()
    }

    /// Runs ARGS, asserts exit 0 and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.describe());
        run.stdout
    }

    /// Runs ARGS, asserts exit 1 and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.describe());
        run.stderr
    }

    /// Runs ARGS, asserts exit 0 and returns stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let run = self.run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.describe());
        run.json()
    }

    /// `state list --format json`.
    pub fn state_list(&self) -> Vec<StateRow> {
        let stdout = self.ok(&["state", "list", "--format", "json"]);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("state list JSON: {e}: {stdout}"))
    }
}

/// `pai-provision` with an empty environment, output captured and no stdin (so never a
/// terminal): on its own for the commands that take their files as arguments (`validate`,
/// `fmt`), and under [`Workdir::command`].
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pai-provision"));
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The repository's `examples/`, the manifests the README tells a newcomer to run.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Writes `contents` to `name` in `dir`, and returns its path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write the file");
    path
}

/// A finished run of the binary.
#[derive(Debug, Clone)]
pub struct Run {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn of(cmd: &mut Command) -> Run {
        Run::from(cmd.output().expect("run pai-provision"))
    }

    /// Exit code, stdout and stderr, for tests that name them `code, out, err`.
    pub fn into_parts(self) -> (Option<i32>, String, String) {
        (self.code, self.stdout, self.stderr)
    }

    /// For assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.describe()))
    }
}

/// One row of `state list --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StateRow {
    pub address: String,
    pub region: String,
    pub product_code: String,
    pub status: String,
    pub order_id: Option<String>,
}
