use crate::cli::{Global, ValidateArgs};

pub fn run(_g: &Global, _args: ValidateArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`validate` is not built yet")
}
