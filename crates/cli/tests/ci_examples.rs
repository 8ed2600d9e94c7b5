//! Every example pipeline in `examples/ci/` is one that its CI system would run, and every
//! `pai-provision` command line in it (and in the pipeline docs) is one the binary accepts:
//!
//! - each `*.yml` against the official schema of its CI system (GitHub workflow, GitHub action,
//!   GitLab CI), with `check-jsonschema`;
//! - each `run:` / `script:` block, extracted into a script of its own, through `shellcheck`;
//! - each `pai-provision` command line through the binary's own argument parser (the line plus
//!   `--help`: clap rejects an unknown flag, a bad value or an extra argument before it prints
//!   the help). `fleet` lines are also checked against the fleet contract's table of flags
//!   (`ci_examples/fleet_flags.rs`), which stood alone while the binary had no `fleet`.
//!
//! - no job that applies can run in a scheduled pipeline or for a pull or merge request
//!   (`ci_examples/triggers.rs` reads the jobs' rules);
//! - "only what was reviewed is bought" holds against an insider, a colleague with push access
//!   or anyone who can comment (`ci_examples/insider.rs`): every apply applies the plan its own
//!   run's plan job saved, downloaded apart from the checkout, bound by that job's digest and
//!   pinned to its manifest or fleet file, after an approval; it reads no comment, note or
//!   other run; review plans are judged by the base branch's policies; the GitLab note token
//!   reaches no merge request job; every action is pinned to a commit and no `${{ }}` is
//!   expanded in a script; and `zizmor --offline` finds nothing of high severity.
//!
//! The checkers come from PyPI (see `ci_examples/tools.rs`): the first run installs them under
//! the target directory.

#[path = "ci_examples/fleet_flags.rs"]
mod fleet_flags;
#[path = "ci_examples/insider.rs"]
mod insider;
#[path = "ci_examples/pipelines.rs"]
mod pipelines;
#[path = "ci_examples/shell.rs"]
mod shell;
#[path = "ci_examples/tools.rs"]
mod tools;
#[path = "ci_examples/triggers.rs"]
mod triggers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pipelines::{doc_scripts, pipelines, replace_expressions, scripts, short, Script};
use shell::Word;

/// The sample value of a variable or GitHub expression in a command line: what makes `--shard`
/// and the plan file names what a runner would see; anything else is an opaque word.
fn sample(name: &str) -> String {
    let value = match name.trim_start_matches("${{").trim_end_matches("}}").trim() {
        "CI_NODE_INDEX" | "I" | "matrix.shard" => "1",
        "CI_NODE_TOTAL" | "strategy.job-total" => "4",
        "SHARD" => "1/4",
        "canary" => "tag:canary",
        _ => "x",
    };
    value.to_owned()
}

/// The global flags of the binary that take a value, from its own `--help`.
fn global_flags_with_values() -> Vec<String> {
    let help = run_binary(&["--help"]);
    assert!(help.0, "pai-provision --help failed: {}", help.1);
    help.1
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let at = line.find("--")?;
            let (flag, rest) = line[at..].split_once(' ')?;
            rest.starts_with('<').then(|| flag.to_owned())
        })
        .collect()
}

fn run_binary(args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = Command::new(env!("CARGO_BIN_EXE_pai-provision"))
        .args(args)
        .env_clear()
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run pai-provision");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// Whether the binary's clap definition accepts `words` (the arguments after `pai-provision`):
/// the command with `--help` after its last argument, so that every flag and value before it is
/// parsed and nothing runs. Global flags given before the command are moved after it, since clap
/// parses their values only there when the help is asked for.
fn binary_accepts(words: &[&str], with_values: &[String]) -> Result<(), String> {
    let mut command = 0;
    while command < words.len() && words[command].starts_with('-') {
        let takes_value = with_values.iter().any(|f| f == words[command]);
        command += if takes_value { 2 } else { 1 };
    }
    let command = command.min(words.len());
    let mut args: Vec<&str> = words[command..].to_vec();
    args.extend_from_slice(&words[..command]);
    args.push("--help");
    match run_binary(&args) {
        (true, _) => Ok(()),
        (false, said) => Err(said),
    }
}

#[test]
fn every_example_pipeline_matches_its_official_schema() {
    let Some(tools) = tools::tools() else { return };
    let mut failures = Vec::new();
    for (path, kind) in pipelines() {
        let (schema, extra) = kind.schema();
        let said = tools.check_schema(schema, extra, &path);
        // The validation output, one line per file (`--no-capture` shows it).
        println!("{} ({schema}): {}", short(&path), said.text.trim());
        if !said.ok {
            failures.push(format!("{} against {schema}:\n{}", short(&path), said.text));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_schemas_refuse_a_broken_pipeline() {
    let Some(tools) = tools::tools() else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A script line holding `: ` is a YAML mapping, not a command: GitLab refuses the file.
    let gitlab = dir.path().join("gitlab-ci.yml");
    std::fs::write(&gitlab, "apply:\n  script:\n    - auth=\"PRIVATE-TOKEN: $TOKEN\"\n").expect("write");
    let said = tools.check_schema("vendor.gitlab-ci", &["--data-transform", "gitlab-ci"], &gitlab);
    assert!(!said.ok && said.text.contains("script"), "{}", said.text);
    // A misspelt key of a job.
    let github = dir.path().join("github.yml");
    std::fs::write(
        &github,
        "on: push\njobs:\n  plan:\n    runs-on: ubuntu-latest\n    stepz:\n      - run: true\n",
    )
    .expect("write");
    let said = tools.check_schema("vendor.github-workflows", &[], &github);
    assert!(!said.ok && said.text.contains("stepz"), "{}", said.text);
}

#[test]
fn shellcheck_passes_on_every_script_of_every_example() {
    let Some(tools) = tools::tools() else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut files = Vec::new();
    for (path, kind) in pipelines() {
        for (n, script) in scripts(kind, &tools.yaml(&path)).into_iter().enumerate() {
            // Expressions become a word of the same length, so that columns stay right.
            let text = replace_expressions(&script.text, |e| "_".repeat(e.len()));
            let (shebang, options) = match script.shell {
                "bash" => ("#!/usr/bin/env bash", "set -eo pipefail"),
                _ => ("#!/bin/sh", "set -e"),
            };
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
            let file = dir.path().join(format!("{stem}-{n:02}.sh"));
            std::fs::write(
                &file,
                format!("{shebang}\n# {}: {}\n{options}\n{text}\n", short(&path), script.name),
            )
            .expect("write a script");
            files.push(file);
        }
    }
    assert!(
        files.len() >= 30,
        "only {} scripts found: is the extraction broken?",
        files.len()
    );
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let said = tools.shellcheck(&refs);
    println!(
        "shellcheck: {} scripts, {}",
        files.len(),
        if said.ok { "no finding" } else { "findings" }
    );
    if !said.ok {
        // Each finding names the temporary script; its second line names the pipeline and job.
        let sources: Vec<String> = files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                format!("{}: {}", f.display(), text.lines().nth(1).unwrap_or_default())
            })
            .collect();
        panic!("shellcheck:\n{}\nscripts:\n{}", said.text, sources.join("\n"));
    }
}

#[test]
fn shellcheck_finds_what_it_should() {
    let Some(tools) = tools::tools() else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("bad.sh");
    std::fs::write(&file, "#!/bin/sh\nplan=$1\ncat $plan\n").expect("write");
    let said = tools.shellcheck(&[&file]);
    assert!(!said.ok && said.text.contains("SC2086"), "{}", said.text);
}

#[test]
fn every_pai_provision_line_parses() {
    let mut scripts: Vec<(String, Script)> = Vec::new();
    let tools = tools::tools();
    let read_pipelines = tools.is_some();
    match tools {
        Some(tools) => {
            for (path, kind) in pipelines() {
                for script in self::scripts(kind, &tools.yaml(&path)) {
                    scripts.push((short(&path), script));
                }
            }
        }
        None => eprintln!("SKIPPED: the example pipelines' lines (no YAML reader); the docs' are checked"),
    }
    let docs = doc_scripts();
    assert!(docs.len() >= 5, "only {} shell blocks in the docs", docs.len());
    scripts.extend(docs.into_iter().map(|s| (String::new(), s)));

    let with_values = global_flags_with_values();
    assert!(
        with_values.iter().any(|f| f == "--lock-timeout"),
        "the global flags were not read from --help: {with_values:?}"
    );
    let binary_has_fleet = run_binary(&["fleet", "--help"]).0;
    let (mut checked, mut fleet) = (0, 0);
    let mut failures = Vec::new();
    for (file, script) in &scripts {
        let text = replace_expressions(&script.text, sample);
        for words in shell::invocations(&text, "pai-provision", &sample) {
            let lists = words.iter().filter(|w| **w == Word::List).count();
            let words: Vec<&str> = words.iter().filter_map(Word::text).collect();
            let line = format!("pai-provision {}", words.join(" "));
            let mut verdicts = Vec::new();
            let command = words.iter().position(|w| !w.starts_with('-'));
            if command.is_some_and(|at| words[at] == "fleet") {
                fleet += 1;
                let at = command.unwrap_or_default();
                verdicts.push(fleet_flags::check(&words[at + 1..], lists));
                // The globals before `fleet` are the binary's, as for every command.
                verdicts.push(binary_accepts(&words[..at], &with_values));
                if binary_has_fleet {
                    verdicts.push(binary_accepts(&words, &with_values));
                }
            } else {
                verdicts.push(binary_accepts(&words, &with_values));
            }
            checked += 1;
            println!("{file} {}: {line}", script.name);
            for verdict in verdicts {
                if let Err(why) = verdict {
                    failures.push(format!("{file} {}: `{line}`:\n{why}", script.name));
                }
            }
        }
    }
    println!(
        "{checked} pai-provision command lines checked, {fleet} of them `fleet` ({})",
        if binary_has_fleet {
            "against the contract's table and the binary"
        } else {
            "against the contract's table: the binary has no `fleet` yet"
        }
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Fewer than the examples hold means the extraction lost some.
    let (least, least_fleet) = if read_pipelines { (25, 12) } else { (5, 4) };
    assert!(
        checked >= least,
        "only {checked} command lines found: is the extraction broken?"
    );
    assert!(fleet >= least_fleet, "only {fleet} fleet command lines found");
}

#[test]
fn a_bad_command_line_is_caught() {
    let with_values = global_flags_with_values();
    assert_eq!(
        binary_accepts(&["--lock-timeout", "10m", "apply", "plan.json"], &with_values),
        Ok(())
    );
    for bad in [
        &["plan", "--bogus"][..],
        &["plan", "--format", "markdwn"],
        &["--lock-timeout", "99d", "apply", "plan.json"],
        &["show", "a.json", "b.json"],
    ] {
        assert!(binary_accepts(bad, &with_values).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn expressions_are_replaced_whole() {
    assert_eq!(
        replace_expressions("a ${{ matrix.shard }}/${{ strategy.job-total }} b", sample),
        "a 1/4 b"
    );
    assert_eq!(
        replace_expressions("x ${{ github.sha }}", |e| "_".repeat(e.len())),
        "x _________________"
    );
}

/// Whether a job's scripts run `pai-provision ... apply` (single or fleet): a line whose words
/// include the binary and then `apply`, comments left out.
fn applies(job: &serde_json::Value) -> bool {
    fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    for key in ["script", "before_script", "after_script", "steps"] {
        if let Some(v) = job.get(key) {
            strings(v, &mut texts);
        }
    }
    texts.iter().flat_map(|t| t.lines()).any(|line| {
        let line = line.split(" #").next().unwrap_or("").trim_start();
        if line.starts_with('#') {
            return false;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        words
            .iter()
            .position(|w| w.ends_with("pai-provision"))
            .is_some_and(|at| words[at..].contains(&"apply"))
    })
}

#[test]
fn no_scheduled_or_review_pipeline_applies() {
    use triggers::Event;
    let Some(tools) = tools::tools() else { return };
    let mut checked = 0;
    for (path, kind) in pipelines() {
        let doc = tools.yaml(&path);
        let job = |name: &str| match kind {
            pipelines::Kind::GitlabCi => doc[name].clone(),
            _ => doc["jobs"][name].clone(),
        };
        for event in [Event::Schedule, Event::Review] {
            let running = match kind {
                pipelines::Kind::GitlabCi => triggers::gitlab_jobs(&doc, event),
                pipelines::Kind::GithubWorkflow => triggers::github_jobs(&doc, event),
                pipelines::Kind::GithubAction => continue,
            };
            for name in running {
                checked += 1;
                assert!(
                    !applies(&job(&name)),
                    "{}: job `{name}` applies, and it runs for {event:?} pipelines: only a merge to the default branch may apply",
                    short(&path)
                );
            }
        }
    }
    assert!(checked > 10, "only {checked} jobs checked");
}

#[test]
fn an_applying_job_is_recognised() {
    let apply = serde_json::json!({"script": ["pai-provision --lock-timeout 10m apply plan.json"]});
    let fleet = serde_json::json!({"steps": [{"run": "set -e\npai-provision fleet apply \"$PLAN\" | tee a.txt"}]});
    let plan = serde_json::json!({"script": ["pai-provision plan x --out plan.json", "# pai-provision apply later", "echo applied"]});
    assert!(applies(&apply));
    assert!(applies(&fleet));
    assert!(!applies(&plan));
}

/// Each example pipeline as the insider checks read it: GitLab's with `extends:` merged, and its
/// text as written (for what YAML drops: comments).
fn read_for_insider(tools: &tools::Tools) -> Vec<(String, pipelines::Kind, serde_json::Value, String)> {
    pipelines()
        .into_iter()
        .map(|(path, kind)| {
            let doc = tools.yaml(&path);
            let doc = match kind {
                pipelines::Kind::GitlabCi => insider::gitlab_resolved(&doc),
                _ => doc,
            };
            let raw = std::fs::read_to_string(&path).expect("read the pipeline");
            (short(&path), kind, doc, raw)
        })
        .collect()
}

/// Runs an insider check on every example, and fails with everything it found.
fn insider_check(check: impl Fn(pipelines::Kind, &serde_json::Value, &str) -> Vec<String>) {
    let Some(tools) = tools::tools() else { return };
    let mut failures = Vec::new();
    for (file, kind, doc, raw) in read_for_insider(&tools) {
        failures.extend(check(kind, &doc, &raw).into_iter().map(|f| format!("{file}: {f}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_apply_is_found() {
    let Some(tools) = tools::tools() else { return };
    let mut found = Vec::new();
    for (file, kind, doc, _) in read_for_insider(&tools) {
        for name in insider::appliers(kind, &doc) {
            found.push(format!("{file}: {name}"));
        }
    }
    // The checks below hold for every apply they find: finding none would pass them all.
    assert_eq!(
        found,
        [
            "examples/ci/fleet-github-actions.yml: apply",
            "examples/ci/fleet-github-actions.yml: apply-canary",
            "examples/ci/fleet-gitlab-ci.yml: fleet-apply",
            "examples/ci/fleet-gitlab-ci.yml: fleet-apply-canary",
            "examples/ci/github-actions.yml: apply",
            "examples/ci/gitlab-ci.yml: apply",
        ]
    );
}

#[test]
fn every_apply_takes_its_plan_from_its_own_run_into_a_directory_of_its_own() {
    insider_check(|kind, doc, _| insider::plans_come_from_the_same_run(kind, doc));
}

#[test]
fn no_apply_reads_a_comment_a_note_or_another_run() {
    insider_check(|kind, doc, _| insider::applies_read_nothing_else(kind, doc));
}

#[test]
fn every_apply_passes_its_plan_jobs_digest_and_pins_what_it_planned() {
    insider_check(|kind, doc, _| insider::applies_bind_the_plan(kind, doc));
}

#[test]
fn every_apply_waits_for_an_approval() {
    insider_check(|kind, doc, _| insider::applies_wait_for_approval(kind, doc));
}

#[test]
fn review_plans_are_judged_by_the_base_branch_policies() {
    insider_check(|kind, doc, _| insider::reviews_use_the_base_policies(kind, doc));
    // ... and there are review plans to judge, in every pipeline that reviews.
    let Some(tools) = tools::tools() else { return };
    for (file, kind, doc, _) in read_for_insider(&tools) {
        if file.contains("drift") || kind == pipelines::Kind::GithubAction {
            continue;
        }
        assert!(insider::review_plans(kind, &doc) > 0, "{file}: no job plans for review");
    }
}

#[test]
fn the_note_token_reaches_no_merge_request_job() {
    insider_check(|kind, doc, raw| match kind {
        pipelines::Kind::GitlabCi => insider::note_token_is_out_of_review_reach(doc, raw),
        _ => Vec::new(),
    });
}

#[test]
fn every_action_is_pinned_to_a_commit() {
    insider_check(|_, _, raw| insider::uses_are_pinned(raw));
}

#[test]
fn every_install_builds_a_pinned_commit() {
    insider_check(|kind, doc, _| insider::installs_are_pinned(kind, doc));
    // ... and there are installs to check: the action and both GitLab templates.
    let Some(tools) = tools::tools() else { return };
    let installs: usize = read_for_insider(&tools)
        .iter()
        .filter(|(_, _, _, raw)| raw.contains("cargo install"))
        .count();
    assert!(installs >= 3, "only {installs} pipelines install pai-provision");
}

#[test]
fn no_expression_is_expanded_inside_a_script() {
    insider_check(|kind, doc, _| insider::no_expression_in_run(kind, doc));
}

/// What zizmor found, one line each: `SEVERITY ident file:line`.
fn zizmor_findings(said: &tools::Said) -> Vec<(String, String)> {
    let findings: serde_json::Value =
        serde_json::from_str(&said.stdout).unwrap_or_else(|e| panic!("zizmor printed no JSON ({e}):\n{}", said.text));
    findings
        .as_array()
        .expect("zizmor's findings are a list")
        .iter()
        .map(|f| {
            let severity = f
                .pointer("/determinations/severity")
                .and_then(|s| s.as_str())
                .unwrap_or("?");
            let location = f
                .get("locations")
                .and_then(|l| l.as_array())
                .and_then(|l| {
                    l.iter()
                        .find(|l| l.pointer("/symbolic/kind").and_then(|k| k.as_str()) == Some("Primary"))
                })
                .map(|l| {
                    format!(
                        "{}:{}",
                        l.pointer("/symbolic/key/Local/verbatim_path")
                            .and_then(|p| p.as_str())
                            .unwrap_or("?"),
                        l.pointer("/concrete/location/start_point/row")
                            .and_then(|r| r.as_u64())
                            .map_or(0, |r| r + 1)
                    )
                })
                .unwrap_or_default();
            let ident = f.get("ident").and_then(|i| i.as_str()).unwrap_or("?");
            (severity.to_owned(), format!("{severity} {ident} {location}"))
        })
        .collect()
}

#[test]
fn zizmor_finds_nothing_of_high_severity() {
    let Some(tools) = tools::tools() else { return };
    let root = pipelines::root();
    // zizmor collects workflows only under `.github/workflows/`: given `examples/ci` it audits
    // the composite action alone, so each workflow is also given by name.
    let workflows: Vec<PathBuf> = pipelines()
        .into_iter()
        .filter(|(_, kind)| *kind == pipelines::Kind::GithubWorkflow)
        .map(|(path, _)| PathBuf::from(short(&path)))
        .collect();
    assert!(workflows.len() >= 3, "only {} GitHub workflows", workflows.len());
    let mut high = Vec::new();
    for inputs in [vec![PathBuf::from("examples/ci")], workflows] {
        let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
        let said = tools.zizmor(&root, &refs);
        let findings = zizmor_findings(&said);
        println!(
            "zizmor --offline {}: {} findings{}",
            refs.iter().map(|p| short(&root.join(p))).collect::<Vec<_>>().join(" "),
            findings.len(),
            findings.iter().map(|(_, f)| format!("\n  {f}")).collect::<String>()
        );
        high.extend(findings.into_iter().filter(|(s, _)| s == "High").map(|(_, f)| f));
    }
    assert!(high.is_empty(), "zizmor found, of high severity:\n{}", high.join("\n"));
}

#[test]
fn zizmor_finds_what_it_should() {
    let Some(tools) = tools::tools() else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("pr.yml");
    std::fs::write(
        &file,
        "on: pull_request\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      \
         - uses: actions/checkout@v4\n        with:\n          persist-credentials: false\n      \
         - run: echo \"${{ github.event.pull_request.title }}\"\n",
    )
    .expect("write");
    let found: Vec<String> = zizmor_findings(&tools.zizmor(dir.path(), &[Path::new("pr.yml")]))
        .into_iter()
        .filter(|(s, _)| s == "High")
        .map(|(_, f)| f)
        .collect();
    assert!(found.iter().any(|f| f.contains("template-injection")), "{found:?}");
    assert!(found.iter().any(|f| f.contains("unpinned-uses")), "{found:?}");
}

#[test]
fn every_zizmor_ignore_says_why() {
    // `# zizmor: ignore[rule]` silences a finding; each must say, after it, why it is safe.
    for (path, _) in pipelines() {
        let text = std::fs::read_to_string(&path).expect("read");
        for (n, line) in text.lines().enumerate() {
            let Some(at) = line.find("zizmor: ignore[") else {
                continue;
            };
            let reason = line[at..]
                .split_once(']')
                .map_or("", |(_, r)| r)
                .trim_start_matches([' ', ':', '-']);
            assert!(
                reason.split_whitespace().count() >= 3,
                "{}:{}: `{}` gives no reason",
                short(&path),
                n + 1,
                line.trim()
            );
        }
    }
}
