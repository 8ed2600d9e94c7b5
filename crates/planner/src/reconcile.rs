//! What a `ListProducts` answer means for one recorded row: the one rule that the diff, the
//! executor (before an order and after an ambiguous one) and `refresh` all follow.
//!
//! | recorded            | cloud: purchased | cloud: not purchased | no word (not asked / not reported) |
//! |---------------------|------------------|----------------------|------------------------------------|
//! | nothing             | adopt            | absent               | nothing                            |
//! | nothing, elsewhere  | nothing          | absent               | nothing                            |
//! | pending             | resolve          | not placed           | nothing                            |
//! | active              | confirmed        | drift                | nothing                            |
//! | failed              | adopt            | absent               | nothing                            |
//! | unpaid              | resolve          | awaiting payment     | nothing                            |
//!
//! "Elsewhere": the state records the same activation (region and product code) under another
//! address; recording it here too would give one activation two addresses, so moving the record
//! is left to the diff (a rename) or to the user (a conflict).
//!
//! "Unpaid": an order placed with `AutoPay: false` was accepted and waits for payment in the
//! console. Until the cloud reports the product purchased, the order is the one to pay, never a
//! reason to order again.
//!
//! The rule trusts the answer it is given. When a "not purchased" may be trusted is not decided
//! here but before the question is asked: only once any order that may still be on its way has
//! had the settle time to arrive (`docs/idempotency.md`, and `pai_apply`'s `await_interrupted`
//! and the executor's settle wait). Callers must not pass an earlier "not purchased".

use pai_state::Status;
use serde::Serialize;

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
    /// Not purchased, recorded active: the activation is gone (drift); a reorder is planned.
    Drift,
    /// Not purchased, recorded `pending`: the interrupted order did not take effect; order again.
    NotPlaced,
    /// Not purchased, nothing (or a failure) recorded: nothing bought, ordering is safe.
    Absent,
    /// Not purchased, recorded `unpaid`: the order waits for payment; order nothing.
    AwaitingPayment,
    /// Nothing can be concluded for this address.
    Nothing,
}

impl Verdict {
    pub const ALL: [Verdict; 8] = [
        Verdict::Adopt,
        Verdict::Resolve,
        Verdict::Confirmed,
        Verdict::Drift,
        Verdict::NotPlaced,
        Verdict::Absent,
        Verdict::AwaitingPayment,
        Verdict::Nothing,
    ];
}

/// The rule. `recorded` is the row's status under this address (`None`: no row);
/// `recorded_elsewhere` whether the state records the same activation under another address.
pub fn reconcile(recorded: Option<Status>, recorded_elsewhere: bool, word: Word) -> Verdict {
    match (recorded, word) {
        (_, Word::Silent) => Verdict::Nothing,
        (None, Word::Purchased) if recorded_elsewhere => Verdict::Nothing,
        (None | Some(Status::Failed), Word::Purchased) => Verdict::Adopt,
        (None | Some(Status::Failed), Word::NotPurchased) => Verdict::Absent,
        (Some(Status::Pending | Status::Unpaid), Word::Purchased) => Verdict::Resolve,
        (Some(Status::Unpaid), Word::NotPurchased) => Verdict::AwaitingPayment,
        (Some(Status::Pending), Word::NotPurchased) => Verdict::NotPlaced,
        (Some(Status::Active), Word::Purchased) => Verdict::Confirmed,
        (Some(Status::Active), Word::NotPurchased) => Verdict::Drift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (Option<Status>, bool, Word, Verdict);

    /// The module's table, row by row.
    fn table() -> Vec<Row> {
        use Verdict::*;
        use Word::*;
        let (pending, active, failed) = (Some(Status::Pending), Some(Status::Active), Some(Status::Failed));
        let unpaid = Some(Status::Unpaid);
        let mut rows = Vec::new();
        for elsewhere in [false, true] {
            let adopt_unrecorded = if elsewhere { Nothing } else { Adopt };
            rows.extend([
                (None, elsewhere, Purchased, adopt_unrecorded),
                (None, elsewhere, NotPurchased, Absent),
                (None, elsewhere, Silent, Nothing),
                // A row under this address is what counts; another address's row is the diff's business.
                (pending, elsewhere, Purchased, Resolve),
                (pending, elsewhere, NotPurchased, NotPlaced),
                (pending, elsewhere, Silent, Nothing),
                (active, elsewhere, Purchased, Confirmed),
                (active, elsewhere, NotPurchased, Drift),
                (active, elsewhere, Silent, Nothing),
                (failed, elsewhere, Purchased, Adopt),
                (failed, elsewhere, NotPurchased, Absent),
                (failed, elsewhere, Silent, Nothing),
                (unpaid, elsewhere, Purchased, Resolve),
                (unpaid, elsewhere, NotPurchased, AwaitingPayment),
                (unpaid, elsewhere, Silent, Nothing),
            ]);
        }
        rows
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

    /// Every (status x elsewhere x word) appears exactly once, and every verdict somewhere.
    #[test]
    fn the_table_covers_every_pair_and_verdict() {
        let rows = table();
        let statuses = [
            None,
            Some(Status::Pending),
            Some(Status::Active),
            Some(Status::Failed),
            Some(Status::Unpaid),
        ];
        for status in statuses {
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
