//! The fleet plan as a pull-request comment. GitHub refuses a comment past 65,536 characters,
//! and a fleet's full plan passes that at a few dozen accounts with changes; past the limit the
//! comment keeps its head (totals, warnings) and foot, and takes as many table rows,
//! not-planned accounts and account sections as fit, in that order, saying what it left out.

use std::fmt::Write;

use pai_spec::escape;

use super::groups::{groups, Group};
use super::{
    accounts, changes_line, group_names, not_planned, reasons_note, totals_line, with_section, without_changes,
};
use crate::plan::{AccountPlan, FleetPlan};

/// GitHub's limit on a comment's length, in characters. The comment is measured in bytes,
/// which are never fewer than characters (or UTF-16 units), so it fits however it is counted.
pub const COMMENT_LIMIT: usize = 65_536;

/// Room kept, when summarising, for the notes that say what was left out.
const NOTES: usize = 1_024;

/// A reason longer than this is cut in the comment (the human text and the JSON keep it whole).
const REASON_MAX: usize = 400;

/// Table cells hold one line, no `|`, and no HTML a reason could carry.
fn cell(s: &str) -> String {
    escape(&s.replace('|', "\\|").replace('\n', " "))
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) fn fleet(plan: &FleetPlan, limit: usize) -> String {
    if let Some(line) = quiet(plan) {
        return line;
    }
    let head = head(plan);
    let foot = foot(plan);
    let groups = groups(plan);
    let rows: Vec<String> = groups.iter().map(row).collect();
    let unplanned: Vec<String> = not_planned(plan).map(|(a, reason)| unplanned_row(a, reason)).collect();
    // Rendered only as far as a comment could hold: 10,000 accounts' sections would be
    // hundreds of megabytes, of which at most `limit` bytes are kept.
    let with_sections = rows.len();
    let mut sections: Vec<String> = Vec::new();
    let mut rendered = 0;
    for group in &groups {
        if rendered > limit {
            break;
        }
        let text = section(group);
        rendered += text.len();
        sections.push(text);
    }
    let unchanged = match without_changes(plan) {
        0 => String::new(),
        n => format!("No changes in {}.\n\n", accounts(n)),
    };
    let full = assemble(
        &head,
        &foot,
        &unchanged,
        [&rows[..], &unplanned[..], &sections[..]],
        None,
    );
    if full.len() <= limit && sections.len() == with_sections {
        return full;
    }
    let fixed = head.len() + foot.len() + unchanged.len() + ROWS_HEAD.len() + UNPLANNED_HEAD.len() + NOTES;
    let mut budget = limit.saturating_sub(fixed);
    let kept = [
        fit(&rows, &mut budget),
        fit(&unplanned, &mut budget),
        fit(&sections, &mut budget),
    ];
    // Left out, in accounts: a row or section may stand for many.
    let members = |from: usize| groups[from..].iter().map(|g| g.accounts.len()).sum::<usize>();
    let summarised = assemble(
        &head,
        &foot,
        &unchanged,
        [&rows[..kept[0]], &unplanned[..kept[1]], &sections[..kept[2]]],
        Some([members(kept[0]), unplanned.len() - kept[1], members(kept[2])]),
    );
    cut(summarised, limit)
}

/// A fleet plan with nothing to review, in one line: every account planned, none with a
/// section (changes, conflicts, a policy's message). As a single plan's (`pai_planner::render`).
pub(super) fn quiet(plan: &FleetPlan) -> Option<String> {
    let t = &plan.totals;
    (t.not_planned == 0 && with_section(plan).next().is_none()).then(|| {
        format!(
            "**pai-provision fleet plan** of <code>{}</code>{}{}: no changes in {}.\n",
            cell(&plan.fleet_path),
            plan.shard.map(|s| format!(", shard {s}")).unwrap_or_default(),
            if plan.sandbox { " (sandbox)" } else { "" },
            accounts(t.accounts)
        )
    })
}

/// How many of `items`, from the first, fit in `budget` bytes (taken from it).
fn fit(items: &[String], budget: &mut usize) -> usize {
    let mut n = 0;
    for item in items {
        if item.len() > *budget {
            break;
        }
        *budget -= item.len();
        n += 1;
    }
    n
}

const ROWS_HEAD: &str =
    "| Account | Id | Order | Adopt | Reorder | Forget | Conflict | Unchanged |\n|---|---|--:|--:|--:|--:|--:|--:|\n";
const UNPLANNED_HEAD: &str = "#### Not planned\n\n| Account | Id | Reason |\n|---|---|---|\n";

/// The comment from its parts; `left_out` (rows, not planned, sections) when summarised.
fn assemble(
    head: &str,
    foot: &str,
    unchanged: &str,
    [rows, unplanned, sections]: [&[String]; 3],
    left_out: Option<[usize; 3]>,
) -> String {
    let [rows_out, unplanned_out, sections_out] = left_out.unwrap_or_default();
    let mut out = head.to_owned();
    if let Some(left_out) = left_out {
        let _ = write!(
            out,
            "> [!NOTE]\n> This plan is too long for one comment (65,536 characters at most), so it leaves out {}. \
             The job's log (`fleet plan`) and the saved fleet plan hold all of it.\n\n",
            what_is_left_out(left_out)
        );
    }
    if !rows.is_empty() || rows_out > 0 {
        out.push_str(ROWS_HEAD);
        rows.iter().for_each(|r| out.push_str(r));
        if rows_out > 0 {
            let _ = writeln!(out, "| … | and {} with changes | | | | | | |", more(rows_out));
        }
        out.push('\n');
    }
    out.push_str(unchanged);
    if !unplanned.is_empty() || unplanned_out > 0 {
        out.push_str(UNPLANNED_HEAD);
        unplanned.iter().for_each(|r| out.push_str(r));
        if unplanned_out > 0 {
            let _ = writeln!(out, "| … | and {} not planned | |", more(unplanned_out));
        }
        out.push('\n');
    }
    sections.iter().for_each(|s| out.push_str(s));
    if sections_out > 0 {
        let _ = writeln!(out, "*The changes of {} are not shown here.*\n", more(sections_out));
    }
    out.push_str(foot);
    out
}

fn what_is_left_out([rows, unplanned, sections]: [usize; 3]) -> String {
    let mut parts = Vec::new();
    if sections > 0 {
        parts.push(format!("the changes of {}", accounts(sections)));
    }
    if rows > 0 {
        parts.push(format!("{} of the table", rows_word(rows)));
    }
    if unplanned > 0 {
        parts.push(format!("{unplanned} of the accounts not planned"));
    }
    match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `1 more account`, `3 more accounts`.
fn more(n: usize) -> String {
    format!("{n} more {}", if n == 1 { "account" } else { "accounts" })
}

fn rows_word(n: usize) -> String {
    format!("{n} {}", if n == 1 { "row" } else { "rows" })
}

/// The last guard: `text` within `limit` bytes, cut at a character boundary. Only a head or
/// foot of absurd size (a fleet path of thousands of characters) ever reaches it.
fn cut(mut text: String, limit: usize) -> String {
    const MARK: &str = "\n\n*(cut to fit a comment)*\n";
    if text.len() <= limit {
        return text;
    }
    let mut end = limit.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(MARK);
    text
}

fn head(plan: &FleetPlan) -> String {
    let t = &plan.totals;
    let mut out = String::from("### pai-provision fleet plan\n\n");
    let _ = writeln!(out, "{}\n", cell(&super::headline(plan)));
    let _ = writeln!(
        out,
        "**{}**\n\n**{}**\n",
        totals_line(t, plan.denied()),
        changes_line(t)
    );
    out.push_str(
        "| Accounts | Planned | Not planned | With changes | With conflicts | To order | To adopt | To reorder \
         | To forget | Conflicts | Unchanged |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        t.accounts,
        t.planned,
        t.not_planned,
        t.with_changes,
        t.with_conflicts,
        t.order,
        t.adopt,
        t.reorder,
        t.forget,
        t.conflict,
        t.noop
    );
    if t.with_conflicts > 0 || t.not_planned > 0 {
        let mut held = Vec::new();
        if t.with_conflicts > 0 {
            held.push(format!("{} with conflicts", accounts(t.with_conflicts)));
        }
        if t.not_planned > 0 {
            held.push(format!("{} not planned", accounts(t.not_planned)));
        }
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> {}: `fleet apply` leaves them alone, applies the others, and fails (below).\n",
            held.join(" and ")
        );
    }
    out
}

fn foot(plan: &FleetPlan) -> String {
    format!(
        "<sub>fleet <code>{}</code> sha256 {} · states <code>{}</code>{} · pai-provision {}</sub>\n",
        cell(&plan.fleet_path),
        cell(plan.fleet_hash.get(..12).unwrap_or(&plan.fleet_hash)),
        cell(&plan.state),
        plan.shard.map(|s| format!(" · shard {s}")).unwrap_or_default(),
        cell(&plan.tool_version)
    )
}

/// One row per section: the account, or the accounts sharing it.
fn row(group: &Group<'_>) -> String {
    let s = group.plan.summary();
    let (names, id) = match &group.accounts[..] {
        [one] => (format!("`{}`", cell(one.name.as_str())), cell(&one.id)),
        many => (cell(&group_names(group)), accounts(many.len())),
    };
    format!(
        "| {names} | {id} | {} | {} | {} | {} | {} | {} |\n",
        s.order,
        s.adopt,
        s.reorder,
        s.forget,
        if s.conflict > 0 {
            format!("**{}**", s.conflict)
        } else {
            "0".to_owned()
        },
        s.noop
    )
}

fn unplanned_row(account: &AccountPlan, reason: &str) -> String {
    let reason = match reason.char_indices().nth(REASON_MAX) {
        Some((end, _)) => format!("{}…", &reason[..end]),
        None => reason.to_owned(),
    };
    format!(
        "| `{}` | {} | {} |\n",
        cell(account.name.as_str()),
        cell(&account.id),
        cell(&reason)
    )
}

/// A section's plan comment (an account's, or that of the accounts sharing it), collapsed; open
/// when it has conflicts or a policy denies it, which block it.
fn section(group: &Group<'_>) -> String {
    let plan = group.plan;
    let s = plan.summary();
    // Decoded one at a time: the fleet plan holds every account's plan encoded.
    let changes = match plan.decode() {
        Ok(plan) => pai_planner::render::markdown(&plan),
        Err(e) => format!("> [!CAUTION]\n> {}\n", cell(&e.to_string())),
    };
    let (names, id) = match &group.accounts[..] {
        [one] => (cell(one.name.as_str()), cell(&one.id)),
        many => (
            format!(
                "the same changes in {}: {}",
                accounts(many.len()),
                cell(&group_names(group))
            ),
            "each".to_owned(),
        ),
    };
    let note = reasons_note(group)
        .map(|n| format!("{}\n\n", cell(&n)))
        .unwrap_or_default();
    format!(
        "<details{}><summary><b>{}</b> ({}): {} to order, {} to adopt, {} to reorder, {} to forget, {} {}{}</summary>\n\n{}{}\n</details>\n\n",
        if plan.has_conflicts() || plan.is_denied() { " open" } else { "" },
        names,
        id,
        s.order,
        s.adopt,
        s.reorder,
        s.forget,
        s.conflict,
        if s.conflict == 1 { "conflict" } else { "conflicts" },
        if plan.is_denied() { ", <b>denied by policy</b>" } else { "" },
        note,
        changes
    )
}
