//! Typed reads of the fleet file's values: account ids, roles, regions, tags, manifest paths.
//! Each returns `None` (or skips the value) after recording why it is unusable.

use std::path::{Path, PathBuf};

use toml_edit::Item;

use super::walk::At;
use super::AccountId;
use crate::check::values::{self, describe};
use crate::check::Checker;
use crate::model::{Address, Region};

pub(super) const ARN_PREFIX: &str = "acs:ram::";

pub(super) fn account_id(checker: &mut Checker, item: &Item, path: &str) -> Option<At<AccountId>> {
    let (s, span) = values::string(checker, item, path, "id = \"1234567890123456\"")?;
    match AccountId::parse(s) {
        Some(id) => Some((id, span)),
        None => {
            checker.error(
                span,
                format!("invalid account id `{s}`"),
                format!("an Alibaba Cloud account id is {} digits", AccountId::DIGITS),
            );
            None
        }
    }
}

/// A role name, or (in an account) its full ARN, which must name the account's own id.
/// Returns the role name.
pub(super) fn role(checker: &mut Checker, item: &Item, path: &str, account: Option<&AccountId>) -> Option<String> {
    let (s, span) = values::string(checker, item, path, "role = \"pai-provision\"")?;
    let name = match s.strip_prefix(ARN_PREFIX) {
        Some(rest) => {
            let Some((arn_account, name)) = rest.split_once(":role/") else {
                checker.error(
                    span,
                    format!("invalid role ARN `{s}`"),
                    "a RAM role ARN reads `acs:ram::<account id>:role/<role name>`".to_string(),
                );
                return None;
            };
            let Some(account) = account else {
                checker.error(
                    span,
                    "a role ARN names one account; `[fleet]` takes a role name",
                    format!("write `role = \"{name}\"`: each account's ARN is made from its own id"),
                );
                return None;
            };
            if arn_account != account.as_str() {
                checker.error(
                    span,
                    format!("the role `{s}` is in account `{arn_account}`, not in this account `{account}`"),
                    "the role assumed for an account must be in that account; write its name only, or fix the id"
                        .to_string(),
                );
                return None;
            }
            name
        }
        None => s,
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !valid {
        checker.error(
            span,
            format!("invalid role name `{name}`"),
            "a RAM role name is 1 to 64 letters, digits, `.`, `-` or `_`; or give the ARN \
             `acs:ram::<account id>:role/<role name>`"
                .to_string(),
        );
        return None;
    }
    Some(name.to_owned())
}

/// The strings of an array, each with its span; `None` (after an error) when it is not one.
fn strings<'a>(checker: &mut Checker, item: &'a Item, path: &str, example: &str) -> Option<Vec<At<&'a str>>> {
    let Some(array) = item.as_array() else {
        checker.error(
            item.span(),
            format!("`{path}` must be an array of strings, not {}", describe(item)),
            format!("for example `{example}`"),
        );
        return None;
    };
    let mut out = Vec::new();
    for value in array.iter() {
        match value.as_str() {
            Some(s) => out.push((s, value.span())),
            None => checker.error(
                value.span(),
                format!("`{path}` must hold strings only"),
                format!("for example `{example}`"),
            ),
        }
    }
    Some(out)
}

pub(super) fn regions(checker: &mut Checker, item: &Item, path: &str) -> Option<Vec<Region>> {
    let errors_before = checker.errors;
    let mut out: Vec<Region> = Vec::new();
    for (s, span) in strings(checker, item, path, "regions = [\"cn-hangzhou\"]")? {
        match Region::parse(s) {
            Ok(r) if !out.contains(&r) => out.push(r),
            Ok(_) => {}
            Err(_) => checker.error(span, format!("invalid region `{s}`"), values::region_hint(s)),
        }
    }
    if out.is_empty() && checker.errors == errors_before {
        checker.error(
            item.span(),
            format!("`{path}` is empty"),
            "name at least one region, like `[\"cn-hangzhou\"]`".to_string(),
        );
    }
    Some(out)
}

pub(super) fn tag_list(checker: &mut Checker, item: &Item, path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (s, span) in strings(checker, item, path, "tags = [\"prod\"]").unwrap_or_default() {
        if Address::parse(s).is_err() {
            checker.error(span, format!("invalid tag `{s}`"), tag_hint());
        } else if !out.iter().any(|t| t == s) {
            out.push(s.to_owned());
        }
    }
    out
}

pub(super) fn tag_hint() -> String {
    "a tag is a lower-case letter followed by lower-case letters, digits, `_` or `-`".to_string()
}

/// A manifest path, resolved against `base`; with a base, the file must exist.
pub(super) fn manifest(checker: &mut Checker, item: &Item, path: &str, base: Option<&Path>) -> Option<PathBuf> {
    let (s, span) = values::string(checker, item, path, "manifest = \"manifests/default.toml\"")?;
    if s.trim().is_empty() {
        checker.error(
            span,
            format!("`{path}` is empty"),
            "give the path of a manifest".to_string(),
        );
        return None;
    }
    let Some(base) = base else {
        return Some(PathBuf::from(s));
    };
    let resolved = base.join(s);
    if !resolved.is_file() {
        // Found now, not in the middle of a run that has already acted in other accounts.
        checker.error(
            span,
            format!(
                "the manifest `{s}` does not exist (looked for `{}`)",
                resolved.display()
            ),
            "a relative path is read from the fleet file's directory".to_string(),
        );
        return None;
    }
    Some(resolved)
}
