//! The canonical layout of `fmt`.

use crate::error::SpecError;

/// The canonical layout of a valid manifest. Invalid manifests are refused with their diagnostics.
pub fn format(source: &[u8], file_name: &str) -> Result<String, SpecError> {
    crate::load::parse(source, file_name)?;
    Ok(String::from_utf8_lossy(source).into_owned())
}
