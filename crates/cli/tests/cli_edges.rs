//! The command line at its edges, through the real binary: state locations that are not one
//! (an unknown scheme, an empty value, a manifest that cannot be read), passwords in every
//! message that shows a location, durations that make no sense, formats a command does not
//! have, flags a command does not use, and the emulator's own flags.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use support::{Run, Workdir};

const MANIFEST: &str = r#"[provider]
region = "cn-hangzhou"
auto_pay = true

[products.pai]
code = "PAI_share"
"#;

/// Everything under `dir`, relative, to see that a refused command created nothing.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            out.insert(path.strip_prefix(dir).unwrap_or(&path).display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

fn assert_refused(run: &Run, what: &str, message: &str) {
    assert_eq!(run.code, Some(1), "{what}: {}", run.describe());
    assert!(run.stderr.contains(message), "{what}: {}", run.describe());
}

fn assert_no_password(run: &Run, what: &str) {
    assert!(
        !run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"),
        "{what} shows the password: {}",
        run.describe()
    );
}

/// Every command that reads or writes the state.
const STATE_COMMANDS: &[&[&str]] = &[
    &["plan", "--refresh=false"],
    &["apply", "--auto-approve", "--refresh=false"],
    &["show"],
    &["state", "list"],
    &["state", "show", "pai"],
    &["state", "history"],
    &["state", "import", "pai"],
    &["state", "rm", "pai"],
    &["force-unlock", "6b0f0d62-0000-0000-0000-000000000000"],
];

#[test]
fn a_mistyped_state_url_is_an_error_everywhere_and_creates_nothing() {
    for url in [
        "postgress://ci:hunter2@db:5432/infra",
        "mysql://ci:hunter2@db/infra",
        "sqlite://state.db",
    ] {
        let mut dir = Workdir::with_manifest(MANIFEST);
        let before = tree(dir.path());
        for args in STATE_COMMANDS {
            let mut given = vec!["--state", url];
            given.extend_from_slice(args);
            let run = dir.run_plain(&given);
            assert_refused(&run, &format!("--state {url} {args:?}"), "is not a state backend");
            assert_no_password(&run, &format!("--state {url} {args:?}"));
        }
        dir.set_env("PAI_PROVISION_STATE", Some(url));
        for args in STATE_COMMANDS {
            let run = dir.run_plain(args);
            assert_refused(
                &run,
                &format!("PAI_PROVISION_STATE={url} {args:?}"),
                "is not a state backend",
            );
            assert_no_password(&run, &format!("PAI_PROVISION_STATE={url} {args:?}"));
        }
        assert_eq!(tree(dir.path()), before, "{url}: a refused command created files");
    }
}

#[test]
fn a_mistyped_state_url_in_the_manifest_fails_validation_at_its_place() {
    for url in ["postgress://ci@db:5432/infra", "mysql://ci:hunter2@db/infra"] {
        let dir = Workdir::with_manifest(&format!("{MANIFEST}\n[state]\nurl = \"{url}\"\n"));
        let before = tree(dir.path());
        let run = dir.run_plain(&["validate", "--no-color"]);
        assert_refused(&run, url, "pai-provision.toml:9:7");
        assert!(
            run.stderr.contains("which is not a state backend"),
            "{}",
            run.describe()
        );
        assert_no_password(&run, url);
        for args in STATE_COMMANDS {
            let run = dir.run_plain(args);
            assert_eq!(run.code, Some(1), "{url} {args:?}: {}", run.describe());
            assert_no_password(&run, &format!("{url} {args:?}"));
        }
        assert_eq!(tree(dir.path()), before, "{url}: a refused command created files");
    }
}

#[test]
fn no_message_shows_the_password_of_a_postgres_state() {
    // Nothing listens on port 1: every command fails to connect, and says where it tried.
    let url = "postgres://ci:hunter2@127.0.0.1:1/infra?connect_timeout=2";
    let mut dir = Workdir::with_manifest(MANIFEST);
    let mut commands: Vec<Vec<&str>> = STATE_COMMANDS.iter().map(|a| a.to_vec()).collect();
    commands.push(vec!["state", "list", "--format", "json"]);
    commands.push(vec!["-vvv", "state", "list"]);
    for args in &commands {
        let mut given = vec!["--state", url];
        given.extend_from_slice(args);
        let run = dir.run_plain(&given);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.describe());
        assert!(run.stderr.contains("ci:***@127.0.0.1"), "{args:?}: {}", run.describe());
        assert_no_password(&run, &format!("{args:?}"));
    }
    // A file state copied to it, and the same given in the environment.
    let run = dir.run(&["state", "migrate", "--to", url]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_no_password(&run, "state migrate --to");
    dir.set_env("PAI_PROVISION_STATE", Some(url));
    for args in &commands {
        let run = dir.run_plain(args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.describe());
        assert_no_password(&run, &format!("PAI_PROVISION_STATE {args:?}"));
    }
}

#[test]
fn every_state_command_names_the_state_it_read() {
    let dir = Workdir::with_manifest(MANIFEST);
    let state = dir.state.display().to_string();
    for args in [&["state", "list"][..], &["state", "history"]] {
        let out = dir.ok(args);
        assert!(out.contains(&state), "{args:?}: {out}");
        assert!(out.contains("none there yet"), "{args:?}: {out}");
    }
    let err = dir.fails(&["state", "show", "pai"]);
    assert!(err.contains(&state) && err.contains("does not exist"), "{err}");

    let imported = dir.ok(&["state", "import", "pai"]);
    assert!(imported.contains(&state), "{imported}");
    for args in [&["state", "list"][..], &["state", "history"], &["state", "show", "pai"]] {
        let out = dir.ok(args);
        assert!(out.contains(&format!("State: {state}\n")), "{args:?}: {out}");
        assert!(!out.contains("none there yet"), "{args:?}: {out}");
        let mut json = args.to_vec();
        json.extend(["--format", "json"]);
        let run = dir.run(&json);
        assert_eq!(run.code, Some(0), "{}", run.describe());
        run.json();
        assert!(run.stderr.contains(&state), "{json:?}: {}", run.describe());
    }
    let removed = dir.ok(&["state", "rm", "pai"]);
    assert!(removed.contains(&state), "{removed}");

    // A path that does not exist is said to be one, not listed as an empty state.
    let elsewhere = dir.run_plain(&["--state", "/nonexistent/s.db", "state", "list"]);
    assert_eq!(elsewhere.code, Some(0), "{}", elsewhere.describe());
    assert!(
        elsewhere.stdout.contains("/nonexistent/s.db (none there yet"),
        "{}",
        elsewhere.describe()
    );
}

#[test]
fn an_empty_state_location_is_an_error_not_the_default() {
    let mut dir = Workdir::with_manifest(MANIFEST);
    let before = tree(dir.path());
    for args in STATE_COMMANDS {
        let mut given = vec!["--state", ""];
        given.extend_from_slice(args);
        let run = dir.run_plain(&given);
        assert_refused(&run, &format!("--state '' {args:?}"), "the state location is empty");
    }
    dir.set_env("PAI_PROVISION_STATE", Some(""));
    for args in STATE_COMMANDS {
        let run = dir.run_plain(args);
        assert_refused(
            &run,
            &format!("PAI_PROVISION_STATE='' {args:?}"),
            "the state location is empty",
        );
    }
    assert_eq!(tree(dir.path()), before, "the default state was created");
}

#[test]
fn a_working_manifest_that_cannot_be_read_is_an_error() {
    let dir = Workdir::new();
    std::fs::create_dir(&dir.manifest).unwrap();
    for args in [&["state", "list"][..], &["show"], &["state", "history"]] {
        let run = dir.run_plain(args);
        assert_refused(&run, &format!("a directory, {args:?}"), "decides where the state is");
    }
    #[cfg(unix)]
    {
        let dir = Workdir::new();
        std::os::unix::fs::symlink(dir.file("gone.toml"), &dir.manifest).unwrap();
        let run = dir.run_plain(&["state", "list"]);
        assert_refused(&run, "a dangling link", "decides where the state is");
    }
}

#[test]
fn durations_that_make_no_sense_are_refused() {
    let dir = Workdir::with_manifest(MANIFEST);
    for (flag, value) in [
        ("--timeout", "0s"),
        ("--timeout", "0ms"),
        ("--timeout", "2h"),
        ("--settle-time", "0s"),
        ("--settle-time", "30days"),
        ("--lock-timeout", "25h"),
        ("--lock-timeout", "500000000years"),
    ] {
        let run = dir.run(&[flag, value, "apply", "--auto-approve", "--sandbox"]);
        assert_eq!(run.code, Some(2), "{flag} {value}: {}", run.describe());
        assert!(
            run.stderr.contains(&format!("invalid value '{value}' for '{flag}")),
            "{flag} {value}: {}",
            run.describe()
        );
    }
    assert!(!dir.state.exists());
    // Zero is meaningful for the lock: do not wait.
    dir.ok(&["--lock-timeout", "0s", "state", "import", "pai"]);
}

#[test]
fn each_format_is_offered_only_where_it_exists() {
    let dir = Workdir::with_manifest(MANIFEST);
    let without_markdown: &[&[&str]] = &[
        &["validate"],
        &["apply", "--auto-approve", "--sandbox"],
        &["refresh", "--sandbox"],
        &["state", "list"],
        &["state", "show", "pai"],
        &["state", "history"],
        &["state", "import", "pai"],
        &["state", "rm", "pai"],
        &["state", "migrate", "--to", "copy.db"],
    ];
    for args in without_markdown {
        let mut help = args[..args.len().min(2)].to_vec();
        help.retain(|a| !a.starts_with("--") && *a != "pai");
        help.push("--help");
        let shown = dir.ok(&help);
        assert!(shown.contains("--format"), "{help:?}: {shown}");
        assert!(!shown.contains("markdown"), "{help:?} offers markdown: {shown}");
        let mut given = args.to_vec();
        given.extend(["--format", "markdown"]);
        let run = dir.run(&given);
        assert_eq!(run.code, Some(2), "{given:?}: {}", run.describe());
        assert!(
            run.stderr.contains("invalid value 'markdown' for '--format"),
            "{given:?}: {}",
            run.describe()
        );
    }
    assert!(!dir.state.exists() && !dir.file("state").exists());
    for help in [&["plan", "--help"][..], &["show", "--help"]] {
        assert!(dir.ok(help).contains("markdown"), "{help:?}");
    }
    // `show` renders Markdown for a saved plan only; clap says so before anything is read.
    let run = dir.run(&["show", "--format", "markdown"]);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(run.stderr.contains("<PLANFILE>"), "{}", run.describe());
}

/// The keys of the `refresh --format json` example in docs/cli.md are those the binary prints.
#[test]
fn refresh_json_is_the_documented_schema() {
    let dir = Workdir::with_manifest(MANIFEST);
    dir.ok(&["--sandbox", "state", "import", "pai"]);
    let findings = dir.json(&["--sandbox", "refresh", "--format", "json"]);
    let findings = findings.as_array().expect("a JSON array");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "drift", "{findings:?}");
    let keys = |v: &serde_json::Value| -> BTreeSet<String> {
        v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
    };

    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md")).expect("docs/cli.md");
    let section = docs
        .split("<!-- refresh-json -->")
        .nth(1)
        .expect("docs/cli.md marks the refresh JSON example with <!-- refresh-json -->");
    let example = section
        .split("```json")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a ```json block after the marker");
    let documented: serde_json::Value = serde_json::from_str(example).expect("the example is JSON");
    assert_eq!(keys(&documented[0]), keys(&findings[0]));
    for kind in [
        "adopted",
        "resolved",
        "drift",
        "not_placed",
        "awaiting_outcome",
        "awaiting_activation",
        "never_shows",
    ] {
        assert!(
            section.contains(&format!("`{kind}`")),
            "docs/cli.md does not explain `{kind}`"
        );
    }
}

#[test]
fn flags_a_command_does_not_use_are_refused() {
    let mut dir = Workdir::with_manifest(MANIFEST);
    let cases: &[(&[&str], &str)] = &[
        (
            &["emulator", "--sandbox", "--state", "/nonexistent"],
            "--state has no effect on `emulator`",
        ),
        (&["--sandbox", "emulator"], "--sandbox has no effect on `emulator`"),
        (
            &["validate", "--timeout", "5s"],
            "--timeout has no effect on `validate`",
        ),
        (
            &["fmt", "--check", "--endpoint", "http://127.0.0.1:9"],
            "--endpoint has no effect on `fmt`",
        ),
        (
            &["state", "list", "--lock-timeout", "5s"],
            "--lock-timeout has no effect on `state list`",
        ),
        (
            &["state", "rm", "pai", "--settle-time", "5m"],
            "--settle-time has no effect on `state rm`",
        ),
        (&["show", "--profile", "ci"], "--profile has no effect on `show`"),
    ];
    for (args, message) in cases {
        let run = bounded(dir.plain_command(args));
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.describe());
        assert!(run.stderr.contains(message), "{args:?}: {}", run.describe());
    }
    // The environment is set for every command: its state is not refused where unused.
    dir.set_env("PAI_PROVISION_STATE", Some("elsewhere.db"));
    let run = dir.run_plain(&["validate"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
}

#[test]
fn every_argument_has_help_and_the_emulator_needs_no_listen() {
    let dir = Workdir::new();
    let apply = dir.ok(&["apply", "--help"]);
    for help in [
        "A manifest, or a plan saved with `plan --out`",
        "Order without asking for a `yes`",
        "How to print the plan and the outcome",
    ] {
        assert!(apply.contains(help), "{help}: {apply}");
    }
    for command in ["validate", "fmt", "plan", "refresh"] {
        let shown = dir.ok(&[command, "--help"]);
        assert!(shown.contains("The manifest [default: pai-provision.toml]"), "{shown}");
    }
    let emulator = dir.ok(&["emulator", "--help"]);
    let usage = emulator.lines().find(|l| l.starts_with("Usage:")).unwrap_or_default();
    assert!(!usage.contains("--listen"), "--listen has a default: {usage}");
    for help in [
        "The seed of the fault and realism draws",
        "The one access key id it accepts",
        "visible to every user of the machine",
    ] {
        assert!(emulator.contains(help), "{help}: {emulator}");
    }
    assert!(emulator.contains("PAI_EMULATOR_ACCESS_KEY_SECRET"), "{emulator}");
}

/// Runs `cmd`, stopped after a minute if still running: a flag that is not refused can start a
/// server (`emulator`) that would otherwise run for ever. A stopped run has no exit code.
fn bounded(mut cmd: std::process::Command) -> Run {
    let mut child = cmd.spawn().expect("start pai-provision");
    for _ in 0..600 {
        if child.try_wait().expect("poll pai-provision").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if child.try_wait().expect("poll pai-provision").is_none() {
        child.kill().expect("stop pai-provision");
    }
    Run::from(child.wait_with_output().expect("wait for pai-provision"))
}

/// Starts `pai-provision emulator ARGS` with `env`, waits for its first listener, and returns
/// its URL and everything it said on stderr once stopped.
fn emulator_once(args: &[&str], env: &[(&str, &str)], then: impl FnOnce(&str)) -> String {
    let mut cmd = support::binary();
    cmd.arg("emulator")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("start the emulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read a listener line");
    let url = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| then(&url)));
    child.kill().expect("stop the emulator");
    let out = child.wait_with_output().expect("wait for the emulator");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if let Err(panic) = result {
        eprintln!("emulator stderr: {stderr}");
        std::panic::resume_unwind(panic);
    }
    assert!(url.starts_with("http://"), "no listener line: {line} {stderr}");
    stderr
}

#[test]
fn the_emulator_takes_its_key_from_the_environment_and_warns_when_exposed() {
    let dir = Workdir::with_manifest(MANIFEST);
    let env = [
        ("PAI_EMULATOR_ACCESS_KEY_ID", support::ACCESS_KEY_ID),
        ("PAI_EMULATOR_ACCESS_KEY_SECRET", support::ACCESS_KEY_SECRET),
    ];
    let stderr = emulator_once(&["--listen", "127.0.0.1:0"], &env, |url| {
        // The workdir signs with the same key pair: the emulator checks it with this secret.
        let run = dir.run(&["--endpoint", url, "plan"]);
        assert_eq!(run.code, Some(0), "{}", run.describe());
        assert!(run.stdout.contains("to order"), "{}", run.describe());
    });
    assert!(
        stderr.contains(&format!("access key id: {}", support::ACCESS_KEY_ID)),
        "{stderr}"
    );
    assert!(!stderr.contains(support::ACCESS_KEY_SECRET), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");

    let stderr = emulator_once(&["--listen", "0.0.0.0:0"], &[], |_| {});
    assert!(stderr.contains("warning: --listen 0.0.0.0:"), "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}
