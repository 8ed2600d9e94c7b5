//! What the policies said about a plan (`plan --policy DIR`). The planner only carries the
//! verdict: `pai-policy` evaluates the policies and fills it in, so the planner stays free of the
//! Rego engine and a saved plan's digest covers the verdict like every other field.

use serde::{Deserialize, Serialize};

/// The verdict of a policy directory on a plan (`docs/policy.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVerdict {
    /// `sha256:` and the hex SHA-256 of the policy files evaluated, names and contents: `apply
    /// --policy` refuses a plan whose policies changed since.
    pub policies_digest: String,
    /// Denials: the plan may not be applied while there is one.
    pub deny: Vec<PolicyFinding>,
    /// Warnings: shown to the reviewer, not blocking.
    pub warn: Vec<PolicyFinding>,
}

/// One message of a `deny` or `warn` rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyFinding {
    /// The policy file whose rule produced it, relative to the policy directory.
    pub file: String,
    /// The rule: `deny`, `warn`, or one of their conftest variants (`deny_<name>`, `violation`).
    pub rule: String,
    pub message: String,
}

impl PolicyVerdict {
    pub fn denies(&self) -> bool {
        !self.deny.is_empty()
    }

    /// What the run that applies the plan records of this verdict in its provenance
    /// (`docs/state.md`, "Provenance").
    pub fn record(&self) -> pai_state::PolicyRecord {
        pai_state::PolicyRecord::new(
            &self.policies_digest,
            self.deny.len(),
            self.warn.iter().map(|f| (f.file.as_str(), f.message.as_str())),
        )
    }
}
