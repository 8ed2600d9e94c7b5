//! Request authentication, as strict as the POP gateway: both signature versions, the clock
//! skew window, nonce replay, unknown keys and STS tokens.
//!
//! The server rebuilds what the client signed from the request it actually received, with the
//! same `pai-sign` functions the client uses; what keeps both honest is that the official SDK
//! is accepted by it (tests/sdk_conformance.rs).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use md5::{Digest, Md5};
use pai_sign::{constant_time_eq, v2, v3, wire, Request};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::error::ApiError;
use crate::ledger::Caller;

const ISO_8601: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// The verifier's strict reading of a request's headers (lower-case names, every value in
/// arrival order): a header given twice is an error, since a gateway and a signer could each
/// pick a different one.
pub trait StrictHeaders<'a> {
    /// The single value of a header.
    fn single_header(&self, name: &str) -> Result<Option<&'a str>, ApiError>;
    /// The single value of a header that must be present.
    fn required_header(&self, name: &str) -> Result<&'a str, ApiError>;
    fn has_header(&self, name: &str) -> bool;
}

impl<'a> StrictHeaders<'a> for Request<'a> {
    fn single_header(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        let headers: &'a [(String, String)] = self.headers;
        let mut values = headers.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(ApiError::incomplete_signature(format!(
                "Header `{name}` is given more than once."
            )));
        }
        Ok(first)
    }

    fn required_header(&self, name: &str) -> Result<&'a str, ApiError> {
        self.single_header(name)?
            .ok_or_else(|| ApiError::incomplete_signature(format!("Header `{name}` is required.")))
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(k, _)| k == name)
    }
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub access_key_id: String,
    pub signature: &'static str,
    pub sts: bool,
    /// The account the request acts in.
    pub account: String,
    /// The role session, for a key issued by `AssumeRole`.
    pub caller: Option<Caller>,
}

/// A credential issued by the emulator's STS.
#[derive(Clone)]
pub struct StsKey {
    pub secret: String,
    pub token: String,
    pub expires: OffsetDateTime,
    /// The account its requests act in.
    pub account: String,
    /// The role session it belongs to, when issued by `AssumeRole`.
    pub caller: Option<Caller>,
}

enum KeyEntry {
    Fixed { secret: String },
    Sts(StsKey),
}

impl KeyEntry {
    fn secret(&self) -> &str {
        match self {
            KeyEntry::Fixed { secret } => secret,
            KeyEntry::Sts(k) => &k.secret,
        }
    }
}

/// The access keys the emulator accepts: the configured pairs (which act in the home
/// account), and those its STS issued.
pub struct Keys {
    fixed: HashMap<String, String>,
    home: String,
    sts: Mutex<IssuedKeys>,
}

struct IssuedKeys {
    keys: HashMap<String, StsKey>,
    last_prune: OffsetDateTime,
}

/// How long an expired STS key is remembered, so that its use is answered `Expired` rather
/// than `NotFound`.
const STS_GRACE: time::Duration = time::Duration::days(1);

impl Keys {
    /// The pairs, acting in the [default home account](crate::DEFAULT_HOME_ACCOUNT).
    pub fn new(pairs: &[(String, String)]) -> Keys {
        Keys::with_home(pairs, crate::DEFAULT_HOME_ACCOUNT)
    }

    /// The pairs, acting in `home`.
    pub fn with_home(pairs: &[(String, String)], home: &str) -> Keys {
        Keys {
            fixed: pairs.iter().cloned().collect(),
            home: home.to_owned(),
            sts: Mutex::new(IssuedKeys {
                keys: HashMap::new(),
                last_prune: OffsetDateTime::UNIX_EPOCH,
            }),
        }
    }

    /// The account the configured keys act in.
    pub fn home(&self) -> &str {
        &self.home
    }

    pub fn insert_sts(&self, access_key_id: String, key: StsKey, now: OffsetDateTime) {
        let mut sts = self.sts.lock().unwrap_or_else(|e| e.into_inner());
        // Pruned once a minute, not at every insert: a fleet assumes thousands of roles.
        if now - sts.last_prune > time::Duration::minutes(1) {
            sts.keys.retain(|_, k| k.expires + STS_GRACE > now);
            sts.last_prune = now;
        }
        sts.keys.insert(access_key_id, key);
    }

    fn lookup(&self, access_key_id: &str) -> Option<KeyEntry> {
        if let Some(secret) = self.fixed.get(access_key_id) {
            return Some(KeyEntry::Fixed { secret: secret.clone() });
        }
        let sts = self.sts.lock().unwrap_or_else(|e| e.into_inner());
        sts.keys.get(access_key_id).cloned().map(KeyEntry::Sts)
    }

    /// Who a verified key is.
    fn identity(&self, access_key_id: String, signature: &'static str, key: &KeyEntry) -> Identity {
        let (account, caller) = match key {
            KeyEntry::Fixed { .. } => (self.home.clone(), None),
            KeyEntry::Sts(k) => (k.account.clone(), k.caller.clone()),
        };
        Identity {
            access_key_id,
            signature,
            sts: matches!(key, KeyEntry::Sts(_)),
            account,
            caller,
        }
    }
}

/// Nonces seen recently, per access key. A nonce must be kept as long as a request carrying it
/// could still pass the clock check: twice the skew window covers timestamps from the future.
pub struct NonceCache {
    seen: HashMap<(String, String), OffsetDateTime>,
    last_prune: OffsetDateTime,
}

impl Default for NonceCache {
    fn default() -> Self {
        NonceCache {
            seen: HashMap::new(),
            last_prune: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

impl NonceCache {
    /// Record the nonce; `false` when it was already used.
    pub fn check_and_record(
        &mut self,
        access_key_id: &str,
        nonce: &str,
        now: OffsetDateTime,
        max_skew: Duration,
    ) -> bool {
        let keep = time::Duration::try_from(max_skew * 2).unwrap_or(time::Duration::MAX);
        if now - self.last_prune > time::Duration::minutes(1) {
            self.seen.retain(|_, at| now - *at <= keep);
            self.last_prune = now;
        }
        let key = (access_key_id.to_owned(), nonce.to_owned());
        match self.seen.get(&key) {
            Some(at) if now - *at <= keep => false,
            _ => {
                self.seen.insert(key, now);
                true
            }
        }
    }
}

/// What a signature is checked against, the same for both versions.
#[derive(Clone, Copy)]
struct Expect<'k> {
    action: &'k str,
    version: &'k str,
    keys: &'k Keys,
    now: OffsetDateTime,
    max_skew: Duration,
}

/// Check every part of a request's signature for the AIWorkSpace API `action`; record its
/// nonce.
pub fn authenticate(
    req: &Request<'_>,
    action: &str,
    keys: &Keys,
    nonces: &Mutex<NonceCache>,
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<Identity, ApiError> {
    authenticate_for(req, action, wire::API_VERSION, keys, nonces, now, max_skew)
}

/// [`authenticate`], for the API `action` of version `version` (STS, Resource Manager).
/// An RPC API (any version but AIWorkSpace's) takes ACS3-HMAC-SHA256 only: the ROA
/// HMAC-SHA1 signature is AIWorkSpace's older way and no RPC gateway reads it.
pub fn authenticate_for(
    req: &Request<'_>,
    action: &str,
    version: &str,
    keys: &Keys,
    nonces: &Mutex<NonceCache>,
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<Identity, ApiError> {
    let expect = Expect {
        action,
        version,
        keys,
        now,
        max_skew,
    };
    let authorization = req
        .single_header("authorization")?
        .ok_or_else(|| ApiError::incomplete_signature("The Authorization header is missing."))?;
    let rpc = version != wire::API_VERSION;
    let (identity, nonce) = if authorization.starts_with("ACS3-HMAC-SHA256 ") {
        verify_v3(req, authorization, expect)?
    } else if let Some(rest) = authorization.strip_prefix("ACS3-") {
        let algorithm = rest.split(' ').next().unwrap_or_default();
        return Err(ApiError::invalid_signature_method(format!(
            "ACS3-{algorithm} is not supported; use ACS3-HMAC-SHA256."
        )));
    } else if authorization.starts_with("acs ") && !rpc {
        verify_v2(req, authorization, expect)?
    } else {
        return Err(ApiError::incomplete_signature(
            "The Authorization header is neither `ACS3-HMAC-SHA256 Credential=..` nor `acs AK:signature`.",
        ));
    };
    let mut cache = nonces.lock().unwrap_or_else(|e| e.into_inner());
    if !cache.check_and_record(&identity.access_key_id, nonce, now, max_skew) {
        return Err(ApiError::nonce_used());
    }
    Ok(identity)
}

fn verify_v3<'a>(req: &Request<'a>, authorization: &str, expect: Expect<'_>) -> Result<(Identity, &'a str), ApiError> {
    let auth = v3::parse_authorization(authorization)
        .ok_or_else(|| ApiError::incomplete_signature("The Authorization header is malformed."))?;
    let signed: BTreeSet<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    for name in &signed {
        if !req.has_header(name) {
            return Err(ApiError::incomplete_signature(format!(
                "Signed header `{name}` is not in the request."
            )));
        }
    }
    let mut must_sign = vec![
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ];
    if !req.body.is_empty() {
        must_sign.push("content-type");
    }
    for optional in ["content-type", "x-acs-security-token", "x-acs-accesskey-id"] {
        if req.has_header(optional) && !must_sign.contains(&optional) {
            must_sign.push(optional);
        }
    }
    for name in must_sign {
        req.required_header(name)?;
        if !signed.contains(name) {
            return Err(ApiError::incomplete_signature(format!(
                "Header `{name}` must be in SignedHeaders."
            )));
        }
    }
    check_action_and_version(req, expect.action, expect.version)?;
    let date = req.required_header("x-acs-date")?;
    let at = PrimitiveDateTime::parse(date, ISO_8601)
        .map_err(|_| ApiError::timestamp_format("x-acs-date"))?
        .assume_utc();
    check_skew(at, expect.now, expect.max_skew)?;
    if req.required_header("x-acs-content-sha256")? != v3::content_sha256(req.body) {
        return Err(ApiError::signature_mismatch(Some(
            "x-acs-content-sha256 does not match the request body.",
        )));
    }
    let key = expect
        .keys
        .lookup(&auth.access_key_id)
        .ok_or_else(ApiError::access_key_not_found)?;
    if let Some(id) = req.single_header("x-acs-accesskey-id")? {
        if id != auth.access_key_id {
            return Err(ApiError::incomplete_signature(
                "x-acs-accesskey-id does not match the Authorization credential.",
            ));
        }
    }
    check_token(&key, req.single_header("x-acs-security-token")?, expect.now)?;
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(k, _)| signed.contains(k.as_str()))
        .cloned()
        .collect();
    let canonical = v3::canonical_request(&Request {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: &headers,
        body: req.body,
    });
    let expected = v3::signature(key.secret(), &canonical);
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(ApiError::signature_mismatch_of(canonical));
    }
    let identity = expect.keys.identity(auth.access_key_id, "v3", &key);
    Ok((identity, req.required_header("x-acs-signature-nonce")?))
}

fn verify_v2<'a>(req: &Request<'a>, authorization: &str, expect: Expect<'_>) -> Result<(Identity, &'a str), ApiError> {
    let (access_key_id, signature) = v2::parse_authorization(authorization)
        .ok_or_else(|| ApiError::incomplete_signature("The Authorization header is malformed."))?;
    let mut required = vec![
        "date",
        "x-acs-signature-nonce",
        "x-acs-signature-method",
        "x-acs-signature-version",
        "x-acs-version",
        "x-acs-action",
    ];
    if !req.body.is_empty() {
        required.push("content-type");
    }
    for name in required {
        req.required_header(name)?;
    }
    let method = req.required_header("x-acs-signature-method")?;
    if method != "HMAC-SHA1" {
        return Err(ApiError::invalid_signature_method(format!(
            "x-acs-signature-method `{method}` is not supported; use HMAC-SHA1."
        )));
    }
    let version = req.required_header("x-acs-signature-version")?;
    if version != "1.0" {
        return Err(ApiError::invalid_signature_method(format!(
            "x-acs-signature-version `{version}` is not supported; use 1.0."
        )));
    }
    check_action_and_version(req, expect.action, expect.version)?;
    let date = req.required_header("date")?;
    let at = httpdate::parse_http_date(date).map_err(|_| ApiError::timestamp_format("Date"))?;
    check_skew(OffsetDateTime::from(at), expect.now, expect.max_skew)?;
    // The ROA signature does not cover the body; Content-MD5, when sent, is what binds it.
    if let Some(md5) = req.single_header("content-md5")? {
        let actual = base64::engine::general_purpose::STANDARD.encode(Md5::digest(req.body));
        if md5 != actual {
            return Err(ApiError::signature_mismatch(Some(
                "Content-MD5 does not match the request body.",
            )));
        }
    }
    let key = expect
        .keys
        .lookup(&access_key_id)
        .ok_or_else(ApiError::access_key_not_found)?;
    if let Some(id) = req.single_header("x-acs-accesskey-id")? {
        if id != access_key_id {
            return Err(ApiError::incomplete_signature(
                "x-acs-accesskey-id does not match the Authorization header.",
            ));
        }
    }
    check_token(&key, req.single_header("x-acs-security-token")?, expect.now)?;
    let string_to_sign = v2::string_to_sign(&Request {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: req.headers,
        body: req.body,
    });
    let expected = v2::signature(key.secret(), &string_to_sign);
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(ApiError::signature_mismatch_of(string_to_sign));
    }
    let identity = expect.keys.identity(access_key_id, "v2", &key);
    Ok((identity, req.required_header("x-acs-signature-nonce")?))
}

fn check_action_and_version(req: &Request<'_>, action: &str, want_version: &str) -> Result<(), ApiError> {
    let version = req.required_header("x-acs-version")?;
    if version != want_version {
        return Err(ApiError::invalid_version(version, want_version));
    }
    let named = req.required_header("x-acs-action")?;
    if named != action {
        return Err(ApiError::action_not_found(named));
    }
    Ok(())
}

fn check_skew(at: OffsetDateTime, now: OffsetDateTime, max_skew: Duration) -> Result<(), ApiError> {
    let skew = (now - at).unsigned_abs();
    if skew > max_skew {
        return Err(ApiError::timestamp_expired());
    }
    Ok(())
}

fn check_token(key: &KeyEntry, token: Option<&str>, now: OffsetDateTime) -> Result<(), ApiError> {
    match (key, token) {
        (KeyEntry::Fixed { .. }, None) => Ok(()),
        (KeyEntry::Fixed { .. }, Some(_)) => Err(ApiError::security_token_mismatch()),
        (KeyEntry::Sts(_), None) => Err(ApiError::missing_security_token()),
        (KeyEntry::Sts(k), Some(got)) => {
            if !constant_time_eq(k.token.as_bytes(), got.as_bytes()) {
                Err(ApiError::security_token_mismatch())
            } else if now >= k.expires {
                Err(ApiError::security_token_expired())
            } else {
                Ok(())
            }
        }
    }
}

/// `x-acs-date` for a moment, as the SDK writes it.
pub fn iso_8601(at: OffsetDateTime) -> String {
    at.format(ISO_8601).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW: Duration = Duration::from_secs(900);

    fn at(s: &str) -> OffsetDateTime {
        PrimitiveDateTime::parse(s, ISO_8601).unwrap().assume_utc()
    }

    #[test]
    fn nonce_is_single_use_within_the_window() {
        let mut cache = NonceCache::default();
        let t0 = at("2026-11-26T09:00:00Z");
        assert!(cache.check_and_record("ak", "n1", t0, SKEW));
        assert!(!cache.check_and_record("ak", "n1", t0 + time::Duration::minutes(29), SKEW));
        assert!(cache.check_and_record("other", "n1", t0, SKEW), "nonces are per key");
        assert!(cache.check_and_record("ak", "n2", t0, SKEW));
        // Past twice the window the old request would fail the clock check anyway.
        assert!(cache.check_and_record("ak", "n1", t0 + time::Duration::minutes(31), SKEW));
    }

    #[test]
    fn skew_is_symmetric() {
        let now = at("2026-11-26T09:00:00Z");
        for (date, ok) in [
            ("2026-11-26T09:00:00Z", true),
            ("2026-11-26T08:45:00Z", true),
            ("2026-11-26T09:15:00Z", true),
            ("2026-11-26T08:44:59Z", false),
            ("2026-11-26T09:15:01Z", false),
        ] {
            assert_eq!(check_skew(at(date), now, SKEW).is_ok(), ok, "{date}");
        }
        assert_eq!(iso_8601(now), "2026-11-26T09:00:00Z");
    }

    #[test]
    fn sts_tokens_are_checked() {
        let now = at("2026-11-26T09:00:00Z");
        let keys = Keys::new(&[("fixed".into(), "s".into())]);
        keys.insert_sts(
            "STS.a".into(),
            StsKey {
                secret: "s2".into(),
                token: "tok".into(),
                expires: now + time::Duration::hours(1),
                account: "2000000000000001".into(),
                caller: None,
            },
            now,
        );
        let fixed = keys.lookup("fixed").unwrap();
        assert_eq!(
            keys.identity("fixed".into(), "v3", &fixed).account,
            crate::DEFAULT_HOME_ACCOUNT
        );
        let sts = keys.lookup("STS.a").unwrap();
        assert_eq!(keys.identity("STS.a".into(), "v3", &sts).account, "2000000000000001");
        assert!(keys.lookup("nobody").is_none());
        let code = |r: Result<(), ApiError>| r.err().map(|e| e.code);
        assert_eq!(code(check_token(&fixed, None, now)), None);
        assert_eq!(
            code(check_token(&fixed, Some("tok"), now)).as_deref(),
            Some("InvalidSecurityToken.MismatchWithAccessKey")
        );
        assert_eq!(code(check_token(&sts, Some("tok"), now)), None);
        assert_eq!(
            code(check_token(&sts, None, now)).as_deref(),
            Some("MissingSecurityToken")
        );
        assert_eq!(
            code(check_token(&sts, Some("tok2"), now)).as_deref(),
            Some("InvalidSecurityToken.MismatchWithAccessKey")
        );
        assert_eq!(
            code(check_token(&sts, Some("tok"), now + time::Duration::hours(2))).as_deref(),
            Some("InvalidSecurityToken.Expired")
        );
    }
}
