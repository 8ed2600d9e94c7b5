//! The one harness of the CLI's integration tests: a work directory holding a state file and a
//! manifest ([`Workdir`]), the real `pai-provision` binary run in it as a child process with
//! credentials passed through its own environment only ([`Run`]), and, for the apply tests
//! (`apply_e2e`, `apply_race`, `apply_secrets`, `fault_campaign`, `state_postgres`), an
//! in-process emulator on loopback whose ledger lives in a file and which can be restarted with
//! other faults on the same ports, and the exactly-once check itself.
//!
//! - `emu`: [`Setup`], on `pai_testkit`'s emulator harness ([`Emu`], [`runtime`]).
//! - `proxy`: a recording TCP proxy that can play a slow gateway.
//! - `workdir`: [`Workdir`], [`Run`] and [`binary`], what every test binary here runs the
//!   binary with.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

mod emu;
pub mod fleet;
mod proxy;
mod workdir;

use std::collections::{BTreeMap, BTreeSet};

use pai_emulator::{Ledger, Order, Purchase};
use pai_spec::{ProductCode, Region};

// Re-exported for the binaries that use them; the others do not.
#[allow(unused_imports)]
pub use emu::{emu_config, pay, Setup};
#[allow(unused_imports)]
pub use pai_testkit::emulator::{runtime, Emu};
#[allow(unused_imports)]
pub use proxy::{gateway, proxy, Wire};
#[allow(unused_imports)]
pub use workdir::{binary, examples, write, Run, StateRow, Workdir};

pub const ACCESS_KEY_ID: &str = "LTAI5tApplyTestKey";
pub const ACCESS_KEY_SECRET: &str = "ApplyTest-Secret-5f4e3d2c1b0a";

#[allow(unused_imports)]
pub use pai_testkit::fixtures::{hangzhou, region, shanghai};

/// A product the manifest wants, at its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub address: String,
    pub code: ProductCode,
    pub region: Region,
}

pub fn want(address: &str, code: ProductCode, region: &Region) -> Want {
    Want {
        address: address.to_owned(),
        code,
        region: region.clone(),
    }
}

/// The quickstart's four products, all ordered through cn-hangzhou.
pub fn single_region() -> Vec<Want> {
    let hz = hangzhou();
    vec![
        want("dataworks", ProductCode::DataWorks, &hz),
        want("maxcompute", ProductCode::MaxCompute, &hz),
        want("oss", ProductCode::Oss, &hz),
        want("pai", ProductCode::Pai, &hz),
    ]
}

/// The four in cn-hangzhou, and DataWorks and PAI again in cn-shanghai: two orders, in
/// parallel. (Not OSS: it is one purchase per account, declared once.)
pub fn two_regions() -> Vec<Want> {
    let sh = shanghai();
    let mut products = single_region();
    products.push(want("dataworks-shanghai", ProductCode::DataWorks, &sh));
    products.push(want("pai-shanghai", ProductCode::Pai, &sh));
    products
}

/// The regions `products` are ordered in, sorted.
pub fn regions_of(products: &[Want]) -> Vec<Region> {
    let set: BTreeSet<Region> = products.iter().map(|w| w.region.clone()).collect();
    set.into_iter().collect()
}

/// A manifest ordering `products` through cn-hangzhou, the endpoint of each region it orders
/// in overridden.
pub fn manifest(endpoints: &BTreeMap<Region, String>, products: &[Want]) -> String {
    let mut text = String::from("[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n\n[provider.endpoints]\n");
    let used = regions_of(products);
    for (region, url) in endpoints.iter().filter(|(r, _)| used.contains(r)) {
        text.push_str(&format!("{region} = \"{url}\"\n"));
    }
    for w in products {
        text.push_str(&format!("\n[products.{}]\ncode = \"{}\"\n", w.address, w.code.as_str()));
        if w.region != hangzhou() {
            text.push_str(&format!("region = \"{}\"\n", w.region));
        }
        text.push_str(properties(w.code));
    }
    text
}

/// The documented instance properties of each product, as in the API reference's example.
fn properties(code: ProductCode) -> &'static str {
    match code {
        ProductCode::DataWorks => "properties.region = \"cn-hangzhou\"\n",
        ProductCode::MaxCompute => {
            "properties.odps_specification_type = \"OdpsStandard\"\nproperties.ord_time = \"1:Hour\"\n\
             properties.region = \"cn-hangzhou\"\n"
        }
        ProductCode::Oss => {
            "properties.commodity_type = { value = \"oss\", name = \"Object Storage Service\" }\n\
             properties.ord_time = { value = \"1:Hour\", name = \"1 Hour\" }\n"
        }
        ProductCode::Pai => "",
    }
}

/// How the service counts a purchase: per region and product, or, with the realism option
/// `oss_account_wide` (docs/emulator.md, "Realism"), OSS once for the whole account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accounting {
    pub oss_account_wide: bool,
}

impl Accounting {
    pub fn of(realism: &pai_emulator::Realism) -> Accounting {
        Accounting {
            oss_account_wide: realism.oss_account_wide,
        }
    }

    fn account_wide(self, code: ProductCode) -> bool {
        self.oss_account_wide && code == ProductCode::Oss
    }

    /// What one purchase is counted under: its region and product, or the product alone when
    /// it is bought once for the account.
    pub fn key(self, region: &Region, code: ProductCode) -> (Option<Region>, ProductCode) {
        if self.account_wide(code) {
            (None, code)
        } else {
            (Some(region.clone()), code)
        }
    }

    fn describe(key: &(Option<Region>, ProductCode)) -> String {
        match key {
            (Some(region), code) => format!("{code} in {region}"),
            (None, code) => format!("{code} (one purchase for the account)"),
        }
    }

    /// The account's purchase `ListProducts` in `region` reports for `code`: for an
    /// account-wide product not bought in `region`, the one bought in another region (as the
    /// emulator's `realism::visible_ledger` reports it).
    pub fn purchase<'a>(self, ledger: &'a Ledger, region: &Region, code: ProductCode) -> Option<&'a Purchase> {
        let here = ledger.purchase(region, code);
        if self.account_wide(code) {
            here.or_else(|| ledger.purchased.iter().find(|p| p.product_code == code))
        } else {
            here
        }
    }

    /// The accepted orders that bought `code` as `region`'s product counts it: for an
    /// account-wide product, its orders in every region.
    fn orders_of<'a>(self, ledger: &'a Ledger, region: &Region, code: ProductCode) -> Vec<&'a Order> {
        let key = self.key(region, code);
        ledger
            .orders
            .iter()
            .filter(|o| o.product_codes.iter().any(|c| self.key(&o.region, *c) == key))
            .collect()
    }
}

/// Everything wrong with the claim "the account holds exactly one order per wanted product and
/// the state agrees with it" against the kind emulator (every purchase per region); empty when
/// it holds.
pub fn exactly_once_problems(ledger: &Ledger, wanted: &[Want], rows: &[StateRow]) -> Vec<String> {
    exactly_once_problems_under(Accounting::default(), ledger, wanted, rows)
}

/// [`exactly_once_problems`] as `accounting` counts purchases. With OSS account-wide, the
/// manifest's OSS rows in every region are one purchase: one accepted OSS order in the whole
/// account, in one of the regions the manifest wants OSS in; a second one anywhere is a
/// duplicate; every OSS row is active, and one that records an order id records that order. An
/// order the service refused as a repeat (the ledger's `refusals`) bought nothing and is no order.
///
/// A row without an order id is accepted: it was resolved by observation after its response
/// was lost (or its order was refused as already open), and the ledger's single order for it is
/// the one that went through.
pub fn exactly_once_problems_under(
    accounting: Accounting,
    ledger: &Ledger,
    wanted: &[Want],
    rows: &[StateRow],
) -> Vec<String> {
    let mut problems = Vec::new();
    let wanted_pairs: BTreeSet<(Region, ProductCode)> = wanted.iter().map(|w| (w.region.clone(), w.code)).collect();
    let wanted_keys: BTreeSet<(Option<Region>, ProductCode)> =
        wanted.iter().map(|w| accounting.key(&w.region, w.code)).collect();
    let mut counted = BTreeSet::new();
    for w in wanted {
        if !counted.insert(accounting.key(&w.region, w.code)) {
            continue;
        }
        let count = accounting.orders_of(ledger, &w.region, w.code).len();
        if count != 1 {
            problems.push(format!(
                "{} was ordered {count} times",
                Accounting::describe(&accounting.key(&w.region, w.code))
            ));
        }
    }
    for order in &ledger.orders {
        for code in &order.product_codes {
            if !wanted_pairs.contains(&(order.region.clone(), *code)) {
                problems.push(format!(
                    "order {} bought unwanted {code} in {}",
                    order.order_id, order.region
                ));
            }
        }
    }
    let purchased: BTreeSet<(Option<Region>, ProductCode)> = ledger
        .purchased
        .iter()
        .map(|p| accounting.key(&p.region, p.product_code))
        .collect();
    if purchased != wanted_keys {
        let show = |keys: &BTreeSet<(Option<Region>, ProductCode)>| {
            keys.iter().map(Accounting::describe).collect::<Vec<_>>().join(", ")
        };
        problems.push(format!(
            "purchased [{}], wanted [{}]",
            show(&purchased),
            show(&wanted_keys)
        ));
    }
    if rows.len() != wanted.len() {
        problems.push(format!(
            "the state has {} rows for {} wanted products",
            rows.len(),
            wanted.len()
        ));
    }
    for w in wanted {
        let Some(row) = rows.iter().find(|r| r.address == w.address) else {
            problems.push(format!("no state row for `{}`", w.address));
            continue;
        };
        if row.status != "active" || row.region != w.region.as_str() || row.product_code != w.code.as_str() {
            problems.push(format!("state row {row:?} is not {} in {}, active", w.code, w.region));
        }
        let ledger_order = accounting.orders_of(ledger, &w.region, w.code).into_iter().next();
        if let (Some(id), Some(order)) = (&row.order_id, ledger_order) {
            if *id != order.order_id {
                problems.push(format!(
                    "`{}` records order {id}, but the ledger's order for it is {}",
                    w.address, order.order_id
                ));
            }
        }
    }
    problems
}

/// Orders of the ledger that no state row records: their responses were lost on the way.
pub fn unrecorded_orders(ledger: &Ledger, rows: &[StateRow]) -> usize {
    ledger
        .orders
        .iter()
        .filter(|o| !rows.iter().any(|r| r.order_id.as_deref() == Some(o.order_id.as_str())))
        .count()
}

/// Duplicate orders against the kind emulator: every order of a product in a region beyond its first.
pub fn duplicates(ledger: &Ledger) -> usize {
    duplicates_under(Accounting::default(), ledger)
}

/// Duplicate orders as `accounting` counts purchases: every order of a product beyond its first
/// (for an account-wide product, its first in any region).
pub fn duplicates_under(accounting: Accounting, ledger: &Ledger) -> usize {
    let mut seen = BTreeSet::new();
    let mut extra = 0;
    for order in &ledger.orders {
        for code in &order.product_codes {
            if !seen.insert(accounting.key(&order.region, *code)) {
                extra += 1;
            }
        }
    }
    extra
}

/// Orders the service refused as a repeat of an account-wide purchase made in another region:
/// the client asked for it again, and only the service's refusal kept it from being billed.
pub fn refused_as_bought_elsewhere(accounting: Accounting, ledger: &Ledger) -> usize {
    ledger
        .refusals
        .iter()
        .filter(|r| {
            r.product_codes.iter().any(|c| {
                accounting.account_wide(*c)
                    && ledger
                        .purchased
                        .iter()
                        .any(|p| p.product_code == *c && p.region != r.region)
            })
        })
        .count()
}

/// SplitMix64: a small seeded generator for the tests' own draws (which products, which
/// faults, when to kill), so that a seed replays a scenario.
pub struct Draws(u64);

impl Draws {
    pub fn new(seed: u64) -> Draws {
        Draws(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    pub fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.between(0, choices.len() as u64 - 1) as usize]
    }
}
