//! The human text of `apply`'s progress and report and of `refresh`'s findings: the library returns them as
//! data (`pai_apply::ApplyReport`, `pai_apply::Finding`), this is the one place that words them.
//! `--format json` serialises the data itself.

use pai_apply::{ApplyReport, Finding, ProductOutcome, Progress, ProgressSink};
use pai_planner::Plan;

/// What a plan made now leaves out of the reviewed plan (`pai_ops::Prepared::narrowed`): each
/// change the reviewed plan makes and a plan made now does not, and what it does instead.
pub fn narrowed(changes: &[(pai_spec::Address, pai_planner::Action, pai_planner::Action)]) -> String {
    if changes.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nSince the plan was made, a plan made now does less; only that is carried out:\n");
    for (address, reviewed, now) in changes {
        out.push_str(&format!(
            "  {}: {} in the reviewed plan, {} now\n",
            address.qualified(),
            reviewed.as_str(),
            now.as_str()
        ));
    }
    out
}

/// The apply report after the run, one line per product, then the tally.
pub fn apply_summary(report: &ApplyReport) -> String {
    let mut out = String::from("\n");
    for region in &report.regions {
        for (address, outcome) in &region.products {
            let line = match outcome {
                ProductOutcome::Ordered { answer_lost: true, .. } => format!(
                    "{}: ordered in {} (its answer was lost; ListProducts reports it purchased)",
                    address.qualified(),
                    region.region
                ),
                ProductOutcome::Ordered {
                    order_id, request_id, ..
                } => format!(
                    "{}: ordered in {} (OrderId {}, RequestId {})",
                    address.qualified(),
                    region.region,
                    order_id.as_deref().unwrap_or("?"),
                    request_id.as_deref().unwrap_or("?")
                ),
                ProductOutcome::AwaitingPayment { order_id, request_id } => format!(
                    "{}: ordered, awaiting payment (OrderId {}, RequestId {}) in {}: AutoPay is false, so nothing is \
                     bought until someone pays the order in the order center of the Alibaba Cloud console; no other \
                     order is placed for it",
                    address.qualified(),
                    order_id.as_deref().unwrap_or("?"),
                    request_id.as_deref().unwrap_or("?"),
                    region.region
                ),
                ProductOutcome::NotPermitted { action } => format!(
                    "{}: NOT ordered: no permission to purchase (ListProducts reports HasPermissionToPurchase=false): \
                     grant the RAM action {action} and apply again",
                    address.qualified()
                ),
                ProductOutcome::Recorded { why } => format!("{}: recorded ({why})", address.qualified()),
                ProductOutcome::Failed { error } => format!("{}: NOT ordered: {error}", address.qualified()),
                ProductOutcome::NotSent { error } => {
                    format!("{}: NOT ordered, nothing was sent: {error}", address.qualified())
                }
                ProductOutcome::Unknown { error } => {
                    format!(
                        "{}: outcome unknown, left pending; run apply again to resolve it: {error}",
                        address.qualified()
                    )
                }
                other => format!("{}: {other:?}", address.qualified()),
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    for (from, to) in &report.moved {
        out.push_str(&format!("{}: moved to {}\n", from.qualified(), to.qualified()));
    }
    for address in &report.adopted {
        out.push_str(&format!("{}: adopted (already purchased)\n", address.qualified()));
    }
    for address in &report.forgotten {
        out.push_str(&format!(
            "{}: forgotten; it stays ACTIVE and BILLED in the account (the API cannot cancel it)\n",
            address.qualified()
        ));
    }
    let failed = report.count(|o| matches!(o, ProductOutcome::Failed { .. }));
    let unknown = report.count(|o| matches!(o, ProductOutcome::Unknown { .. }));
    let awaiting = report.count(|o| matches!(o, ProductOutcome::AwaitingPayment { .. }));
    let not_permitted = report.count(|o| matches!(o, ProductOutcome::NotPermitted { .. }));
    let not_sent = report.count(|o| matches!(o, ProductOutcome::NotSent { .. }));
    let mut extra = String::new();
    if awaiting > 0 {
        extra.push_str(&format!(" ({awaiting} awaiting payment)"));
    }
    if not_permitted > 0 {
        extra.push_str(&format!(", {not_permitted} not permitted"));
    }
    if not_sent > 0 {
        extra.push_str(&format!(", {not_sent} not sent"));
    }
    let head = if report.is_success() {
        "Apply complete"
    } else {
        "Apply incomplete"
    };
    out.push_str(&format!(
        "\n{head}: {} ordered{}, {} adopted, {} forgotten, {failed} failed, {unknown} unknown{}.\n",
        report.ordered(),
        extra,
        report.adopted.len() + report.count(|o| matches!(o, ProductOutcome::Recorded { .. })),
        report.forgotten.len(),
        requests_sent(report.order_requests()),
    ));
    // Errors and findings quote servers' messages: their controls are written out.
    pai_spec::escape_lines(&out).into_owned()
}

/// What an apply cut short by a signal did, and what the next run will do (on stderr, after
/// the summary).
pub fn interrupted(report: &ApplyReport, signal: &str) -> String {
    let pending = report.count(|o| matches!(o, ProductOutcome::Unknown { .. }));
    let not_sent =
        report.count(|o| matches!(o, ProductOutcome::NotSent { .. }) || matches!(o, ProductOutcome::Failed { .. }));
    let mut text = format!(
        "Interrupted by {signal}: {} ordered{}, {pending} left pending, {not_sent} not ordered.",
        report.ordered(),
        requests_sent(report.order_requests()),
    );
    text.push_str(match (pending, not_sent) {
        (0, 0) => " The next run has nothing left to order.",
        (0, _) => " The next run orders what was not ordered.",
        (_, _) => {
            " The next run first waits for the pending orders' settle time and asks ListProducts about them \
             (recording what went through, ordering only what did not), then orders the rest."
        }
    });
    text
}

/// Every order request that went out, so that "0 ordered" (an order in doubt that the cloud
/// later reported purchased is counted as adopted) never hides one: each may have cost money.
fn requests_sent(n: u32) -> String {
    match n {
        0 => String::new(),
        1 => " (1 order request sent)".to_owned(),
        n => format!(" ({n} order requests sent)"),
    }
}

/// `refresh`'s findings, one line each, or a line saying there are none.
pub fn refresh_findings(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "The state matches what the cloud reports.\n".to_owned();
    }
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{} ({}, {}): {}: {}\n",
            f.address.qualified(),
            f.product_code,
            f.region,
            f.kind.as_str(),
            f.message
        ));
    }
    // Errors and findings quote servers' messages: their controls are written out.
    pai_spec::escape_lines(&out).into_owned()
}

/// Progress without a terminal: one log line per event on stderr, only with `-v`.
pub struct Lines;

impl ProgressSink for Lines {
    fn report(&self, event: Progress) {
        match event {
            Progress::Checking { region } => tracing::info!(%region, "checking the cloud before ordering"),
            Progress::Ordering {
                region,
                products,
                attempt,
            } => {
                tracing::info!(%region, attempt, products = ?products, "ordering")
            }
            // The executor logs these as warnings itself (shown without -v), with the error and
            // until when it waits.
            Progress::Resolving { .. } | Progress::Settling { .. } => {}
            Progress::Finished { region, ok, message } => tracing::info!(%region, ok, "{message}"),
            _ => {}
        }
    }
}

/// One spinner per region on a terminal.
pub struct Bars {
    bars: std::collections::BTreeMap<pai_spec::Region, indicatif::ProgressBar>,
    multi: indicatif::MultiProgress,
}

impl Bars {
    pub fn new(plan: &Plan) -> Self {
        let multi = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
        let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let bars = plan
            .orders
            .iter()
            .map(|o| {
                let bar = multi.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(o.region.to_string());
                bar.set_message("waiting");
                bar.enable_steady_tick(std::time::Duration::from_millis(100));
                (o.region.clone(), bar)
            })
            .collect();
        Bars { bars, multi }
    }

    /// The display, for lines said above it.
    pub fn display(&self) -> indicatif::MultiProgress {
        self.multi.clone()
    }
}

impl ProgressSink for Bars {
    fn report(&self, event: Progress) {
        let (region, message, done) = match event {
            Progress::Checking { region } => (region, "checking the cloud before ordering".to_owned(), false),
            Progress::Ordering {
                region,
                products,
                attempt,
            } => {
                let codes: Vec<&str> = products.iter().map(|c| c.as_str()).collect();
                let again = if attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                (region, format!("ordering {}{again}", codes.join(", ")), false)
            }
            Progress::Resolving { region } => (region, "outcome unknown; asking ListProducts".to_owned(), false),
            Progress::Settling { region, wait } => (
                region,
                format!(
                    "not reported purchased yet; waiting up to {:.0}s for the order to arrive before ordering again",
                    wait.as_secs_f64().ceil()
                ),
                false,
            ),
            Progress::Finished { region, ok, message } => (
                region,
                format!("{} {message}", if ok { "done:" } else { "FAILED:" }),
                true,
            ),
            _ => return,
        };
        if let Some(bar) = self.bars.get(&region) {
            if done {
                bar.finish_with_message(message);
            } else {
                bar.set_message(message);
            }
        }
    }
}
