//! `--shard I/N`: the deterministic split of a fleet over N runners (a CI matrix), so that each
//! account is planned and applied by exactly one of them. The split depends only on the account
//! ids, never on names, on the order of the fleet file or on the runner: renaming an account or
//! reordering the file moves no account to another shard, and every runner computes the same split.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (1-based: `1/3`, `2/3`, `3/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawShard")]
pub struct Shard {
    index: u32,
    count: u32,
}

/// The JSON form, checked on the way in: a fleet plan names a shard that exists.
#[derive(Deserialize)]
struct RawShard {
    index: u32,
    count: u32,
}

impl TryFrom<RawShard> for Shard {
    type Error = ShardError;
    fn try_from(raw: RawShard) -> Result<Shard, ShardError> {
        Shard::new(raw.index, raw.count)
    }
}

/// Why a `--shard` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("`{0}` is not a shard: write I/N, shard I of N (whole numbers, e.g. `2/5`)")]
    Syntax(String),
    #[error("there must be at least one shard (`{index}/0`)")]
    NoShards { index: u32 },
    #[error("shards are numbered from 1: `0/{count}` does not exist (the first is `1/{count}`)")]
    Zero { count: u32 },
    #[error("shard {index} of {count} does not exist: I runs from 1 to {count}")]
    Beyond { index: u32, count: u32 },
}

impl Shard {
    /// The whole fleet: one shard of one.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 {
            Err(ShardError::NoShards { index })
        } else if index == 0 {
            Err(ShardError::Zero { count })
        } else if index > count {
            Err(ShardError::Beyond { index, count })
        } else {
            Ok(Shard { index, count })
        }
    }

    /// 1-based.
    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// The items of this shard, in the order of `items`: sorted by `id` (the account id), the
    /// item at position `p` (0-based) belongs to shard `p % count + 1`. Items with the same id
    /// (a fleet has none) keep their relative order, so the split stays deterministic.
    pub fn select<'a, T>(&self, items: &'a [T], id: impl Fn(&T) -> &str) -> Vec<&'a T> {
        let mut by_id: Vec<usize> = (0..items.len()).collect();
        by_id.sort_by(|&a, &b| id(&items[a]).cmp(id(&items[b])));
        let count = self.count as usize;
        let mut mine: Vec<usize> = by_id
            .into_iter()
            .enumerate()
            .filter(|(p, _)| p % count + 1 == self.index as usize)
            .map(|(_, i)| i)
            .collect();
        mine.sort_unstable();
        mine.into_iter().map(|i| &items[i]).collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(pai_spec::escape(s).into_owned());
        let (index, count) = s.split_once('/').ok_or_else(syntax)?;
        // `u32::from_str` takes a leading `+`; a shard is digits only.
        let number = |t: &str| {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u32>().ok())
                .flatten()
        };
        let (Some(index), Some(count)) = (number(index.trim()), number(count.trim())) else {
            return Err(syntax());
        };
        Shard::new(index, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_print() {
        let table = [
            ("1/1", Ok((1, 1))),
            ("2/5", Ok((2, 5))),
            ("5/5", Ok((5, 5))),
            (" 3 / 4 ", Ok((3, 4))),
            ("0/3", Err(ShardError::Zero { count: 3 })),
            ("4/3", Err(ShardError::Beyond { index: 4, count: 3 })),
            ("1/0", Err(ShardError::NoShards { index: 1 })),
            ("a/b", Err(ShardError::Syntax("a/b".into()))),
            ("1-3", Err(ShardError::Syntax("1-3".into()))),
            ("+1/3", Err(ShardError::Syntax("+1/3".into()))),
            ("1/3/5", Err(ShardError::Syntax("1/3/5".into()))),
            ("99999999999/3", Err(ShardError::Syntax("99999999999/3".into()))),
        ];
        for (input, want) in table {
            let got = input.parse::<Shard>().map(|s| (s.index(), s.count()));
            assert_eq!(got, want, "{input:?}");
            if let Ok(shard) = input.parse::<Shard>() {
                assert_eq!(shard.to_string().parse::<Shard>(), Ok(shard));
            }
        }
        assert_eq!(Shard::new(2, 5).map(|s| s.to_string()), Ok("2/5".to_owned()));
    }

    #[test]
    fn the_errors_say_what_to_write() {
        let message = |s: &str| s.parse::<Shard>().map_err(|e| e.to_string()).err();
        assert_eq!(
            message("0/3").as_deref(),
            Some("shards are numbered from 1: `0/3` does not exist (the first is `1/3`)")
        );
        assert_eq!(
            message("4/3").as_deref(),
            Some("shard 4 of 3 does not exist: I runs from 1 to 3")
        );
        assert_eq!(
            message("1-3").as_deref(),
            Some("`1-3` is not a shard: write I/N, shard I of N (whole numbers, e.g. `2/5`)")
        );
        assert_eq!(
            message("\u{1b}[2J/1").as_deref(),
            Some("`\\u{1b}[2J/1` is not a shard: write I/N, shard I of N (whole numbers, e.g. `2/5`)")
        );
    }

    /// (name, id): names in another order than ids, so that a split by name would differ.
    const FLEET: [(&str, &str); 7] = [
        ("alpha", "1000000000000007"),
        ("bravo", "1000000000000003"),
        ("charlie", "1000000000000005"),
        ("delta", "1000000000000001"),
        ("echo", "1000000000000006"),
        ("foxtrot", "1000000000000002"),
        ("golf", "1000000000000004"),
    ];

    fn names(shard: &str) -> Vec<&'static str> {
        let shard: Shard = shard.parse().unwrap();
        shard.select(&FLEET, |a| a.1).into_iter().map(|a| a.0).collect()
    }

    #[test]
    fn accounts_go_round_robin_by_id() {
        // By id: delta(1) foxtrot(2) bravo(3) golf(4) charlie(5) echo(6) alpha(7).
        let table: [(&str, &[&str]); 6] = [
            (
                "1/1",
                &["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"],
            ),
            ("1/3", &["alpha", "delta", "golf"]),
            ("2/3", &["charlie", "foxtrot"]),
            ("3/3", &["bravo", "echo"]),
            ("7/7", &["alpha"]),
            ("8/8", &[]),
        ];
        for (shard, want) in table {
            assert_eq!(names(shard), want, "{shard}");
        }
    }

    #[test]
    fn the_shards_partition_the_fleet_whatever_its_order() {
        let mut reversed = FLEET;
        reversed.reverse();
        for fleet in [&FLEET[..], &reversed[..], &FLEET[..0], &FLEET[..1]] {
            for count in 1..=9 {
                let mut seen: Vec<&str> = Vec::new();
                for index in 1..=count {
                    let shard = Shard::new(index, count).unwrap();
                    let mine = shard.select(fleet, |a| a.1);
                    // Balanced: sizes differ by at most one.
                    assert!(mine.len() <= fleet.len().div_ceil(count as usize));
                    assert!(mine.len() >= fleet.len() / count as usize);
                    seen.extend(mine.iter().map(|a| a.0));
                }
                seen.sort_unstable();
                let mut all: Vec<&str> = fleet.iter().map(|a| a.0).collect();
                all.sort_unstable();
                assert_eq!(seen, all, "{count} shards of {} accounts", fleet.len());
            }
        }
        // The same shard whatever the order of the file.
        let forward: Vec<_> = Shard::new(2, 3).unwrap().select(&FLEET, |a| a.1);
        let backward: Vec<_> = Shard::new(2, 3).unwrap().select(&reversed, |a| a.1);
        let mut f: Vec<_> = forward.iter().map(|a| a.0).collect();
        let mut b: Vec<_> = backward.iter().map(|a| a.0).collect();
        f.sort_unstable();
        b.sort_unstable();
        assert_eq!(f, b);
    }

    #[test]
    fn a_shard_reads_back_only_when_it_exists() {
        let json = serde_json::to_string(&Shard::new(2, 5).unwrap()).unwrap();
        assert_eq!(json, r#"{"index":2,"count":5}"#);
        assert_eq!(serde_json::from_str::<Shard>(&json).ok(), Shard::new(2, 5).ok());
        let bad = serde_json::from_str::<Shard>(r#"{"index":6,"count":5}"#).unwrap_err();
        assert!(bad.to_string().contains("shard 6 of 5 does not exist"), "{bad}");
    }
}
