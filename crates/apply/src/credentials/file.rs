//! The Alibaba Cloud credentials file, an INI file with one section per profile:
//!
//! ```ini
//! [default]
//! type = access_key
//! access_key_id = LTAI...
//! access_key_secret = ...
//! ```
//!
//! Its path is `ALIBABA_CLOUD_CREDENTIALS_FILE`, else `~/.alibabacloud/credentials.ini` (the Python
//! SDK's name), else `~/.alibabacloud/credentials` (the Go and Java SDKs' name). The section is the
//! requested profile, else `default`. Types `access_key` and `oidc_role_arn` are supported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::oidc::{default_session_name, resolve_sts_endpoint, OidcRoleConfig};
use super::{non_empty, CredentialError, Credentials, Found, Lookup};

pub const CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";
const SOURCE: &str = "credentials file";

/// The default locations, in the order they are tried.
pub fn default_paths(home: &Path) -> [PathBuf; 2] {
    let dir = home.join(".alibabacloud");
    [dir.join("credentials.ini"), dir.join("credentials")]
}

pub(crate) fn lookup(
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
    home: Option<&Path>,
    profile: Option<&str>,
    sts_endpoint: Option<&str>,
) -> Result<Lookup, CredentialError> {
    let path = match non_empty(env, CREDENTIALS_FILE) {
        Some(path) => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(CredentialError::invalid(
                    SOURCE,
                    format!("{CREDENTIALS_FILE} names {}, which is not a file", path.display()),
                ));
            }
            path
        }
        None => {
            let Some(home) = home else {
                return Ok(Lookup::Absent(format!(
                    "{SOURCE}: no home directory and {CREDENTIALS_FILE} is not set"
                )));
            };
            let candidates = default_paths(home);
            match candidates.iter().find(|p| p.is_file()) {
                Some(path) => path.clone(),
                None => {
                    return Ok(Lookup::Absent(format!(
                        "{SOURCE}: neither {} nor {} exists",
                        candidates[0].display(),
                        candidates[1].display()
                    )))
                }
            }
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|error| CredentialError::Io {
        source_name: SOURCE.to_owned(),
        path: path.clone(),
        error,
    })?;
    let sections =
        parse_ini(&text).map_err(|m| CredentialError::invalid(SOURCE, format!("{}: {m}", path.display())))?;
    let name = profile.filter(|p| !p.is_empty()).unwrap_or("default");
    let Some(section) = sections.get(name) else {
        return Ok(Lookup::Absent(format!(
            "{SOURCE}: no section [{name}] in {}",
            path.display()
        )));
    };
    let source = format!("{SOURCE} [{name}] ({})", path.display());
    let required = |key: &str| {
        section
            .get(key)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| CredentialError::invalid(&source, format!("`{key}` is missing or empty")))
    };
    match section.get("type").map(String::as_str).unwrap_or_default() {
        "access_key" => Ok(Lookup::Found(Found::Static(
            Credentials::new(required("access_key_id")?, required("access_key_secret")?)
                .with_provider_name("profile/static_ak"),
        ))),
        "oidc_role_arn" => Ok(Lookup::Found(Found::Oidc(OidcRoleConfig {
            role_arn: required("role_arn")?,
            oidc_provider_arn: required("oidc_provider_arn")?,
            token_file: PathBuf::from(required("oidc_token_file_path")?),
            role_session_name: section
                .get("role_session_name")
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| default_session_name(env)),
            duration_seconds: 3600,
            policy: section.get("policy").filter(|v| !v.is_empty()).cloned(),
            sts_endpoint: resolve_sts_endpoint(sts_endpoint, env, None, None),
        }))),
        "" => Err(CredentialError::invalid(&source, "`type` is missing")),
        other => Err(CredentialError::invalid(
            &source,
            format!("credential type `{other}` is not supported (supported: access_key, oidc_role_arn)"),
        )),
    }
}

type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// INI as Python's `configparser` reads it for the SDK: `[section]`, `key = value` or `key: value`,
/// keys case-insensitive, `#` and `;` comment lines, and (as the SDK adds) an inline `#` comment.
/// Errors name the line number only: a line may hold a secret.
fn parse_ini(text: &str) -> Result<Sections, String> {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let split = line.find(['=', ':']).map(|at| (&line[..at], &line[at + 1..]));
        let (Some(section), Some((key, value))) = (current.as_ref(), split) else {
            return Err(format!("line {}: expected `[section]` or `key = value`", index + 1));
        };
        let value = value.split('#').next().unwrap_or_default().trim();
        sections
            .entry(section.clone())
            .or_default()
            .insert(key.trim().to_ascii_lowercase(), value.to_owned());
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# comment
[default]
type = access_key
access_key_id = id-default
access_key_secret = secret-default   # inline comment

[ci]
Type: access_key
access_key_id: id-ci
access_key_secret: secret-ci
; another comment

[role]
type = ram_role_arn

[oidc]
type = oidc_role_arn
role_arn = acs:ram::1:role/x
oidc_provider_arn = acs:ram::1:oidc-provider/y
oidc_token_file_path = /tmp/token
";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn home_with(name: &str, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sub = dir.path().join(".alibabacloud");
        std::fs::create_dir_all(&sub).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(sub.join(name), text).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    fn id_of(r: Result<Lookup, CredentialError>) -> Option<String> {
        match r {
            Ok(Lookup::Found(Found::Static(c))) => {
                Some(format!("{}/{}", c.access_key_id, c.access_key_secret.expose()))
            }
            _ => None,
        }
    }

    #[test]
    fn sections_and_types() {
        for name in ["credentials.ini", "credentials"] {
            let home = home_with(name, FILE);
            let run = |profile| lookup(&no_env, Some(home.path()), profile, None);
            assert_eq!(id_of(run(None)).as_deref(), Some("id-default/secret-default"), "{name}");
            assert_eq!(id_of(run(Some("ci"))).as_deref(), Some("id-ci/secret-ci"));
            assert!(
                matches!(run(Some("oidc")), Ok(Lookup::Found(Found::Oidc(c))) if c.sts_endpoint == "sts.aliyuncs.com")
            );
            assert!(matches!(run(Some("missing")), Ok(Lookup::Absent(m)) if m.contains("no section [missing]")));
            let err = run(Some("role")).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("credential type `ram_role_arn` is not supported"), "{err}");
        }
    }

    #[test]
    fn path_selection() {
        let home = home_with("credentials.ini", FILE);
        let elsewhere = home.path().join("elsewhere.ini");
        std::fs::write(
            &elsewhere,
            "[default]\ntype=access_key\naccess_key_id=other\naccess_key_secret=s\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let path = elsewhere.display().to_string();
        let env = move |name: &str| (name == CREDENTIALS_FILE).then(|| path.clone());
        assert_eq!(
            id_of(lookup(&env, Some(home.path()), None, None)).as_deref(),
            Some("other/s")
        );
        let missing = |name: &str| (name == CREDENTIALS_FILE).then(|| "/nonexistent/creds".to_owned());
        assert!(lookup(&missing, Some(home.path()), None, None).is_err());
        let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            lookup(&no_env, Some(empty.path()), None, None),
            Ok(Lookup::Absent(_))
        ));
    }

    #[test]
    fn malformed_lines_name_the_line_not_the_content() {
        let err = parse_ini("[default]\nthis-is-a-secret-without-equals\n")
            .err()
            .unwrap_or_default();
        assert_eq!(err, "line 2: expected `[section]` or `key = value`");
        assert!(parse_ini("key = before any section").is_err());
    }
}
