//! How hard the emulator is: the real service's less kind behaviours, each an option that is
//! off by default (the sandbox and every existing test keep the kind emulator), all turned on
//! by [`Realism::realistic`].
//!
//! A [`Realism`] is parsed from `activation_delay_ms=5000,repeat=order_opend,...`, like a
//! [`Faults`](crate::faults::Faults) spec. The rules themselves are pure functions over the
//! ledger, used by the server: which orders to refuse ([`refusal`]), what ListProducts may
//! see yet ([`visible_ledger`]), and when a request is over the rate ([`RateWindow`]).
//! docs/emulator.md says, per behaviour, what is known of the real service and what is assumed.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use pai_spec::{ProductCode, Region};

use crate::error::ApiError;
use crate::ledger::{Ledger, Purchase};

/// What a repeat order (a product already purchased) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepeatOrder {
    /// Accepted and billed again, as a careless account would be (the kind default).
    #[default]
    Bill,
    /// `400 ORDER.OPEND`, the code terraform-provider-alicloud treats as "already opened".
    OrderOpend,
    /// `500` with a message containing `您已开通过`, which the provider declines to retry.
    AlreadyOpened500,
}

impl RepeatOrder {
    fn as_str(self) -> &'static str {
        match self {
            RepeatOrder::Bill => "bill",
            RepeatOrder::OrderOpend => "order_opend",
            RepeatOrder::AlreadyOpened500 => "already_opened_500",
        }
    }
}

/// The real service's behaviours the kind emulator spares its clients. Every option is off
/// (zero, empty, false, [`RepeatOrder::Bill`]) by default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Realism {
    /// A purchase shows in ListProducts only this long after it was made (or paid).
    pub activation_delay_ms: u64,
    /// An accepted order is held this long before it is carried out; carried out even if the
    /// client hung up meanwhile.
    pub processing_ms: u64,
    pub repeat: RepeatOrder,
    /// Requests per second per account (all listeners together) before `400 Throttling.User`
    /// with `x-acs-retry-after`; 0 is no limit.
    pub rate_per_s: u32,
    /// Error bodies carry `Recommend`, the gateway's diagnosis URL, beside
    /// `RequestId`, `HostId`, `Code` and `Message`.
    pub recommend: bool,
    /// The `throttle` fault answers 400 (as the SDK's own mock does) instead of 429.
    pub throttle_400: bool,
    /// Access key ids without `pai:CreateOrder`: 403 `NoPermission` on CreateProductOrders,
    /// `HasPermissionToPurchase: false` in ListProducts.
    pub deny_create_order: Vec<String>,
    /// Product codes the account may not buy: an order with one is refused whole.
    pub unbuyable: Vec<ProductCode>,
    /// Business refusals (`unbuyable`) come back as 500 rather than 400.
    pub business_5xx: bool,
    /// `SignatureDoesNotMatch` echoes the server's string to sign (v2) or canonical request
    /// (v3), security token included, as the real gateway does.
    pub echo_string_to_sign: bool,
    /// OSS_share is one purchase per account: bought in one region, purchased in all.
    pub oss_account_wide: bool,
}

/// A realism spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid realism spec `{spec}`: {reason}")]
pub struct RealismError {
    pub spec: String,
    pub reason: String,
}

const KEYS: &[&str] = &[
    "activation_delay_ms",
    "processing_ms",
    "repeat",
    "rate_per_s",
    "recommend",
    "throttle_400",
    "deny_create_order",
    "unbuyable",
    "business_5xx",
    "echo_string_to_sign",
    "oss_account_wide",
];

impl Realism {
    /// Everything on, with values a test can live with. The delays are guesses: no public
    /// source gives the real ones (docs/emulator.md).
    pub fn realistic() -> Realism {
        Realism {
            activation_delay_ms: 5_000,
            processing_ms: 2_000,
            repeat: RepeatOrder::OrderOpend,
            rate_per_s: 10,
            recommend: true,
            throttle_400: true,
            deny_create_order: Vec::new(),
            unbuyable: Vec::new(),
            business_5xx: true,
            echo_string_to_sign: true,
            oss_account_wide: true,
        }
    }

    /// True when nothing differs from the kind emulator.
    pub fn is_kind(&self) -> bool {
        self == &Realism::default()
    }

    /// Apply a spec's `key=value` items on top of `self` (so `--realistic` can be adjusted).
    pub fn with_spec(mut self, spec: &str) -> Result<Realism, RealismError> {
        let err = |reason: String| RealismError {
            spec: spec.to_owned(),
            reason,
        };
        let trimmed = spec.trim();
        if trimmed.is_empty() || trimmed == "none" {
            return Ok(self);
        }
        for item in trimmed.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| err(format!("`{item}` is not `key=value`")))?;
            let (key, value) = (key.trim(), value.trim());
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| err(format!("{key} must be a whole number, not `{value}`")))
            };
            let flag = || match value {
                "true" | "1" | "on" => Ok(true),
                "false" | "0" | "off" => Ok(false),
                _ => Err(err(format!("{key} must be true or false, not `{value}`"))),
            };
            // Lists are `;`-separated: `,` already separates the items.
            let list = || value.split(';').map(str::trim).filter(|s| !s.is_empty());
            match key {
                "activation_delay_ms" => self.activation_delay_ms = number()?,
                "processing_ms" => self.processing_ms = number()?,
                "rate_per_s" => {
                    self.rate_per_s =
                        u32::try_from(number()?).map_err(|_| err(format!("rate_per_s `{value}` is too large")))?
                }
                "repeat" => {
                    self.repeat = match value {
                        "bill" => RepeatOrder::Bill,
                        "order_opend" => RepeatOrder::OrderOpend,
                        "already_opened_500" => RepeatOrder::AlreadyOpened500,
                        _ => {
                            return Err(err(format!(
                                "repeat must be bill, order_opend or already_opened_500, not `{value}`"
                            )))
                        }
                    }
                }
                "throttle_400" => self.throttle_400 = flag()?,
                "recommend" => self.recommend = flag()?,
                "business_5xx" => self.business_5xx = flag()?,
                "echo_string_to_sign" => self.echo_string_to_sign = flag()?,
                "oss_account_wide" => self.oss_account_wide = flag()?,
                "deny_create_order" => self.deny_create_order = list().map(str::to_owned).collect(),
                "unbuyable" => {
                    self.unbuyable = list()
                        .map(|c| ProductCode::parse(c).ok_or_else(|| err(format!("`{c}` is not a product code"))))
                        .collect::<Result<_, _>>()?
                }
                other => return Err(err(format!("unknown option `{other}`; known: {}", KEYS.join(", ")))),
            }
        }
        Ok(self)
    }

    pub fn may_create_orders(&self, access_key_id: &str) -> bool {
        !self.deny_create_order.iter().any(|k| k == access_key_id)
    }
}

impl FromStr for Realism {
    type Err = RealismError;

    fn from_str(spec: &str) -> Result<Self, RealismError> {
        Realism::default().with_spec(spec)
    }
}

impl fmt::Display for Realism {
    /// The canonical spec, listing only what differs from the kind default; `none` when nothing does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (key, n) in [
            ("activation_delay_ms", self.activation_delay_ms),
            ("processing_ms", self.processing_ms),
            ("rate_per_s", u64::from(self.rate_per_s)),
        ] {
            if n > 0 {
                parts.push(format!("{key}={n}"));
            }
        }
        if self.repeat != RepeatOrder::Bill {
            parts.push(format!("repeat={}", self.repeat.as_str()));
        }
        for (key, on) in [
            ("recommend", self.recommend),
            ("throttle_400", self.throttle_400),
            ("business_5xx", self.business_5xx),
            ("echo_string_to_sign", self.echo_string_to_sign),
            ("oss_account_wide", self.oss_account_wide),
        ] {
            if on {
                parts.push(format!("{key}=true"));
            }
        }
        if !self.deny_create_order.is_empty() {
            parts.push(format!("deny_create_order={}", self.deny_create_order.join(";")));
        }
        if !self.unbuyable.is_empty() {
            let codes: Vec<&str> = self.unbuyable.iter().map(|c| c.as_str()).collect();
            parts.push(format!("unbuyable={}", codes.join(";")));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// Whether `code` counts as purchased for an order of `account` in `region`: OSS in any
/// region of that account when it is account-wide.
pub fn already_purchased(
    ledger: &Ledger,
    realism: &Realism,
    account: &str,
    region: &Region,
    code: ProductCode,
) -> bool {
    if realism.oss_account_wide && code == ProductCode::Oss {
        ledger
            .purchased
            .iter()
            .any(|p| p.account == account && p.product_code == code)
    } else {
        ledger.is_purchased_in(account, region, code)
    }
}

/// Why an accepted, well-formed order of `account` is refused whole when it is carried out,
/// if it is. Decided against the ledger as it is then, so nothing of the order is billed.
pub fn refusal(
    ledger: &Ledger,
    realism: &Realism,
    account: &str,
    region: &Region,
    codes: &[ProductCode],
) -> Option<ApiError> {
    if let Some(code) = codes.iter().find(|c| realism.unbuyable.contains(c)) {
        let status = if realism.business_5xx {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        // Not `SYSTEM.SALE_VALIDATE_NO_SPECIFIC_CODE_FAILED`: with OSS in the order that code
        // means "OSS already open" (docs/idempotency.md, "Already open"). The real code of a
        // business refusal is not documented; this one is the emulator's own.
        return Some(ApiError::business(
            status,
            "PRODUCT.NOT_PURCHASABLE",
            format!("The account may not buy {code}; nothing was ordered."),
        ));
    }
    let repeat = codes
        .iter()
        .find(|&&c| already_purchased(ledger, realism, account, region, c))?;
    match realism.repeat {
        RepeatOrder::Bill => None,
        RepeatOrder::OrderOpend => Some(ApiError::business(
            StatusCode::BAD_REQUEST,
            "ORDER.OPEND",
            format!("{repeat} is already opened; nothing was ordered."),
        )),
        RepeatOrder::AlreadyOpened500 => Some(ApiError::business(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("您已开通过 {repeat}, 无需重复开通"),
        )),
    }
}

/// The purchases of `account` as ListProducts in `region` sees them at `now`: purchases
/// younger than the activation delay are hidden, and OSS, when account-wide, is purchased here
/// if anywhere in the account. `activated` holds when each order (by id) became active in this
/// process; an order not in it (read from a ledger file at start) is long active.
pub fn visible_ledger(
    ledger: &Ledger,
    activated: &HashMap<String, Instant>,
    realism: &Realism,
    account: &str,
    region: &Region,
    now: Instant,
) -> Ledger {
    let delay = Duration::from_millis(realism.activation_delay_ms);
    let active = |p: &Purchase| {
        activated
            .get(&p.order_id)
            .is_none_or(|at| now.saturating_duration_since(*at) >= delay)
    };
    let mut purchased: Vec<Purchase> = ledger
        .purchased
        .iter()
        .filter(|p| p.account == account && active(p))
        .cloned()
        .collect();
    if realism.oss_account_wide
        && !purchased
            .iter()
            .any(|p| &p.region == region && p.product_code == ProductCode::Oss)
    {
        if let Some(oss) = purchased.iter().find(|p| p.product_code == ProductCode::Oss).cloned() {
            purchased.push(Purchase {
                region: region.clone(),
                ..oss
            });
        }
    }
    Ledger {
        orders: Vec::new(),
        purchased,
        refusals: Vec::new(),
    }
}

/// A fixed one-second window of admitted requests, of one account (every listener together).
#[derive(Debug, Clone, Copy)]
pub struct RateWindow {
    start: Instant,
    count: u32,
}

impl RateWindow {
    pub fn new(now: Instant) -> Self {
        RateWindow { start: now, count: 0 }
    }

    /// Admit one request at `now` under `limit` per second, or say how many milliseconds
    /// (at least 1) remain until the window admits again. A limit of 0 admits everything.
    pub fn admit(&mut self, now: Instant, limit: u32) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        let window = Duration::from_secs(1);
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed >= window {
            *self = RateWindow::new(now);
        }
        if self.count < limit {
            self.count += 1;
            Ok(())
        } else {
            let left = window.saturating_sub(now.saturating_duration_since(self.start));
            Err(u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Order;

    fn region(s: &str) -> Region {
        Region::parse(s).unwrap()
    }

    fn paid(ledger: &mut Ledger, id: &str, r: &str, codes: &[ProductCode]) {
        ledger.record(Order {
            account: crate::DEFAULT_HOME_ACCOUNT.into(),
            order_id: id.into(),
            region: region(r),
            product_codes: codes.to_vec(),
            product_ids: codes.iter().enumerate().map(|(i, _)| format!("{id}{i:02}")).collect(),
            buy_product_request_id: "b".into(),
            request_id: "r".into(),
            auto_pay: true,
            access_key_id: "ak".into(),
            body: serde_json::Value::Null,
            at: "2026-11-30T09:00:00Z".into(),
            paid_at: None,
            caller: None,
        });
    }

    #[test]
    fn specs_parse_print_and_round_trip() {
        assert!(Realism::default().is_kind());
        assert_eq!(Realism::default().to_string(), "none");
        assert_eq!("none".parse::<Realism>().unwrap(), Realism::default());
        let r: Realism = "activation_delay_ms=10,repeat=already_opened_500,deny_create_order=a;b,unbuyable=PAI_share,oss_account_wide=on"
            .parse()
            .unwrap();
        assert_eq!(r.activation_delay_ms, 10);
        assert_eq!(r.repeat, RepeatOrder::AlreadyOpened500);
        assert_eq!(r.deny_create_order, ["a", "b"]);
        assert_eq!(r.unbuyable, [ProductCode::Pai]);
        assert!(r.oss_account_wide && !r.business_5xx);
        assert_eq!(r.to_string().parse::<Realism>().unwrap(), r);
        let preset = Realism::realistic();
        assert_eq!(preset.to_string().parse::<Realism>().unwrap(), preset);
        let tuned = Realism::realistic()
            .with_spec("activation_delay_ms=0,repeat=bill")
            .unwrap();
        assert_eq!(
            (tuned.activation_delay_ms, tuned.repeat, tuned.processing_ms),
            (0, RepeatOrder::Bill, 2_000)
        );
        for bad in [
            "repeat=twice",
            "rate_per_s=-1",
            "oss_account_wide=maybe",
            "unbuyable=Nope",
            "colour=red",
            "x",
        ] {
            assert!(bad.parse::<Realism>().is_err(), "{bad}");
        }
    }

    /// A spec, the order's region and codes, and the refusal's status and code if any.
    type Case<'a> = (&'a str, &'a Region, &'a [ProductCode], Option<(u16, &'a str)>);

    #[test]
    fn refusals_by_option() {
        let hz = region("cn-hangzhou");
        let sh = region("cn-shanghai");
        let mut l = Ledger::default();
        paid(&mut l, "1", "cn-hangzhou", &[ProductCode::Pai, ProductCode::Oss]);
        let with = |spec: &str| spec.parse::<Realism>().unwrap();
        let code = |r: &Realism, region: &Region, codes: &[ProductCode]| {
            refusal(&l, r, crate::DEFAULT_HOME_ACCOUNT, region, codes).map(|e| (e.status.as_u16(), e.code, e.message))
        };
        let cases: &[Case] = &[
            ("none", &hz, &[ProductCode::Pai], None),
            (
                "repeat=order_opend",
                &hz,
                &[ProductCode::DataWorks, ProductCode::Pai],
                Some((400, "ORDER.OPEND")),
            ),
            ("repeat=order_opend", &sh, &[ProductCode::Pai], None),
            ("repeat=order_opend", &sh, &[ProductCode::Oss], None),
            (
                "repeat=order_opend,oss_account_wide=true",
                &sh,
                &[ProductCode::Oss],
                Some((400, "ORDER.OPEND")),
            ),
            (
                "repeat=already_opened_500",
                &hz,
                &[ProductCode::Pai],
                Some((500, "InternalError")),
            ),
            (
                "unbuyable=DataWorks_share",
                &sh,
                &[ProductCode::DataWorks],
                Some((400, "PRODUCT.NOT_PURCHASABLE")),
            ),
            (
                "unbuyable=DataWorks_share,business_5xx=true",
                &sh,
                &[ProductCode::DataWorks],
                Some((500, "PRODUCT.NOT_PURCHASABLE")),
            ),
        ];
        for (spec, region, codes, want) in cases {
            let got = code(&with(spec), region, codes);
            assert_eq!(
                got.as_ref().map(|(s, c, _)| (*s, c.as_str())),
                *want,
                "{spec} {region} {codes:?}"
            );
        }
        let (_, _, message) = code(&with("repeat=already_opened_500"), &hz, &[ProductCode::Pai]).unwrap();
        assert!(message.contains("您已开通过"), "{message}");
    }

    #[test]
    fn visibility_waits_for_activation_and_spreads_oss() {
        let hz = region("cn-hangzhou");
        let sh = region("cn-shanghai");
        let mut l = Ledger::default();
        paid(&mut l, "old", "cn-hangzhou", &[ProductCode::Pai]);
        paid(&mut l, "new", "cn-hangzhou", &[ProductCode::Oss]);
        let t0 = Instant::now();
        let activated = HashMap::from([("new".to_string(), t0)]);
        let r: Realism = "activation_delay_ms=1000".parse().unwrap();
        let seen = |realism: &Realism, region: &Region, at: Instant| {
            let v = visible_ledger(&l, &activated, realism, crate::DEFAULT_HOME_ACCOUNT, region, at);
            (
                v.is_purchased(region, ProductCode::Pai),
                v.is_purchased(region, ProductCode::Oss),
            )
        };
        assert_eq!(
            seen(&r, &hz, t0),
            (true, false),
            "an order from before the start is active"
        );
        assert_eq!(seen(&r, &hz, t0 + Duration::from_millis(999)), (true, false));
        assert_eq!(seen(&r, &hz, t0 + Duration::from_millis(1000)), (true, true));
        assert_eq!(seen(&r, &sh, t0 + Duration::from_secs(5)), (false, false));
        let wide: Realism = "oss_account_wide=true".parse().unwrap();
        assert_eq!(seen(&wide, &sh, t0), (false, true));
        assert_eq!(seen(&Realism::default(), &hz, t0), (true, true), "kind: at once");
    }

    #[test]
    fn rate_window_admits_up_to_the_limit_per_second() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(t0);
        assert_eq!(w.admit(t0, 2), Ok(()));
        assert_eq!(w.admit(t0, 2), Ok(()));
        assert_eq!(w.admit(t0 + Duration::from_millis(400), 2), Err(600));
        assert_eq!(w.admit(t0 + Duration::from_millis(1000), 2), Ok(()));
        let mut unlimited = RateWindow::new(t0);
        assert!((0..100).all(|_| unlimited.admit(t0, 0).is_ok()));
    }
}
