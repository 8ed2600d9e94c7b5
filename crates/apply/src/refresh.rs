//! `refresh`: record what the cloud reports, both ways, without ordering anything.
//!
//! What an answer means for a row is `pai_planner::reconcile`; this module records it (adopt,
//! resolve, drift) and says what it found. It is data only: the CLI renders it.

use pai_planner::{reconcile, Observation, Record, Verdict, Word};
use pai_spec::{Address, Product};
use pai_state::{ApiCall, RunResult, StateError, StateWriter};
use serde::Serialize;

/// What a refresh found for one address whose record changed or disagrees with the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// The cloud reports it purchased; now recorded (it was unrecorded or recorded failed).
    Adopted,
    /// An interrupted order went through; now recorded active.
    Resolved,
    /// Recorded active, the cloud reports it not purchased; the plan shows a reorder.
    Drift,
    /// An interrupted order the cloud reports not purchased; apply will order it.
    NotPlaced,
    /// An order sent moments ago (pending), not reported purchased yet: nothing is ordered before
    /// its settle time has passed.
    AwaitingOutcome,
    /// Recorded active and ordered moments ago; the cloud does not report it purchased yet.
    AwaitingActivation,
    /// Reordered after drift, and the cloud still does not report it purchased: a conflict.
    NeverShows,
    /// An order placed with `AutoPay: false` waits for payment; the cloud reports it not purchased.
    AwaitingPayment,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Adopted => "adopted",
            FindingKind::Resolved => "resolved",
            FindingKind::Drift => "drift",
            FindingKind::NotPlaced => "not_placed",
            FindingKind::AwaitingOutcome => "awaiting_outcome",
            FindingKind::AwaitingActivation => "awaiting_activation",
            FindingKind::NeverShows => "never_shows",
            FindingKind::AwaitingPayment => "awaiting_payment",
        }
    }
}

/// One address whose record changed or disagrees with the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub address: Address,
    pub region: String,
    pub product_code: String,
    pub kind: FindingKind,
    pub message: String,
}

/// Records, in a run of its own, the `calls` that made `observed` and what `observed` means for
/// each of `products` (the manifest's). The caller holds the state's lock, and has let any order
/// an interrupted run may still have on its way arrive before asking (`await_interrupted`):
/// otherwise it would be reported not placed.
pub fn refresh<'a>(
    writer: &mut StateWriter,
    products: impl IntoIterator<Item = &'a Product>,
    observed: &Observation,
    calls: &[ApiCall],
) -> Result<Vec<Finding>, StateError> {
    let snapshot = writer.snapshot()?;
    let run = writer.begin_run("refresh")?;
    for call in calls {
        writer.record_api_call(run, call)?;
    }
    let mut findings = Vec::new();
    for product in products {
        let Some(seen) = observed.get(&product.region, product.code()) else {
            continue;
        };
        let recorded = snapshot.resources.get(&product.address);
        let elsewhere = recorded.is_none() && snapshot.find_activation(&product.region, product.code()).is_some();
        let product_id = seen.product_id.as_deref();
        let record = recorded.map(|r| Record::of(r, observed.asked_at()));
        let (kind, message) = match reconcile(record, elsewhere, Word::of(Some(seen))) {
            Verdict::Adopt => {
                writer.mark_adopted(run, product, product_id)?;
                let message = if recorded.is_some() {
                    "recorded failed, but the cloud reports it purchased; recorded"
                } else {
                    "the cloud reports it purchased; recorded"
                };
                (FindingKind::Adopted, message)
            }
            Verdict::Resolve => {
                writer.mark_resolved(run, &product.address, product_id)?;
                let message = match recorded.map(|r| r.status) {
                    Some(pai_state::Status::Unpaid) => "the order awaiting payment was paid; recorded active",
                    _ => "an interrupted order went through; recorded active",
                };
                (FindingKind::Resolved, message)
            }
            Verdict::Drift => {
                writer.record_drift(
                    run,
                    &product.address,
                    "drift: recorded active, the cloud reports it not purchased",
                )?;
                (
                    FindingKind::Drift,
                    "recorded active, but the cloud reports it not purchased; plan shows a reorder",
                )
            }
            Verdict::Confirmed if recorded.is_some_and(|r| r.reorders > 0) => {
                writer.mark_seen(run, &product.address)?;
                continue;
            }
            Verdict::NotPlaced => (
                FindingKind::NotPlaced,
                "an interrupted order was not placed; apply will order it",
            ),
            Verdict::AwaitingOutcome => (
                FindingKind::AwaitingOutcome,
                "an order sent moments ago has an unknown outcome, and the cloud does not report it purchased yet; \
                 nothing is ordered before its settle time has passed",
            ),
            Verdict::AwaitingActivation => (
                FindingKind::AwaitingActivation,
                "ordered moments ago, and the cloud does not report it purchased yet; nothing is ordered before its \
                 settle time has passed",
            ),
            Verdict::NeverShows => (
                FindingKind::NeverShows,
                "reordered after drift, and the cloud still does not report it purchased; plan shows a conflict",
            ),
            Verdict::AwaitingPayment => {
                let order = recorded
                    .and_then(|r| r.order_id.as_deref())
                    .unwrap_or("(no OrderId recorded)");
                let message = format!(
                    "order {order} awaits payment in the order center of the console; nothing is bought, and nothing \
                     is ordered beside it, until it is paid"
                );
                findings.push(finding(product, FindingKind::AwaitingPayment, message));
                continue;
            }
            _ => continue,
        };
        findings.push(finding(product, kind, message.to_owned()));
    }
    writer.end_run(run, &RunResult::Succeeded)?;
    Ok(findings)
}

fn finding(product: &Product, kind: FindingKind, message: String) -> Finding {
    Finding {
        address: product.address.clone(),
        region: product.region.to_string(),
        product_code: product.code().to_string(),
        kind,
        message,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pai_planner::Observed;
    use pai_spec::ProductCode;
    use pai_state::{EventKind, OrderOutcome, Status};
    use pai_testkit::fixtures::product;

    use super::*;

    /// Every verdict that records or reports something, and three that do not, on a real
    /// SQLite state: what is found, what the rows become, and what the history says.
    #[test]
    fn findings_and_records_follow_reconcile() {
        use ProductCode::{DataWorks, MaxCompute, Oss, Pai};
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut writer = StateWriter::open(dir.path().join("s.db"), "refresh", Duration::from_secs(5)).expect("state");
        let products = [
            product("unrecorded-bought", Pai, "cn-hangzhou"),
            product("failed-bought", Oss, "cn-hangzhou"),
            product("pending-bought", DataWorks, "cn-hangzhou"),
            product("active-gone", MaxCompute, "cn-hangzhou"),
            product("pending-not-bought", Pai, "cn-shanghai"),
            product("active-bought", Oss, "cn-shanghai"),
            product("unrecorded-unreported", DataWorks, "cn-shanghai"),
            product("unrecorded-not-bought", MaxCompute, "cn-shanghai"),
            product("unpaid-waiting", Pai, "cn-beijing"),
            product("active-settling", Oss, "cn-beijing"),
        ];
        let run = writer.begin_run("apply").expect("run");
        let all: Vec<&Product> = products[1..6].iter().collect();
        writer.put_pending(run, &all).expect("intents");
        let address = |i: usize| products[i].address.clone();
        writer.mark_failed(run, &[address(1)], "refused").expect("failed");
        let ok = OrderOutcome {
            order_id: Some("O-1".into()),
            product_ids: Vec::new(),
            buy_product_request_id: None,
            request_id: None,
        };
        writer.mark_active(run, &[address(3), address(5)], &ok).expect("active");
        writer.put_pending(run, &[&products[8], &products[9]]).expect("intents");
        writer.mark_unpaid(run, &[address(8)], &ok).expect("unpaid");
        writer
            .note_sending(
                run,
                &[address(9)],
                pai_state::Attempt::FIRST,
                Duration::from_secs(3_600),
            )
            .expect("sent");
        writer.mark_active(run, &[address(9)], &ok).expect("active");
        writer.end_run(run, &RunResult::Succeeded).expect("end");

        let mut observed = Observation::new().with_asked_at(pai_state::clock::now_utc());
        let mut seen = |i: usize, purchased: bool| {
            let p: &Product = &products[i];
            observed.insert(
                p.region.clone(),
                p.code(),
                Observed {
                    purchased,
                    ..Observed::default()
                },
            )
        };
        for (i, purchased) in [
            (0, true),
            (1, true),
            (2, true),
            (3, false),
            (4, false),
            (5, true),
            (7, false),
            (8, false),
            (9, false),
        ] {
            seen(i, purchased);
        }
        let findings = refresh(&mut writer, &products, &observed, &[]).expect("refreshed");

        let got: Vec<(&str, FindingKind)> = findings.iter().map(|f| (f.address.as_str(), f.kind)).collect();
        assert_eq!(
            got,
            [
                ("unrecorded-bought", FindingKind::Adopted),
                ("failed-bought", FindingKind::Adopted),
                ("pending-bought", FindingKind::Resolved),
                ("active-gone", FindingKind::Drift),
                ("pending-not-bought", FindingKind::NotPlaced),
                ("unpaid-waiting", FindingKind::AwaitingPayment),
                ("active-settling", FindingKind::AwaitingActivation),
            ]
        );
        assert!(
            findings[5].message.contains("O-1"),
            "names the order to pay: {:?}",
            findings[5]
        );
        assert!(findings[1].message.starts_with("recorded failed"), "{:?}", findings[1]);
        let rows = writer.snapshot().expect("snapshot").resources;
        let status = |i: usize| rows.get(&products[i].address).map(|r| r.status);
        assert_eq!(
            (0..10).map(status).collect::<Vec<_>>(),
            [
                Some(Status::Active),
                Some(Status::Active),
                Some(Status::Active),
                Some(Status::Active),
                Some(Status::Pending),
                Some(Status::Active),
                None,
                None,
                Some(Status::Unpaid),
                Some(Status::Active),
            ]
        );
        let history = writer.history(None).expect("history");
        let drift: Vec<_> = history.events.iter().filter(|e| e.action == "drift").collect();
        assert_eq!(drift.len(), 1, "{:?}", history.events);
        assert_eq!(drift[0].kind, EventKind::State);
        assert_eq!(drift[0].addresses, ["active-gone"]);
        assert!(
            history.events.iter().all(|e| e.kind == EventKind::State),
            "no API call that was not made: {:?}",
            history.events
        );
    }
}
