//! The fleet file: which accounts the pipeline may act in, the RAM role it assumes in each,
//! the regions, and which manifest each account gets. It is owned by the platform team and
//! kept apart from the manifests product teams edit: roles come only from here (a manifest
//! that names one is refused, see `check`), so a change to a manifest can never reach an
//! account the fleet file does not list. `docs/fleet.md` describes the format.
//!
//! This module is the validated data model; the `fleet` commands read it (`crates/cli`), and
//! `pai-fleet` runs over it.
//!
//! - `mod.rs`: the types, [`load_fleet`], [`analyse_fleet`], [`FleetError`].
//! - `discovered`: the accounts `[discovery]` finds, made fleet accounts ([`Fleet::with_discovered`]).
//! - `walk`: the walk over the TOML document, with the manifest's diagnostics, and the
//!   precedence of account, tag and `[fleet]` values.
//! - `values`: typed reads of ids, roles, regions, tags and manifest paths.

mod discovered;
pub use discovered::Found;
mod values;
mod walk;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diagnostic::{self, Diagnostic};
use crate::load::{analyse_with, read};
use crate::model::{Address, Region};

/// A validated fleet file, every account resolved to its effective role, regions and manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// By the name of their `[accounts.<name>]` table.
    accounts: BTreeMap<Address, Account>,
    /// `[discovery]`: the fleet commands add the accounts Resource Directory lists
    /// ([`Fleet::with_discovered`]).
    pub discovery: Option<Discovery>,
    /// `[tags.<tag>]` manifest overrides that no account carries (discovered accounts carry no
    /// tags): a warning for a plan, a refusal for `fleet apply`, since a misspelt tag gives its
    /// accounts the default manifest.
    unused_tag_overrides: Vec<String>,
}

/// One account of the fleet, with everything resolved: nothing here is taken from a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The `<name>` of `[accounts.<name>]`.
    pub name: Address,
    pub id: AccountId,
    /// In the order written, without repeats.
    pub tags: Vec<String>,
    /// The RAM role ARN to assume, always `acs:ram::<id>:role/<name>` for this account's id.
    pub role_arn: String,
    /// The role `fleet plan` assumes instead, when the file gives one (`plan_role`): a role that
    /// may read (`ListProducts`) and not order, for plan jobs that run on unmerged changes.
    pub plan_role_arn: Option<String>,
    /// Never empty; in the order written, without repeats.
    pub regions: Vec<Region>,
    /// The effective manifest (account, then tag, then `[fleet]`), resolved against the
    /// fleet file's directory when it was relative.
    pub manifest: PathBuf,
}

/// An Alibaba Cloud account id (UID): 16 ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);

impl AccountId {
    /// Exactly [`AccountId::DIGITS`] ASCII digits.
    pub fn parse(s: &str) -> Option<AccountId> {
        (s.len() == Self::DIGITS && s.bytes().all(|b| b.is_ascii_digit())).then(|| AccountId(s.to_owned()))
    }

    /// The length of every Alibaba Cloud account id.
    pub const DIGITS: usize = 16;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `[discovery]`: the accounts under a Resource Directory folder, filtered by tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The folder id, `fd-` followed by letters and digits.
    pub folder: String,
    /// Resource Directory tags an account must carry, key to value (all of them).
    pub tags: BTreeMap<String, String>,
    /// What a discovered account gets: `[fleet]`'s role name, plan role name, regions and
    /// manifest (resolved).
    pub role: String,
    pub plan_role: Option<String>,
    pub regions: Vec<Region>,
    pub manifest: PathBuf,
}

/// A name or id that the fleet file does not list: the pipeline never acts there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account `{0}` is not in the fleet file: pai-provision acts only in the accounts the fleet file lists")]
pub struct UnknownAccount(pub String);

impl Fleet {
    /// The `[tags.<tag>]` manifest overrides that no account carries.
    pub fn unused_tag_overrides(&self) -> &[String] {
        &self.unused_tag_overrides
    }

    /// Every account, by name.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// The account with this name or this 16-digit id; any other is refused with its name.
    pub fn account(&self, name_or_id: &str) -> Result<&Account, UnknownAccount> {
        let by_name = Address::parse(name_or_id).ok().and_then(|a| self.accounts.get(&a));
        by_name
            .or_else(|| self.accounts.values().find(|a| a.id.as_str() == name_or_id))
            .ok_or_else(|| UnknownAccount(name_or_id.to_owned()))
    }

    /// The accounts carrying `tag`, by name.
    pub fn accounts_tagged<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Account> + 'a {
        self.accounts.values().filter(move |a| a.tags.iter().any(|t| t == tag))
    }
}

/// Why a fleet file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    #[error("cannot read fleet file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// At least one error; `diagnostics` holds every finding, warnings included, in source order.
    #[error(
        "`{file}` is not a valid fleet file ({})\n\n{}",
        diagnostic::summary(diagnostics),
        diagnostic::render_all(diagnostics, false).trim_end()
    )]
    Invalid { file: String, diagnostics: Vec<Diagnostic> },
}

/// A fleet file that passed every check, and the warnings found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedFleet {
    pub fleet: Fleet,
    pub warnings: Vec<Diagnostic>,
    /// Hex SHA-256 of the file's bytes: a saved fleet plan records it.
    pub source_hash: String,
}

/// Reads and validates the fleet file at `path`; relative manifest paths are resolved
/// against its directory, and each must name an existing file.
pub fn load_fleet(path: &Path) -> Result<LoadedFleet, FleetError> {
    let bytes = read(path).map_err(|err| match err {
        crate::SpecError::Read { path, source } => FleetError::Read { path, source },
        other => FleetError::Read {
            path: path.to_owned(),
            source: std::io::Error::other(other.to_string()),
        },
    })?;
    let file = path.display().to_string();
    let base = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let (fleet, diagnostics) = analyse_fleet(&bytes, &file, Some(&base));
    match fleet {
        Some(fleet) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(LoadedFleet {
            fleet,
            warnings: diagnostics,
            source_hash: hex::encode(Sha256::digest(&bytes)),
        }),
        _ => Err(FleetError::Invalid { file, diagnostics }),
    }
}

/// Every finding about a fleet file given as bytes, in source order, and the fleet when there
/// is no error. `base` is the directory relative manifest paths are resolved against; when
/// given, a manifest that does not exist there is an error. Without it paths stay as written
/// and are not looked at (a pure check of the text).
pub fn analyse_fleet(source: &[u8], file_name: &str, base: Option<&Path>) -> (Option<Fleet>, Vec<Diagnostic>) {
    analyse_with(source, file_name, |doc, checker| walk::walk(doc, checker, base))
}
