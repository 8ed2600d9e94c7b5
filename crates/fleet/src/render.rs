//! A fleet plan as people read it: [`human()`] text (Terraform-like, a section per account with
//! changes or conflicts, accounts with the same changes sharing one: `groups`),
//! [`markdown()`] for a pull-request comment, kept within GitHub's comment limit, and the
//! [`json()`] document, which keeps every account. Each section's changes are rendered by
//! `pai_planner::render`, exactly as `plan` renders a single account; this module adds the
//! headings, the totals and the accounts without a section. Every text from outside (names,
//! paths, reasons) goes through `pai_spec::escape`.
//!
//! - `groups`: which accounts share a section.
//! - `names`: a list of account names, short (`acct-0001..acct-0998`).
//! - `markdown`: the pull-request comment.

use pai_spec::escape;

use crate::plan::{AccountOutcome, AccountPlan, CompactPlan, FleetPlan, Totals};

mod groups;
mod markdown;
mod names;
#[cfg(test)]
mod tests;

use groups::Group;

pub use markdown::COMMENT_LIMIT;
pub use names::{compact as compact_names, grouped_by};

/// The fleet plan as `fleet plan` prints it; coloured headings if `color`.
pub fn human(plan: &FleetPlan, color: bool) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = human_to(plan, color, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`human()`], written account by account to `out`: a fleet of 10,000 accounts is tens of
/// megabytes of text, which need not be held at once.
pub fn human_to(plan: &FleetPlan, color: bool, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let bold = |s: &str| {
        if color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    writeln!(out, "{}\n", headline(plan))?;
    for group in groups::groups(plan) {
        // Decoded one at a time: the fleet plan holds every account's plan encoded.
        let account_plan = group.plan.decode().map_err(std::io::Error::other)?;
        writeln!(out, "{}", bold(&format!("── {} ──", group_title(&group))))?;
        if let Some(note) = reasons_note(&group) {
            writeln!(out, "{note}")?;
        }
        out.write_all(pai_planner::render::human(&account_plan, color).as_bytes())?;
        if account_plan.is_denied() {
            let whom = if group.accounts.len() == 1 {
                "this account"
            } else {
                "these accounts"
            };
            writeln!(out, "  fleet apply leaves {whom} alone.")?;
        }
        writeln!(out)?;
    }
    let unchanged = without_changes(plan);
    if unchanged > 0 {
        writeln!(out, "No changes in {}.\n", accounts(unchanged))?;
    }
    let unplanned: Vec<(&AccountPlan, &str)> = not_planned(plan).collect();
    if !unplanned.is_empty() {
        writeln!(out, "{}", bold(&format!("Not planned ({}):", unplanned.len())))?;
        // One line per reason: a role missing from every account is one line, not a thousand.
        for (reason, members) in grouped_by(unplanned, |(_, reason)| *reason) {
            let whom = match &members[..] {
                [(one, _)] => account_title(one),
                many => {
                    let names: Vec<&str> = many.iter().map(|(a, _)| a.name.as_str()).collect();
                    format!("{} ({})", escape(&names::compact(&names)), accounts(many.len()))
                }
            };
            writeln!(out, "  {whom}: {}", escape(reason))?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{}", totals_line(&plan.totals, plan.denied()))?;
    writeln!(out, "{}", changes_line(&plan.totals))
}

/// [`human()`] of a saved fleet plan: followed by its digest, which the reviewer checks and the
/// pipeline passes to `fleet apply FLEETPLAN --expect-digest`.
pub fn human_saved(plan: &FleetPlan, color: bool) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = human_saved_to(plan, color, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`human_saved()`], written to `out` as [`human_to`] writes.
pub fn human_saved_to(plan: &FleetPlan, color: bool, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    human_to(plan, color, out)?;
    writeln!(
        out,
        "Fleet plan digest: {} (fleet apply FLEETPLAN --expect-digest checks it)",
        plan.digest()
    )
}

/// [`markdown()`] of a saved fleet plan, its digest last, the whole within [`COMMENT_LIMIT`]; one
/// line when there is nothing to review.
pub fn markdown_saved(plan: &FleetPlan) -> String {
    // Nothing to apply, nothing to check: the one line stays one line.
    if let Some(line) = markdown::quiet(plan) {
        return line;
    }
    let digest = format!("\nFleet plan digest: `{}`\n", plan.digest());
    let mut out = markdown::fleet(plan, COMMENT_LIMIT.saturating_sub(digest.len()));
    out.push_str(&digest);
    out
}

/// The fleet plan as a pull-request comment (GitHub-flavoured Markdown), at most
/// [`COMMENT_LIMIT`] bytes: past it, the per-account details are summarised.
pub fn markdown(plan: &FleetPlan) -> String {
    markdown::fleet(plan, COMMENT_LIMIT)
}

/// The fleet plan's JSON document: what `--format json` prints, byte for byte what `--out` saves.
pub fn json(plan: &FleetPlan) -> String {
    plan.to_json()
}

/// `Fleet plan of fleet/fleet.toml, shard 1/2: 5 accounts.`
fn headline(plan: &FleetPlan) -> String {
    format!(
        "Fleet plan of {}{}{}: {}.",
        escape(&plan.fleet_path),
        plan.shard.map(|s| format!(", shard {s}")).unwrap_or_default(),
        if plan.sandbox { " (sandbox)" } else { "" },
        accounts(plan.totals.accounts)
    )
}

/// `team-a (1000000000000001)`
fn account_title(account: &AccountPlan) -> String {
    format!("{} ({})", escape(account.name.as_str()), escape(&account.id))
}

/// `team-a (1000000000000001)`, or for several accounts `the same changes in 998 accounts:
/// acct-0001..acct-0998`.
fn group_title(group: &Group<'_>) -> String {
    match &group.accounts[..] {
        [one] => account_title(one),
        many => format!(
            "the same changes in {}: {}",
            accounts(many.len()),
            escape(&group_names(group))
        ),
    }
}

fn group_names(group: &Group<'_>) -> String {
    let names: Vec<&str> = group.accounts.iter().map(|a| a.name.as_str()).collect();
    names::compact(&names)
}

/// When the members' reasons differ (they name each account's own ids), whose are shown.
fn reasons_note(group: &Group<'_>) -> Option<String> {
    (!group.same_text).then(|| {
        format!(
            "(the reasons below are {}'s; the other accounts' name their own ids: see the JSON plan)",
            escape(group.first().name.as_str())
        )
    })
}

/// `1 account`, `3 accounts`.
fn accounts(n: usize) -> String {
    format!("{n} {}", if n == 1 { "account" } else { "accounts" })
}

/// The planned accounts that get a section: with changes, conflicts, or a policy's message.
fn with_section(plan: &FleetPlan) -> impl Iterator<Item = (&AccountPlan, &CompactPlan)> {
    plan.accounts
        .iter()
        .filter_map(|a| a.plan().map(|p| (a, p)))
        .filter(|(_, p)| notable(p))
}

/// How many planned accounts have none of what gives a section.
fn without_changes(plan: &FleetPlan) -> usize {
    plan.accounts
        .iter()
        .filter_map(AccountPlan::plan)
        .filter(|p| !notable(p))
        .count()
}

fn notable(p: &CompactPlan) -> bool {
    p.has_changes() || p.has_conflicts() || p.has_policy_messages()
}

fn not_planned(plan: &FleetPlan) -> impl Iterator<Item = (&AccountPlan, &str)> {
    plan.accounts.iter().filter_map(|a| match &a.outcome {
        AccountOutcome::NotPlanned { reason } => Some((a, reason.as_str())),
        AccountOutcome::Planned { .. } => None,
    })
}

/// `Fleet: 5 accounts, 4 planned (2 with changes, 1 with conflicts), 1 not planned.`, with
/// `, 1 denied by a policy` inside the parentheses when a policy denies some account.
fn totals_line(t: &Totals, denied: usize) -> String {
    let denied = if denied > 0 {
        format!(", {denied} denied by a policy")
    } else {
        String::new()
    };
    format!(
        "Fleet: {}, {} planned ({} with changes, {} with conflicts{denied}), {} not planned.",
        accounts(t.accounts),
        t.planned,
        t.with_changes,
        t.with_conflicts,
        t.not_planned
    )
}

/// `Plan: 2 to order, 1 to adopt, 0 to reorder, 0 to forget, 1 conflict, 2 unchanged.`, the
/// single plan's summary line, over every planned account.
fn changes_line(t: &Totals) -> String {
    format!(
        "Plan: {} to order, {} to adopt, {} to reorder, {} to forget, {} {}, {} unchanged.",
        t.order,
        t.adopt,
        t.reorder,
        t.forget,
        t.conflict,
        if t.conflict == 1 { "conflict" } else { "conflicts" },
        t.noop
    )
}
