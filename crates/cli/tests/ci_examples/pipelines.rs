//! The example pipelines and the pipeline docs, read: which CI system each file is for, and the
//! shell scripts each runs (GitHub's `run:` steps, GitLab's `script:` blocks, the docs' shell
//! code blocks).

use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What kind of file a pipeline example is, which decides its schema and where its scripts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GithubWorkflow,
    GithubAction,
    GitlabCi,
}

impl Kind {
    pub fn of(path: &Path) -> Kind {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == "action.yml" || name == "action.yaml" {
            Kind::GithubAction
        } else if name.contains("github") {
            Kind::GithubWorkflow
        } else if name.contains("gitlab") {
            Kind::GitlabCi
        } else {
            panic!(
                "{}: which CI system is this for? Name the file after it (github, gitlab) so that \
                 this test knows its schema",
                path.display()
            )
        }
    }

    /// `check-jsonschema`'s built-in schema, and its other arguments.
    pub fn schema(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Kind::GithubWorkflow => ("vendor.github-workflows", &[]),
            Kind::GithubAction => ("vendor.github-actions", &[]),
            // The transform reads GitLab's `!reference` tags.
            Kind::GitlabCi => ("vendor.gitlab-ci", &["--data-transform", "gitlab-ci"]),
        }
    }
}

/// Every YAML file under `examples/ci/`, sorted.
pub fn pipelines() -> Vec<(PathBuf, Kind)> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("examples/ci/") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join("examples/ci"), &mut found);
    found.sort();
    let pipelines: Vec<_> = found.into_iter().map(|p| (p.clone(), Kind::of(&p))).collect();
    let names: Vec<String> = pipelines.iter().map(|(p, _)| short(p)).collect();
    for expected in [
        "examples/ci/github-actions.yml",
        "examples/ci/gitlab-ci.yml",
        "examples/ci/install-pai-provision/action.yml",
        "examples/ci/fleet-github-actions.yml",
        "examples/ci/fleet-gitlab-ci.yml",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} not found in {names:?}");
    }
    pipelines
}

/// A path relative to the repository, for messages.
pub fn short(path: &Path) -> String {
    let root = root().canonicalize().expect("the repository");
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    path.strip_prefix(&root).unwrap_or(&path).display().to_string()
}

/// A shell script a pipeline runs: where it is, its shell, its text as written.
#[derive(Debug)]
pub struct Script {
    pub name: String,
    pub shell: &'static str,
    pub text: String,
}

/// The scripts of a pipeline: GitHub's `run:` steps (in the shell they name, bash by default)
/// and GitLab's `before_script` + `script` (one shell, as the runner runs them) and
/// `after_script` (a shell of its own), linted as POSIX sh since the image decides the shell.
pub fn scripts(kind: Kind, doc: &Value) -> Vec<Script> {
    let mut found = Vec::new();
    fn default_shell(v: &Value) -> Option<&str> {
        v.pointer("/defaults/run/shell").and_then(Value::as_str)
    }
    let mut steps = |prefix: String, list: Option<&Value>, fallback: Option<&str>| {
        for (n, step) in list.and_then(Value::as_array).into_iter().flatten().enumerate() {
            let Some(run) = step.get("run").and_then(Value::as_str) else {
                continue;
            };
            let shell = match step.get("shell").and_then(Value::as_str).or(fallback) {
                None | Some("bash") => "bash",
                Some("sh") => "sh",
                Some(_) => continue,
            };
            let label = step.get("name").and_then(Value::as_str).unwrap_or("");
            found.push(Script {
                name: format!("{prefix}.steps[{n}] ({label})"),
                shell,
                text: run.to_owned(),
            });
        }
    };
    match kind {
        Kind::GithubWorkflow => {
            let jobs = doc.get("jobs").and_then(Value::as_object).expect("jobs:");
            for (id, job) in jobs {
                let fallback = default_shell(job).or(default_shell(doc));
                steps(format!("jobs.{id}"), job.get("steps"), fallback);
            }
        }
        Kind::GithubAction => steps("runs".to_owned(), doc.pointer("/runs/steps"), None),
        Kind::GitlabCi => {
            const NOT_JOBS: &[&str] = &[
                "default",
                "include",
                "stages",
                "variables",
                "workflow",
                "image",
                "services",
                "cache",
                "before_script",
                "after_script",
            ];
            let top = doc.as_object().expect("a mapping");
            for (id, job) in top.iter().filter(|(k, _)| !NOT_JOBS.contains(&k.as_str())) {
                let lines = |key: &str| {
                    let mut lines = Vec::new();
                    flatten(job.get(key), &mut lines);
                    lines
                };
                let main: Vec<String> = [lines("before_script"), lines("script")].concat();
                for (part, lines) in [("script", main), ("after_script", lines("after_script"))] {
                    if !lines.is_empty() {
                        found.push(Script {
                            name: format!("{id}.{part}"),
                            shell: "sh",
                            text: lines.join("\n"),
                        });
                    }
                }
            }
        }
    }
    found
}

/// GitLab's script lists, which may nest (YAML anchors of lists inside lists).
pub fn flatten(value: Option<&Value>, into: &mut Vec<String>) {
    match value {
        Some(Value::String(line)) => into.push(line.clone()),
        Some(Value::Array(items)) => items.iter().for_each(|i| flatten(Some(i), into)),
        _ => {}
    }
}

/// `${{ ... }}` GitHub expressions replaced by `with(expression)`.
pub fn replace_expressions(text: &str, with: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&with(&rest[start..start + len + 2]));
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The code blocks of the pipeline docs that are shell.
pub fn doc_scripts() -> Vec<Script> {
    let mut found = Vec::new();
    for doc in ["docs/fleet-pipeline.md", "docs/gitops.md"] {
        let text = std::fs::read_to_string(root().join(doc)).expect("the doc");
        let mut block: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            match (&mut block, line.trim_start().strip_prefix("```")) {
                (None, Some(lang)) => {
                    let shell = matches!(lang.trim(), "sh" | "bash" | "shell");
                    block = Some((if shell { n + 1 } else { 0 }, String::new()));
                }
                (Some((start, body)), Some(_)) => {
                    if *start > 0 {
                        found.push(Script {
                            name: format!("{doc}:{start}"),
                            shell: "bash",
                            text: std::mem::take(body),
                        });
                    }
                    block = None;
                }
                (Some((_, body)), None) => {
                    body.push_str(line);
                    body.push('\n');
                }
                (None, None) => {}
            }
        }
        assert!(block.is_none(), "{doc}: a code block is not closed");
    }
    found
}
