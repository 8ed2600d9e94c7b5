//! The human text of `apply`'s report and `refresh`'s findings: the library returns them as
//! data (`pai_apply::ApplyReport`, `pai_apply::Finding`), this is the one place that words them.
//! `--format json` serialises the data itself.

use pai_apply::{ApplyReport, Finding, ProductOutcome};

/// The apply report after the run, one line per product, then the tally.
pub fn apply_summary(report: &ApplyReport) -> String {
    let mut out = String::from("\n");
    for region in &report.regions {
        for (address, outcome) in &region.products {
            let line = match outcome {
                ProductOutcome::Ordered { order_id, request_id } => format!(
                    "products.{address}: ordered in {} (OrderId {}, RequestId {})",
                    region.region,
                    order_id.as_deref().unwrap_or("?"),
                    request_id.as_deref().unwrap_or("?")
                ),
                ProductOutcome::Recorded { why } => format!("products.{address}: recorded ({why})"),
                ProductOutcome::Failed { error } => format!("products.{address}: NOT ordered: {error}"),
                ProductOutcome::Unknown { error } => {
                    format!("products.{address}: outcome unknown, left pending; run apply again to resolve it: {error}")
                }
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    for (from, to) in &report.moved {
        out.push_str(&format!("products.{from}: moved to products.{to}\n"));
    }
    for address in &report.adopted {
        out.push_str(&format!("products.{address}: adopted (already purchased)\n"));
    }
    for address in &report.forgotten {
        out.push_str(&format!(
            "products.{address}: forgotten; it stays ACTIVE and BILLED in the account (the API cannot cancel it)\n"
        ));
    }
    let failed = report.count(|o| matches!(o, ProductOutcome::Failed { .. }));
    let unknown = report.count(|o| matches!(o, ProductOutcome::Unknown { .. }));
    let head = if report.is_success() {
        "Apply complete"
    } else {
        "Apply incomplete"
    };
    out.push_str(&format!(
        "\n{head}: {} ordered, {} adopted, {} forgotten, {failed} failed, {unknown} unknown.\n",
        report.ordered(),
        report.adopted.len() + report.count(|o| matches!(o, ProductOutcome::Recorded { .. })),
        report.forgotten.len(),
    ));
    out
}

/// `refresh`'s findings, one line each, or a line saying there are none.
pub fn refresh_findings(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "The state matches what the cloud reports.\n".to_owned();
    }
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "products.{} ({}, {}): {}: {}\n",
            f.address,
            f.product_code,
            f.region,
            f.kind.as_str(),
            f.message
        ));
    }
    out
}
