//! `validate [MANIFEST] [--format human|json]`: every finding in one run; exit 0 when the
//! manifest has no error (warnings are printed), 1 otherwise.
//!
//! Human format: diagnostics on stderr, the one-line verdict on stdout when valid, on stderr
//! when not. JSON format: the list of diagnostics (possibly empty) on stdout and nothing else;
//! a file that cannot be read is an error on stderr with exit 1 in both formats.

use std::io::Write;

use anyhow::Context;
use pai_spec::{diagnostic, Diagnostic};

use crate::cli::{manifest_path, Format, Global, ValidateArgs};

pub fn run(g: &Global, args: ValidateArgs) -> anyhow::Result<u8> {
    let path = manifest_path(&args.manifest);
    let bytes = pai_spec::read(&path)?;
    let file = path.display().to_string();
    let (manifest, diagnostics) = pai_spec::analyse(&bytes, &file);
    let failed = manifest.is_none() || diagnostics.iter().any(Diagnostic::is_error);
    match args.format {
        Format::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &diagnostics).context("writing the JSON report")?;
            writeln!(out).context("writing the JSON report")?;
        }
        Format::Human => {
            let color = crate::context::stderr_color(g);
            let mut err = std::io::stderr().lock();
            if !diagnostics.is_empty() {
                let _ = writeln!(err, "{}", diagnostic::render_all(&diagnostics, color));
            }
            if failed {
                let _ = writeln!(err, "`{file}` is not valid: {}", diagnostic::summary(&diagnostics));
            } else if let Some(m) = &manifest {
                let regions = m.regions().len();
                let products = m.products.len();
                let _ = writeln!(
                    std::io::stdout(),
                    "`{file}` is valid: {products} product{} in {regions} region{}{}",
                    if products == 1 { "" } else { "s" },
                    if regions == 1 { "" } else { "s" },
                    if diagnostics.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", diagnostic::summary(&diagnostics))
                    }
                );
            }
        }
    }
    Ok(u8::from(failed))
}
