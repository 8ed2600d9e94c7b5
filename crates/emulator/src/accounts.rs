//! The accounts one emulator serves, as a Resource Directory would hold them: the home account
//! (where the configured keys act) and, for a fleet, member accounts, each with the RAM roles
//! that `AssumeRole` may enter and the tags and folder `ListAccounts` reports.
//!
//! With no member accounts configured the emulator is the single account it always was.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use pai_spec::fleet::Fleet;

use crate::error::EmulatorError;

/// The longest session a role allows unless configured, as a new RAM role's default.
pub const DEFAULT_MAX_SESSION_SECS: i64 = 3_600;

/// The Resource Directory's id, as `ListAccounts` reports it (`rd-` and letters).
pub const RESOURCE_DIRECTORY_ID: &str = "rd-emulator";

/// The folder of an account configured without one: the directory's root folder.
pub const ROOT_FOLDER_ID: &str = "fd-emulatorroot";

/// An account's Resource Directory status. Only `CreateSuccess` accounts are members a fleet
/// acts in (docs/fleet.md); the others exist so that discovery can be shown to skip them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountStatus {
    #[default]
    CreateSuccess,
    CreateVerifying,
    CreateFailed,
    InviteSuccess,
    PromoteSuccess,
    Removing,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::CreateSuccess => "CreateSuccess",
            AccountStatus::CreateVerifying => "CreateVerifying",
            AccountStatus::CreateFailed => "CreateFailed",
            AccountStatus::InviteSuccess => "InviteSuccess",
            AccountStatus::PromoteSuccess => "PromoteSuccess",
            AccountStatus::Removing => "Removing",
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A RAM role in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleConfig {
    pub name: String,
    /// The accounts whose RAM users (and role sessions) may assume it: its trust policy.
    pub trusted: Vec<String>,
    /// The longest `DurationSeconds` it allows (the role's `MaxSessionDuration`).
    pub max_session_secs: i64,
}

impl RoleConfig {
    /// A role trusting `trusted`, with the default maximum session.
    pub fn new(name: impl Into<String>, trusted: &[&str]) -> RoleConfig {
        RoleConfig {
            name: name.into(),
            trusted: trusted.iter().map(|t| (*t).to_owned()).collect(),
            max_session_secs: DEFAULT_MAX_SESSION_SECS,
        }
    }

    /// `acs:ram::<account>:role/<name>`.
    pub fn arn(&self, account: &str) -> String {
        format!("acs:ram::{account}:role/{}", self.name)
    }
}

/// A member account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// The account id (UID), digits.
    pub id: String,
    pub display_name: String,
    /// Its Resource Directory folder; `None` is the root folder ([`ROOT_FOLDER_ID`]).
    pub folder: Option<String>,
    /// Resource Directory tags, key to value.
    pub tags: BTreeMap<String, String>,
    pub status: AccountStatus,
    pub roles: Vec<RoleConfig>,
}

impl AccountConfig {
    /// A `CreateSuccess` account in the root folder, without tags or roles.
    pub fn new(id: impl Into<String>, display_name: impl Into<String>) -> AccountConfig {
        AccountConfig {
            id: id.into(),
            display_name: display_name.into(),
            folder: None,
            tags: BTreeMap::new(),
            status: AccountStatus::default(),
            roles: Vec::new(),
        }
    }

    /// The folder `ListAccounts` reports.
    pub fn folder_id(&self) -> &str {
        self.folder.as_deref().unwrap_or(ROOT_FOLDER_ID)
    }
}

/// The accounts of a fleet file as an emulator serves them: each with the role its
/// `role_arn` names, trusting `trusted` (the account of the base credentials, usually the
/// emulator's home account), in the fleet's `[discovery]` folder when it has one. Its
/// Resource Directory tags are the discovery's tags (so that discovery finds it) and each of
/// its fleet tags as a key with an empty value.
pub fn accounts_for_fleet(fleet: &Fleet, trusted: &str) -> Vec<AccountConfig> {
    let discovery = fleet.discovery.as_ref();
    fleet
        .accounts()
        .map(|account| {
            let mut tags: BTreeMap<String, String> = discovery.map(|d| d.tags.clone()).unwrap_or_default();
            for tag in &account.tags {
                tags.entry(tag.clone()).or_default();
            }
            // A role ARN is always `acs:ram::<id>:role/<name>` in a validated fleet.
            let name = |arn: &'_ str| arn.rsplit_once(":role/").map_or(arn, |(_, name)| name).to_owned();
            let mut roles = vec![RoleConfig::new(name(&account.role_arn), &[trusted])];
            if let Some(plan_role) = account.plan_role_arn.as_deref().filter(|r| *r != account.role_arn) {
                roles.push(RoleConfig::new(name(plan_role), &[trusted]));
            }
            AccountConfig {
                id: account.id.as_str().to_owned(),
                display_name: account.name.to_string(),
                folder: discovery.map(|d| d.folder.clone()),
                tags,
                status: AccountStatus::CreateSuccess,
                roles,
            }
        })
        .collect()
}

/// The account ids a caller can be in and the member accounts, checked once at start.
#[derive(Debug, Clone)]
pub struct Directory {
    home: String,
    accounts: Vec<AccountConfig>,
    by_id: HashMap<String, usize>,
}

fn is_account_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Directory {
    /// Refuses an id that is not digits, an account given twice, a role given twice in an
    /// account, and a maximum session outside what RAM allows (3600 to 43200 seconds).
    pub fn new(home: &str, accounts: &[AccountConfig]) -> Result<Directory, EmulatorError> {
        let bad = |why: String| Err(EmulatorError::Accounts(why));
        if !is_account_id(home) {
            return bad(format!("the home account `{home}` is not an account id (digits)"));
        }
        let mut by_id = HashMap::new();
        for (i, account) in accounts.iter().enumerate() {
            if !is_account_id(&account.id) {
                return bad(format!("`{}` is not an account id (digits)", account.id));
            }
            if by_id.insert(account.id.clone(), i).is_some() {
                return bad(format!("account {} is given more than once", account.id));
            }
            let mut names = std::collections::HashSet::new();
            for role in &account.roles {
                if !names.insert(role.name.to_ascii_lowercase()) {
                    return bad(format!("account {} has role `{}` twice", account.id, role.name));
                }
                if !(DEFAULT_MAX_SESSION_SECS..=43_200).contains(&role.max_session_secs) {
                    return bad(format!(
                        "role `{}` of account {}: max_session_secs {} is outside 3600..=43200",
                        role.name, account.id, role.max_session_secs
                    ));
                }
            }
        }
        Ok(Directory {
            home: home.to_owned(),
            accounts: accounts.to_vec(),
            by_id,
        })
    }

    /// Where the configured keys act.
    pub fn home(&self) -> &str {
        &self.home
    }

    /// The member accounts, in the order configured.
    pub fn accounts(&self) -> &[AccountConfig] {
        &self.accounts
    }

    pub fn account(&self, id: &str) -> Option<&AccountConfig> {
        self.by_id.get(id).map(|&i| &self.accounts[i])
    }

    /// The role `name` of account `id`; RAM role names are not case-sensitive.
    pub fn role(&self, id: &str, name: &str) -> Option<&RoleConfig> {
        self.account(id)?
            .roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_refuses_what_no_directory_holds() {
        let ok = AccountConfig {
            roles: vec![RoleConfig::new("deployer", &["1000000000000001"])],
            ..AccountConfig::new("2000000000000001", "a")
        };
        let dir = Directory::new("1000000000000001", std::slice::from_ref(&ok)).unwrap();
        assert_eq!(dir.role("2000000000000001", "Deployer").unwrap().name, "deployer");
        assert!(dir.role("2000000000000001", "other").is_none());
        assert!(dir.role("2000000000000002", "deployer").is_none());
        assert_eq!(dir.account("2000000000000001").unwrap().folder_id(), ROOT_FOLDER_ID);

        let twice_role = AccountConfig {
            roles: vec![RoleConfig::new("r", &[]), RoleConfig::new("R", &[])],
            ..ok.clone()
        };
        let long = AccountConfig {
            roles: vec![RoleConfig {
                max_session_secs: 43_201,
                ..RoleConfig::new("r", &[])
            }],
            ..ok.clone()
        };
        let cases: Vec<(&str, Vec<AccountConfig>, &str)> = vec![
            ("12x", vec![], "home account"),
            ("1", vec![AccountConfig::new("acct", "a")], "not an account id"),
            ("1", vec![ok.clone(), ok.clone()], "more than once"),
            ("1", vec![twice_role], "twice"),
            ("1", vec![long], "43201"),
        ];
        for (home, accounts, needle) in cases {
            let e = Directory::new(home, &accounts).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn a_fleet_file_becomes_accounts_with_their_roles() {
        let source = br#"
[fleet]
manifest = "m.toml"
role = "pai-provision"
regions = ["cn-hangzhou"]

[discovery]
folder = "fd-abc123"
tags = { env = "prod" }

[accounts.research]
id = "1234567890123456"
tags = ["ml"]

[accounts.sandbox]
id = "3456789012345678"
role = "acs:ram::3456789012345678:role/pai-provision-sandbox"
"#;
        let (fleet, diagnostics) = pai_spec::fleet::analyse_fleet(source, "fleet.toml", None);
        let fleet = fleet.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let accounts = accounts_for_fleet(&fleet, "1000000000000001");
        let research = accounts.iter().find(|a| a.display_name == "research").unwrap();
        assert_eq!(research.id, "1234567890123456");
        assert_eq!(research.folder.as_deref(), Some("fd-abc123"));
        assert_eq!(
            research.tags,
            BTreeMap::from([("env".into(), "prod".into()), ("ml".into(), String::new())])
        );
        assert_eq!(
            research.roles,
            vec![RoleConfig::new("pai-provision", &["1000000000000001"])]
        );
        let sandbox = accounts.iter().find(|a| a.display_name == "sandbox").unwrap();
        assert_eq!(sandbox.roles[0].name, "pai-provision-sandbox");
        assert_eq!(
            sandbox.roles[0].arn(&sandbox.id),
            "acs:ram::3456789012345678:role/pai-provision-sandbox"
        );
        Directory::new("1000000000000001", &accounts).unwrap();
    }
}
