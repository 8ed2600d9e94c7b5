//! "Did you mean ...?" for near misses: typos, wrong case, a missing `_share` suffix.

/// The candidate closest to `input`, when it is close enough to be what was meant.
pub(crate) fn did_you_mean<'c>(input: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let folded = input.to_ascii_lowercase().replace('-', "_");
    if folded.is_empty() {
        return None;
    }
    let mut best: Option<(f64, &'c str)> = None;
    for &candidate in candidates {
        let c = candidate.to_ascii_lowercase().replace('-', "_");
        let score = if c == folded {
            2.0
        } else if folded.len() >= 3 && (c.starts_with(&folded) || folded.starts_with(&c)) {
            1.5
        } else {
            // Compare what differs: a shared suffix such as `_share` would make `ECS_share`
            // look close to `OSS_share`.
            let (a, b) = strip_common_suffix(&folded, &c);
            let distance = strsim::damerau_levenshtein(a, b);
            let allowed = (a.chars().count().max(b.chars().count()) / 3).max(1);
            if distance > allowed {
                continue;
            }
            1.0 - distance as f64 / 100.0
        };
        let better = match best {
            Some((s, _)) => score > s,
            None => true,
        };
        if better {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn strip_common_suffix<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    let common: usize = a
        .chars()
        .rev()
        .zip(b.chars().rev())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum();
    (&a[..a.len() - common], &b[..b.len() - common])
}

/// The key that an unknown key most likely meant. Knows the API's wire names
/// (`ProductCode`, `InstanceProperties`) and their snake_case spellings.
pub(crate) fn suggest_key<'c>(input: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let snake = to_snake(input);
    let alias = crate::keys::alias_of(&snake).unwrap_or(&snake);
    if let Some(exact) = candidates.iter().find(|c| **c == alias) {
        return Some(exact);
    }
    did_you_mean(input, candidates).or_else(|| did_you_mean(&snake, candidates))
}

/// `ProductCode` -> `product_code`; `auto-renew` -> `auto_renew`.
fn to_snake(input: &str) -> String {
    let mut out = String::new();
    for (i, c) in input.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '-' || c == ' ' {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

/// A hint naming the near miss (if any) and then every valid value.
pub(crate) fn hint(input: &str, candidates: &[&str], what: &str) -> String {
    let list = candidates
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match did_you_mean(input, candidates) {
        Some(near) => format!("did you mean `{near}`? {what}: {list}"),
        None => format!("{what}: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODES: &[&str] = &["DataWorks_share", "MaxCompute_share", "PAI_share", "OSS_share"];

    #[test]
    fn near_misses() {
        let cases = [
            ("Dataworks_share", Some("DataWorks_share")),
            ("DataWorks", Some("DataWorks_share")),
            ("dataworks-share", Some("DataWorks_share")),
            ("DataWork_share", Some("DataWorks_share")),
            ("pai", Some("PAI_share")),
            ("OSS_shared", Some("OSS_share")),
            ("ECS_share", None),
            ("", None),
            ("x", None),
        ];
        for (input, want) in cases {
            assert_eq!(did_you_mean(input, CODES), want, "{input}");
        }
        assert_eq!(
            did_you_mean("propertys", &["code", "region", "properties"]),
            Some("properties")
        );
        assert_eq!(
            did_you_mean("regoin", &["code", "region", "properties"]),
            Some("region")
        );
        assert_eq!(did_you_mean("zzzzzz", &["code", "region"]), None);
    }

    #[test]
    fn keys() {
        let keys = [
            "code",
            "region",
            "charge_type",
            "pricing_cycle",
            "properties",
            "auto_renew",
        ];
        let cases = [
            ("ProductCode", Some("code")),
            ("ChargeType", Some("charge_type")),
            ("InstanceProperties", Some("properties")),
            ("auto-renew", Some("auto_renew")),
            ("AutoRenew", Some("auto_renew")),
            ("pricingcycle", Some("pricing_cycle")),
            ("colour", None),
        ];
        for (input, want) in cases {
            assert_eq!(suggest_key(input, &keys), want, "{input}");
        }
    }

    #[test]
    fn hints_list_every_value() {
        assert_eq!(
            hint("v4", &["v3", "v2"], "valid values"),
            "did you mean `v3`? valid values: `v3`, `v2`"
        );
        assert_eq!(hint("sha", &["v3", "v2"], "valid values"), "valid values: `v3`, `v2`");
    }
}
