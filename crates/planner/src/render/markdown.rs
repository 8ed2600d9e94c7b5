//! The plan as a pull-request comment (GitHub-flavoured Markdown).

use std::fmt::Write;

use super::{line_diff, request_text};
use crate::change::Action;
use crate::plan::{Plan, PolicyVerdict};
use pai_spec::escape;

/// Table cells hold one line and no `|`.
fn cell(s: &str) -> String {
    escape(&s.replace('|', "\\|").replace('\n', " ")).into_owned()
}

pub fn plan(plan: &Plan) -> String {
    if let Some(line) = quiet(plan) {
        return line;
    }
    let mut out = String::new();
    out.push_str("### pai-provision plan\n\n");
    let _ = writeln!(out, "**{}**\n", super::human::summary_line(plan));
    if let Some(freeze) = &plan.frozen {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> The state is {}: apply refuses until `pai-provision state unfreeze`.\n",
            cell(&freeze.describe())
        );
    }
    if !plan.refreshed {
        out.push_str("> [!NOTE]\n> Planned from the state alone (`--refresh=false`); the cloud was not asked.\n\n");
    }
    if plan.has_conflicts() {
        out.push_str(
            "> [!CAUTION]\n> The plan has conflicts: apply will refuse it until they are resolved (see below).\n\n",
        );
    }
    let rows: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Noop || c.awaiting())
        .collect();
    if rows.is_empty() {
        out.push_str("No changes.\n\n");
    } else {
        out.push_str("| | Address | Product | Region | Action | Reason |\n");
        out.push_str("|:-:|---|---|---|---|---|\n");
        for c in &rows {
            let symbol = match c.action {
                Action::Order | Action::Reorder => "`+`",
                Action::Adopt => "`=`",
                Action::Forget => "`-`",
                Action::Conflict => "`!`",
                Action::Noop => "",
            };
            let _ = writeln!(
                out,
                "| {symbol} | `{}` | `{}` | {} | **{}**{} | {} |",
                c.address.qualified(),
                c.product_code,
                c.region,
                if c.awaiting_activation() {
                    "awaiting activation"
                } else if c.awaiting_outcome() {
                    "awaiting outcome"
                } else {
                    c.action.as_str()
                },
                if c.resolve_first {
                    " (after resolving)"
                } else if c.may_not_purchase() {
                    " (not sent: no permission to purchase)"
                } else {
                    ""
                },
                cell(&c.reason)
            );
        }
        out.push('\n');
    }
    let warned: Vec<_> = plan.changes.iter().filter(|c| !c.warnings.is_empty()).collect();
    if !warned.is_empty() {
        out.push_str("> [!WARNING]\n");
        for c in warned {
            for w in &c.warnings {
                let strong = if c.action == Action::Forget { "**" } else { "" };
                let _ = writeln!(out, "> - `{}`: {strong}{}{strong}", c.address.qualified(), cell(w));
            }
        }
        out.push('\n');
    }
    for c in plan.changes.iter().filter(|c| c.action == Action::Conflict) {
        let _ = writeln!(
            out,
            "<details open><summary>Conflict: <code>{}</code></summary>\n",
            c.address.qualified()
        );
        if let (Some(before), Some(after)) = (&c.before, &c.after) {
            out.push_str("Recorded (`-`) vs. manifest (`+`):\n\n```diff\n");
            let diff = line_diff(&request_text(&before.request), &request_text(&after.request));
            for (tag, line) in diff {
                let _ = writeln!(out, "{tag} {line}");
            }
            out.push_str("```\n\n");
        }
        out.push_str("To resolve it:\n\n");
        for r in &c.remedies {
            let _ = writeln!(out, "- {}", escape(r));
        }
        out.push_str("\n</details>\n\n");
    }
    if !plan.orders.is_empty() {
        out.push_str("#### Orders\n\n");
        for order in &plan.orders {
            let addresses: Vec<String> = order
                .addresses
                .iter()
                .map(|a| format!("<code>{}</code>", a.qualified()))
                .collect();
            let _ = writeln!(
                out,
                "<details><summary><b>{}</b>: {} (<code>{}</code>)</summary>\n\n```json\n{}\n```\n\n</details>\n",
                order.region,
                addresses.join(", "),
                escape(&order.endpoint),
                serde_json::to_string_pretty(&order.body).unwrap_or_default()
            );
        }
    }
    if let Some(verdict) = &plan.policy {
        policy_section(&mut out, verdict);
    }
    let _ = writeln!(
        out,
        "<sub>state lineage {}, serial {} · manifest <code>{}</code> sha256 {} · pai-provision {}</sub>",
        plan.lineage.as_deref().unwrap_or("(none yet)"),
        plan.serial,
        escape(&plan.manifest_path),
        plan.manifest_hash.get(..12).unwrap_or(&plan.manifest_hash),
        plan.tool_version
    );
    out
}

/// A plan with nothing to review, in one line: no change, nothing awaiting activation, no
/// warning, conflict, freeze or policy message, and the cloud asked. A pull request that does
/// not touch this manifest's account gets a comment that says so and takes no room.
pub(super) fn quiet(plan: &Plan) -> Option<String> {
    let nothing_to_review = plan.refreshed
        && plan.frozen.is_none()
        && plan.orders.is_empty()
        && plan
            .changes
            .iter()
            .all(|c| c.action == Action::Noop && !c.awaiting() && c.warnings.is_empty())
        && plan
            .policy
            .as_ref()
            .is_none_or(|v| v.deny.is_empty() && v.warn.is_empty());
    nothing_to_review.then(|| {
        format!(
            "**pai-provision plan** of <code>{}</code>: no changes ({} unchanged{}).\n",
            cell(&plan.manifest_path).replace('<', "&lt;").replace('>', "&gt;"),
            plan.summary.noop,
            if plan.policy.is_some() {
                ", every policy passes"
            } else {
                ""
            }
        )
    })
}

/// The policies' denials (a CAUTION block: the plan will not be applied) and warnings.
fn policy_section(out: &mut String, verdict: &PolicyVerdict) {
    out.push_str("#### Policy\n\n");
    if verdict.deny.is_empty() && verdict.warn.is_empty() {
        out.push_str("Every policy passes.\n\n");
    }
    if !verdict.deny.is_empty() {
        out.push_str("> [!CAUTION]\n> A policy denies this plan: apply refuses it.\n\n");
    }
    if !verdict.deny.is_empty() || !verdict.warn.is_empty() {
        out.push_str("| | Message | Policy |\n|:-:|---|---|\n");
    }
    for (mark, findings) in [("deny", &verdict.deny), ("warn", &verdict.warn)] {
        for f in findings {
            let _ = writeln!(
                out,
                "| {mark} | {} | <code>{}</code> ({}) |",
                html(&f.message),
                html(&f.file),
                html(&f.rule)
            );
        }
    }
    if !verdict.deny.is_empty() || !verdict.warn.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "<sub>policies {}</sub>\n", verdict.policies_digest);
}

/// A policy's text in a table cell: a message cannot open or close HTML in the comment.
fn html(s: &str) -> String {
    cell(&s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"))
}
