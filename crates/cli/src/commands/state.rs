use crate::cli::{ForceUnlockArgs, Global, StateAddrArgs, StateFormatArgs, StateHistoryArgs, StateImportArgs};

pub fn list(_g: &Global, _args: StateFormatArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`state list` is not built yet")
}
pub fn show(_g: &Global, _args: StateAddrArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`state show` is not built yet")
}
pub fn rm(_g: &Global, _args: StateAddrArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`state rm` is not built yet")
}
pub fn history(_g: &Global, _args: StateHistoryArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`state history` is not built yet")
}
pub fn import(_g: &Global, _args: StateImportArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`state import` is not built yet")
}
pub fn force_unlock(_g: &Global, _args: ForceUnlockArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`force-unlock` is not built yet")
}
