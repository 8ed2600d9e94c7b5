//! The exactly-once claim on an account where `OSS_share` is one purchase for every region
//! (the emulator's realism option `oss_account_wide`, on in `--realistic`; docs/emulator.md,
//! "Realism"). A manifest that wants OSS in two regions then holds one OSS order in all, and
//! the row of the region whose order was refused as a repeat is recorded from `ListProducts`.

use std::collections::BTreeSet;

use pai_emulator::Ledger;
use pai_spec::ProductCode;

use super::{exactly_once_problems, StateRow, Want};

/// [`exactly_once_problems`], but with OSS counted once for the account: exactly one OSS order
/// and one OSS purchase, in a region that wants it, and every OSS row active in its own region,
/// recording that order or none. Every other product is held to the per-region claim.
pub fn exactly_once_problems_account_wide(ledger: &Ledger, wanted: &[Want], rows: &[StateRow]) -> Vec<String> {
    let is_oss = |w: &&Want| w.code == ProductCode::Oss;
    let oss_wanted: Vec<&Want> = wanted.iter().filter(is_oss).collect();
    let others: Vec<Want> = wanted.iter().filter(|w| !is_oss(w)).cloned().collect();

    // The per-region claim on everything but OSS, against the ledger without OSS.
    let mut without_oss = ledger.clone();
    for order in &mut without_oss.orders {
        order.product_codes.retain(|c| *c != ProductCode::Oss);
    }
    without_oss.orders.retain(|o| !o.product_codes.is_empty());
    without_oss.purchased.retain(|p| p.product_code != ProductCode::Oss);
    let other_rows: Vec<StateRow> = rows
        .iter()
        .filter(|r| r.product_code != ProductCode::Oss.as_str())
        .cloned()
        .collect();
    let mut problems = exactly_once_problems(&without_oss, &others, &other_rows);

    let oss_orders: Vec<_> = ledger
        .orders
        .iter()
        .filter(|o| o.product_codes.contains(&ProductCode::Oss))
        .collect();
    let oss_regions: BTreeSet<String> = oss_wanted.iter().map(|w| w.region.to_string()).collect();
    let want_orders = usize::from(!oss_wanted.is_empty());
    if oss_orders.len() != want_orders {
        problems.push(format!(
            "OSS (account-wide) was ordered {} times, wanted {want_orders}",
            oss_orders.len()
        ));
    }
    for order in &oss_orders {
        if !oss_regions.contains(order.region.as_str()) {
            problems.push(format!(
                "order {} bought unwanted OSS in {}",
                order.order_id, order.region
            ));
        }
    }
    let oss_purchases = ledger
        .purchased
        .iter()
        .filter(|p| p.product_code == ProductCode::Oss)
        .count();
    if oss_purchases != want_orders {
        problems.push(format!(
            "OSS (account-wide) is purchased {oss_purchases} times, wanted {want_orders}"
        ));
    }
    let oss_rows = rows
        .iter()
        .filter(|r| r.product_code == ProductCode::Oss.as_str())
        .count();
    if oss_rows != oss_wanted.len() {
        problems.push(format!(
            "the state has {oss_rows} OSS rows for {} wanted",
            oss_wanted.len()
        ));
    }
    for w in &oss_wanted {
        let Some(row) = rows.iter().find(|r| r.address == w.address) else {
            problems.push(format!("no state row for `{}`", w.address));
            continue;
        };
        if row.status != "active" || row.region != w.region.as_str() || row.product_code != w.code.as_str() {
            problems.push(format!("state row {row:?} is not {} in {}, active", w.code, w.region));
        }
        if let Some(id) = &row.order_id {
            if !oss_orders.iter().any(|o| &o.order_id == id) {
                problems.push(format!(
                    "`{}` records order {id}, which is not the account's OSS order",
                    w.address
                ));
            }
        }
    }
    problems
}
