//! A fleet's way into each account: STS `AssumeRole` into the account's RAM role, signed with
//! the base credentials (any source of the default chain, the OIDC role included).
//!
//! The call is a signed RPC call ([`crate::client::rpc`]): `POST /` with `RoleArn`,
//! `RoleSessionName`, `DurationSeconds` and `SourceIdentity` in the query, `x-acs-action:
//! AssumeRole`, `x-acs-version: 2015-04-01`, ACS3-HMAC-SHA256. The STS credentials are cached
//! and exchanged again before they expire, as the OIDC role's are (the same cache); a thousand
//! providers share one [`RpcClient`] and so one connection pool.

use std::sync::Arc;

use pai_sign::wire::sts;
use time::OffsetDateTime;

use super::session::{is_valid_name, SessionIdentity};
use super::sts::{parse_credentials, StsCache};
use super::{CredentialError, CredentialFuture, CredentialProvider, Credentials, StsAnswer};
use crate::client::request::Call;
use crate::client::rpc::{RpcClient, RpcEndpoint, RpcError};
use crate::client::Failure;

/// The global STS endpoint.
pub const DEFAULT_STS_ENDPOINT: &str = "sts.aliyuncs.com";
/// STS's default lifetime of assumed-role credentials, in seconds.
pub const DEFAULT_DURATION_SECS: u32 = 3600;
/// The shortest lifetime STS grants; the longest is the role's own maximum (at most 12 hours).
pub const MIN_DURATION_SECS: u32 = 900;
pub const MAX_DURATION_SECS: u32 = 43_200;

/// Sent as `x-acs-credentials-provider` with the assumed role's credentials, in the SDK's naming.
const PROVIDER_NAME: &str = "ram_role_arn";
const SOURCE: &str = "AssumeRole";

/// What `AssumeRole` is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleConfig {
    /// `acs:ram::<account id>:role/<name>`, from the fleet file.
    pub role_arn: String,
    /// `RoleSessionName`: 2 to 64 characters of `[A-Za-z0-9.@_-]`.
    pub session_name: String,
    /// `SourceIdentity`, same alphabet and lengths; STS records it in ActionTrail.
    pub source_identity: Option<String>,
    /// `DurationSeconds`: 900 up to the role's maximum session duration.
    pub duration_secs: u32,
    /// A host name (reached over HTTPS) or a full URL such as `http://127.0.0.1:9000`.
    pub sts_endpoint: String,
}

impl AssumeRoleConfig {
    /// The role `role_arn` with this run's identity, an hour's lifetime and the global endpoint.
    pub fn new(role_arn: impl Into<String>, identity: &SessionIdentity) -> AssumeRoleConfig {
        AssumeRoleConfig {
            role_arn: role_arn.into(),
            session_name: identity.session_name.clone(),
            source_identity: identity.source_identity.clone(),
            duration_secs: DEFAULT_DURATION_SECS,
            sts_endpoint: DEFAULT_STS_ENDPOINT.to_owned(),
        }
    }

    /// The first problem STS would refuse the call for, named by field, before any call is made.
    fn validate(&self) -> Result<RpcEndpoint, CredentialError> {
        let invalid = |message: String| CredentialError::invalid(SOURCE, message);
        let role_name = self
            .role_arn
            .strip_prefix("acs:ram::")
            .and_then(|rest| rest.split_once(":role/"))
            .filter(|(account, name)| {
                !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
            });
        if role_name.is_none() {
            return Err(invalid(format!(
                "role ARN `{}` is not of the form acs:ram::<account id>:role/<role name>",
                self.role_arn
            )));
        }
        if !is_valid_name(&self.session_name) {
            return Err(invalid(format!(
                "role session name `{}` must be 2 to 64 characters of A-Z a-z 0-9 . @ _ -",
                self.session_name
            )));
        }
        if let Some(source) = self.source_identity.as_deref().filter(|s| !is_valid_name(s)) {
            return Err(invalid(format!(
                "SourceIdentity `{source}` must be 2 to 64 characters of A-Z a-z 0-9 . @ _ -"
            )));
        }
        if !(MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&self.duration_secs) {
            return Err(invalid(format!(
                "DurationSeconds {} is outside {MIN_DURATION_SECS}..={MAX_DURATION_SECS}",
                self.duration_secs
            )));
        }
        RpcEndpoint::parse(&self.sts_endpoint)
            .map_err(|reason| invalid(format!("invalid STS endpoint `{}`: {reason}", self.sts_endpoint)))
    }

    /// The call's API parameters, as they go in the query.
    pub(crate) fn query(&self) -> Vec<(String, String)> {
        let mut query = vec![
            ("RoleArn".to_owned(), self.role_arn.clone()),
            ("RoleSessionName".to_owned(), self.session_name.clone()),
            ("DurationSeconds".to_owned(), self.duration_secs.to_string()),
        ];
        if let Some(source) = &self.source_identity {
            query.push(("SourceIdentity".to_owned(), source.clone()));
        }
        query
    }

    pub(crate) fn call(&self) -> Call {
        Call::rpc(sts::ASSUME_ROLE, sts::VERSION, self.query())
    }
}

/// Credentials of a RAM role in another account, assumed with `AssumeRole` and cached until
/// shortly before they expire. Concurrent callers wait for one exchange.
pub struct AssumeRoleProvider {
    config: AssumeRoleConfig,
    endpoint: RpcEndpoint,
    rpc: RpcClient,
    base: Arc<dyn CredentialProvider>,
    cache: StsCache,
}

impl AssumeRoleProvider {
    /// A provider assuming `config`'s role with what `base` hands out, over `rpc`'s connections.
    /// Fails, naming the field, when STS would refuse the parameters.
    pub fn new(
        rpc: &RpcClient,
        base: Arc<dyn CredentialProvider>,
        config: AssumeRoleConfig,
    ) -> Result<AssumeRoleProvider, CredentialError> {
        let endpoint = config.validate()?;
        Ok(AssumeRoleProvider {
            config,
            endpoint,
            rpc: rpc.clone(),
            base,
            cache: StsCache::default(),
        })
    }

    pub fn config(&self) -> &AssumeRoleConfig {
        &self.config
    }

    async fn fetch_cached(&self) -> Result<Credentials, CredentialError> {
        self.cache.get(OffsetDateTime::now_utc(), || self.assume_role()).await
    }

    async fn assume_role(&self) -> Result<(Credentials, OffsetDateTime), CredentialError> {
        let endpoint = self.endpoint.shown();
        tracing::debug!(
            %endpoint,
            role_arn = %self.config.role_arn,
            session = %self.config.session_name,
            "STS AssumeRole"
        );
        let answer = self
            .rpc
            .call(&self.endpoint, &self.config.call(), self.base.as_ref())
            .await
            .map_err(|e| self.error(e))?;
        parse_credentials(&answer.body, PROVIDER_NAME).map_err(|reason| CredentialError::StsUnavailable {
            action: sts::ASSUME_ROLE,
            role_arn: self.config.role_arn.clone(),
            endpoint,
            reason,
        })
    }

    /// A failed call as a credential error naming the action and the role; the server's text
    /// was cleaned by the RPC client.
    fn error(&self, error: RpcError) -> CredentialError {
        let action = sts::ASSUME_ROLE;
        let role_arn = self.config.role_arn.clone();
        let endpoint = self.endpoint.shown();
        match error {
            RpcError::Credentials(source) => CredentialError::Base {
                action,
                role_arn,
                source: Box::new(source),
            },
            RpcError::Api(e) => match (e.failure, e.http_status) {
                (Failure::Status, Some(status)) => CredentialError::Sts {
                    action,
                    role_arn,
                    endpoint,
                    answer: Box::new(StsAnswer {
                        status,
                        code: e.code,
                        message: e.message,
                        request_id: e.request_id,
                    }),
                },
                _ => CredentialError::StsUnavailable {
                    action,
                    role_arn,
                    endpoint,
                    reason: e.message,
                },
            },
        }
    }
}

impl CredentialProvider for AssumeRoleProvider {
    fn credentials(&self) -> CredentialFuture<'_> {
        Box::pin(self.fetch_cached())
    }
}

impl std::fmt::Debug for AssumeRoleProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssumeRoleProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use pai_spec::SignatureVersion;

    use super::*;
    use crate::client::request::{sign, SigningContext};

    fn config() -> AssumeRoleConfig {
        AssumeRoleConfig {
            role_arn: "acs:ram::1000000000000001:role/pai-provision".into(),
            session_name: "pai-provision-9876543210-1".into(),
            source_identity: Some("0123456789ab".into()),
            duration_secs: 3600,
            sts_endpoint: "http://127.0.0.1:9000".into(),
        }
    }

    /// The whole request as STS verifies it: the canonical request pins the method, path,
    /// sorted and encoded parameters, the signed headers and the empty body's hash.
    #[test]
    fn canonical_request_of_an_assume_role_call() {
        let ctx = SigningContext {
            host: "sts.aliyuncs.com".into(),
            at: OffsetDateTime::UNIX_EPOCH,
            nonce: "00000000000000000000000000000001".into(),
            user_agent: None,
            retry: None,
        };
        let base = Credentials::new("LTAI-base", "BASE-SECRET");
        let signed = sign(SignatureVersion::V3, &config().call(), &ctx, &base);
        assert_eq!((signed.method, signed.path), ("POST", "/"));
        assert_eq!(signed.header("x-acs-action"), Some("AssumeRole"));
        assert_eq!(signed.header("x-acs-version"), Some("2015-04-01"));
        assert_eq!(signed.header("content-type"), None, "parameters travel in the query");
        assert_eq!(
            signed.wire_query(),
            "RoleArn=acs%3Aram%3A%3A1000000000000001%3Arole%2Fpai-provision&RoleSessionName=pai-provision-9876543210-1\
             &DurationSeconds=3600&SourceIdentity=0123456789ab"
        );
        // What was signed: every header but the signature itself.
        let headers: Vec<(String, String)> = signed
            .headers
            .iter()
            .filter(|(k, _)| k != "authorization")
            .cloned()
            .collect();
        let request = pai_sign::Request {
            method: signed.method,
            path: signed.path,
            query: &signed.query,
            headers: &headers,
            body: &signed.body,
        };
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let want = format!(
            "POST\n/\n\
             DurationSeconds=3600&RoleArn=acs%3Aram%3A%3A1000000000000001%3Arole%2Fpai-provision\
             &RoleSessionName=pai-provision-9876543210-1&SourceIdentity=0123456789ab\n\
             accept:application/json\nhost:sts.aliyuncs.com\nx-acs-action:AssumeRole\n\
             x-acs-content-sha256:{empty}\nx-acs-credentials-provider:static_ak\n\
             x-acs-date:1970-01-01T00:00:00Z\nx-acs-signature-nonce:00000000000000000000000000000001\n\
             x-acs-version:2015-04-01\n\n\
             accept;host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;\
             x-acs-signature-nonce;x-acs-version\n{empty}"
        );
        let canonical = pai_sign::v3::canonical_request(&request);
        assert_eq!(canonical, want);
        let auth = signed.header("authorization").unwrap_or_default();
        let signature = pai_sign::v3::signature("BASE-SECRET", &canonical);
        assert!(auth.starts_with("ACS3-HMAC-SHA256 Credential=LTAI-base,"), "{auth}");
        assert!(auth.ends_with(&format!("Signature={signature}")), "{auth}");
        // Without a SourceIdentity the parameter is left out, not sent empty.
        let anonymous = AssumeRoleConfig {
            source_identity: None,
            ..config()
        };
        assert!(!anonymous.query().iter().any(|(k, _)| k == "SourceIdentity"));
    }

    #[test]
    fn refuses_what_sts_would_refuse_naming_the_field() {
        let rpc = RpcClient::from_http(reqwest::Client::new(), std::time::Duration::from_secs(1), None);
        let base: Arc<dyn CredentialProvider> =
            Arc::new(super::super::StaticCredentials::new(Credentials::new("a", "b")));
        type Edit = fn(&mut AssumeRoleConfig);
        let cases: [(Edit, &str); 6] = [
            (
                |c| c.role_arn = "arn:aws:iam::1:role/x".into(),
                "role ARN `arn:aws:iam::1:role/x` is not",
            ),
            (|c| c.role_arn = "acs:ram::1:role/".into(), "is not of the form"),
            (
                |c| c.session_name = "has space".into(),
                "role session name `has space` must be",
            ),
            (|c| c.source_identity = Some("x".into()), "SourceIdentity `x` must be"),
            (|c| c.duration_secs = 60, "DurationSeconds 60 is outside 900..=43200"),
            (
                |c| c.sts_endpoint = "ftp://sts".into(),
                "invalid STS endpoint `ftp://sts`",
            ),
        ];
        for (edit, want) in cases {
            let mut c = config();
            edit(&mut c);
            let got = AssumeRoleProvider::new(&rpc, Arc::clone(&base), c)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(got.starts_with("AssumeRole: ") && got.contains(want), "{got}");
        }
        assert!(AssumeRoleProvider::new(&rpc, base, config()).is_ok());
    }
}
