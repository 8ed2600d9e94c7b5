//! `show`, `state list`, `state show` and `state history`, as text and as the JSON documents
//! documented in `docs/state.md`.

use std::fmt::Write;

use serde::Serialize;

use pai_spec::escape;
use pai_state::{Event, EventKind, History, Resource, StateSnapshot};

/// The version of the state JSON documents below.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// `show --format json`.
#[derive(Debug, Serialize)]
pub struct StateDocument<'a> {
    pub format_version: u32,
    pub path: String,
    pub lineage: Option<&'a str>,
    pub serial: u64,
    /// The change freeze in force, absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frozen: Option<&'a pai_state::Freeze>,
    pub resources: Vec<&'a Resource>,
}

impl<'a> StateDocument<'a> {
    pub fn new(snapshot: &'a StateSnapshot, path: &str) -> Self {
        StateDocument {
            format_version: STATE_FORMAT_VERSION,
            path: path.to_owned(),
            lineage: snapshot.lineage.as_deref(),
            serial: snapshot.serial,
            frozen: snapshot.freeze.as_ref(),
            resources: snapshot.resources.values().collect(),
        }
    }
}

/// One row of `state list --format json`.
#[derive(Debug, Serialize)]
pub struct ListRow<'a> {
    pub address: &'a str,
    pub region: &'a str,
    pub product_code: &'a str,
    pub status: &'a str,
    pub order_id: Option<&'a str>,
}

pub fn list_rows(snapshot: &StateSnapshot) -> Vec<ListRow<'_>> {
    snapshot
        .resources
        .values()
        .map(|r| ListRow {
            address: r.address.as_str(),
            region: r.region.as_str(),
            product_code: r.product_code.as_str(),
            status: r.status.as_str(),
            order_id: r.order_id.as_deref(),
        })
        .collect()
}

/// `state list`: an aligned table.
pub fn list(snapshot: &StateSnapshot) -> String {
    let mut rows = vec![[
        "ADDRESS".to_owned(),
        "REGION".to_owned(),
        "PRODUCT".to_owned(),
        "STATUS".to_owned(),
        "ORDER ID".to_owned(),
    ]];
    for r in snapshot.resources.values() {
        rows.push([
            r.address.qualified(),
            r.region.to_string(),
            r.product_code.to_string(),
            r.status.as_str().to_owned(),
            escape(r.order_id.as_deref().unwrap_or("-")).into_owned(),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (w, c)) in widths.iter().zip(row).enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `state show ADDR`.
pub fn resource(r: &Resource) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", r.address.qualified());
    let field = |out: &mut String, name: &str, value: &str| {
        let _ = writeln!(out, "  {name:<24}{}", escape(value));
    };
    field(&mut out, "product code", r.product_code.as_str());
    field(&mut out, "region", r.region.as_str());
    field(&mut out, "status", r.status.as_str());
    field(&mut out, "origin", r.origin.as_str());
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    field(&mut out, "order id", &dash(&r.order_id));
    let ids = if r.product_ids.is_empty() {
        "-".to_owned()
    } else {
        r.product_ids.join(", ")
    };
    field(&mut out, "product ids", &ids);
    field(&mut out, "buy product request id", &dash(&r.buy_product_request_id));
    field(&mut out, "request id", &dash(&r.request_id));
    if let Some(e) = &r.last_error {
        field(&mut out, "last error", e);
    }
    field(&mut out, "fingerprint", &r.fingerprint.0);
    field(&mut out, "created", &r.created_at);
    field(&mut out, "updated", &r.updated_at);
    if let Some(deadline) = &r.settle_until {
        field(&mut out, "settles", deadline);
    }
    if r.reorders > 0 {
        field(&mut out, "reorders after drift", &r.reorders.to_string());
    }
    out.push_str("  request\n");
    let request = serde_json::to_string_pretty(&r.request).unwrap_or_default();
    for line in request.lines() {
        let _ = writeln!(out, "    {line}");
    }
    out
}

/// `show` without a plan file: the header and every resource.
pub fn state(snapshot: &StateSnapshot, path: &str) -> String {
    let mut out = String::new();
    let Some(lineage) = &snapshot.lineage else {
        let _ = writeln!(out, "No state at {} yet: nothing has been recorded.", escape(path));
        return out;
    };
    let _ = writeln!(out, "State {}", escape(path));
    let _ = writeln!(out, "  lineage {}, serial {}", escape(lineage), snapshot.serial);
    if let Some(freeze) = &snapshot.freeze {
        let _ = writeln!(
            out,
            "  {}; apply refuses until `state unfreeze`",
            escape(&freeze.describe())
        );
    }
    let _ = writeln!(
        out,
        "  {} recorded\n",
        count(snapshot.resources.len(), "address", "addresses")
    );
    for r in snapshot.resources.values() {
        out.push_str(&resource(r));
        out.push('\n');
    }
    out
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `state history`: each run, then its events.
pub fn history(h: &History) -> String {
    let mut out = String::new();
    if h.runs.is_empty() && h.events.is_empty() {
        out.push_str("No history.\n");
        return out;
    }
    let mut events = h.events.iter().peekable();
    for run in &h.runs {
        let ended = match (&run.ended_at, &run.result) {
            (Some(at), Some(result)) => format!("{result} at {at}"),
            _ => "did not finish".to_owned(),
        };
        // The provenance ends the run's line: every indented line below is an event.
        let by = run
            .provenance
            .as_ref()
            .map(|p| format!("  by {}", escape(&provenance(p))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "run {}  {}  started {}  {ended}  (pid {} on {}, pai-provision {}){by}",
            run.id,
            escape(&run.command),
            run.started_at,
            run.pid,
            escape(&run.host),
            escape(&run.version)
        );
        if let Some(m) = &run.message {
            let _ = writeln!(out, "  {}", escape(m));
        }
        while let Some(ev) = events.next_if(|e| e.run_id == run.id) {
            let _ = writeln!(out, "  {}", event(ev));
        }
    }
    // Events whose run is not listed cannot happen with this schema; show them rather than hide.
    for ev in events {
        let _ = writeln!(out, "  {}", event(ev));
    }
    out
}

/// A run's provenance on one line: who, then where from (CI, repository, pull request, commit,
/// run URL), then the digests of the saved plans it applied.
pub fn provenance(p: &pai_state::Provenance) -> String {
    let mut parts = vec![p.who()];
    let fields = [
        ("ci", &p.ci),
        ("repository", &p.repository),
        ("pull request", &p.pull_request),
        ("commit", &p.commit),
        ("run", &p.run_url),
        ("plan", &p.plan_digest),
        ("fleet plan", &p.fleet_plan_digest),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            parts.push(format!("{name} {v}"));
        }
    }
    // The verdict the apply re-checked: `policy passed, 2 warnings (sha256:98a948c6c56a…)`.
    if let Some(record) = &p.policy {
        parts.push(record.summary());
    }
    parts.join(", ")
}

fn event(ev: &Event) -> String {
    let addresses: Vec<String> = ev
        .addresses
        .iter()
        .map(|a| match pai_spec::Address::parse_qualified(a) {
            Ok(a) => a.qualified(),
            Err(_) => escape(a).into_owned(),
        })
        .collect();
    let mut line = format!("{}  ", ev.at);
    match ev.kind {
        EventKind::Api => {
            let _ = write!(
                line,
                "{} {} -> {}",
                escape(&ev.action),
                escape(ev.region.as_deref().unwrap_or("?")),
                escape(ev.outcome.as_deref().unwrap_or("?"))
            );
            if let Some(s) = ev.http_status {
                let _ = write!(line, " HTTP {s}");
            }
            if let Some(c) = &ev.code {
                let _ = write!(line, " {}", escape(c));
            }
            if let Some(d) = ev.duration_ms {
                let _ = write!(line, " in {d} ms");
            }
            if !addresses.is_empty() {
                let _ = write!(line, " [{}]", addresses.join(", "));
            }
            if let Some(id) = &ev.order_id {
                let _ = write!(line, " OrderId {}", escape(id));
            }
            if let Some(id) = &ev.request_id {
                let _ = write!(line, " RequestId {}", escape(id));
            }
            if let Some(m) = &ev.message {
                let _ = write!(line, ": {}", escape(m));
            }
        }
        EventKind::State => {
            let _ = write!(
                line,
                "{} {}",
                addresses.join(", "),
                escape(ev.message.as_deref().unwrap_or(&ev.action))
            );
        }
    }
    line
}
