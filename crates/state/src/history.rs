//! The append-only history: one row per run, one per API call or state change, each linked to
//! the addresses it concerns. Nothing here is read by `plan`; both backends index the tables so
//! that `state history ADDR` stays fast however long the history grows.

use std::time::Duration;

use pai_spec::{Address, Region};
use serde::{Deserialize, Serialize};

/// A run of a writing command (`apply`, `refresh`, `state rm` ...), as numbered in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunResult {
    Succeeded,
    Failed(String),
}

/// How the client classified an API call's outcome (see `docs/idempotency.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallOutcome {
    /// The server answered with success.
    Ok,
    /// Nothing was done and it may be tried again (throttling, connection refused).
    Retryable,
    /// The server refused it; nothing was done.
    Rejected,
    /// The server may have acted (timeout, reset after sending, 5xx).
    Ambiguous,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Retryable => "retryable",
            CallOutcome::Rejected => "rejected",
            CallOutcome::Ambiguous => "ambiguous",
        }
    }
}

/// One API call to record. It must carry no secrets: no credentials, tokens or signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    pub region: Region,
    /// The API action, e.g. `CreateProductOrders` or `ListProducts`.
    pub action: String,
    /// The addresses the call was about.
    pub addresses: Vec<Address>,
    pub outcome: CallOutcome,
    pub http_status: Option<u16>,
    /// The API's error `Code`, if any.
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub order_id: Option<String>,
    pub duration: Duration,
}

/// A run as the history records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: i64,
    pub command: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    pub started_at: String,
    /// `None` while running, or when the process ended without closing the run.
    pub ended_at: Option<String>,
    /// `succeeded` or `failed`; `None` as for `ended_at`.
    pub result: Option<String>,
    pub message: Option<String>,
    /// Who and what started it; `None` for runs recorded before schema version 4.
    #[serde(default)]
    pub provenance: Option<crate::Provenance>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A call to the cloud.
    Api,
    /// A change of the recorded resources.
    State,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub run_id: i64,
    pub at: String,
    pub kind: EventKind,
    /// The API action, or the state change (`pending`, `active`, `resolved`, `adopted`, `failed`,
    /// `imported`, `moved`, `removed`).
    pub action: String,
    pub region: Option<String>,
    pub addresses: Vec<String>,
    /// For API calls, a [`CallOutcome`]; for state changes, the status the row moved to.
    pub outcome: Option<String>,
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub order_id: Option<String>,
    pub duration_ms: Option<u64>,
}

/// Runs and events in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    pub runs: Vec<RunRecord>,
    pub events: Vec<Event>,
}

/// An event about to be appended.
#[derive(Debug, Default, Clone)]
pub(crate) struct NewEvent<'a> {
    pub kind: Option<EventKind>,
    pub action: &'a str,
    pub region: Option<&'a str>,
    pub addresses: Vec<&'a str>,
    pub outcome: Option<&'a str>,
    pub http_status: Option<u16>,
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
    pub duration_ms: Option<u64>,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Api => "api",
            EventKind::State => "state",
        }
    }

    /// Anything but `api` is a state change, as the schema's CHECK allows only the two.
    pub(crate) fn parse(s: &str) -> EventKind {
        if s == "api" {
            EventKind::Api
        } else {
            EventKind::State
        }
    }
}
