//! What a `CreateProductOrders` success shows of each product it ordered.
//!
//! The answer's `ProductIds` is the only per-product evidence in it. The API reference gives it
//! no description and older SDKs lack it, so it is trusted only where it can be matched one to
//! one with the products ordered; anything less is settled by `ListProducts`, as after doubt
//! (`docs/idempotency.md`, step 7).

/// Each product's own id from an answer's `ProductIds`, in the order the products were sent;
/// `None` when the answer cannot say which product each id is: fewer or more ids than products
/// (some may not have been bought), or an empty or repeated id.
pub(super) fn own_product_ids(ordered: usize, product_ids: &[String]) -> Option<Vec<String>> {
    if ordered == 0 || product_ids.len() != ordered {
        return None;
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in product_ids {
        if id.trim().is_empty() || !seen.insert(id.as_str()) {
            return None;
        }
    }
    Some(product_ids.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_trusted_only_one_to_one() {
        let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let table: [(usize, Vec<String>, Option<Vec<String>>); 8] = [
            (2, ids(&["p1", "p2"]), Some(ids(&["p1", "p2"]))),
            (1, ids(&["p1"]), Some(ids(&["p1"]))),
            // Fewer: which one was bought is not said.
            (2, ids(&["p1"]), None),
            // None at all: an older API version, or nothing bought.
            (2, ids(&[]), None),
            (2, ids(&["p1", "p2", "p3"]), None),
            (2, ids(&["p1", ""]), None),
            (2, ids(&["p1", "p1"]), None),
            (0, ids(&[]), None),
        ];
        for (ordered, answer, want) in table {
            assert_eq!(own_product_ids(ordered, &answer), want, "{ordered} {answer:?}");
        }
    }
}
