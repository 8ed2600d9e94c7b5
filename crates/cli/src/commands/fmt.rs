use crate::cli::{FmtArgs, Global};

pub fn run(_g: &Global, _args: FmtArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`fmt` is not built yet")
}
