//! The aliyun CLI's profiles, `~/.aliyun/config.json`:
//!
//! ```json
//! {"current": "default",
//!  "profiles": [
//!    {"name": "default", "mode": "AK", "access_key_id": "..", "access_key_secret": ".."},
//!    {"name": "ci", "mode": "StsToken", "access_key_id": "..", "access_key_secret": "..", "sts_token": ".."}]}
//! ```
//!
//! The profile used is the one requested (`--profile` or `ALIBABA_CLOUD_PROFILE`), else `current`.
//! Modes `AK`, `StsToken` and `OIDC` are supported; the others (RAM role chains, ECS metadata,
//! SSO, OAuth, external processes) are reported as unsupported rather than skipped.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::oidc::{default_session_name, resolve_sts_endpoint, OidcRoleConfig};
use super::{non_empty, session_identity, AssumeRoleConfig, CredentialError, Credentials, Found, Lookup};

pub const DISABLED: &str = "ALIBABA_CLOUD_CLI_PROFILE_DISABLED";
const SOURCE: &str = "aliyun CLI profile";

/// Where the aliyun CLI keeps its profiles.
pub fn config_path(home: &Path) -> PathBuf {
    home.join(".aliyun").join("config.json")
}

pub(crate) fn lookup(
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
    home: Option<&Path>,
    profile: Option<&str>,
    sts_endpoint: Option<&str>,
) -> Result<Lookup, CredentialError> {
    if non_empty(env, DISABLED).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(Lookup::Absent(format!("{SOURCE}: disabled by {DISABLED}")));
    }
    let Some(home) = home else {
        return Ok(Lookup::Absent(format!(
            "{SOURCE}: no home directory to find .aliyun/config.json in"
        )));
    };
    let path = config_path(home);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Lookup::Absent(format!("{SOURCE}: {} does not exist", path.display())));
        }
        Err(error) => {
            return Err(CredentialError::Io {
                source_name: SOURCE.to_owned(),
                path,
                error,
            })
        }
    };
    let config: Value = serde_json::from_str(&text)
        .map_err(|e| CredentialError::invalid(SOURCE, format!("{} is not valid JSON: {e}", path.display())))?;
    let name = match profile.filter(|p| !p.is_empty()) {
        Some(name) => name.to_owned(),
        None => match config.get("current").and_then(Value::as_str).filter(|c| !c.is_empty()) {
            Some(current) => current.to_owned(),
            None => {
                return Ok(Lookup::Absent(format!(
                    "{SOURCE}: {} names no `current` profile and none was requested",
                    path.display()
                )))
            }
        },
    };
    let found = config.get("profiles").and_then(Value::as_array).and_then(|profiles| {
        profiles
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name.as_str()))
    });
    let Some(entry) = found else {
        return Ok(Lookup::Absent(format!(
            "{SOURCE}: no profile `{name}` in {}",
            path.display()
        )));
    };
    from_profile(entry, &name, &path, env, sts_endpoint).map(Lookup::Found)
}

fn from_profile(
    entry: &Value,
    name: &str,
    path: &Path,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
    sts_endpoint: Option<&str>,
) -> Result<Found, CredentialError> {
    let field = |key: &str| {
        entry
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let source = format!("{SOURCE} `{name}` ({})", path.display());
    let required =
        |key: &str| field(key).ok_or_else(|| CredentialError::invalid(&source, format!("`{key}` is missing or empty")));
    let mode = field("mode").unwrap_or_default();
    match mode.as_str() {
        "AK" => Ok(Found::Static(
            Credentials::new(required("access_key_id")?, required("access_key_secret")?)
                .with_provider_name("cli_profile/static_ak"),
        )),
        "StsToken" => Ok(Found::Static(
            Credentials::new(required("access_key_id")?, required("access_key_secret")?)
                .with_security_token(required("sts_token")?)
                .with_provider_name("cli_profile/static_sts"),
        )),
        "OIDC" => {
            let duration_seconds = expired_seconds(entry).filter(|d| *d >= 900).unwrap_or(3600);
            let vpc = entry.get("enable_vpc").and_then(Value::as_bool);
            Ok(Found::Oidc(OidcRoleConfig {
                role_arn: required("ram_role_arn")?,
                oidc_provider_arn: required("oidc_provider_arn")?,
                token_file: PathBuf::from(required("oidc_token_file")?),
                role_session_name: field("role_session_name").unwrap_or_else(|| default_session_name(env)),
                duration_seconds,
                policy: field("policy"),
                sts_endpoint: resolve_sts_endpoint(sts_endpoint, env, field("sts_region").as_deref(), vpc),
            }))
        }
        "RamRoleArn" => {
            let base = Credentials::new(required("access_key_id")?, required("access_key_secret")?)
                .with_provider_name("cli_profile/static_ak");
            let mut config = AssumeRoleConfig::new(required("ram_role_arn")?, &session_identity(env));
            if let Some(name) = field("ram_session_name") {
                config.session_name = name;
            }
            if let Some(seconds) = expired_seconds(entry) {
                config.duration_secs = seconds;
            }
            let vpc = entry.get("enable_vpc").and_then(Value::as_bool);
            config.sts_endpoint = resolve_sts_endpoint(sts_endpoint, env, field("sts_region").as_deref(), vpc);
            Ok(Found::RamRole { base, config })
        }
        "" => Err(CredentialError::invalid(&source, "`mode` is missing")),
        other => Err(CredentialError::invalid(
            &source,
            format!(
                "profile mode `{other}` is not supported (supported: AK, StsToken, RamRoleArn, OIDC); \
                 choose another profile with --profile, or set ALIBABA_CLOUD_ACCESS_KEY_ID and \
                 ALIBABA_CLOUD_ACCESS_KEY_SECRET"
            ),
        )),
    }
}

/// A profile's `expired_seconds`, written as a number or a string.
fn expired_seconds(entry: &Value) -> Option<u32> {
    match entry.get("expired_seconds") {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{
      "current": "dev",
      "profiles": [
        {"name": "dev", "mode": "AK", "access_key_id": "id-dev", "access_key_secret": "secret-dev", "region_id": "cn-hangzhou"},
        {"name": "ci", "mode": "StsToken", "access_key_id": "id-ci", "access_key_secret": "secret-ci", "sts_token": "token-ci"},
        {"name": "gh", "mode": "OIDC", "ram_role_arn": "acs:ram::1:role/gh", "oidc_provider_arn": "acs:ram::1:oidc-provider/gh",
         "oidc_token_file": "/tmp/t", "sts_region": "cn-shanghai", "expired_seconds": 1800},
        {"name": "sso", "mode": "CloudSSO"},
        {"name": "broken", "mode": "AK", "access_key_id": "id"}
      ]
    }"#;

    fn home_with(config: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        if let Some(config) = config {
            let aliyun = dir.path().join(".aliyun");
            std::fs::create_dir_all(&aliyun).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(aliyun.join("config.json"), config).unwrap_or_else(|e| panic!("{e}"));
        }
        dir
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn run(home: &Path, profile: Option<&str>) -> Result<Lookup, CredentialError> {
        lookup(&no_env, Some(home), profile, None)
    }

    fn static_creds(r: Result<Lookup, CredentialError>) -> Option<Credentials> {
        match r {
            Ok(Lookup::Found(Found::Static(c))) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn modes() {
        let home = home_with(Some(CONFIG));
        let dev = static_creds(run(home.path(), None));
        assert_eq!(dev.as_ref().map(|c| c.access_key_id.as_str()), Some("id-dev"));
        assert_eq!(dev.map(|c| c.provider_name), Some("cli_profile/static_ak".to_owned()));
        let ci = static_creds(run(home.path(), Some("ci")));
        assert_eq!(
            ci.and_then(|c| c.security_token)
                .map(|t| t.expose().to_owned())
                .as_deref(),
            Some("token-ci")
        );
        match run(home.path(), Some("gh")) {
            Ok(Lookup::Found(Found::Oidc(c))) => {
                assert_eq!(c.sts_endpoint, "sts.cn-shanghai.aliyuncs.com");
                assert_eq!(c.duration_seconds, 1800);
            }
            _ => panic!("expected the OIDC profile"),
        }
    }

    #[test]
    fn absent_and_invalid() {
        let home = home_with(Some(CONFIG));
        assert!(matches!(run(home.path(), Some("nope")), Ok(Lookup::Absent(m)) if m.contains("no profile `nope`")));
        let sso = run(home.path(), Some("sso"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(sso.contains("profile mode `CloudSSO` is not supported"), "{sso}");
        let broken = run(home.path(), Some("broken"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(broken.contains("`access_key_secret` is missing or empty"), "{broken}");

        let empty = home_with(None);
        assert!(matches!(run(empty.path(), None), Ok(Lookup::Absent(m)) if m.contains("does not exist")));
        let garbage = home_with(Some("{not json"));
        let err = run(garbage.path(), None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("is not valid JSON"), "{err}");
        let disabled = |name: &str| (name == DISABLED).then(|| "true".to_owned());
        assert!(matches!(
            lookup(&disabled, Some(home.path()), None, None),
            Ok(Lookup::Absent(_))
        ));
        assert!(matches!(lookup(&no_env, None, None, None), Ok(Lookup::Absent(_))));
    }
}
