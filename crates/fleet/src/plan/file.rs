//! The saved fleet plan: its JSON document with a digest of everything apply acts on, read back
//! only when the digest still matches and every account plan inside is of the format this
//! pai-provision reads, and written only over a file that is a plan. The same rules as a single
//! plan's (`pai_planner`'s `plan/file.rs`, `docs/plan-json.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use pai_planner::plan::{write_document_with, WriteError};

use super::{FleetPlan, Totals, FLEET_FORMAT_VERSION};

/// Why a fleet plan file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FleetPlanFileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a pai-provision fleet plan ({why})", path.display())]
    NotAPlan { path: PathBuf, why: String },
    #[error(
        "{}: a single account's plan, not a fleet plan: apply it with `pai-provision apply`",
        path.display()
    )]
    SinglePlan { path: PathBuf },
    #[error(
        "{}: the fleet plan's format is version {found}, newer than this pai-provision reads ({supported}); \
         apply it with the version that made it",
        path.display()
    )]
    NewerFormat { path: PathBuf, found: u64, supported: u32 },
    #[error(
        "{}: the fleet plan's format is version {found}, older than this pai-provision reads ({supported}); \
         plan again with this pai-provision",
        path.display()
    )]
    OlderFormat { path: PathBuf, found: u64, supported: u32 },
    #[error(
        "{}: the plan of account `{account}` is format version {found}, {} than this pai-provision reads \
         ({supported}); {}",
        path.display(),
        if *found > u64::from(*supported) { "newer" } else { "older" },
        if *found > u64::from(*supported) { "apply it with the version that made it" } else { "plan again with this pai-provision" }
    )]
    AccountFormat {
        path: PathBuf,
        account: String,
        found: u64,
        supported: u32,
    },
    #[error(
        "{}: the fleet plan was edited after `fleet plan` saved it (its digest does not match its contents); \
         nothing was done. Apply only what was reviewed: plan again",
        path.display()
    )]
    Edited { path: PathBuf },
    #[error(
        "{}: exists and is not a plan ({why}); `fleet plan --out` replaces only a saved plan. Choose another file",
        path.display()
    )]
    WouldReplace { path: PathBuf, why: String },
}

/// The document: the plan's fields, what it would do, then its digest.
#[derive(Serialize)]
struct Sealed<'a> {
    #[serde(flatten)]
    plan: &'a FleetPlan,
    /// Over every planned account, derived from `totals`: outside the digest, dropped on reading.
    would: pai_planner::Would,
    digest: String,
}

impl FleetPlan {
    /// `sha256:` and the hex SHA-256 of the plan's compact JSON, every field in the order of
    /// the types: an edit to anything apply reads changes it. Unknown fields are dropped on
    /// reading, so they are neither in it nor acted on. It is the saved document's `digest`,
    /// which `fleet apply --expect-digest` compares. The JSON is hashed as it is written, never
    /// held whole.
    pub fn digest(&self) -> String {
        pai_planner::plan::digest_of(self)
    }

    /// Writes the JSON document to `out`: what `--out` saves and `--format json` prints. Each
    /// account's plan is written on one line, compact (`docs/fleet-plan-json.md`).
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let sealed = Sealed {
            plan: self,
            would: self.totals.would(),
            digest: self.digest(),
        };
        serde_json::to_writer_pretty(&mut *out, &sealed)?;
        out.write_all(b"\n")
    }

    /// [`FleetPlan::write_json`] into a string.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_json(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Whether `text` is a fleet plan document of any version (it names a fleet file), as
    /// opposed to a fleet file or a single plan: how `fleet apply FLEET|FLEETPLAN` tells them apart.
    pub fn is_fleet_plan(text: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(text)
            .is_ok_and(|v| v.get("format_version").is_some() && v.get("fleet_path").is_some())
    }

    /// Reads a fleet plan document, refusing other documents, other formats (the fleet plan's
    /// or an account plan's) and a plan whose digest does not match its contents.
    pub fn from_json(text: &str, path: &Path) -> Result<FleetPlan, FleetPlanFileError> {
        let not_a_plan = |why: String| FleetPlanFileError::NotAPlan {
            path: path.to_owned(),
            why,
        };
        let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))?;
        let version = format_version(&value).ok_or_else(|| not_a_plan("no `format_version`".into()))?;
        if value.get("fleet_path").is_none() {
            return Err(if value.get("manifest_path").is_some() {
                FleetPlanFileError::SinglePlan { path: path.to_owned() }
            } else {
                not_a_plan("no `fleet_path`".into())
            });
        }
        let supported = FLEET_FORMAT_VERSION;
        if version != u64::from(supported) {
            let path = path.to_owned();
            return Err(if version > u64::from(supported) {
                FleetPlanFileError::NewerFormat {
                    path,
                    found: version,
                    supported,
                }
            } else {
                FleetPlanFileError::OlderFormat {
                    path,
                    found: version,
                    supported,
                }
            });
        }
        // Before the typed read: a newer account plan may not even parse as this version's.
        check_account_formats(&value, path)?;
        let recorded = value
            .as_object_mut()
            .and_then(|o| o.remove("digest"))
            .and_then(|d| d.as_str().map(str::to_owned))
            .ok_or_else(|| not_a_plan("no `digest`".into()))?;
        let plan: FleetPlan = serde_json::from_value(value).map_err(|e| not_a_plan(e.to_string()))?;
        if plan.digest() != recorded {
            return Err(FleetPlanFileError::Edited { path: path.to_owned() });
        }
        // What the digest cannot tell: a document written by hand with a fresh digest that
        // contradicts itself. `fleet plan` never writes one.
        if plan.totals != Totals::of(&plan.accounts) {
            return Err(not_a_plan("`totals` do not count `accounts`".into()));
        }
        if plan.accounts.windows(2).any(|w| w[0].name >= w[1].name) {
            return Err(not_a_plan("`accounts` are not sorted by name, or repeat one".into()));
        }
        Ok(plan)
    }

    pub fn load(path: &Path) -> Result<FleetPlan, FleetPlanFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| FleetPlanFileError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        FleetPlan::from_json(&text, path)
    }

    /// Writes the JSON document as a single plan is written (`pai_planner::plan::write_document_with`:
    /// atomically, and over nothing or a plan only): `--out` pointed at the fleet file or a state
    /// by mistake must not destroy it.
    pub fn save(&self, path: &Path) -> Result<(), FleetPlanFileError> {
        write_document_with(path, |out| self.write_json(out)).map_err(|e| match e {
            WriteError::Io(source) => FleetPlanFileError::Io {
                path: path.to_owned(),
                source,
            },
            WriteError::WouldReplace(why) => FleetPlanFileError::WouldReplace {
                path: path.to_owned(),
                why,
            },
        })
    }
}

fn format_version(value: &serde_json::Value) -> Option<u64> {
    value.get("format_version").and_then(serde_json::Value::as_u64)
}

/// Every planned account's plan is of `pai_planner::FORMAT_VERSION`.
fn check_account_formats(value: &serde_json::Value, path: &Path) -> Result<(), FleetPlanFileError> {
    let Some(accounts) = value.get("accounts").and_then(serde_json::Value::as_array) else {
        return Ok(()); // the typed read names what is missing
    };
    for account in accounts {
        let Some(plan) = account.get("outcome").and_then(|o| o.get("plan")) else {
            continue;
        };
        let found = format_version(plan).unwrap_or(0);
        if found != u64::from(pai_planner::FORMAT_VERSION) {
            let name = account.get("name").and_then(serde_json::Value::as_str).unwrap_or("?");
            return Err(FleetPlanFileError::AccountFormat {
                path: path.to_owned(),
                account: pai_spec::escape(name).into_owned(),
                found,
                supported: pai_planner::FORMAT_VERSION,
            });
        }
    }
    Ok(())
}
