//! How the fake forge misbehaves when a test asks: a call refused before anything is done
//! (`503`, `429` with `Retry-After`), a call done whose answer never arrives, a call answered
//! late. Each [`Fault`] matches calls by method and a piece of their path, and happens a given
//! number of times.

use std::time::Duration;

use super::Store;

/// What happens to a call a fault matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answered with `status` and `headers` (`retry-after`, `x-ratelimit-reset`...), nothing done.
    Refuse {
        status: u16,
        headers: Vec<(&'static str, String)>,
    },
    /// Done, then the connection is closed without an answer: the client cannot tell whether it
    /// was done.
    LoseAnswer,
    /// Done and answered, after this long.
    Delay(Duration),
}

/// A misbehaviour of the fake, for the calls that match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// A piece of the path the call must contain (`/comments`, `/issues`).
    pub path: &'static str,
    /// The path must end with `path`, not merely contain it.
    pub at_end: bool,
    pub effect: Effect,
    /// How many matching calls it still applies to.
    pub times: usize,
}

impl Fault {
    /// Once, on the next `method` call whose path contains `path`.
    pub fn new(method: &'static str, path: &'static str, effect: Effect) -> Fault {
        Fault {
            method,
            path,
            at_end: false,
            effect,
            times: 1,
        }
    }

    /// Only on paths that end with `path`.
    pub fn at_end(mut self) -> Fault {
        self.at_end = true;
        self
    }

    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }

    /// A refusal with `status` and no header.
    pub fn status(method: &'static str, path: &'static str, status: u16) -> Fault {
        Fault::new(
            method,
            path,
            Effect::Refuse {
                status,
                headers: vec![],
            },
        )
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self.method == method
            && if self.at_end {
                path.ends_with(self.path)
            } else {
                path.contains(self.path)
            }
    }
}

impl Store {
    /// The effect of the first fault that matches the call, counted as used.
    pub(crate) fn take_fault(&mut self, method: &str, path: &str) -> Option<Effect> {
        let fault = self.faults.iter_mut().find(|f| f.matches(method, path))?;
        fault.times -= 1;
        Some(fault.effect.clone())
    }

    /// Faults that have not happened yet (a test that expects all to have happened checks it).
    pub fn faults_left(&self) -> usize {
        self.faults.iter().map(|f| f.times).sum()
    }
}
