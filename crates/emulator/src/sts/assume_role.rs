//! STS `AssumeRole`: a signed RPC call (`x-acs-action: AssumeRole`, `x-acs-version:
//! 2015-04-01`) by which a caller with keys of one account gets keys acting in a role of
//! another account, if the role's trust policy names the caller's account.
//!
//! Parsing ([`parse`]), the decision against the accounts ([`authorize`]) and issuing
//! ([`issue`]) are apart, so that each refusal is a table test. Role chaining (an STS key
//! calling `AssumeRole`) is allowed, as on the real STS, with the session capped at one hour;
//! a chain keeps its `SourceIdentity`. docs/emulator.md says what is known and what is guessed.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{mint, name_ok, param, parse_arn, required, AssumedRoleUser, Credentials};
use crate::accounts::Directory;
use crate::auth::{Identity, Keys};
use crate::error::ApiError;
use crate::ledger::Caller;

/// RAM's shortest session.
pub const MIN_DURATION: i64 = 900;
/// When `DurationSeconds` is not given.
pub const DEFAULT_DURATION: i64 = 3_600;
/// The longest session a role chain may ask for.
pub const CHAIN_MAX_DURATION: i64 = 3_600;

/// A well-formed `AssumeRole` request, not yet checked against the accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub role_account: String,
    pub role_name: String,
    pub session_name: String,
    pub duration_secs: Option<i64>,
    pub source_identity: Option<String>,
}

/// Check the parameters' form: `RoleArn`, `RoleSessionName` (both required), and the optional
/// `DurationSeconds`, `SourceIdentity`, `Policy` (`ExternalId` is accepted and not checked).
pub fn parse(params: &[(String, String)]) -> Result<Request, ApiError> {
    let (role_account, role_name) = parse_arn(required(params, "RoleArn")?, "role", "RoleArn")?;
    let session_name = required(params, "RoleSessionName")?;
    if session_name.len() < 2 || !name_ok(session_name, 64) {
        return Err(ApiError::invalid_sts_parameter(
            "RoleSessionName",
            format!("`{session_name}` must be 2 to 64 letters, digits, `.`, `@`, `-` or `_`"),
        ));
    }
    let duration_secs = match param(params, "DurationSeconds") {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| {
            ApiError::invalid_sts_parameter("DurationSeconds", format!("`{s}` is not a whole number of seconds"))
        })?),
    };
    let source_identity = match param(params, "SourceIdentity") {
        None => None,
        Some(s) if s.len() >= 2 && name_ok(s, 64) => Some(s.to_owned()),
        Some(s) => {
            return Err(ApiError::invalid_sts_parameter(
                "SourceIdentity",
                format!("`{s}` must be 2 to 64 letters, digits, `.`, `@`, `-` or `_`"),
            ))
        }
    };
    if let Some(policy) = param(params, "Policy") {
        if !matches!(
            serde_json::from_str::<serde_json::Value>(policy),
            Ok(serde_json::Value::Object(_))
        ) {
            return Err(ApiError::business(
                hyper::StatusCode::BAD_REQUEST,
                "InvalidParameter.PolicyGrammar",
                "The parameter Policy has not passed grammar check.",
            ));
        }
    }
    Ok(Request {
        role_account,
        role_name,
        session_name: session_name.to_owned(),
        duration_secs,
        source_identity,
    })
}

/// What the caller may have: a session in a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub account: String,
    /// The role's name as configured.
    pub role_name: String,
    pub duration_secs: i64,
    pub caller: Caller,
}

/// Decide a request by `caller` against the accounts, as the real STS does: the role must
/// exist in its account (`404 EntityNotExist.Role`), its trust policy must name the caller's
/// account (`403 NoPermission`), and the duration must be within 900 seconds and the role's
/// maximum (one hour for a role chain).
pub fn authorize(request: Request, caller: &Identity, accounts: &Directory) -> Result<Grant, ApiError> {
    let role_arn = format!("acs:ram::{}:role/{}", request.role_account, request.role_name);
    let role = accounts
        .role(&request.role_account, &request.role_name)
        .ok_or_else(|| {
            ApiError::business(
                hyper::StatusCode::NOT_FOUND,
                "EntityNotExist.Role",
                format!("The specified Role not exists: {role_arn}."),
            )
        })?;
    if !role.trusted.iter().any(|t| t == &caller.account) {
        return Err(ApiError::business(
            hyper::StatusCode::FORBIDDEN,
            "NoPermission",
            format!(
                "You are not authorized to assume this role: the trust policy of {role_arn} does not \
                 name account {}. You should be authorized by RAM.",
                caller.account
            ),
        ));
    }
    let max = if caller.sts {
        role.max_session_secs.min(CHAIN_MAX_DURATION)
    } else {
        role.max_session_secs
    };
    let duration_secs = request.duration_secs.unwrap_or(DEFAULT_DURATION.min(max));
    if !(MIN_DURATION..=max).contains(&duration_secs) {
        return Err(ApiError::invalid_sts_parameter(
            "DurationSeconds",
            format!(
                "{duration_secs} is outside {MIN_DURATION} to {max} seconds (the role's maximum{})",
                if caller.sts { ", one hour for a role chain" } else { "" }
            ),
        ));
    }
    let inherited = caller.caller.as_ref().and_then(|c| c.source_identity.clone());
    let source_identity = match (inherited, request.source_identity) {
        (Some(had), Some(asked)) if had != asked => {
            return Err(ApiError::invalid_sts_parameter(
                "SourceIdentity",
                format!("a role chain keeps its source identity `{had}`; `{asked}` cannot replace it"),
            ))
        }
        (had, asked) => asked.or(had),
    };
    Ok(Grant {
        role_name: role.name.clone(),
        duration_secs,
        caller: Caller {
            role_arn: role.arn(&request.role_account),
            session_name: request.session_name,
            source_identity,
        },
        account: request.role_account,
    })
}

/// The answer to `AssumeRole`.
#[derive(Debug, Serialize)]
pub struct Answer {
    #[serde(rename = "RequestId")]
    pub request_id: String,
    #[serde(rename = "AssumedRoleUser")]
    pub assumed_role_user: AssumedRoleUser,
    #[serde(rename = "Credentials")]
    pub credentials: Credentials,
    #[serde(rename = "SourceIdentity", skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

/// A role's id: 17 digits beginning with 3, the same for the same role every time.
fn role_id(account: &str, role: &str) -> String {
    let digest = Sha256::digest(format!("{account}:{}", role.to_ascii_lowercase()));
    let mut n = [0u8; 8];
    n.copy_from_slice(&digest[..8]);
    format!("3{:016}", u64::from_be_bytes(n) % 10_000_000_000_000_000)
}

/// Issue the keys of a grant: they act in its account and remember its session.
pub fn issue(grant: Grant, keys: &Keys, now: OffsetDateTime, request_id: String) -> Answer {
    let assumed_role_user = AssumedRoleUser {
        assumed_role_id: format!(
            "{}:{}",
            role_id(&grant.account, &grant.role_name),
            grant.caller.session_name
        ),
        arn: format!("{}/{}", grant.caller.role_arn, grant.caller.session_name),
    };
    let source_identity = grant.caller.source_identity.clone();
    let credentials = mint(keys, now, grant.duration_secs, grant.account, Some(grant.caller));
    Answer {
        request_id,
        assumed_role_user,
        credentials,
        source_identity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{AccountConfig, RoleConfig};

    const HOME: &str = "1000000000000001";
    const MEMBER: &str = "2000000000000001";

    fn params(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut base: Vec<(String, String)> = [
            ("RoleArn", "acs:ram::2000000000000001:role/deployer"),
            ("RoleSessionName", "pai-provision-1a2b3c4d"),
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

    fn directory() -> Directory {
        let member = AccountConfig {
            roles: vec![
                RoleConfig::new("deployer", &[HOME]),
                RoleConfig {
                    max_session_secs: 7_200,
                    ..RoleConfig::new("long", &[HOME, MEMBER])
                },
            ],
            ..AccountConfig::new(MEMBER, "member")
        };
        Directory::new(HOME, &[member, AccountConfig::new("3000000000000001", "other")]).unwrap()
    }

    fn user(account: &str, sts: bool, source_identity: Option<&str>) -> Identity {
        Identity {
            access_key_id: "ak".into(),
            signature: "v3",
            sts,
            account: account.into(),
            caller: source_identity.map(|s| Caller {
                role_arn: "acs:ram::1000000000000001:role/ci".into(),
                session_name: "ci".into(),
                source_identity: Some(s.into()),
            }),
        }
    }

    fn decide(overrides: &[(&str, &str)], caller: &Identity) -> Result<Grant, ApiError> {
        authorize(parse(&params(overrides))?, caller, &directory())
    }

    #[test]
    fn grants_a_trusted_caller_a_session_in_the_role() {
        let grant = decide(&[("SourceIdentity", "0123abcd4567")], &user(HOME, false, None)).unwrap();
        assert_eq!(grant.account, MEMBER);
        assert_eq!(grant.duration_secs, 3_600);
        assert_eq!(grant.caller.role_arn, "acs:ram::2000000000000001:role/deployer");
        assert_eq!(grant.caller.source_identity.as_deref(), Some("0123abcd4567"));

        let keys = Keys::with_home(&[], HOME);
        let answer = issue(grant, &keys, OffsetDateTime::UNIX_EPOCH, "rid".into());
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(
            json["AssumedRoleUser"]["Arn"],
            "acs:ram::2000000000000001:role/deployer/pai-provision-1a2b3c4d"
        );
        let role_id = json["AssumedRoleUser"]["AssumedRoleId"].as_str().unwrap();
        assert!(
            role_id.starts_with('3') && role_id.ends_with(":pai-provision-1a2b3c4d"),
            "{role_id}"
        );
        assert_eq!(role_id.split(':').next().unwrap().len(), 17);
        assert_eq!(json["SourceIdentity"], "0123abcd4567");
        assert_eq!(json["Credentials"]["Expiration"], "1970-01-01T01:00:00Z");
        assert!(json["Credentials"]["AccessKeyId"].as_str().unwrap().starts_with("STS."));

        let long = decide(
            &[
                ("RoleArn", "acs:ram::2000000000000001:role/LONG"),
                ("DurationSeconds", "7200"),
            ],
            &user(HOME, false, None),
        )
        .unwrap();
        assert_eq!((long.role_name.as_str(), long.duration_secs), ("long", 7_200));
        let chained = decide(&[], &user(HOME, true, Some("abc123"))).unwrap();
        assert_eq!(
            chained.caller.source_identity.as_deref(),
            Some("abc123"),
            "a chain keeps its source identity"
        );
    }

    #[test]
    fn refuses_as_the_real_sts_does() {
        let home = user(HOME, false, None);
        let sixty_five = "a".repeat(65);
        type Case<'a> = (Vec<(&'a str, &'a str)>, Identity, u16, &'a str);
        let cases: Vec<Case> = vec![
            (vec![("RoleArn", "")], home.clone(), 400, "MissingParameter"),
            (
                vec![("RoleArn", "acs:ram::20x:role/d")],
                home.clone(),
                400,
                "InvalidParameter.RoleArn",
            ),
            (vec![("RoleSessionName", "")], home.clone(), 400, "MissingParameter"),
            (
                vec![("RoleSessionName", "a")],
                home.clone(),
                400,
                "InvalidParameter.RoleSessionName",
            ),
            (
                vec![("RoleSessionName", "a b")],
                home.clone(),
                400,
                "InvalidParameter.RoleSessionName",
            ),
            (
                vec![("RoleSessionName", &sixty_five)],
                home.clone(),
                400,
                "InvalidParameter.RoleSessionName",
            ),
            (
                vec![("SourceIdentity", "x")],
                home.clone(),
                400,
                "InvalidParameter.SourceIdentity",
            ),
            (
                vec![("SourceIdentity", "a/b")],
                home.clone(),
                400,
                "InvalidParameter.SourceIdentity",
            ),
            (
                vec![("Policy", "{no")],
                home.clone(),
                400,
                "InvalidParameter.PolicyGrammar",
            ),
            (
                vec![("DurationSeconds", "x")],
                home.clone(),
                400,
                "InvalidParameter.DurationSeconds",
            ),
            (
                vec![("DurationSeconds", "899")],
                home.clone(),
                400,
                "InvalidParameter.DurationSeconds",
            ),
            (
                vec![("DurationSeconds", "3601")],
                home.clone(),
                400,
                "InvalidParameter.DurationSeconds",
            ),
            (
                vec![
                    ("RoleArn", "acs:ram::2000000000000001:role/long"),
                    ("DurationSeconds", "3601"),
                ],
                user(HOME, true, None),
                400,
                "InvalidParameter.DurationSeconds",
            ),
            (
                vec![("RoleArn", "acs:ram::2000000000000001:role/nope")],
                home.clone(),
                404,
                "EntityNotExist.Role",
            ),
            (
                vec![("RoleArn", "acs:ram::3000000000000001:role/deployer")],
                home.clone(),
                404,
                "EntityNotExist.Role",
            ),
            (
                vec![("RoleArn", "acs:ram::9000000000000001:role/deployer")],
                home.clone(),
                404,
                "EntityNotExist.Role",
            ),
            (vec![], user("3000000000000001", false, None), 403, "NoPermission"),
            (vec![], user(MEMBER, true, None), 403, "NoPermission"),
            (
                vec![("SourceIdentity", "other")],
                user(HOME, true, Some("abc123")),
                400,
                "InvalidParameter.SourceIdentity",
            ),
        ];
        for (overrides, caller, status, code) in cases {
            let e = decide(&overrides, &caller).expect_err(&format!("{overrides:?}"));
            assert_eq!(
                (e.status.as_u16(), e.code.as_str()),
                (status, code),
                "{overrides:?}: {}",
                e.message
            );
        }
    }
}
