//! The first source of the chain: `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and,
//! for STS credentials, `ALIBABA_CLOUD_SECURITY_TOKEN`.

use super::{non_empty, CredentialError, Credentials, Found, Lookup};

pub const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

const SOURCE: &str = "environment";

pub(crate) fn lookup(env: &(dyn Fn(&str) -> Option<String> + Send + Sync)) -> Result<Lookup, CredentialError> {
    let id = non_empty(env, ACCESS_KEY_ID);
    let secret = non_empty(env, ACCESS_KEY_SECRET);
    let token = non_empty(env, SECURITY_TOKEN);
    match (id, secret) {
        (Some(id), Some(secret)) => {
            let credentials = match token {
                Some(token) => Credentials::new(id, secret).with_security_token(token),
                None => Credentials::new(id, secret),
            };
            Ok(Lookup::Found(Found::Static(credentials.with_provider_name("env"))))
        }
        (Some(_), None) => Err(CredentialError::invalid(
            SOURCE,
            format!("{ACCESS_KEY_ID} is set but {ACCESS_KEY_SECRET} is empty or unset"),
        )),
        (None, Some(_)) => Err(CredentialError::invalid(
            SOURCE,
            format!("{ACCESS_KEY_SECRET} is set but {ACCESS_KEY_ID} is empty or unset"),
        )),
        (None, None) if token.is_some() => Err(CredentialError::invalid(
            SOURCE,
            format!("{SECURITY_TOKEN} is set but {ACCESS_KEY_ID} and {ACCESS_KEY_SECRET} are not"),
        )),
        (None, None) => Ok(Lookup::Absent(format!("{SOURCE}: {ACCESS_KEY_ID} is not set"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(vars: &[(&str, &str)]) -> Result<Lookup, CredentialError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        lookup(&move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn table() {
        let found = |r: Result<Lookup, CredentialError>| match r {
            Ok(Lookup::Found(Found::Static(c))) => Some(c),
            _ => None,
        };
        let c =
            found(run(&[(ACCESS_KEY_ID, "id"), (ACCESS_KEY_SECRET, "s")])).map(|c| (c.security_token, c.provider_name));
        assert_eq!(c, Some((None, "env".to_owned())));
        let c = found(run(&[
            (ACCESS_KEY_ID, "id"),
            (ACCESS_KEY_SECRET, "s"),
            (SECURITY_TOKEN, "t"),
        ]));
        assert_eq!(
            c.and_then(|c| c.security_token).map(|t| t.expose().to_owned()),
            Some("t".to_owned())
        );
        // An empty token is no token, as in the SDK.
        let c = found(run(&[
            (ACCESS_KEY_ID, "id"),
            (ACCESS_KEY_SECRET, "s"),
            (SECURITY_TOKEN, ""),
        ]));
        assert!(c.is_some_and(|c| c.security_token.is_none()));

        assert!(matches!(run(&[]), Ok(Lookup::Absent(_))));
        assert!(matches!(run(&[(ACCESS_KEY_ID, "")]), Ok(Lookup::Absent(_))));
        for partial in [
            &[(ACCESS_KEY_ID, "id")][..],
            &[(ACCESS_KEY_SECRET, "s")][..],
            &[(SECURITY_TOKEN, "t")][..],
            &[(ACCESS_KEY_ID, "id"), (ACCESS_KEY_SECRET, "")][..],
        ] {
            let err = run(partial).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.starts_with("environment: "), "{partial:?}: {err}");
            assert!(!err.contains("\"s\"") && !err.contains("=id"), "{err}");
        }
    }
}
