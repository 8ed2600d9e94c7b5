//! Plans and states as people read them: a plan as [`human()`] text (Terraform-like, optionally
//! coloured), as [`markdown()`] (pull-request comments) or as its [`json()`] document; [`state`]
//! renders `show` and the `state` commands. The JSON forms are the serde serialisations of the
//! types themselves. This module depends on `plan`, never the other way round.

mod human;
mod markdown;
pub mod state;
#[cfg(test)]
mod tests;

use pai_spec::{escape, ProductRequest};
use similar::{ChangeTag, TextDiff};

use crate::plan::Plan;

/// The plan as `plan`, `show FILE` and `apply` print it: Terraform-like, coloured if `color`.
pub fn human(plan: &Plan, color: bool) -> String {
    human::plan(plan, color)
}

/// The plan as a pull-request comment (GitHub-flavoured Markdown); one line when there is
/// nothing to review.
pub fn markdown(plan: &Plan) -> String {
    markdown::plan(plan)
}

/// [`human()`] of a saved plan: followed by its digest, which the reviewer checks and the
/// pipeline passes to `apply PLANFILE --expect-digest`.
pub fn human_saved(plan: &Plan, color: bool) -> String {
    let mut out = human::plan(plan, color);
    out.push_str(&human::digest_line(plan));
    out
}

/// [`markdown()`] of a saved plan: followed by its digest, for the reviewer to see in the
/// comment, unless the plan has nothing to review (one line, as [`markdown()`]).
pub fn markdown_saved(plan: &Plan) -> String {
    // Nothing to apply, nothing to check: the one line stays one line.
    if let Some(line) = markdown::quiet(plan) {
        return line;
    }
    let mut out = markdown::plan(plan);
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\nPlan digest: `{}`\n", plan.digest()));
    out
}

/// The plan's JSON document: what `--format json` prints, byte for byte what `--out` saves.
pub fn json(plan: &Plan) -> String {
    plan.to_json()
}

/// ANSI colours, or nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paint {
    pub on: bool,
}

impl Paint {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    pub fn green(self, s: &str) -> String {
        self.wrap("32", s)
    }
    pub fn cyan(self, s: &str) -> String {
        self.wrap("36", s)
    }
    pub fn yellow(self, s: &str) -> String {
        self.wrap("33", s)
    }
    pub fn red(self, s: &str) -> String {
        self.wrap("31", s)
    }
    pub fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn bold_red(self, s: &str) -> String {
        self.wrap("1;31", s)
    }
}

/// A request as pretty JSON: the text conflicts are diffed on. Only the request's own fields:
/// the region is in the headline, and a move between regions is its own conflict.
pub(crate) fn request_text(request: &ProductRequest) -> String {
    serde_json::to_string_pretty(request).unwrap_or_default()
}

/// Every field of a request, one per line as Terraform shows attributes, in the order the
/// request carries them; strings quoted, their control characters written out.
pub(crate) fn request_fields(request: &ProductRequest) -> Vec<String> {
    let quoted = |s: &str| format!("\"{}\"", escape(s));
    let mut lines = vec![
        format!("AutoRenew          = {}", request.auto_renew),
        format!("ChargeType         = {}", quoted(&request.charge_type)),
        format!("Duration           = {}", request.duration),
    ];
    if request.instance_properties.is_empty() {
        lines.push("InstanceProperties = {}".to_owned());
    } else {
        lines.push("InstanceProperties = {".to_owned());
        let width = request
            .instance_properties
            .iter()
            .map(|p| escape(&p.code).chars().count())
            .max()
            .unwrap_or(0);
        for p in &request.instance_properties {
            let name = p
                .name
                .as_deref()
                .map(|n| format!(" (Name {})", quoted(n)))
                .unwrap_or_default();
            lines.push(format!("  {:<width$} = {}{name}", escape(&p.code), quoted(&p.value)));
        }
        lines.push("}".to_owned());
    }
    lines.push(format!("OrderType          = {}", quoted(&request.order_type)));
    if let Some(cycle) = &request.pricing_cycle {
        lines.push(format!("PricingCycle       = {}", quoted(cycle)));
    }
    lines.push(format!(
        "ProductCode        = {}",
        quoted(request.product_code.as_str())
    ));
    lines
}

/// A line diff of two texts: `(' ' | '-' | '+', line)`.
pub(crate) fn line_diff(before: &str, after: &str) -> Vec<(char, String)> {
    TextDiff::from_lines(before, after)
        .iter_all_changes()
        .map(|c| {
            let tag = match c.tag() {
                ChangeTag::Equal => ' ',
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
            };
            (tag, c.value().trim_end_matches('\n').to_owned())
        })
        .collect()
}
