//! The walk over a parsed TOML document: every key is checked, every problem recorded as a
//! [`Finding`] with its byte span, and the walk goes on after an error so that one run
//! reports them all. A [`Manifest`] is assembled only when no error was found. Which keys a
//! table accepts, and where a stray key belongs instead, come from [`crate::keys`].
//!
//! - `mod.rs`: the document root, `[provider]`, `[state]`, and the findings.
//! - [`products`]: `[products.<address>]`, instance properties, the API rules, duplicates.
//! - [`values`]: typed reads of values (string, bool, integer, table, region, URL) with the
//!   messages for wrong types.

mod products;
pub(crate) mod values;

use std::collections::BTreeMap;
use std::ops::Range;

use toml_edit::{ImDocument, Item, TableLike};

use crate::keys::{self, Section};
use crate::model::{Manifest, Provider, Region, SignatureVersion};
use crate::rules::Severity;
use crate::source::looks_secret;
use crate::suggest;

pub(crate) type Span = Range<usize>;

/// Problems beyond this many are counted, not kept: a 10 MB file of mistakes stays fast.
pub(crate) const MAX_FINDINGS: usize = 1000;

/// A problem before it is given a line and column.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
    /// `None` for findings about the whole file.
    pub span: Option<Span>,
}

pub(crate) struct Checker {
    line_starts: Vec<usize>,
    pub findings: Vec<Finding>,
    pub errors: usize,
    pub suppressed: usize,
}

impl Checker {
    pub fn new(source: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            source
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Checker {
            line_starts,
            findings: Vec::new(),
            errors: 0,
            suppressed: 0,
        }
    }

    fn push(&mut self, severity: Severity, span: Option<Span>, message: String, hint: Option<String>) {
        if severity == Severity::Error {
            self.errors += 1;
        }
        if self.findings.len() >= MAX_FINDINGS {
            self.suppressed += 1;
            return;
        }
        self.findings.push(Finding {
            severity,
            message,
            hint,
            span,
        });
    }

    pub fn error(&mut self, span: Option<Span>, message: impl Into<String>, hint: impl Into<Option<String>>) {
        self.push(Severity::Error, span, message.into(), hint.into());
    }

    pub fn warn(&mut self, span: Option<Span>, message: impl Into<String>, hint: impl Into<Option<String>>) {
        self.push(Severity::Warning, span, message.into(), hint.into());
    }

    /// The 1-based line of a byte offset, for messages that mention another place.
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    /// An unknown key: "did you mean", a key that belongs in another table, or a secret.
    fn unknown_key(&mut self, path: &str, key: &str, span: Option<Span>, section: Section) {
        let full = join(path, key);
        if names_role(key) {
            // A pull request to a manifest must never make the pipeline act in an account it
            // was not given: which role to assume, hence which account, is the fleet file's call.
            self.error(
                span,
                format!("`{full}` is not a manifest key: roles come only from the fleet file"),
                "the platform team's fleet file gives each account its RAM role (see docs/fleet.md); remove \
                 the key from the manifest"
                    .to_string(),
            );
            return;
        }
        if looks_secret(key) {
            self.error(
                span,
                format!("`{full}` is not a manifest key: credentials never go in the manifest"),
                "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, use an OIDC role, or name an \
                 aliyun CLI `profile`; rotate the key if this file was ever shared"
                    .to_string(),
            );
            return;
        }
        let known = keys::names(section);
        let valid = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        let hint = if section == Section::Root && matches!(key, "fleet" | "accounts") {
            // `validate fleet.toml`: say what the file is rather than list a manifest's keys.
            format!(
                "this looks like a fleet file (docs/fleet.md), not a manifest: read it with `pai-provision fleet \
                 plan`. A manifest's top-level keys: {valid}"
            )
        } else if let Some(near) = suggest::suggest_key(key, &known) {
            format!("did you mean `{near}`? valid keys here: {valid}")
        } else if let Some(table) = keys::belongs_elsewhere(section, key) {
            format!("`{key}` belongs in {table}; valid keys here: {valid}")
        } else if !path.is_empty() && keys::names(Section::Root).contains(&key) {
            format!(
                "`{key}` is a top-level table, but a key below a `[table]` header belongs to that table; \
                 write `[{key}]` (or `[products.<address>]`) on its own line"
            )
        } else {
            format!("valid keys here: {valid}")
        };
        let place = if path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in `{path}`")
        };
        self.error(span, format!("unknown key `{key}` {place}"), hint);
    }
}

/// Whether a key names a RAM role to assume (`role`, `role_arn`, `assume_role`, `RoleArn` ...).
pub(super) fn names_role(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    key == "role" || key.starts_with("role_") || key.ends_with("_role") || key.starts_with("rolearn")
}

/// What the walk produced: the manifest when the document has no error.
pub(crate) fn check(doc: &ImDocument<&str>, checker: &mut Checker, source_hash: String) -> Option<Manifest> {
    let root = doc.as_table();
    let mut provider = None;
    let mut drafts = Vec::new();
    let mut products_span = None;
    let mut state = None;
    let mut provider_seen = false;
    for (key, item) in root.iter() {
        let key_span = root.key(key).and_then(|k| k.span());
        match key {
            "provider" => {
                provider_seen = true;
                provider = check_provider(checker, item, key_span);
            }
            "products" => {
                products_span = key_span.clone();
                drafts = products::check_products(checker, item, key_span);
            }
            "state" => state = check_state(checker, item, key_span),
            _ => checker.unknown_key("", key, key_span, Section::Root),
        }
    }
    if !provider_seen {
        let empty = doc.raw().trim().is_empty();
        let (message, hint) = if empty {
            (
                "the manifest is empty",
                "a manifest needs at least:\n[provider]\nregion = \"cn-hangzhou\"\n\n[products.pai]\ncode = \"PAI_share\"",
            )
        } else {
            (
                "missing table `[provider]`",
                "add `[provider]` with `region = \"cn-hangzhou\"` (the region whose endpoint takes the orders)",
            )
        };
        checker.error(None, message, hint.to_string());
    }
    let provider_region = provider.as_ref().map(|p: &Provider| p.region.clone());
    let products = products::finish(checker, drafts, products_span, provider_region.as_ref());
    if let Some(provider) = &provider {
        unused_endpoint_overrides(checker, provider, &products, root);
    }
    if checker.errors > 0 {
        return None;
    }
    Some(Manifest {
        provider: provider?,
        products,
        source_hash,
        state: state.flatten(),
    })
}

fn check_provider(checker: &mut Checker, item: &Item, key_span: Option<Span>) -> Option<Provider> {
    let table = values::table(checker, item, "provider", key_span.clone())?;
    let errors_before = checker.errors;
    let mut region = None;
    let mut auto_pay = true;
    let mut signature = SignatureVersion::default();
    let mut profile = None;
    let mut endpoint = None;
    let mut endpoints = BTreeMap::new();
    for (key, value) in table.iter() {
        let span = table.key(key).and_then(|k| k.span());
        let path = join("provider", key);
        match key {
            "region" => region = values::region(checker, value, &path),
            "auto_pay" => {
                auto_pay = values::boolean(checker, value, &path).unwrap_or(auto_pay);
                if value.as_bool() == Some(false) {
                    checker.warn(
                        value.span(),
                        "`auto_pay = false` buys nothing until someone pays the order in the console",
                        "apply records such an order `unpaid` with its OrderId and never orders it again; the plan \
                         shows it awaiting payment until ListProducts reports it purchased (see docs/manifest.md, \
                         `auto_pay`)"
                            .to_string(),
                    );
                }
            }
            "signature" => {
                if let Some((s, vspan)) = values::string(checker, value, &path, "signature = \"v3\"") {
                    match SignatureVersion::parse(s) {
                        Some(v) => signature = v,
                        None => checker.error(
                            vspan,
                            format!("unknown signature version `{s}`"),
                            format!(
                                "{} (`v3` is ACS3-HMAC-SHA256, the default; `v2` is ROA HMAC-SHA1)",
                                suggest::hint(s, &["v3", "v2"], "valid values")
                            ),
                        ),
                    }
                }
            }
            "profile" => {
                if let Some((s, vspan)) = values::string(checker, value, &path, "profile = \"ci\"") {
                    if s.trim().is_empty() {
                        checker.error(
                            vspan,
                            "`provider.profile` is empty",
                            "name an aliyun CLI profile, or remove the key".to_string(),
                        );
                    } else {
                        profile = Some(s.to_owned());
                    }
                }
            }
            "endpoint" => endpoint = values::endpoint(checker, value, &path),
            "endpoints" => endpoints = check_endpoints(checker, value, &path),
            _ => checker.unknown_key("provider", key, span, Section::Provider),
        }
    }
    let Some(region) = region else {
        if table.get("region").is_none() {
            checker.error(
                key_span.or_else(|| item.span()),
                "`[provider]` has no `region`",
                "add `region = \"cn-hangzhou\"`: the region whose endpoint takes the orders of products that \
                 name no region of their own"
                    .to_string(),
            );
        }
        return None;
    };
    (checker.errors == errors_before).then_some(Provider {
        region,
        auto_pay,
        signature,
        profile,
        endpoint,
        endpoints,
    })
}

fn check_endpoints(checker: &mut Checker, item: &Item, path: &str) -> BTreeMap<Region, String> {
    let mut out = BTreeMap::new();
    let Some(table) = values::table(checker, item, path, item.span()) else {
        return out;
    };
    for (key, value) in table.iter() {
        let span = table.key(key).and_then(|k| k.span());
        let url = values::endpoint(checker, value, &join(path, key));
        match Region::parse(key) {
            Ok(region) => {
                if let Some(url) = url {
                    out.insert(region, url);
                }
            }
            Err(_) => checker.error(
                span,
                format!("invalid region `{key}` in `{path}`"),
                values::region_hint(key),
            ),
        }
    }
    out
}

/// `[state]`: where the state lives (`url`: a SQLite path or a `postgres://` URL without a password).
fn check_state(checker: &mut Checker, item: &Item, key_span: Option<Span>) -> Option<Option<String>> {
    let table: &dyn TableLike = values::table(checker, item, "state", key_span.clone())?;
    let mut url = None;
    for (key, value) in table.iter() {
        let span = table.key(key).and_then(|k| k.span());
        match key {
            "url" => {
                if let Some((s, vspan)) =
                    values::string(checker, value, "state.url", "url = \"state/pai-provision.db\"")
                {
                    if s.trim().is_empty() {
                        checker.error(
                            vspan,
                            "`state.url` is empty",
                            "give a state location, or remove `[state]`".to_string(),
                        );
                    } else if let Some(scheme) = foreign_scheme(s) {
                        // Else the URL is taken for a file name, and the state lands in a local
                        // file that a CI runner throws away.
                        checker.error(
                            vspan,
                            format!("`state.url` has the scheme `{scheme}://`, which is not a state backend"),
                            "give a SQLite file path or a `postgres://` (`postgresql://`) URL".to_string(),
                        );
                    } else if url_has_password(s) {
                        // A manifest is committed to git: a password in it is a leaked password.
                        checker.error(
                            vspan,
                            "`state.url` carries a password",
                            "remove it and give the password in PGPASSWORD or ~/.pgpass".to_string(),
                        );
                    } else {
                        url = Some(s.to_owned());
                    }
                }
            }
            _ => checker.unknown_key("state", key, span, Section::State),
        }
    }
    if url.is_none() && table.get("url").is_none() {
        checker.error(
            key_span,
            "`[state]` has no `url`",
            "add `url = \"state/pai-provision.db\"`, or remove `[state]` to use the default".to_string(),
        );
    }
    Some(url)
}

/// The scheme of a `scheme://...` text that is not a PostgreSQL URL (RFC 3986's letters,
/// digits, `+`, `-`, `.`, starting with a letter). The state crate reads locations the same way.
fn foreign_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let looks_like_one = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let postgres = ["postgres", "postgresql"]
        .iter()
        .any(|p| scheme.eq_ignore_ascii_case(p));
    (looks_like_one && !postgres).then_some(scheme)
}

/// `scheme://user:password@host...`: a password between the scheme and the host.
fn url_has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// A per-region endpoint no product uses is most likely a typo in the region.
fn unused_endpoint_overrides(
    checker: &mut Checker,
    provider: &Provider,
    products: &BTreeMap<crate::model::Address, crate::model::Product>,
    root: &toml_edit::Table,
) {
    if checker.errors > 0 {
        return;
    }
    let endpoints = root
        .get("provider")
        .and_then(Item::as_table_like)
        .and_then(|p| p.get("endpoints"))
        .and_then(Item::as_table_like);
    for region in provider.endpoints.keys() {
        if products.values().any(|p| &p.region == region) {
            continue;
        }
        let span = endpoints.and_then(|t| t.key(region.as_str())).and_then(|k| k.span());
        let used: Vec<String> = products
            .values()
            .map(|p| format!("`{}`", p.region))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        checker.warn(
            span,
            format!("no product is ordered in `{region}`; its endpoint override is unused"),
            format!(
                "products are ordered in: {}",
                if used.is_empty() {
                    "(none)".to_string()
                } else {
                    used.join(", ")
                }
            ),
        );
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    let key = toml_edit::Key::new(key).display_repr().into_owned();
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}
