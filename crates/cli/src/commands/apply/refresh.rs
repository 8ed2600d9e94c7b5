//! `refresh`: ask the cloud and record what it reports, both ways, without ordering anything.

use pai_planner::wanted;
use pai_spec::Product;
use pai_state::{ApiCall, CallOutcome, Status};
use serde::Serialize;

use crate::cli::{Format, Global, RefreshArgs};
use crate::cloud::Cloud;
use crate::context;

/// One address whose record changed or disagrees with the cloud.
#[derive(Debug, Serialize)]
struct Finding {
    address: pai_spec::Address,
    region: String,
    product_code: String,
    /// `adopted`, `resolved`, `drift` (recorded active, the cloud reports it not purchased),
    /// `not_placed` (an interrupted order the cloud does not report).
    kind: &'static str,
    message: String,
}

pub fn refresh(g: &Global, args: RefreshArgs) -> anyhow::Result<u8> {
    let loaded = context::load_manifest(g, &args.manifest)?;
    let manifest = &loaded.manifest;
    let mut writer = context::open_write(g, Some(&loaded), "refresh")?;
    let snapshot = writer.snapshot()?;
    // Otherwise an order still on its way would be reported `not_placed`.
    super::let_interrupted_orders_land(g, &snapshot);
    let pairs = wanted(manifest, &snapshot);
    let regions: Vec<_> = pairs.iter().map(|(r, _)| r.clone()).collect();
    let cloud = Cloud::connect(g, manifest, &context::target(g, &loaded)?, &regions)?;
    let refreshed = cloud.refresh(&pairs, manifest, &snapshot)?;
    let observed = refreshed.observation;

    let run = writer.begin_run("refresh")?;
    for call in &refreshed.calls {
        writer.record_api_call(run, call)?;
    }
    let mut findings = Vec::new();
    let mut note = |product: &Product, kind: &'static str, message: String| {
        findings.push(Finding {
            address: product.address.clone(),
            region: product.region.to_string(),
            product_code: product.code().to_string(),
            kind,
            message,
        })
    };
    for product in manifest.products.values() {
        let Some(seen) = observed.get(&product.region, product.code()) else {
            continue;
        };
        let recorded = snapshot.resources.get(&product.address);
        let elsewhere = snapshot.find_activation(&product.region, product.code());
        match (recorded.map(|r| r.status), seen.purchased) {
            (None, true) if elsewhere.is_none() => {
                writer.mark_adopted(run, product, seen.product_id.as_deref())?;
                note(product, "adopted", "the cloud reports it purchased; recorded".into());
            }
            (Some(Status::Failed), true) => {
                writer.mark_adopted(run, product, seen.product_id.as_deref())?;
                note(
                    product,
                    "adopted",
                    "recorded failed, but the cloud reports it purchased; recorded".into(),
                );
            }
            (Some(Status::Pending), true) => {
                writer.mark_resolved(run, &product.address, seen.product_id.as_deref())?;
                note(
                    product,
                    "resolved",
                    "an interrupted order went through; recorded active".into(),
                );
            }
            (Some(Status::Active), false) => {
                record_drift(&mut writer, run, product)?;
                note(
                    product,
                    "drift",
                    "recorded active, but the cloud reports it not purchased; plan shows a reorder".into(),
                );
            }
            (Some(Status::Pending), false) => note(
                product,
                "not_placed",
                "an interrupted order was not placed; apply will order it".into(),
            ),
            _ => {}
        }
    }
    writer.end_run(run, &pai_state::RunResult::Succeeded)?;

    if args.format == Format::Json {
        context::emit_json(&findings)?;
    } else if findings.is_empty() {
        context::emit("The state matches what the cloud reports.\n")?;
    } else {
        let mut out = String::new();
        for f in &findings {
            out.push_str(&format!(
                "{} ({}, {}): {}: {}\n",
                f.address.qualified(),
                f.product_code,
                f.region,
                f.kind,
                f.message
            ));
        }
        context::emit(&out)?;
    }
    Ok(0)
}

fn record_drift(writer: &mut pai_state::StateWriter, run: pai_state::RunId, product: &Product) -> anyhow::Result<()> {
    let call = ApiCall {
        region: product.region.clone(),
        action: "ListProducts".into(),
        addresses: vec![product.address.clone()],
        outcome: CallOutcome::Ok,
        http_status: Some(200),
        code: Some("Drift".into()),
        message: Some("recorded active, the cloud reports it not purchased".into()),
        request_id: None,
        order_id: None,
        duration: std::time::Duration::ZERO,
    };
    Ok(writer.record_api_call(run, &call)?)
}
