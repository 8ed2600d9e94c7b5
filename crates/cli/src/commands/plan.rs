use crate::cli::{Global, PlanArgs};

pub fn run(_g: &Global, _args: PlanArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`plan` is not built yet")
}
