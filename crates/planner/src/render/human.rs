//! The Terraform-like plan text.

use std::fmt::Write;

use super::{line_diff, request_fields, request_text, Paint};
use crate::change::{Action, Change};
use crate::plan::{Plan, PolicyVerdict};
use pai_spec::escape;
use pai_state::Status;

pub fn plan(plan: &Plan, color: bool) -> String {
    let paint = Paint { on: color };
    let mut out = String::new();
    if let Some(freeze) = &plan.frozen {
        let _ = writeln!(
            out,
            "{} the state is {}; apply refuses until `pai-provision state unfreeze`.\n",
            paint.bold("Frozen:"),
            escape(&freeze.describe())
        );
    }
    if !plan.refreshed {
        out.push_str("Note: planned from the state alone (--refresh=false); the cloud was not asked.\n\n");
    }
    let shown: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Noop || !c.warnings.is_empty() || c.awaiting())
        .collect();
    let acting = shown.iter().any(|c| c.action != Action::Noop);
    if acting {
        out.push_str("pai-provision will perform the following actions:\n\n");
    } else if shown.iter().any(|c| c.awaiting()) {
        // Not "the cloud matches": it says, right below, that a purchase does not show yet.
        out.push_str("No changes: nothing to order; the cloud does not show every purchase yet (below).\n\n");
    } else if plan.refreshed {
        out.push_str("No changes: the state and the cloud match the manifest.\n\n");
    } else {
        out.push_str("No changes: the state matches the manifest.\n\n");
    }
    for change in &shown {
        change_block(&mut out, change, paint);
    }
    if !plan.orders.is_empty() {
        out.push_str("Orders (one CreateProductOrders call per region):\n");
        for order in &plan.orders {
            let addresses: Vec<String> = order.addresses.iter().map(pai_spec::Address::qualified).collect();
            let _ = writeln!(
                out,
                "  {}  {}  AutoPay={}\n    {}",
                order.region,
                escape(&order.endpoint),
                order.body.auto_pay,
                addresses.join(", ")
            );
        }
        out.push('\n');
    }
    if let Some(verdict) = &plan.policy {
        policy_section(&mut out, verdict, paint);
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    out
}

/// The line that names a saved plan's digest, which a reviewer passes to `apply --expect-digest`.
pub fn digest_line(plan: &Plan) -> String {
    format!(
        "Plan digest: {} (apply PLANFILE --expect-digest checks it)\n",
        plan.digest()
    )
}

/// `Policy: 1 denial, 1 warning (sha256:...)`, then each message with the file of its rule.
fn policy_section(out: &mut String, verdict: &PolicyVerdict, paint: Paint) {
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let _ = writeln!(
        out,
        "Policy: {}, {} ({})",
        plural(verdict.deny.len(), "denial", "denials"),
        plural(verdict.warn.len(), "warning", "warnings"),
        verdict.policies_digest
    );
    for f in &verdict.deny {
        let _ = writeln!(
            out,
            "  {} {}  [{}: {}]",
            paint.bold_red("deny:"),
            escape(&f.message),
            escape(&f.file),
            f.rule
        );
    }
    for f in &verdict.warn {
        let _ = writeln!(
            out,
            "  {} {}  [{}: {}]",
            paint.yellow("warn:"),
            escape(&f.message),
            escape(&f.file),
            f.rule
        );
    }
    if verdict.denies() {
        out.push_str("  A policy denies this plan: apply refuses it.\n");
    }
    out.push('\n');
}

/// `Plan: 2 to order, 1 to adopt, 0 to reorder, 1 to forget, 0 conflicts, 3 unchanged.`
pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    format!(
        "Plan: {} to order, {} to adopt, {} to reorder, {} to forget, {} {}, {} unchanged.",
        s.order,
        s.adopt,
        s.reorder,
        s.forget,
        s.conflict,
        if s.conflict == 1 { "conflict" } else { "conflicts" },
        s.noop
    )
}

fn headline(change: &Change) -> (&'static str, String) {
    let what = match change.action {
        Action::Order if change.resolve_first => {
            "will be ordered, unless the cloud reports its interrupted order went through".to_owned()
        }
        Action::Order | Action::Reorder if change.may_not_purchase() => {
            "will NOT be ordered: no permission to purchase (grant pai:CreateOrder)".to_owned()
        }
        Action::Order => "will be ordered".to_owned(),
        Action::Adopt => match &change.moved_from {
            Some(from) => format!("will be recorded, moved from {}", from.qualified()),
            None => "will be adopted".to_owned(),
        },
        Action::Reorder => "will be ordered again".to_owned(),
        Action::Forget => "will be forgotten".to_owned(),
        Action::Conflict => "conflicts with the manifest".to_owned(),
        Action::Noop => match change.before.as_ref() {
            Some(before) if before.status == Status::Unpaid => format!(
                "is awaiting payment (order {}): nothing is ordered",
                escape(before.order_id.as_deref().unwrap_or("unknown"))
            ),
            Some(before) if change.awaiting_activation() => format!(
                "is awaiting activation (order {}): nothing is ordered",
                escape(before.order_id.as_deref().unwrap_or("unknown"))
            ),
            Some(before) if change.awaiting_outcome() => format!(
                "is awaiting the outcome of the order sent at {}: nothing is ordered",
                escape(&before.updated_at)
            ),
            _ => "is unchanged".to_owned(),
        },
    };
    let symbol = match change.action {
        Action::Order | Action::Reorder => "+",
        Action::Adopt => "=",
        Action::Forget => "-",
        Action::Conflict => "!",
        Action::Noop => " ",
    };
    (symbol, what)
}

fn change_block(out: &mut String, change: &Change, paint: Paint) {
    let (symbol, what) = headline(change);
    let symbol = match change.action {
        Action::Order => paint.green(symbol),
        Action::Reorder => paint.yellow(symbol),
        Action::Adopt => paint.cyan(symbol),
        Action::Forget => paint.red(symbol),
        Action::Conflict => paint.bold_red(symbol),
        Action::Noop => symbol.to_owned(),
    };
    let _ = writeln!(
        out,
        "  {symbol} {} ({}, {}) {what}",
        paint.bold(&change.address.qualified()),
        change.product_code,
        change.region
    );
    let _ = writeln!(out, "      reason: {}", escape(&change.reason));
    // Forgetting is the one action that can leave something billed unmanaged: say it loudest.
    let label = match change.action {
        Action::Forget => paint.bold_red("WARNING:"),
        _ => paint.yellow("warning:"),
    };
    for w in &change.warnings {
        let _ = writeln!(out, "      {label} {}", escape(w));
    }
    // What will be bought, recorded or forgotten, field by field: a reviewer approves all of it.
    let shown = match change.action {
        Action::Order | Action::Reorder | Action::Adopt => change.after.as_ref().map(|a| &a.request),
        Action::Forget => change.before.as_ref().map(|b| &b.request),
        Action::Conflict | Action::Noop => None,
    };
    for line in shown.map(request_fields).unwrap_or_default() {
        let _ = writeln!(out, "      {line}");
    }
    if change.action == Action::Conflict {
        if let (Some(before), Some(after)) = (&change.before, &change.after) {
            out.push_str("      recorded (-) vs. manifest (+):\n");
            let diff = line_diff(&request_text(&before.request), &request_text(&after.request));
            for (tag, line) in diff {
                let text = format!("{tag} {line}");
                let text = match tag {
                    '-' => paint.red(&text),
                    '+' => paint.green(&text),
                    _ => text,
                };
                let _ = writeln!(out, "        {text}");
            }
        }
        if !change.remedies.is_empty() {
            out.push_str("      to resolve it:\n");
            for r in &change.remedies {
                let _ = writeln!(out, "        - {}", escape(r));
            }
        }
    }
    out.push('\n');
}
