//! `plan [MANIFEST] [--refresh=false] [--out FILE] [--format human|json|markdown] [--detailed-exitcode]
//! [--policy DIR] [--policy-input FILE]`:
//! what apply would do. Reads the state without locking or writing it.

use anyhow::Context;
use pai_planner::render;
use pai_state::clock;

use crate::cli::{Global, PlanArgs, PlanFormat as Format};
use crate::cloud::Cloud;
use crate::context;

pub fn run(g: &Global, args: PlanArgs) -> anyhow::Result<u8> {
    let loaded = context::load_manifest(g, &args.manifest)?;
    let store = context::open_read(g, Some(&loaded))?;
    let snapshot = store.snapshot()?;
    let target = context::target(g, &loaded)?;
    let endpoint = |region: &pai_spec::Region| target.endpoint(region);
    let manifest_path = loaded.path.display().to_string();
    let planning = pai_ops::Planning {
        manifest: &loaded.manifest,
        manifest_path: &manifest_path,
        snapshot: &snapshot,
        endpoint: &endpoint,
        made_for: pai_ops::MadeFor {
            sandbox: g.sandbox,
            state: store.location().to_string(),
            account: crate::cloud::account(g, &loaded.manifest, &target),
        },
        now: clock::now_utc(),
    };
    let plan = if args.refresh {
        // The same `ListProducts` as apply's, through the same connection (the sandbox's too).
        // The state's regions too: the sandbox serves every region it will be asked about.
        let regions: Vec<_> = planning.wanted().into_iter().map(|(r, _)| r).collect();
        let cloud = Cloud::connect(g, &loaded.manifest, &target, &regions)?;
        let status = pai_apply::ListProductsStatus::new(cloud.client().clone());
        cloud
            .block_on(planning.observe(&status))
            .context("cannot read the products' status (ListProducts)")?
    } else {
        planning.build(None)
    };
    let context = super::policy::context(None);
    if let Some(path) = &args.policy_input {
        super::policy::write_input(path, &plan, &context)?;
    }
    let plan = match &args.policy {
        Some(dir) => super::policy::judge(&super::policy::load(dir, args.policy_timeout)?, plan, &context)?,
        None => plan,
    };
    let saved = match &args.out {
        // A denied plan is not saved, as a conflicting one is not: it can never be applied.
        Some(out) if !plan.has_conflicts() && !plan.is_denied() => {
            plan.save(out)
                .with_context(|| format!("saving the plan to {}", out.display()))?;
            Some(format!(
                "Saved the plan to {0}; apply exactly it with `pai-provision apply {0}`.",
                out.display()
            ))
        }
        _ => None,
    };
    match args.format {
        Format::Human => {
            let mut text = if saved.is_some() {
                render::human_saved(&plan, context::stdout_color(g))
            } else {
                render::human(&plan, context::stdout_color(g))
            };
            if let Some(note) = &saved {
                text.push('\n');
                text.push_str(note);
                text.push('\n');
            }
            context::emit(&text)?;
        }
        Format::Json => context::emit(&render::json(&plan))?,
        Format::Markdown if saved.is_some() => context::emit(&render::markdown_saved(&plan))?,
        Format::Markdown => context::emit(&render::markdown(&plan))?,
    }
    if saved.is_some() && args.format != Format::Human {
        note!("{}", saved.unwrap_or_default());
    }
    if plan.has_conflicts() {
        let n = plan.summary.conflict;
        note!(
            "error: the plan has {n} conflict{}: the manifest asks for what cannot change after purchase. \
             Resolve {} as shown above; apply refuses the plan until then.{}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" },
            if args.out.is_some() {
                " The plan was not saved."
            } else {
                ""
            }
        );
    }
    if plan.is_denied() {
        note!(
            "error: a policy denies the plan (see Policy above); apply refuses it.{}",
            if args.out.is_some() {
                " The plan was not saved."
            } else {
                ""
            }
        );
    }
    Ok(plan.exit_code(args.detailed_exitcode))
}
