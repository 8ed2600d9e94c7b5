//! Snapshots of the three formats over the small fleet, and the comment limit over large ones.

use super::*;
use crate::fixtures::*;
use crate::plan::FleetPlan;

#[test]
fn human() {
    insta::assert_snapshot!("human_small_fleet", super::human(&small_fleet(), false));
}

#[test]
fn human_colour_only_adds_escape_codes() {
    let plain = super::human(&small_fleet(), false);
    let coloured = super::human(&small_fleet(), true);
    assert_ne!(plain, coloured);
    let mut stripped = String::new();
    let mut chars = coloured.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| *c == 'm');
        } else {
            stripped.push(c);
        }
    }
    assert_eq!(stripped, plain);
}

#[test]
fn markdown() {
    let text = super::markdown(&small_fleet());
    assert!(text.len() < COMMENT_LIMIT);
    assert!(!text.contains("too long for one comment"));
    insta::assert_snapshot!("markdown_small_fleet", text);
}

#[test]
fn json_is_the_saved_document() {
    let fleet = small_fleet();
    let text = super::json(&fleet);
    assert_eq!(
        FleetPlan::from_json(&text, std::path::Path::new("p.json")).unwrap(),
        fleet
    );
    insta::assert_snapshot!("json_small_fleet", text);
}

#[test]
fn text_from_outside_is_written_out_in_every_format() {
    let fleet = small_fleet();
    for (format, text) in [
        ("human", super::human(&fleet, false)),
        ("markdown", super::markdown(&fleet)),
        ("json", super::json(&fleet)),
    ] {
        assert!(!text.contains('\u{1b}'), "{format} carries a raw escape");
        assert!(text.contains("\\u{1b}[31m") || text.contains("\\u001b[31m"), "{format}");
    }
    let mut fleet = small_fleet();
    fleet.fleet_path = "fleet\u{7}.toml".into();
    if let crate::plan::AccountOutcome::NotPlanned { reason } = &mut fleet.accounts[3].outcome {
        *reason = "line one\nline two | </details><script>".into();
    }
    let md = super::markdown(&fleet);
    assert!(md.contains("fleet\\u{7}.toml") && !md.contains('\u{7}'), "{md}");
    assert!(
        md.contains("line one line two \\| &lt;/details&gt;&lt;script&gt;"),
        "{md}"
    );
    let human = super::human(&fleet, false);
    assert!(human.contains("team-d (1000000000000004): line one\\nline two | </details><script>"));
}

/// A new account whose plan differs from every other's (a warning of its own), so that it gets
/// a section of its own.
fn distinct_fresh_account(i: usize) -> pai_planner::Plan {
    let mut plan = fresh_account();
    plan.changes[0].warnings.push(format!("only in account {i}"));
    plan
}

/// `changed` accounts to order in, each with changes of its own, `unplanned` accounts refused
/// with a long reason.
fn large_fleet(changed: usize, unplanned: usize, settled: usize) -> FleetPlan {
    let mut accounts = Vec::new();
    let long = "ListProducts refused: Throttling.User: Request was denied due to user flow control. ".repeat(12);
    for i in 0..changed + unplanned + settled {
        let name = format!("team-{i:05}");
        let id = format!("{:016}", 1_000_000_000_000_000u64 + i as u64);
        let outcome = if i < changed {
            planned(distinct_fresh_account(i))
        } else if i < changed + unplanned {
            crate::fixtures::not_planned(&long)
        } else {
            planned(settled_account())
        };
        accounts.push(account(&name, &id, &[], outcome));
    }
    fleet_of(accounts)
}

/// A fleet plan of `accounts`, of `fleet.toml`, its states beside it.
fn fleet_of(accounts: Vec<crate::plan::AccountPlan>) -> FleetPlan {
    FleetPlan::new(
        "fleet.toml",
        FLEET_HASH.into(),
        false,
        "fleet.states".into(),
        None,
        accounts,
        at(),
    )
}

fn balanced(text: &str) -> bool {
    text.matches("<details").count() == text.matches("</details>").count()
}

#[test]
fn a_long_plan_is_summarised_within_the_comment_limit() {
    // (accounts with changes, not planned, settled, every section shown)
    let table = [
        (5, 5, 5, true),
        (60, 0, 0, false),
        (2_000, 0, 0, false),
        (10, 3_000, 0, false),
        (1_500, 1_500, 5_000, false),
    ];
    for (changed, unplanned, settled, whole) in table {
        let fleet = large_fleet(changed, unplanned, settled);
        let text = super::markdown(&fleet);
        let case = format!("{changed} changed, {unplanned} not planned, {settled} settled");
        assert!(text.len() <= COMMENT_LIMIT, "{case}: {} bytes", text.len());
        assert!(balanced(&text), "{case}: a section is cut");
        assert!(text.starts_with("### pai-provision fleet plan\n"), "{case}");
        assert!(
            text.contains(&totals_line(&fleet.totals, 0)),
            "{case}: the totals are whole"
        );
        assert!(text.trim_end().ends_with("</sub>"), "{case}: the foot is kept");
        assert_eq!(text.contains("too long for one comment"), !whole, "{case}");
        let shown = text.matches("<details><summary><b>team-").count();
        assert_eq!(shown == changed, whole, "{case}: {shown} sections shown");
        if settled > 0 {
            assert!(text.contains(&format!("No changes in {settled} accounts.")), "{case}");
        }
    }
}

#[test]
fn what_is_left_out_is_counted() {
    let fleet = large_fleet(60, 0, 0);
    let text = super::markdown(&fleet);
    let shown = text.matches("<details><summary><b>team-").count();
    assert!(shown > 0 && shown < 60, "{shown}");
    assert!(
        text.contains(&format!("so it leaves out the changes of {}.", accounts(60 - shown))),
        "{text}"
    );
    assert!(text.contains(&format!(
        "*The changes of {} more accounts are not shown here.*",
        60 - shown
    )));
    // Every account still has its row: rows are taken first.
    assert_eq!(text.matches("| `team-").count(), 60);

    let crowded = super::markdown(&large_fleet(10, 3_000, 0));
    assert!(
        crowded.contains("more accounts not planned |"),
        "the list of refused accounts is cut with a count"
    );
    assert!(
        crowded.contains("the changes of 10 accounts"),
        "no room is left for sections"
    );
}

#[test]
fn a_small_limit_still_holds() {
    let fleet = small_fleet();
    for limit in [600, 2_000, 5_000, 20_000] {
        let text = markdown::fleet(&fleet, limit);
        assert!(text.len() <= limit, "{limit}: {}", text.len());
        assert!(text.is_char_boundary(text.len()));
    }
}

#[test]
fn a_fleet_plan_with_nothing_to_review_is_one_markdown_line() {
    let settled = large_fleet(0, 0, 1_000);
    let line = super::markdown(&settled);
    assert_eq!(line.trim_end().lines().count(), 1, "{line}");
    assert!(line.contains("no changes in 1000 accounts"), "{line}");
    assert_eq!(
        super::markdown_saved(&settled),
        line,
        "no digest to check when nothing is applied"
    );
    for (what, plan) in [
        ("an account with changes", large_fleet(1, 0, 10)),
        ("an account not planned", large_fleet(0, 1, 10)),
    ] {
        assert!(super::markdown(&plan).trim_end().lines().count() > 1, "{what}");
    }
}

/// Issue 21, defect 9: a denied account is counted in the totals line, and its section does not
/// say its plan was "not saved" (the fleet plan is saved; `fleet apply` holds the account back).
#[test]
fn a_denied_account_is_counted_and_not_called_unsaved() {
    let mut denied = fresh_account();
    denied.policy = Some(pai_planner::PolicyVerdict {
        policies_digest: "sha256:00".into(),
        deny: vec![pai_planner::PolicyFinding {
            file: "max_orders.rego".into(),
            rule: "deny".into(),
            message: "too many orders".into(),
        }],
        warn: vec![],
    });
    let small = small_fleet();
    let mut accounts = small.accounts.clone();
    accounts.push(account("team-f", "1000000000000006", &[], planned(denied)));
    let fleet = FleetPlan::new(
        "fleet/fleet.toml",
        FLEET_HASH.into(),
        false,
        "fleet/fleet.states".into(),
        None,
        accounts,
        at(),
    );
    let text = super::human(&fleet, false);
    assert!(!text.contains("not saved"), "{text}");
    assert!(text.contains("fleet apply leaves this account alone"), "{text}");
    let totals = text
        .lines()
        .find(|l| l.starts_with("Fleet: "))
        .expect("the totals line");
    assert!(totals.contains("1 denied by a policy"), "{totals}");
}

/// `same` accounts with the same changes (a fresh account each), then `others` accounts that
/// differ, named `acct-0001` on.
fn identical_fleet(same: usize, others: usize) -> FleetPlan {
    let accounts = (0..same + others)
        .map(|i| {
            let plan = if i < same {
                fresh_account()
            } else {
                distinct_fresh_account(i)
            };
            account(
                &format!("acct-{:04}", i + 1),
                &format!("{:016}", 2_000_000_000_000_000u64 + i as u64),
                &[],
                planned(plan),
            )
        })
        .collect();
    fleet_of(accounts)
}

/// Issue 21: at 1,000 accounts of one manifest the plan is readable. Accounts with the same
/// changes share one section that lists them compactly; the ones that differ keep their own;
/// the JSON keeps every account.
#[test]
fn accounts_with_the_same_changes_share_one_section() {
    let same = identical_fleet(1_000, 0);
    let text = super::human(&same, false);
    assert!(text.lines().count() < 200, "{} lines:\n{text}", text.lines().count());
    assert_eq!(text.matches("── ").count(), 1, "{text}");
    assert!(
        text.contains("── the same changes in 1000 accounts: acct-0001..acct-1000 ──"),
        "{text}"
    );
    assert!(text.contains("Fleet: 1000 accounts, 1000 planned (1000 with changes, 0 with conflicts)"));
    assert!(
        text.contains("Plan: 2000 to order"),
        "the totals count every account: {text}"
    );
    assert!(!text.contains("reasons below are"), "identical texts need no note");

    let mixed = identical_fleet(998, 2);
    let text = super::human(&mixed, false);
    assert_eq!(text.matches("── ").count(), 3, "{text}");
    assert!(text.contains("── the same changes in 998 accounts: acct-0001..acct-0998 ──"));
    assert!(text.contains("── acct-0999 (2000000000000998) ──"));
    assert!(text.contains("── acct-1000 (2000000000000999) ──"));

    let md = super::markdown(&mixed);
    assert!(!md.contains("too long for one comment"), "{md}");
    assert_eq!(
        md.matches("<details><summary><b>acct-").count() + md.matches("<details><summary><b>the same").count(),
        3,
        "{md}"
    );
    assert!(md.contains("| acct-0001..acct-0998 | 998 accounts | 2 |"), "{md}");
    assert!(md.contains("<b>the same changes in 998 accounts: acct-0001..acct-0998</b> (each)"));

    let json: serde_json::Value = serde_json::from_str(&super::json(&mixed)).unwrap();
    assert_eq!(
        json["accounts"].as_array().unwrap().len(),
        1_000,
        "the JSON keeps every account"
    );
}

/// Two accounts adopting the same product are the same change, though each reason names its
/// own ProductId: one section, which says whose reasons it shows.
#[test]
fn a_shared_section_says_whose_reasons_it_shows() {
    let adopting = |id: &str| {
        let mut plan = fresh_account();
        plan.changes[0].reason = format!("the cloud reports it purchased (ProductId {id})");
        plan
    };
    let accounts = vec![
        account("team-a", "1000000000000001", &[], planned(adopting("pid-a"))),
        account("team-b", "1000000000000002", &[], planned(adopting("pid-b"))),
    ];
    let fleet = FleetPlan::new("fleet.toml", FLEET_HASH.into(), false, "s".into(), None, accounts, at());
    let text = super::human(&fleet, false);
    assert!(
        text.contains("── the same changes in 2 accounts: team-a, team-b ──"),
        "{text}"
    );
    assert!(text.contains("the reasons below are team-a's"), "{text}");
    assert!(text.contains("pid-a") && !text.contains("pid-b"), "{text}");
}

/// Accounts refused for the same reason share its line.
#[test]
fn accounts_not_planned_for_one_reason_share_a_line() {
    let accounts = (1..=300)
        .map(|i| {
            account(
                &format!("acct-{i}"),
                &format!("{:016}", 2_000_000_000_000_000u64 + i),
                &[],
                crate::fixtures::not_planned(if i == 7 { "throttled" } else { "no role" }),
            )
        })
        .collect();
    let fleet = FleetPlan::new("fleet.toml", FLEET_HASH.into(), false, "s".into(), None, accounts, at());
    let text = super::human(&fleet, false);
    assert!(text.contains("Not planned (300):\n"), "{text}");
    assert!(
        text.contains("  acct-1..acct-6, acct-8..acct-300 (299 accounts): no role\n"),
        "{text}"
    );
    assert!(text.contains("  acct-7 (2000000000000007): throttled\n"), "{text}");
    assert!(text.lines().count() < 20, "{text}");
}
