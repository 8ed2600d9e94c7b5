use crate::cli::{ApplyArgs, Global, RefreshArgs};

pub fn run(_g: &Global, _args: ApplyArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`apply` is not built yet")
}

pub fn refresh(_g: &Global, _args: RefreshArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`refresh` is not built yet")
}
