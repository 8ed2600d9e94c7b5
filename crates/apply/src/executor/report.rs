//! What an apply did, per product: the summary a person reads and the JSON a pipeline parses.

use pai_spec::{Address, Region};
use serde::Serialize;

/// How one product of an order ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProductOutcome {
    /// Ordered now, with the order's ids. `answer_lost`: this run sent the order, its answer
    /// was lost (no ids), and `ListProducts` then reported the product purchased: bought by this
    /// run all the same.
    Ordered {
        order_id: Option<String>,
        request_id: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        answer_lost: bool,
    },
    /// Ordered now with `AutoPay: false`: the order waits for payment in the console and buys
    /// nothing until then. The state records it `unpaid`, and no other order is placed for it.
    AwaitingPayment {
        order_id: Option<String>,
        request_id: Option<String>,
    },
    /// Not ordered: the cloud reports it purchased, so it was recorded.
    Recorded { why: String },
    /// Not ordered: `ListProducts` reported `HasPermissionToPurchase: false`, so no order was
    /// sent. `action` is the RAM action to grant.
    NotPermitted { action: String },
    /// Not purchased: the server refused the order (nothing was bought).
    Failed { error: String },
    /// Unknown: the order may have been placed and the cloud could not confirm it. The state
    /// keeps it `pending`; the next run resolves it before ordering anything.
    Unknown { error: String },
    /// Not ordered, and nothing was sent for it: the check before ordering failed (refused
    /// credentials, say), or the run was interrupted first. Nothing is left pending; the next
    /// run orders it.
    NotSent { error: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionReport {
    pub region: Region,
    /// In JSON, `[{"address": .., "outcome": .., ..}]`: objects a pipeline can filter by key.
    #[serde(serialize_with = "outcomes_as_objects")]
    pub products: Vec<(Address, ProductOutcome)>,
    /// CreateProductOrders requests that went out in this region, every retry and every order
    /// sent again after doubt included: an outcome line says what was bought, this says how
    /// often the service was asked to buy it, and the two differ exactly when something was in
    /// doubt.
    pub order_requests: u32,
}

fn outcomes_as_objects<S: serde::Serializer>(
    products: &[(Address, ProductOutcome)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Entry<'a> {
        address: &'a Address,
        #[serde(flatten)]
        outcome: &'a ProductOutcome,
    }
    serializer.collect_seq(products.iter().map(|(address, outcome)| Entry { address, outcome }))
}

fn moves_as_objects<S: serde::Serializer>(moved: &[(Address, Address)], serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Move<'a> {
        from: &'a Address,
        to: &'a Address,
    }
    serializer.collect_seq(moved.iter().map(|(from, to)| Move { from, to }))
}

impl RegionReport {
    pub fn new(region: Region) -> Self {
        RegionReport {
            region,
            products: Vec::new(),
            order_requests: 0,
        }
    }

    /// Sets the outcome of `address`, replacing an earlier one (a retried order).
    pub fn set(&mut self, address: &Address, outcome: ProductOutcome) {
        match self.products.iter_mut().find(|(a, _)| a == address) {
            Some((_, o)) => *o = outcome,
            None => self.products.push((address.clone(), outcome)),
        }
    }

    /// The outcome recorded for `address` so far.
    pub fn outcome(&self, address: &Address) -> Option<&ProductOutcome> {
        self.products.iter().find(|(a, _)| a == address).map(|(_, o)| o)
    }

    pub fn is_success(&self) -> bool {
        self.products.iter().all(|(_, o)| {
            matches!(
                o,
                ProductOutcome::Ordered { .. }
                    | ProductOutcome::AwaitingPayment { .. }
                    | ProductOutcome::Recorded { .. }
            )
        })
    }

    pub fn order_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .products
            .iter()
            .filter_map(|(_, o)| match o {
                ProductOutcome::Ordered { order_id: Some(id), .. }
                | ProductOutcome::AwaitingPayment { order_id: Some(id), .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        ids.dedup();
        ids
    }

    /// One line for the progress display.
    pub fn headline(&self) -> String {
        let ids = self.order_ids();
        let failed = self
            .products
            .iter()
            .filter(|(_, o)| matches!(o, ProductOutcome::Failed { .. }))
            .count();
        let unknown = self
            .products
            .iter()
            .filter(|(_, o)| matches!(o, ProductOutcome::Unknown { .. }))
            .count();
        let mut parts = Vec::new();
        if !ids.is_empty() {
            parts.push(format!("ordered (OrderId {})", ids.join(", ")));
        }
        let recorded = self
            .products
            .iter()
            .filter(|(_, o)| matches!(o, ProductOutcome::Recorded { .. }))
            .count();
        if recorded > 0 {
            parts.push(format!("{recorded} recorded as already purchased"));
        }
        if failed > 0 {
            parts.push(format!("{failed} failed"));
        }
        if unknown > 0 {
            parts.push(format!(
                "{unknown} with an unknown outcome, left pending for the next run to resolve"
            ));
        }
        let not_sent = self
            .products
            .iter()
            .filter(|(_, o)| matches!(o, ProductOutcome::NotSent { .. }))
            .count();
        if not_sent > 0 {
            parts.push(format!("{not_sent} not ordered, nothing sent"));
        }
        let awaiting = self
            .products
            .iter()
            .filter(|(_, o)| matches!(o, ProductOutcome::AwaitingPayment { .. }))
            .count();
        if awaiting > 0 {
            parts.push(format!("{awaiting} awaiting payment"));
        }
        let refused = self
            .products
            .iter()
            .filter(|(_, o)| matches!(o, ProductOutcome::NotPermitted { .. }))
            .count();
        if refused > 0 {
            parts.push(format!("{refused} not ordered: no permission to purchase"));
        }
        parts.join("; ")
    }
}

/// Everything one apply did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ApplyReport {
    /// In JSON, `[{"from": .., "to": ..}]`.
    #[serde(serialize_with = "moves_as_objects")]
    pub moved: Vec<(Address, Address)>,
    pub forgotten: Vec<Address>,
    pub adopted: Vec<Address>,
    pub regions: Vec<RegionReport>,
}

impl ApplyReport {
    /// True when everything planned is done: the exit status of `apply`.
    pub fn is_success(&self) -> bool {
        self.regions.iter().all(RegionReport::is_success)
    }

    /// Not a success, and only because of orders whose outcome is unknown (rows left `pending`
    /// for the next run): nothing was refused, so "failed" would say what the state does not.
    pub fn is_unresolved(&self) -> bool {
        !self.is_success()
            && self.regions.iter().flat_map(|r| &r.products).all(|(_, o)| {
                !matches!(
                    o,
                    ProductOutcome::Failed { .. }
                        | ProductOutcome::NotSent { .. }
                        | ProductOutcome::NotPermitted { .. }
                )
            })
    }

    /// Products recorded because the cloud reports them purchased, not ordered by this run:
    /// adopted by the plan, or found purchased when an order was refused as already open.
    pub fn found_purchased(&self) -> usize {
        self.adopted.len() + self.count(|o| matches!(o, ProductOutcome::Recorded { .. }))
    }

    /// Products an order was placed for now, paid or awaiting payment.
    pub fn ordered(&self) -> usize {
        self.count(|o| {
            matches!(
                o,
                ProductOutcome::Ordered { .. } | ProductOutcome::AwaitingPayment { .. }
            )
        })
    }

    /// CreateProductOrders requests sent in all regions ([`RegionReport::order_requests`]).
    pub fn order_requests(&self) -> u32 {
        self.regions.iter().map(|r| r.order_requests).sum()
    }

    pub fn count(&self, pred: impl Fn(&ProductOutcome) -> bool) -> usize {
        self.regions
            .iter()
            .flat_map(|r| &r.products)
            .filter(|(_, o)| pred(o))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    #[test]
    fn json_has_one_object_per_product_and_move() {
        let mut region = RegionReport::new(Region::parse("cn-hangzhou").unwrap());
        region.set(
            &address("pai"),
            ProductOutcome::Ordered {
                order_id: Some("210000000000001".into()),
                request_id: Some("R".into()),
                answer_lost: false,
            },
        );
        region.set(&address("oss"), ProductOutcome::Unknown { error: "lost".into() });
        region.order_requests = 2;
        let report = ApplyReport {
            moved: vec![(address("old"), address("new"))],
            forgotten: vec![],
            adopted: vec![],
            regions: vec![region],
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "moved": [{"from": "old", "to": "new"}],
                "forgotten": [],
                "adopted": [],
                "regions": [{
                    "region": "cn-hangzhou",
                    "products": [
                        {"address": "pai", "outcome": "ordered", "order_id": "210000000000001", "request_id": "R"},
                        {"address": "oss", "outcome": "unknown", "error": "lost"},
                    ],
                    "order_requests": 2,
                }],
            })
        );
    }
}
