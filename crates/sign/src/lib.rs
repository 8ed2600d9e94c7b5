//! Request signing for Alibaba Cloud's ROA APIs, exactly as the official SDK computes it.
//!
//! Both the API client (which signs) and the emulator (which verifies) use this crate, so a
//! mistake here would be invisible between them: the test vectors in `tests/vectors.rs` were
//! computed with the official SDK's own functions, and the conformance tests check each side
//! against the SDK itself.
//!
//! Modules:
//! - [`v3`]: ACS3-HMAC-SHA256, the SDK's default; signs every header given and the body hash.
//! - [`v2`]: ROA HMAC-SHA1 (signature version 1.0); signs `x-acs-*` headers and the unencoded query.
//! - [`wire`]: the AIWorkSpace wire contract (API version, each operation's action, method and
//!   path), so that client and emulator name them once.

pub mod v2;
pub mod v3;
pub mod wire;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// One HTTP request as the signer sees it.
///
/// `query` holds raw (unencoded) values; `headers` hold lower-case names and exact values.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The value of a header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (Python's
/// `urllib.parse.quote(s, safe='~')`, which the SDK uses for the canonical query).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encode a query key or value as the SDK does on the wire and in the v3 canonical query.
pub fn encode_query_component(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// The query string as the SDK puts it on the wire: keys sorted, each key and value encoded.
pub fn encode_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_query_component(k), encode_query_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Compare two signatures without leaking, through timing, how long a prefix matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_matches_python_quote() {
        let cases = [
            ("PAI_share,OSS_share", "PAI_share%2COSS_share"),
            ("a b/c~d", "a%20b%2Fc~d"),
            ("对象", "%E5%AF%B9%E8%B1%A1"),
            ("A-Z.a_z~0*", "A-Z.a_z~0%2A"),
        ];
        for (raw, want) in cases {
            assert_eq!(encode_query_component(raw), want, "{raw}");
        }
    }

    #[test]
    fn constant_time_eq_compares_contents_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
