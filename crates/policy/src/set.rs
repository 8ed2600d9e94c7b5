//! A policy directory: every `.rego` file of it (not `*_test.rego`, not subdirectories), parsed
//! once, then evaluated per plan.
//!
//! Files of `package main` are the policies: each is evaluated on its own, beside every file of
//! another package (libraries a policy may import), so that each message names the file whose
//! rule produced it. conftest evaluates all of `main` together; the results are the same unless
//! one file of `main` refers to a rule of another file of `main` (put such helpers in a library
//! package).

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use pai_planner::{PolicyFinding, PolicyVerdict};
use regorus::{Engine, Value};
use sha2::{Digest, Sha256};

use crate::error::position;
use crate::PolicyError;

/// The package whose rules are evaluated, conftest's default namespace.
const MAIN: &str = "data.main";

/// A parsed policy directory.
#[derive(Debug, Clone)]
pub struct PolicySet {
    digest: String,
    /// The files of `package main` (name, path), each with the engine that evaluates it. An
    /// evaluation resets the engine's state (`Engine::eval_query`), so one engine serves every
    /// plan in turn; a copy of the set (a thread's) has engines of its own.
    policies: Vec<(String, PathBuf, RefCell<Engine>)>,
}

/// One `.rego` file: its name in the directory, its path, its text, and whether it parses only
/// as Rego v0 (`deny[msg] { ... }`).
struct Source {
    name: String,
    path: PathBuf,
    text: String,
    v0: bool,
    package: String,
}

impl PolicySet {
    /// Reads and parses every policy of `dir`. A file that does not parse is an error naming
    /// its line and column.
    pub fn load(dir: &Path) -> Result<PolicySet, PolicyError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| PolicyError::Io { path, source }
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().map_err(io(&entry.path()))?.is_file()
                || std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
            if is_file && name.ends_with(".rego") && !name.ends_with("_test.rego") {
                names.push(name);
            }
        }
        names.sort();
        if names.is_empty() {
            return Err(PolicyError::Empty { dir: dir.to_owned() });
        }
        let mut sources = Vec::new();
        let mut hasher = Sha256::new();
        for name in names {
            let path = dir.join(&name);
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            // Name and length first: moving text from one file to another changes the digest.
            hasher.update(format!("{name}\0{}\0", text.len()));
            hasher.update(&text);
            sources.push(parse(name, path, text)?);
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        let (main, libraries): (Vec<_>, Vec<_>) = sources.into_iter().partition(|s| s.package == MAIN);
        if main.is_empty() {
            return Err(PolicyError::NoMain { dir: dir.to_owned() });
        }
        let mut base = Engine::new();
        for library in &libraries {
            add(&mut base, library)?;
        }
        let mut policies = Vec::new();
        for policy in &main {
            let mut engine = base.clone();
            add(&mut engine, policy)?;
            // Prepared once here (its rules scheduled), not once per plan: every evaluation
            // reuses the prepared engine. An error shows again, with its position, on evaluation.
            engine.set_input(Value::new_object());
            let _ = engine.eval_query(MAIN.to_owned(), false);
            policies.push((policy.name.clone(), policy.path.clone(), RefCell::new(engine)));
        }
        Ok(PolicySet { digest, policies })
    }

    /// `sha256:` and the hex SHA-256 of the evaluated files' names and contents, in name order.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Evaluates every policy on `input` (`docs/policy.md`), collecting the messages of its
    /// `deny`, `violation` and `warn` rules (and their `_<name>` variants), each sorted.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<PolicyVerdict, PolicyError> {
        self.evaluate_value(&Value::from(input.clone()))
    }

    /// [`PolicySet::evaluate`] on the engine's own form of the input, which `judge` builds
    /// without a `serde_json` tree in between.
    pub(crate) fn evaluate_value(&self, input: &Value) -> Result<PolicyVerdict, PolicyError> {
        let mut verdict = PolicyVerdict {
            policies_digest: self.digest.clone(),
            deny: Vec::new(),
            warn: Vec::new(),
        };
        for (name, path, engine) in &self.policies {
            let failed = |e: &dyn std::fmt::Display| {
                let text = e.to_string();
                match position(&text) {
                    Some((line, column, message)) => PolicyError::EvaluationAt {
                        path: path.clone(),
                        line,
                        column,
                        message,
                    },
                    None => PolicyError::Evaluation {
                        path: path.clone(),
                        message: text.trim().to_owned(),
                    },
                }
            };
            // Not a clone per plan: cloning the prepared engine was a good part of judging one.
            let mut engine = engine.borrow_mut();
            engine.set_input(input.clone());
            let results = engine.eval_query(MAIN.to_owned(), false).map_err(|e| failed(&e))?;
            let Some(package) = results.result.first().and_then(|r| r.expressions.first()) else {
                continue;
            };
            let Ok(rules) = package.value.as_object() else { continue };
            for (rule, value) in rules.iter() {
                let Value::String(rule) = rule else { continue };
                let into = match kind(rule) {
                    Some(Kind::Deny) => &mut verdict.deny,
                    Some(Kind::Warn) => &mut verdict.warn,
                    None => continue,
                };
                // Only the rules read cross into JSON: the helpers' values (whole sets of
                // changes, say) are never converted.
                let value = serde_json::to_value(value).map_err(|e| failed(&e))?;
                for message in messages(rule, &value) {
                    into.push(PolicyFinding {
                        file: name.clone(),
                        rule: rule.to_string(),
                        message,
                    });
                }
            }
        }
        verdict.deny.sort();
        verdict.deny.dedup();
        verdict.warn.sort();
        verdict.warn.dedup();
        Ok(verdict)
    }
}

enum Kind {
    Deny,
    Warn,
}

/// conftest's rule names: `deny`, `violation` or `warn`, alone or followed by `_<name>`.
fn kind(rule: &str) -> Option<Kind> {
    let is = |prefix: &str| {
        rule == prefix
            || rule
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|rest| !rest.is_empty())
    };
    if is("deny") || is("violation") {
        Some(Kind::Deny)
    } else if is("warn") {
        Some(Kind::Warn)
    } else {
        None
    }
}

/// The messages of a rule's value: a set of strings (or of objects with a `msg`, as conftest
/// accepts); a rule that is only `true` says its own name.
fn messages(rule: &str, value: &serde_json::Value) -> Vec<String> {
    let one = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => match o.get("msg") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => v.to_string(),
        },
        other => other.to_string(),
    };
    match value {
        serde_json::Value::Array(items) => items.iter().map(one).collect(),
        serde_json::Value::Bool(true) => vec![format!("`{rule}` is true")],
        serde_json::Value::Bool(false) | serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(_) | serde_json::Value::Object(_) => vec![one(value)],
        other => vec![other.to_string()],
    }
}

/// Parses a file as Rego v1 (the default of OPA 1 and conftest), else as Rego v0; when neither
/// parses, the v1 error is the one reported. A file that imports `rego.v1` or uses its keywords
/// is v1 only: its v1 error is the one that helps, and the engine's v0 parser would print
/// warnings about those keywords on stderr.
fn parse(name: String, path: PathBuf, text: String) -> Result<Source, PolicyError> {
    let v1_only = text.contains("rego.v1")
        || text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|word| word == "if" || word == "contains");
    let attempt = |v0: bool| {
        let mut engine = Engine::new();
        engine.set_rego_v0(v0);
        engine.add_policy(path.display().to_string(), text.clone())
    };
    let (package, v0) = match attempt(false) {
        Ok(package) => (package, false),
        Err(v1_error) if v1_only => return Err(refused(&path, &v1_error.to_string())),
        Err(v1_error) => match attempt(true) {
            Ok(package) => (package, true),
            Err(_) => return Err(refused(&path, &v1_error.to_string())),
        },
    };
    Ok(Source {
        name,
        path,
        text,
        v0,
        package,
    })
}

fn add(engine: &mut Engine, source: &Source) -> Result<(), PolicyError> {
    engine.set_rego_v0(source.v0);
    engine
        .add_policy(source.path.display().to_string(), source.text.clone())
        .map(|_| ())
        .map_err(|e| refused(&source.path, &e.to_string()))
}

fn refused(path: &Path, text: &str) -> PolicyError {
    match position(text) {
        Some((line, column, message)) => PolicyError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message,
        },
        None => PolicyError::Invalid {
            path: path.to_owned(),
            message: text.trim().to_owned(),
        },
    }
}
