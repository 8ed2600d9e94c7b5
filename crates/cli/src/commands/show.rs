//! `show [PLANFILE] [--format human|json|markdown]`: a saved plan, or the state.

use pai_planner::render::state::{self as state_render, StateDocument};
use pai_planner::{render, Plan};

use crate::cli::{Global, PlanFormat as Format, ShowArgs};
use crate::context;

pub fn run(g: &Global, args: ShowArgs) -> anyhow::Result<u8> {
    if let Some(file) = &args.planfile {
        let plan = Plan::load(file)?;
        match args.format {
            Format::Human => context::emit(&format!(
                "{}\n{}",
                made_for(&plan),
                render::human_saved(&plan, context::stdout_color(g))
            ))?,
            Format::Json => context::emit(&render::json(&plan))?,
            Format::Markdown => context::emit(&render::markdown_saved(&plan))?,
        }
        return Ok(0);
    }
    let manifest = context::working_manifest(g)?;
    let store = context::open_read(g, manifest.as_ref())?;
    let snapshot = store.snapshot()?;
    let path = store.location().to_string();
    match args.format {
        Format::Human => context::emit(&state_render::state(&snapshot, &path))?,
        Format::Json => context::emit_json(&StateDocument::new(&snapshot, &path))?,
        Format::Markdown => anyhow::bail!("`show` renders Markdown for saved plans only; use --format human or json"),
    }
    Ok(0)
}

/// What a saved plan is for, in the words `apply` refuses it with: it applies there only.
fn made_for(plan: &Plan) -> String {
    let t = &plan.target;
    let state = match &plan.lineage {
        Some(lineage) => format!("lineage {lineage}, serial {}", plan.serial),
        None => "not created yet".to_owned(),
    };
    let cloud = if t.sandbox {
        "the sandbox (--sandbox)"
    } else {
        "the cloud"
    };
    let account = t.account.as_deref().unwrap_or("not named by the credentials");
    format!(
        "Saved plan, made {}: applies only to the state at {} ({state}), through {cloud}, account {account}.\n",
        plan.created_at, t.state
    )
}
