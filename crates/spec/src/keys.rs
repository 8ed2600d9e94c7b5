//! Every key a manifest may contain, in one table: [`KEYS`].
//!
//! The checker takes from it which keys a table accepts (anything else is an unknown key, with
//! a "did you mean" or the table where the key belongs), `fmt` takes the order keys are
//! written in, and "did you mean" takes the API's wire names that point to a key. Adding a key
//! is a row here, a field in the model, its arm in `check`, and its line in
//! `docs/manifest.md`; tests fail until the last two are there.

/// Where a key may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// The top level of the file.
    Root,
    /// `[provider]`.
    Provider,
    /// `[state]`.
    State,
    /// `[products.<address>]`.
    Product,
    /// The table form of an instance property, `properties.<code> = { value, name }`.
    Property,
}

impl Section {
    /// The other table whose keys are often written in this one by mistake.
    fn neighbour(self) -> Option<Section> {
        match self {
            Section::Provider => Some(Section::Product),
            Section::Product => Some(Section::Provider),
            Section::Root | Section::State | Section::Property => None,
        }
    }

    /// How a hint names the table: "belongs in `[provider]`".
    fn placement(self) -> &'static str {
        match self {
            Section::Root => "the top level",
            Section::Provider => "`[provider]`",
            Section::State => "`[state]`",
            Section::Product => "a `[products.<address>]` table",
            Section::Property => "an instance property's table",
        }
    }
}

/// What a key's value is, as `docs/manifest.md` names it in its "type" columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    String,
    Boolean,
    Integer,
    /// A table of keys of its own (`[provider]`, `properties`).
    Table,
    /// A table whose keys are chosen by the user and whose values are strings (`endpoints`).
    TableOfStrings,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::Integer => "integer",
            Kind::Table => "table",
            Kind::TableOfStrings => "table of strings",
        }
    }

    /// Written as a `key = value` line by `fmt`; tables become dotted keys after them.
    pub fn is_scalar(self) -> bool {
        matches!(self, Kind::String | Kind::Boolean | Kind::Integer)
    }
}

/// One row of [`KEYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestKey {
    pub name: &'static str,
    pub section: Section,
    pub kind: Kind,
    /// The table is refused without it.
    pub required: bool,
    /// Other spellings that mean this key, in snake_case: the API's wire names among them.
    pub aliases: &'static [&'static str],
    /// Said after where the key belongs when it is written in the wrong table.
    pub why_there: Option<&'static str>,
    /// A valid value, as TOML; empty for a table that is written from the rows of its own keys.
    pub example: &'static str,
    /// One line on what the key is for.
    pub about: &'static str,
}

const fn key(
    name: &'static str,
    section: Section,
    kind: Kind,
    example: &'static str,
    about: &'static str,
) -> ManifestKey {
    ManifestKey {
        name,
        section,
        kind,
        required: false,
        aliases: &[],
        why_there: None,
        example,
        about,
    }
}

const fn required(mut k: ManifestKey) -> ManifestKey {
    k.required = true;
    k
}

const fn aliases(mut k: ManifestKey, aliases: &'static [&'static str]) -> ManifestKey {
    k.aliases = aliases;
    k
}

const fn why_there(mut k: ManifestKey, why: &'static str) -> ManifestKey {
    k.why_there = Some(why);
    k
}

// Short names for the rows below.
use Kind::{Boolean, Integer, String as Str, Table, TableOfStrings};
use Section::{Product, Property, Provider, Root, State};

/// Every manifest key. Within a section the order is the order of `fmt` and of the
/// "valid keys here" hints.
pub const KEYS: &[ManifestKey] = &[
    required(key("provider", Root, Table, "", "where and how orders are placed")),
    key(
        "products",
        Root,
        Table,
        "",
        "the activations the account must have, by address",
    ),
    key("state", Root, Table, "", "where the state lives"),
    required(key(
        "region",
        Provider,
        Str,
        r#""cn-hangzhou""#,
        "the region whose endpoint orders products that name none",
    )),
    why_there(
        key(
            "auto_pay",
            Provider,
            Boolean,
            "true",
            "AutoPay: pay from the account balance",
        ),
        "AutoPay applies to a whole order",
    ),
    key(
        "signature",
        Provider,
        Str,
        r#""v3""#,
        "the request signature, `v3` or `v2`",
    ),
    key(
        "profile",
        Provider,
        Str,
        r#""ci""#,
        "an aliyun CLI profile to take credentials from",
    ),
    key(
        "endpoint",
        Provider,
        Str,
        r#""https://aiworkspace.{region}.aliyuncs.com""#,
        "a base URL for every region",
    ),
    key(
        "endpoints",
        Provider,
        TableOfStrings,
        r#"{ cn-hangzhou = "http://127.0.0.1:8081" }"#,
        "per-region base URLs",
    ),
    required(key(
        "url",
        State,
        Str,
        r#""state/pai-provision.db""#,
        "a SQLite path or a postgres:// URL",
    )),
    required(aliases(
        key("code", Product, Str, r#""OSS_share""#, "the product code"),
        &["product_code", "product"],
    )),
    key(
        "region",
        Product,
        Str,
        r#""cn-hangzhou""#,
        "the region whose endpoint orders it",
    ),
    key("charge_type", Product, Str, r#""POSTPAY""#, "ChargeType"),
    key("order_type", Product, Str, r#""BUY""#, "OrderType"),
    key("pricing_cycle", Product, Str, r#""Hour""#, "PricingCycle"),
    key("duration", Product, Integer, "1", "Duration"),
    key("auto_renew", Product, Boolean, "false", "AutoRenew"),
    aliases(
        key("properties", Product, Table, "", "the InstanceProperties, by Code"),
        &["instance_properties", "props", "property"],
    ),
    required(key("value", Property, Str, r#""oss""#, "the property's Value")),
    key(
        "name",
        Property,
        Str,
        r#""Object Storage Service""#,
        "the property's Name",
    ),
];

/// The rows of one section, in order.
pub fn in_section(section: Section) -> impl Iterator<Item = &'static ManifestKey> {
    KEYS.iter().filter(move |k| k.section == section)
}

/// The names of one section's keys, in order.
pub fn names(section: Section) -> Vec<&'static str> {
    in_section(section).map(|k| k.name).collect()
}

/// The key an alias stands for (`product_code` for `code`), if any.
pub(crate) fn alias_of(snake: &str) -> Option<&'static str> {
    KEYS.iter().find(|k| k.aliases.contains(&snake)).map(|k| k.name)
}

/// Where a key unknown in `section` belongs instead, with the reason when there is one:
/// "`[provider]` (AutoPay applies to a whole order)".
pub(crate) fn belongs_elsewhere(section: Section, name: &str) -> Option<String> {
    let other = section.neighbour()?;
    let found = in_section(other).find(|k| k.name == name)?;
    Some(match found.why_there {
        Some(why) => format!("{} ({why})", other.placement()),
        None => other.placement().to_owned(),
    })
}

#[cfg(test)]
mod tests;
