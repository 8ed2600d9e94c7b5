//! `comment FILE --key KEY` and `drift PLANFILE... --key KEY`: what a pipeline runs after a
//! plan to keep one plan comment per key on the pull request and one issue per drift
//! (docs/forge.md). The rules are `pai_forge`'s; this wires the environment, the files and
//! the output to them.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use pai_forge::comment::{check_key, fit, CommentAction};
use pai_forge::drift::PlanDocument;
use pai_forge::publish::{file_drift, post_comment, DriftReport, Filed};
use pai_forge::{context, Client, ForgeContext, Overrides};

use crate::cli::{CommentArgs, DriftArgs, Format, Global};
use crate::context::{emit, emit_json};

pub fn comment(g: &Global, args: CommentArgs) -> anyhow::Result<u8> {
    check_key(&args.key)?;
    let text = read_markdown(&args.file)?;
    let context = resolve(&args.forge.overrides(args.pr), true)?;
    // Never past the forge's own limit: it would refuse the comment.
    let limit = args
        .max_chars
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
        .min(context.forge.comment_limit());
    let pointer = args.artifact_url.clone().or_else(|| context.run_url.clone());
    let fitted = fit(&args.key, &text, limit, pointer.as_deref())?;
    if fitted.lines_left_out > 0 {
        note!(
            "note: the plan is longer than a comment may be ({limit} characters): {} lines left out, with a pointer to the full plan",
            fitted.lines_left_out
        );
    }
    let client = Client::new(context, g.timeout)?;
    let posted = runtime()?.block_on(post_comment(&client, &args.key, &fitted.body, args.dry_run))?;
    let url = posted.url.unwrap_or_default();
    let line = match (args.dry_run, &posted.action) {
        (false, CommentAction::Create) => format!("created comment {url}"),
        (false, CommentAction::Update { .. }) => format!("updated comment {url}"),
        (true, CommentAction::Create) => "would create the comment above (dry run)".to_owned(),
        (true, CommentAction::Update { id }) => {
            format!(
                "would update comment {} with the text above (dry run)",
                if url.is_empty() { id.to_string() } else { url }
            )
        }
    };
    if args.dry_run {
        emit(&format!("{}\n{line}\n", fitted.body))?;
    } else {
        emit(&format!("{line}\n"))?;
    }
    Ok(0)
}

pub fn drift(g: &Global, args: DriftArgs) -> anyhow::Result<u8> {
    check_key(&args.key)?;
    let mut drifts = Vec::new();
    let mut not_planned = Vec::new();
    for path in &args.planfiles {
        let document = PlanDocument::load(path)?;
        drifts.extend(document.drifts()?);
        not_planned.extend(document.not_planned());
    }
    let context = resolve(&args.forge.overrides(None), false)?;
    let run_url = context.run_url.clone();
    let client = Client::new(context, g.timeout)?;
    let report = runtime()?.block_on(file_drift(
        &client,
        &args.key,
        &drifts,
        &not_planned,
        run_url.as_deref(),
        args.dry_run,
    ))?;
    if !report.not_planned.is_empty() {
        note!(
            "warning: {} could not be planned: their drift is unknown, so no issue of `{}` was closed",
            report.not_planned.join(", "),
            args.key
        );
    }
    match args.format {
        Format::Json => emit_json(&report)?,
        Format::Human => emit(&human(&report))?,
    }
    Ok(0)
}

/// A line per issue, then the count.
fn human(r: &DriftReport) -> String {
    let mut out = String::new();
    let verb = |done: &'static str, would: &'static str| if r.dry_run { would } else { done };
    let line = |out: &mut String, verb: &str, f: &Filed| {
        let url = f.url.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
        out.push_str(&format!("{verb} issue{url}: {} [{}]\n", f.title, f.fingerprint));
    };
    for f in &r.opened {
        line(&mut out, verb("opened", "would open"), f);
    }
    for f in &r.updated {
        line(&mut out, verb("updated", "would update"), f);
    }
    for f in &r.closed {
        line(&mut out, verb("closed", "would close"), f);
    }
    let kind = match (r.drifts, r.would_order) {
        (0, _) => "no drift".to_owned(),
        (n, true) => format!(
            "{n} drift{}, and applying would place orders",
            if n == 1 { "" } else { "s" }
        ),
        (n, false) => format!(
            "{n} drift{}, none that would place an order",
            if n == 1 { "" } else { "s" }
        ),
    };
    out.push_str(&format!(
        "Drift of {}: {kind}; {} opened, {} updated, {} closed{}.\n",
        r.key,
        r.opened.len(),
        r.updated.len(),
        r.closed.len(),
        if r.dry_run { " (dry run: nothing written)" } else { "" }
    ));
    out
}

fn resolve(flags: &Overrides, need_pr: bool) -> anyhow::Result<ForgeContext> {
    let env = |name: &str| std::env::var(name).ok();
    let read = |path: &Path| std::fs::read_to_string(path);
    Ok(context::resolve(&env, &read, flags, need_pr)?)
}

fn read_markdown(file: &Path) -> anyhow::Result<String> {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the comment from stdin")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    if text.trim().is_empty() {
        anyhow::bail!(
            "{}: empty; nothing to post (`plan --format markdown` says \"no changes\" in a line when there are none)",
            if file.as_os_str() == "-" {
                "stdin".into()
            } else {
                file.display().to_string()
            }
        );
    }
    // A saved plan (`plan.json`, a fleet plan) where its Markdown belongs: the reviewers would
    // get a JSON document for a comment.
    let is_plan_document =
        serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.get("format_version").is_some());
    if is_plan_document {
        anyhow::bail!(
            "{}: a saved plan (JSON), not its Markdown; post what `plan --format markdown` (or \
             `fleet plan --format markdown`) printed",
            file.display()
        );
    }
    Ok(text)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
