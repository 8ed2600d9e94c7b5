//! Bytes to a validated [`Manifest`]: size and encoding checks, TOML parsing, the walk of
//! [`crate::check`], and the resolution of every finding to a file, line and column.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};
use toml_edit::ImDocument;

use crate::check::{self, Checker, Finding};
use crate::diagnostic::{Diagnostic, Severity};
use crate::error::SpecError;
use crate::model::Manifest;
use crate::source::SourceMap;

/// A manifest is a few kilobytes; anything past this is a wrong path, not a manifest.
pub const MAX_MANIFEST_BYTES: usize = 16 * 1024 * 1024;

/// A manifest that passed every check, and the warnings found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub manifest: Manifest,
    /// Findings that do not stop a plan (undocumented instance properties, plain-HTTP endpoints ...).
    pub warnings: Vec<Diagnostic>,
    /// The file name diagnostics carry.
    pub file: String,
}

/// Reads and validates the manifest at `path`.
pub fn load(path: &Path) -> Result<Loaded, SpecError> {
    parse(&read(path)?, &path.display().to_string())
}

/// Reads a manifest file, refusing more than [`MAX_MANIFEST_BYTES`] (plus one, so that
/// [`parse`] reports the size with the file's name).
pub fn read(path: &Path) -> Result<Vec<u8>, SpecError> {
    let read_error = |source| SpecError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    Ok(bytes)
}

/// Validates a manifest given as bytes; `file_name` labels the diagnostics.
pub fn parse(source: &[u8], file_name: &str) -> Result<Loaded, SpecError> {
    let (manifest, diagnostics) = analyse(source, file_name);
    match manifest {
        Some(manifest) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Loaded {
            manifest,
            warnings: diagnostics,
            file: file_name.to_owned(),
        }),
        _ => Err(SpecError::Invalid {
            file: file_name.to_owned(),
            diagnostics,
        }),
    }
}

/// Every finding about `source`, in source order, and the manifest when there is no error.
pub fn analyse(source: &[u8], file_name: &str) -> (Option<Manifest>, Vec<Diagnostic>) {
    let hash = hex::encode(Sha256::digest(source));
    analyse_with(source, file_name, |doc, checker| check::check(doc, checker, hash))
}

/// The checks every TOML file of pai-provision shares (size, encoding, syntax), then `walk`
/// over the parsed document; every finding resolved to a line and column. The fleet file
/// (`crate::fleet`) goes through here too, so both files read the same diagnostics.
pub(crate) fn analyse_with<T>(
    source: &[u8],
    file_name: &str,
    walk: impl FnOnce(&ImDocument<&str>, &mut Checker) -> Option<T>,
) -> (Option<T>, Vec<Diagnostic>) {
    if source.len() > MAX_MANIFEST_BYTES {
        let diagnostic = Diagnostic {
            severity: Severity::Error,
            message: format!("the file is larger than {} MiB", MAX_MANIFEST_BYTES >> 20),
            file: file_name.to_owned(),
            line: 1,
            column: 1,
            hint: Some("a manifest is a few kilobytes of TOML; check the path".into()),
            snippet: None,
        };
        return (None, vec![diagnostic]);
    }
    if looks_binary(source) {
        let diagnostic = Diagnostic {
            severity: Severity::Error,
            message: "the file is not a text file".into(),
            file: file_name.to_owned(),
            line: 1,
            column: 1,
            hint: Some("a manifest is UTF-8 TOML text; check the path".into()),
            snippet: None,
        };
        return (None, vec![diagnostic]);
    }
    let text = match std::str::from_utf8(source) {
        Ok(text) => text,
        Err(_) => return (None, not_utf8(source, file_name)),
    };
    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(err) => {
            let finding = syntax_error(err.message(), err.span());
            return (None, resolve(text, file_name, vec![finding], 0));
        }
    };
    let mut checker = Checker::new(text);
    let value = walk(&doc, &mut checker);
    let suppressed = checker.suppressed;
    (value, resolve(text, file_name, checker.findings, suppressed))
}

fn syntax_error(message: &str, span: Option<std::ops::Range<usize>>) -> Finding {
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let (message, hint) = match lines.iter().position(|l| l.starts_with("duplicate key")) {
        Some(i) => (
            format!("{} (TOML syntax)", lines[i]),
            "a key or table may be defined only once; two products need two addresses".to_string(),
        ),
        None => {
            let first = lines.first().copied().unwrap_or("invalid TOML");
            let rest = lines.get(1..).unwrap_or_default().join("; ");
            let hint = if rest.is_empty() {
                "see https://toml.io/en/v1.0.0 for the syntax".to_string()
            } else {
                rest
            };
            (format!("TOML syntax error: {first}"), hint)
        }
    };
    Finding {
        severity: Severity::Error,
        message,
        hint: Some(hint),
        span,
    }
}

/// Text has no NUL byte, and a text file saved in another encoding has a few bytes that are
/// not UTF-8 (each worth pointing at), not dozens.
fn looks_binary(source: &[u8]) -> bool {
    const MAX_INVALID: usize = 16;
    source.contains(&0)
        || source
            .utf8_chunks()
            .filter(|chunk| !chunk.invalid().is_empty())
            .nth(MAX_INVALID)
            .is_some()
}

/// One diagnostic per invalid byte sequence, located in the lossily decoded text.
fn not_utf8(source: &[u8], file_name: &str) -> Vec<Diagnostic> {
    let mut text = String::with_capacity(source.len());
    let mut findings = Vec::new();
    for chunk in source.utf8_chunks() {
        text.push_str(chunk.valid());
        let invalid = chunk.invalid();
        if invalid.is_empty() {
            continue;
        }
        let at = text.len();
        text.push(char::REPLACEMENT_CHARACTER);
        if findings.len() < check::MAX_FINDINGS {
            let bytes: Vec<String> = invalid.iter().map(|b| format!("0x{b:02X}")).collect();
            findings.push(Finding {
                severity: Severity::Error,
                message: format!(
                    "the file is not valid UTF-8: byte {} cannot be decoded",
                    bytes.join(" ")
                ),
                hint: Some("TOML manifests are UTF-8; re-save the file as UTF-8 (shown here as \u{FFFD})".into()),
                span: Some(at..at + char::REPLACEMENT_CHARACTER.len_utf8()),
            });
        }
    }
    resolve(&text, file_name, findings, 0)
}

/// Findings to diagnostics, in source order (whole-file findings first).
fn resolve(text: &str, file_name: &str, mut findings: Vec<Finding>, suppressed: usize) -> Vec<Diagnostic> {
    findings.sort_by_key(|f| f.span.as_ref().map(|s| (s.start, s.end)));
    let mut map = SourceMap::new(text);
    let mut out: Vec<Diagnostic> = findings
        .into_iter()
        .map(|f| {
            let (line, column, snippet) = match f.span {
                Some(span) => {
                    let at = map.locate(span);
                    (at.line, at.column, Some(at.snippet))
                }
                None => (1, 1, None),
            };
            Diagnostic {
                severity: f.severity,
                message: f.message,
                file: file_name.to_owned(),
                line,
                column,
                hint: f.hint,
                snippet,
            }
        })
        .collect();
    if suppressed > 0 {
        out.push(Diagnostic {
            severity: Severity::Error,
            message: format!("{suppressed} more problems were found but not reported"),
            file: file_name.to_owned(),
            line: 1,
            column: 1,
            hint: Some(format!("fix the first {} and run again", check::MAX_FINDINGS)),
            snippet: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::looks_binary;

    #[test]
    fn binary_or_text() {
        let latin1 = b"name = \"caf\xe9 cr\xe8me\"\n".to_vec();
        let mut many = Vec::new();
        for _ in 0..17 {
            many.extend_from_slice(b"x\xff");
        }
        let table: [(&[u8], bool); 6] = [
            (b"[provider]\nregion = \"cn-hangzhou\"\n", false),
            ("对象存储 = 1\n".as_bytes(), false),
            (&latin1, false),
            (b"a = 1\n\0", true),
            (&many, true),
            (&many[2..], false),
        ];
        for (bytes, want) in table {
            assert_eq!(looks_binary(bytes), want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }
}
