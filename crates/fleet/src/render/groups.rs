//! Accounts whose plans make the same changes share one section: at 1,000 accounts of one
//! manifest, 1,000 identical sections are unreadable, and the one that differs drowns in them.
//!
//! "The same changes" is the plan's shape: every address with its action, region, product,
//! request and flags, the orders with their endpoints and bodies, the warnings, remedies and
//! the policies' messages. Reasons are not part of it: they name each account's own ids
//! (`ProductId`, `OrderId`), and two accounts adopting the same product are the same change.
//! When the members' texts do differ, the section says whose reasons it shows. Only views
//! group; the JSON document and its digest keep every account.

use pai_planner::Plan;
use serde_json::json;

use super::with_section;
use crate::plan::{AccountPlan, CompactPlan, FleetPlan};

/// One section: the accounts (in the plan's order, by name) and the first one's plan.
pub(super) struct Group<'a> {
    pub accounts: Vec<&'a AccountPlan>,
    pub plan: &'a CompactPlan,
    /// Every member's plan renders to the first one's text, reasons included.
    pub same_text: bool,
}

impl Group<'_> {
    pub fn first(&self) -> &AccountPlan {
        self.accounts[0]
    }
}

/// The sections of the accounts with changes, conflicts or a policy's message, in the order of
/// their first account. Each plan is decoded once, here, and dropped; an account whose plan
/// does not decode gets a section of its own, where the renderer reports it.
pub(super) fn groups(plan: &FleetPlan) -> Vec<Group<'_>> {
    // (account, its plan, the shape's digest, the text's digest); a plan that does not decode
    // has a key of its own.
    let keyed = with_section(plan).map(|(account, compact)| match compact.decode() {
        Ok(decoded) => (account, compact, shape_digest(&decoded), Some(text_digest(&decoded))),
        Err(_) => (account, compact, format!("undecodable {}", account.name.as_str()), None),
    });
    super::names::grouped_by(keyed, |(_, _, shape, _)| shape.clone())
        .into_iter()
        .map(|(_, members)| {
            let first_text = &members[0].3;
            Group {
                same_text: members.iter().all(|m| m.3 == *first_text),
                plan: members[0].1,
                accounts: members.iter().map(|m| m.0).collect(),
            }
        })
        .collect()
}

/// What makes two plans the same changes (the module's doc), as a digest.
fn shape_digest(plan: &Plan) -> String {
    let changes: Vec<_> = plan
        .changes
        .iter()
        .map(|c| {
            json!({
                "address": c.address,
                "action": c.action,
                "product_code": c.product_code,
                "region": c.region,
                "moved_from": c.moved_from,
                "resolve_first": c.resolve_first,
                "status": c.before.as_ref().map(|b| b.status),
                "request": c.after.as_ref().map(|a| &a.request),
                "awaiting": c.awaiting(),
                "may_not_purchase": c.may_not_purchase(),
                "field_changes": c.field_changes,
                "warnings": c.warnings,
                "remedies": c.remedies,
            })
        })
        .collect();
    let shape = json!({
        "changes": changes,
        "orders": plan.orders,
        "refreshed": plan.refreshed,
        "policy": plan.policy.as_ref().map(|v| (&v.deny, &v.warn)),
        "frozen": plan.frozen.is_some(),
    });
    pai_planner::plan::digest_of_json(shape.to_string().as_bytes())
}

fn text_digest(plan: &Plan) -> String {
    pai_planner::plan::digest_of_json(pai_planner::render::human(plan, false).as_bytes())
}
