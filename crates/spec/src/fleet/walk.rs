//! The walk over a fleet file: every key checked, every problem recorded with its span, and
//! the walk goes on after an error so that one run reports them all (as for a manifest).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, TableLike};

use super::values::{account_id, manifest, regions, role, tag_hint, tag_list, ARN_PREFIX};
use super::{Account, AccountId, Discovery, Fleet};
use crate::check::values;
use crate::check::{join, Checker, Span};
use crate::model::{Address, Region};
use crate::source::looks_secret;
use crate::suggest;

const ROOT_KEYS: &[&str] = &["fleet", "accounts", "tags", "discovery"];
const FLEET_KEYS: &[&str] = &["manifest", "role", "plan_role", "regions"];
const ACCOUNT_KEYS: &[&str] = &["id", "tags", "role", "plan_role", "regions", "manifest"];
const TAG_KEYS: &[&str] = &["manifest"];
const DISCOVERY_KEYS: &[&str] = &["folder", "tags"];

/// A value and where it was written.
pub(super) type At<T> = (T, Option<Span>);

/// `[fleet]`: what every account gets unless it says otherwise.
#[derive(Default)]
struct Defaults {
    manifest: Option<PathBuf>,
    role: Option<String>,
    plan_role: Option<String>,
    regions: Option<Vec<Region>>,
}

/// An account as written, before the defaults and tag overrides are applied.
struct Draft {
    name: Address,
    key_span: Option<Span>,
    id: Option<At<AccountId>>,
    tags: Vec<String>,
    role: Option<String>,
    plan_role: Option<String>,
    regions: Option<Vec<Region>>,
    manifest: Option<PathBuf>,
}

pub(super) fn walk(doc: &ImDocument<&str>, checker: &mut Checker, base: Option<&Path>) -> Option<Fleet> {
    let root = doc.as_table();
    let mut defaults = Defaults::default();
    let mut drafts = Vec::new();
    let mut tag_manifests = BTreeMap::new();
    let mut discovery = None;
    for (key, item) in root.iter() {
        let span = root.key(key).and_then(|k| k.span());
        match key {
            "fleet" => defaults = fleet_table(checker, item, span, base),
            "accounts" => drafts = accounts(checker, item, span, base),
            "tags" => tag_manifests = tags(checker, item, span, base),
            "discovery" => discovery = Some((item, span)),
            _ => unknown_key(checker, "", key, span, ROOT_KEYS),
        }
    }
    // After the loop: a discovered account takes the `[fleet]` defaults, wherever they are written.
    let discovery = discovery.and_then(|(item, span)| discovery_table(checker, item, span, &defaults));
    // A fleet that acts nowhere is a mistake; after other errors it is only their echo.
    if drafts.is_empty() && discovery.is_none() && checker.errors == 0 {
        checker.error(
            root.key("accounts").and_then(|k| k.span()),
            "the fleet file lists no accounts",
            "add one `[accounts.<name>]` table per account, with its `id`".to_string(),
        );
    }
    let mut unused_tag_overrides = Vec::new();
    for (tag, (_, span)) in &tag_manifests {
        if !drafts.iter().any(|d| d.tags.contains(tag)) {
            unused_tag_overrides.push(tag.clone());
            checker.warn(
                span.clone(),
                format!("no account carries the tag `{tag}`; its manifest override is unused"),
                "check the tag's spelling against the accounts' `tags`".to_string(),
            );
        }
    }
    let mut ids: BTreeMap<AccountId, (Address, Option<Span>)> = BTreeMap::new();
    let mut accounts = BTreeMap::new();
    for draft in drafts {
        if let Some((id, span)) = &draft.id {
            if let Some((first, first_span)) = ids.get(id) {
                let line = first_span.as_ref().map(|s| checker.line_of(s.start)).unwrap_or(1);
                checker.error(
                    span.clone(),
                    format!(
                        "account id `{id}` is listed twice: `accounts.{first}` (line {line}) and `accounts.{}`",
                        draft.name
                    ),
                    "one account, one table: keep one of them".to_string(),
                );
            } else {
                ids.insert(id.clone(), (draft.name.clone(), span.clone()));
            }
        }
        if let Some(account) = resolve(checker, draft, &defaults, &tag_manifests) {
            accounts.insert(account.name.clone(), account);
        }
    }
    (checker.errors == 0).then_some(Fleet {
        accounts,
        discovery,
        unused_tag_overrides,
    })
}

/// Applies the precedence rules: the account's own value, then (for `manifest`) its tags', then `[fleet]`.
fn resolve(
    checker: &mut Checker,
    draft: Draft,
    defaults: &Defaults,
    tag_manifests: &BTreeMap<String, At<PathBuf>>,
) -> Option<Account> {
    let place = format!("accounts.{}", draft.name);
    let (id, _) = draft.id?;
    let role = draft.role.or_else(|| defaults.role.clone());
    let Some(role) = role else {
        checker.error(
            draft.key_span.clone(),
            format!("`{place}` has no role"),
            "add `role = \"<RAM role name>\"` to it or to `[fleet]`".to_string(),
        );
        return None;
    };
    let regions = draft.regions.or_else(|| defaults.regions.clone());
    let Some(regions) = regions.filter(|r| !r.is_empty()) else {
        checker.error(
            draft.key_span.clone(),
            format!("`{place}` has no regions"),
            "add `regions = [\"cn-hangzhou\"]` to it or to `[fleet]`".to_string(),
        );
        return None;
    };
    let from_tags: Vec<(&String, &PathBuf)> = draft
        .tags
        .iter()
        .filter_map(|t| tag_manifests.get(t).map(|(m, _)| (t, m)))
        .collect();
    let manifest = match (draft.manifest, from_tags.as_slice()) {
        (Some(own), _) => own,
        (None, [(a, first), rest @ ..]) => {
            if let Some((b, _)) = rest.iter().find(|(_, m)| m != first) {
                checker.error(
                    draft.key_span.clone(),
                    format!("`{place}` gets two manifests, from its tags `{a}` and `{b}`"),
                    "give the account its own `manifest = \"...\"`, which comes before any tag's".to_string(),
                );
                return None;
            }
            (*first).clone()
        }
        (None, []) => match &defaults.manifest {
            Some(m) => m.clone(),
            None => {
                checker.error(
                    draft.key_span.clone(),
                    format!("`{place}` has no manifest"),
                    "add `manifest = \"...\"` to it, to one of its tags' `[tags.<tag>]`, or to `[fleet]`".to_string(),
                );
                return None;
            }
        },
    };
    let plan_role = draft.plan_role.or_else(|| defaults.plan_role.clone());
    Some(Account {
        plan_role_arn: plan_role.map(|name| format!("{ARN_PREFIX}{id}:role/{name}")),
        role_arn: format!("{ARN_PREFIX}{id}:role/{role}"),
        name: draft.name,
        id,
        tags: draft.tags,
        regions,
        manifest,
    })
}

fn fleet_table(checker: &mut Checker, item: &Item, span: Option<Span>, base: Option<&Path>) -> Defaults {
    let mut out = Defaults::default();
    let Some(table) = values::table(checker, item, "fleet", span) else {
        return out;
    };
    for (key, value) in table.iter() {
        let path = join("fleet", key);
        match key {
            "manifest" => out.manifest = manifest(checker, value, &path, base),
            "role" => out.role = role(checker, value, &path, None),
            "plan_role" => out.plan_role = role(checker, value, &path, None),
            "regions" => out.regions = regions(checker, value, &path),
            _ => unknown_key(checker, "fleet", key, table.key(key).and_then(|k| k.span()), FLEET_KEYS),
        }
    }
    out
}

fn accounts(checker: &mut Checker, item: &Item, span: Option<Span>, base: Option<&Path>) -> Vec<Draft> {
    let mut out = Vec::new();
    let Some(table) = values::table(checker, item, "accounts", span) else {
        return out;
    };
    for (name, value) in table.iter() {
        let key_span = table.key(name).and_then(|k| k.span());
        let Ok(address) = Address::parse(name) else {
            checker.error(
                key_span,
                format!("invalid account name `{name}`"),
                "an account name is a lower-case letter followed by lower-case letters, digits, `_` or `-`".to_string(),
            );
            continue;
        };
        let place = join("accounts", name);
        let Some(body) = values::table(checker, value, &place, key_span.clone()) else {
            continue;
        };
        out.push(account(checker, body, address, key_span, &place, base));
    }
    out
}

fn account(
    checker: &mut Checker,
    body: &dyn TableLike,
    name: Address,
    key_span: Option<Span>,
    place: &str,
    base: Option<&Path>,
) -> Draft {
    for (key, _) in body.iter() {
        if !ACCOUNT_KEYS.contains(&key) {
            unknown_key(checker, place, key, body.key(key).and_then(|k| k.span()), ACCOUNT_KEYS);
        }
    }
    let id = match body.get("id") {
        Some(value) => account_id(checker, value, &join(place, "id")),
        None => {
            checker.error(
                key_span.clone(),
                format!("`[{place}]` has no `id`"),
                "add `id = \"1234567890123456\"`: the account's 16-digit Alibaba Cloud account id".to_string(),
            );
            None
        }
    };
    let tags = body.get("tags").map(|v| tag_list(checker, v, &join(place, "tags")));
    let role_id = id.as_ref().map(|(id, _)| id);
    Draft {
        role: body
            .get("role")
            .and_then(|v| role(checker, v, &join(place, "role"), role_id)),
        plan_role: body
            .get("plan_role")
            .and_then(|v| role(checker, v, &join(place, "plan_role"), role_id)),
        regions: body
            .get("regions")
            .and_then(|v| regions(checker, v, &join(place, "regions"))),
        manifest: body
            .get("manifest")
            .and_then(|v| manifest(checker, v, &join(place, "manifest"), base)),
        tags: tags.unwrap_or_default(),
        name,
        key_span,
        id,
    }
}

fn tags(checker: &mut Checker, item: &Item, span: Option<Span>, base: Option<&Path>) -> BTreeMap<String, At<PathBuf>> {
    let mut out = BTreeMap::new();
    let Some(table) = values::table(checker, item, "tags", span) else {
        return out;
    };
    for (tag, value) in table.iter() {
        let key_span = table.key(tag).and_then(|k| k.span());
        if Address::parse(tag).is_err() {
            checker.error(key_span, format!("invalid tag `{tag}`"), tag_hint());
            continue;
        }
        let place = join("tags", tag);
        let Some(body) = values::table(checker, value, &place, key_span.clone()) else {
            continue;
        };
        for (key, value) in body.iter() {
            match key {
                "manifest" => {
                    if let Some(m) = manifest(checker, value, &join(&place, key), base) {
                        out.insert(tag.to_owned(), (m, key_span.clone()));
                    }
                }
                _ => unknown_key(checker, &place, key, body.key(key).and_then(|k| k.span()), TAG_KEYS),
            }
        }
    }
    out
}

fn discovery_table(checker: &mut Checker, item: &Item, span: Option<Span>, defaults: &Defaults) -> Option<Discovery> {
    let table = values::table(checker, item, "discovery", span.clone())?;
    let mut folder = None;
    let mut tags = BTreeMap::new();
    for (key, value) in table.iter() {
        let path = join("discovery", key);
        match key {
            "folder" => {
                let (s, vspan) = values::string(checker, value, &path, "folder = \"fd-bZr2xxxx\"")?;
                let ok = s
                    .strip_prefix("fd-")
                    .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()));
                if ok {
                    folder = Some(s.to_owned());
                } else {
                    checker.error(
                        vspan,
                        format!("invalid Resource Directory folder id `{s}`"),
                        "a folder id reads `fd-` followed by letters and digits".to_string(),
                    );
                }
            }
            "tags" => {
                let body = values::table(checker, value, &path, value.span())?;
                for (k, v) in body.iter() {
                    if let Some((s, _)) = values::string(checker, v, &join(&path, k), "tags.env = \"prod\"") {
                        tags.insert(k.to_owned(), s.to_owned());
                    }
                }
            }
            _ => unknown_key(
                checker,
                "discovery",
                key,
                table.key(key).and_then(|k| k.span()),
                DISCOVERY_KEYS,
            ),
        }
    }
    if folder.is_none() && table.get("folder").is_none() {
        checker.error(
            span.clone(),
            "`[discovery]` has no `folder`",
            "add `folder = \"fd-...\"`".to_string(),
        );
    }
    let missing: Vec<&str> = [
        ("role", defaults.role.is_none()),
        ("regions", defaults.regions.is_none()),
        ("manifest", defaults.manifest.is_none()),
    ]
    .iter()
    .filter(|(_, missing)| *missing)
    .map(|(k, _)| *k)
    .collect();
    if !missing.is_empty() {
        checker.error(
            span,
            format!("`[discovery]` needs `{}` in `[fleet]`", missing.join("`, `")),
            "a discovered account gets the `[fleet]` defaults: its role, regions and manifest".to_string(),
        );
    }
    Some(Discovery {
        folder: folder?,
        tags,
        role: defaults.role.clone()?,
        plan_role: defaults.plan_role.clone(),
        regions: defaults.regions.clone()?,
        manifest: defaults.manifest.clone()?,
    })
}

/// An unknown key: a secret, a "did you mean", or the list of valid keys.
fn unknown_key(checker: &mut Checker, path: &str, key: &str, span: Option<Span>, known: &[&str]) {
    if looks_secret(key) {
        checker.error(
            span,
            format!(
                "`{}` is not a fleet key: credentials never go in the fleet file",
                join(path, key)
            ),
            "pai-provision assumes each account's role with the pipeline's own credentials".to_string(),
        );
        return;
    }
    let valid = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    let manifest_key = path.is_empty() && matches!(key, "provider" | "products" | "state");
    let hint = match suggest::did_you_mean(key, known) {
        // `fleet plan pai-provision.toml`: say what the file is rather than list a fleet's keys.
        _ if manifest_key => format!(
            "this looks like a manifest, not a fleet file: for one account run `pai-provision plan` on it; a fleet \
             file names it with `manifest = \"...\"` (docs/fleet.md). A fleet file's top-level keys: {valid}"
        ),
        Some(near) => format!("did you mean `{near}`? valid keys here: {valid}"),
        None => format!("valid keys here: {valid}"),
    };
    let place = if path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in `{path}`")
    };
    checker.error(span, format!("unknown key `{key}` {place}"), hint);
}
