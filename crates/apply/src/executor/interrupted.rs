//! Orders an earlier run left `pending`: when the cloud's word on them can be trusted.
//!
//! A run killed while it sends an order leaves the order's intent `pending`, and the request
//! itself may still be on its way: in a socket buffer, on a slow network path, queued in the
//! gateway, which carries it out although the client is gone. A `ListProducts` answered in
//! that window says "not purchased", and ordering on that word buys twice. A live run trusts a
//! "not purchased" only from a question asked the settle time after its last send; a row left
//! by a dead run gets the same time, counted from the note of its last send (its `updated_at`),
//! before the cloud is asked about it.

use std::time::Duration;

use pai_spec::Address;
use pai_state::{StateSnapshot, Status};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// State timestamps are whole seconds: an intent stamped `09:30:00` was written before `09:30:01`.
const TIMESTAMP_RESOLUTION: Duration = Duration::from_secs(1);

/// Pending rows too young to ask the cloud about, and how long until the youngest is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsettled {
    pub addresses: Vec<Address>,
    pub wait: Duration,
}

/// The `pending` rows of `snapshot` whose deadline (the stored one, or `settle` after their last
/// send was noted, whichever is later) is after `now`, if any. A time that does not parse is
/// taken as written just now.
pub fn unsettled(snapshot: &StateSnapshot, settle: Duration, now: OffsetDateTime) -> Option<Unsettled> {
    let mut addresses = Vec::new();
    let mut wait = Duration::ZERO;
    for row in snapshot.resources.values().filter(|r| r.status == Status::Pending) {
        let written = OffsetDateTime::parse(&row.updated_at, &Rfc3339).unwrap_or(now);
        let stored = row
            .settle_until
            .as_deref()
            .map(|t| OffsetDateTime::parse(t, &Rfc3339).unwrap_or(now + settle));
        let settles = stored
            .into_iter()
            .fold(written + TIMESTAMP_RESOLUTION + settle, OffsetDateTime::max);
        let left = settles - now;
        if left.is_positive() {
            addresses.push(row.address.clone());
            wait = wait.max(left.unsigned_abs());
        }
    }
    (!addresses.is_empty()).then_some(Unsettled { addresses, wait })
}

/// Waits until every row of `snapshot` left `pending` by an earlier run has had the settle time
/// since its last send noted, so that a `ListProducts` asked afterwards may be trusted on a "not
/// purchased" (`docs/idempotency.md`). Returns what it waited for. The caller holds the state's
/// lock meanwhile, so no other run can send in between.
pub async fn await_interrupted(snapshot: &StateSnapshot, settle: Duration) -> Option<Unsettled> {
    let found = unsettled(snapshot, settle, pai_state::clock::now_utc())?;
    let addresses: Vec<String> = found.addresses.iter().map(|a| format!("products.{a}")).collect();
    tracing::warn!(
        kind = "wait for an interrupted run's orders",
        "{} left pending by an interrupted run moments ago; waiting {:.1}s, until {}, for an order it may have \
         sent to reach the cloud before asking about it",
        addresses.join(", "),
        found.wait.as_secs_f64(),
        super::settle::until(found.wait)
    );
    tokio::time::sleep(found.wait).await;
    Some(found)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pai_spec::ProductCode;
    use pai_state::{Origin, Resource};
    use pai_testkit::fixtures::{addr, hangzhou, request};
    use time::macros::datetime;

    use super::*;

    fn row(address: &str, status: Status, updated_at: &str) -> Resource {
        sent(address, status, updated_at, None)
    }

    fn sent(address: &str, status: Status, updated_at: &str, settle_until: Option<&str>) -> Resource {
        let request = request(ProductCode::Pai);
        Resource {
            address: addr(address),
            region: hangzhou(),
            product_code: ProductCode::Pai,
            status,
            origin: Origin::Ordered,
            fingerprint: request.fingerprint(),
            request,
            order_id: None,
            product_ids: Vec::new(),
            buy_product_request_id: None,
            request_id: None,
            last_error: None,
            run_id: None,
            created_at: updated_at.to_owned(),
            updated_at: updated_at.to_owned(),
            settle_until: settle_until.map(str::to_owned),
            reorders: 0,
        }
    }

    fn snapshot(rows: Vec<Resource>) -> StateSnapshot {
        StateSnapshot {
            lineage: Some("l".into()),
            serial: 1,
            resources: rows
                .into_iter()
                .map(|r| (r.address.clone(), r))
                .collect::<BTreeMap<_, _>>(),
            freeze: None,
        }
    }

    #[test]
    fn waits_for_the_youngest_pending_row_only() {
        let now = datetime!(2026-11-26 09:30:10.250 UTC);
        let settle = Duration::from_secs(30);
        let ms = Duration::from_millis;
        type Want = Option<(Vec<&'static str>, Duration)>;
        let table: Vec<(&str, Vec<Resource>, Want)> = vec![
            ("empty", vec![], None),
            (
                "only active",
                vec![row("a", Status::Active, "2026-11-26T09:30:10Z")],
                None,
            ),
            (
                "only failed",
                vec![row("a", Status::Failed, "2026-11-26T09:30:10Z")],
                None,
            ),
            (
                "pending, older than settle time and resolution",
                vec![row("a", Status::Pending, "2026-11-26T09:29:39Z")],
                None,
            ),
            (
                "pending, just inside",
                vec![row("a", Status::Pending, "2026-11-26T09:29:40Z")],
                Some((vec!["a"], ms(750))),
            ),
            (
                "pending now",
                vec![row("a", Status::Pending, "2026-11-26T09:30:10Z")],
                Some((vec!["a"], ms(30_750))),
            ),
            (
                "two young, one old, one active",
                vec![
                    row("a", Status::Pending, "2026-11-26T09:30:00Z"),
                    row("b", Status::Pending, "2026-11-26T09:30:05Z"),
                    row("c", Status::Pending, "2026-11-26T09:00:00Z"),
                    row("d", Status::Active, "2026-11-26T09:30:10Z"),
                ],
                Some((vec!["a", "b"], ms(25_750))),
            ),
            (
                "a stored deadline later than this run's settle time is honoured",
                vec![sent(
                    "a",
                    Status::Pending,
                    "2026-11-26T09:29:00Z",
                    Some("2026-11-26T09:40:00Z"),
                )],
                Some((vec!["a"], ms(589_750))),
            ),
            (
                "a stored deadline earlier than this run's settle time does not shorten it",
                vec![sent(
                    "a",
                    Status::Pending,
                    "2026-11-26T09:30:00Z",
                    Some("2026-11-26T09:30:05Z"),
                )],
                Some((vec!["a"], ms(20_750))),
            ),
            (
                "a stored deadline that passed",
                vec![sent(
                    "a",
                    Status::Pending,
                    "2026-11-26T09:00:00Z",
                    Some("2026-11-26T09:30:10Z"),
                )],
                None,
            ),
            (
                "an active row's deadline is the plan's business, not this wait's",
                vec![sent(
                    "a",
                    Status::Active,
                    "2026-11-26T09:30:00Z",
                    Some("2026-11-26T09:40:00Z"),
                )],
                None,
            ),
            (
                "an unparseable deadline counts as this run's settle time from now",
                vec![sent("a", Status::Pending, "2026-11-26T09:00:00Z", Some("soon"))],
                Some((vec!["a"], ms(30_000))),
            ),
            (
                "unparseable time counts as now",
                vec![row("a", Status::Pending, "yesterday")],
                Some((vec!["a"], ms(31_000))),
            ),
        ];
        for (name, rows, want) in table {
            let got = unsettled(&snapshot(rows), settle, now).map(|u| {
                let names: Vec<String> = u.addresses.iter().map(|a| a.to_string()).collect();
                (names, u.wait)
            });
            let want = want.map(|(names, wait)| (names.into_iter().map(String::from).collect::<Vec<_>>(), wait));
            assert_eq!(got, want, "{name}");
        }
        let zero_settle = unsettled(
            &snapshot(vec![row("a", Status::Pending, "2026-11-26T09:30:10Z")]),
            Duration::ZERO,
            now,
        );
        assert_eq!(
            zero_settle.map(|u| u.wait),
            Some(ms(750)),
            "the timestamp's resolution still counts"
        );
    }
}
