//! The order in which a fleet apply takes its accounts: canary accounts first (`--canary
//! tag:T` or `--canary N`), the rest only after every canary succeeded; and the failure
//! tolerance (`--max-failures N` or `P%`) past which no new account starts.

use std::fmt;
use std::str::FromStr;

/// `--canary`: which accounts go first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canary {
    /// `tag:NAME`: the accounts carrying the fleet file's tag `NAME`.
    Tag(String),
    /// `N`: the first N accounts by name (at least one).
    Count(usize),
}

/// `--max-failures`: how many accounts may fail before no new one starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    /// `N`: up to N failed accounts; the next failure stops new starts. `0` stops at the first.
    Count(usize),
    /// `P%`: up to P percent of the run's accounts (`0%` to `100%`).
    Percent(u8),
}

/// Why a `--canary` or `--max-failures` value was refused, or no canary wave could be formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavesError {
    #[error("`{0}` is not a canary: write `tag:NAME` (the accounts carrying a tag) or a number of accounts, e.g. `3`")]
    Canary(String),
    #[error("`--canary 0` takes no canary: give at least 1 account, or leave --canary out")]
    NoCanaryCount,
    #[error("`{0}` is not a failure tolerance: write a number of accounts (`3`) or a percentage (`10%`)")]
    Tolerance(String),
    #[error("`{0}%` is more than 100%: a failure tolerance is at most `100%`")]
    PastHundred(String),
    #[error("no account of this run carries tag `{0}`: the canary wave would be empty")]
    NoCanary(String),
}

impl FromStr for Canary {
    type Err = WavesError;

    fn from_str(s: &str) -> Result<Canary, WavesError> {
        let shown = || pai_spec::escape(s).into_owned();
        if let Some(tag) = s.strip_prefix("tag:") {
            let tag = tag.trim();
            if tag.is_empty() {
                return Err(WavesError::Canary(shown()));
            }
            return Ok(Canary::Tag(tag.to_owned()));
        }
        match digits(s.trim()) {
            Some(0) => Err(WavesError::NoCanaryCount),
            Some(n) => Ok(Canary::Count(n)),
            None => Err(WavesError::Canary(shown())),
        }
    }
}

impl fmt::Display for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Canary::Tag(tag) => write!(f, "tag:{}", pai_spec::escape(tag)),
            Canary::Count(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for Tolerance {
    type Err = WavesError;

    fn from_str(s: &str) -> Result<Tolerance, WavesError> {
        let trimmed = s.trim();
        let junk = || WavesError::Tolerance(pai_spec::escape(s).into_owned());
        if let Some(percent) = trimmed.strip_suffix('%') {
            let n = digits(percent.trim_end()).ok_or_else(junk)?;
            return u8::try_from(n)
                .ok()
                .filter(|p| *p <= 100)
                .map(Tolerance::Percent)
                .ok_or_else(|| WavesError::PastHundred(pai_spec::escape(percent.trim_end()).into_owned()));
        }
        digits(trimmed).map(Tolerance::Count).ok_or_else(junk)
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tolerance::Count(n) => write!(f, "{n}"),
            Tolerance::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A whole number written with ASCII digits only (no sign, no spaces inside).
fn digits(s: &str) -> Option<usize> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl Tolerance {
    /// Whether a new account may still start once `failed` of the run's `total` accounts
    /// failed: while the failures do not exceed the tolerance. A percentage is of `total`, so
    /// `10%` of 25 accounts tolerates 2 failures, and stops new starts at the third.
    pub fn allows(self, failed: usize, total: usize) -> bool {
        match self {
            Tolerance::Count(n) => failed <= n,
            Tolerance::Percent(p) => failed.saturating_mul(100) <= usize::from(p).saturating_mul(total),
        }
    }
}

/// The waves of a run over `accounts` (name, tags): with a canary, the canary accounts first,
/// then the rest; without, one wave. Names are sorted in each wave; empty waves are left out
/// (a `--canary 5` over 3 accounts is one wave). A canary tag no account carries is an error:
/// the user asked for a canary and would get none.
pub fn waves<'a>(
    accounts: &[(&'a str, &'a [String])],
    canary: Option<&Canary>,
) -> Result<Vec<Vec<&'a str>>, WavesError> {
    let mut sorted: Vec<(&'a str, &'a [String])> = accounts.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let (first, rest): (Vec<&'a str>, Vec<&'a str>) = match canary {
        None => (Vec::new(), sorted.iter().map(|a| a.0).collect()),
        Some(Canary::Count(n)) => {
            let names: Vec<&'a str> = sorted.iter().map(|a| a.0).collect();
            let n = (*n).min(names.len());
            (names[..n].to_vec(), names[n..].to_vec())
        }
        Some(Canary::Tag(tag)) => {
            let (tagged, untagged): (Vec<&(&'a str, &'a [String])>, Vec<_>) =
                sorted.iter().partition(|a| a.1.iter().any(|t| t == tag));
            if tagged.is_empty() {
                return Err(WavesError::NoCanary(pai_spec::escape(tag).into_owned()));
            }
            (
                tagged.into_iter().map(|a| a.0).collect(),
                untagged.into_iter().map(|a| a.0).collect(),
            )
        }
    };
    Ok([first, rest].into_iter().filter(|w| !w.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_parse() {
        let table: [(&str, Result<Canary, WavesError>); 9] = [
            ("tag:canary", Ok(Canary::Tag("canary".into()))),
            ("tag:env:prod", Ok(Canary::Tag("env:prod".into()))),
            ("3", Ok(Canary::Count(3))),
            (" 12 ", Ok(Canary::Count(12))),
            ("0", Err(WavesError::NoCanaryCount)),
            ("tag:", Err(WavesError::Canary("tag:".into()))),
            ("-1", Err(WavesError::Canary("-1".into()))),
            ("canary", Err(WavesError::Canary("canary".into()))),
            ("", Err(WavesError::Canary("".into()))),
        ];
        for (input, want) in table {
            assert_eq!(input.parse::<Canary>(), want, "{input:?}");
            if let Ok(c) = input.parse::<Canary>() {
                assert_eq!(c.to_string().parse::<Canary>(), Ok(c));
            }
        }
    }

    #[test]
    fn tolerances_parse() {
        let table: [(&str, Result<Tolerance, WavesError>); 12] = [
            ("0", Ok(Tolerance::Count(0))),
            ("3", Ok(Tolerance::Count(3))),
            ("10%", Ok(Tolerance::Percent(10))),
            ("0%", Ok(Tolerance::Percent(0))),
            ("100%", Ok(Tolerance::Percent(100))),
            (" 5 %", Ok(Tolerance::Percent(5))),
            ("101%", Err(WavesError::PastHundred("101".into()))),
            ("1000%", Err(WavesError::PastHundred("1000".into()))),
            ("%", Err(WavesError::Tolerance("%".into()))),
            ("ten", Err(WavesError::Tolerance("ten".into()))),
            ("1.5%", Err(WavesError::Tolerance("1.5%".into()))),
            ("-2", Err(WavesError::Tolerance("-2".into()))),
        ];
        for (input, want) in table {
            assert_eq!(input.parse::<Tolerance>(), want, "{input:?}");
            if let Ok(t) = input.parse::<Tolerance>() {
                assert_eq!(t.to_string().parse::<Tolerance>(), Ok(t));
            }
        }
        assert_eq!(
            "150%".parse::<Tolerance>().unwrap_err().to_string(),
            "`150%` is more than 100%: a failure tolerance is at most `100%`"
        );
    }

    #[test]
    fn the_tolerance_stops_new_starts_past_it() {
        use Tolerance::{Count, Percent};
        // (tolerance, failed, total, may start)
        let table = [
            (Count(0), 0, 10, true),
            (Count(0), 1, 10, false),
            (Count(3), 3, 10, true),
            (Count(3), 4, 10, false),
            (Percent(10), 2, 25, true),
            (Percent(10), 3, 25, false),
            (Percent(10), 1, 10, true),
            (Percent(10), 2, 10, false),
            (Percent(0), 0, 10, true),
            (Percent(0), 1, 10, false),
            (Percent(100), 10, 10, true),
            (Percent(50), 0, 0, true),
            (Count(usize::MAX), usize::MAX, usize::MAX, true),
            (Percent(100), usize::MAX, usize::MAX, true),
        ];
        for (tolerance, failed, total, want) in table {
            assert_eq!(
                tolerance.allows(failed, total),
                want,
                "{tolerance} with {failed} of {total} failed"
            );
        }
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn canaries_go_first() {
        let canary = tags(&["canary", "prod"]);
        let prod = tags(&["prod"]);
        let none = tags(&[]);
        let fleet: Vec<(&str, &[String])> = vec![
            ("team-c", &prod),
            ("team-a", &none),
            ("team-d", &canary),
            ("team-b", &canary),
        ];
        let tag = |t: &str| Canary::Tag(t.into());
        let table = [
            (None, Ok(vec![vec!["team-a", "team-b", "team-c", "team-d"]])),
            (
                Some(tag("canary")),
                Ok(vec![vec!["team-b", "team-d"], vec!["team-a", "team-c"]]),
            ),
            (
                Some(tag("prod")),
                Ok(vec![vec!["team-b", "team-c", "team-d"], vec!["team-a"]]),
            ),
            (Some(tag("staging")), Err(WavesError::NoCanary("staging".into()))),
            (
                Some(Canary::Count(1)),
                Ok(vec![vec!["team-a"], vec!["team-b", "team-c", "team-d"]]),
            ),
            (
                Some(Canary::Count(2)),
                Ok(vec![vec!["team-a", "team-b"], vec!["team-c", "team-d"]]),
            ),
            (
                Some(Canary::Count(9)),
                Ok(vec![vec!["team-a", "team-b", "team-c", "team-d"]]),
            ),
        ];
        for (canary, want) in table {
            assert_eq!(waves(&fleet, canary.as_ref()), want, "{canary:?}");
        }
        let everyone_canary: Vec<(&str, &[String])> = vec![("x", &canary), ("y", &canary)];
        assert_eq!(waves(&everyone_canary, Some(&tag("canary"))), Ok(vec![vec!["x", "y"]]));
        assert_eq!(waves(&[], None), Ok(vec![]));
        assert_eq!(
            waves(&fleet, Some(&tag("staging"))).unwrap_err().to_string(),
            "no account of this run carries tag `staging`: the canary wave would be empty"
        );
    }
}
