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

/// `changed` accounts to order in, `unplanned` accounts refused with a long reason.
fn large_fleet(changed: usize, unplanned: usize, settled: usize) -> FleetPlan {
    let mut accounts = Vec::new();
    let long = "ListProducts refused: Throttling.User: Request was denied due to user flow control. ".repeat(12);
    for i in 0..changed + unplanned + settled {
        let name = format!("team-{i:05}");
        let id = format!("{:016}", 1_000_000_000_000_000u64 + i as u64);
        let outcome = if i < changed {
            planned(fresh_account())
        } else if i < changed + unplanned {
            crate::fixtures::not_planned(&long)
        } else {
            planned(settled_account())
        };
        accounts.push(account(&name, &id, &[], outcome));
    }
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
