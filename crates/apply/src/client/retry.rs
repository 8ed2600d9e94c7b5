//! When to try again: exponential backoff with full jitter, the server's `Retry-After`, and a
//! bound on the total time spent.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// How retry-safe failures (and, for reads, ambiguous ones) are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// No retry starts after this much time since the first attempt (attempts plus delays).
    pub max_elapsed: Duration,
    /// The first retry waits up to `base`; each further one up to twice as long as the previous.
    pub base: Duration,
    /// The cap on a computed backoff (a server's `Retry-After` may exceed it, within `max_elapsed`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_elapsed: Duration::from_secs(60),
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn never() -> Self {
        RetryPolicy {
            max_elapsed: Duration::ZERO,
            base: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// Full jitter: a uniform draw in `[0, min(max_delay, base * 2^(retry-1))]`, where `retry`
    /// counts from 1 and `unit` is the draw in `[0, 1)`.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let ceiling = self.base.saturating_mul(1u32 << exponent).min(self.max_delay);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The delay before retry number `retry`, or `None` when it would end past `max_elapsed`.
    pub fn next_delay(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        elapsed: Duration,
        unit: f64,
    ) -> Option<Duration> {
        let delay = retry_after.unwrap_or_else(|| self.backoff(retry, unit));
        (elapsed.saturating_add(delay) < self.max_elapsed).then_some(delay)
    }
}

/// The server's wish: `Retry-After` in seconds or as an HTTP date, or the SDK's
/// `x-acs-retry-after` in milliseconds. The larger one wins when both are present.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let standard = text("retry-after").and_then(|v| match v.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(v)
            .ok()
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO)),
    });
    standard.max(acs_retry_after(headers))
}

/// The SDK's `x-acs-retry-after`, in milliseconds. As the SDK's `getThrottlingTimeLeft`, a
/// missing, empty, non-numeric, zero or negative value means none; a positive one also makes
/// the error a throttling one (see `classify_response`).
pub fn acs_retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("x-acs-retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn full_jitter_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_elapsed: Duration::from_secs(60),
            base: MS(100),
            max_delay: MS(1000),
        };
        let table = [
            (1, 1.0, 100),
            (2, 1.0, 200),
            (3, 1.0, 400),
            (4, 1.0, 800),
            (5, 1.0, 1000),
            (40, 1.0, 1000),
        ];
        for (retry, unit, want) in table {
            assert_eq!(policy.backoff(retry, unit), MS(want), "retry {retry}");
        }
        assert_eq!(policy.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(policy.backoff(3, 0.5), MS(200));
    }

    #[test]
    fn budget_and_retry_after() {
        let policy = RetryPolicy {
            max_elapsed: MS(1000),
            base: MS(100),
            max_delay: MS(1000),
        };
        assert_eq!(policy.next_delay(1, None, MS(0), 1.0), Some(MS(100)));
        assert_eq!(policy.next_delay(1, Some(MS(700)), MS(0), 1.0), Some(MS(700)));
        assert_eq!(policy.next_delay(1, Some(MS(700)), MS(400), 1.0), None);
        assert_eq!(policy.next_delay(1, None, MS(950), 1.0), None);
        assert_eq!(RetryPolicy::never().next_delay(1, None, MS(0), 0.0), None);
    }

    #[test]
    fn retry_after_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")));
            }
            map
        };
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")]), now),
            Some(Duration::from_secs(2))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(3));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&headers(&[("x-acs-retry-after", "250")]), now),
            Some(MS(250))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1"), ("x-acs-retry-after", "1500")]), now),
            Some(MS(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "soon"), ("x-acs-retry-after", "0")]), now),
            None
        );
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        for (value, want) in [
            ("250", Some(MS(250))),
            ("", None),
            ("-5", None),
            ("0", None),
            ("1.5", None),
        ] {
            assert_eq!(
                acs_retry_after(&headers(&[("x-acs-retry-after", value)])),
                want,
                "{value:?}"
            );
        }
        assert_eq!(acs_retry_after(&headers(&[("retry-after", "3")])), None);
    }
}
