//! A fleet plan as people read it: [`human()`] text (Terraform-like, a section per account with
//! changes or conflicts), [`markdown()`] for a pull-request comment, kept within GitHub's
//! comment limit, and the [`json()`] document. Each account's changes are rendered by
//! `pai_planner::render`, exactly as `plan` renders a single account; this module adds the
//! headings, the totals and the accounts without a section. Every text from outside (names,
//! paths, reasons) goes through `pai_spec::escape`.

use pai_spec::escape;

use crate::plan::{AccountOutcome, AccountPlan, CompactPlan, FleetPlan, Totals};

mod markdown;
#[cfg(test)]
mod tests;

pub use markdown::COMMENT_LIMIT;

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
    for (account, account_plan) in with_section(plan) {
        // Decoded one at a time: the fleet plan holds every account's plan encoded.
        let account_plan = account_plan.decode().map_err(std::io::Error::other)?;
        writeln!(out, "{}", bold(&format!("── {} ──", account_title(account))))?;
        out.write_all(pai_planner::render::human(&account_plan, color).as_bytes())?;
        if account_plan.is_denied() {
            writeln!(out, "  fleet apply leaves this account alone.")?;
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
        for (account, reason) in unplanned {
            writeln!(out, "  {}: {}", account_title(account), escape(reason))?;
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
