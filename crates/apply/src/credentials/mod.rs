//! Where the access key comes from: the official SDK's default chain, plus fixed keys for the sandbox.
//!
//! The chain looks, in the SDK's order, at the environment ([`env`](mod@env)), an OIDC role assumed through
//! STS `AssumeRoleWithOIDC` ([`oidc`]), the aliyun CLI's `~/.aliyun/config.json` ([`cli_profile`]) and
//! the credentials file `~/.alibabacloud/credentials.ini` ([`file`](mod@file)). Each source either finds
//! credentials, reports that it is not configured (the chain moves on), or reports that it is
//! configured but unusable (the chain stops: falling through to the next source could sign the
//! order with another account's key).
//!
//! A fleet then enters each account with [`assume_role`]: STS `AssumeRole` into the account's
//! role, signed with what the chain found (the base credentials), under a session name and
//! `SourceIdentity` that say which run and commit it is ([`session`]). Both STS exchanges share
//! one cache, refreshed before expiry, in `sts`. `docs/credentials.md` is the user-facing
//! description.

pub mod assume_role;
pub mod cli_profile;
pub mod env;
pub mod file;
pub mod oidc;
mod secret;
pub mod session;
pub(crate) mod sts;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use crate::client::{ProxyConfig, RpcClient};

pub use assume_role::{AssumeRoleConfig, AssumeRoleProvider};
pub use oidc::{OidcRoleConfig, OidcRoleProvider};
pub use secret::Secret;
pub use session::{session_identity, SessionIdentity};

/// A way to read one environment variable. Injected so that tests never touch the process
/// environment and so that the CLI decides what the environment is.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a request is signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// Present for STS credentials; adds `x-acs-accesskey-id` and `x-acs-security-token` to requests.
    pub security_token: Option<Secret>,
    /// Which source produced them, in the SDK's naming (`env`, `oidc_role_arn`, `cli_profile/static_ak`,
    /// ...). Sent as `x-acs-credentials-provider`, as the SDK does; never secret.
    pub provider_name: String,
}

impl Credentials {
    /// Long-term access key credentials.
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<Secret>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: None,
            provider_name: "static_ak".to_owned(),
        }
    }

    /// STS credentials: an access key that is only valid together with its token.
    pub fn with_security_token(mut self, token: impl Into<Secret>) -> Self {
        let token = token.into();
        // The SDK treats an empty token as no token.
        self.security_token = (!token.is_empty()).then_some(token);
        self.provider_name = if self.security_token.is_some() {
            "static_sts"
        } else {
            "static_ak"
        }
        .to_owned();
        self
    }

    pub fn with_provider_name(mut self, name: impl Into<String>) -> Self {
        self.provider_name = name.into();
        self
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &self.access_key_secret)
            .field("security_token", &self.security_token)
            .field("provider_name", &self.provider_name)
            .finish()
    }
}

/// Why no credentials could be had. Messages name variables, files and fields, never values.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Every source was tried and none is configured.
    #[error("no Alibaba Cloud credentials found; tried, in order:{}", bullet_list(.tried))]
    NotFound { tried: Vec<String> },
    /// A source is configured but cannot be used as it is.
    #[error("{source_name}: {message}")]
    Invalid { source_name: String, message: String },
    /// A file a source points at could not be read.
    #[error("{source_name}: cannot read {}: {error}", .path.display())]
    Io {
        source_name: String,
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// STS refused an exchange (`AssumeRole` or `AssumeRoleWithOIDC`); the server's text is
    /// cleaned of what the request carried (token, secret, signature).
    #[error("{action} of {role_arn} at {endpoint} failed {answer}")]
    Sts {
        action: &'static str,
        role_arn: String,
        endpoint: String,
        /// Boxed to keep every `Result` carrying a `CredentialError` small.
        answer: Box<StsAnswer>,
    },
    /// STS could not be reached or its answer could not be read.
    #[error("{action} of {role_arn}: cannot get credentials from STS at {endpoint}: {reason}")]
    StsUnavailable {
        action: &'static str,
        role_arn: String,
        endpoint: String,
        reason: String,
    },
    /// The credentials an `AssumeRole` call is signed with could not be had.
    #[error("{action} of {role_arn}: no base credentials to sign it with: {source}")]
    Base {
        action: &'static str,
        role_arn: String,
        #[source]
        source: Box<CredentialError>,
    },
}

impl CredentialError {
    /// Whether trying again later may help: STS unreachable, throttled or failing on its side.
    pub fn is_transient(&self) -> bool {
        match self {
            CredentialError::StsUnavailable { .. } => true,
            CredentialError::Sts { answer, .. } => {
                answer.status == 429
                    || answer.status >= 500
                    || answer.code.as_deref().is_some_and(|c| c.contains("Throttling"))
            }
            CredentialError::Base { source, .. } => source.is_transient(),
            _ => false,
        }
    }

    pub(crate) fn invalid(source_name: &str, message: impl Into<String>) -> Self {
        CredentialError::Invalid {
            source_name: source_name.to_owned(),
            message: message.into(),
        }
    }
}

/// What STS answered to a refused exchange: its status, `Code`, `Message` and `RequestId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsAnswer {
    pub status: u16,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
}

impl fmt::Display for StsAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, ", Code {code}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, ", RequestId {id}")?;
        }
        write!(f, "): {}", self.message)
    }
}

fn bullet_list(items: &[String]) -> String {
    items.iter().map(|item| format!("\n  - {item}")).collect()
}

/// The future a [`CredentialProvider`] returns (boxed, so providers can sit behind `dyn`).
pub type CredentialFuture<'a> = Pin<Box<dyn Future<Output = Result<Credentials, CredentialError>> + Send + 'a>>;

/// Anything that can hand out credentials for the next request. Called once per attempt, so a
/// provider with expiring credentials refreshes them here.
pub trait CredentialProvider: Send + Sync {
    fn credentials(&self) -> CredentialFuture<'_>;
}

/// Fixed credentials: the sandbox's emulator keys, or keys a caller already holds.
#[derive(Debug, Clone)]
pub struct StaticCredentials(Credentials);

impl StaticCredentials {
    pub fn new(credentials: Credentials) -> Self {
        StaticCredentials(credentials)
    }
}

impl CredentialProvider for StaticCredentials {
    fn credentials(&self) -> CredentialFuture<'_> {
        let credentials = self.0.clone();
        Box::pin(async move { Ok(credentials) })
    }
}

/// What one source of the chain found.
pub(crate) enum Lookup {
    Found(Found),
    /// Not configured; the text says what was looked at, for the "tried" list.
    Absent(String),
}

pub(crate) enum Found {
    Static(Credentials),
    Oidc(OidcRoleConfig),
    /// An access key that assumes a role (`AssumeRole`): the aliyun CLI's `RamRoleArn` mode.
    RamRole {
        base: Credentials,
        config: AssumeRoleConfig,
    },
}

/// The official SDK's default credential chain.
///
/// Order: environment, OIDC role, aliyun CLI profile, credentials file. The first source that is
/// configured wins and is reused for every later request (the OIDC role refreshes its STS
/// credentials shortly before they expire). An explicitly requested profile (`--profile`,
/// `[provider] profile`) skips the environment and OIDC sources: asking for a profile by name and
/// silently getting the key in `ALIBABA_CLOUD_ACCESS_KEY_ID` instead is how orders land in the
/// wrong account.
pub struct DefaultChain {
    env: EnvLookup,
    home: Option<PathBuf>,
    profile: Option<String>,
    sts_endpoint: Option<String>,
    resolved: tokio::sync::Mutex<Option<Resolved>>,
}

#[derive(Clone)]
enum Resolved {
    Static(Credentials),
    Oidc(Arc<OidcRoleProvider>),
    RamRole(Arc<AssumeRoleProvider>),
}

impl DefaultChain {
    /// `env` reads one environment variable; `home` is the user's home directory (where
    /// `.aliyun/config.json` and `.alibabacloud/credentials.ini` live); `profile` is an explicitly
    /// requested profile name; `sts_endpoint` overrides the STS endpoint of the OIDC role (a host
    /// name, or a URL such as `http://127.0.0.1:9000`).
    pub fn new(
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
        home: Option<PathBuf>,
        profile: Option<String>,
        sts_endpoint: Option<String>,
    ) -> Self {
        DefaultChain {
            env: Arc::new(env),
            home,
            profile: profile.filter(|p| !p.is_empty()),
            sts_endpoint: sts_endpoint.filter(|e| !e.is_empty()),
            resolved: tokio::sync::Mutex::new(None),
        }
    }

    /// The chain over the real process environment and `$HOME`.
    pub fn from_process_env(profile: Option<String>, sts_endpoint: Option<String>) -> Self {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        DefaultChain::new(|name| std::env::var(name).ok(), home, profile, sts_endpoint)
    }

    /// Whom the credentials act as, when the configured source names it without asking anyone:
    /// the RAM role of an OIDC role (`acs:ram::<account id>:role/<name>`). An access key names
    /// no account (its id is not one), and a missing or unusable source names none either
    /// (using it fails later, with its own error). A saved plan records it (`docs/plan-json.md`).
    pub fn identity(&self) -> Option<String> {
        match self.resolve_source() {
            Ok(Found::Oidc(config)) => Some(config.role_arn),
            Ok(Found::RamRole { config, .. }) => Some(config.role_arn),
            _ => None,
        }
    }

    /// Walk the sources in order and return the first one that is configured.
    fn resolve_source(&self) -> Result<Found, CredentialError> {
        let env = self.env.as_ref();
        let mut tried = Vec::new();
        let explicit = self.profile.as_deref();
        if let Some(profile) = explicit {
            tried.push(format!(
                "environment and OIDC role: skipped, because profile `{profile}` was requested explicitly"
            ));
        } else {
            for lookup in [env::lookup(env), oidc::lookup_env(env, self.sts_endpoint.as_deref())] {
                match lookup? {
                    Lookup::Found(found) => return Ok(found),
                    Lookup::Absent(why) => tried.push(why),
                }
            }
        }
        let profile_name = explicit
            .map(str::to_owned)
            .or_else(|| env("ALIBABA_CLOUD_PROFILE").filter(|p| !p.is_empty()));
        for lookup in [
            cli_profile::lookup(
                env,
                self.home.as_deref(),
                profile_name.as_deref(),
                self.sts_endpoint.as_deref(),
            ),
            file::lookup(
                env,
                self.home.as_deref(),
                profile_name.as_deref(),
                self.sts_endpoint.as_deref(),
            ),
        ] {
            match lookup? {
                Lookup::Found(found) => return Ok(found),
                Lookup::Absent(why) => tried.push(why),
            }
        }
        Err(CredentialError::NotFound { tried })
    }

    async fn fetch(&self) -> Result<Credentials, CredentialError> {
        let resolved = {
            let mut cached = self.resolved.lock().await;
            match cached.as_ref() {
                Some(resolved) => resolved.clone(),
                None => {
                    let resolved = match self.resolve_source()? {
                        Found::Static(credentials) => {
                            tracing::debug!(provider = %credentials.provider_name, "credentials resolved");
                            Resolved::Static(credentials)
                        }
                        Found::Oidc(config) => {
                            tracing::debug!(
                                role_arn = %config.role_arn,
                                sts = %config.sts_endpoint,
                                "credentials: OIDC role"
                            );
                            Resolved::Oidc(Arc::new(OidcRoleProvider::new(config, &self.env)?))
                        }
                        Found::RamRole { base, config } => {
                            tracing::debug!(role_arn = %config.role_arn, "credentials: RAM role assumed with an access key");
                            let rpc = RpcClient::new(
                                std::time::Duration::from_secs(10),
                                std::time::Duration::from_secs(30),
                                &ProxyConfig::FromEnvironment,
                                self.env.as_ref(),
                            )
                            .map_err(|e| CredentialError::invalid("AssumeRole", e.to_string()))?;
                            let base: Arc<dyn CredentialProvider> = Arc::new(StaticCredentials::new(base));
                            Resolved::RamRole(Arc::new(AssumeRoleProvider::new(&rpc, base, config)?))
                        }
                    };
                    *cached = Some(resolved.clone());
                    resolved
                }
            }
        };
        match resolved {
            Resolved::Static(credentials) => Ok(credentials),
            Resolved::Oidc(provider) => provider.fetch_cached().await,
            Resolved::RamRole(provider) => provider.credentials().await,
        }
    }
}

impl fmt::Debug for DefaultChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultChain")
            .field("home", &self.home)
            .field("profile", &self.profile)
            .field("sts_endpoint", &self.sts_endpoint)
            .finish_non_exhaustive()
    }
}

impl CredentialProvider for DefaultChain {
    fn credentials(&self) -> CredentialFuture<'_> {
        Box::pin(self.fetch())
    }
}

/// Read an environment variable through `env`, treating an empty value as unset (as the SDK does).
pub(crate) fn non_empty(env: &(dyn Fn(&str) -> Option<String> + Send + Sync), name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_secrets() {
        let creds = Credentials::new("LTAI-id", "the-secret").with_security_token("the-token");
        let shown = format!("{creds:?}");
        assert!(shown.contains("LTAI-id"));
        assert!(!shown.contains("the-secret") && !shown.contains("the-token"), "{shown}");
        assert_eq!(creds.provider_name, "static_sts");
        assert!(Credentials::new("a", "b")
            .with_security_token("")
            .security_token
            .is_none());
    }

    #[test]
    fn not_found_lists_every_source() {
        let err = CredentialError::NotFound {
            tried: vec!["environment: x".into(), "credentials file: y".into()],
        };
        assert_eq!(
            err.to_string(),
            "no Alibaba Cloud credentials found; tried, in order:\n  - environment: x\n  - credentials file: y"
        );
    }

    #[test]
    fn transient_errors() {
        let sts = |status, code: Option<&str>| CredentialError::Sts {
            action: "AssumeRole",
            role_arn: "acs:ram::1:role/r".into(),
            endpoint: "e".into(),
            answer: Box::new(StsAnswer {
                status,
                code: code.map(str::to_owned),
                message: "m".into(),
                request_id: None,
            }),
        };
        assert!(sts(503, None).is_transient());
        assert!(sts(400, Some("Throttling.User")).is_transient());
        assert!(!sts(400, Some("InvalidParameter.OIDCToken")).is_transient());
        assert!(!CredentialError::invalid("environment", "x").is_transient());
    }

    #[test]
    fn identity_is_the_role_of_an_oidc_role_and_nothing_else() {
        let chain = |vars: &'static [(&'static str, &'static str)]| {
            DefaultChain::new(
                move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()),
                None,
                None,
                None,
            )
        };
        let oidc: &[(&str, &str)] = &[
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1234:role/deploy"),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1234:oidc-provider/gh"),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/nonexistent/token"),
        ];
        assert_eq!(chain(oidc).identity().as_deref(), Some("acs:ram::1234:role/deploy"));
        let key: &[(&str, &str)] = &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-id"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s"),
        ];
        assert_eq!(chain(key).identity(), None, "an access key id is not an account");
        assert_eq!(chain(&[]).identity(), None);
        // Half an OIDC configuration is an error of the chain, not an identity.
        assert_eq!(chain(&oidc[..1]).identity(), None);
    }
}
