//! `refresh`: record what the cloud reports, both ways, without ordering anything.
//!
//! What an answer means for a row is `pai_planner::reconcile`; this module records it (adopt,
//! resolve, drift) and says what it found. It is data only: the CLI renders it.

use pai_planner::{reconcile, Observation, Verdict, Word};
use pai_spec::Product;
use pai_state::{ApiCall, RunResult, StateError, StateWriter};
use serde::Serialize;

/// What a refresh found for one address whose record changed or disagrees with the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// The cloud reports it purchased; now recorded (it was unrecorded or recorded failed).
    Adopted,
    /// An interrupted order went through; now recorded active.
    Resolved,
    /// Recorded active, the cloud reports it not purchased; the plan shows a reorder.
    Drift,
    /// An interrupted order the cloud reports not purchased; apply will order it.
    NotPlaced,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Adopted => "adopted",
            FindingKind::Resolved => "resolved",
            FindingKind::Drift => "drift",
            FindingKind::NotPlaced => "not_placed",
        }
    }
}

/// One address whose record changed or disagrees with the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub address: String,
    pub region: String,
    pub product_code: String,
    pub kind: FindingKind,
    pub message: String,
}

/// Records, in a run of its own, the `calls` that made `observed` and what `observed` means for
/// each of `products` (the manifest's). The caller holds the state's lock, and has let any order
/// an interrupted run may still have on its way arrive before asking (`await_interrupted`):
/// otherwise it would be reported not placed.
pub fn refresh<'a>(
    writer: &mut StateWriter,
    products: impl IntoIterator<Item = &'a Product>,
    observed: &Observation,
    calls: &[ApiCall],
) -> Result<Vec<Finding>, StateError> {
    let snapshot = writer.snapshot()?;
    let run = writer.begin_run("refresh")?;
    for call in calls {
        writer.record_api_call(run, call)?;
    }
    let mut findings = Vec::new();
    for product in products {
        let Some(seen) = observed.get(&product.region, product.code()) else {
            continue;
        };
        let recorded = snapshot.resources.get(&product.address);
        let elsewhere = recorded.is_none() && snapshot.find_activation(&product.region, product.code()).is_some();
        let product_id = seen.product_id.as_deref();
        let (kind, message) = match reconcile(recorded.map(|r| r.status), elsewhere, Word::of(Some(seen))) {
            Verdict::Adopt => {
                writer.mark_adopted(run, product, product_id)?;
                let message = if recorded.is_some() {
                    "recorded failed, but the cloud reports it purchased; recorded"
                } else {
                    "the cloud reports it purchased; recorded"
                };
                (FindingKind::Adopted, message)
            }
            Verdict::Resolve => {
                writer.mark_resolved(run, &product.address, product_id)?;
                (
                    FindingKind::Resolved,
                    "an interrupted order went through; recorded active",
                )
            }
            Verdict::Drift => {
                writer.record_drift(
                    run,
                    &product.address,
                    "drift: recorded active, the cloud reports it not purchased",
                )?;
                (
                    FindingKind::Drift,
                    "recorded active, but the cloud reports it not purchased; plan shows a reorder",
                )
            }
            Verdict::NotPlaced => (
                FindingKind::NotPlaced,
                "an interrupted order was not placed; apply will order it",
            ),
            _ => continue,
        };
        findings.push(Finding {
            address: product.address.to_string(),
            region: product.region.to_string(),
            product_code: product.code().to_string(),
            kind,
            message: message.to_owned(),
        });
    }
    writer.end_run(run, &RunResult::Succeeded)?;
    Ok(findings)
}
