//! Fault injection: what can go wrong between a client and the real service, by flag.
//!
//! A [`Faults`] value is parsed from `latency_ms=50,throttle=0.2,...`. For every API request
//! the emulator draws one [`Draw`] from a seeded RNG, always the same four numbers in the same
//! order, so a sequential client sees the same faults for the same seed.

use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::Rng;

/// Default hold of `slow_after_commit`: past any sensible client timeout.
pub const DEFAULT_SLOW_MS: u64 = 30_000;
/// Default `Retry-After` of a throttled answer.
pub const DEFAULT_RETRY_AFTER_MS: u64 = 1_000;

/// Which faults to inject, and how often. Probabilities are in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added before every API request is handled.
    pub latency_ms: u64,
    /// Chance of `429 Throttling.User` with `Retry-After`, after authentication, before anything is recorded.
    pub throttle: f64,
    /// Chance of `500 InternalError` before anything is recorded.
    pub error_500: f64,
    /// Chance of `500 InternalError` for an order only, before anything is recorded, while
    /// `ListProducts` answers: a gateway that fails writes and serves reads. It reads the same
    /// number as `error_500`, so it does not shift the sequence of the other faults.
    pub order_error_500: f64,
    /// Chance, for an accepted order, of recording it and then closing the connection with no response.
    pub drop_after_commit: f64,
    /// Chance, for an accepted order, of recording it and then holding the response for `slow_ms`.
    pub slow_after_commit: f64,
    pub slow_ms: u64,
    pub retry_after_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            throttle: 0.0,
            error_500: 0.0,
            order_error_500: 0.0,
            drop_after_commit: 0.0,
            slow_after_commit: 0.0,
            slow_ms: DEFAULT_SLOW_MS,
            retry_after_ms: DEFAULT_RETRY_AFTER_MS,
        }
    }
}

/// A fault spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault spec `{spec}`: {reason}")]
pub struct FaultsError {
    pub spec: String,
    pub reason: String,
}

const KEYS: &[&str] = &[
    "latency_ms",
    "throttle",
    "error_500",
    "order_error_500",
    "drop_after_commit",
    "slow_after_commit",
    "slow_ms",
    "retry_after_ms",
];

impl FromStr for Faults {
    type Err = FaultsError;

    fn from_str(spec: &str) -> Result<Self, FaultsError> {
        let err = |reason: String| FaultsError {
            spec: spec.to_owned(),
            reason,
        };
        let mut faults = Faults::default();
        let trimmed = spec.trim();
        if trimmed.is_empty() || trimmed == "none" {
            return Ok(faults);
        }
        for item in trimmed.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| err(format!("`{item}` is not `key=value`")))?;
            let (key, value) = (key.trim(), value.trim());
            let ms = || {
                value
                    .parse::<u64>()
                    .map_err(|_| err(format!("{key} must be a whole number of milliseconds, not `{value}`")))
            };
            let probability = || match value.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                _ => Err(err(format!(
                    "{key} must be a probability between 0 and 1, not `{value}`"
                ))),
            };
            match key {
                "latency_ms" => faults.latency_ms = ms()?,
                "slow_ms" => faults.slow_ms = ms()?,
                "retry_after_ms" => faults.retry_after_ms = ms()?,
                "throttle" => faults.throttle = probability()?,
                "error_500" => faults.error_500 = probability()?,
                "order_error_500" => faults.order_error_500 = probability()?,
                "drop_after_commit" => faults.drop_after_commit = probability()?,
                "slow_after_commit" => faults.slow_after_commit = probability()?,
                other => return Err(err(format!("unknown fault `{other}`; known: {}", KEYS.join(", ")))),
            }
        }
        Ok(faults)
    }
}

impl fmt::Display for Faults {
    /// The canonical spec, listing only what differs from no faults; `none` when nothing does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = Faults::default();
        let mut parts = Vec::new();
        if self.latency_ms != d.latency_ms {
            parts.push(format!("latency_ms={}", self.latency_ms));
        }
        for (key, p) in [
            ("throttle", self.throttle),
            ("error_500", self.error_500),
            ("order_error_500", self.order_error_500),
            ("drop_after_commit", self.drop_after_commit),
            ("slow_after_commit", self.slow_after_commit),
        ] {
            if p > 0.0 {
                parts.push(format!("{key}={p}"));
            }
        }
        if self.slow_ms != d.slow_ms {
            parts.push(format!("slow_ms={}", self.slow_ms));
        }
        if self.retry_after_ms != d.retry_after_ms {
            parts.push(format!("retry_after_ms={}", self.retry_after_ms));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// The faults chosen for one API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Draw {
    pub throttle: bool,
    pub error_500: bool,
    /// Applies to orders only (`Faults::order_error_500`).
    pub order_error_500: bool,
    pub drop_after_commit: bool,
    pub slow_after_commit: bool,
}

impl Faults {
    /// Draw the faults of one request. Always consumes exactly four numbers, whatever the
    /// probabilities, so that changing one probability does not shift the others' sequence.
    pub fn draw(&self, rng: &mut StdRng) -> Draw {
        let mut next = || rng.gen::<f64>();
        let (throttle, error, drop, slow) = (next(), next(), next(), next());
        Draw {
            throttle: throttle < self.throttle,
            error_500: error < self.error_500,
            order_error_500: error < self.order_error_500,
            drop_after_commit: drop < self.drop_after_commit,
            slow_after_commit: slow < self.slow_after_commit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_specs() {
        let f: Faults = "latency_ms=50, throttle=0.2,error_500=0.1,drop_after_commit=1,slow_after_commit=0,slow_ms=200"
            .parse()
            .unwrap();
        assert_eq!(f.latency_ms, 50);
        assert_eq!(f.throttle, 0.2);
        assert_eq!(f.error_500, 0.1);
        assert_eq!(f.drop_after_commit, 1.0);
        assert_eq!(f.slow_after_commit, 0.0);
        assert_eq!(f.slow_ms, 200);
        assert_eq!(f.retry_after_ms, DEFAULT_RETRY_AFTER_MS);
        assert_eq!(
            f.to_string(),
            "latency_ms=50,throttle=0.2,error_500=0.1,drop_after_commit=1,slow_ms=200"
        );
        assert_eq!(f.to_string().parse::<Faults>().unwrap(), f);
        for empty in ["", " ", "none"] {
            assert_eq!(empty.parse::<Faults>().unwrap(), Faults::default(), "{empty:?}");
        }
        assert_eq!(Faults::default().to_string(), "none");
    }

    #[test]
    fn rejects_bad_specs() {
        for (spec, needle) in [
            ("throttle=1.5", "probability"),
            ("throttle=-0.1", "probability"),
            ("throttle=x", "probability"),
            ("latency_ms=-1", "milliseconds"),
            ("latency", "key=value"),
            ("drop=0.1", "unknown fault `drop`"),
        ] {
            let e = spec.parse::<Faults>().unwrap_err();
            assert!(e.to_string().contains(needle), "{spec}: {e}");
        }
    }

    #[test]
    fn draws_are_reproducible_and_follow_probabilities() {
        let f: Faults = "throttle=0.5".parse().unwrap();
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200).map(|_| f.draw(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|d| d.throttle).count();
        assert!((60..140).contains(&hits), "{hits} of 200 at p=0.5");
        assert!(run(7)
            .iter()
            .all(|d| !d.error_500 && !d.drop_after_commit && !d.slow_after_commit));

        let always: Faults = "error_500=1,drop_after_commit=1".parse().unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let d = always.draw(&mut rng);
        assert!(d.error_500 && d.drop_after_commit && !d.throttle && !d.order_error_500);

        // Orders only, and without shifting the other faults' sequence.
        let orders: Faults = "throttle=0.5,order_error_500=1".parse().unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let with_orders: Vec<Draw> = (0..200).map(|_| orders.draw(&mut rng)).collect();
        assert!(with_orders.iter().all(|d| d.order_error_500 && !d.error_500));
        let throttled = |draws: &[Draw]| draws.iter().map(|d| d.throttle).collect::<Vec<_>>();
        assert_eq!(throttled(&with_orders), throttled(&run(7)));
    }
}
