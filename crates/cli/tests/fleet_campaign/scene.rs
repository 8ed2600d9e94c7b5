//! The commands of one scenario: the binary started in the scenario's work directory with the
//! scenario's global flags, its output in files of its own, logged with its duration in
//! `runs.log`, and stopped with a signal.

use std::fs::File;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::scenario::Draw;
use crate::support::{self, Workdir};

/// The per-request timeout of the CLI; `slow_after_commit` holds answers far longer.
pub const REQUEST_TIMEOUT: &str = "300ms";
/// How long a chaos apply may take before the scenario gives up on it.
pub const APPLY_DEADLINE: Duration = Duration::from_secs(120);

/// A command started by [`Scene::spawn`].
pub struct Started {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
    pub at: Instant,
}

/// The files and processes of one scenario.
pub struct Scene<'a> {
    pub work: &'a Workdir,
    pub draw: &'a Draw,
    pub fleet_path: PathBuf,
    pub commands: u64,
}

impl Scene<'_> {
    pub fn args(&self, tail: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "--lock-timeout",
            "60s",
            "--timeout",
            REQUEST_TIMEOUT,
            "--settle-time",
            &self.draw.settle_time,
            "--signature",
            self.draw.signature,
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(tail.iter().map(|s| (*s).to_owned()));
        args
    }

    pub fn fleet(&self) -> String {
        self.fleet_path.display().to_string()
    }

    /// Starts `args`, its output going to files of its own (a fleet's output can fill a pipe,
    /// and a child blocked on writing would be killed at a moment the test did not draw).
    pub fn spawn(&mut self, args: &[String]) -> Result<Started, String> {
        self.commands += 1;
        let out = self.work.path().join(format!("cmd-{:03}.out", self.commands));
        let err = self.work.path().join(format!("cmd-{:03}.err", self.commands));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = self.work.command(&refs);
        command
            .stdout(File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?)
            .stderr(File::create(&err).map_err(|e| format!("{}: {e}", err.display()))?);
        let child = command.spawn().map_err(|e| format!("start {args:?}: {e}"))?;
        Ok(Started {
            child,
            out,
            err,
            at: Instant::now(),
        })
    }

    /// Waits for a child started by [`Scene::spawn`], logs it, and returns what it did.
    pub fn finish(&self, args: &[String], started: Started) -> Result<support::Run, String> {
        let Started {
            mut child,
            out,
            err,
            at,
        } = started;
        let deadline = at + APPLY_DEADLINE;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("{args:?} did not end within {APPLY_DEADLINE:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let run = support::Run {
            code: status.code(),
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        };
        log_run(self.work, args, &run, at.elapsed());
        Ok(run)
    }

    pub fn run(&mut self, args: &[String]) -> Result<support::Run, String> {
        let started = self.spawn(args)?;
        self.finish(args, started)
    }
}

/// Appends a command's outcome to `runs.log` in the work directory.
fn log_run(work: &Workdir, args: &[String], run: &support::Run, took: Duration) {
    use std::io::Write;
    let entry = format!("=== {} (took {took:.1?})\n{}\n", args.join(" "), run.describe());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(work.path().join("runs.log"));
    if let Ok(mut file) = file {
        let _ = file.write_all(entry.as_bytes());
    }
}

/// Sends `signal` to `child` with `kill`.
pub fn send(child: &Child, signal: &str) -> Result<(), String> {
    // Its exit status is not looked at: the child may have ended on its own in between.
    std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .map(drop)
        .map_err(|e| format!("run kill: {e}"))
}
