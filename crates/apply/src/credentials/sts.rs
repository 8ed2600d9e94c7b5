//! What the two STS exchanges share: `AssumeRoleWithOIDC` (the chain's OIDC role) and
//! `AssumeRole` (a fleet's role per account) both answer with `Credentials` that expire, both
//! are cached until shortly before then, and concurrent callers wait for one exchange.

use std::future::Future;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{CredentialError, Credentials};

/// The SDK treats STS credentials as stale 15 minutes before they expire.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(15);

/// When to exchange again: 15 minutes before expiry, or halfway through a shorter lifetime.
pub(crate) fn refresh_time(now: OffsetDateTime, expiration: OffsetDateTime) -> OffsetDateTime {
    let lifetime = expiration - now;
    let margin = if lifetime < REFRESH_MARGIN * 2 {
        lifetime / 2
    } else {
        REFRESH_MARGIN
    };
    expiration - margin
}

struct Cached {
    credentials: Credentials,
    refresh_at: OffsetDateTime,
}

/// One provider's STS credentials until their refresh time. The lock is held across the
/// exchange, so concurrent callers (regions, requests) wait for one exchange rather than each
/// making their own.
#[derive(Default)]
pub(crate) struct StsCache {
    slot: tokio::sync::Mutex<Option<Cached>>,
}

impl StsCache {
    /// The cached credentials when `now` is before their refresh time, else what `exchange`
    /// returns (credentials and their expiry), which is then kept. A failed exchange keeps
    /// nothing: the next caller tries again.
    pub(crate) async fn get<F, Fut>(&self, now: OffsetDateTime, exchange: F) -> Result<Credentials, CredentialError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Credentials, OffsetDateTime), CredentialError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(cached.credentials.clone());
        }
        let (credentials, expiration) = exchange().await?;
        let refresh_at = refresh_time(now, expiration);
        tracing::debug!(%expiration, %refresh_at, provider = %credentials.provider_name, "credentials: STS credentials obtained");
        *slot = Some(Cached {
            credentials: credentials.clone(),
            refresh_at,
        });
        Ok(credentials)
    }
}

/// The `Credentials` object of an STS answer; every field optional so that a missing one is
/// named rather than reported as a parse error that could quote the body.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Credentials")]
    credentials: Option<AnswerCredentials>,
}

#[derive(Deserialize)]
struct AnswerCredentials {
    #[serde(rename = "AccessKeyId")]
    access_key_id: Option<String>,
    #[serde(rename = "AccessKeySecret")]
    access_key_secret: Option<String>,
    #[serde(rename = "SecurityToken")]
    security_token: Option<String>,
    #[serde(rename = "Expiration")]
    expiration: Option<String>,
}

/// The credentials and their expiry from an STS success body, named `provider_name`. The body
/// holds the new secret: the error (a reason for `StsUnavailable`) describes its shape, never
/// its content. Unknown fields (`AssumedRoleUser`, `SourceIdentity`, ...) are ignored.
pub(crate) fn parse_credentials(body: &[u8], provider_name: &str) -> Result<(Credentials, OffsetDateTime), String> {
    let parsed: Answer =
        serde_json::from_slice(body).map_err(|_| "the response is not the expected JSON".to_owned())?;
    let creds = parsed
        .credentials
        .ok_or_else(|| "the response has no `Credentials`".to_owned())?;
    let missing: Vec<&str> = [
        ("AccessKeyId", creds.access_key_id.as_deref()),
        ("AccessKeySecret", creds.access_key_secret.as_deref()),
        ("SecurityToken", creds.security_token.as_deref()),
        ("Expiration", creds.expiration.as_deref()),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none_or(str::is_empty))
    .map(|(name, _)| name)
    .collect();
    let (Some(id), Some(secret), Some(token), Some(expiration)) = (
        creds.access_key_id,
        creds.access_key_secret,
        creds.security_token,
        creds.expiration,
    ) else {
        return Err(format!("`Credentials` lacks {}", missing.join(", ")));
    };
    if !missing.is_empty() {
        return Err(format!("`Credentials` lacks {}", missing.join(", ")));
    }
    let expiration = OffsetDateTime::parse(&expiration, &Rfc3339)
        .map_err(|_| format!("`Expiration` is not an RFC 3339 time: {expiration}"))?;
    let credentials = Credentials::new(id, secret)
        .with_security_token(token)
        .with_provider_name(provider_name);
    Ok((credentials, expiration))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn refreshes_before_expiry() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let hour = now + time::Duration::hours(1);
        assert_eq!(refresh_time(now, hour), hour - time::Duration::minutes(15));
        let short = now + time::Duration::minutes(20);
        assert_eq!(refresh_time(now, short), now + time::Duration::minutes(10));
        // Already expired (a skewed clock): exchange again at once rather than keep it.
        let past = now - time::Duration::minutes(2);
        assert!(refresh_time(now, past) <= now);
    }

    #[tokio::test]
    async fn cache_exchanges_once_until_the_refresh_time() {
        let cache = StsCache::default();
        let exchanges = AtomicU32::new(0);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let exchange = || async {
            let n = exchanges.fetch_add(1, Ordering::SeqCst) + 1;
            let creds = Credentials::new(format!("STS.{n}"), "s").with_security_token("t");
            Ok((creds, t0 + time::Duration::hours(1)))
        };
        for minutes in [0, 10, 44] {
            let creds = cache.get(t0 + time::Duration::minutes(minutes), exchange).await;
            assert_eq!(
                creds.map(|c| c.access_key_id).ok().as_deref(),
                Some("STS.1"),
                "{minutes} min"
            );
        }
        // 45 minutes in is the refresh time of credentials that expire after an hour.
        let later = cache.get(t0 + time::Duration::minutes(45), exchange).await;
        assert_eq!(later.map(|c| c.access_key_id).ok().as_deref(), Some("STS.2"));
        assert_eq!(exchanges.load(Ordering::SeqCst), 2);
        // A failed exchange keeps nothing; the next call tries again.
        let fresh = StsCache::default();
        let failing = || async { Err(CredentialError::invalid("test", "refused")) };
        assert!(fresh.get(t0, failing).await.is_err());
        assert!(fresh.get(t0, exchange).await.is_ok());
        assert_eq!(exchanges.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn parses_the_answer_and_names_what_is_missing() {
        let full = br#"{"RequestId":"r","AssumedRoleUser":{"Arn":"acs:ram::1:role/x/s","AssumedRoleId":"3:s"},
            "Credentials":{"AccessKeyId":"STS.id","AccessKeySecret":"SECRET-S","SecurityToken":"TOKEN-T",
            "Expiration":"2026-11-30T15:00:00Z"},"SourceIdentity":"abc","Unknown":1}"#;
        let (creds, expiration) = parse_credentials(full, "ram_role_arn").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(creds.access_key_id, "STS.id");
        assert_eq!(creds.access_key_secret.expose(), "SECRET-S");
        assert_eq!(creds.security_token.as_ref().map(|t| t.expose()), Some("TOKEN-T"));
        assert_eq!(creds.provider_name, "ram_role_arn");
        assert_eq!(expiration.unix_timestamp(), 1_796_050_800);
        let cases: [(&[u8], &str); 5] = [
            (b"<html>", "the response is not the expected JSON"),
            (br#"{"RequestId":"r"}"#, "the response has no `Credentials`"),
            (
                br#"{"Credentials":{"AccessKeyId":"STS.id","AccessKeySecret":"SECRET-S","SecurityToken":""}}"#,
                "`Credentials` lacks SecurityToken, Expiration",
            ),
            (
                br#"{"Credentials":{"AccessKeySecret":"SECRET-S","SecurityToken":"TOKEN-T","Expiration":"x"}}"#,
                "`Credentials` lacks AccessKeyId",
            ),
            (
                br#"{"Credentials":{"AccessKeyId":"i","AccessKeySecret":"SECRET-S","SecurityToken":"TOKEN-T","Expiration":"soon"}}"#,
                "`Expiration` is not an RFC 3339 time: soon",
            ),
        ];
        for (body, want) in cases {
            let got = parse_credentials(body, "x").err().unwrap_or_default();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(body));
            assert!(!got.contains("SECRET-S") && !got.contains("TOKEN-T"));
        }
    }
}
