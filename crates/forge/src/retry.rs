//! When a forge call is tried again: the cloud client's backoff (`pai_apply`'s
//! [`RetryPolicy`]: full jitter, a cap, a budget) with a bound on the attempts, the forge's own
//! wish (`Retry-After`, and GitHub's and GitLab's rate-limit reset), and the one rule that
//! keeps a post from being made twice: a call is sent again only when sending it again cannot
//! do twice what it asks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pai_apply::client::RetryPolicy;
use reqwest::header::HeaderMap;
use reqwest::Method;

use crate::error::ForgeError;

/// How failed forge calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts at most, the first included.
    pub attempts: u32,
    /// The delays and the time budget, as the cloud calls have them.
    pub policy: RetryPolicy,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            policy: RetryPolicy::default(),
        }
    }
}

impl Retry {
    /// Never retry.
    pub fn never() -> Retry {
        Retry {
            attempts: 1,
            policy: RetryPolicy::never(),
        }
    }

    /// The delay before attempt `attempt + 1`, or `None` when there is none to make: the
    /// attempts are spent, or the wait would end past the budget. `wait` is the forge's own.
    pub fn delay(&self, attempt: u32, wait: Option<Duration>, elapsed: Duration) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        self.policy.next_delay(attempt, wait, elapsed, rand::random::<f64>())
    }
}

/// Whether a failed call may be sent again as it is. A refusal for the rate (429, or GitHub's
/// 403 that says so) was made before the call was carried out, and so was a connection
/// refused. A 5xx or an answer that did not arrive leaves it unknown: sent again only when
/// doing it twice is doing it once (GET, PUT, PATCH), never a POST, which would post twice;
/// the POST's caller lists again instead (`publish`).
pub(crate) fn retry_safe(error: &ForgeError, method: &Method, rate_limited: bool) -> bool {
    let idempotent = *method != Method::POST;
    match error {
        ForgeError::Status { status: 429, .. } => true,
        ForgeError::Status { status: 403, .. } => rate_limited,
        ForgeError::Transport { source, .. } if source.is_connect() => true,
        other => other.outcome_unknown() && idempotent,
    }
}

/// Whether an answer says the rate limit is spent: GitHub's and GitLab's `...-remaining: 0`,
/// or a `Retry-After`.
pub(crate) fn rate_limited(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    text("x-ratelimit-remaining") == Some("0")
        || text("ratelimit-remaining") == Some("0")
        || headers.contains_key("retry-after")
}

/// How long the forge asks to wait: `Retry-After` (seconds or a date), or, when the limit is
/// spent, until its reset (GitHub's `x-ratelimit-reset`, GitLab's `ratelimit-reset`, in
/// seconds since the epoch). The longest wins.
pub(crate) fn wait_asked(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let retry_after = pai_apply::client::retry::retry_after(headers, now);
    let reset = [
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
        ("ratelimit-remaining", "ratelimit-reset"),
    ]
    .into_iter()
    .filter(|(remaining, _)| text(remaining) == Some("0"))
    .filter_map(|(_, reset)| text(reset)?.parse::<u64>().ok())
    .map(|at| {
        let at = UNIX_EPOCH + Duration::from_secs(at);
        at.duration_since(now).unwrap_or(Duration::ZERO)
    })
    .max();
    retry_after.max(reset)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).expect("a header value"));
        }
        map
    }

    /// Some headers, and the wait in seconds they ask for.
    type Row = (&'static [(&'static str, &'static str)], Option<u64>);

    #[test]
    fn the_wait_is_the_forge_s_when_it_says() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let table: [Row; 6] = [
            (&[], None),
            (&[("retry-after", "3")], Some(3)),
            (
                &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000042")],
                Some(42),
            ),
            // Not spent: the reset says nothing about now.
            (
                &[("x-ratelimit-remaining", "17"), ("x-ratelimit-reset", "1700000042")],
                None,
            ),
            (
                &[
                    ("ratelimit-remaining", "0"),
                    ("ratelimit-reset", "1700000005"),
                    ("retry-after", "9"),
                ],
                Some(9),
            ),
            // A reset in the past: at once.
            (
                &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1600000000")],
                Some(0),
            ),
        ];
        for (pairs, want) in table {
            assert_eq!(
                wait_asked(&headers(pairs), now),
                want.map(Duration::from_secs),
                "{pairs:?}"
            );
        }
    }

    /// A call is sent again only when that cannot do twice what it asks.
    #[test]
    fn a_post_is_sent_again_only_when_the_forge_did_not_do_it() {
        let status = |status: u16| ForgeError::Status {
            forge: "github",
            method: Method::POST,
            path: "/x".into(),
            status,
            message: "m".into(),
        };
        let timeout = || ForgeError::Timeout {
            forge: "github",
            method: Method::POST,
            path: "/x".into(),
            after: Duration::from_secs(1),
        };
        // (error, method, rate limited, retried)
        let table = [
            (status(429), Method::POST, false, true),
            (status(403), Method::POST, true, true),
            (status(403), Method::GET, false, false),
            (status(404), Method::GET, false, false),
            (status(502), Method::GET, false, true),
            (status(503), Method::PATCH, false, true),
            (status(503), Method::PUT, false, true),
            (status(503), Method::POST, false, false),
            (timeout(), Method::GET, false, true),
            (timeout(), Method::POST, false, false),
            (ForgeError::NoPullRequest, Method::GET, false, false),
        ];
        for (error, method, limited, want) in table {
            assert_eq!(retry_safe(&error, &method, limited), want, "{method} {error}");
        }
        assert!(status(500).outcome_unknown() && timeout().outcome_unknown());
        assert!(!status(429).outcome_unknown() && !status(422).outcome_unknown());
    }

    #[test]
    fn attempts_and_budget_bound_the_retries() {
        let retry = Retry {
            attempts: 3,
            policy: RetryPolicy {
                max_elapsed: Duration::from_secs(10),
                base: Duration::from_millis(100),
                max_delay: Duration::from_secs(1),
            },
        };
        assert!(retry
            .delay(1, None, Duration::ZERO)
            .is_some_and(|d| d <= Duration::from_millis(100)));
        assert_eq!(
            retry.delay(2, Some(Duration::from_secs(4)), Duration::ZERO),
            Some(Duration::from_secs(4))
        );
        assert_eq!(retry.delay(3, None, Duration::ZERO), None, "attempts spent");
        assert_eq!(
            retry.delay(1, Some(Duration::from_secs(11)), Duration::ZERO),
            None,
            "past the budget"
        );
        assert_eq!(Retry::never().delay(1, None, Duration::ZERO), None);
    }
}
