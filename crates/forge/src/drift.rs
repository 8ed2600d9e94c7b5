//! Drift as issues: every change of a saved plan that is not a `noop` is a drift, with a
//! stable fingerprint; [`reconcile`] decides, from the open issues, which to open, update and
//! close so that one drift has one issue for as long as it lasts (`docs/forge.md`, "Drift issues").

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pai_fleet::plan::{CompactPlanError, FleetPlan, FleetPlanFileError};
use pai_planner::{Action, Change, Plan, PlanFileError};
use sha2::{Digest, Sha256};

use crate::identity::{Author, Identity};

/// The label every drift issue carries: how the open ones are listed.
pub const LABEL: &str = "pai-provision-drift";

/// A saved plan, of one manifest or of a fleet, read with its own checks (format, digest).
#[derive(Debug, Clone)]
pub enum PlanDocument {
    Single(Box<Plan>),
    Fleet(Box<FleetPlan>),
}

/// Why a plan file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Single(#[from] PlanFileError),
    #[error(transparent)]
    Fleet(#[from] FleetPlanFileError),
}

/// An account's plan in a fleet plan that would not decode.
#[derive(Debug, thiserror::Error)]
#[error("the plan of account `{account}` cannot be read")]
pub struct DriftError {
    pub account: String,
    #[source]
    pub source: CompactPlanError,
}

impl PlanDocument {
    /// Reads what `plan --out` or `fleet plan --out` saved.
    pub fn load(path: &Path) -> Result<PlanDocument, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        if FleetPlan::is_fleet_plan(&text) {
            Ok(PlanDocument::Fleet(Box::new(FleetPlan::from_json(&text, path)?)))
        } else {
            Ok(PlanDocument::Single(Box::new(Plan::from_json(&text, path)?)))
        }
    }

    /// The fleet's accounts that could not be planned, by name: their drift is unknown.
    pub fn not_planned(&self) -> Vec<String> {
        match self {
            PlanDocument::Single(_) => vec![],
            PlanDocument::Fleet(fleet) => fleet
                .accounts
                .iter()
                .filter(|a| a.plan().is_none())
                .map(|a| a.name.to_string())
                .collect(),
        }
    }

    /// One drift per change that is not a `noop`, per account for a fleet (each account's plan
    /// decoded in turn, as the fleet plan holds it compactly).
    pub fn drifts(&self) -> Result<Vec<Drift>, DriftError> {
        match self {
            PlanDocument::Single(plan) => Ok(drifts_of(plan, None)),
            PlanDocument::Fleet(fleet) => {
                let mut drifts = Vec::new();
                for a in &fleet.accounts {
                    let Some(compact) = a.plan() else { continue };
                    let plan = compact.decode().map_err(|source| DriftError {
                        account: a.name.to_string(),
                        source,
                    })?;
                    let account = Account {
                        name: a.name.to_string(),
                        id: a.id.clone(),
                    };
                    drifts.extend(drifts_of(&plan, Some(&account)));
                }
                Ok(drifts)
            }
        }
    }
}

/// A fleet's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub id: String,
}

/// One change the cloud, the state and the manifest disagree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// 16 hex digits, the same for the same drift from run to run ([`fingerprint`]).
    pub fingerprint: String,
    pub account: Option<Account>,
    /// `products.NAME`.
    pub address: String,
    pub product_code: String,
    pub region: String,
    pub action: Action,
    /// The plan's reason, which may change from run to run (it is not in the fingerprint).
    pub reason: String,
    pub title: String,
}

impl Drift {
    /// Whether applying the plan would place an order for it (`order`, `reorder`), rather than
    /// only record what the cloud already has or no longer has (`adopt`, `forget`), or nothing
    /// (`conflict`, which needs a person).
    pub fn would_order(&self) -> bool {
        self.action.orders()
    }

    /// The issue's body: the marker line, then what a reviewer needs to decide.
    pub fn body(&self, key: &str, run_url: Option<&str>) -> String {
        let mut body = format!("{}\n", issue_marker(key, &self.fingerprint));
        body.push_str(&format!(
            "The last drift check of `{key}` plans **{}** for `{}`",
            self.action.as_str(),
            self.address
        ));
        if let Some(a) = &self.account {
            body.push_str(&format!(" in account `{}` ({})", a.name, a.id));
        }
        body.push_str(".\n\n");
        body.push_str(&format!(
            "| | |\n|---|---|\n| Product | `{}` in `{}` |\n| Why | {} |\n| Apply would | {} |\n",
            self.product_code,
            self.region,
            one_line(&self.reason),
            match self.action {
                Action::Order | Action::Reorder => "**place an order** (it costs money)",
                Action::Adopt => "record the activation the cloud already has (no order)",
                Action::Forget => "drop the record (no order; the activation stays billed)",
                _ => "nothing until a person resolves the conflict",
            }
        ));
        if let Some(url) = run_url {
            body.push_str(&format!("| Seen by | {url} |\n"));
        }
        body.push_str(
            "\nThis issue is updated in place while the drift lasts and closed when a check no longer finds it.\n",
        );
        body
    }
}

/// Markdown table cells are one line, and `|` ends one.
fn one_line(text: &str) -> String {
    pai_spec::escape(text).replace('|', "\\|").replace('\n', " ")
}

/// First 16 hex of SHA-256 over the account id (empty for a single plan), the change's
/// qualified address, its product code and its action: nothing that changes from run to run
/// while the drift is the same (a time, a reason's wording).
pub fn fingerprint(account_id: &str, address: &str, product_code: &str, action: Action) -> String {
    let mut hash = Sha256::new();
    for part in [account_id, address, product_code, action.as_str()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())[..16].to_owned()
}

fn drifts_of(plan: &Plan, account: Option<&Account>) -> Vec<Drift> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::Noop)
        .map(|c| drift_of(c, account))
        .collect()
}

fn drift_of(change: &Change, account: Option<&Account>) -> Drift {
    let address = change.address.qualified();
    let code = change.product_code.as_str().to_owned();
    let mut title = format!("Drift: {} {address} ({code})", change.action.as_str());
    if let Some(a) = account {
        title.push_str(&format!(" in {}", a.name));
    }
    Drift {
        fingerprint: fingerprint(account.map_or("", |a| &a.id), &address, &code, change.action),
        account: account.cloned(),
        address,
        product_code: code,
        region: change.region.to_string(),
        action: change.action,
        reason: change.reason.clone(),
        title,
    }
}

/// The hidden line that marks the issue of one drift of `key`.
pub fn issue_marker(key: &str, fingerprint: &str) -> String {
    format!("<!-- pai-provision:drift:{key}:{fingerprint} -->")
}

/// The fingerprint of `key`'s drift an issue body is marked with, if it is one of `key`'s.
pub fn marked_fingerprint(body: &str, key: &str) -> Option<String> {
    let prefix = format!("<!-- pai-provision:drift:{key}:");
    body.lines().find_map(|line| {
        let fp = line.trim().strip_prefix(&prefix)?.strip_suffix(" -->")?;
        (fp.len() == 16 && fp.chars().all(|c| c.is_ascii_hexdigit())).then(|| fp.to_owned())
    })
}

/// An open issue as the forge lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// GitHub's number, GitLab's IID.
    pub number: u64,
    pub title: String,
    pub body: String,
    pub url: String,
    pub author: Author,
}

/// What to do with one drift or one issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueAction {
    /// A drift without an issue: new drift, the one thing worth a notification.
    Open { drift: Drift },
    /// Still drifting: the body is rewritten (the forge notifies nobody of an edit).
    Update { number: u64, url: String, drift: Drift },
    /// No longer drifting, or a second issue of a drift that has one: closed with a comment.
    Close {
        number: u64,
        url: String,
        title: String,
        fingerprint: String,
        duplicate_of: Option<u64>,
    },
}

/// Pure: the open issues (any, of any key, by anyone) and this run's drifts of `key` -> what
/// to do. An issue of another key, or of none, or not opened by `me`, is never touched (anyone
/// may label an issue and paste a marker); of two open issues of one drift the oldest is kept
/// and the other closed as its duplicate. Drifts are taken once each, in order.
pub fn reconcile(open: &[Issue], drifts: &[Drift], key: &str, me: &Identity) -> Vec<IssueAction> {
    let mut mine: Vec<(&Issue, String)> = open
        .iter()
        .filter(|i| me.wrote(&i.author))
        .filter_map(|i| marked_fingerprint(&i.body, key).map(|fp| (i, fp)))
        .collect();
    mine.sort_by_key(|(i, _)| i.number);
    let mut actions = Vec::new();
    let mut seen = BTreeSet::new();
    for drift in drifts {
        if !seen.insert(drift.fingerprint.as_str()) {
            continue;
        }
        match mine.iter().find(|(_, fp)| *fp == drift.fingerprint) {
            Some((issue, _)) => actions.push(IssueAction::Update {
                number: issue.number,
                url: issue.url.clone(),
                drift: drift.clone(),
            }),
            None => actions.push(IssueAction::Open { drift: drift.clone() }),
        }
    }
    let mut kept: Vec<(&str, u64)> = Vec::new();
    for (issue, fp) in &mine {
        let first = kept.iter().find(|(f, _)| f == fp).map(|(_, n)| *n);
        let drifting = seen.contains(fp.as_str());
        if drifting && first.is_none() {
            kept.push((fp, issue.number));
            continue;
        }
        actions.push(IssueAction::Close {
            number: issue.number,
            url: issue.url.clone(),
            title: issue.title.clone(),
            fingerprint: fp.clone(),
            duplicate_of: first,
        });
    }
    actions
}

/// The issues carrying a marker of `key` that are not `me`'s: ignored, said at `-v`.
pub fn strangers<'a>(open: &'a [Issue], key: &str, me: &Identity) -> Vec<&'a Issue> {
    open.iter()
        .filter(|i| !me.wrote(&i.author) && marked_fingerprint(&i.body, key).is_some())
        .collect()
}

/// The hidden line that marks the comment an issue of `key`'s drift is closed with: how a run
/// whose post was lost, or that failed before closing, finds it was posted already.
pub fn closing_marker(key: &str, fingerprint: &str) -> String {
    format!("<!-- pai-provision:closed:{key}:{fingerprint} -->")
}

/// The comment an issue is closed with, its marker first.
pub fn closing_comment(key: &str, fingerprint: &str, duplicate_of: Option<u64>, run_url: Option<&str>) -> String {
    let whence = run_url.map(|u| format!(" ({u})")).unwrap_or_default();
    let text = match duplicate_of {
        Some(n) => format!("Closed by pai-provision: a duplicate of #{n}, which tracks the same drift{whence}."),
        None => format!("Resolved: the last drift check{whence} no longer finds this drift. Closed by pai-provision."),
    };
    format!("{}\n{text}\n", closing_marker(key, fingerprint))
}

#[cfg(test)]
mod tests;
