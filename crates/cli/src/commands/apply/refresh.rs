//! `refresh`: ask the cloud and record what it reports, both ways, without ordering anything.
//! The recording is `pai_apply::refresh`; this wires it to the CLI and renders its findings.

use pai_planner::wanted;

use crate::cli::{Format, Global, RefreshArgs};
use crate::cloud::Cloud;
use crate::context;

pub fn refresh(g: &Global, args: RefreshArgs) -> anyhow::Result<u8> {
    let loaded = context::load_manifest(g, &args.manifest)?;
    let manifest = &loaded.manifest;
    let mut writer = context::open_write(g, Some(&loaded), "refresh")?;
    let snapshot = writer.snapshot()?;
    let pairs = wanted(manifest, &snapshot);
    let regions: Vec<_> = pairs.iter().map(|(r, _)| r.clone()).collect();
    let cloud = Cloud::connect(g, manifest, &context::target(g, &loaded)?, &regions)?;
    // Otherwise an order still on its way would be reported `not_placed`.
    super::let_interrupted_orders_land(g, &cloud, &snapshot);
    let refreshed = cloud.refresh(&pairs, manifest, &snapshot)?;
    let findings = pai_apply::refresh(
        &mut writer,
        manifest.products.values(),
        &refreshed.observation,
        &refreshed.calls,
    )?;
    if args.format == Format::Json {
        context::emit_json(&findings)?;
    } else {
        context::emit(&super::view::refresh_findings(&findings))?;
    }
    Ok(0)
}
