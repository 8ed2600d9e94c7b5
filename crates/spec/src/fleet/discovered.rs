//! Accounts found by `[discovery]` (Resource Directory's `ListAccounts`), made fleet accounts:
//! the rule is pure so that it is table-tested; the call itself is `pai_apply::directory`.
//!
//! A discovered account gets `[fleet]`'s role, regions and manifest and no tags. An account the
//! file lists by its id keeps the listed one (the file is more specific). Its name comes from its
//! display name, made a valid account name; a name that is taken gets the id's last digits.

use std::collections::BTreeSet;

use super::{Account, AccountId, Fleet};
use crate::model::Address;

/// What Resource Directory says of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub display_name: String,
}

impl Fleet {
    /// This fleet with the discovered accounts added; and, for each one left out, why (an id
    /// that is not an account id). Without `[discovery]` the fleet is returned as it is.
    pub fn with_discovered(mut self, found: &[Found]) -> (Fleet, Vec<String>) {
        let Some(discovery) = self.discovery.clone() else {
            return (self, Vec::new());
        };
        let mut skipped = Vec::new();
        let mut names: BTreeSet<String> = self.accounts.keys().map(|a| a.as_str().to_owned()).collect();
        let mut found: Vec<&Found> = found.iter().collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        for account in found {
            let Some(id) = AccountId::parse(&account.id) else {
                skipped.push(format!(
                    "Resource Directory listed `{}` ({}), which is not a 16-digit account id: left out",
                    crate::escape(&account.id),
                    crate::escape(&account.display_name)
                ));
                continue;
            };
            if self.accounts.values().any(|a| a.id == id) {
                continue;
            }
            let Some(name) = free_name(&account.display_name, id.as_str(), &names) else {
                skipped.push(format!(
                    "Resource Directory listed `{}` ({}), and no free account name was left for it: left out",
                    crate::escape(id.as_str()),
                    crate::escape(&account.display_name)
                ));
                continue;
            };
            names.insert(name.as_str().to_owned());
            let account = Account {
                name: name.clone(),
                role_arn: format!("acs:ram::{id}:role/{}", discovery.role),
                plan_role_arn: discovery.plan_role.as_ref().map(|r| format!("acs:ram::{id}:role/{r}")),
                id,
                tags: Vec::new(),
                regions: discovery.regions.clone(),
                manifest: discovery.manifest.clone(),
            };
            self.accounts.insert(name, account);
        }
        (self, skipped)
    }
}

/// A valid account name for `display`: lower case, other characters as `-`, starting with a
/// letter (`a-` is put in front otherwise); when taken, or when nothing is left of it, with
/// `-` and the id's last 4 digits (then all 16). `None` only if every one is taken, which two
/// different ids cannot both cause.
fn free_name(display: &str, id: &str, taken: &BTreeSet<String>) -> Option<Address> {
    let mut base: String = display
        .trim()
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    base = base.trim_matches('-').chars().take(48).collect();
    if !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base = if base.is_empty() {
            "account".to_owned()
        } else {
            format!("a-{base}")
        };
    }
    let candidates = [
        base.clone(),
        format!("{base}-{}", &id[id.len() - 4..]),
        format!("{base}-{id}"),
    ];
    candidates
        .into_iter()
        .filter(|candidate| !taken.contains(candidate))
        .find_map(|candidate| Address::parse(&candidate).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_discovered_accounts() {
        let taken: BTreeSet<String> = ["research".to_owned(), "team-a".to_owned()].into();
        let id = "1234567890123456";
        let cases = [
            ("Team B", "team-b"),
            ("research", "research-3456"),
            ("Team A", "team-a-3456"),
            ("  Prod/EU (main) ", "prod-eu--main"),
            ("42 things", "a-42-things"),
            ("", "account"),
            ("🚀", "account"),
            ("ÄÖÜ", "account"),
        ];
        for (display, want) in cases {
            assert_eq!(free_name(display, id, &taken).unwrap().as_str(), want, "{display:?}");
        }
    }
}
