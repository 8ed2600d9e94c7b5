//! `fleet plan`, `fleet apply`, `fleet status`: the commands over a fleet file (docs/fleet.md).
//! They only wire: the fleet file is `pai_spec::fleet`, the states `pai_state::FleetStates`, the
//! run `pai_fleet::run`, the combined plan `pai_fleet::plan`; here each account is resolved
//! (its manifest, its state) and its cloud connection made (`env`).

mod apply;
mod env;
mod plan;
mod status;
mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pai_fleet::run::{AccountTarget, LoadedManifest};
use pai_fleet::shard::Shard;
use pai_spec::diagnostic;
use pai_spec::fleet::{load_fleet, Account, Fleet, FleetError};
use pai_state::{FleetStates, StateLocation};

pub use apply::run as apply;

/// `done`, after the run's own summary: what the accounts logged (warnings by kind) and where
/// the log is (`crate::fleet_log`), when they logged anything.
pub fn logged(done: anyhow::Result<u8>) -> anyhow::Result<u8> {
    if let Some(line) = crate::fleet_log::log().summary() {
        note!("{line}");
    }
    done
}
pub use plan::run as plan;
pub use status::run as status;

use crate::cli::Global;
use crate::context;

/// A fleet file, loaded and validated, with the path it was read from and its bytes' hash.
pub struct LoadedFleetFile {
    pub fleet: Fleet,
    pub path: PathBuf,
    pub hash: String,
}

/// Reads and validates the fleet file; every finding goes to stderr with its source line.
pub fn load(g: &Global, path: &Path) -> anyhow::Result<LoadedFleetFile> {
    let color = context::stderr_color(g);
    let loaded = match load_fleet(path) {
        Ok(loaded) => loaded,
        Err(FleetError::Invalid { file, diagnostics }) => {
            note!("{}", diagnostic::render_all(&diagnostics, color));
            anyhow::bail!(
                "`{file}` is not a valid fleet file ({})",
                diagnostic::summary(&diagnostics)
            )
        }
        Err(e) => return Err(e.into()),
    };
    if !loaded.warnings.is_empty() {
        note!("{}", diagnostic::render_all(&loaded.warnings, color));
    }
    Ok(LoadedFleetFile {
        fleet: loaded.fleet,
        path: path.to_owned(),
        hash: loaded.source_hash,
    })
}

/// The accounts a command takes: those `--account` names (each must be in the fleet file),
/// or all; then those of `--shard`.
pub fn select<'a>(fleet: &'a Fleet, names: &[String], shard: Option<&Shard>) -> anyhow::Result<Vec<&'a Account>> {
    let mut chosen: Vec<&Account> = if names.is_empty() {
        fleet.accounts().collect()
    } else {
        let mut chosen = Vec::new();
        for name in names {
            let account = fleet
                .account(name)
                .map_err(|e| anyhow::anyhow!("--account {name}: {e}"))?;
            if !chosen.iter().any(|a: &&Account| a.id == account.id) {
                chosen.push(account);
            }
        }
        chosen
    };
    if let Some(shard) = shard {
        chosen = shard.select(&chosen, |a| a.id.as_str()).into_iter().copied().collect();
    }
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(chosen)
}

/// Where the fleet's states are: `--state` / `PAI_PROVISION_STATE`, else the directory
/// `<fleet file's dir>/<fleet file stem>.states`. With `--sandbox`, a directory of its own
/// beside it (`<that>.sandbox`), holding the sandbox's ledger too: a sandbox never reads or
/// writes a real state.
pub fn states(g: &Global, fleet_path: &Path) -> anyhow::Result<FleetStates> {
    let real = match g.state.as_ref().map(|s| s.as_str()) {
        Some(text) if text.trim().is_empty() => anyhow::bail!(
            "the state location is empty (--state or PAI_PROVISION_STATE): name a directory or a postgres:// URL"
        ),
        Some(text) => StateLocation::parse(text, &|name| std::env::var(name).ok())?,
        None => StateLocation::File(default_states_dir(fleet_path)),
    };
    if !g.sandbox {
        context::warn_if_exposed(&real);
    }
    // The real location is checked with `--sandbox` too: a state file given for a fleet is a
    // mistake whether or not this run is the sandbox's.
    let real = FleetStates::new(real)?;
    Ok(if g.sandbox {
        FleetStates::new(StateLocation::File(sandbox_dir(real.base())))?
    } else {
        real
    })
}

fn default_states_dir(fleet_path: &Path) -> PathBuf {
    let stem = fleet_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fleet".to_owned());
    fleet_path.with_file_name(format!("{stem}.states"))
}

/// The sandbox's own directory for a real fleet state location.
fn sandbox_dir(real: &StateLocation) -> PathBuf {
    match real {
        StateLocation::File(dir) => {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "fleet.states".to_owned());
            dir.with_file_name(format!("{name}.sandbox"))
        }
        StateLocation::Postgres(t) => PathBuf::from(format!("state/fleet-postgres-{}.sandbox", t.schema())),
    }
}

/// Each account with its manifest (each file loaded once, its warnings said once) and state.
pub fn targets(g: &Global, accounts: &[&Account], states: &FleetStates) -> Vec<AccountTarget> {
    let mut manifests: BTreeMap<PathBuf, Result<Arc<LoadedManifest>, String>> = BTreeMap::new();
    accounts
        .iter()
        .map(|account| {
            let manifest = manifests
                .entry(account.manifest.clone())
                .or_insert_with(|| load_manifest(g, &account.manifest))
                .clone();
            let state = states.account(account.id.as_str()).map_err(|e| e.to_string());
            AccountTarget {
                account: (*account).clone(),
                manifest,
                state,
            }
        })
        .collect()
}

/// A manifest as `plan` loads it, except that its `[state]` is not used (each account's state is
/// the fleet's) and its errors are the reason its accounts are not planned.
fn load_manifest(g: &Global, path: &Path) -> Result<Arc<LoadedManifest>, String> {
    let loaded = match pai_spec::load(path) {
        Ok(loaded) => loaded,
        Err(pai_spec::SpecError::Invalid { file, diagnostics }) => {
            note!("{}", diagnostic::render_all(&diagnostics, context::stderr_color(g)));
            return Err(format!(
                "`{file}` is not a valid manifest ({})",
                diagnostic::summary(&diagnostics)
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    if !loaded.warnings.is_empty() {
        note!("{}", diagnostic::render_all(&loaded.warnings, context::stderr_color(g)));
    }
    if !g.sandbox {
        context::cloud_endpoints(g, &loaded.manifest).map_err(|e| format!("{}: {e:#}", path.display()))?;
    }
    Ok(Arc::new(LoadedManifest {
        manifest: loaded.manifest,
        path: path.display().to_string(),
    }))
}
