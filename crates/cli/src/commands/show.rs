use crate::cli::{Global, ShowArgs};

pub fn run(_g: &Global, _args: ShowArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`show` is not built yet")
}
