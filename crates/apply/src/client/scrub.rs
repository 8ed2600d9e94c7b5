//! Cleaning server text of the request's own secrets before anything keeps it.
//!
//! The service echoes what it received: a `SignatureDoesNotMatch` message carries the server's
//! string to sign (ROA v2 signs every `x-acs-*` header, so with STS credentials it holds the
//! `x-acs-security-token` value; the v3 canonical request lists it too). Everything the server
//! says passes through [`clean`] where it enters an [`ApiError`](super::ApiError) or a log line,
//! so the output, the logs at any verbosity, the state, its history and a plan never see it.

use super::request::{SignedRequest, SENSITIVE_HEADERS};
use crate::credentials::Credentials;

/// What replaces a removed value.
pub const REDACTED: &str = "***";

/// Phrases after which a server quotes what it signed; everything after one is dropped, since a
/// string to sign or canonical request is request material even where no secret is in it.
const MARKERS: [&str; 8] = [
    "string to sign",
    "stringtosign",
    "string-to-sign",
    "string_to_sign",
    "canonical request",
    "canonicalrequest",
    "canonical-request",
    "canonical_request",
];

/// The secret values of one request: the access key secret, the STS token, the `Authorization`
/// value and the signature in it. Never printed: its `Debug` shows only how many there are.
#[derive(Clone, Default)]
pub struct RequestMaterial {
    values: Vec<String>,
}

impl std::fmt::Debug for RequestMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestMaterial({} values)", self.values.len())
    }
}

impl RequestMaterial {
    /// No material: [`clean`] still cuts quoted strings to sign.
    pub fn none() -> Self {
        RequestMaterial::default()
    }

    /// The material of a request signed with `creds`.
    pub fn of(creds: &Credentials, signed: &SignedRequest) -> Self {
        let mut material = RequestMaterial::none();
        material.add(creds.access_key_secret.expose());
        if let Some(token) = &creds.security_token {
            material.add(token.expose());
        }
        for (name, value) in &signed.headers {
            if SENSITIVE_HEADERS.contains(&name.as_str()) {
                material.add(value);
            }
        }
        if let Some(auth) = signed.header("authorization") {
            material.add(signature_of(auth));
        }
        material
    }

    /// Add a secret value, with the encodings a server may quote it in (percent-encoded as in
    /// a query, `+` for a space as in a form, JSON's escaped slash).
    pub fn add(&mut self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut forms = vec![
            value.to_owned(),
            pai_sign::encode_query_component(value),
            pai_sign::encode_query_component(value).replace("%20", "+"),
            value.replace('/', "\\/"),
        ];
        // Lower-case percent escapes, as some servers write them.
        forms.push(lower_escapes(&forms[1]));
        for form in forms {
            if !self.values.contains(&form) {
                self.values.push(form);
            }
        }
        // Longest first, so that a value is replaced whole before any part of it could be.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// The signature in an `Authorization` value: v3's `Signature=...`, v2's text after the last `:`.
fn signature_of(authorization: &str) -> &str {
    match authorization.split_once("Signature=") {
        Some((_, signature)) => signature.trim(),
        None => authorization
            .rsplit_once(':')
            .map_or("", |(_, signature)| signature.trim()),
    }
}

fn lower_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let escape = rest.get(pos..pos + 3).unwrap_or(&rest[pos..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[pos + escape.len()..];
    }
    out.push_str(rest);
    out
}

/// Server text without request material: everything after a "string to sign" or "canonical
/// request" marker is dropped, and every secret value left is replaced by [`REDACTED`].
pub fn clean(text: &str, material: &RequestMaterial) -> String {
    redact_values(&cut_echo(text), material)
}

/// Only replace secret values, keeping the text's shape: for a success body, which must still
/// parse as JSON.
pub fn redact_values(text: &str, material: &RequestMaterial) -> String {
    let mut out = text.to_owned();
    for value in &material.values {
        if out.contains(value.as_str()) {
            out = out.replace(value.as_str(), REDACTED);
        }
    }
    out
}

/// Drop what follows the first marker (the marker, an ` is` and a `:` stay, so the reader knows
/// what was removed).
fn cut_echo(text: &str) -> String {
    // ASCII lower-casing keeps every byte offset, so positions found in `lower` hold in `text`.
    let lower = text.to_ascii_lowercase();
    let Some((start, marker)) = MARKERS
        .iter()
        .filter_map(|m| lower.find(m).map(|at| (at, *m)))
        .min_by_key(|(at, _)| *at)
    else {
        return text.to_owned();
    };
    let mut end = start + marker.len();
    let after = &lower[end..];
    let trimmed = after.trim_start();
    if let Some(rest) = trimmed.strip_prefix("is") {
        if !rest.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            end += after.len() - rest.len();
        }
    }
    let after = &lower[end..];
    if let Some(rest) = after.trim_start().strip_prefix(':') {
        end += after.len() - rest.len();
    }
    format!("{} [removed]", text[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use pai_sign::wire;
    use pai_spec::SignatureVersion;
    use time::OffsetDateTime;

    use super::*;
    use crate::client::request::{sign, Call, SigningContext};

    const SECRET: &str = "Scrub-Secret/with+chars=";
    const TOKEN: &str = "CAIS+Scrub/Token==";

    fn signed(version: SignatureVersion, creds: &Credentials) -> SignedRequest {
        let call = Call::new(
            wire::LIST_PRODUCTS,
            vec![("ProductCodes".into(), "PAI_share".into())],
            None,
        );
        let ctx = SigningContext {
            host: "aiworkspace.cn-hangzhou.aliyuncs.com".into(),
            at: OffsetDateTime::UNIX_EPOCH,
            nonce: "nonce".into(),
            user_agent: None,
            retry: None,
        };
        sign(version, &call, &ctx, creds)
    }

    fn request_for(version: SignatureVersion, signed: &SignedRequest) -> String {
        let request = pai_sign::Request {
            method: signed.method,
            path: signed.path,
            query: &signed.query,
            headers: &signed.headers,
            body: &signed.body,
        };
        match version {
            SignatureVersion::V2 => pai_sign::v2::string_to_sign(&request),
            SignatureVersion::V3 => pai_sign::v3::canonical_request(&request),
        }
    }

    #[test]
    fn echoed_requests_lose_every_secret() {
        let creds = Credentials::new("LTAI-scrub", SECRET).with_security_token(TOKEN);
        for version in [SignatureVersion::V2, SignatureVersion::V3] {
            let signed = signed(version, &creds);
            let material = RequestMaterial::of(&creds, &signed);
            let echoed = request_for(version, &signed);
            assert!(echoed.contains(TOKEN), "{version:?}: the echo holds the token");
            let auth = signed.header("authorization").unwrap_or_default().to_owned();
            let signature = signature_of(&auth).to_owned();
            let table = [
                (
                    format!(
                        "Specified signature is not matched with our calculation. server string to sign is:{echoed}"
                    ),
                    "Specified signature is not matched with our calculation. server string to sign is: [removed]",
                ),
                (
                    format!("The request signature does not conform. Canonical request: {echoed}"),
                    "The request signature does not conform. Canonical request: [removed]",
                ),
                (format!("token {TOKEN} expired"), "token *** expired"),
                (format!("bad secret {SECRET}."), "bad secret ***."),
                (
                    format!("q=x-acs-security-token%3A{}&y", pai_sign::encode_query_component(TOKEN)),
                    "q=x-acs-security-token%3A***&y",
                ),
                (format!("expected {signature}"), "expected ***"),
                (format!("got {auth}"), "got ***"),
                ("StringToSign mismatch".to_owned(), "StringToSign [removed]"),
                ("plain message".to_owned(), "plain message"),
                (String::new(), ""),
            ];
            for (input, want) in table {
                let got = clean(&input, &material);
                assert_eq!(got, want, "{version:?}: {input}");
                for secret in [SECRET, TOKEN, signature.as_str(), auth.as_str()] {
                    assert!(!got.contains(secret), "{version:?}: {got}");
                }
            }
        }
    }

    #[test]
    fn without_sts_the_secret_and_signature_still_go() {
        let creds = Credentials::new("LTAI-scrub", SECRET);
        let signed = signed(SignatureVersion::V2, &creds);
        let material = RequestMaterial::of(&creds, &signed);
        let auth = signed.header("authorization").unwrap_or_default();
        let got = clean(&format!("{auth} / {SECRET}"), &material);
        assert_eq!(got, "*** / ***");
        assert!(!format!("{material:?}").contains(SECRET));
    }

    #[test]
    fn values_only_keeps_json_valid() {
        let creds = Credentials::new("LTAI-scrub", SECRET).with_security_token(TOKEN);
        let signed = signed(SignatureVersion::V3, &creds);
        let material = RequestMaterial::of(&creds, &signed);
        let body = format!(r#"{{"Message":"echo {TOKEN} string to sign is: x","RequestId":"R"}}"#);
        let got = redact_values(&body, &material);
        assert_eq!(got, r#"{"Message":"echo *** string to sign is: x","RequestId":"R"}"#);
        assert!(serde_json::from_str::<serde_json::Value>(&got).is_ok());
        assert_eq!(lower_escapes("a%2Fb%3D"), "a%2fb%3d");
        assert_eq!(clean("a%2fb", &RequestMaterial::none()), "a%2fb");
    }
}
