//! An account's plan as the fleet plan holds it: its compact JSON, and the few facts every
//! account is asked for (totals, exit code, which accounts get a section or are held back).
//!
//! A decoded `Plan` of eight products takes about 18 KB; its compact JSON a fraction of that.
//! A fleet of 10,000 accounts holds every account's plan from planning to rendering and saving,
//! so it holds them encoded and decodes one at a time (docs/benchmarks.md, "fleet").
//!
//! The encoding is the plan's compact JSON, written in the fleet plan document as it is; a
//! document read back is decoded as a `Plan` and encoded again, so what the fleet plan holds
//! (and its digest covers) is always the canonical form, however the file was laid out.

use std::fmt;

use pai_planner::{Plan, Summary};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A `Plan`, encoded. [`CompactPlan::decode`] gives it back.
#[derive(Clone)]
pub struct CompactPlan {
    json: Box<RawValue>,
    summary: Summary,
    denied: bool,
    policy_messages: bool,
    /// The account had a state when it was planned (the plan has a lineage).
    had_state: bool,
}

/// A plan that would not encode or decode: a defect of this program, reported rather than
/// hidden, since an account whose plan cannot be read must not be applied.
#[derive(Debug, thiserror::Error)]
#[error("the account's plan could not be {what}: {source}")]
pub struct CompactPlanError {
    what: &'static str,
    #[source]
    source: serde_json::Error,
}

impl CompactPlan {
    pub fn encode(plan: &Plan) -> Result<CompactPlan, CompactPlanError> {
        let json = serde_json::value::to_raw_value(plan).map_err(|source| CompactPlanError {
            what: "encoded",
            source,
        })?;
        Ok(CompactPlan {
            json,
            summary: plan.summary,
            denied: plan.is_denied(),
            had_state: plan.lineage.is_some(),
            policy_messages: plan
                .policy
                .as_ref()
                .is_some_and(|v| !v.deny.is_empty() || !v.warn.is_empty()),
        })
    }

    pub fn decode(&self) -> Result<Plan, CompactPlanError> {
        serde_json::from_str(self.json.get()).map_err(|source| CompactPlanError {
            what: "decoded",
            source,
        })
    }

    /// `Plan::digest` of the encoded plan, from its encoding: the digest is the SHA-256 of
    /// exactly this compact JSON, so nothing is serialised again.
    pub fn digest(&self) -> String {
        pai_planner::plan::digest_of_json(self.json.get().as_bytes())
    }

    /// How many addresses each action concerns, as `Plan::summary`.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// How many changes (`order`, `adopt`, `reorder`, `forget`), as `Plan::has_changes` counts.
    pub fn changes(&self) -> usize {
        let s = self.summary;
        s.order + s.adopt + s.reorder + s.forget
    }

    pub fn has_changes(&self) -> bool {
        self.changes() > 0
    }

    pub fn has_conflicts(&self) -> bool {
        self.summary.conflict > 0
    }

    /// As `Plan::is_denied`.
    /// Whether the account had a state when it was planned.
    pub fn had_state(&self) -> bool {
        self.had_state
    }

    pub fn is_denied(&self) -> bool {
        self.denied
    }

    /// Whether a policy denied or warned about the plan.
    pub fn has_policy_messages(&self) -> bool {
        self.policy_messages
    }

    /// The encoded size in bytes.
    pub fn len(&self) -> usize {
        self.json.get().len()
    }

    pub fn is_empty(&self) -> bool {
        self.json.get().is_empty()
    }
}

impl PartialEq for CompactPlan {
    fn eq(&self, other: &Self) -> bool {
        self.json.get() == other.json.get()
    }
}

impl Eq for CompactPlan {}

impl fmt::Debug for CompactPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactPlan")
            .field("summary", &self.summary)
            .field("denied", &self.denied)
            .field("bytes", &self.len())
            .finish()
    }
}

impl Serialize for CompactPlan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CompactPlan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let plan = Plan::deserialize(deserializer)?;
        CompactPlan::encode(&plan).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn decodes_to_the_plan_it_encoded_with_its_facts() {
        for plan in [
            fixtures::fresh_account(),
            fixtures::settled_account(),
            fixtures::conflicted_account(),
        ] {
            let compact = CompactPlan::encode(&plan).unwrap();
            assert_eq!(compact.decode().unwrap(), plan);
            assert_eq!(compact.digest(), plan.digest(), "the digest, without serialising again");
            assert_eq!(compact.summary(), plan.summary);
            assert_eq!(compact.has_changes(), plan.has_changes());
            assert_eq!(compact.has_conflicts(), plan.has_conflicts());
            assert_eq!(compact.is_denied(), plan.is_denied());
            assert_eq!(
                compact.changes(),
                plan.changes.iter().filter(|c| c.action.is_change()).count()
            );
        }
    }

    #[test]
    fn is_written_as_the_plans_compact_json_and_read_back_from_any_layout() {
        let plan = fixtures::fresh_account();
        let compact = CompactPlan::encode(&plan).unwrap();
        assert_eq!(
            serde_json::to_string(&compact).unwrap(),
            serde_json::to_string(&plan).unwrap()
        );
        let pretty = serde_json::to_string_pretty(&plan).unwrap();
        let read: CompactPlan = serde_json::from_str(&pretty).unwrap();
        assert_eq!(read, compact, "a re-indented document reads back to the same encoding");
    }
}
