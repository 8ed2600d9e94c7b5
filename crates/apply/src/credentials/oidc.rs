//! The OIDC role: a CI system's OIDC token exchanged for STS credentials with `AssumeRoleWithOIDC`.
//!
//! Configured by `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` and
//! `ALIBABA_CLOUD_OIDC_TOKEN_FILE` (or an `OIDC` profile). The token file is re-read on every
//! exchange because CI runners and Kubernetes rotate it. The call is the credentials library's:
//! an anonymous RPC request to the STS endpoint, `Action`, `Format`, `Version` and `Timestamp` in
//! the query and the role parameters, the token among them, in a form body, so the token never
//! appears in a URL that a proxy might log.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use time::OffsetDateTime;

use super::sts::{self, StsCache};
use super::{
    non_empty, CredentialError, CredentialFuture, CredentialProvider, Credentials, EnvLookup, Found, Lookup, StsAnswer,
};
use crate::client::scrub::{self, RequestMaterial};
use crate::client::transport::{form_urlencode, http_client, iso8601, ProxyConfig};

pub const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
pub const OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
pub const OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
pub const ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
pub const STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";
pub const VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";
/// Not read by the SDK: lets a pipeline point the OIDC exchange at a local STS (the emulator).
pub const STS_ENDPOINT: &str = "ALIBABA_CLOUD_STS_ENDPOINT";

const SOURCE: &str = "OIDC role";
const DEFAULT_DURATION_SECONDS: u32 = 3600;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything `AssumeRoleWithOIDC` needs except the token, which is read from `token_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRoleConfig {
    pub role_arn: String,
    pub oidc_provider_arn: String,
    pub token_file: PathBuf,
    pub role_session_name: String,
    pub duration_seconds: u32,
    pub policy: Option<String>,
    /// A host name (`sts.aliyuncs.com`, reached over HTTPS) or a full URL.
    pub sts_endpoint: String,
}

/// The STS endpoint, in the SDK's precedence: an explicit override, then `sts[-vpc].{region}.aliyuncs.com`
/// for a configured STS region, then the global `sts.aliyuncs.com`.
pub fn resolve_sts_endpoint(
    explicit: Option<&str>,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
    region: Option<&str>,
    vpc: Option<bool>,
) -> String {
    if let Some(endpoint) = explicit.filter(|e| !e.is_empty()) {
        return endpoint.to_owned();
    }
    if let Some(endpoint) = non_empty(env, STS_ENDPOINT) {
        return endpoint;
    }
    let vpc =
        vpc.unwrap_or_else(|| non_empty(env, VPC_ENDPOINT_ENABLED).is_some_and(|v| v.eq_ignore_ascii_case("true")));
    let prefix = if vpc { "sts-vpc" } else { "sts" };
    match region
        .map(str::to_owned)
        .filter(|r| !r.is_empty())
        .or_else(|| non_empty(env, STS_REGION))
    {
        Some(region) => format!("{prefix}.{region}.aliyuncs.com"),
        None => "sts.aliyuncs.com".to_owned(),
    }
}

/// The name STS records for the session when none is configured.
pub(crate) fn default_session_name(env: &(dyn Fn(&str) -> Option<String> + Send + Sync)) -> String {
    non_empty(env, ROLE_SESSION_NAME)
        .unwrap_or_else(|| format!("pai-provision-{}", OffsetDateTime::now_utc().unix_timestamp()))
}

/// The chain's second source: the three OIDC variables.
pub(crate) fn lookup_env(
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
    sts_endpoint: Option<&str>,
) -> Result<Lookup, CredentialError> {
    let vars = [ROLE_ARN, OIDC_PROVIDER_ARN, OIDC_TOKEN_FILE].map(|name| (name, non_empty(env, name)));
    let missing: Vec<&str> = vars.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
    if missing.len() == vars.len() {
        return Ok(Lookup::Absent(format!(
            "{SOURCE}: {ROLE_ARN}, {OIDC_PROVIDER_ARN} and {OIDC_TOKEN_FILE} are not set"
        )));
    }
    let [(_, Some(role_arn)), (_, Some(oidc_provider_arn)), (_, Some(token_file))] = vars else {
        return Err(CredentialError::invalid(
            SOURCE,
            format!("incomplete configuration: {} not set", missing.join(" and ")),
        ));
    };
    Ok(Lookup::Found(Found::Oidc(OidcRoleConfig {
        role_arn,
        oidc_provider_arn,
        token_file: PathBuf::from(token_file),
        role_session_name: default_session_name(env),
        duration_seconds: DEFAULT_DURATION_SECONDS,
        policy: None,
        sts_endpoint: resolve_sts_endpoint(sts_endpoint, env, None, None),
    })))
}

/// `https://host` for a bare host name, the URL itself otherwise.
fn endpoint_url(endpoint: &str) -> Result<Url, CredentialError> {
    crate::client::rpc::endpoint_url(endpoint)
        .map_err(|reason| CredentialError::invalid(SOURCE, format!("invalid STS endpoint `{endpoint}`: {reason}")))
}

#[derive(Deserialize, Default)]
struct StsError {
    #[serde(rename = "Code", alias = "code")]
    code: Option<String>,
    #[serde(rename = "Message", alias = "message")]
    message: Option<String>,
    #[serde(rename = "RequestId", alias = "requestId")]
    request_id: Option<String>,
}

/// Assumes a RAM role with an OIDC token and caches the STS credentials until shortly before expiry.
pub struct OidcRoleProvider {
    config: OidcRoleConfig,
    url: Url,
    http: reqwest::Client,
    cache: StsCache,
}

impl OidcRoleProvider {
    /// `env` is consulted for proxies only.
    pub fn new(config: OidcRoleConfig, env: &EnvLookup) -> Result<Self, CredentialError> {
        let url = endpoint_url(&config.sts_endpoint)?;
        let http = http_client(
            CONNECT_TIMEOUT,
            READ_TIMEOUT,
            &ProxyConfig::FromEnvironment,
            env.as_ref(),
        )
        .map_err(|e| CredentialError::invalid(SOURCE, e.to_string()))?;
        Ok(OidcRoleProvider {
            config,
            url,
            http,
            cache: StsCache::default(),
        })
    }

    pub fn config(&self) -> &OidcRoleConfig {
        &self.config
    }

    /// Cached credentials, or fresh ones when the cache is empty or stale. Concurrent callers wait
    /// for one exchange rather than each making their own.
    pub(crate) async fn fetch_cached(&self) -> Result<Credentials, CredentialError> {
        self.cache.get(OffsetDateTime::now_utc(), || self.assume_role()).await
    }

    async fn assume_role(&self) -> Result<(Credentials, OffsetDateTime), CredentialError> {
        let token = std::fs::read_to_string(&self.config.token_file).map_err(|error| CredentialError::Io {
            source_name: SOURCE.to_owned(),
            path: self.config.token_file.clone(),
            error,
        })?;
        // A trailing newline would become part of the token; JWTs contain no whitespace.
        let token = token.trim();
        if token.is_empty() {
            return Err(CredentialError::invalid(
                SOURCE,
                format!("the token file {} is empty", self.config.token_file.display()),
            ));
        }
        let endpoint = self.url.as_str().trim_end_matches('/').to_owned();
        let query = [
            ("Action", pai_sign::wire::sts::ACTION.to_owned()),
            ("Format", "JSON".to_owned()),
            ("Version", pai_sign::wire::sts::VERSION.to_owned()),
            ("Timestamp", iso8601(OffsetDateTime::now_utc())),
        ];
        let mut form = vec![
            ("DurationSeconds", self.config.duration_seconds.to_string()),
            ("OIDCProviderArn", self.config.oidc_provider_arn.clone()),
            ("OIDCToken", token.to_owned()),
            ("RoleArn", self.config.role_arn.clone()),
            ("RoleSessionName", self.config.role_session_name.clone()),
        ];
        if let Some(policy) = self.config.policy.as_ref().filter(|p| !p.is_empty()) {
            form.push(("Policy", policy.clone()));
        }
        let owned = |pairs: &[(&str, String)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<Vec<_>>()
        };
        let mut url = self.url.clone();
        url.set_path("/");
        url.set_query(Some(&form_urlencode(&owned(&query))));
        tracing::debug!(endpoint = %endpoint, role_arn = %self.config.role_arn, "STS AssumeRoleWithOIDC");
        let unavailable = |reason: String| CredentialError::StsUnavailable {
            action: pai_sign::wire::sts::ACTION,
            role_arn: self.config.role_arn.clone(),
            endpoint: endpoint.clone(),
            reason,
        };
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form_urlencode(&owned(&form)))
            .send()
            .await
            // The URL holds no secret, but an error's text need not carry it either.
            .map_err(|e| unavailable(describe(&e.without_url())))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(describe(&e.without_url())))?;
        if status != 200 {
            let err: StsError = serde_json::from_slice(&body).unwrap_or_default();
            // STS may quote what it was sent: its text must not carry the OIDC token on.
            let mut material = RequestMaterial::none();
            material.add(token);
            let clean = |text: String| scrub::clean(&text, &material);
            return Err(CredentialError::Sts {
                action: pai_sign::wire::sts::ACTION,
                role_arn: self.config.role_arn.clone(),
                endpoint,
                answer: Box::new(StsAnswer {
                    status,
                    code: err.code.map(clean),
                    message: clean(
                        err.message
                            .unwrap_or_else(|| "no error message in the response".to_owned()),
                    ),
                    request_id: err.request_id.map(clean),
                }),
            });
        }
        sts::parse_credentials(&body, "oidc_role_arn").map_err(unavailable)
    }
}

/// A transport error with its causes, without the URL.
pub(crate) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl CredentialProvider for OidcRoleProvider {
    fn credentials(&self) -> CredentialFuture<'_> {
        Box::pin(self.fetch_cached())
    }
}

impl std::fmt::Debug for OidcRoleProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcRoleProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + Send + Sync {
        move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn sts_endpoint_precedence() {
        let none = env_of(&[]);
        assert_eq!(resolve_sts_endpoint(None, &none, None, None), "sts.aliyuncs.com");
        assert_eq!(
            resolve_sts_endpoint(Some("http://127.0.0.1:9"), &none, Some("cn-x"), None),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            resolve_sts_endpoint(None, &none, Some("cn-beijing"), None),
            "sts.cn-beijing.aliyuncs.com"
        );
        assert_eq!(
            resolve_sts_endpoint(None, &none, Some("cn-beijing"), Some(true)),
            "sts-vpc.cn-beijing.aliyuncs.com"
        );
        let region = env_of(&[(STS_REGION, "cn-shanghai"), (VPC_ENDPOINT_ENABLED, "TRUE")]);
        assert_eq!(
            resolve_sts_endpoint(None, &region, None, None),
            "sts-vpc.cn-shanghai.aliyuncs.com"
        );
        let over = env_of(&[(STS_ENDPOINT, "http://127.0.0.1:7"), (STS_REGION, "cn-shanghai")]);
        assert_eq!(resolve_sts_endpoint(None, &over, None, None), "http://127.0.0.1:7");
    }

    #[test]
    fn lookup_needs_all_three_variables() {
        assert!(matches!(lookup_env(&env_of(&[]), None), Ok(Lookup::Absent(_))));
        let partial = lookup_env(&env_of(&[(ROLE_ARN, "acs:ram::1:role/ci")]), None);
        let message = partial.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            message,
            "OIDC role: incomplete configuration: ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE not set"
        );
        let full = lookup_env(
            &env_of(&[
                (ROLE_ARN, "acs:ram::1:role/ci"),
                (OIDC_PROVIDER_ARN, "acs:ram::1:oidc-provider/gh"),
                (OIDC_TOKEN_FILE, "/var/run/token"),
                (ROLE_SESSION_NAME, "deploy"),
            ]),
            Some("http://127.0.0.1:1"),
        );
        match full {
            Ok(Lookup::Found(Found::Oidc(c))) => {
                assert_eq!(c.role_session_name, "deploy");
                assert_eq!(c.sts_endpoint, "http://127.0.0.1:1");
                assert_eq!(c.duration_seconds, 3600);
                assert_eq!(c.token_file, PathBuf::from("/var/run/token"));
            }
            _ => panic!("expected an OIDC configuration"),
        }
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint_url("sts.aliyuncs.com").map(|u| u.to_string()).ok().as_deref(),
            Some("https://sts.aliyuncs.com/")
        );
        assert!(endpoint_url("ftp://x").is_err());
        assert!(endpoint_url("http://").is_err());
    }
}
