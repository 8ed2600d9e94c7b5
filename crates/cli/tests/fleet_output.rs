//! What `fleet apply` says, end to end against the real emulator (issue 21, defect 16): a lock
//! wait is said at once and names the account, its state and the holder; a lock timeout is one
//! short line; each account's result is said once, in one vocabulary; products found already
//! purchased are counted; a runner that finds its work done by another says so.

mod support;

use support::fleet::{members, FleetSetup};

const FLEET: &str = "fleet.toml";

/// The line of stdout that starts with `prefix`.
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}…` in:\n{text}"))
}

#[test]
fn a_lock_wait_is_said_at_once_and_a_timeout_once_in_one_short_line() {
    let setup = FleetSetup::new(members(3), vec![]);
    let locked = setup.members[1].id.clone();
    let _lock = setup.hold_lock(&locked);
    let state = setup.location(&locked).to_string();

    let run = setup.expect(1, &["--lock-timeout", "3s", "fleet", "apply", "--auto-approve", FLEET]);
    // At the default verbosity, the wait is said while it lasts, with what and who.
    let wait = line(&run.stderr, "acct-2: waiting for the lock of its state");
    assert!(wait.contains(&state), "names the state: {wait}");
    assert!(
        wait.contains("held by `apply (another runner)` by pid") && wait.contains("at the latest"),
        "names the holder and the deadline: {wait}"
    );
    // The timeout: once, on stdout, short, naming the state once.
    let failed = line(&run.stdout, "acct-2: FAILED: ");
    assert!(failed.contains("is locked by `apply (another runner)`"), "{failed}");
    assert!(failed.contains("gave up after 3s (--lock-timeout)"), "{failed}");
    assert_eq!(failed.matches(&state).count(), 1, "{failed}");
    assert!(failed.len() < 250, "{} characters: {failed}", failed.len());
    assert!(!run.stderr.contains("is locked by"), "said twice:\n{}", run.stderr);
    // The accounts done are said once, on stdout, in the words of the progress.
    assert!(
        !run.stderr.contains("acct-1:") && !run.stderr.contains("acct-3:"),
        "quiet by default:\n{}",
        run.stderr
    );
    assert_eq!(
        line(&run.stdout, "acct-1, acct-3 (2 accounts): "),
        "acct-1, acct-3 (2 accounts): done: 6 ordered"
    );
    // With -v, each account's events, in the same words as the summary.
    drop(_lock);
    let again = setup.expect(0, &["-v", "fleet", "apply", "--auto-approve", FLEET]);
    assert!(again.stderr.contains("acct-2: done: 6 ordered"), "{}", again.stderr);
    assert!(again.stdout.contains("acct-2: done: 6 ordered"), "{}", again.stdout);
}

#[test]
fn products_found_purchased_are_counted_and_a_runner_whose_work_was_done_says_so() {
    let setup = FleetSetup::new(members(2), vec![]);
    setup.expect(0, &["fleet", "plan", "--out", "p.json", FLEET]);
    setup.expect(0, &["fleet", "apply", "p.json"]);

    // A second runner with the same reviewed plan, after the first: nothing is left to do,
    // and it says who did it rather than "no changes".
    let late = setup.expect(0, &["fleet", "apply", "p.json"]);
    let done = line(&late.stdout, "acct-1, acct-2 (2 accounts): ");
    assert!(
        done.contains("no changes left: another run applied this account since the plan"),
        "{}",
        late.stdout
    );
    assert!(
        late.stdout
            .contains("0 products ordered, 0 failed, 0 not started; 2 accounts applied by another run."),
        "{}",
        late.stdout
    );

    // A product the state forgot and the cloud reports purchased is recorded, and counted.
    let state = setup.location(&setup.members[0].id).to_string();
    let removed =
        support::Run::of(
            &mut setup
                .work
                .plain_command(&["--no-color", "--state", &state, "state", "rm", "pai"]),
        );
    assert_eq!(removed.code, Some(0), "{}", removed.describe());
    let found = setup.expect(0, &["fleet", "apply", "--auto-approve", FLEET]);
    assert_eq!(
        line(&found.stdout, "acct-1: "),
        "acct-1: done: nothing ordered, 1 recorded as already purchased",
        "{}",
        found.stdout
    );
    assert!(
        found
            .stdout
            .contains("0 products ordered, 0 failed, 0 not started; 1 product recorded as already purchased."),
        "{}",
        found.stdout
    );
    assert_eq!(
        setup.ledger_of(&setup.members[0].id).orders.len(),
        2,
        "nothing ordered twice"
    );
}

/// Quiet by default: the executor's warnings of every account (answers lost, settle waits) are
/// not on stderr; they are counted by kind in one line, which names the log file holding each
/// with its account's name. `-v` prints them too.
#[test]
fn the_accounts_warnings_are_counted_by_kind_and_logged_to_a_named_file() {
    let mut setup = FleetSetup::with(members(3), vec![], |config| config.faults.drop_after_commit = 1.0);
    let log = setup.work.file("fleet.log");
    setup
        .work
        .set_env("PAI_PROVISION_FLEET_LOG", Some(log.to_str().expect("a UTF-8 path")));
    setup.expect(0, &["fleet", "plan", "--out", "p.json", FLEET]);
    let quiet = ["--settle-time", "2s", "--timeout", "1s", "fleet", "apply", "p.json"];
    let run = setup.expect(0, &quiet);
    assert!(
        !run.stderr.contains("WARN order outcome"),
        "no warning line by default:\n{}",
        run.stderr
    );
    let summary = line(&run.stderr, "Warnings: ");
    assert!(
        summary.starts_with("Warnings: 6 × order outcome unknown") && summary.contains(&log.display().to_string()),
        "two orders of unknown outcome in each of 3 accounts, and where the detail is: {summary}"
    );
    let text = std::fs::read_to_string(&log).expect("the log file");
    for account in ["acct-1", "acct-2", "acct-3"] {
        assert_eq!(
            text.lines()
                .filter(|l| l.contains(&format!(" WARN {account}: order outcome unknown")))
                .count(),
            2,
            "{text}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).expect("metadata").permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the log names accounts and products: its owner's alone"
        );
    }

    // -v: the same warnings on stderr as well.
    let verbose = FleetSetup::with(members(1), vec![], |config| config.faults.drop_after_commit = 1.0);
    verbose.expect(0, &["fleet", "plan", "--out", "p.json", FLEET]);
    let run = verbose.expect(0, &[&["-v"][..], &quiet].concat());
    assert!(
        run.stderr.contains("order outcome unknown; asking ListProducts"),
        "{}",
        run.stderr
    );
}
