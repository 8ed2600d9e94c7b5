//! The example pipelines played against an insider: a colleague with push access, or anyone who
//! can comment on a pull request. Each check returns what it found wrong (empty: nothing), so
//! that the tests below can show it catching the attack it is for on a pipeline built to fall
//! for it, and `ci_examples.rs` can run it on every example:
//!
//! - an apply job takes its plan only from a job of its own run or pipeline (`needs:`) that
//!   cannot run for a pull or merge request, downloaded into a directory of its own (GitHub:
//!   under `runner.temp`; GitLab: the plan job's one artifact directory), never over the
//!   checkout it reads the manifest, the policies and the CA certificate from;
//! - it reads nothing from a comment, a note, another run or another pipeline;
//! - it passes `--expect-digest` from the plan job's output (GitHub: the job's `outputs:`;
//!   GitLab: its dotenv report), and pins what it applies: `apply PLAN --manifest M`, `fleet
//!   apply PLAN --fleet F`, the M or F that plan job planned, with the policies it planned with;
//! - it waits for an approval (GitHub: the `production` environment; GitLab: `when: manual` in
//!   the `production` environment);
//! - a review plan is judged by the base branch's policies, checked out apart, and saves no plan;
//! - the GitLab token that writes notes reaches no job that can run for a merge request;
//! - every `uses:` is pinned to a commit, and no `${{ }}` is expanded inside a `run:` script.
//!
//! GitLab jobs are read with their `extends:` merged in ([`gitlab_resolved`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::pipelines::{flatten, Kind};
use crate::shell::{self, Word};
use crate::triggers::{self, Event};

/// The top-level keys of a GitLab CI file that are not jobs.
const GITLAB_NOT_JOBS: &[&str] = &[
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

/// The commands of pai-provision: the first of a command line's words that is one of them is its
/// command (what comes before are global flags and their values).
const COMMANDS: &[&str] = &[
    "plan", "apply", "fleet", "show", "validate", "comment", "drift", "state", "refresh", "import",
];

/// A GitLab CI file with every job's `extends:` merged in, as GitLab merges it: mappings deeply,
/// anything else replaced, the job's own keys last.
pub fn gitlab_resolved(doc: &Value) -> Value {
    let Some(top) = doc.as_object() else {
        return doc.clone();
    };
    let mut out = top.clone();
    for (name, job) in top {
        if job.is_object() && !GITLAB_NOT_JOBS.contains(&name.as_str()) {
            out.insert(name.clone(), resolve_extends(top, job, 0));
        }
    }
    Value::Object(out)
}

fn resolve_extends(top: &Map<String, Value>, job: &Value, depth: usize) -> Value {
    assert!(depth < 11, "`extends:` nested deeper than GitLab allows (a loop?)");
    let parents: Vec<&str> = match job.get("extends") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut merged = Value::Object(Map::new());
    for parent in parents {
        let base = top
            .get(parent)
            .unwrap_or_else(|| panic!("`extends: {parent}`, which the file does not define"));
        deep_merge(&mut merged, &resolve_extends(top, base, depth + 1));
    }
    let mut own = job.clone();
    if let Some(own) = own.as_object_mut() {
        own.remove("extends");
    }
    deep_merge(&mut merged, &own);
    merged
}

fn deep_merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                deep_merge(into.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from.clone(),
    }
}

/// The jobs of a pipeline, by name (GitLab: `doc` resolved; hidden templates left out).
pub fn jobs(kind: Kind, doc: &Value) -> Vec<(&str, &Value)> {
    match kind {
        Kind::GithubWorkflow => doc
            .get("jobs")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, job)| (name.as_str(), job))
            .collect(),
        Kind::GitlabCi => doc
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, job)| {
                !name.starts_with('.') && !GITLAB_NOT_JOBS.contains(&name.as_str()) && job.get("script").is_some()
            })
            .map(|(name, job)| (name.as_str(), job))
            .collect(),
        Kind::GithubAction => Vec::new(),
    }
}

fn job<'a>(kind: Kind, doc: &'a Value, name: &str) -> Option<&'a Value> {
    match kind {
        Kind::GitlabCi => doc.get(name),
        _ => doc.get("jobs").and_then(|j| j.get(name)),
    }
}

/// The jobs a job `needs` (GitLab: `{job: NAME}` entries too).
fn needs(job: &Value) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(name) => Some(name.clone()),
        other => other.get("job").and_then(Value::as_str).map(str::to_owned),
    };
    match job.get("needs") {
        Some(Value::Array(many)) => many.iter().filter_map(one).collect(),
        Some(other) => one(other).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The jobs whose artifacts a GitLab job gets: those it `needs` without `artifacts: false`.
fn needs_with_artifacts(job: &Value) -> Vec<String> {
    let Some(Value::Array(many)) = job.get("needs") else {
        return needs(job);
    };
    many.iter()
        .filter(|n| n.get("artifacts").and_then(Value::as_bool) != Some(false))
        .filter_map(|n| match n {
            Value::String(name) => Some(name.clone()),
            other => other.get("job").and_then(Value::as_str).map(str::to_owned),
        })
        .collect()
}

/// A script a job runs, with what its variables are.
pub struct Script<'a> {
    pub label: String,
    pub text: String,
    /// The step's `id` (GitHub).
    pub id: Option<String>,
    /// Innermost first: the step's `env`, the job's, the workflow's (GitLab: the job's
    /// `variables`, the file's).
    scopes: Vec<&'a Map<String, Value>>,
}

impl Script<'_> {
    /// The variable resolver for this script: its own assignments, then its scopes.
    fn resolver(&self) -> Resolver<'_> {
        Resolver {
            locals: assignments(&self.text),
            scopes: &self.scopes,
        }
    }

    /// Every `pai-provision` command line of the script, its words expanded.
    pub fn calls(&self) -> Vec<Call> {
        let resolver = self.resolver();
        shell::invocations(&self.text, "pai-provision", &|name| resolver.value(name, 0))
            .into_iter()
            .filter_map(|words| Call::of(&words))
            .collect()
    }

    /// `text` (a word as written, `$NAME` and all) with the script's variables expanded.
    fn expand(&self, text: &str) -> String {
        self.resolver().expand(text, 0)
    }
}

/// The scripts of a job: GitHub's `run:` steps, GitLab's `before_script` + `script`, and its
/// `after_script`.
pub fn scripts<'a>(kind: Kind, doc: &'a Value, job: &'a Value) -> Vec<Script<'a>> {
    let object = |v: Option<&'a Value>| v.and_then(Value::as_object);
    let mut found = Vec::new();
    match kind {
        Kind::GithubWorkflow | Kind::GithubAction => {
            let steps = match kind {
                Kind::GithubAction => doc.pointer("/runs/steps"),
                _ => job.get("steps"),
            };
            for (n, step) in steps.and_then(Value::as_array).into_iter().flatten().enumerate() {
                let Some(run) = step.get("run").and_then(Value::as_str) else {
                    continue;
                };
                let scopes = [object(step.get("env")), object(job.get("env")), object(doc.get("env"))]
                    .into_iter()
                    .flatten()
                    .collect();
                found.push(Script {
                    label: format!(
                        "steps[{n}] ({})",
                        step.get("name").and_then(Value::as_str).unwrap_or("")
                    ),
                    text: run.to_owned(),
                    id: step.get("id").and_then(Value::as_str).map(str::to_owned),
                    scopes,
                });
            }
        }
        Kind::GitlabCi => {
            let scopes: Vec<_> = [object(job.get("variables")), object(doc.get("variables"))]
                .into_iter()
                .flatten()
                .collect();
            let lines = |key: &str| {
                let mut lines = Vec::new();
                flatten(job.get(key), &mut lines);
                lines
            };
            for (label, lines) in [
                ("script", [lines("before_script"), lines("script")].concat()),
                ("after_script", lines("after_script")),
            ] {
                if !lines.is_empty() {
                    found.push(Script {
                        label: label.to_owned(),
                        text: lines.join("\n"),
                        id: None,
                        scopes: scopes.clone(),
                    });
                }
            }
        }
    }
    found
}

/// The shell variables a script assigns at the start of a line (`plan="$DIR/plan.json"`), as
/// written, one layer of quotes removed; the last assignment wins.
fn assignments(script: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for line in script.lines() {
        let line = line.trim();
        let name: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let rest = &line[name.len()..];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) || !rest.starts_with('=') {
            continue;
        }
        found.insert(name, unquote(rest[1..].trim()).to_owned());
    }
    found
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

struct Resolver<'a> {
    locals: BTreeMap<String, String>,
    scopes: &'a [&'a Map<String, Value>],
}

impl Resolver<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(local) = self.locals.get(name) {
            return Some(local.clone());
        }
        self.scopes.iter().find_map(|scope| match scope.get(name)? {
            Value::String(s) => Some(s.clone()),
            // GitLab's `{value: ..., description: ...}`.
            Value::Object(o) => o.get("value").and_then(Value::as_str).map(str::to_owned),
            Value::Null => None,
            other => Some(other.to_string()),
        })
    }

    /// A variable's value, expanded in turn; `${NAME}` when the pipeline does not set it (the
    /// runner's own, a CI/CD variable, a dotenv report's).
    fn value(&self, name: &str, depth: usize) -> String {
        match self.lookup(name) {
            Some(value) if depth < 8 => self.expand(&value, depth + 1),
            _ => format!("${{{name}}}"),
        }
    }

    /// `$NAME` and `${NAME}` expanded; `${{ expression }}` and `$(...)` kept as written.
    fn expand(&self, text: &str, depth: usize) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            if rest.starts_with("{{") {
                let end = rest.find("}}").map_or(rest.len(), |e| e + 2);
                out.push('$');
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            } else if let Some(inner) = rest.strip_prefix('{') {
                let end = inner.find('}').unwrap_or(inner.len());
                let name: String = inner[..end]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push_str(&self.value(&name, depth));
                rest = &inner[(end + 1).min(inner.len())..];
            } else if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push_str(&self.value(&name, depth));
                rest = &rest[name.len()..];
            } else {
                out.push('$');
            }
        }
        out.push_str(rest);
        out
    }
}

/// One `pai-provision` command line: its command (`apply`, `fleet apply` ...) and the words
/// after it, expanded (`@LIST` for a `"$@"`-like list).
#[derive(Debug, Clone)]
pub struct Call {
    pub command: String,
    pub args: Vec<String>,
}

impl Call {
    fn of(words: &[Word]) -> Option<Call> {
        let words: Vec<String> = words
            .iter()
            .map(|w| w.text().map_or("@LIST".to_owned(), str::to_owned))
            .collect();
        let at = words.iter().position(|w| COMMANDS.contains(&w.as_str()))?;
        let (command, rest) = if words[at] == "fleet" {
            (format!("fleet {}", words.get(at + 1)?), &words[at + 2..])
        } else {
            (words[at].clone(), &words[at + 1..])
        };
        Some(Call {
            command,
            args: rest.to_vec(),
        })
    }

    pub fn applies(&self) -> bool {
        self.command == "apply" || self.command == "fleet apply"
    }

    pub fn plans(&self) -> bool {
        self.command == "plan" || self.command == "fleet plan"
    }

    /// The value of `--name V` or `--name=V`.
    pub fn flag(&self, name: &str) -> Option<&str> {
        let mut args = self.args.iter();
        while let Some(arg) = args.next() {
            if arg == name {
                return args.next().map(String::as_str);
            }
            if let Some(value) = arg.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
                return Some(value);
            }
        }
        None
    }

    /// The first argument: the manifest, fleet file or plan file.
    pub fn target(&self) -> Option<&str> {
        self.args.first().map(String::as_str).filter(|a| !a.starts_with('-'))
    }
}

/// The `pai-provision` command lines of a job, each with its script.
fn calls<'a>(kind: Kind, doc: &'a Value, job: &'a Value) -> Vec<(Script<'a>, Vec<Call>)> {
    scripts(kind, doc, job)
        .into_iter()
        .map(|s| {
            let calls = s.calls();
            (s, calls)
        })
        .collect()
}

/// The jobs that apply (`apply`, `fleet apply`).
pub fn appliers(kind: Kind, doc: &Value) -> Vec<&str> {
    jobs(kind, doc)
        .into_iter()
        .filter(|(_, job)| calls(kind, doc, job).iter().any(|(_, c)| c.iter().any(Call::applies)))
        .map(|(name, _)| name)
        .collect()
}

/// Whether a job saves a plan (`plan --out`, `fleet plan --out`).
fn saves_a_plan(kind: Kind, doc: &Value, job: &Value) -> bool {
    calls(kind, doc, job)
        .iter()
        .any(|(_, c)| c.iter().any(|c| c.plans() && c.flag("--out").is_some()))
}

/// The saving plan calls of a job.
fn plan_calls(kind: Kind, doc: &Value, job: &Value) -> Vec<Call> {
    calls(kind, doc, job)
        .into_iter()
        .flat_map(|(_, c)| c)
        .filter(|c| c.plans() && c.flag("--out").is_some())
        .collect()
}

/// The jobs that could run for `event`.
fn running(kind: Kind, doc: &Value, event: Event) -> Vec<String> {
    match kind {
        Kind::GithubWorkflow => triggers::github_jobs(doc, event),
        Kind::GitlabCi => triggers::gitlab_jobs(doc, event),
        Kind::GithubAction => Vec::new(),
    }
}

/// The jobs an apply job needs that save a plan: where its plan may come from.
fn planners<'a>(kind: Kind, doc: &'a Value, apply: &Value) -> Vec<(String, &'a Value)> {
    needs(apply)
        .into_iter()
        .filter_map(|name| {
            let job = job(kind, doc, &name)?;
            saves_a_plan(kind, doc, job).then_some((name, job))
        })
        .collect()
}

/// `${{ runner.temp }}/x` as a script sees it once expanded: `${RUNNER_TEMP}/x`.
fn runner_temp_path(path: &str) -> Option<String> {
    let rest = path.trim().strip_prefix("${{")?;
    let (inner, rest) = rest.split_once("}}")?;
    (inner.trim() == "runner.temp").then(|| format!("${{RUNNER_TEMP}}{rest}"))
}

/// An apply job takes its plan only from a job of its own run (`needs:`) that saves one and
/// cannot run for a pull or merge request, downloaded into a directory of its own, and applies
/// the plan file from there.
pub fn plans_come_from_the_same_run(kind: Kind, doc: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    let review = running(kind, doc, Event::Review);
    for name in appliers(kind, doc) {
        let apply = job(kind, doc, name).expect("a job");
        let planners = planners(kind, doc, apply);
        if planners.is_empty() {
            failures.push(format!(
                "{name}: applies a plan made by no job it `needs` in its own run or pipeline (needs: {:?}): \
                 a plan from anywhere else is one nobody can tell was made from the merged commit",
                needs(apply)
            ));
            continue;
        }
        for (planner, _) in &planners {
            if review.contains(planner) {
                failures.push(format!(
                    "{name}: applies the plan of `{planner}`, which runs for pull or merge requests: \
                     a plan made by a branch's code, which nobody had to approve"
                ));
            }
        }
        // Where the plan files are: directories nothing else writes into.
        let mut dirs: Vec<String> = Vec::new();
        match kind {
            Kind::GithubWorkflow => {
                let uploads: Vec<&str> = planners
                    .iter()
                    .flat_map(|(_, p)| p.get("steps").and_then(Value::as_array).into_iter().flatten())
                    .filter(|s| uses(s).starts_with("actions/upload-artifact@"))
                    .filter_map(|s| s.pointer("/with/name").and_then(Value::as_str))
                    .collect();
                let downloads: Vec<&Value> = apply
                    .get("steps")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|s| uses(s).starts_with("actions/download-artifact@"))
                    .collect();
                if downloads.is_empty() {
                    failures.push(format!("{name}: downloads no plan from the job that made it"));
                }
                for step in downloads {
                    let with = step.get("with").cloned().unwrap_or(Value::Null);
                    for key in ["run-id", "github-token", "repository"] {
                        if with.get(key).is_some() {
                            failures.push(format!(
                                "{name}: downloads an artifact with `{key}:`, from another run or repository"
                            ));
                        }
                    }
                    let artifact = with.get("name").and_then(Value::as_str).unwrap_or("");
                    if !uploads.contains(&artifact) {
                        failures.push(format!(
                            "{name}: downloads the artifact {artifact:?}, which no job it needs uploads ({uploads:?})"
                        ));
                    }
                    match with.get("path").and_then(Value::as_str).and_then(runner_temp_path) {
                        Some(dir) => dirs.push(dir),
                        None => failures.push(format!(
                            "{name}: downloads {artifact:?} into {:?}, not a directory of its own under \
                             ${{{{ runner.temp }}}}: unpacked over the checkout, a forged artifact could \
                             replace the manifest, the policies, the fleet file or the CA certificate",
                            with.get("path")
                        )),
                    }
                }
            }
            Kind::GitlabCi => {
                if let Some(deps) = apply.get("dependencies").and_then(Value::as_array) {
                    for dep in deps.iter().filter_map(Value::as_str) {
                        if !planners.iter().any(|(p, _)| p == dep) {
                            failures.push(format!(
                                "{name}: takes the artifacts of `{dep}`, which is not its plan job"
                            ));
                        }
                    }
                }
                let checkout: Vec<String> = ["MANIFEST", "POLICIES", "FLEET", "PGSSLROOTCERT"]
                    .iter()
                    .filter_map(|v| doc.pointer(&format!("/variables/{v}")).and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect();
                for needed in needs_with_artifacts(apply) {
                    let Some(other) = job(kind, doc, &needed) else {
                        continue;
                    };
                    let mut paths = Vec::new();
                    flatten(other.pointer("/artifacts/paths"), &mut paths);
                    for path in paths {
                        let dir = path.trim_end_matches('/').split('/').next().unwrap_or("").to_owned();
                        let own = !dir.is_empty()
                            && dir != "."
                            && !dir.contains(['*', '$'])
                            && path.contains('/')
                            && !checkout.iter().any(|c| c.split('/').next() == Some(dir.as_str()));
                        if !own {
                            failures.push(format!(
                                "{name}: takes the artifact path {path:?} of `{needed}`, which is not in a \
                                 directory of its own: unpacked into the checkout, it could replace the \
                                 manifest, the policies, the fleet file or the CA certificate ({checkout:?})"
                            ));
                        } else if planners.iter().any(|(p, _)| *p == needed) {
                            dirs.push(dir);
                        }
                    }
                }
            }
            Kind::GithubAction => {}
        }
        for (script, calls) in calls(kind, doc, apply) {
            for call in calls.iter().filter(|c| c.applies()) {
                let target = call.target().unwrap_or("");
                let plan = runner_temp_path(target).unwrap_or_else(|| target.to_owned());
                let inside = dirs
                    .iter()
                    .any(|d| plan.strip_prefix(d.as_str()).is_some_and(|rest| rest.starts_with('/')));
                if !inside || plan.contains("..") {
                    failures.push(format!(
                        "{name} {}: `{}` applies {plan:?}, not a file of the plan job's own directory ({dirs:?})",
                        script.label, call.command
                    ));
                }
            }
        }
    }
    failures
}

fn uses(step: &Value) -> &str {
    step.get("uses").and_then(Value::as_str).unwrap_or("")
}

/// What an apply job must never read: comments and notes (which anyone who can comment, or any
/// workflow of the repository, can write), another run's or pipeline's artifacts, the forge's
/// API (and the tokens that reach it).
const OUTSIDE_SOURCES: &[&str] = &[
    "gh run",
    "gh api",
    "gh pr",
    "/comments",
    "/notes",
    "merge_requests",
    "/pipelines",
    "/artifacts",
    "run-id",
    "github-token",
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "github.token",
    "PAI_GITLAB_API_TOKEN",
    "CI_JOB_TOKEN",
    "CI_API_V4_URL",
];

/// An apply job reads no comment, note, other run or other pipeline, and holds no token of the
/// forge's API that could.
pub fn applies_read_nothing_else(kind: Kind, doc: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    for name in appliers(kind, doc) {
        let text = serde_json::to_string(job(kind, doc, name).expect("a job")).unwrap_or_default();
        for source in OUTSIDE_SOURCES {
            if text.contains(source) {
                failures.push(format!(
                    "{name}: mentions `{source}`: an apply job reads its plan and digest from its own \
                     plan job only, never from a comment, a note, another run or the forge's API"
                ));
            }
        }
    }
    failures
}

/// Every apply passes `--expect-digest` from its plan job's output, pins the manifest or fleet
/// file that job planned (`--manifest`, `--fleet`), and judges with the policies it planned with.
pub fn applies_bind_the_plan(kind: Kind, doc: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    for name in appliers(kind, doc) {
        let apply = job(kind, doc, name).expect("a job");
        let planners = planners(kind, doc, apply);
        for (script, calls) in calls(kind, doc, apply) {
            for call in calls.iter().filter(|c| c.applies()) {
                let at = format!("{name} {}: `{}`", script.label, call.command);
                match call.flag("--expect-digest") {
                    None => failures.push(format!(
                        "{at} has no --expect-digest: any plan file that reaches the job would do"
                    )),
                    Some(digest) => {
                        if !planners
                            .iter()
                            .any(|(p, pj)| digest_comes_from(kind, doc, p, pj, digest))
                        {
                            failures.push(format!(
                                "{at} --expect-digest {digest:?}: not the output of its plan job ({:?}): \
                                 the digest must come from the job that made the plan, not from a \
                                 comment, a note or anything a branch can write",
                                planners.iter().map(|(p, _)| p).collect::<Vec<_>>()
                            ));
                        }
                    }
                }
                let (pin, planned_command) = match call.command.as_str() {
                    "fleet apply" => ("--fleet", "fleet plan"),
                    _ => ("--manifest", "plan"),
                };
                let planned: Vec<Call> = planners
                    .iter()
                    .flat_map(|(_, pj)| plan_calls(kind, doc, pj))
                    .filter(|c| c.command == planned_command)
                    .collect();
                let targets: Vec<&str> = planned.iter().filter_map(Call::target).collect();
                match call.flag(pin) {
                    Some(file) if !targets.is_empty() && targets.iter().all(|t| *t == file) => {}
                    Some(file) => failures.push(format!(
                        "{at} {pin} {file:?}: not what its plan job planned ({targets:?})"
                    )),
                    None => failures.push(format!(
                        "{at} has no {pin}: a plan made from another {} would be applied",
                        if pin == "--fleet" { "fleet file" } else { "manifest" }
                    )),
                }
                let policies: Vec<&str> = planned.iter().filter_map(|c| c.flag("--policy")).collect();
                if policies.is_empty() {
                    failures.push(format!("{at}: its plan job judges the plan by no policy (--policy)"));
                }
                match call.flag("--policy") {
                    Some(dir) if policies.iter().all(|p| *p == dir) => {}
                    other => failures.push(format!(
                        "{at} --policy {other:?}: not the policies its plan job judged the plan by ({policies:?})"
                    )),
                }
            }
        }
    }
    failures
}

/// Whether `digest` (an argument, expanded) is the output of the plan job `planner`: GitHub, a
/// `needs.PLANNER.outputs` value that one of its steps wrote to `$GITHUB_OUTPUT` after saving a
/// plan; GitLab, a `*DIGEST*` variable of the job's dotenv report.
fn digest_comes_from(kind: Kind, doc: &Value, planner: &str, job: &Value, digest: &str) -> bool {
    match kind {
        Kind::GithubWorkflow => {
            let Some(inner) = digest
                .trim()
                .strip_prefix("${{")
                .and_then(|e| e.strip_suffix("}}"))
                .map(str::trim)
            else {
                return false;
            };
            if !inner.starts_with(&format!("needs.{planner}.outputs")) {
                return false;
            }
            // The job's outputs come from a step that saved the plan and wrote the output.
            let writers: Vec<String> = scripts(kind, doc, job)
                .into_iter()
                .filter(|s| {
                    s.text.contains("GITHUB_OUTPUT")
                        && s.text.contains(".digest")
                        && s.calls().iter().any(|c| c.plans() && c.flag("--out").is_some())
                })
                .filter_map(|s| s.id)
                .collect();
            job.get("outputs").and_then(Value::as_object).is_some_and(|outputs| {
                outputs.values().filter_map(Value::as_str).any(|v| {
                    writers
                        .iter()
                        .any(|id| v.replace(' ', "").contains(&format!("steps.{id}.outputs.")))
                })
            })
        }
        Kind::GitlabCi => dotenv_digests(kind, doc, job)
            .iter()
            .any(|name| digest.contains(&format!("${{{name}")) || digest.contains(&format!("\"{name}"))),
        Kind::GithubAction => false,
    }
}

/// The names of the digest variables a GitLab job writes to its dotenv report (a per-shard
/// suffix, `_$CI_NODE_INDEX`, left out), when it reads them from the plan it saved.
fn dotenv_digests(kind: Kind, doc: &Value, job: &Value) -> Vec<String> {
    let Some(report) = job.pointer("/artifacts/reports/dotenv").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for script in scripts(kind, doc, job) {
        if !script.text.contains(".digest") {
            continue;
        }
        for line in script.text.lines().filter(|l| l.contains(report.as_str())) {
            // `printf 'NAME=%s\n'`, `echo "NAME_$CI_NODE_INDEX=..."`: the word before each `=`.
            for (at, _) in line.match_indices('=') {
                let before: String = line[..at]
                    .chars()
                    .rev()
                    .take_while(|c| c.is_ascii_alphanumeric() || "_${}%".contains(*c))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let name = before.split(['$', '%']).next().unwrap_or("").trim_end_matches('_');
                if name.contains("DIGEST")
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names
}

/// Every apply job waits for a person: GitHub, the `production` environment (its required
/// reviewers); GitLab, `when: manual` in the protected `production` environment.
pub fn applies_wait_for_approval(kind: Kind, doc: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    for name in appliers(kind, doc) {
        let apply = job(kind, doc, name).expect("a job");
        let environment = match apply.get("environment") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(other) => other.get("name").and_then(Value::as_str),
            None => None,
        };
        if environment != Some("production") {
            failures.push(format!(
                "{name}: applies outside the `production` environment ({environment:?}), whose approval \
                 is what stands between a merge and an order"
            ));
        }
        if kind == Kind::GitlabCi {
            let when = triggers::gitlab_when(apply, Event::Merge);
            if when.as_deref() != Some("manual") {
                failures.push(format!(
                    "{name}: runs by itself after a merge (when: {when:?}); it must be `when: manual`, \
                     started by someone allowed to deploy to `production`"
                ));
            }
        }
    }
    failures
}

/// A plan made for a pull or merge request is judged by the base branch's policies, checked out
/// apart (a change to a policy takes effect once merged, not in the branch that makes it), and
/// saves no plan file.
pub fn reviews_use_the_base_policies(kind: Kind, doc: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    for name in running(kind, doc, Event::Review) {
        let review = job(kind, doc, &name).expect("a job");
        let bases: Vec<String> = match kind {
            Kind::GithubWorkflow => review
                .get("steps")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|s| uses(s).starts_with("actions/checkout@"))
                .filter(|s| {
                    s.pointer("/with/ref")
                        .and_then(Value::as_str)
                        .is_some_and(|r| r.contains("github.event.pull_request.base.sha"))
                })
                .filter_map(|s| s.pointer("/with/path").and_then(Value::as_str))
                .map(|p| p.trim_end_matches('/').to_owned())
                .collect(),
            _ => Vec::new(),
        };
        for (script, calls) in calls(kind, doc, review) {
            let gitlab_base = |dir: &str| {
                let fetches = script.text.lines().any(|l| {
                    l.contains("git fetch")
                        && (l.contains("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
                            || l.contains("CI_MERGE_REQUEST_DIFF_BASE_SHA"))
                });
                // Unpacked into the directory (`tar -x -C DIR`, `git worktree add DIR`), not
                // merely naming it.
                let unpacks = script.text.lines().any(|l| {
                    let l = script.expand(l);
                    l.contains("FETCH_HEAD")
                        && [
                            format!("-C {dir}"),
                            format!("--directory={dir}"),
                            format!("worktree add {dir}"),
                        ]
                        .iter()
                        .any(|into| {
                            l.split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                                .contains(into.as_str())
                        })
                });
                fetches && unpacks
            };
            for call in calls.iter().filter(|c| c.plans()) {
                let at = format!("{name} {}: `{}`", script.label, call.command);
                if call.flag("--out").is_some() {
                    failures.push(format!(
                        "{at} --out: a review plan saves no plan file: nothing a pull or merge request \
                         makes may look like a plan to apply"
                    ));
                }
                let Some(policy) = call.flag("--policy") else {
                    failures.push(format!("{at}: judged by no policy (--policy of the base branch)"));
                    continue;
                };
                let dir = policy.split('/').next().unwrap_or("");
                let from_base = match kind {
                    Kind::GithubWorkflow => bases.iter().any(|b| b == dir),
                    _ => !dir.is_empty() && policy.contains('/') && gitlab_base(dir),
                };
                if !from_base {
                    failures.push(format!(
                        "{at} --policy {policy:?}: not the base branch's policies, checked out apart: the \
                         branch under review would be judged by the policies it brings"
                    ));
                }
            }
        }
    }
    failures
}

/// How many `plan` / `fleet plan` command lines run for pull or merge requests.
pub fn review_plans(kind: Kind, doc: &Value) -> usize {
    running(kind, doc, Event::Review)
        .iter()
        .filter_map(|name| job(kind, doc, name))
        .flat_map(|j| calls(kind, doc, j))
        .flat_map(|(_, c)| c)
        .filter(Call::plans)
        .count()
}

/// The GitLab token that writes notes and issues (`PAI_GITLAB_API_TOKEN`, which GitLab hands to
/// every job that may read it) is protected, and no job that can run for a merge request, whose
/// code its author wrote, uses it or a command that needs it.
pub fn note_token_is_out_of_review_reach(doc: &Value, raw: &str) -> Vec<String> {
    let kind = Kind::GitlabCi;
    let mut failures = Vec::new();
    let mut users = 0;
    for (name, job) in jobs(kind, doc) {
        let text = serde_json::to_string(job).unwrap_or_default();
        let forge_calls: Vec<String> = calls(kind, doc, job)
            .into_iter()
            .flat_map(|(_, c)| c)
            .filter(|c| c.command == "comment" || c.command == "drift")
            .map(|c| c.command)
            .collect();
        if !text.contains("PAI_GITLAB_API_TOKEN") && forge_calls.is_empty() {
            continue;
        }
        users += 1;
        if running(kind, doc, Event::Review).iter().any(|r| r == name) {
            failures.push(format!(
                "{name}: uses the note token (PAI_GITLAB_API_TOKEN{}) and runs for merge requests: \
                 their author's code would hold a token that writes any note, as \"the bot\"",
                if forge_calls.is_empty() {
                    String::new()
                } else {
                    format!(", through `pai-provision {}`", forge_calls.join("`, `"))
                }
            ));
        }
    }
    // Its line in the list of the variables the pipeline needs: `#   PAI_GITLAB_API_TOKEN  ...`.
    let documented = raw.lines().find(|l| {
        l.trim_start()
            .strip_prefix('#')
            .is_some_and(|c| c.split_whitespace().next() == Some("PAI_GITLAB_API_TOKEN"))
    });
    match documented {
        Some(line) if line.contains("protected") => {}
        _ if users == 0 => {}
        other => failures.push(format!(
            "the variables the pipeline needs do not declare PAI_GITLAB_API_TOKEN protected ({other:?}): \
             unprotected, a merge request's own jobs can read it"
        )),
    }
    failures
}

/// Every `uses:` is a local action or pinned to a full commit SHA, with its version in a comment
/// (`actions/checkout@<40 hex> # v4.2.2`): a tag can be moved to other code.
pub fn uses_are_pinned(raw: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for (n, line) in raw.lines().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
        let Some(value) = trimmed.strip_prefix("uses:") else {
            continue;
        };
        let (reference, comment) = match value.split_once(" #") {
            Some((r, c)) => (r.trim(), c.trim()),
            None => (value.trim(), ""),
        };
        let reference = unquote(reference);
        if reference.starts_with("./") {
            continue;
        }
        let pinned = reference.split_once('@').is_some_and(|(action, sha)| {
            !action.is_empty() && sha.len() == 40 && sha.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
        if !pinned {
            failures.push(format!(
                "line {}: `uses: {reference}` is not pinned to a full commit SHA",
                n + 1
            ));
        } else if !comment.starts_with('v') {
            failures.push(format!(
                "line {}: `uses: {reference}` does not say which version the SHA is (`# vX.Y.Z`)",
                n + 1
            ));
        }
    }
    failures
}

/// Every `cargo install` builds one commit (`--rev` and 40 hex digits, or a value the workflow
/// passes in) with `--locked`: a tag or a branch can be moved to other code, which the apply job
/// would then build and run with the role that orders.
pub fn installs_are_pinned(kind: Kind, doc: &Value) -> Vec<String> {
    let mut all: Vec<(String, Script)> = Vec::new();
    match kind {
        Kind::GithubAction => {
            static NO_JOB: Value = Value::Null;
            all.extend(scripts(kind, doc, &NO_JOB).into_iter().map(|s| ("runs".to_owned(), s)));
        }
        _ => {
            for (name, job) in jobs(kind, doc) {
                all.extend(scripts(kind, doc, job).into_iter().map(|s| (name.to_owned(), s)));
            }
        }
    }
    let mut failures = Vec::new();
    for (name, script) in &all {
        let resolver = script.resolver();
        for words in shell::invocations(&script.text, "cargo", &|n| resolver.value(n, 0)) {
            let words: Vec<&str> = words.iter().filter_map(Word::text).collect();
            if words.first() != Some(&"install") {
                continue;
            }
            let at = format!("{name} {}: `cargo {}`", script.label, words.join(" "));
            let call = Call {
                command: "install".to_owned(),
                args: words[1..].iter().map(|w| (*w).to_owned()).collect(),
            };
            for moving in ["--tag", "--branch"] {
                if call.flag(moving).is_some() {
                    failures.push(format!("{at}: builds a {moving}, which can be moved to other code"));
                }
            }
            if !words.contains(&"--locked") {
                failures.push(format!(
                    "{at}: without --locked, the dependencies are whatever resolves today"
                ));
            }
            match call.flag("--rev") {
                Some(rev) if rev.starts_with("${{") => {}
                Some(rev) if rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()) => {}
                other => failures.push(format!("{at}: --rev {other:?} is not a full commit SHA")),
            }
        }
    }
    failures
}

/// No `${{ }}` is expanded inside a `run:` script, where a value with a quote or `$(...)` in it
/// becomes code: values reach scripts through `env:`.
pub fn no_expression_in_run(kind: Kind, doc: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    let mut check = |at: String, step: &Value| {
        if let Some(run) = step.get("run").and_then(Value::as_str) {
            if let Some(start) = run.find("${{") {
                let end = run[start..].find("}}").map_or(run.len(), |e| start + e + 2);
                failures.push(format!(
                    "{at}: `{}` is expanded inside the script; pass it through `env:`",
                    &run[start..end]
                ));
            }
        }
    };
    match kind {
        Kind::GithubWorkflow => {
            for (name, job) in jobs(kind, doc) {
                for (n, step) in job
                    .get("steps")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    check(format!("{name}.steps[{n}]"), step);
                }
            }
        }
        Kind::GithubAction => {
            for (n, step) in doc
                .pointer("/runs/steps")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                check(format!("runs.steps[{n}]"), step);
            }
        }
        Kind::GitlabCi => {}
    }
    failures
}

#[cfg(test)]
mod tests {
    //! Each check on a pipeline built as an insider would like it, the way the examples were
    //! before issue 20: the attack is caught, and the pipeline that resists it passes.

    use super::*;
    use serde_json::json;

    const SHA: &str = "11bd71901bbe5b1630ceea73d27597364c9af683";

    /// A GitHub workflow: the pull request plans and comments; after the merge, the apply job
    /// picks the newest pull request run at the head commit and reads the digest from the bot's
    /// comment.
    fn github_as_it_was() -> Value {
        json!({
            "env": {"MANIFEST": "infra/pai-provision.toml", "POLICIES": "infra/policies"},
            "jobs": {
                "plan": {
                    "if": "github.event_name == 'pull_request'",
                    "steps": [
                        {"uses": "actions/checkout@v4"},
                        {"id": "plan", "run": "pai-provision plan \"$MANIFEST\" --policy \"$POLICIES\" --out plan.json --format markdown > plan.md\necho \"digest=$(jq -r .digest plan.json)\" >> \"$GITHUB_OUTPUT\""},
                        {"uses": "actions/upload-artifact@v4", "with": {"name": "pai-plan", "path": "plan.json"}},
                        {"run": "pai-provision comment plan.md --key \"$MANIFEST\" --artifact-url ${{ github.server_url }}"}
                    ]
                },
                "apply": {
                    "if": "github.event_name == 'push'",
                    "environment": "production",
                    "steps": [
                        {"uses": "actions/checkout@v4"},
                        {"id": "reviewed", "env": {"GH_TOKEN": "${{ github.token }}"},
                         "run": "run=$(gh run list --workflow pai-provision.yml --event pull_request --commit \"$head\" --limit 1)"},
                        {"uses": "actions/download-artifact@v4",
                         "with": {"name": "pai-plan", "run-id": "${{ steps.reviewed.outputs.run }}", "github-token": "${{ github.token }}"}},
                        {"env": {"GH_TOKEN": "${{ github.token }}"},
                         "run": "digest=$(gh api \"repos/$GITHUB_REPOSITORY/issues/$PR/comments\" | sed -n 's/^Plan digest: //p')\npai-provision --lock-timeout 10m apply plan.json --expect-digest \"$digest\" --policy \"$POLICIES\""}
                    ]
                }
            }
        })
    }

    /// The same workflow as the examples now have it.
    fn github_as_it_is() -> Value {
        json!({
            "env": {"MANIFEST": "infra/pai-provision.toml", "POLICIES": "infra/policies"},
            "jobs": {
                "review": {
                    "if": "github.event_name == 'pull_request'",
                    "steps": [
                        {"uses": format!("actions/checkout@{SHA}")},
                        {"uses": format!("actions/checkout@{SHA}"),
                         "with": {"ref": "${{ github.event.pull_request.base.sha }}", "path": "base"}},
                        {"run": "pai-provision plan \"$MANIFEST\" --policy \"base/$POLICIES\" --format markdown > plan.md"},
                        {"env": {"GITHUB_TOKEN": "${{ github.token }}"}, "run": "pai-provision comment plan.md --key \"$MANIFEST\""}
                    ]
                },
                "plan": {
                    "if": "github.event_name == 'push'",
                    "outputs": {"digest": "${{ steps.plan.outputs.digest }}"},
                    "steps": [
                        {"id": "plan", "run": "dir=\"$RUNNER_TEMP/pai-plan\"\npai-provision plan \"$MANIFEST\" --policy \"$POLICIES\" --out \"$dir/plan.json\"\necho \"digest=$(jq -r .digest \"$dir/plan.json\")\" >> \"$GITHUB_OUTPUT\""},
                        {"uses": format!("actions/upload-artifact@{SHA}"), "with": {"name": "pai-plan", "path": "${{ runner.temp }}/pai-plan/plan.json"}}
                    ]
                },
                "apply": {
                    "needs": "plan",
                    "if": "github.event_name == 'push'",
                    "environment": {"name": "production"},
                    "steps": [
                        {"uses": format!("actions/download-artifact@{SHA}"),
                         "with": {"name": "pai-plan", "path": "${{ runner.temp }}/pai-plan"}},
                        {"env": {"DIGEST": "${{ needs.plan.outputs.digest }}"},
                         "run": "plan=\"$RUNNER_TEMP/pai-plan/plan.json\"\npai-provision --lock-timeout 10m apply \"$plan\" --manifest \"$MANIFEST\" --expect-digest \"$DIGEST\" --policy \"$POLICIES\""}
                    ]
                }
            }
        })
    }

    /// A GitLab pipeline: the merge request plans and posts the note with the API token; after
    /// the merge, the apply job fetches the merge request pipeline's plan and reads the digest
    /// from the note.
    fn gitlab_as_it_was() -> Value {
        json!({
            "variables": {"MANIFEST": "infra/pai-provision.toml", "POLICIES": "infra/policies"},
            ".tool": {"before_script": ["pai-provision --version"]},
            "plan": {
                "extends": ".tool",
                "rules": [{"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\""}],
                "script": ["pai-provision plan \"$MANIFEST\" --policy \"$POLICIES\" --out plan.json --format markdown > plan.md",
                           "pai-provision comment plan.md --key \"$MANIFEST\""],
                "artifacts": {"paths": ["plan.json", "plan.md"]}
            },
            "apply": {
                "extends": ".tool",
                "rules": [{"if": "$CI_PIPELINE_SOURCE == \"schedule\"", "when": "never"},
                          {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}],
                "environment": {"name": "production"},
                "script": [
                    "'auth=\"PRIVATE-TOKEN: $PAI_GITLAB_API_TOKEN\"'",
                    "curl -sSf --header \"$auth\" --output plan.json \"$CI_API_V4_URL/projects/1/jobs/$job/artifacts/plan.json\"",
                    "digest=$(curl -sSf --header \"$auth\" \"$api/merge_requests/$mr/notes\" | sed -n 's/^Plan digest: //p')",
                    "pai-provision --lock-timeout 10m apply plan.json --expect-digest \"$digest\" --policy \"$POLICIES\""
                ]
            }
        })
    }

    fn gitlab_as_it_is() -> Value {
        json!({
            "variables": {"MANIFEST": "infra/pai-provision.toml", "POLICIES": "infra/policies"},
            ".tool": {"before_script": ["pai-provision --version"]},
            "review": {
                "extends": ".tool",
                "rules": [{"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\""}],
                "script": [
                    "git fetch --depth 1 origin \"$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\"",
                    "mkdir -p pai-base && git archive FETCH_HEAD \"$POLICIES\" | tar -x -C pai-base",
                    "pai-provision plan \"$MANIFEST\" --policy \"pai-base/$POLICIES\" --format markdown > pai-review/plan.md"
                ],
                "artifacts": {"paths": ["pai-review/plan.md"], "expose_as": "plan"}
            },
            "plan": {
                "extends": ".tool",
                "rules": [{"if": "$CI_PIPELINE_SOURCE == \"push\" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}],
                "script": [
                    "pai-provision plan \"$MANIFEST\" --policy \"$POLICIES\" --out pai-plan/plan.json",
                    "printf 'PAI_PLAN_DIGEST=%s\\n' \"$(jq -r .digest pai-plan/plan.json)\" > pai-plan.env"
                ],
                "artifacts": {"paths": ["pai-plan/"], "reports": {"dotenv": "pai-plan.env"}}
            },
            "apply": {
                "extends": ".tool",
                "needs": [{"job": "plan", "artifacts": true}],
                "rules": [{"if": "$CI_PIPELINE_SOURCE == \"push\" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "when": "manual"}],
                "environment": {"name": "production"},
                "script": ["pai-provision --lock-timeout 10m apply pai-plan/plan.json --manifest \"$MANIFEST\" --expect-digest \"$PAI_PLAN_DIGEST\" --policy \"$POLICIES\""]
            },
            "drift": {
                "extends": ".tool",
                "rules": [{"if": "$CI_PIPELINE_SOURCE == \"schedule\""}],
                "script": ["pai-provision plan \"$MANIFEST\" --out drift/plan.json", "pai-provision drift drift/plan.json --key \"$MANIFEST\""]
            }
        })
    }

    fn all(kind: Kind, doc: &Value, raw: &str) -> Vec<String> {
        let doc = match kind {
            Kind::GitlabCi => gitlab_resolved(doc),
            _ => doc.clone(),
        };
        let mut found = [
            plans_come_from_the_same_run(kind, &doc),
            applies_read_nothing_else(kind, &doc),
            applies_bind_the_plan(kind, &doc),
            applies_wait_for_approval(kind, &doc),
            reviews_use_the_base_policies(kind, &doc),
            no_expression_in_run(kind, &doc),
        ]
        .concat();
        if kind == Kind::GitlabCi {
            found.extend(note_token_is_out_of_review_reach(&doc, raw));
        }
        found
    }

    fn has(found: &[String], what: &str) {
        assert!(
            found.iter().any(|f| f.contains(what)),
            "nothing said {what:?} in:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn the_github_apply_of_old_falls_to_every_insider_attack() {
        let found = all(Kind::GithubWorkflow, &github_as_it_was(), "");
        // The plan from the newest pull request run at the head commit.
        has(&found, "apply: applies a plan made by no job it `needs`");
        // Read from comments and other runs.
        has(&found, "mentions `gh run`");
        has(&found, "mentions `/comments`");
        has(&found, "mentions `run-id`");
        // No pin, and the review plan judged by its own branch's policies, saved for apply.
        has(&found, "has no --manifest");
        has(&found, "plan steps[1] (): `plan` --out");
        has(&found, "--policy \"infra/policies\": not the base branch's policies");
        has(&found, "`${{ github.server_url }}` is expanded inside the script");
    }

    #[test]
    fn the_github_apply_as_it_is_resists_them() {
        assert_eq!(all(Kind::GithubWorkflow, &github_as_it_is(), ""), Vec::<String>::new());
    }

    #[test]
    fn each_github_attack_is_caught_alone() {
        let attack = |edit: &dyn Fn(&mut Value)| {
            let mut doc = github_as_it_is();
            edit(&mut doc);
            all(Kind::GithubWorkflow, &doc, "")
        };
        // The artifact unpacked over the checkout.
        has(
            &attack(&|d| d["jobs"]["apply"]["steps"][0]["with"]["path"] = json!(".")),
            "not a directory of its own",
        );
        // The plan of another run.
        has(
            &attack(&|d| d["jobs"]["apply"]["steps"][0]["with"]["run-id"] = json!("123")),
            "from another run or repository",
        );
        // A file the plan job did not write.
        has(
            &attack(&|d| {
                d["jobs"]["apply"]["steps"][1]["run"] =
                    json!("pai-provision apply plan.json --manifest \"$MANIFEST\" --expect-digest \"$DIGEST\" --policy \"$POLICIES\"")
            }),
            "not a file of the plan job's own directory",
        );
        // The digest from anywhere but the plan job.
        has(
            &attack(&|d| d["jobs"]["apply"]["steps"][1]["env"]["DIGEST"] = json!("${{ github.event.comment.body }}")),
            "not the output of its plan job",
        );
        // Another manifest, other policies.
        has(
            &attack(&|d| {
                d["jobs"]["apply"]["steps"][1]["run"] = json!(
                    "plan=\"$RUNNER_TEMP/pai-plan/plan.json\"\npai-provision apply \"$plan\" --manifest other.toml --expect-digest \"$DIGEST\" --policy lax"
                )
            }),
            "--manifest \"other.toml\": not what its plan job planned",
        );
        // No approval.
        has(
            &attack(&|d| {
                d["jobs"]["apply"].as_object_mut().map(|j| j.remove("environment"));
            }),
            "applies outside the `production` environment",
        );
        // The plan job made to run for pull requests.
        has(
            &attack(&|d| {
                d["jobs"]["plan"]["if"] = json!("github.event_name == 'pull_request' || github.event_name == 'push'")
            }),
            "which runs for pull or merge requests",
        );
        // The base checkout dropped: the branch's own policies.
        has(
            &attack(&|d| {
                d["jobs"]["review"]["steps"][1]["with"]["ref"] = json!("${{ github.head_ref }}");
            }),
            "not the base branch's policies",
        );
    }

    #[test]
    fn the_gitlab_apply_of_old_falls_to_every_insider_attack() {
        let raw = "#   PAI_GITLAB_API_TOKEN   masked: a project access token\n";
        let found = all(Kind::GitlabCi, &gitlab_as_it_was(), raw);
        has(&found, "apply: applies a plan made by no job it `needs`");
        has(&found, "mentions `PAI_GITLAB_API_TOKEN`");
        has(&found, "mentions `/notes`");
        has(&found, "mentions `/artifacts`");
        has(&found, "runs by itself after a merge");
        has(
            &found,
            "plan: uses the note token (PAI_GITLAB_API_TOKEN, through `pai-provision comment`)",
        );
        has(&found, "do not declare PAI_GITLAB_API_TOKEN protected");
        has(&found, "not the base branch's policies");
    }

    #[test]
    fn the_gitlab_apply_as_it_is_resists_them() {
        let raw = "#   PAI_GITLAB_API_TOKEN   masked, protected: a project access token\n";
        assert_eq!(all(Kind::GitlabCi, &gitlab_as_it_is(), raw), Vec::<String>::new());
    }

    #[test]
    fn each_gitlab_attack_is_caught_alone() {
        let raw = "#   PAI_GITLAB_API_TOKEN   masked, protected\n";
        let attack = |edit: &dyn Fn(&mut Value)| {
            let mut doc = gitlab_as_it_is();
            edit(&mut doc);
            all(Kind::GitlabCi, &doc, raw)
        };
        // The plan job's artifacts over the checkout: a forged policy directory.
        has(
            &attack(&|d| d["plan"]["artifacts"]["paths"] = json!(["pai-plan/", "infra/policies/"])),
            "not in a directory of its own",
        );
        // The digest from a variable nobody's plan job wrote.
        has(
            &attack(&|d| {
                d["apply"]["script"] = json!([
                    "pai-provision apply pai-plan/plan.json --manifest \"$MANIFEST\" --expect-digest \"$REVIEWED_DIGEST\" --policy \"$POLICIES\""
                ])
            }),
            "not the output of its plan job",
        );
        // The note job run for merge requests, through a template.
        has(
            &attack(&|d| {
                d[".tool"]["script"] = json!(["pai-provision comment plan.md --key x"]);
                d["review"].as_object_mut().map(|r| r.remove("script"));
            }),
            "review: uses the note token",
        );
        // The apply started by the merge itself.
        has(
            &attack(&|d| d["apply"]["rules"][0]["when"] = json!("on_success")),
            "runs by itself after a merge",
        );
        // The review plan judged by the branch's own policies.
        has(
            &attack(&|d| {
                d["review"]["script"][2] =
                    json!("pai-provision plan \"$MANIFEST\" --policy \"$POLICIES\" --format markdown");
            }),
            "not the base branch's policies",
        );
    }

    #[test]
    fn extends_is_merged_as_gitlab_merges_it() {
        let doc = json!({
            "variables": {"A": "1"},
            ".base": {"variables": {"X": "base", "Y": "base"}, "script": ["base"], "tags": ["a"]},
            ".more": {"extends": ".base", "variables": {"Y": "more"}},
            "job": {"extends": [".more"], "variables": {"Z": "job"}, "tags": ["b"]}
        });
        let resolved = gitlab_resolved(&doc);
        assert_eq!(
            resolved["job"],
            json!({"variables": {"X": "base", "Y": "more", "Z": "job"}, "script": ["base"], "tags": ["b"]})
        );
        assert_eq!(resolved["variables"], json!({"A": "1"}));
    }

    #[test]
    fn variables_are_followed_to_their_source() {
        let doc = json!({"env": {"DIR": "${{ runner.temp }}/x", "M": "infra/m.toml"}});
        let job = json!({"steps": [{"env": {"D": "${{ needs.plan.outputs.digest }}"},
            "run": "plan=\"$DIR/plan.json\"\npai-provision --lock-timeout 10m apply \"$plan\" --manifest=\"$M\" --expect-digest \"$D\""}]});
        let scripts = scripts(Kind::GithubWorkflow, &doc, &job);
        let calls = scripts[0].calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].command, "apply");
        assert_eq!(calls[0].target(), Some("${{ runner.temp }}/x/plan.json"));
        assert_eq!(calls[0].flag("--manifest"), Some("infra/m.toml"));
        assert_eq!(
            calls[0].flag("--expect-digest"),
            Some("${{ needs.plan.outputs.digest }}")
        );
        assert_eq!(
            runner_temp_path("${{ runner.temp }}/x").as_deref(),
            Some("${RUNNER_TEMP}/x")
        );
    }

    #[test]
    fn installs_from_a_moving_reference_are_found() {
        let old = json!({"runs": {"steps": [{"env": {"V": "v0.1.0"},
            "run": "cargo install --locked --root x --git \"$URL\" --tag \"$V\" pai-provision"}]}});
        let found = installs_are_pinned(Kind::GithubAction, &old);
        assert!(found.iter().any(|f| f.contains("builds a --tag")), "{found:#?}");
        assert!(found.iter().any(|f| f.contains("--rev None")), "{found:#?}");
        let unlocked = json!({"variables": {"REV": "main"},
            "job": {"script": ["cargo install --git \"$URL\" --rev \"$REV\" pai-provision"]}});
        let found = installs_are_pinned(Kind::GitlabCi, &unlocked);
        assert!(found.iter().any(|f| f.contains("without --locked")), "{found:#?}");
        assert!(found.iter().any(|f| f.contains("--rev Some(\"main\")")), "{found:#?}");
        let pinned = json!({"runs": {"steps": [{"env": {"REV": "${{ inputs.rev }}"},
            "run": "cargo install --locked --git \"$URL\" --rev \"$REV\" pai-provision"}]}});
        assert_eq!(installs_are_pinned(Kind::GithubAction, &pinned), Vec::<String>::new());
    }

    #[test]
    fn unpinned_uses_are_found() {
        let raw = format!(
            "steps:\n  - uses: actions/checkout@v4\n  - uses: ./.github/actions/install\n  - uses: actions/cache@{SHA} # v4.2.3\n  \
             - uses: actions/cache@{SHA}\n      uses: 'actions/upload-artifact@main'\n"
        );
        let found = uses_are_pinned(&raw);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("line 2:") && found[0].contains("not pinned"));
        assert!(found[1].starts_with("line 5:") && found[1].contains("which version"));
        assert!(found[2].starts_with("line 6:") && found[2].contains("upload-artifact@main"));
    }
}
