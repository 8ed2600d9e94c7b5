//! Which jobs of a pipeline run for an event: GitLab's `rules:` (`if:`, `changes:`, `when:`)
//! and GitHub's job-level `if:`, evaluated for the few expression forms the examples use
//! (`==`, `!=`, `&&`, `||`, a bare variable). An expression this reader does not know is taken
//! as true: the question asked of it is "could this job run?", so unknown means yes.

use serde_json::Value;

/// An event a pipeline runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The nightly schedule on the default branch.
    Schedule,
    /// A pull or merge request.
    Review,
    /// A push to the default branch: a merge.
    Merge,
}

impl Event {
    fn gitlab_variable(self, name: &str) -> Option<&'static str> {
        match (name, self) {
            ("CI_PIPELINE_SOURCE", Event::Schedule) => Some("schedule"),
            ("CI_PIPELINE_SOURCE", Event::Review) => Some("merge_request_event"),
            ("CI_PIPELINE_SOURCE", Event::Merge) => Some("push"),
            ("CI_COMMIT_BRANCH", Event::Schedule | Event::Merge) | ("CI_DEFAULT_BRANCH", _) => Some("main"),
            // Unset in merge request pipelines.
            ("CI_COMMIT_BRANCH", Event::Review) => None,
            // Any other variable: set, as the worst case (a canary list, a token ...).
            _ => Some("set"),
        }
    }

    fn github_event_name(self) -> &'static str {
        match self {
            Event::Schedule => "schedule",
            Event::Review => "pull_request",
            Event::Merge => "push",
        }
    }
}

/// The names of the jobs of a GitLab CI file that could run for `event`.
pub fn gitlab_jobs(doc: &Value, event: Event) -> Vec<String> {
    let Some(jobs) = doc.as_object() else {
        return Vec::new();
    };
    jobs.iter()
        .filter(|(name, job)| !name.starts_with('.') && job.get("script").is_some())
        .filter(|(_, job)| gitlab_runs(job, event))
        .map(|(name, _)| name.clone())
        .collect()
}

/// The first rule that matches decides; `when: never` keeps the job out. No rules: it runs.
fn gitlab_runs(job: &Value, event: Event) -> bool {
    gitlab_when(job, event).is_some()
}

/// How a GitLab job runs for `event`, if it can: the `when:` of the first rule that can match
/// (else the job's own `when:`, else `on_success`); `None` when no rule lets it in.
pub fn gitlab_when(job: &Value, event: Event) -> Option<String> {
    let own = job.get("when").and_then(Value::as_str).unwrap_or("on_success");
    let Some(rules) = job.get("rules").and_then(Value::as_array) else {
        return Some(own.to_owned());
    };
    for rule in rules {
        let matches = rule
            .get("if")
            .and_then(Value::as_str)
            .is_none_or(|expr| eval(expr, &|atom| gitlab_atom(atom, event)));
        // `changes:` is always true in a scheduled pipeline, and may be in a merge request.
        if matches {
            return match rule.get("when").and_then(Value::as_str) {
                Some("never") => None,
                Some(when) => Some(when.to_owned()),
                None => Some(own.to_owned()),
            };
        }
    }
    None
}

/// The names of the jobs of a GitHub workflow that could run for `event`, sorted. A job runs
/// when its `if:` allows it and, unless the `if:` names a status function (`always()`,
/// `cancelled()`, `failure()`, `success()` aside), every job it `needs` ran.
pub fn github_jobs(doc: &Value, event: Event) -> Vec<String> {
    let Some(jobs) = doc.get("jobs").and_then(Value::as_object) else {
        return Vec::new();
    };
    if !github_triggered(doc, event) {
        return Vec::new();
    }
    let mut runs: std::collections::BTreeMap<String, bool> = jobs.keys().map(|k| (k.clone(), false)).collect();
    // `needs` is a DAG: as many rounds as jobs settle it.
    for _ in 0..jobs.len() {
        for (name, job) in jobs {
            let needs: Vec<String> = match job.get("needs") {
                Some(Value::String(one)) => vec![one.clone()],
                Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                _ => Vec::new(),
            };
            let expr = job.get("if").and_then(Value::as_str).map(|e| {
                e.trim()
                    .trim_start_matches("${{")
                    .trim_end_matches("}}")
                    .trim()
                    .to_owned()
            });
            let status_aware = expr
                .as_deref()
                .is_some_and(|e| ["always()", "cancelled()", "failure()"].iter().any(|f| e.contains(f)));
            let needs_ran = needs.iter().all(|n| runs.get(n).copied().unwrap_or(false));
            let allowed = expr.as_deref().is_none_or(|e| {
                Parser::new(e, &|atom| github_atom(atom, event, &runs))
                    .expression()
                    .can_be_true
            });
            let run = allowed && (status_aware || needs_ran);
            runs.insert(name.clone(), run);
        }
    }
    runs.into_iter().filter(|(_, run)| *run).map(|(name, _)| name).collect()
}

/// Whether the workflow's `on:` has a trigger for `event` (a workflow without `on:`, as in the
/// tests, could run for anything).
fn github_triggered(doc: &Value, event: Event) -> bool {
    let names: Vec<&str> = match doc.get("on") {
        None => return true,
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        Some(Value::Object(map)) => map.keys().map(String::as_str).collect(),
        Some(_) => return true,
    };
    let wanted: &[&str] = match event {
        Event::Review => &["pull_request", "pull_request_target"],
        Event::Schedule => &["schedule"],
        Event::Merge => &["push"],
    };
    names.iter().any(|n| wanted.contains(n))
}

/// What an expression can evaluate to: an atom this reader does not know can be either.
#[derive(Debug, Clone, Copy)]
struct Possible {
    can_be_true: bool,
    can_be_false: bool,
}

impl Possible {
    const EITHER: Possible = Possible {
        can_be_true: true,
        can_be_false: true,
    };

    fn known(value: bool) -> Possible {
        Possible {
            can_be_true: value,
            can_be_false: !value,
        }
    }

    fn not(self) -> Possible {
        Possible {
            can_be_true: self.can_be_false,
            can_be_false: self.can_be_true,
        }
    }

    fn and(self, other: Possible) -> Possible {
        Possible {
            can_be_true: self.can_be_true && other.can_be_true,
            can_be_false: self.can_be_false || other.can_be_false,
        }
    }

    fn or(self, other: Possible) -> Possible {
        self.not().and(other.not()).not()
    }
}

/// `a || b && !(c || d)`: `!`, parentheses, `&&` binding tighter than `||`; an atom is anything
/// between them (`x == 'y'`, `$X`, `cancelled()`).
struct Parser<'a> {
    rest: &'a str,
    atom: &'a dyn Fn(&str) -> Possible,
}

impl<'a> Parser<'a> {
    fn new(expr: &'a str, atom: &'a dyn Fn(&str) -> Possible) -> Parser<'a> {
        Parser { rest: expr, atom }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.rest = self.rest.trim_start();
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expression(&mut self) -> Possible {
        let mut value = self.conjunction();
        while self.eat("||") {
            value = value.or(self.conjunction());
        }
        value
    }

    fn conjunction(&mut self) -> Possible {
        let mut value = self.unary();
        while self.eat("&&") {
            value = value.and(self.unary());
        }
        value
    }

    fn unary(&mut self) -> Possible {
        if self.eat("(") {
            let value = self.expression();
            self.eat(")");
            return value;
        }
        self.rest = self.rest.trim_start();
        if self.rest.starts_with('!') && !self.rest.starts_with("!=") {
            self.rest = &self.rest[1..];
            return self.unary().not();
        }
        // The atom runs to the next `&&`, `||` or unmatched `)`.
        let mut depth = 0usize;
        let mut end = self.rest.len();
        for (i, c) in self.rest.char_indices() {
            let tail = &self.rest[i..];
            if tail.starts_with("&&") || tail.starts_with("||") || (c == ')' && depth == 0) {
                end = i;
                break;
            }
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
        }
        let (atom, rest) = self.rest.split_at(end);
        self.rest = rest;
        (self.atom)(atom.trim())
    }
}

/// Whether a GitLab `if:` can be true; an atom it does not know can be either.
fn eval(expr: &str, atom: &dyn Fn(&str) -> Option<bool>) -> bool {
    let atom = |a: &str| atom(a).map_or(Possible::EITHER, Possible::known);
    Parser::new(expr, &atom).expression().can_be_true
}

fn compare(atom: &str, value: &dyn Fn(&str) -> Option<String>) -> Option<bool> {
    for (op, equal) in [("==", true), ("!=", false)] {
        if let Some((left, right)) = atom.split_once(op) {
            let (left, right) = (value(left.trim())?, value(right.trim())?);
            return Some((left == right) == equal);
        }
    }
    None
}

fn gitlab_atom(atom: &str, event: Event) -> Option<bool> {
    let value = |operand: &str| -> Option<String> {
        match operand.strip_prefix('$') {
            Some(name) => Some(event.gitlab_variable(name).unwrap_or("").to_owned()),
            None => Some(operand.trim_matches('"').to_owned()),
        }
    };
    if atom.contains("==") || atom.contains("!=") {
        return compare(atom, &value);
    }
    let name = atom.strip_prefix('$')?;
    Some(event.gitlab_variable(name).is_some_and(|v| !v.is_empty()))
}

/// `github.event_name == '...'` is known; `needs.J.result == 'success'` is possible when J can
/// run, `'skipped'` always (J may be skipped by its own `if:`); anything else can be either.
fn github_atom(atom: &str, event: Event, runs: &std::collections::BTreeMap<String, bool>) -> Possible {
    if matches!(atom, "always()" | "cancelled()" | "failure()") {
        return match atom {
            "always()" => Possible::known(true),
            _ => Possible::EITHER,
        };
    }
    if let Some((left, right)) = atom.split_once("==") {
        let (left, right) = (left.trim(), right.trim().trim_matches('\''));
        if left == "github.event_name" {
            return Possible::known(right == event.github_event_name());
        }
        if let Some(job) = left.strip_prefix("needs.").and_then(|l| l.strip_suffix(".result")) {
            return match right {
                "success" | "failure" => Possible {
                    can_be_true: runs.get(job).copied().unwrap_or(false),
                    can_be_false: true,
                },
                _ => Possible::EITHER,
            };
        }
    }
    if let Some((left, right)) = atom.split_once("!=") {
        if left.trim() == "github.event_name" {
            return Possible::known(right.trim().trim_matches('\'') != event.github_event_name());
        }
    }
    Possible::EITHER
}

#[test]
fn the_reader_decides_as_the_ci_systems_do() {
    let gitlab: Value = serde_json::json!({
        ".template": {"script": ["x"]},
        "always": {"script": ["x"]},
        "never_on_schedule": {"script": ["x"], "rules": [
            {"if": "$CI_PIPELINE_SOURCE == \"schedule\"", "when": "never"},
            {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "changes": ["a"]}
        ]},
        "main_only": {"script": ["x"], "rules": [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "changes": ["a"]}]},
        "review_only": {"script": ["x"], "rules": [{"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\""}]},
        "canary": {"script": ["x"], "rules": [{"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\" && $CANARY"}]},
    });
    assert_eq!(gitlab_jobs(&gitlab, Event::Schedule), ["always", "main_only"]);
    assert_eq!(gitlab_jobs(&gitlab, Event::Review), ["always", "canary", "review_only"]);
    assert_eq!(
        gitlab_jobs(&gitlab, Event::Merge),
        ["always", "main_only", "never_on_schedule"]
    );
    let manual: Value = serde_json::json!({"rules": [
        {"if": "$CI_PIPELINE_SOURCE == \"schedule\"", "when": "never"},
        {"if": "$CI_PIPELINE_SOURCE == \"push\" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "when": "manual"}
    ]});
    assert_eq!(gitlab_when(&manual, Event::Merge).as_deref(), Some("manual"));
    assert_eq!(gitlab_when(&manual, Event::Schedule), None);
    assert_eq!(gitlab_when(&manual, Event::Review), None);
    let own: Value = serde_json::json!({"when": "manual"});
    assert_eq!(gitlab_when(&own, Event::Merge).as_deref(), Some("manual"));
    let github: Value = serde_json::json!({"jobs": {
        "plan": {"if": "github.event_name == 'pull_request' || github.event_name == 'schedule'"},
        "reviewed": {"if": "github.event_name == 'push'"},
        "canary": {"if": "github.event_name == 'pull_request' && vars.CANARY != ''"},
        "status": {"if": "${{ github.event_name == 'schedule' }}"},
        "any": {},
        "after_reviewed": {"needs": "reviewed"},
        "comment": {"needs": ["plan", "canary"], "if": "${{ !cancelled() && github.event_name == 'pull_request' }}"},
        "apply": {"needs": ["reviewed", "canary"], "if": "${{ !cancelled() && needs.reviewed.result == 'success' && (needs.canary.result == 'success' || needs.canary.result == 'skipped') }}"},
        "not_push": {"if": "!(github.event_name == 'push')"},
    }});
    assert_eq!(
        github_jobs(&github, Event::Schedule),
        ["any", "not_push", "plan", "status"]
    );
    assert_eq!(
        github_jobs(&github, Event::Review),
        ["any", "canary", "comment", "not_push", "plan"]
    );
    assert_eq!(
        github_jobs(&github, Event::Merge),
        ["after_reviewed", "any", "apply", "reviewed"]
    );
    // A workflow runs only for the events of its `on:`.
    let nightly: Value = serde_json::json!({"on": {"schedule": [], "workflow_dispatch": null}, "jobs": {"drift": {}}});
    assert_eq!(github_jobs(&nightly, Event::Schedule), ["drift"]);
    assert!(github_jobs(&nightly, Event::Review).is_empty());
    let on_push: Value = serde_json::json!({"on": ["push"], "jobs": {"x": {}}});
    assert!(github_jobs(&on_push, Event::Review).is_empty());
    assert_eq!(github_jobs(&on_push, Event::Merge), ["x"]);
}
