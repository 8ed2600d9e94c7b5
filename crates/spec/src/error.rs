//! The error of loading a manifest.

use std::path::PathBuf;

use crate::diagnostic::{self, Diagnostic};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error("cannot read manifest `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The manifest has at least one error. `diagnostics` holds every finding, warnings
    /// included, in source order; `Display` renders them all as plain text.
    #[error(
        "`{file}` is not a valid manifest ({})\n\n{}",
        diagnostic::summary(diagnostics),
        diagnostic::render_all(diagnostics, false).trim_end()
    )]
    Invalid { file: String, diagnostics: Vec<Diagnostic> },
}

impl SpecError {
    /// Every finding; empty for a read error, which has no position.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            SpecError::Read { .. } => &[],
            SpecError::Invalid { diagnostics, .. } => diagnostics,
        }
    }
}
