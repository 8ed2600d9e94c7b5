//! STS `AssumeRoleWithOIDC`, the way CI systems with OIDC tokens log in without stored keys.
//!
//! The real STS is an RPC-style endpoint (`GET /?Action=AssumeRoleWithOIDC&...`, anonymous:
//! the OIDC token is the proof). The emulator serves it on every listener, checks that the
//! parameters are well formed (ARNs, a JWT whose claims parse and which has not expired,
//! duration, session name), but does not verify the token's signature against an issuer: it
//! has no issuer to ask. It issues an `STS.` access key, a secret and a security token that
//! its AIWorkSpace routes then accept until they expire.
//!
//! [`assume_role`] is the signed `AssumeRole`, a fleet's way into each of its accounts.

use base64::Engine;
use rand::distributions::{Alphanumeric, DistString};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::auth::{iso_8601, Keys, StsKey};
use crate::error::ApiError;
use crate::ledger::Caller;

pub mod assume_role;

pub use pai_sign::wire::sts::{ACTION, VERSION as STS_VERSION};

const MIN_DURATION: i64 = 900;
const MAX_DURATION: i64 = 43_200;
const DEFAULT_DURATION: i64 = 3_600;

/// A validated `AssumeRoleWithOIDC` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub account: String,
    pub role_name: String,
    pub session_name: String,
    pub duration_secs: i64,
    pub subject: String,
    pub issuer: String,
    pub audiences: Vec<String>,
}

pub(crate) fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

pub(crate) fn required<'a>(params: &'a [(String, String)], key: &str) -> Result<&'a str, ApiError> {
    param(params, key).ok_or_else(|| ApiError::missing_parameter(key))
}

pub(crate) fn name_ok(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '-'))
}

/// `acs:ram::<account>:<kind>/<name>` → (account, name).
pub(crate) fn parse_arn(arn: &str, kind: &str, field: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::invalid_sts_parameter(
            field,
            format!("expected `acs:ram::<account id>:{kind}/<name>`, got `{arn}`"),
        )
    };
    let rest = arn.strip_prefix("acs:ram::").ok_or_else(bad)?;
    let (account, resource) = rest.split_once(':').ok_or_else(bad)?;
    let name = resource
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(bad)?;
    let account_ok = !account.is_empty() && account.len() <= 32 && account.chars().all(|c| c.is_ascii_digit());
    if !account_ok || !name_ok(name, 128) {
        return Err(bad());
    }
    Ok((account.to_owned(), name.to_owned()))
}

fn decode_segment(segment: &str) -> Option<serde_json::Map<String, Value>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

struct Claims {
    subject: String,
    issuer: String,
    audiences: Vec<String>,
}

/// A JWT's shape and claims: three base64url parts, a JSON header naming `alg`, a JSON
/// payload with string `iss` and `sub`, `aud` as a string or strings, and a future `exp`.
fn check_token(token: &str, now: OffsetDateTime) -> Result<Claims, ApiError> {
    let bad = |why: &str| ApiError::invalid_sts_parameter("OIDCToken", why);
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(bad("not a JWT: expected three base64url parts separated by `.`"));
    };
    let header = decode_segment(header).ok_or_else(|| bad("the JWT header is not base64url JSON"))?;
    if !header.get("alg").is_some_and(Value::is_string) {
        return Err(bad("the JWT header names no `alg`"));
    }
    if signature.is_empty() {
        return Err(bad("the JWT is not signed"));
    }
    let claims = decode_segment(payload).ok_or_else(|| bad("the JWT payload is not base64url JSON"))?;
    let text = |key: &str| {
        claims
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| bad(&format!("the JWT has no `{key}` claim")))
    };
    let issuer = text("iss")?;
    let subject = text("sub")?;
    let audiences = match claims.get("aud") {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("the JWT `aud` claim must hold strings"))?,
        _ => return Err(bad("the JWT has no `aud` claim")),
    };
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("the JWT has no numeric `exp` claim"))?;
    if exp <= now.unix_timestamp() {
        return Err(ApiError::oidc_token_expired());
    }
    Ok(Claims {
        subject,
        issuer,
        audiences,
    })
}

/// Validate the parameters of an RPC call to `/` that should be `AssumeRoleWithOIDC`.
pub fn parse(params: &[(String, String)], now: OffsetDateTime) -> Result<AssumeRole, ApiError> {
    let action = required(params, "Action")?;
    if action != ACTION {
        return Err(ApiError::action_not_found(action));
    }
    let version = required(params, "Version")?;
    if version != STS_VERSION {
        return Err(ApiError::invalid_version(version, STS_VERSION));
    }
    if let Some(format) = param(params, "Format") {
        if !format.eq_ignore_ascii_case("JSON") {
            return Err(ApiError::invalid_sts_parameter(
                "Format",
                format!("the emulator answers JSON only, not `{format}`"),
            ));
        }
    }
    let (account, role_name) = parse_arn(required(params, "RoleArn")?, "role", "RoleArn")?;
    let (provider_account, _) = parse_arn(required(params, "OIDCProviderArn")?, "oidc-provider", "OIDCProviderArn")?;
    if provider_account != account {
        return Err(ApiError::invalid_sts_parameter(
            "OIDCProviderArn",
            "the OIDC provider and the role belong to different accounts",
        ));
    }
    let claims = check_token(required(params, "OIDCToken")?, now)?;
    let session_name = match param(params, "RoleSessionName") {
        None => format!("oidc-{}", now.unix_timestamp()),
        Some(s) if s.len() >= 2 && name_ok(s, 64) => s.to_owned(),
        Some(s) => {
            return Err(ApiError::invalid_sts_parameter(
                "RoleSessionName",
                format!("`{s}` must be 2 to 64 letters, digits, `.`, `@`, `-` or `_`"),
            ))
        }
    };
    let duration_secs = match param(params, "DurationSeconds") {
        None => DEFAULT_DURATION,
        Some(s) => match s.parse::<i64>() {
            Ok(d) if (MIN_DURATION..=MAX_DURATION).contains(&d) => d,
            _ => {
                return Err(ApiError::invalid_sts_parameter(
                    "DurationSeconds",
                    format!("`{s}` must be a number of seconds from {MIN_DURATION} to {MAX_DURATION}"),
                ))
            }
        },
    };
    if let Some(policy) = param(params, "Policy") {
        if !matches!(serde_json::from_str::<Value>(policy), Ok(Value::Object(_))) {
            return Err(ApiError::invalid_sts_parameter(
                "Policy",
                "the policy is not a JSON document",
            ));
        }
    }
    Ok(AssumeRole {
        account,
        role_name,
        session_name,
        duration_secs,
        subject: claims.subject,
        issuer: claims.issuer,
        audiences: claims.audiences,
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expiration: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRoleUser {
    pub assumed_role_id: String,
    pub arn: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OidcTokenInfo {
    pub subject: String,
    pub issuer: String,
    pub client_ids: String,
}

#[derive(Debug, Serialize)]
pub struct AssumeRoleResponse {
    #[serde(rename = "RequestId")]
    pub request_id: String,
    #[serde(rename = "AssumedRoleUser")]
    pub assumed_role_user: AssumedRoleUser,
    #[serde(rename = "OIDCTokenInfo")]
    pub oidc_token_info: OidcTokenInfo,
    #[serde(rename = "Credentials")]
    pub credentials: Credentials,
}

/// A fresh access key secret of the kind the emulator's STS issues: 44 random alphanumerics
/// from the OS-seeded thread RNG (never the fault RNG, whose seed is printed).
pub fn random_secret() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 44)
}

/// Issue a credential for a validated request and register it with `keys`.
pub fn issue(role: AssumeRole, keys: &Keys, now: OffsetDateTime, request_id: String) -> AssumeRoleResponse {
    // The OIDC path acts in the home account, as it did before there were accounts.
    let credentials = mint(keys, now, role.duration_secs, keys.home().to_owned(), None);
    let mut rng = rand::thread_rng();
    let role_id: String = (0..17)
        .map(|i| {
            if i == 0 {
                '3'
            } else {
                char::from(b'0' + (rand::Rng::gen_range(&mut rng, 0..10u8)))
            }
        })
        .collect();
    AssumeRoleResponse {
        request_id,
        assumed_role_user: AssumedRoleUser {
            assumed_role_id: format!("{role_id}:{}", role.session_name),
            arn: format!(
                "acs:ram::{}:role/{}/{}",
                role.account, role.role_name, role.session_name
            ),
        },
        oidc_token_info: OidcTokenInfo {
            subject: role.subject,
            issuer: role.issuer,
            client_ids: role.audiences.join(","),
        },
        credentials,
    }
}

/// A fresh STS key valid for `duration_secs`, acting in `account`, registered with `keys`.
pub(crate) fn mint(
    keys: &Keys,
    now: OffsetDateTime,
    duration_secs: i64,
    account: String,
    caller: Option<Caller>,
) -> Credentials {
    let mut rng = rand::thread_rng();
    let access_key_id = format!("STS.NT{}", Alphanumeric.sample_string(&mut rng, 24));
    let secret = random_secret();
    let token = format!("CAIS{}", Alphanumeric.sample_string(&mut rng, 300));
    let expires = now + time::Duration::seconds(duration_secs);
    keys.insert_sts(
        access_key_id.clone(),
        StsKey {
            secret: secret.clone(),
            token: token.clone(),
            expires,
            account,
            caller,
        },
        now,
    );
    Credentials {
        access_key_id,
        access_key_secret: secret,
        security_token: token,
        expiration: iso_8601(expires),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &Value) -> String {
        let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2ln",
            enc(&serde_json::json!({"alg":"RS256","typ":"JWT"})),
            enc(payload)
        )
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap()
    }

    fn good_token() -> String {
        jwt(
            &serde_json::json!({"iss":"https://token.actions.example","sub":"repo:x","aud":"sts.aliyuncs.com","exp": 1_795_000_600}),
        )
    }

    fn params(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let token = good_token();
        let mut base: Vec<(String, String)> = [
            ("Action", "AssumeRoleWithOIDC"),
            ("Format", "JSON"),
            ("Version", "2015-04-01"),
            ("DurationSeconds", "3600"),
            ("RoleArn", "acs:ram::1234567890123456:role/ci-deployer"),
            ("OIDCProviderArn", "acs:ram::1234567890123456:oidc-provider/github"),
            ("OIDCToken", token.as_str()),
            ("RoleSessionName", "credentials-python-1795000000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in overrides {
            base.retain(|(bk, _)| bk != k);
            if !v.is_empty() {
                base.push((k.to_string(), v.to_string()));
            }
        }
        base
    }

    #[test]
    fn accepts_a_well_formed_request_and_issues_keys() {
        let role = parse(&params(&[]), now()).unwrap();
        assert_eq!(role.account, "1234567890123456");
        assert_eq!(role.role_name, "ci-deployer");
        assert_eq!(role.audiences, vec!["sts.aliyuncs.com".to_string()]);
        let keys = Keys::new(&[]);
        let resp = issue(role, &keys, now(), "rid".into());
        assert!(resp.credentials.access_key_id.starts_with("STS."));
        assert!(resp.credentials.security_token.starts_with("CAIS"));
        assert_eq!(resp.credentials.expiration, "2026-11-18T12:06:40Z");
        assert!(resp
            .assumed_role_user
            .arn
            .ends_with("role/ci-deployer/credentials-python-1795000000"));
        let json = serde_json::to_value(&resp).unwrap();
        for key in ["AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"] {
            assert!(json["Credentials"][key].is_string(), "{key}");
        }
        assert!(json["OIDCTokenInfo"]["Subject"].is_string());
    }

    #[test]
    fn rejects_malformed_requests() {
        let expired = jwt(&serde_json::json!({"iss":"i","sub":"s","aud":["a"],"exp": 1_794_999_999}));
        let no_sub = jwt(&serde_json::json!({"iss":"i","aud":"a","exp": 1_795_000_600}));
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("Action", "AssumeRole")], "InvalidAction.NotFound"),
            (vec![("Action", "")], "MissingParameter"),
            (vec![("Version", "2015-04-02")], "InvalidVersion"),
            (vec![("Format", "XML")], "InvalidParameter.Format"),
            (vec![("RoleArn", "")], "MissingParameter"),
            (vec![("RoleArn", "acs:ram::12ab:role/x")], "InvalidParameter.RoleArn"),
            (vec![("RoleArn", "acs:ram::123:user/x")], "InvalidParameter.RoleArn"),
            (
                vec![("OIDCProviderArn", "acs:ram::123:role/x")],
                "InvalidParameter.OIDCProviderArn",
            ),
            (
                vec![("OIDCProviderArn", "acs:ram::999:oidc-provider/gh")],
                "InvalidParameter.OIDCProviderArn",
            ),
            (vec![("OIDCToken", "")], "MissingParameter"),
            (vec![("OIDCToken", "abc")], "InvalidParameter.OIDCToken"),
            (vec![("OIDCToken", "e30.e30.x")], "InvalidParameter.OIDCToken"),
            (vec![("OIDCToken", &no_sub)], "InvalidParameter.OIDCToken"),
            (vec![("OIDCToken", &expired)], "AuthenticationFail.OIDCToken.Expired"),
            (vec![("DurationSeconds", "899")], "InvalidParameter.DurationSeconds"),
            (vec![("DurationSeconds", "x")], "InvalidParameter.DurationSeconds"),
            (vec![("RoleSessionName", "a b")], "InvalidParameter.RoleSessionName"),
            (vec![("Policy", "{not json")], "InvalidParameter.Policy"),
        ];
        for (overrides, code) in cases {
            let err = parse(&params(&overrides), now()).expect_err(&format!("{overrides:?}"));
            assert_eq!(err.code, code, "{overrides:?}: {}", err.message);
        }
    }
}
