//! ROA HMAC-SHA1 (signature version 1.0), as `Utils.get_string_to_sign` and
//! `Utils.get_roasignature` of the official SDK compute it.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::Request;

/// `METHOD\nAccept\nContent-MD5\nContent-Type\nDate\n` + sorted `x-acs-*` headers + the path
/// with its sorted, unencoded query.
pub fn string_to_sign(req: &Request<'_>) -> String {
    let get = |name: &str| req.header(name).unwrap_or("");
    let mut out = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        req.method,
        get("accept"),
        get("content-md5"),
        get("content-type"),
        get("date")
    );
    let mut acs: Vec<(&str, &str)> = req
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-acs-"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    acs.sort();
    for (k, v) in acs {
        out.push_str(k);
        out.push(':');
        out.push_str(v);
        out.push('\n');
    }
    out.push_str(&canonical_resource(req.path, req.query));
    out
}

fn canonical_resource(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let joined = pairs
        .iter()
        .map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") })
        .collect::<Vec<_>>()
        .join("&");
    format!("{path}?{joined}")
}

/// Base64 HMAC-SHA1 of the string to sign.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value: `acs AK:signature`.
pub fn authorization(access_key_id: &str, secret: &str, req: &Request<'_>) -> String {
    format!("acs {access_key_id}:{}", signature(secret, &string_to_sign(req)))
}

/// Split `acs AK:signature` into its access key id and signature; `None` when malformed.
pub fn parse_authorization(value: &str) -> Option<(String, String)> {
    let rest = value.strip_prefix("acs ")?;
    let (ak, sig) = rest.rsplit_once(':')?;
    (!ak.is_empty() && !sig.is_empty()).then(|| (ak.to_owned(), sig.to_owned()))
}
