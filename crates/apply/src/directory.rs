//! A fleet's discovery: the accounts of a Resource Directory folder, from Resource Manager
//! `ListAccounts`.
//!
//! A signed RPC call (`x-acs-version: 2020-03-31`) per page: `PageNumber` from 1, `PageSize`
//! 100 (the most the service allows), `IncludeTags=true`, and the discovery tags as
//! `Tag.N.Key` / `Tag.N.Value` (the service keeps accounts carrying all of them). The answer is
//! read tolerantly (unknown fields ignored, an absent `Tags` is no tags). Kept: the direct
//! members of the folder whose `Status` is `CreateSuccess`. Paging stops at `TotalCount`, at an
//! empty page, or with an error past [`MAX_PAGES`], so a misbehaving server cannot loop us.

use std::collections::{BTreeMap, BTreeSet};

use pai_sign::wire::resource_manager;
use pai_spec::fleet::Discovery;
use serde::Deserialize;

use crate::client::request::Call;
use crate::client::rpc::{RpcClient, RpcEndpoint, RpcError};
use crate::client::ApiError;
use crate::credentials::{CredentialError, CredentialProvider};

/// The global Resource Manager endpoint.
pub const DEFAULT_ENDPOINT: &str = "resourcemanager.aliyuncs.com";
/// Accounts asked for per page: the service's maximum.
pub const PAGE_SIZE: u32 = 100;
/// Pages read at most: 100,000 accounts, far beyond a Resource Directory's quota.
pub const MAX_PAGES: u32 = 1000;
/// The status of an account that exists and can be used.
pub const CREATE_SUCCESS: &str = "CreateSuccess";

/// One account of the folder, as Resource Manager describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryAccount {
    /// The account id as the service gives it (16 digits for every real account).
    pub account_id: String,
    pub display_name: String,
    pub folder_id: String,
    pub status: String,
    /// `ResourceAccount` or `CloudAccount`.
    pub account_type: String,
    pub tags: BTreeMap<String, String>,
}

/// Why discovery failed. Every variant names the call and the page it was reading.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("ListAccounts: invalid Resource Manager endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    /// The call failed (refused, unreachable, throttled past the retries).
    #[error("ListAccounts page {page} at {endpoint}: {source}")]
    Call {
        page: u32,
        endpoint: String,
        #[source]
        source: ApiError,
    },
    #[error("ListAccounts page {page} at {endpoint}: no credentials to sign it with: {source}")]
    Credentials {
        page: u32,
        endpoint: String,
        #[source]
        source: CredentialError,
    },
    #[error("ListAccounts page {page} at {endpoint}: the answer is not the expected JSON: {reason}")]
    InvalidResponse {
        page: u32,
        endpoint: String,
        reason: String,
    },
    #[error(
        "ListAccounts at {endpoint}: still more accounts after {pages} pages (TotalCount {total_count}); \
         the server's paging does not end"
    )]
    TooManyPages {
        pages: u32,
        endpoint: String,
        total_count: u64,
    },
}

/// One page of the answer; every field optional, since the client reads tolerantly.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Page {
    #[serde(rename = "TotalCount")]
    total_count: Option<u64>,
    #[serde(rename = "Accounts")]
    accounts: Option<Accounts>,
}

#[derive(Debug, Default, Deserialize)]
struct Accounts {
    #[serde(rename = "Account", default)]
    account: Vec<WireAccount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireAccount {
    #[serde(rename = "AccountId")]
    account_id: Option<String>,
    #[serde(rename = "DisplayName")]
    display_name: Option<String>,
    #[serde(rename = "FolderId")]
    folder_id: Option<String>,
    #[serde(rename = "Status")]
    status: Option<String>,
    #[serde(rename = "Type")]
    account_type: Option<String>,
    #[serde(rename = "Tags")]
    tags: Option<Tags>,
}

#[derive(Debug, Default, Deserialize)]
struct Tags {
    #[serde(rename = "Tag", default)]
    tag: Vec<WireTag>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireTag {
    #[serde(rename = "Key")]
    key: Option<String>,
    #[serde(rename = "Value")]
    value: Option<String>,
}

/// A page's body; the reason when it is not the expected JSON.
pub(crate) fn parse_page(body: &[u8]) -> Result<Page, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// The query of page `page`.
pub(crate) fn page_query(discovery: &Discovery, page: u32) -> Vec<(String, String)> {
    let mut query = vec![
        ("PageNumber".to_owned(), page.to_string()),
        ("PageSize".to_owned(), PAGE_SIZE.to_string()),
        ("IncludeTags".to_owned(), "true".to_owned()),
    ];
    for (n, (key, value)) in discovery.tags.iter().enumerate() {
        query.push((format!("Tag.{}.Key", n + 1), key.clone()));
        query.push((format!("Tag.{}.Value", n + 1), value.clone()));
    }
    query
}

/// Where paging is: what was collected and which page comes next. Pure, so that the stopping
/// rules are tested over parsed pages.
#[derive(Debug)]
pub(crate) struct Paging {
    next: u32,
    seen: u64,
    ids: BTreeSet<String>,
    kept: Vec<DirectoryAccount>,
    done: bool,
    max_pages: u32,
    last_total: u64,
}

impl Paging {
    pub(crate) fn new(max_pages: u32) -> Paging {
        Paging {
            next: 1,
            seen: 0,
            ids: BTreeSet::new(),
            kept: Vec::new(),
            done: false,
            max_pages,
            last_total: 0,
        }
    }

    /// The page to read next; `Ok(None)` when done; an error when the page limit is reached
    /// with accounts still announced.
    pub(crate) fn next_page(&self) -> Result<Option<u32>, (u32, u64)> {
        if self.done {
            Ok(None)
        } else if self.next > self.max_pages {
            Err((self.max_pages, self.last_total))
        } else {
            Ok(Some(self.next))
        }
    }

    /// Take one page: keep the folder's usable accounts, decide whether another page follows.
    /// More follow while fewer accounts than `TotalCount` were seen and the page was not empty;
    /// without a `TotalCount`, while pages come back full.
    pub(crate) fn take(&mut self, page: Page, discovery: &Discovery) {
        let accounts = page.accounts.map(|a| a.account).unwrap_or_default();
        let count = accounts.len() as u64;
        self.seen += count;
        self.last_total = page.total_count.unwrap_or(self.seen);
        for account in accounts {
            if let Some(account) = keep(account, discovery) {
                // A page may repeat an account when the directory changes while it is read.
                if self.ids.insert(account.account_id.clone()) {
                    self.kept.push(account);
                }
            }
        }
        let more = match page.total_count {
            Some(total) => self.seen < total,
            None => count >= u64::from(PAGE_SIZE),
        };
        self.done = count == 0 || !more;
        self.next += 1;
    }

    pub(crate) fn into_accounts(self) -> Vec<DirectoryAccount> {
        self.kept
    }
}

/// The account, when it is a direct member of the folder, created, and (where the answer lists
/// its tags) carries every discovery tag. An answer without `Tags` relies on the server's filter.
fn keep(account: WireAccount, discovery: &Discovery) -> Option<DirectoryAccount> {
    let account_id = account.account_id.filter(|id| !id.is_empty())?;
    if account.folder_id.as_deref() != Some(discovery.folder.as_str())
        || account.status.as_deref() != Some(CREATE_SUCCESS)
    {
        return None;
    }
    let listed = account.tags.is_some();
    let tags: BTreeMap<String, String> = account
        .tags
        .map(|t| t.tag)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
        .collect();
    if listed && discovery.tags.iter().any(|(k, v)| tags.get(k) != Some(v)) {
        return None;
    }
    Some(DirectoryAccount {
        account_id,
        display_name: account.display_name.unwrap_or_default(),
        folder_id: discovery.folder.clone(),
        status: CREATE_SUCCESS.to_owned(),
        account_type: account.account_type.unwrap_or_default(),
        tags,
    })
}

/// The created accounts directly under `discovery.folder` carrying all of `discovery.tags`, in
/// the order the service lists them. `endpoint` is a host name or a URL ([`DEFAULT_ENDPOINT`]);
/// `credentials` are the base credentials (the management account's or a delegated
/// administrator's, allowed `resourcemanager:ListAccounts`).
pub async fn list_accounts(
    rpc: &RpcClient,
    endpoint: &str,
    credentials: &dyn CredentialProvider,
    discovery: &Discovery,
) -> Result<Vec<DirectoryAccount>, DirectoryError> {
    let parsed = RpcEndpoint::parse(endpoint).map_err(|reason| DirectoryError::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    })?;
    let shown = parsed.shown();
    let mut paging = Paging::new(MAX_PAGES);
    loop {
        let page = match paging.next_page() {
            Ok(Some(page)) => page,
            Ok(None) => return Ok(paging.into_accounts()),
            Err((pages, total_count)) => {
                return Err(DirectoryError::TooManyPages {
                    pages,
                    endpoint: shown,
                    total_count,
                })
            }
        };
        let call = Call::rpc(
            resource_manager::LIST_ACCOUNTS,
            resource_manager::VERSION,
            page_query(discovery, page),
        );
        let answer = rpc.call(&parsed, &call, credentials).await.map_err(|e| match e {
            RpcError::Api(source) => DirectoryError::Call {
                page,
                endpoint: shown.clone(),
                source,
            },
            RpcError::Credentials(source) => DirectoryError::Credentials {
                page,
                endpoint: shown.clone(),
                source,
            },
        })?;
        let parsed_page = parse_page(&answer.body).map_err(|reason| DirectoryError::InvalidResponse {
            page,
            endpoint: shown.clone(),
            reason,
        })?;
        tracing::debug!(page, total = ?parsed_page.total_count, "ListAccounts page");
        paging.take(parsed_page, discovery);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery(tags: &[(&str, &str)]) -> Discovery {
        Discovery {
            folder: "fd-team".into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            role: "pai-provision".into(),
            plan_role: None,
            regions: vec![pai_spec::Region::parse("cn-hangzhou").unwrap()],
            manifest: "m.toml".into(),
        }
    }

    fn account(id: u64, folder: &str, status: &str, tags: Option<&[(&str, &str)]>) -> serde_json::Value {
        let mut value = serde_json::json!({
            "AccountId": format!("{id:016}"), "DisplayName": format!("acc-{id}"), "FolderId": folder,
            "ResourceDirectoryId": "rd-x", "Status": status, "Type": "ResourceAccount", "JoinMethod": "created",
        });
        if let Some(tags) = tags {
            let tags: Vec<_> = tags
                .iter()
                .map(|(k, v)| serde_json::json!({"Key": k, "Value": v}))
                .collect();
            value["Tags"] = serde_json::json!({ "Tag": tags });
        }
        value
    }

    fn page(total: Option<u64>, accounts: Vec<serde_json::Value>) -> Page {
        let mut body = serde_json::json!({"RequestId": "r", "PageNumber": 1, "PageSize": 100,
            "Accounts": {"Account": accounts}});
        if let Some(total) = total {
            body["TotalCount"] = serde_json::json!(total);
        }
        parse_page(body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The ids kept, or the page limit and the total announced.
    type Outcome = Result<Vec<String>, (u32, u64)>;

    /// Feed pages until paging stops; the pages read and the ids kept.
    fn run(mut pages: Vec<Page>, discovery: &Discovery, max_pages: u32) -> (Vec<u32>, Outcome) {
        let mut paging = Paging::new(max_pages);
        let mut read = Vec::new();
        pages.reverse();
        loop {
            match paging.next_page() {
                Ok(Some(n)) => {
                    read.push(n);
                    paging.take(pages.pop().unwrap_or_default(), discovery);
                }
                Ok(None) => {
                    let ids = paging.into_accounts().into_iter().map(|a| a.account_id).collect();
                    return (read, Ok(ids));
                }
                Err(e) => return (read, Err(e)),
            }
        }
    }

    fn ids(range: std::ops::Range<u64>) -> Vec<String> {
        range.map(|i| format!("{i:016}")).collect()
    }

    #[test]
    fn query_of_a_page() {
        let query = page_query(&discovery(&[("env", "prod"), ("team", "ml")]), 3);
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("PageNumber", "3"),
                ("PageSize", "100"),
                ("IncludeTags", "true"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "prod"),
                ("Tag.2.Key", "team"),
                ("Tag.2.Value", "ml"),
            ]
        );
    }

    #[test]
    fn pages_until_the_total_count() {
        let d = discovery(&[]);
        let full = |from: u64| {
            (from..from + 100)
                .map(|i| account(i, "fd-team", CREATE_SUCCESS, None))
                .collect()
        };
        let tail: Vec<_> = (200..250)
            .map(|i| account(i, "fd-team", CREATE_SUCCESS, None))
            .collect();
        let (read, got) = run(
            vec![
                page(Some(250), full(0)),
                page(Some(250), full(100)),
                page(Some(250), tail),
            ],
            &d,
            1000,
        );
        assert_eq!(read, [1, 2, 3]);
        assert_eq!(got, Ok(ids(0..250)));
        // Exactly a page's worth: no empty page asked for.
        let (read, _) = run(vec![page(Some(100), full(0))], &d, 1000);
        assert_eq!(read, [1]);
        // No accounts at all.
        let (read, got) = run(vec![page(Some(0), vec![])], &d, 1000);
        assert_eq!((read, got), (vec![1], Ok(vec![])));
    }

    #[test]
    fn a_lying_server_cannot_loop_us() {
        let d = discovery(&[]);
        // TotalCount promises more, but a page comes back empty: stop there.
        let (read, got) = run(
            vec![
                page(Some(500), vec![account(1, "fd-team", CREATE_SUCCESS, None)]),
                page(Some(500), vec![]),
            ],
            &d,
            1000,
        );
        assert_eq!((read, got), (vec![1, 2], Ok(ids(1..2))));
        // Without TotalCount: a short page is the last.
        let (read, _) = run(
            vec![page(None, vec![account(1, "fd-team", CREATE_SUCCESS, None)])],
            &d,
            1000,
        );
        assert_eq!(read, [1]);
        // The same full page forever: duplicates dropped, and an error at the page limit.
        let same: Vec<_> = (0..100).map(|i| account(i, "fd-team", CREATE_SUCCESS, None)).collect();
        let forever = (0..10).map(|_| page(Some(100_000), same.clone())).collect();
        let (read, got) = run(forever, &d, 5);
        assert_eq!((read.len(), got), (5, Err((5, 100_000))));
    }

    #[test]
    fn keeps_created_direct_members_carrying_the_tags() {
        let d = discovery(&[("env", "prod")]);
        let accounts = vec![
            account(1, "fd-team", CREATE_SUCCESS, Some(&[("env", "prod"), ("team", "ml")])),
            account(2, "fd-other", CREATE_SUCCESS, Some(&[("env", "prod")])),
            account(3, "fd-team", "CreateFailed", Some(&[("env", "prod")])),
            account(4, "fd-team", CREATE_SUCCESS, Some(&[("env", "dev")])),
            account(5, "fd-team", CREATE_SUCCESS, Some(&[])),
            // No Tags at all: the server's filter is trusted.
            account(6, "fd-team", CREATE_SUCCESS, None),
            serde_json::json!({"FolderId": "fd-team", "Status": CREATE_SUCCESS}),
        ];
        let (_, got) = run(vec![page(Some(7), accounts)], &d, 1000);
        assert_eq!(got, Ok(vec![format!("{:016}", 1), format!("{:016}", 6)]));
        let mut paging = Paging::new(1);
        paging.take(
            page(
                Some(1),
                vec![account(1, "fd-team", CREATE_SUCCESS, Some(&[("env", "prod")]))],
            ),
            &d,
        );
        let kept = paging.into_accounts();
        assert_eq!(kept[0].display_name, "acc-1");
        assert_eq!(kept[0].account_type, "ResourceAccount");
        assert_eq!(kept[0].tags.get("env").map(String::as_str), Some("prod"));
    }

    #[test]
    fn reads_tolerantly() {
        for body in [
            r#"{}"#,
            r#"{"TotalCount":0}"#,
            r#"{"Accounts":{}}"#,
            r#"{"Accounts":{"Account":[{"AccountId":"1","Tags":{}}]},"Extra":{"x":1}}"#,
        ] {
            assert!(parse_page(body.as_bytes()).is_ok(), "{body}");
        }
        assert!(parse_page(b"<html>").is_err());
        assert!(parse_page(br#"{"TotalCount":"many"}"#).is_err());
    }
}
