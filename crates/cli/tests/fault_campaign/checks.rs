//! The checks of a scenario beyond the ledger's (`support::exactly_once_problems_under`): the
//! product ids the state records, and the secret key in no file the scenario left.

use pai_emulator::Ledger;
use pai_state::Store;

use crate::support::{self, Accounting, Want, Workdir};

/// Each row's product ids name the product the account holds: the ids of the order that
/// bought it, or the one `ListProducts` reported when it was resolved by observation (for an
/// account-wide OSS, the one bought in whichever region).
pub fn product_id_problems(work: &Workdir, accounting: Accounting, ledger: &Ledger, wanted: &[Want]) -> Vec<String> {
    let snapshot = match Store::open_read_only(&work.state).and_then(|s| s.snapshot()) {
        Ok(s) => s,
        Err(e) => return vec![format!("cannot read the state: {e}")],
    };
    let recorded: Vec<(&str, &[String])> = snapshot
        .resources
        .values()
        .map(|r| (r.address.as_str(), r.product_ids.as_slice()))
        .collect();
    product_id_problems_of(accounting, ledger, wanted, &recorded)
}

/// [`product_id_problems`] over each row's address and product ids.
pub fn product_id_problems_of(
    accounting: Accounting,
    ledger: &Ledger,
    wanted: &[Want],
    recorded: &[(&str, &[String])],
) -> Vec<String> {
    let mut problems = Vec::new();
    for w in wanted {
        let row = recorded.iter().find(|(address, _)| *address == w.address);
        let purchase = accounting.purchase(ledger, &w.region, w.code);
        match (row, purchase) {
            (Some((_, ids)), Some(p)) if !ids.contains(&p.product_id) => problems.push(format!(
                "`{}` records product ids {ids:?}; the account holds {}",
                w.address, p.product_id
            )),
            _ => {}
        }
    }
    problems
}

/// Every file the scenario left (state, plans, every command's output in `runs.log`, the ledger)
/// must be free of the secret key, whatever the service echoed (`echo_string_to_sign`).
pub fn secret_leaks(work: &Workdir) -> Vec<String> {
    let secret = support::ACCESS_KEY_SECRET.as_bytes();
    let Ok(entries) = std::fs::read_dir(work.path()) else {
        return vec![format!("cannot list {}", work.path().display())];
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            bytes
                .windows(secret.len())
                .any(|w| w == secret)
                .then(|| format!("the secret key is in {}", e.path().display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ledger checks count an account-wide OSS once for the account: the manifest's OSS in two
    /// regions is one order in either; a second one anywhere is a duplicate; a refused repeat bought
    /// nothing and is no order; every OSS row is active and names that order if it names one.
    #[test]
    fn the_ledger_checks_count_an_account_wide_oss_once() {
        use pai_emulator::{Order, Purchase, Refusal};
        use pai_spec::ProductCode::{self, DataWorks, MaxCompute, Oss, Pai};

        let (hz, sh) = (support::hangzhou(), support::shanghai());
        let order = |id: &str, region: &pai_spec::Region, codes: &[ProductCode]| Order {
            order_id: id.to_owned(),
            account: pai_emulator::DEFAULT_HOME_ACCOUNT.into(),
            region: region.clone(),
            product_codes: codes.to_vec(),
            product_ids: codes.iter().enumerate().map(|(i, _)| format!("{id}{i:02}")).collect(),
            buy_product_request_id: "b".into(),
            request_id: "r".into(),
            auto_pay: true,
            access_key_id: support::ACCESS_KEY_ID.into(),
            body: serde_json::json!({}),
            at: "2026-11-30T12:00:00Z".into(),
            paid_at: None,
            caller: None,
        };
        let ledger_of = |orders: Vec<Order>, refused: &[(&pai_spec::Region, &[ProductCode])]| {
            let mut ledger = Ledger::default();
            for o in &orders {
                for (code, id) in o.product_codes.iter().zip(&o.product_ids) {
                    if !ledger.is_purchased(&o.region, *code) {
                        ledger.purchased.push(Purchase {
                            account: o.account.clone(),
                            region: o.region.clone(),
                            product_code: *code,
                            product_id: id.clone(),
                            order_id: o.order_id.clone(),
                            at: o.at.clone(),
                        });
                    }
                }
            }
            ledger.orders = orders;
            ledger.refusals = refused
                .iter()
                .map(|(region, codes)| Refusal {
                    request_id: "r".into(),
                    account: pai_emulator::DEFAULT_HOME_ACCOUNT.into(),
                    region: (*region).clone(),
                    product_codes: codes.to_vec(),
                    access_key_id: support::ACCESS_KEY_ID.into(),
                    status: 400,
                    code: "ORDER.OPEND".into(),
                    at: "2026-11-30T12:00:00Z".into(),
                })
                .collect();
            ledger
        };
        // OSS in both regions, as manifests could declare it before `validate` refused that:
        // what the checks must make of an account-wide purchase.
        let mut wanted = support::single_region();
        wanted.push(support::want("oss-shanghai", Oss, &sh));
        wanted.push(support::want("pai-shanghai", Pai, &sh));
        let rows_with = |edit: &dyn Fn(&mut support::StateRow)| -> Vec<support::StateRow> {
            wanted
                .iter()
                .map(|w| {
                    let mut row = support::StateRow {
                        address: w.address.clone(),
                        region: w.region.to_string(),
                        product_code: w.code.as_str().to_owned(),
                        status: "active".into(),
                        order_id: Some(if w.region == hz { "1" } else { "2" }.to_owned()),
                    };
                    if w.address == "oss-shanghai" {
                        // Refused as already open, then resolved by what ListProducts reports.
                        row.order_id = None;
                    }
                    edit(&mut row);
                    row
                })
                .collect()
        };
        // What the preset leaves: OSS bought with cn-hangzhou's order, cn-shanghai's [OSS, PAI]
        // refused as a repeat, then PAI ordered there alone.
        let once = ledger_of(
            vec![
                order("1", &hz, &[DataWorks, MaxCompute, Oss, Pai]),
                order("2", &sh, &[Pai]),
            ],
            &[(&sh, &[Oss, Pai])],
        );
        // What a service that bills a repeat leaves when the tool orders OSS in both regions.
        let twice = ledger_of(
            vec![
                order("1", &hz, &[DataWorks, MaxCompute, Oss, Pai]),
                order("2", &sh, &[Oss, Pai]),
            ],
            &[],
        );
        let wide = Accounting { oss_account_wide: true };
        let per_region = Accounting::default();
        let unchanged = rows_with(&|_| {});
        let pending = rows_with(&|r| {
            if r.address == "oss-shanghai" {
                r.status = "pending".into();
            }
        });
        let other_order = rows_with(&|r| {
            if r.address == "oss-shanghai" {
                r.order_id = Some("2".into());
            }
        });
        // name, how purchases count, the ledger, the state, what the problems say
        type Case<'a> = (&'a str, Accounting, &'a Ledger, &'a [support::StateRow], &'a [&'a str]);
        let cases: [Case; 6] = [
            ("once, account-wide", wide, &once, &unchanged, &[]),
            (
                "once, per region",
                per_region,
                &once,
                &unchanged,
                &["OSS_share in cn-shanghai was ordered 0 times", "purchased ["],
            ),
            (
                "twice, account-wide",
                wide,
                &twice,
                &rows_with(&|r| {
                    if r.address == "oss-shanghai" {
                        r.order_id = Some("2".into());
                    }
                }),
                &[
                    "OSS_share (one purchase for the account) was ordered 2 times",
                    "`oss-shanghai` records order 2, but the ledger's order for it is 1",
                ],
            ),
            ("twice, per region", per_region, &twice, &other_order, &[]),
            (
                "an OSS row pending",
                wide,
                &once,
                &pending,
                &["is not OSS_share in cn-shanghai, active"],
            ),
            (
                "an OSS row naming another order",
                wide,
                &once,
                &other_order,
                &["`oss-shanghai` records order 2, but the ledger's order for it is 1"],
            ),
        ];
        for (name, accounting, ledger, rows, want) in cases {
            let problems = support::exactly_once_problems_under(accounting, ledger, &wanted, rows);
            assert_eq!(problems.len(), want.len(), "{name}: {problems:#?}");
            for (problem, needle) in problems.iter().zip(want) {
                assert!(problem.contains(needle), "{name}: `{problem}` lacks `{needle}`");
            }
        }
        assert_eq!(support::duplicates_under(wide, &twice), 1);
        assert_eq!(support::duplicates_under(per_region, &twice), 0);
        assert_eq!(support::duplicates_under(wide, &once), 0);
        assert_eq!(support::refused_as_bought_elsewhere(wide, &once), 1);
        assert_eq!(support::refused_as_bought_elsewhere(per_region, &once), 0);
        // OSS in cn-shanghai is the one bought in cn-hangzhou, under its product id.
        let hz_oss = vec!["102".to_owned()];
        let recorded: Vec<(&str, &[String])> = vec![("oss", &hz_oss), ("oss-shanghai", &hz_oss)];
        assert_eq!(
            product_id_problems_of(wide, &once, &wanted, &recorded),
            Vec::<String>::new()
        );
        let own = vec!["201".to_owned()];
        let recorded: Vec<(&str, &[String])> = vec![("oss", &hz_oss), ("oss-shanghai", &own)];
        let problems = product_id_problems_of(wide, &once, &wanted, &recorded);
        assert!(
            problems.len() == 1
                && problems[0].contains("`oss-shanghai` records product ids [\"201\"]; the account holds 102"),
            "{problems:?}"
        );
    }
}
