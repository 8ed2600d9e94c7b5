//! Why a policy directory could not be loaded or evaluated.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A policy file that is a symbolic link: only regular files are read, so that what is
    /// evaluated is what was reviewed in the directory.
    #[error("{}: a symbolic link; only the regular files of a policy directory are read, so that what is evaluated is what was reviewed there", path.display())]
    Symlink { path: PathBuf },
    /// A policy file that is neither a regular file nor a directory (a FIFO, a socket).
    #[error("{}: not a regular file; only the regular files of a policy directory are read", path.display())]
    NotRegular { path: PathBuf },
    /// The directory has no `.rego` file to evaluate (tests aside): a mistyped `--policy` must
    /// not pass every plan silently.
    #[error("{}: no policy (.rego file other than *_test.rego) in this directory", dir.display())]
    Empty { dir: PathBuf },
    /// No file declares `package main`, the package whose `deny` and `warn` rules are evaluated.
    #[error("{}: no policy declares `package main`, whose `deny` and `warn` rules are evaluated (conftest's layout)", dir.display())]
    NoMain { dir: PathBuf },
    /// A policy that does not parse, with the position the engine reports.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: u32,
        column: u32,
        message: String,
    },
    /// A policy the engine refuses without a position (a conflicting rule, a limit).
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// The plan could not be turned into the input document (never seen: a plan always
    /// serialises; the error is typed rather than a panic).
    #[error("building the policies' input: {message}")]
    Input { message: String },
    /// A policy failed while it was evaluated (a type error, a conflict between rule values ...).
    #[error("{}: evaluating the policy failed: {message}", path.display())]
    Evaluation { path: PathBuf, message: String },
    /// The same, where the engine names the position (an unknown function, a type error).
    #[error("{}:{line}:{column}: {message} (while evaluating the policy)", path.display())]
    EvaluationAt {
        path: PathBuf,
        line: u32,
        column: u32,
        message: String,
    },
    /// A policy's evaluation ran past the time limit; its process was stopped.
    #[error("{}: evaluating the policy took longer than {limit:?} (`--policy-timeout`), and was stopped", path.display())]
    Timeout { path: PathBuf, limit: Duration },
    /// A policy's evaluation asked for more memory than its process may use; it was stopped.
    #[error("{}: evaluating the policy would exhaust memory (its process may use {} MiB), and was stopped: {detail}", path.display(), limit >> 20)]
    Memory { path: PathBuf, limit: u64, detail: String },
    /// The evaluating process ended otherwise, during the evaluation of `path` when known.
    #[error("{}the process evaluating the policies ended unexpectedly ({status}){}", in_file(path.as_deref()), said(detail))]
    Ended {
        path: Option<PathBuf>,
        status: String,
        detail: String,
    },
    /// The evaluating process could not be started.
    #[error("starting the process that evaluates the policies ({program}): {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// The evaluating process and this one did not understand each other.
    #[error("the process evaluating the policies: {message}")]
    Worker { message: String },
}

fn in_file(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", p.display())).unwrap_or_default()
}

fn said(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// The position and message of a `regorus` parse error, whose text reads
/// `\n--> FILE:LINE:COL\n  |\n1 | source\n  |   ^\nerror: MESSAGE`.
pub(crate) fn position(text: &str) -> Option<(u32, u32, String)> {
    let located = text.lines().find_map(|l| l.trim_start().strip_prefix("--> "))?;
    let mut parts = located.rsplitn(3, ':');
    let column = parts.next()?.trim().parse().ok()?;
    let line = parts.next()?.trim().parse().ok()?;
    let message = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().last().unwrap_or(text))
        .trim()
        .to_owned();
    Some((line, column, message))
}

#[cfg(test)]
mod tests {
    use super::position;

    /// An engine message, and the line, column and message read from it.
    type Case<'a> = (&'a str, Option<(u32, u32, &'a str)>);

    #[test]
    fn positions_of_engine_messages() {
        let cases: &[Case] = &[
            (
                "\n--> policies/a.rego:3:7\n  |\n3 | deny contains\n  |       ^\nerror: expecting identifier",
                Some((3, 7, "expecting identifier")),
            ),
            (
                "\n--> C:/dir/a.rego:12:1\n   |\n12 | x\n   | ^\nerror: unexpected token",
                Some((12, 1, "unexpected token")),
            ),
            ("rule conflict in data.main.x", None),
            ("\n--> a.rego:x:1\nerror: y", None),
        ];
        for (text, want) in cases {
            let got = position(text);
            let want = want.map(|(l, c, m)| (l, c, m.to_owned()));
            assert_eq!(got, want, "{text}");
        }
    }
}
