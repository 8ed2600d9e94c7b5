use crate::cli::{EmulatorArgs, Global};

pub fn run(_g: &Global, _args: EmulatorArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`emulator` is not built yet")
}
