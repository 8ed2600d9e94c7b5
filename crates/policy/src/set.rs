//! A policy directory: every `.rego` file of it (not `*_test.rego`, not subdirectories, never a
//! symbolic link: `crate::read`), parsed once, then evaluated per plan.
//!
//! Files of `package main` are the policies: each is evaluated on its own, beside every file of
//! another package (libraries a policy may import), so that each message names the file whose
//! rule produced it. conftest evaluates all of `main` together; the results are the same unless
//! one file of `main` refers to a rule of another file of `main` (put such helpers in a library
//! package).
//!
//! Evaluating here, in this process, has no limits: a command evaluates in a process of its own
//! ([`crate::Evaluator`]), which runs this same code.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pai_planner::{PolicyFinding, PolicyVerdict};
use regorus::{Engine, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::position;
use crate::PolicyError;

/// The package whose rules are evaluated, conftest's default namespace.
const MAIN: &str = "data.main";

/// A parsed policy directory.
#[derive(Debug, Clone)]
pub struct PolicySet {
    digest: String,
    /// Every file read, what an evaluating process is given ([`crate::Evaluator::start`]): it
    /// evaluates what this set read, never the directory as it may be by then.
    sources: Arc<[Source]>,
    /// The files of `package main`, each with the engine that evaluates it. An evaluation
    /// resets the engine's state (`Engine::eval_query`), so one engine serves every plan in
    /// turn; a copy of the set (a thread's) has engines of its own.
    policies: Vec<Policy>,
}

#[derive(Debug, Clone)]
struct Policy {
    name: String,
    path: PathBuf,
    engine: RefCell<Engine>,
}

/// One `.rego` file: its name in the directory, its path, its text, its package, and whether
/// it parses only as Rego v0 (`deny[msg] { ... }`).
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
    pub v0: bool,
    pub package: String,
}

/// A `deny` (or `violation`) or `warn` message of one rule of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Finding {
    pub deny: bool,
    pub rule: String,
    pub message: String,
}

impl PolicySet {
    /// Reads and parses every policy of `dir`. A file that does not parse is an error naming
    /// its line and column. No rule is evaluated: an evaluation belongs under the limits of
    /// [`crate::Evaluator`].
    pub fn load(dir: &Path) -> Result<PolicySet, PolicyError> {
        let files = crate::read::policy_files(dir)?;
        if files.is_empty() {
            return Err(PolicyError::Empty { dir: dir.to_owned() });
        }
        let mut sources = Vec::new();
        let mut hasher = Sha256::new();
        for file in files {
            // Name and length first: moving text from one file to another changes the digest.
            hasher.update(format!("{}\0{}\0", file.name, file.text.len()));
            hasher.update(&file.text);
            sources.push(parse(file.name, file.path, file.text)?);
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        PolicySet::build(dir, sources, digest)
    }

    /// The set of the files another process read and parsed ([`PolicySet::sources`]), which
    /// keeps the digest: only the findings cross back.
    pub(crate) fn from_sources(sources: Vec<Source>) -> Result<PolicySet, PolicyError> {
        PolicySet::build(Path::new(""), sources, String::new())
    }

    fn build(dir: &Path, sources: Vec<Source>, digest: String) -> Result<PolicySet, PolicyError> {
        let (main, libraries): (Vec<&Source>, Vec<&Source>) = sources.iter().partition(|s| s.package == MAIN);
        if main.is_empty() {
            return Err(PolicyError::NoMain { dir: dir.to_owned() });
        }
        let mut base = Engine::new();
        crate::builtins::remove(&mut base).map_err(|message| PolicyError::Invalid {
            path: dir.to_owned(),
            message,
        })?;
        for library in &libraries {
            add(&mut base, library)?;
        }
        let mut policies = Vec::new();
        for policy in main {
            let mut engine = base.clone();
            add(&mut engine, policy)?;
            policies.push(Policy {
                name: policy.name.clone(),
                path: policy.path.clone(),
                engine: RefCell::new(engine),
            });
        }
        Ok(PolicySet {
            digest,
            sources: sources.into(),
            policies,
        })
    }

    /// `sha256:` and the hex SHA-256 of the evaluated files' names and contents, in name order.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub(crate) fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// The name and path of each policy (a file of `package main`), in the order they are
    /// evaluated.
    pub(crate) fn policies(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.policies.iter().map(|p| (p.name.as_str(), p.path.as_path()))
    }

    /// Evaluates every policy on `input` (`docs/policy.md`), collecting the messages of its
    /// `deny`, `violation` and `warn` rules (and their `_<name>` variants), each sorted. In
    /// this process, without limits.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<PolicyVerdict, PolicyError> {
        self.evaluate_value(&Value::from(input.clone()))
    }

    /// [`PolicySet::evaluate`] on the engine's own form of the input, which `judge` builds
    /// without a `serde_json` tree in between.
    pub(crate) fn evaluate_value(&self, input: &Value) -> Result<PolicyVerdict, PolicyError> {
        let mut verdict = empty_verdict(&self.digest);
        for (index, policy) in self.policies.iter().enumerate() {
            let findings = self.evaluate_policy(index, input)?;
            add_findings(&mut verdict, &policy.name, findings);
        }
        Ok(sorted(verdict))
    }

    /// The findings of the `index`th policy on `input`.
    pub(crate) fn evaluate_policy(&self, index: usize, input: &Value) -> Result<Vec<Finding>, PolicyError> {
        let Some(policy) = self.policies.get(index) else {
            return Ok(Vec::new());
        };
        let failed = |e: &dyn std::fmt::Display| evaluation_error(&policy.path, &e.to_string());
        // Not a clone per plan: cloning the prepared engine was a good part of judging one.
        let mut engine = policy.engine.borrow_mut();
        engine.set_input(input.clone());
        let results = engine.eval_query(MAIN.to_owned(), false).map_err(|e| failed(&e))?;
        let mut findings = Vec::new();
        let Some(package) = results.result.first().and_then(|r| r.expressions.first()) else {
            return Ok(findings);
        };
        let Ok(rules) = package.value.as_object() else {
            return Ok(findings);
        };
        for (rule, value) in rules.iter() {
            let Value::String(rule) = rule else { continue };
            let deny = match kind(rule) {
                Some(Kind::Deny) => true,
                Some(Kind::Warn) => false,
                None => continue,
            };
            // Only the rules read cross into JSON: the helpers' values (whole sets of
            // changes, say) are never converted.
            let value = serde_json::to_value(value).map_err(|e| failed(&e))?;
            for message in messages(rule, &value) {
                findings.push(Finding {
                    deny,
                    rule: rule.to_string(),
                    message,
                });
            }
        }
        Ok(findings)
    }
}

/// A verdict of the policies of `digest` with no finding yet.
pub(crate) fn empty_verdict(digest: &str) -> PolicyVerdict {
    PolicyVerdict {
        policies_digest: digest.to_owned(),
        deny: Vec::new(),
        warn: Vec::new(),
    }
}

/// Adds the findings of the policy file `name` to `verdict`.
pub(crate) fn add_findings(verdict: &mut PolicyVerdict, name: &str, findings: Vec<Finding>) {
    for finding in findings {
        let into = if finding.deny {
            &mut verdict.deny
        } else {
            &mut verdict.warn
        };
        into.push(PolicyFinding {
            file: name.to_owned(),
            rule: finding.rule,
            message: finding.message,
        });
    }
}

/// The verdict as a plan carries it: each list sorted, without repeats.
pub(crate) fn sorted(mut verdict: PolicyVerdict) -> PolicyVerdict {
    verdict.deny.sort();
    verdict.deny.dedup();
    verdict.warn.sort();
    verdict.warn.dedup();
    verdict
}

/// The error of evaluating the policy at `path`, from the engine's text: at its position when
/// the engine gives one.
pub(crate) fn evaluation_error(path: &Path, text: &str) -> PolicyError {
    match position(text) {
        Some((line, column, message)) => PolicyError::EvaluationAt {
            path: path.to_owned(),
            line,
            column,
            message,
        },
        None => PolicyError::Evaluation {
            path: path.to_owned(),
            message: text.trim().to_owned(),
        },
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
