//! The ledger: every order the emulator accepted, and what is purchased where.
//!
//! It is the ground truth the tests check ("exactly one order per product"), served at
//! `GET /_emulator/ledger` and optionally persisted as JSON. Persisting writes a temporary
//! file, fsyncs it, renames it over the ledger and fsyncs the directory, all before the
//! order's response is sent: an order whose connection was dropped is still there after a
//! restart.
//!
//! Every order, purchase and refusal belongs to one account: the account of the key that
//! signed it (the home account for the configured keys, a role's account for the keys its
//! `AssumeRole` issued). A file written before accounts existed has none written: everything
//! in it is the home account's, which [`Ledger::load_for`] fills in.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pai_spec::{ProductCode, Region};
use serde::{Deserialize, Serialize};

use crate::error::EmulatorError;

/// The first `OrderId`; later ones count up from the highest in the ledger.
const FIRST_ORDER_ID: u64 = 210_000_000_000_001;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub orders: Vec<Order>,
    pub purchased: Vec<Purchase>,
    /// Orders refused whole by a realism rule, billed nothing. Absent from older files and
    /// from the file while empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
}

/// One accepted `CreateProductOrders` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Order {
    pub order_id: String,
    /// The account the order was placed in; empty only in a file written before accounts
    /// existed, until [`Ledger::settle_home`] names the home account.
    #[serde(default)]
    pub account: String,
    pub region: Region,
    pub product_codes: Vec<ProductCode>,
    pub product_ids: Vec<String>,
    pub buy_product_request_id: String,
    pub request_id: String,
    pub auto_pay: bool,
    /// The access key that signed it (an id, never a secret).
    pub access_key_id: String,
    /// The request body as received.
    pub body: serde_json::Value,
    /// RFC 3339, UTC.
    pub at: String,
    /// When an `AutoPay: false` order was paid through `POST /_emulator/pay/<OrderId>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    /// The role session that placed it, for a key issued by `AssumeRole` (the cloud's audit
    /// log): which run, from which commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
}

/// Who placed an order through a key issued by `AssumeRole`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Caller {
    /// `acs:ram::<account>:role/<name>`.
    pub role_arn: String,
    #[serde(rename = "RoleSessionName")]
    pub session_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

impl Order {
    /// Recorded but waiting for payment: it buys nothing until paid.
    pub fn is_unpaid(&self) -> bool {
        !self.auto_pay && self.paid_at.is_none()
    }
}

/// A well-formed order refused whole (a repeat, a product the account may not buy): no
/// `OrderId`, nothing billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Refusal {
    pub request_id: String,
    /// As [`Order::account`].
    #[serde(default)]
    pub account: String,
    pub region: Region,
    pub product_codes: Vec<ProductCode>,
    pub access_key_id: String,
    pub status: u16,
    pub code: String,
    pub at: String,
}

/// Why an order cannot be paid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    #[error("no order {0}")]
    NoSuchOrder(String),
    #[error("order {0} is already paid")]
    AlreadyPaid(String),
}

/// A product that is active in a region. The first paid order creates it; later duplicate
/// orders are billed (they are in `orders`) but do not change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Purchase {
    /// As [`Order::account`].
    #[serde(default)]
    pub account: String,
    pub region: Region,
    pub product_code: ProductCode,
    pub product_id: String,
    pub order_id: String,
    pub at: String,
}

impl Ledger {
    /// How many accepted orders included this product in this region, in any account (the
    /// one account of a single-account emulator); [`Ledger::order_count_in`] for one account.
    pub fn order_count(&self, region: &Region, code: ProductCode) -> usize {
        self.orders
            .iter()
            .filter(|o| &o.region == region && o.product_codes.contains(&code))
            .count()
    }

    /// The purchase of this product in this region, in any account.
    pub fn purchase(&self, region: &Region, code: ProductCode) -> Option<&Purchase> {
        self.purchased
            .iter()
            .find(|p| &p.region == region && p.product_code == code)
    }

    /// Whether this product is purchased in this region, in any account.
    pub fn is_purchased(&self, region: &Region, code: ProductCode) -> bool {
        self.purchase(region, code).is_some()
    }

    /// How many accepted orders of `account` included this product in this region.
    pub fn order_count_in(&self, account: &str, region: &Region, code: ProductCode) -> usize {
        self.orders
            .iter()
            .filter(|o| o.account == account && &o.region == region && o.product_codes.contains(&code))
            .count()
    }

    /// The purchase of this product in this region of `account`.
    pub fn purchase_in(&self, account: &str, region: &Region, code: ProductCode) -> Option<&Purchase> {
        self.purchased
            .iter()
            .find(|p| p.account == account && &p.region == region && p.product_code == code)
    }

    pub fn is_purchased_in(&self, account: &str, region: &Region, code: ProductCode) -> bool {
        self.purchase_in(account, region, code).is_some()
    }

    /// The orders, purchases and refusals of one account, as its own ledger.
    pub fn of_account(&self, account: &str) -> Ledger {
        Ledger {
            orders: self.orders.iter().filter(|o| o.account == account).cloned().collect(),
            purchased: self
                .purchased
                .iter()
                .filter(|p| p.account == account)
                .cloned()
                .collect(),
            refusals: self.refusals.iter().filter(|r| r.account == account).cloned().collect(),
        }
    }

    /// Every account with an order, a purchase or a refusal, in order.
    pub fn accounts(&self) -> std::collections::BTreeSet<&str> {
        let orders = self.orders.iter().map(|o| o.account.as_str());
        let purchased = self.purchased.iter().map(|p| p.account.as_str());
        let refused = self.refusals.iter().map(|r| r.account.as_str());
        orders.chain(purchased).chain(refused).collect()
    }

    /// Name `home` as the account of every entry written before accounts existed.
    pub fn settle_home(&mut self, home: &str) {
        let fill = |account: &mut String| {
            if account.is_empty() {
                home.clone_into(account);
            }
        };
        self.orders.iter_mut().for_each(|o| fill(&mut o.account));
        self.purchased.iter_mut().for_each(|p| fill(&mut p.account));
        self.refusals.iter_mut().for_each(|r| fill(&mut r.account));
    }

    /// The `OrderId` the next order gets.
    pub(crate) fn next_order_id(&self) -> String {
        let highest = self.orders.iter().filter_map(|o| o.order_id.parse::<u64>().ok()).max();
        match highest {
            Some(n) if n >= FIRST_ORDER_ID => (n + 1).to_string(),
            _ => FIRST_ORDER_ID.to_string(),
        }
    }

    /// Append an order and, when paid, mark its products purchased.
    pub(crate) fn record(&mut self, order: Order) {
        if !order.is_unpaid() {
            self.activate(&order, &order.at);
        }
        self.orders.push(order);
    }

    fn activate(&mut self, order: &Order, at: &str) {
        for (code, id) in order.product_codes.iter().zip(&order.product_ids) {
            if !self.is_purchased_in(&order.account, &order.region, *code) {
                self.purchased.push(Purchase {
                    account: order.account.clone(),
                    region: order.region.clone(),
                    product_code: *code,
                    product_id: id.clone(),
                    order_id: order.order_id.clone(),
                    at: at.to_owned(),
                });
            }
        }
    }

    /// Pay an unpaid order: its products become purchased (those not already so), as of `at`.
    pub fn pay(&mut self, order_id: &str, at: &str) -> Result<Order, PayError> {
        let index = self
            .orders
            .iter()
            .position(|o| o.order_id == order_id)
            .ok_or_else(|| PayError::NoSuchOrder(order_id.to_owned()))?;
        if !self.orders[index].is_unpaid() {
            return Err(PayError::AlreadyPaid(order_id.to_owned()));
        }
        self.orders[index].paid_at = Some(at.to_owned());
        let order = self.orders[index].clone();
        self.activate(&order, at);
        Ok(order)
    }

    /// The orders recorded but not paid.
    pub fn unpaid(&self) -> impl Iterator<Item = &Order> {
        self.orders.iter().filter(|o| o.is_unpaid())
    }

    /// Read a persisted ledger; a missing file is an empty ledger. What a file written before
    /// accounts existed holds is the [`DEFAULT_HOME_ACCOUNT`](crate::DEFAULT_HOME_ACCOUNT)'s.
    pub fn load(path: &Path) -> Result<Ledger, EmulatorError> {
        Ledger::load_for(path, crate::DEFAULT_HOME_ACCOUNT)
    }

    /// [`Ledger::load`], for an emulator whose home account is `home`.
    pub fn load_for(path: &Path, home: &str) -> Result<Ledger, EmulatorError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(|mut ledger: Ledger| {
                    ledger.settle_home(home);
                    ledger
                })
                .map_err(|source| EmulatorError::LedgerParse {
                    path: path.to_owned(),
                    source,
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ledger::default()),
            Err(source) => Err(EmulatorError::LedgerRead {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Replace the file atomically and durably: temp file, fsync, rename, fsync the directory.
    /// The file is its owner's alone (0600 on Unix): the sandbox's ledger sits beside the state
    /// and tells as much as it does.
    pub fn save(&self, path: &Path) -> Result<(), EmulatorError> {
        let wrap = |source| EmulatorError::LedgerWrite {
            path: path.to_owned(),
            source,
        };
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| wrap(io::Error::other(e)))?;
        bytes.push(b'\n');
        let tmp = temp_path(path);
        let written = (|| {
            let mut file = private_file(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            sync_dir(path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(wrap)
    }
}

/// A new file at `path`, 0600 on Unix. One left there by a crashed process of the same id is
/// removed first: reusing it would keep its mode.
fn private_file(path: &Path) -> io::Result<fs::File> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(unix)]
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> io::Result<()> {
    // Directories cannot be opened for fsync on this platform; the rename is still atomic.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str, region: &str, codes: &[ProductCode], auto_pay: bool) -> Order {
        Order {
            order_id: id.into(),
            account: crate::DEFAULT_HOME_ACCOUNT.into(),
            region: Region::parse(region).unwrap(),
            product_codes: codes.to_vec(),
            product_ids: codes.iter().enumerate().map(|(i, _)| format!("{id}{i:02}")).collect(),
            buy_product_request_id: "b".into(),
            request_id: "r".into(),
            auto_pay,
            access_key_id: "ak".into(),
            body: serde_json::json!({"AutoPay": auto_pay}),
            at: "2026-11-26T09:00:00Z".into(),
            paid_at: None,
            caller: None,
        }
    }

    #[test]
    fn duplicates_are_counted_but_purchase_once() {
        let hz = Region::parse("cn-hangzhou").unwrap();
        let sh = Region::parse("cn-shanghai").unwrap();
        let mut l = Ledger::default();
        assert_eq!(l.next_order_id(), "210000000000001");
        l.record(order(&l.next_order_id(), "cn-hangzhou", &[ProductCode::Pai], true));
        l.record(order(
            &l.next_order_id(),
            "cn-hangzhou",
            &[ProductCode::Pai, ProductCode::Oss],
            true,
        ));
        l.record(order(
            &l.next_order_id(),
            "cn-shanghai",
            &[ProductCode::DataWorks],
            false,
        ));
        assert_eq!(l.next_order_id(), "210000000000004");
        assert_eq!(l.order_count(&hz, ProductCode::Pai), 2);
        assert_eq!(l.order_count(&hz, ProductCode::Oss), 1);
        assert_eq!(l.order_count(&sh, ProductCode::Pai), 0);
        assert_eq!(l.purchase(&hz, ProductCode::Pai).unwrap().order_id, "210000000000001");
        assert!(l.is_purchased(&hz, ProductCode::Oss));
        assert!(
            !l.is_purchased(&sh, ProductCode::DataWorks),
            "an unpaid order activates nothing"
        );
        assert_eq!(l.purchased.len(), 2);

        assert_eq!(l.unpaid().count(), 1);
        let paid = l.pay("210000000000003", "2026-11-26T10:00:00Z").unwrap();
        assert_eq!(paid.paid_at.as_deref(), Some("2026-11-26T10:00:00Z"));
        assert!(l.is_purchased(&sh, ProductCode::DataWorks), "paid, it is bought");
        assert_eq!(
            l.purchase(&sh, ProductCode::DataWorks).unwrap().at,
            "2026-11-26T10:00:00Z"
        );
        assert_eq!(l.unpaid().count(), 0);
        assert_eq!(
            l.pay("210000000000003", "x"),
            Err(PayError::AlreadyPaid("210000000000003".into()))
        );
        assert_eq!(
            l.pay("210000000000001", "x"),
            Err(PayError::AlreadyPaid("210000000000001".into()))
        );
        assert_eq!(l.pay("9", "x"), Err(PayError::NoSuchOrder("9".into())));
    }

    #[test]
    fn reads_a_ledger_written_before_refusals_and_payments() {
        let old = r#"{"orders":[{"OrderId":"210000000000001","Region":"cn-hangzhou","ProductCodes":["PAI_share"],
            "ProductIds":["21000000000000101"],"BuyProductRequestId":"b","RequestId":"r","AutoPay":false,
            "AccessKeyId":"ak","Body":{},"At":"2026-11-26T09:00:00Z"}],"purchased":[]}"#;
        let l: Ledger = serde_json::from_str(old).unwrap();
        assert!(l.refusals.is_empty() && l.orders[0].is_unpaid());
        let json = serde_json::to_value(&l).unwrap();
        assert!(json.get("refusals").is_none() && json["orders"][0].get("PaidAt").is_none());
    }

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        assert_eq!(Ledger::load(&path).unwrap(), Ledger::default());
        let mut l = Ledger::default();
        l.record(order("210000000000001", "cn-hangzhou", &[ProductCode::Pai], true));
        l.save(&path).unwrap();
        assert_eq!(Ledger::load(&path).unwrap(), l);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("ledger.json")],
            "no temp file left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            // A temporary file a crashed run left, readable by all, is not reused as it is.
            fs::write(temp_path(&path), b"{}").unwrap();
            fs::set_permissions(temp_path(&path), fs::Permissions::from_mode(0o644)).unwrap();
            l.save(&path).unwrap();
            assert_eq!(mode(&path), 0o600);
        }

        let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["orders"][0]["OrderId"], "210000000000001");
        assert_eq!(json["orders"][0]["ProductCodes"][0], "PAI_share");
        assert_eq!(json["purchased"][0]["Region"], "cn-hangzhou");

        fs::write(&path, b"{not json").unwrap();
        assert!(matches!(Ledger::load(&path), Err(EmulatorError::LedgerParse { .. })));
        let missing_dir = dir.path().join("nope").join("ledger.json");
        assert!(matches!(l.save(&missing_dir), Err(EmulatorError::LedgerWrite { .. })));
    }
}
