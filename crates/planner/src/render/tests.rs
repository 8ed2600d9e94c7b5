//! Snapshots of the three plan formats and the state listings.

use pai_spec::ProductCode::{DataWorks, MaxCompute, Oss, Pai};
use time::OffsetDateTime;

use crate::change::Action;
use crate::fixtures::*;
use crate::plan::Plan;
use pai_state::{Event, EventKind, History, Resource, RunRecord, Status};
use pai_testkit::fixtures::documented_product;

fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_685_400).unwrap()
}

/// Every action: order, adopt, noop, reorder, forget and a conflict, refreshed.
fn everything() -> Plan {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let mut oss = documented_product("oss", Oss, "cn-hangzhou");
    let dw = documented_product("dataworks", DataWorks, "cn-shanghai");
    let mc = documented_product("maxcompute", MaxCompute, "cn-shanghai");
    let ml = documented_product("ml", Pai, "cn-beijing");
    let old = documented_product("legacy", Pai, "cn-beijing");
    let mut dw_renewing = dw.clone();
    dw_renewing.request.auto_renew = true;
    oss.request.instance_properties[0].name = Some("Object Storage Service".into());
    let m = manifest(&[pai.clone(), oss.clone(), dw_renewing, mc.clone(), ml.clone()]);
    let s = state(&[
        record(&dw, Status::Active),
        record(&mc, Status::Active),
        record(&ml, Status::Active),
        record(&old, Status::Active),
    ]);
    let obs = seen(&[
        (&pai, false),
        (&oss, true),
        (&dw, true),
        (&mc, false),
        (&ml, true),
        (&old, true),
    ]);
    let mut plan = Plan::build(
        &m,
        "examples/quickstart.toml",
        &s,
        Some(&obs),
        &|r| m.endpoint_for(r),
        at(),
    );
    plan.tool_version = "0.0.0-test".into();
    plan
}

/// `--refresh=false` with an interrupted order and a new product.
fn blind() -> Plan {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let oss = documented_product("oss", Oss, "cn-hangzhou");
    let dw = documented_product("dataworks", DataWorks, "cn-shanghai");
    let m = manifest(&[pai.clone(), oss.clone(), dw.clone()]);
    let s = state(&[record(&pai, Status::Active), record(&oss, Status::Pending)]);
    let mut plan = Plan::build(&m, "pai-provision.toml", &s, None, &|r| m.endpoint_for(r), at());
    plan.tool_version = "0.0.0-test".into();
    plan
}

fn settled() -> Plan {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let m = manifest(std::slice::from_ref(&pai));
    let s = state(&[record(&pai, Status::Active)]);
    let mut plan = Plan::build(
        &m,
        "pai-provision.toml",
        &s,
        Some(&seen(&[(&pai, true)])),
        &|r| m.endpoint_for(r),
        at(),
    );
    plan.tool_version = "0.0.0-test".into();
    plan
}

#[test]
fn human() {
    insta::assert_snapshot!("human_everything", super::human(&everything(), false));
    insta::assert_snapshot!("human_blind", super::human(&blind(), false));
    insta::assert_snapshot!("human_settled", super::human(&settled(), false));
}

#[test]
fn human_colour_is_only_escape_codes_around_the_plain_text() {
    let plan = everything();
    let coloured = super::human(&plan, true);
    assert!(coloured.contains("\x1b[32m+\x1b[0m"), "order in green");
    assert!(coloured.contains("\x1b[1;31m!\x1b[0m"), "conflict in bold red");
    let stripped = strip_ansi(&coloured);
    assert_eq!(stripped, super::human(&plan, false));
    assert!(!super::human(&plan, false).contains('\x1b'));
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn json() {
    insta::assert_snapshot!("json_everything", super::json(&everything()));
    insta::assert_snapshot!("json_blind", super::json(&blind()));
}

#[test]
fn markdown() {
    insta::assert_snapshot!("markdown_everything", super::markdown(&everything()));
    insta::assert_snapshot!("markdown_blind", super::markdown(&blind()));
    insta::assert_snapshot!("markdown_settled", super::markdown(&settled()));
}

/// An order awaiting payment beside a new product, refreshed: the unpaid one is a noop that
/// names its order, never an order.
fn awaiting_payment() -> Plan {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let oss = documented_product("oss", Oss, "cn-hangzhou");
    let m = manifest(&[pai.clone(), oss.clone()]);
    let s = state(&[record(&pai, Status::Unpaid)]);
    let obs = seen(&[(&pai, false), (&oss, false)]);
    let mut plan = Plan::build(&m, "pai-provision.toml", &s, Some(&obs), &|r| m.endpoint_for(r), at());
    plan.tool_version = "0.0.0-test".into();
    plan
}

#[test]
fn an_order_awaiting_payment_in_every_format() {
    let plan = awaiting_payment();
    insta::assert_snapshot!("human_awaiting_payment", super::human(&plan, false));
    insta::assert_snapshot!("markdown_awaiting_payment", super::markdown(&plan));
    let json: serde_json::Value = serde_json::from_str(&super::json(&plan)).unwrap();
    let pai = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "pai")
        .unwrap();
    assert_eq!(pai["action"], "noop");
    assert_eq!(pai["before"]["status"], "unpaid");
    assert!(
        pai["reason"]
            .as_str()
            .unwrap()
            .starts_with("awaiting payment of order 2120"),
        "{pai}"
    );
    let ordered: Vec<&serde_json::Value> = json["orders"][0]["addresses"].as_array().unwrap().iter().collect();
    assert_eq!(ordered, [&serde_json::json!("oss")], "only the new product is ordered");
}

/// The plan of `m` against a state of the one row `r`, the cloud answering `obs`.
fn plan_of_one(m: &pai_spec::Manifest, obs: &crate::observe::Observation, r: Resource) -> Plan {
    let mut plan = Plan::build(m, "p.toml", &state(&[r]), Some(obs), &|r| m.endpoint_for(r), at());
    plan.tool_version = "0.0.0-test".into();
    plan
}

/// A deadline a minute after the fixtures' clock, and one a minute before it.
fn a_minute_around_at() -> (String, String) {
    (
        pai_state::clock::format(at() + time::Duration::minutes(1)),
        pai_state::clock::format(at() - time::Duration::minutes(1)),
    )
}

/// Issue 21, defect 14: an order sent moments ago (a killed apply, pending) that the cloud does
/// not show yet is awaited, not planned again: no order, no change for `--detailed-exitcode`,
/// and a reason that names the send and its deadline. After the deadline, the same answer
/// means the order did not take effect.
#[test]
fn a_pending_order_still_settling_is_awaited_not_ordered_again() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let m = manifest(std::slice::from_ref(&pai));
    let obs = seen(&[(&pai, false)]).with_asked_at(at());
    let row = |settle_until: &str| {
        let mut r = record(&pai, Status::Pending);
        r.settle_until = Some(settle_until.to_owned());
        r
    };
    let build = |r: Resource| plan_of_one(&m, &obs, r);
    let (later, earlier) = a_minute_around_at();

    let awaiting = build(row(&later));
    let change = &awaiting.changes[0];
    assert_eq!(change.action, Action::Noop, "{}", change.reason);
    assert!(
        change
            .reason
            .contains("awaiting the outcome of the order sent at 2026-11-25T10:00:00Z")
            && change.reason.contains(&format!("until {later}")),
        "{}",
        change.reason
    );
    assert!(change.awaiting(), "shown to the reviewer");
    assert!(!awaiting.has_changes(), "--detailed-exitcode reports no change");
    assert!(awaiting.orders.is_empty());
    insta::assert_snapshot!("human_awaiting_outcome", super::human(&awaiting, false));
    insta::assert_snapshot!("markdown_awaiting_outcome", super::markdown(&awaiting));

    let settled = build(row(&earlier));
    assert_eq!(settled.changes[0].action, Action::Order);
    assert!(
        settled.changes[0].reason.contains("did not take effect"),
        "{}",
        settled.changes[0].reason
    );
}

/// Ordered moments ago, not shown yet: a noop the reviewer sees, in every format; after its
/// deadline the same answer is drift, and after a reorder that never showed, a conflict.
#[test]
fn awaiting_activation_drift_and_a_reorder_that_never_shows() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let m = manifest(std::slice::from_ref(&pai));
    let obs = seen(&[(&pai, false)]).with_asked_at(at());
    let row = |settle_until: &str, reorders| {
        let mut r = record(&pai, Status::Active);
        r.settle_until = Some(settle_until.to_owned());
        r.reorders = reorders;
        r
    };
    let build = |r: Resource| plan_of_one(&m, &obs, r);
    let (later, earlier) = a_minute_around_at();

    let awaiting = build(row(&later, 0));
    assert_eq!(awaiting.changes[0].action, Action::Noop);
    assert!(awaiting.changes[0].awaiting_activation());
    assert!(!awaiting.has_changes(), "--detailed-exitcode reports no change");
    insta::assert_snapshot!("human_awaiting_activation", super::human(&awaiting, false));
    insta::assert_snapshot!("markdown_awaiting_activation", super::markdown(&awaiting));
    assert!(awaiting.orders.is_empty());

    let drift = build(row(&earlier, 0));
    assert_eq!(drift.changes[0].action, Action::Reorder);
    assert!(
        drift.changes[0].reason.contains(&format!("settled at {earlier}")),
        "{}",
        drift.changes[0].reason
    );

    let never = build(row(&earlier, 1));
    assert_eq!(never.changes[0].action, Action::Conflict);
    assert!(
        never.changes[0].reason.contains("never showed"),
        "{}",
        never.changes[0].reason
    );
    assert!(never.orders.is_empty());
}

#[test]
fn a_product_without_permission_to_purchase_says_it_will_not_be_ordered() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let m = manifest(std::slice::from_ref(&pai));
    let mut obs = seen(&[(&pai, false)]);
    let mut denied = obs.get(&pai.region, Pai).cloned().unwrap();
    denied.has_permission = Some(false);
    obs.insert(pai.region.clone(), Pai, denied);
    let plan = Plan::build(&m, "p.toml", &state(&[]), Some(&obs), &|r| m.endpoint_for(r), at());
    assert!(plan.changes[0].may_not_purchase());
    let human = super::human(&plan, false);
    assert!(
        human.contains("products.pai (PAI_share, cn-hangzhou) will NOT be ordered: no permission to purchase"),
        "{human}"
    );
    assert!(human.contains("pai:CreateOrder"), "{human}");
    let markdown = super::markdown(&plan);
    assert!(
        markdown.contains("**order** (not sent: no permission to purchase)"),
        "{markdown}"
    );
}

#[test]
fn summary_line_is_terraform_like() {
    assert_eq!(
        super::human::summary_line(&everything()),
        "Plan: 1 to order, 1 to adopt, 1 to reorder, 1 to forget, 1 conflict, 1 unchanged."
    );
}

#[test]
fn state_listings() {
    let pai = documented_product("pai", Pai, "cn-hangzhou");
    let oss = documented_product("oss", Oss, "cn-hangzhou");
    let mut failed = record(
        &documented_product("dataworks", DataWorks, "cn-shanghai"),
        Status::Failed,
    );
    failed.run_id = Some(4);
    let s = state(&[record(&pai, Status::Active), record(&oss, Status::Pending), failed]);
    insta::assert_snapshot!("state_list", super::state::list(&s));
    insta::assert_snapshot!("state_show", super::state::state(&s, "state/pai-provision.db"));
    insta::assert_snapshot!(
        "state_list_json",
        serde_json::to_string_pretty(&super::state::list_rows(&s)).unwrap()
    );
    assert_eq!(
        super::state::state(&Default::default(), "s.db"),
        "No state at s.db yet: nothing has been recorded.\n"
    );
}

#[test]
fn history_listing() {
    let h = History {
        runs: vec![
            RunRecord {
                id: 1,
                command: "apply".into(),
                host: "ci-7".into(),
                pid: 4242,
                version: "0.1.0".into(),
                started_at: "2026-11-26T09:00:00Z".into(),
                ended_at: None,
                result: None,
                message: None,
                provenance: None,
            },
            RunRecord {
                id: 2,
                command: "apply".into(),
                host: "ci-7".into(),
                pid: 4250,
                version: "0.1.0".into(),
                started_at: "2026-11-26T09:05:00Z".into(),
                ended_at: Some("2026-11-26T09:05:02Z".into()),
                result: Some("succeeded".into()),
                message: None,
                provenance: None,
            },
        ],
        events: vec![
            Event {
                id: 1,
                run_id: 1,
                at: "2026-11-26T09:00:01Z".into(),
                kind: EventKind::State,
                action: "pending".into(),
                region: None,
                addresses: vec!["pai".into()],
                outcome: Some("pending".into()),
                http_status: None,
                code: None,
                message: Some("recorded -> pending".into()),
                request_id: None,
                order_id: None,
                duration_ms: None,
            },
            Event {
                id: 2,
                run_id: 1,
                at: "2026-11-26T09:00:31Z".into(),
                kind: EventKind::Api,
                action: "CreateProductOrders".into(),
                region: Some("cn-hangzhou".into()),
                addresses: vec!["pai".into()],
                outcome: Some("ambiguous".into()),
                http_status: None,
                code: None,
                message: Some("timed out after the request was sent".into()),
                request_id: None,
                order_id: None,
                duration_ms: Some(30_000),
            },
            Event {
                id: 3,
                run_id: 2,
                at: "2026-11-26T09:05:01Z".into(),
                kind: EventKind::Api,
                action: "ListProducts".into(),
                region: Some("cn-hangzhou".into()),
                addresses: vec!["pai".into()],
                outcome: Some("ok".into()),
                http_status: Some(200),
                code: None,
                message: None,
                request_id: Some("9C1E".into()),
                order_id: None,
                duration_ms: Some(84),
            },
            Event {
                id: 4,
                run_id: 2,
                at: "2026-11-26T09:05:01Z".into(),
                kind: EventKind::State,
                action: "resolved".into(),
                region: None,
                addresses: vec!["pai".into()],
                outcome: Some("active".into()),
                http_status: None,
                code: None,
                message: Some("pending -> active: resolved by observation, the cloud reports it purchased".into()),
                request_id: None,
                order_id: None,
                duration_ms: None,
            },
        ],
    };
    insta::assert_snapshot!("history", super::state::history(&h));
    assert_eq!(super::state::history(&History::default()), "No history.\n");
}

/// Text from a manifest, a server or the state, with terminal controls in it.
const EVIL: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J";

fn assert_no_controls(text: &str, what: &str) {
    let bad: Vec<char> = text.chars().filter(|c| c.is_control() && *c != '\n').collect();
    assert!(bad.is_empty(), "{what}: raw {bad:?} in\n{text}");
    assert!(text.contains("\\u{1b}]0;pwned\\u{7}"), "{what}: shown escaped\n{text}");
}

#[test]
fn controls_in_requests_server_text_and_the_state_are_written_out() {
    let mut pai = documented_product("pai", Pai, "cn-hangzhou");
    pai.request.instance_properties.push(pai_spec::InstanceProperty {
        code: "note".into(),
        name: Some(EVIL.into()),
        value: EVIL.into(),
    });
    let oss = documented_product("oss", Oss, "cn-hangzhou");
    let m = manifest(&[pai.clone(), oss.clone()]);
    let mut failed = record(&oss, Status::Failed);
    failed.last_error = Some(format!("HTTP 403 Forbidden: {EVIL}"));
    failed.order_id = Some(EVIL.into());
    let s = state(&[failed]);
    let mut plan = Plan::build(&m, EVIL, &s, None, &|r| m.endpoint_for(r), at());
    for c in &mut plan.changes {
        c.reason = format!("{} {EVIL}", c.reason);
        c.warnings.push(EVIL.into());
    }
    assert_no_controls(&super::human(&plan, false), "human plan");
    assert_no_controls(&strip_ansi(&super::human(&plan, true)), "coloured plan");
    assert_no_controls(&super::markdown(&plan), "markdown plan");
    assert_no_controls(&super::state::list(&s), "state list");
    assert_no_controls(&super::state::state(&s, EVIL), "state show");
    let h = History {
        runs: vec![RunRecord {
            id: 1,
            command: "apply".into(),
            host: EVIL.into(),
            pid: 1,
            version: "0.1.0".into(),
            started_at: "2026-11-26T09:00:00Z".into(),
            ended_at: None,
            result: None,
            message: Some(EVIL.into()),
            provenance: None,
        }],
        events: vec![],
    };
    assert_no_controls(&super::state::history(&h), "history");
}

/// A verdict with a denial and a warning whose texts try to break out of their format.
fn judged() -> Plan {
    use crate::plan::{PolicyFinding, PolicyVerdict};
    let mut plan = blind();
    plan.policy = Some(PolicyVerdict {
        policies_digest: "sha256:00ff".into(),
        deny: vec![PolicyFinding {
            file: "auto_pay.rego".into(),
            rule: "deny".into(),
            message: "AutoPay <b>false</b> | \x1b[31mred".into(),
        }],
        warn: vec![PolicyFinding {
            file: "max_orders.rego".into(),
            rule: "warn_orders".into(),
            message: "3 orders".into(),
        }],
    });
    plan
}

#[test]
fn the_policy_verdict_is_in_every_format() {
    let plan = judged();
    let human = super::human(&plan, false);
    assert!(human.contains("Policy: 1 denial, 1 warning (sha256:00ff)\n"), "{human}");
    assert!(
        human.contains("  deny: AutoPay <b>false</b> | \\u{1b}[31mred  [auto_pay.rego: deny]\n"),
        "{human}"
    );
    assert!(
        human.contains("  warn: 3 orders  [max_orders.rego: warn_orders]\n"),
        "{human}"
    );
    assert!(human.contains("apply refuses it"), "{human}");
    assert_eq!(strip_ansi(&super::human(&plan, true)), human);

    let markdown = super::markdown(&plan);
    assert!(markdown.contains("#### Policy\n\n> [!CAUTION]\n"), "{markdown}");
    assert!(
        markdown.contains(
            "| deny | AutoPay &lt;b&gt;false&lt;/b&gt; \\| \\u{1b}[31mred | <code>auto_pay.rego</code> (deny) |"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("| warn | 3 orders | <code>max_orders.rego</code> (warn_orders) |"),
        "{markdown}"
    );

    let json: serde_json::Value = serde_json::from_str(&super::json(&plan)).unwrap();
    assert_eq!(json["policy"]["deny"][0]["file"], "auto_pay.rego");
    assert_eq!(json["policy"]["warn"][0]["rule"], "warn_orders");
    // Without a verdict there is no `policy` key: the document is the one made before policies.
    let bare: serde_json::Value = serde_json::from_str(&super::json(&blind())).unwrap();
    assert!(bare.get("policy").is_none());
    assert!(plan.is_denied() && plan.exit_code(false) == 1);
}

#[test]
fn a_plan_with_nothing_to_review_is_one_markdown_line() {
    use crate::plan::{PolicyFinding, PolicyVerdict};
    let lines = |s: &str| s.trim_end().lines().count();
    let settled = settled();
    let line = super::markdown(&settled);
    assert_eq!(lines(&line), 1, "{line}");
    assert!(line.contains("no changes (1 unchanged)"), "{line}");
    assert_eq!(
        super::markdown_saved(&settled),
        line,
        "no digest to check when nothing is applied"
    );

    let mut passing = settled.clone();
    passing.policy = Some(PolicyVerdict {
        policies_digest: "sha256:00".into(),
        deny: vec![],
        warn: vec![],
    });
    assert!(super::markdown(&passing).contains("every policy passes"));
    assert_eq!(lines(&super::markdown(&passing)), 1);

    // Each of these has something to review, so it gets the whole comment.
    let mut warned = passing.clone();
    if let Some(v) = warned.policy.as_mut() {
        v.warn.push(PolicyFinding {
            file: "limits.rego".into(),
            rule: "warn".into(),
            message: "look".into(),
        });
    }
    let mut blind = settled.clone();
    blind.refreshed = false;
    for (what, plan) in [
        ("a policy's warning", warned),
        ("not refreshed", blind),
        ("changes", everything()),
        ("awaiting payment", awaiting_payment()),
    ] {
        assert!(lines(&super::markdown(&plan)) > 1, "{what}");
    }
}
