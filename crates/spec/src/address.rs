//! The two names a manifest gives things, [`Address`] and [`Region`], and how they read in text.
//! They are checked once, here, whether they come from a manifest, a saved plan, the state or
//! a command line.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The table that holds the products: `products` in `[products.pai]` and in `products.pai`.
const PRODUCTS: &str = "products";

/// The stable name of a product in plans and state: the `dataworks` of `[products.dataworks]`.
///
/// Syntax: a lower-case ASCII letter, then lower-case letters, digits, `_` or `-`, at most 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address(String);

/// A string that is not an [`Address`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid address `{input}`: use a lower-case letter followed by lower-case letters, digits, `_` or `-` (at most 64)"
)]
pub struct AddressError {
    input: String,
}

impl AddressError {
    /// The text that was refused (without a `products.` prefix it came with).
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl Address {
    /// The bare address, `pai`; see [`Address::parse_qualified`] for `products.pai`.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let mut chars = s.chars();
        let ok_first = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let ok_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if ok_first && ok_rest && s.len() <= 64 {
            Ok(Address(s.to_owned()))
        } else {
            Err(AddressError { input: s.to_owned() })
        }
    }

    /// What people type on a command line or find in a plan: `pai` or `products.pai`.
    pub fn parse_qualified(s: &str) -> Result<Self, AddressError> {
        let bare = s.strip_prefix(PRODUCTS).and_then(|rest| rest.strip_prefix('.'));
        Address::parse(bare.unwrap_or(s))
    }

    /// `products.pai`: how an address reads in text, as in the manifest's table header. An
    /// address never needs TOML quoting, so this is also the header's exact key.
    pub fn qualified(&self) -> String {
        format!("{PRODUCTS}.{}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, AddressError> {
        Address::parse(&s)
    }
}
impl From<Address> for String {
    fn from(a: Address) -> String {
        a.0
    }
}
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Alibaba Cloud region id such as `cn-hangzhou` or `ap-southeast-1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

/// A string that is not a [`Region`] id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid region `{input}`: expected a region id like `cn-hangzhou` or `ap-southeast-1`")]
pub struct RegionError {
    input: String,
}

impl RegionError {
    /// The text that was refused.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl Region {
    /// Lower-case ASCII words joined by `-`, at least two of them, the first alphabetic
    /// (`cn-hangzhou`, `ap-southeast-1`, `cn-hangzhou-finance`).
    pub fn parse(s: &str) -> Result<Self, RegionError> {
        let parts: Vec<&str> = s.split('-').collect();
        let word_ok = |w: &&str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let first_alpha = parts
            .first()
            .is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()));
        if parts.len() >= 2 && parts.iter().all(word_ok) && first_alpha && s.len() <= 40 {
            Ok(Region(s.to_owned()))
        } else {
            Err(RegionError { input: s.to_owned() })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Region {
    type Error = RegionError;
    fn try_from(s: String) -> Result<Self, RegionError> {
        Region::parse(&s)
    }
}
impl From<Region> for String {
    fn from(r: Region) -> String {
        r.0
    }
}
impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_regions() {
        for ok in ["pai", "data-works_2"] {
            assert!(Address::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Pai", "1pai", "p ai", "p.ai"] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        for ok in ["cn-hangzhou", "ap-southeast-1", "cn-hangzhou-finance"] {
            assert!(Region::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "hangzhou", "CN-hangzhou", "cn_hangzhou", "1cn-x", "cn-", "cn--x"] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qualified_addresses_read_back() {
        let cases: [(&str, Result<&str, &str>); 7] = [
            ("pai", Ok("pai")),
            ("products.pai", Ok("pai")),
            ("products.data-works_2", Ok("data-works_2")),
            // The prefix is taken off once: an address cannot contain a dot.
            ("products.products.pai", Err("products.pai")),
            ("products.", Err("")),
            ("products", Ok("products")),
            ("Products.pai", Err("Products.pai")),
        ];
        for (input, want) in cases {
            let got = Address::parse_qualified(input);
            match want {
                Ok(bare) => {
                    let address = got.unwrap_or_else(|e| panic!("{input}: {e}"));
                    assert_eq!(address.as_str(), bare, "{input}");
                    assert_eq!(address.qualified(), format!("products.{bare}"), "{input}");
                    assert_eq!(Address::parse_qualified(&address.qualified()), Ok(address), "{input}");
                }
                Err(refused) => assert_eq!(
                    got.map_err(|e| e.input().to_owned()),
                    Err(refused.to_owned()),
                    "{input}"
                ),
            }
        }
    }

    #[test]
    fn errors_read_as_before() {
        assert_eq!(
            Address::parse("Pai").unwrap_err().to_string(),
            "invalid address `Pai`: use a lower-case letter followed by lower-case letters, digits, `_` or `-` \
             (at most 64)"
        );
        assert_eq!(
            Region::parse("hangzhou").unwrap_err().to_string(),
            "invalid region `hangzhou`: expected a region id like `cn-hangzhou` or `ap-southeast-1`"
        );
        let err = serde_json::from_str::<Address>("\"P\"").unwrap_err().to_string();
        assert!(err.contains("invalid address `P`"), "{err}");
    }
}
