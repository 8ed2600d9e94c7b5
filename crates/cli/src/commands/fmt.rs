//! `fmt [--check] [MANIFEST]`: rewrite a manifest in the canonical layout of
//! `pai_spec::format`, keeping comments. `--check` writes nothing and exits 1 with a unified
//! diff when the file is not formatted. An invalid manifest is never touched.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use pai_spec::{diagnostic, SpecError};

use crate::cli::{manifest_path, FmtArgs, Global};

pub fn run(g: &Global, args: FmtArgs) -> anyhow::Result<u8> {
    let path = manifest_path(&args.manifest);
    let bytes = pai_spec::read(&path)?;
    let file = path.display().to_string();
    let formatted = match pai_spec::format(&bytes, &file) {
        Ok(text) => text,
        Err(SpecError::Invalid { diagnostics, .. }) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "{}",
                diagnostic::render_all(&diagnostics, crate::context::stderr_color(g))
            );
            let _ = writeln!(
                err,
                "`{file}` is not valid ({}); it was not formatted",
                diagnostic::summary(&diagnostics)
            );
            return Ok(1);
        }
        Err(other) => return Err(other.into()),
    };
    if formatted.as_bytes() == bytes.as_slice() {
        return Ok(0);
    }
    if args.check {
        let original = String::from_utf8_lossy(&bytes);
        let diff = similar::TextDiff::from_lines(original.as_ref(), formatted.as_str());
        let mut out = std::io::stdout().lock();
        write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(&format!("{file} (current)"), &format!("{file} (formatted)"))
        )
        .context("writing the diff")?;
        let _ = writeln!(
            std::io::stderr(),
            "`{file}` is not formatted; run `pai-provision fmt {file}`"
        );
        return Ok(1);
    }
    write_atomically(&path, formatted.as_bytes())?;
    note!("formatted `{file}`");
    Ok(0)
}

/// Writes beside the target and renames over it, so that a crash leaves the old file or the
/// new one, never a truncated one. The file keeps its permissions.
fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.fmt-{}.tmp", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut file = std::fs::File::create(&temp).with_context(|| format!("creating `{}`", temp.display()))?;
        file.write_all(contents)
            .with_context(|| format!("writing `{}`", temp.display()))?;
        file.sync_all()
            .with_context(|| format!("syncing `{}`", temp.display()))?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&temp, meta.permissions())
                .with_context(|| format!("copying the permissions of `{}`", path.display()))?;
        }
        std::fs::rename(&temp, path).with_context(|| format!("replacing `{}`", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
