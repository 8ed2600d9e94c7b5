//! `state list | show ADDR | rm ADDR | import ADDR | migrate --to URL` and
//! `force-unlock ID`. Reads never lock; `rm` and `import` take the state lock and record a run
//! in the history; `migrate` takes the locks of both states.
//!
//! Each names the state it read or changed: in its text (`State: LOCATION`), or with
//! `--format json` on stderr, so that a state read from the wrong place (a mistyped path, an
//! unexpected `PAI_PROVISION_STATE`) never passes for an empty one.

use pai_planner::render::state as render;
use pai_state::{Resource, RunResult, StateLocation, Status, Store};
use serde::Serialize;

use crate::cli::{ForceUnlockArgs, Format, Global, StateAddrArgs, StateFormatArgs, StateImportArgs, StateMigrateArgs};
use crate::context;

/// The first line of a read's text: which state it read, and whether there is one there; then
/// the freeze in force, if any.
pub(super) fn heading(store: &Store) -> String {
    if store.exists() {
        let frozen = store
            .snapshot()
            .ok()
            .and_then(|s| s.freeze)
            .map(|f| {
                format!(
                    "{}; apply refuses until `pai-provision state unfreeze`\n",
                    capitalised(&f.describe())
                )
            })
            .unwrap_or_default();
        format!("State: {}\n{frozen}", store.location())
    } else {
        format!(
            "State: {} (none there yet: apply, refresh or state import creates it)\n",
            store.location()
        )
    }
}

/// "Frozen by ...": the freeze's description opening a line.
pub(super) fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The state read, said on stderr when stdout holds JSON.
pub(super) fn name_beside_json(store: &Store) {
    {
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), "{}", heading(store));
    }
}

pub fn list(g: &Global, args: StateFormatArgs) -> anyhow::Result<u8> {
    let store = context::open_read(g, context::working_manifest(g)?.as_ref())?;
    let snapshot = store.snapshot()?;
    match args.format {
        Format::Human if snapshot.resources.is_empty() => {
            context::emit(&format!("{}No addresses recorded.\n", heading(&store)))?
        }
        Format::Human => context::emit(&format!("{}\n{}", heading(&store), render::list(&snapshot)))?,
        Format::Json => {
            name_beside_json(&store);
            context::emit_json(&render::list_rows(&snapshot))?
        }
    }
    Ok(0)
}

pub fn show(g: &Global, args: StateAddrArgs) -> anyhow::Result<u8> {
    let address = context::parse_address(&args.address)?;
    let store = context::open_read(g, context::working_manifest(g)?.as_ref())?;
    let snapshot = store.snapshot()?;
    let Some(resource) = snapshot.resources.get(&address) else {
        let none = if store.exists() {
            ""
        } else {
            ", which does not exist yet"
        };
        anyhow::bail!(
            "`{}` is not in the state {}{none}",
            address.qualified(),
            store.location()
        );
    };
    match args.format {
        Format::Human => context::emit(&format!("{}\n{}", heading(&store), render::resource(resource)))?,
        Format::Json => {
            name_beside_json(&store);
            context::emit_json(resource)?
        }
    }
    Ok(0)
}

/// What stays true after `state rm`, said plainly.
fn forget_warning(r: &Resource) -> String {
    let what = format!("{} in {}", r.product_code, r.region);
    match r.status {
        Status::Active => format!(
            "{what} stays active and billed{}: the API cannot cancel it, and pai-provision no longer manages it. \
             Cancel it in the Alibaba Cloud console if it is no longer needed; if the manifest still declares `{}`, \
             the next plan adopts it again.",
            r.order_id
                .as_deref()
                .map(|id| format!(" (order {id})"))
                .unwrap_or_default(),
            r.address
        ),
        Status::Pending => format!(
            "an order for {what} was sent and its outcome was never recorded; if it went through, the activation \
             stays active and billed, and pai-provision no longer tracks it."
        ),
        Status::Failed => format!("the last order for {what} failed, so nothing was bought for this record."),
        Status::Unpaid => format!(
            "the order for {what}{} awaits payment: if someone pays it, it is bought and pai-provision no longer \
             tracks it. Cancel it in the order center of the Alibaba Cloud console if it is no longer needed.",
            r.order_id
                .as_deref()
                .map(|id| format!(" (order {id})"))
                .unwrap_or_default()
        ),
    }
}

#[derive(Serialize)]
struct Removed<'a> {
    removed: &'a Resource,
    warning: String,
}

pub fn rm(g: &Global, args: StateAddrArgs) -> anyhow::Result<u8> {
    let address = context::parse_address(&args.address)?;
    let manifest = context::working_manifest(g)?;
    let mut writer = context::open_write(g, manifest.as_ref(), "state rm")?;
    if !writer.snapshot()?.resources.contains_key(&address) {
        anyhow::bail!("`{}` is not in the state {}", address.qualified(), writer.location());
    }
    let run = writer.begin_run(&format!("state rm {address}"))?;
    let removed = match writer.remove(run, &address) {
        Ok(r) => r,
        Err(e) => {
            let _ = writer.end_run(run, &RunResult::Failed(e.to_string()));
            return Err(e.into());
        }
    };
    writer.end_run(run, &RunResult::Succeeded)?;
    let warning = forget_warning(&removed);
    match args.format {
        Format::Json => {
            note!("State: {}", writer.location());
            context::emit_json(&Removed {
                removed: &removed,
                warning,
            })?
        }
        Format::Human => {
            context::emit(&format!(
                "Removed {} from the state {}.\n",
                address.qualified(),
                writer.location()
            ))?;
            let label = if removed.status == Status::Failed {
                "note"
            } else {
                "WARNING"
            };
            note!("{label}: {warning}");
        }
    }
    Ok(0)
}

pub fn import(g: &Global, args: StateImportArgs) -> anyhow::Result<u8> {
    let address = context::parse_address(&args.address)?;
    let loaded = context::load_manifest(g, &args.manifest)?;
    let Some(product) = loaded.manifest.products.get(&address) else {
        let declared: Vec<String> = loaded
            .manifest
            .products
            .keys()
            .map(pai_spec::Address::qualified)
            .collect();
        anyhow::bail!(
            "`{}` is not declared in {}; import records an address the manifest declares (declared: {})",
            address.qualified(),
            loaded.path.display(),
            if declared.is_empty() {
                "none".to_owned()
            } else {
                declared.join(", ")
            }
        );
    };
    let mut writer = context::open_write(g, Some(&loaded), "state import")?;
    let snapshot = writer.snapshot()?;
    if snapshot.resources.contains_key(&address) {
        anyhow::bail!(
            "`{}` is already in the state; `pai-provision state rm {address}` first to record it again",
            address.qualified()
        );
    }
    if let Some(other) = snapshot.find_activation(&product.region, product.code()) {
        anyhow::bail!(
            "the state already records {} in {} as `{}`; one activation cannot have two addresses",
            product.code(),
            product.region,
            other.address.qualified()
        );
    }
    let run = writer.begin_run(&format!("state import {address}"))?;
    if let Err(e) = writer.import(run, product, None) {
        let _ = writer.end_run(run, &RunResult::Failed(e.to_string()));
        return Err(e.into());
    }
    writer.end_run(run, &RunResult::Succeeded)?;
    let snapshot = writer.snapshot()?;
    let Some(recorded) = snapshot.resources.get(&address) else {
        anyhow::bail!("`{}` was imported but cannot be read back", address.qualified());
    };
    match args.format {
        Format::Json => {
            note!("State: {}", writer.location());
            context::emit_json(recorded)?
        }
        Format::Human => context::emit(&format!(
            "Imported {} ({} in {}) into the state {} as active, with the manifest's request. Nothing was \
             ordered. Run `pai-provision plan` to compare it with the cloud: if the cloud reports it not \
             purchased, the plan orders it again.\n",
            address.qualified(),
            product.code(),
            product.region,
            writer.location()
        ))?,
    }
    Ok(0)
}

pub fn force_unlock(g: &Global, args: ForceUnlockArgs) -> anyhow::Result<u8> {
    let location = context::state_location(g, context::working_manifest(g)?.as_ref())?;
    let done = pai_state::force_unlock(&location, &args.lock_id)?;
    let s = &done.stale;
    let released = match location {
        StateLocation::File(_) => {
            "No process held the lock: the operating system had released it when that process ended."
        }
        StateLocation::Postgres(_) => {
            "No session held the lock: PostgreSQL had released it when that process's session ended."
        }
    };
    context::emit(&format!(
        "Cleared the record of lock {} (`{}` by pid {} on {} since {}). {released} The state {location} is unlocked.\n",
        s.id, s.operation, s.pid, s.host, s.created_at,
    ))?;
    Ok(0)
}

pub fn migrate(g: &Global, args: StateMigrateArgs) -> anyhow::Result<u8> {
    let from = context::state_location(g, context::working_manifest(g)?.as_ref())?;
    let to = StateLocation::parse(args.to.as_str(), &|name: &str| std::env::var(name).ok())?;
    context::warn_if_exposed(&to);
    let done = pai_state::migrate(&from, &to, g.lock_timeout)?;
    match args.format {
        Format::Json => context::emit_json(&done)?,
        Format::Human => context::emit(&format!(
            "Copied the state {} to {}: lineage {}, serial {}, {} address{}, {} run{}, {} event{}. Both were read \
             again and compared: the copy is exact. The source was not changed.\n\
             Use the copy from now on (--state, PAI_PROVISION_STATE or the manifest's `[state] url`), and retire \
             the source so that nobody applies against it.\n",
            done.from,
            done.to,
            done.lineage,
            done.serial,
            done.resources,
            plural(done.resources, "es"),
            done.runs,
            plural(done.runs, "s"),
            done.events,
            plural(done.events, "s"),
        ))?,
    }
    Ok(0)
}

fn plural(n: usize, suffix: &'static str) -> &'static str {
    if n == 1 {
        ""
    } else {
        suffix
    }
}
