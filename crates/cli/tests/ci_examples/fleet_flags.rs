//! The `fleet` commands as the fleet contract (issue 13) and `docs/fleet.md` declare them: which
//! flags each takes and what values they accept. The examples' `fleet` lines were checked
//! against this table alone while the binary had no `fleet` command; now that it has one, they
//! go through the binary too (`ci_examples.rs`), and the lead, who owns the command, decides
//! whether this table stays as the documented word beside the binary's or goes.

/// What a flag accepts.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    /// No value.
    Switch,
    /// Any one word (a path, a URL, a name).
    Any,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// `I/N`, 1 <= I <= N.
    Shard,
    /// A positive count.
    Count,
    /// `tag:T` or a positive count.
    Canary,
    /// A count, or a percentage `P%` with P in 0..=100.
    Tolerance,
}

use Value::*;

/// `fleet plan FLEET`, `fleet apply FLEET|FLEETPLAN`, `fleet status FLEET`: each takes one
/// positional argument and these flags.
pub const FLEET_COMMANDS: &[(&str, &[(&str, Value)])] = &[
    (
        "plan",
        &[
            ("--state", Any),
            ("--out", Any),
            ("--format", OneOf(&["human", "json", "markdown"])),
            ("--detailed-exitcode", Switch),
            ("--shard", Shard),
            ("--concurrency", Count),
            ("--per-account", Count),
            ("--account", Any),
            ("--sandbox", Switch),
            ("--policy", Any),
        ],
    ),
    (
        "apply",
        &[
            ("--auto-approve", Switch),
            ("--expect-digest", Any),
            ("--fleet", Any),
            ("--policy", Any),
            ("--canary", Canary),
            ("--max-failures", Tolerance),
            ("--account", Any),
            ("--format", OneOf(&["human", "json"])),
            ("--state", Any),
            ("--shard", Shard),
            ("--concurrency", Count),
            ("--per-account", Count),
            ("--sandbox", Switch),
        ],
    ),
    (
        "status",
        &[
            ("--state", Any),
            ("--format", OneOf(&["human", "json"])),
            ("--shard", Shard),
            ("--account", Any),
        ],
    ),
];

/// Checks the words after `fleet` (`plan fleet.toml --shard 1/4 ...`). `lists` is the number of
/// `"$@"`-like words that were dropped from `words`: they may stand for the positional argument.
pub fn check(words: &[&str], lists: usize) -> Result<(), String> {
    let Some((&command, rest)) = words.split_first() else {
        return Err("`fleet` without a command".to_owned());
    };
    let Some((_, flags)) = FLEET_COMMANDS.iter().find(|(name, _)| *name == command) else {
        return Err(format!(
            "`fleet {command}` is not a fleet command (plan, apply, status)"
        ));
    };
    let mut positional = 0;
    let mut i = 0;
    while i < rest.len() {
        let word = rest[i];
        i += 1;
        if !word.starts_with('-') {
            positional += 1;
            continue;
        }
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (word, None),
        };
        let Some((_, kind)) = flags.iter().find(|(name, _)| *name == flag) else {
            return Err(format!("`fleet {command}` takes no flag {flag}"));
        };
        if let Switch = kind {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => {
                let value = rest.get(i).ok_or_else(|| format!("{flag} needs a value"))?;
                i += 1;
                value
            }
        };
        check_value(*kind, value).map_err(|why| format!("{flag} {value}: {why}"))?;
    }
    if positional > 1 || positional + lists == 0 {
        return Err(format!(
            "`fleet {command}` takes one fleet file or plan, given {positional}"
        ));
    }
    Ok(())
}

fn check_value(kind: Value, value: &str) -> Result<(), String> {
    let count = |v: &str| v.parse::<u64>().ok().filter(|n| *n > 0);
    match kind {
        Switch | Any => Ok(()),
        OneOf(choices) => choices
            .contains(&value)
            .then_some(())
            .ok_or_else(|| format!("not one of {}", choices.join(", "))),
        Shard => {
            let parsed = value.split_once('/').and_then(|(i, n)| Some((count(i)?, count(n)?)));
            match parsed {
                Some((i, n)) if i <= n => Ok(()),
                _ => Err("not I/N with 1 <= I <= N".to_owned()),
            }
        }
        Count => count(value)
            .map(|_| ())
            .ok_or_else(|| "not a positive count".to_owned()),
        Canary => match value.strip_prefix("tag:") {
            Some(tag) if is_tag(tag) => Ok(()),
            Some(_) => Err("not a tag (a lower-case letter, then a-z 0-9 _ -)".to_owned()),
            None => count(value)
                .map(|_| ())
                .ok_or_else(|| "neither tag:T nor a count".to_owned()),
        },
        Tolerance => match value.strip_suffix('%') {
            Some(p) => p
                .parse::<u64>()
                .ok()
                .filter(|p| *p <= 100)
                .map(|_| ())
                .ok_or_else(|| "not a percentage 0%..100%".to_owned()),
            None => value
                .parse::<u64>()
                .map(|_| ())
                .map_err(|_| "neither a count nor a percentage".to_owned()),
        },
    }
}

/// A tag as `docs/fleet.md` defines it.
fn is_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::check;

    fn words(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn the_contract_lines_pass() {
        for line in [
            "plan fleet/fleet.toml --shard 1/4 --out p.json --format markdown --detailed-exitcode",
            "plan fleet.toml --account a --account b --concurrency 8 --per-account 2 --sandbox",
            "apply fleet-plan-1.json --canary tag:canary --max-failures 5%",
            "apply fleet-plan-1.json --fleet fleet/fleet.toml --expect-digest sha256:ab --policy p",
            "apply fleet.toml --auto-approve --canary 2 --max-failures 3 --shard 4/4",
            "status fleet.toml --format=json --shard 2/3",
        ] {
            assert_eq!(check(&words(line), 0), Ok(()), "{line}");
        }
        assert_eq!(
            check(&words("plan --account a"), 1),
            Ok(()),
            "a list stands for the fleet"
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        for (line, why) in [
            ("validate fleet.toml", "not a fleet command"),
            ("plan fleet.toml --canary tag:x", "takes no flag --canary"),
            ("status fleet.toml --format markdown", "not one of human, json"),
            ("apply p.json --format markdown", "not one of human, json"),
            ("plan fleet.toml --shard 5/4", "not I/N"),
            ("plan fleet.toml --shard 0/4", "not I/N"),
            ("plan fleet.toml --shard 1", "not I/N"),
            ("apply p.json --max-failures 120%", "not a percentage"),
            ("apply p.json --canary tag:Canary", "not a tag"),
            ("apply p.json --canary some", "neither tag:T nor a count"),
            ("plan fleet.toml --concurrency 0", "not a positive count"),
            ("plan fleet.toml --out", "needs a value"),
            ("plan fleet.toml --sandbox=yes", "takes no value"),
            ("plan", "takes one fleet file or plan, given 0"),
            ("apply a.json b.json", "given 2"),
        ] {
            let got = check(&words(line), 0).expect_err(line);
            assert!(got.contains(why), "{line}: {got}");
        }
    }
}
