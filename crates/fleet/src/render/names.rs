//! A list of account names, short: `acct-0001..acct-0998, team-a`. Fleets are often named
//! with numbers, and a run of consecutive numbers is one item however long it is.

/// At most this many items (single names or runs) are listed; the rest are counted.
const MAX_ITEMS: usize = 12;

/// `names` as runs of consecutive numbers under one prefix (`acct-1..acct-3`), in order of
/// prefix and number, at most `MAX_ITEMS` (12) items and then `and N more`.
pub fn compact(names: &[&str]) -> String {
    let mut parsed: Vec<Parsed<'_>> = names
        .iter()
        .map(|name| {
            let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            let (prefix, number) = name.split_at(name.len() - digits);
            let number = number.parse::<u64>().ok().map(|n| (n, number.len()));
            (prefix, number, *name)
        })
        .collect();
    parsed.sort();
    // (text, how many names it stands for)
    let mut items: Vec<(String, usize)> = Vec::new();
    let mut run: Option<Run<'_>> = None;
    for (prefix, number, name) in parsed {
        if let (Some(r), Some((n, width))) = (&mut run, number) {
            let padded = name[prefix.len()..].starts_with('0');
            if r.prefix == prefix && n == r.last + 1 && (width == r.width || !padded) {
                (r.last, r.width, r.last_name, r.count) = (n, width, name, r.count + 1);
                continue;
            }
        }
        items.extend(run.take().map(Run::item));
        match number {
            Some((n, width)) => {
                run = Some(Run {
                    prefix,
                    width,
                    first: name,
                    last_name: name,
                    last: n,
                    count: 1,
                })
            }
            None => items.push((name.to_owned(), 1)),
        }
    }
    items.extend(run.map(Run::item));
    let shown: Vec<&str> = items.iter().take(MAX_ITEMS).map(|(t, _)| t.as_str()).collect();
    let hidden: usize = items.iter().skip(MAX_ITEMS).map(|(_, n)| n).sum();
    let mut out = shown.join(", ");
    if hidden > 0 {
        out.push_str(&format!(" and {hidden} more"));
    }
    out
}

/// `items` grouped by `key`, the groups in the order of their first item, each group's items
/// in their own order: the accounts that share a reason, an outcome or a plan's shape.
pub fn grouped_by<T, K: std::hash::Hash + Eq + Clone>(
    items: impl IntoIterator<Item = T>,
    mut key: impl FnMut(&T) -> K,
) -> Vec<(K, Vec<T>)> {
    let mut groups: Vec<(K, Vec<T>)> = Vec::new();
    let mut index: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
    for item in items {
        let k = key(&item);
        match index.get(&k) {
            Some(&i) => groups[i].1.push(item),
            None => {
                index.insert(k.clone(), groups.len());
                groups.push((k, vec![item]));
            }
        }
    }
    groups
}

/// A name as (prefix, its trailing number and the number's width, the name).
type Parsed<'a> = (&'a str, Option<(u64, usize)>, &'a str);

/// Consecutive numbers under one prefix.
struct Run<'a> {
    prefix: &'a str,
    width: usize,
    first: &'a str,
    last_name: &'a str,
    last: u64,
    count: usize,
}

impl Run<'_> {
    fn item(self) -> (String, usize) {
        let text = match self.count {
            1 => self.first.to_owned(),
            2 => format!("{}, {}", self.first, self.last_name),
            _ => format!("{}..{}", self.first, self.last_name),
        };
        (text, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn groups_keep_the_order_of_their_first_item() {
        let groups = super::grouped_by(["b1", "a1", "b2", "c1", "a2"], |s| s.as_bytes()[0]);
        assert_eq!(
            groups,
            [(b'b', vec!["b1", "b2"]), (b'a', vec!["a1", "a2"]), (b'c', vec!["c1"])]
        );
    }

    #[test]
    fn names_table() {
        let numbered = |from: usize, to: usize| (from..=to).map(|i| format!("acct-{i}")).collect::<Vec<_>>();
        let padded = |from: usize, to: usize| (from..=to).map(|i| format!("acct-{i:04}")).collect::<Vec<_>>();
        let owned: Vec<(Vec<String>, &str)> = vec![
            (vec!["team-a".into()], "team-a"),
            (vec!["team-b".into(), "team-a".into()], "team-a, team-b"),
            (numbered(1, 3), "acct-1..acct-3"),
            (numbered(1, 1000), "acct-1..acct-1000"),
            (padded(1, 998), "acct-0001..acct-0998"),
            (
                vec!["acct-1".into(), "acct-2".into(), "acct-5".into(), "acct-6".into(), "ops".into()],
                "acct-1, acct-2, acct-5, acct-6, ops",
            ),
            (vec!["acct-8".into(), "acct-9".into(), "acct-10".into()], "acct-8..acct-10"),
            // Zero-padded numbers of another width are another series.
            (vec!["acct-09".into(), "acct-010".into()], "acct-09, acct-010"),
            (vec!["a1".into(), "b2".into()], "a1, b2"),
            ((0..20).map(|i| format!("team-{}", (b'a' + i) as char)).collect(), "team-a, team-b, team-c, team-d, team-e, team-f, team-g, team-h, team-i, team-j, team-k, team-l and 8 more"),
        ];
        for (names, want) in owned {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            assert_eq!(compact(&refs), want, "{names:?}");
        }
    }
}
