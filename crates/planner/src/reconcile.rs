//! What a `ListProducts` answer means for one recorded row: the one rule that the diff, the
//! executor (before an order and after an ambiguous one) and `refresh` all follow.
//!
//! | recorded            | cloud: purchased | cloud: not purchased | no word (not asked / not reported) |
//! |---------------------|------------------|----------------------|------------------------------------|
//! | nothing             | adopt            | absent               | nothing                            |
//! | nothing, elsewhere  | nothing          | absent               | nothing                            |
//! | pending, settling   | resolve          | awaiting outcome     | nothing                            |
//! | pending, settled    | resolve          | not placed           | nothing                            |
//! | active, settling    | confirmed        | awaiting activation  | nothing                            |
//! | active, settled     | confirmed        | drift                | nothing                            |
//! | active, reordered   | confirmed        | never shows          | nothing                            |
//! | failed              | adopt            | absent               | nothing                            |
//! | unpaid              | resolve          | awaiting payment     | nothing                            |
//!
//! "Elsewhere": the state records the same activation (region and product code) under another
//! address; recording it here too would give one activation two addresses, so moving the record
//! is left to the diff (a rename) or to the user (a conflict).
//!
//! "Settling": the question was asked before the row's settle deadline (`settle_until`, stored
//! by each send): the service may still be carrying the order out or not show it yet, so "not
//! purchased" is no reason to buy again. "Reordered": settled, and the row's last order was a
//! reorder after drift; a reorder that does not show either will not be helped by a third
//! order, so it is a conflict for a person to look at. The window matters to `active` and
//! `pending` rows: a `pending` row settling is an order sent moments ago (by a run that was
//! killed, or one still running) whose outcome is not known yet, so "not purchased" does not
//! mean it did not take effect. The executor, which asks about its own orders during its settle
//! wait, treats that verdict as "not shown yet" and decides by its own clock; a plan shows it as
//! awaited (`docs/idempotency.md`).
//!
//! "Unpaid": an order placed with `AutoPay: false` was accepted and waits for payment in the
//! console. Until the cloud reports the product purchased, the order is the one to pay, never a
//! reason to order again.
//!
//! The rule trusts the answer it is given. When a "not purchased" may be trusted is not decided
//! here but before the question is asked: only once any order that may still be on its way has
//! had the settle time to arrive (`docs/idempotency.md`, and `pai_apply`'s `await_interrupted`
//! and the executor's settle wait). Callers must not pass an earlier "not purchased".

use pai_state::{Resource, Status};
use serde::Serialize;
use time::OffsetDateTime;

use crate::observe::Observed;

/// What the cloud said of one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    Purchased,
    NotPurchased,
    /// Not asked (`--refresh=false`), not in the answer, or without `IsPurchased`.
    Silent,
}

impl Word {
    pub const ALL: [Word; 3] = [Word::Purchased, Word::NotPurchased, Word::Silent];

    /// The word of an observation, `None` when the cloud did not report the product.
    pub fn of(observed: Option<&Observed>) -> Word {
        match observed {
            Some(o) if o.purchased => Word::Purchased,
            Some(_) => Word::NotPurchased,
            None => Word::Silent,
        }
    }
}

/// Where a recorded row stood against its settle deadline when the cloud was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Asked before the deadline of the row's last send: that order may not show yet.
    Settling,
    /// Asked after it, or the row has none (never sent by this tool, or sent before the state
    /// stored deadlines).
    Settled,
    /// Settled, and the row's last order was a reorder after drift.
    Reordered,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Settling, Window::Settled, Window::Reordered];

    /// The window of `row` for an answer given at `asked_at` (`None`: unknown, taken as
    /// within the deadline). A deadline that does not parse is taken as not passed.
    pub fn of(row: &Resource, asked_at: Option<OffsetDateTime>) -> Window {
        let settling =
            row.settle_until
                .as_deref()
                .is_some_and(|deadline| match (pai_state::clock::parse(deadline), asked_at) {
                    (Some(deadline), Some(asked)) => asked < deadline,
                    _ => true,
                });
        match (settling, row.reorders) {
            (true, _) => Window::Settling,
            (false, 0) => Window::Settled,
            (false, _) => Window::Reordered,
        }
    }
}

/// A recorded row, as the rule reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub status: Status,
    pub window: Window,
}

impl Record {
    pub fn of(row: &Resource, asked_at: Option<OffsetDateTime>) -> Record {
        Record {
            status: row.status,
            window: Window::of(row, asked_at),
        }
    }

    /// A row whose window does not matter: the answer is "purchased", or the row is not active.
    pub fn settled(status: Status) -> Record {
        Record {
            status,
            window: Window::Settled,
        }
    }
}

/// What the answer means for the recorded row, and so for the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Purchased, and not (or only as failed) recorded: record it as adopted.
    Adopt,
    /// Purchased, recorded `pending` (the interrupted order went through) or `unpaid` (someone
    /// paid the order): record it active.
    Resolve,
    /// Purchased and recorded active: the state is right.
    Confirmed,
    /// Not purchased, recorded active, asked within its settle window: the order may not show
    /// yet; order nothing.
    AwaitingActivation,
    /// Not purchased, recorded active, settled: the activation is gone (drift); a reorder is planned.
    Drift,
    /// Not purchased, recorded active by a reorder after drift, settled: the reorder never showed
    /// either. A conflict: a third order would not help.
    NeverShows,
    /// Not purchased, recorded `pending`, settled: the interrupted order did not take effect;
    /// order again.
    NotPlaced,
    /// Not purchased, recorded `pending`, asked within its settle window: the order may still be
    /// carried out; order nothing yet.
    AwaitingOutcome,
    /// Not purchased, nothing (or a failure) recorded: nothing bought, ordering is safe.
    Absent,
    /// Not purchased, recorded `unpaid`: the order waits for payment; order nothing.
    AwaitingPayment,
    /// Nothing can be concluded for this address.
    Nothing,
}

impl Verdict {
    pub const ALL: [Verdict; 11] = [
        Verdict::Adopt,
        Verdict::Resolve,
        Verdict::Confirmed,
        Verdict::AwaitingActivation,
        Verdict::Drift,
        Verdict::NeverShows,
        Verdict::NotPlaced,
        Verdict::AwaitingOutcome,
        Verdict::Absent,
        Verdict::AwaitingPayment,
        Verdict::Nothing,
    ];
}

/// The rule. `recorded` is the row under this address (`None`: no row); `recorded_elsewhere`
/// whether the state records the same activation under another address.
pub fn reconcile(recorded: Option<Record>, recorded_elsewhere: bool, word: Word) -> Verdict {
    use Status::*;
    let row = recorded.map(|r| (r.status, r.window));
    match (row, word) {
        (_, Word::Silent) => Verdict::Nothing,
        (None, Word::Purchased) if recorded_elsewhere => Verdict::Nothing,
        (None | Some((Failed, _)), Word::Purchased) => Verdict::Adopt,
        (None | Some((Failed, _)), Word::NotPurchased) => Verdict::Absent,
        (Some((Pending | Unpaid, _)), Word::Purchased) => Verdict::Resolve,
        (Some((Unpaid, _)), Word::NotPurchased) => Verdict::AwaitingPayment,
        (Some((Pending, Window::Settling)), Word::NotPurchased) => Verdict::AwaitingOutcome,
        (Some((Pending, Window::Settled | Window::Reordered)), Word::NotPurchased) => Verdict::NotPlaced,
        (Some((Active, _)), Word::Purchased) => Verdict::Confirmed,
        (Some((Active, Window::Settling)), Word::NotPurchased) => Verdict::AwaitingActivation,
        (Some((Active, Window::Settled)), Word::NotPurchased) => Verdict::Drift,
        (Some((Active, Window::Reordered)), Word::NotPurchased) => Verdict::NeverShows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (Option<Record>, bool, Word, Verdict);

    fn rec(status: Status, window: Window) -> Option<Record> {
        Some(Record { status, window })
    }

    /// The module's table, row by row: the window matters to `active` and `pending` rows only.
    fn table() -> Vec<Row> {
        use Verdict::*;
        use Word::*;
        let mut rows = Vec::new();
        for elsewhere in [false, true] {
            rows.extend([
                (None, elsewhere, Purchased, if elsewhere { Nothing } else { Adopt }),
                (None, elsewhere, NotPurchased, Absent),
                (None, elsewhere, Silent, Nothing),
            ]);
            for (window, pending_not_purchased, active_not_purchased) in [
                (Window::Settling, AwaitingOutcome, AwaitingActivation),
                (Window::Settled, NotPlaced, Drift),
                (Window::Reordered, NotPlaced, NeverShows),
            ] {
                rows.extend(rows_of(elsewhere, window, pending_not_purchased, active_not_purchased));
            }
        }
        rows
    }

    fn rows_of(
        elsewhere: bool,
        window: Window,
        pending_not_purchased: Verdict,
        active_not_purchased: Verdict,
    ) -> Vec<Row> {
        use Verdict::*;
        use Word::*;
        let (pending, active) = (rec(Status::Pending, window), rec(Status::Active, window));
        let (failed, unpaid) = (rec(Status::Failed, window), rec(Status::Unpaid, window));
        // A row under this address is what counts; another address's row is the diff's business.
        vec![
            (pending, elsewhere, Purchased, Resolve),
            (pending, elsewhere, NotPurchased, pending_not_purchased),
            (pending, elsewhere, Silent, Nothing),
            (active, elsewhere, Purchased, Confirmed),
            (active, elsewhere, NotPurchased, active_not_purchased),
            (active, elsewhere, Silent, Nothing),
            (failed, elsewhere, Purchased, Adopt),
            (failed, elsewhere, NotPurchased, Absent),
            (failed, elsewhere, Silent, Nothing),
            (unpaid, elsewhere, Purchased, Resolve),
            (unpaid, elsewhere, NotPurchased, AwaitingPayment),
            (unpaid, elsewhere, Silent, Nothing),
        ]
    }

    #[test]
    fn decision_table() {
        for (recorded, elsewhere, word, want) in table() {
            assert_eq!(
                reconcile(recorded, elsewhere, word),
                want,
                "recorded {recorded:?}, elsewhere {elsewhere}, cloud {word:?}"
            );
        }
    }

    /// Every (row x elsewhere x word) appears exactly once, and every verdict somewhere.
    #[test]
    fn the_table_covers_every_pair_and_verdict() {
        let rows = table();
        let mut statuses = vec![None];
        for status in [Status::Pending, Status::Active, Status::Failed, Status::Unpaid] {
            statuses.extend(Window::ALL.map(|window| rec(status, window)));
        }
        for &status in &statuses {
            for elsewhere in [false, true] {
                for word in Word::ALL {
                    let n = rows
                        .iter()
                        .filter(|(s, e, w, _)| *s == status && *e == elsewhere && *w == word)
                        .count();
                    assert_eq!(n, 1, "{status:?}, elsewhere {elsewhere}, {word:?}");
                }
            }
        }
        assert_eq!(rows.len(), statuses.len() * 2 * Word::ALL.len());
        for verdict in Verdict::ALL {
            assert!(rows.iter().any(|r| r.3 == verdict), "{verdict:?} not covered");
        }
    }

    #[test]
    fn window_of_a_row() {
        use time::macros::datetime;
        let row = |settle_until: Option<&str>, reorders| {
            let product = pai_testkit::fixtures::product("pai", pai_spec::ProductCode::Pai, "cn-hangzhou");
            let mut r = crate::fixtures::record(&product, Status::Active);
            r.settle_until = settle_until.map(str::to_owned);
            r.reorders = reorders;
            r
        };
        let before = Some(datetime!(2026-11-30 10:00:59 UTC));
        let at = Some(datetime!(2026-11-30 10:01:00 UTC));
        let deadline = Some("2026-11-30T10:01:00Z");
        let table = [
            (row(None, 0), before, Window::Settled),
            (row(None, 1), before, Window::Reordered),
            (row(deadline, 0), before, Window::Settling),
            (row(deadline, 1), before, Window::Settling),
            (row(deadline, 0), at, Window::Settled),
            (row(deadline, 2), at, Window::Reordered),
            (row(deadline, 0), None, Window::Settling),
            (row(Some("soon"), 0), at, Window::Settling),
        ];
        for (r, asked, want) in table {
            assert_eq!(
                Window::of(&r, asked),
                want,
                "{:?} {} asked {asked:?}",
                r.settle_until,
                r.reorders
            );
        }
    }

    #[test]
    fn word_of_an_observation() {
        let seen = |purchased| Observed {
            purchased,
            ..Observed::default()
        };
        assert_eq!(Word::of(Some(&seen(true))), Word::Purchased);
        assert_eq!(Word::of(Some(&seen(false))), Word::NotPurchased);
        assert_eq!(Word::of(None), Word::Silent);
    }
}
