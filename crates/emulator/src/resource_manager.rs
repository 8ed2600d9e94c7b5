//! Resource Manager `ListAccounts` (version 2020-03-31), as pure functions: the query
//! ([`parse`]) and the page of member accounts it answers ([`list_accounts`]).
//!
//! Only the management account (the emulator's home account) may list the directory;
//! the server refuses any other caller before this is reached.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::accounts::{AccountConfig, Directory, RESOURCE_DIRECTORY_ID};
use crate::error::ApiError;

pub use pai_sign::wire::resource_manager::{LIST_ACCOUNTS, VERSION};

/// The most tags a filter may name (`Tag.1` to `Tag.20`).
const MAX_TAGS: usize = 20;

/// A validated `ListAccounts` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub page_number: u32,
    pub page_size: u32,
    pub include_tags: bool,
    /// Every one must match: a key with `Some` value needs that value, with `None` any.
    pub tags: Vec<(String, Option<String>)>,
    /// Part of an account's id or display name.
    pub keyword: Option<String>,
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn number(params: &[(String, String)], key: &str, default: u32, max: u32) -> Result<u32, ApiError> {
    match param(params, key) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid_parameter(
                key,
                format!("`{s}` must be a whole number from 1 to {max}"),
            )),
        },
    }
}

/// `PageNumber` (from 1, default 1), `PageSize` (1 to 100, default 10), `IncludeTags`,
/// `Tag.N.Key` / `Tag.N.Value` (N from 1 to 20), `QueryKeyword`.
pub fn parse(params: &[(String, String)]) -> Result<Query, ApiError> {
    let page_number = number(params, "PageNumber", 1, u32::MAX)?;
    let page_size = number(params, "PageSize", 10, 100)?;
    let include_tags = match param(params, "IncludeTags") {
        None | Some("") => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ApiError::invalid_parameter(
                "IncludeTags",
                format!("must be true or false, not `{v}`"),
            ))
        }
    };
    let mut tags: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
    for (key, value) in params {
        let Some(rest) = key.strip_prefix("Tag.") else {
            continue;
        };
        let bad = || ApiError::invalid_parameter(key, "expected Tag.N.Key or Tag.N.Value, N from 1 to 20");
        let (n, field) = rest.split_once('.').ok_or_else(bad)?;
        let n: usize = n.parse().map_err(|_| bad())?;
        if !(1..=MAX_TAGS).contains(&n) {
            return Err(bad());
        }
        let entry = tags.entry(n).or_default();
        match field {
            "Key" => entry.0 = Some(value.clone()),
            "Value" => entry.1 = Some(value.clone()),
            _ => return Err(bad()),
        }
    }
    let tags = tags
        .into_iter()
        .map(|(n, (key, value))| match key {
            Some(key) if !key.is_empty() => Ok((key, value)),
            _ => Err(ApiError::missing_parameter(&format!("Tag.{n}.Key"))),
        })
        .collect::<Result<_, _>>()?;
    Ok(Query {
        page_number,
        page_size,
        include_tags,
        tags,
        keyword: param(params, "QueryKeyword")
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
    })
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Tags {
    #[serde(rename = "Tag")]
    pub tag: Vec<Tag>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    pub account_id: String,
    pub display_name: String,
    pub folder_id: String,
    pub resource_directory_id: String,
    pub resource_directory_path: String,
    pub status: String,
    /// Always `ResourceAccount`: the emulator's members are accounts it created.
    #[serde(rename = "Type")]
    pub kind: String,
    pub join_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

#[derive(Debug, Serialize)]
pub struct Accounts {
    #[serde(rename = "Account")]
    pub account: Vec<Account>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Answer {
    pub request_id: String,
    pub page_number: u32,
    pub page_size: u32,
    pub total_count: usize,
    pub accounts: Accounts,
}

fn matches(account: &AccountConfig, q: &Query) -> bool {
    let tagged = q.tags.iter().all(|(key, value)| match (account.tags.get(key), value) {
        (Some(have), Some(want)) => have == want,
        (Some(_), None) => true,
        (None, _) => false,
    });
    let named = q
        .keyword
        .as_ref()
        .is_none_or(|k| account.id.contains(k.as_str()) || account.display_name.contains(k.as_str()));
    tagged && named
}

fn entry(account: &AccountConfig, include_tags: bool) -> Account {
    Account {
        account_id: account.id.clone(),
        display_name: account.display_name.clone(),
        folder_id: account.folder_id().to_owned(),
        resource_directory_id: RESOURCE_DIRECTORY_ID.to_owned(),
        resource_directory_path: format!("{RESOURCE_DIRECTORY_ID}/{}/{}", account.folder_id(), account.id),
        status: account.status.to_string(),
        kind: "ResourceAccount".to_owned(),
        join_method: "created".to_owned(),
        tags: include_tags.then(|| Tags {
            tag: account
                .tags
                .iter()
                .map(|(key, value)| Tag {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        }),
    }
}

/// One page of the member accounts that match, in the order configured; `TotalCount` counts
/// every match. A page past the last is empty.
pub fn list_accounts(q: &Query, accounts: &Directory, request_id: String) -> Answer {
    let matching: Vec<&AccountConfig> = accounts.accounts().iter().filter(|a| matches(a, q)).collect();
    let size = q.page_size as usize;
    let skip = (q.page_number as usize - 1).saturating_mul(size);
    Answer {
        request_id,
        page_number: q.page_number,
        page_size: q.page_size,
        total_count: matching.len(),
        accounts: Accounts {
            account: matching
                .iter()
                .skip(skip)
                .take(size)
                .map(|a| entry(a, q.include_tags))
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<Query, ApiError> {
        parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    fn directory() -> Directory {
        let accounts: Vec<AccountConfig> = (0..25)
            .map(|i| AccountConfig {
                tags: BTreeMap::from([
                    ("env".to_owned(), if i % 2 == 0 { "prod" } else { "dev" }.to_owned()),
                    ("team".to_owned(), format!("t{}", i % 5)),
                ]),
                folder: (i < 20).then(|| "fd-fleet".to_owned()),
                ..AccountConfig::new(format!("20000000000000{i:02}"), format!("acct-{i}"))
            })
            .collect();
        Directory::new("1000000000000001", &accounts).unwrap()
    }

    #[test]
    fn parses_the_query_and_refuses_what_is_out_of_range() {
        assert_eq!(
            q(&[]).unwrap(),
            Query {
                page_number: 1,
                page_size: 10,
                include_tags: false,
                tags: vec![],
                keyword: None
            }
        );
        let full = q(&[
            ("PageNumber", "3"),
            ("PageSize", "100"),
            ("IncludeTags", "true"),
            ("Tag.2.Key", "team"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod"),
        ])
        .unwrap();
        assert_eq!((full.page_number, full.page_size, full.include_tags), (3, 100, true));
        assert_eq!(
            full.tags,
            vec![("env".to_owned(), Some("prod".to_owned())), ("team".to_owned(), None)]
        );
        for bad in [
            vec![("PageSize", "0")],
            vec![("PageSize", "101")],
            vec![("PageNumber", "0")],
            vec![("PageNumber", "x")],
            vec![("IncludeTags", "yes")],
            vec![("Tag.21.Key", "a")],
            vec![("Tag.1.Colour", "a")],
        ] {
            assert_eq!(q(&bad).unwrap_err().code, "InvalidParameter", "{bad:?}");
        }
        assert_eq!(q(&[("Tag.1.Value", "a")]).unwrap_err().code, "MissingParameter");
    }

    #[test]
    fn pages_filters_and_shows_tags_only_when_asked() {
        let dir = directory();
        let page = |pairs: &[(&str, &str)]| list_accounts(&q(pairs).unwrap(), &dir, "rid".into());
        let first = page(&[]);
        assert_eq!((first.total_count, first.accounts.account.len()), (25, 10));
        assert_eq!(first.accounts.account[0].account_id, "2000000000000000");
        assert!(first.accounts.account[0].tags.is_none());
        let last = page(&[("PageNumber", "3")]);
        assert_eq!(last.accounts.account.len(), 5);
        assert_eq!(last.accounts.account[4].folder_id, "fd-emulatorroot");
        assert!(page(&[("PageNumber", "4")]).accounts.account.is_empty());

        let prod = page(&[("Tag.1.Key", "env"), ("Tag.1.Value", "prod"), ("PageSize", "100")]);
        assert_eq!(prod.total_count, 13);
        let both = page(&[
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod"),
            ("Tag.2.Key", "team"),
            ("Tag.2.Value", "t0"),
            ("IncludeTags", "true"),
        ]);
        let ids: Vec<&str> = both.accounts.account.iter().map(|a| a.account_id.as_str()).collect();
        assert_eq!(ids, ["2000000000000000", "2000000000000010", "2000000000000020"]);
        assert_eq!(both.total_count, 3);
        let json = serde_json::to_value(&both).unwrap();
        assert_eq!(json["Accounts"]["Account"][0]["Tags"]["Tag"][0]["Key"], "env");
        assert_eq!(json["Accounts"]["Account"][0]["Type"], "ResourceAccount");
        assert_eq!(json["Accounts"]["Account"][0]["Status"], "CreateSuccess");
        assert_eq!(json["TotalCount"], 3);
        assert_eq!(page(&[("Tag.1.Key", "owner")]).total_count, 0);
        assert_eq!(page(&[("QueryKeyword", "acct-2")]).total_count, 6);
    }
}
