//! Diagnostics a person can act on: what is wrong, where (file, line, column, the source line
//! with a marker) and what would be right.

use std::fmt::Write as _;

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::printable::{escape, escape_lines};
pub use crate::rules::Severity;
pub use crate::source::Snippet;

/// Human output lists at most this many diagnostics; `--format json` lists them all.
pub const RENDER_LIMIT: usize = 100;

/// One finding about a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// The file name as given to the parser (a path, or a label such as `<stdin>`).
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// What would be valid: the accepted values, "did you mean", the fix.
    pub hint: Option<String>,
    /// The source line with the marker's place; absent for findings about the file as a whole.
    pub snippet: Option<Snippet>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// rustc-style text: the message, `--> file:line:col`, the source line, a marker, the hint.
    /// `color` adds ANSI colours; without it the text is plain.
    pub fn render(&self, color: bool) -> String {
        let paint = Paint(color);
        let (label, tone) = match self.severity {
            Severity::Error => ("error", RED),
            Severity::Warning => ("warning", YELLOW),
        };
        let gutter = " ".repeat(self.line.to_string().len());
        // The message, file name and hint quote the manifest: its controls are written out.
        let (message, file) = (escape(&self.message), escape(&self.file));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}{}",
            paint.style(&format!("{label}:"), tone),
            paint.style(&format!(" {message}"), BOLD)
        );
        let _ = writeln!(
            out,
            "{gutter}{} {}:{}:{}",
            paint.style("-->", BLUE),
            file,
            self.line,
            self.column
        );
        if let Some(snippet) = &self.snippet {
            let bar = paint.style("|", BLUE);
            let before: String = snippet.text.chars().take(snippet.start).collect();
            let marked: String = snippet.text.chars().skip(snippet.start).take(snippet.len).collect();
            let pad = " ".repeat(before.width());
            let carets = "^".repeat(marked.width().max(1));
            let _ = writeln!(out, "{gutter} {bar}");
            let _ = writeln!(
                out,
                "{} {bar} {}",
                paint.style(&self.line.to_string(), BLUE),
                snippet.text
            );
            let _ = writeln!(out, "{gutter} {bar} {pad}{}", paint.style(&carets, tone));
        }
        if let Some(hint) = &self.hint {
            let hint = escape_lines(hint);
            let mut lines = hint.lines();
            let first = lines.next().unwrap_or_default();
            let _ = writeln!(out, "{gutter} {} {first}", paint.style("= help:", BOLD));
            for more in lines {
                let _ = writeln!(out, "{gutter}         {more}");
            }
        }
        out
    }
}

/// Every diagnostic (up to [`RENDER_LIMIT`]), blank-line separated, then a count of what was left out.
pub fn render_all(diagnostics: &[Diagnostic], color: bool) -> String {
    let mut out = String::new();
    for (i, d) in diagnostics.iter().take(RENDER_LIMIT).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&d.render(color));
    }
    if diagnostics.len() > RENDER_LIMIT {
        let _ = writeln!(
            out,
            "\n... and {} more not shown (`validate --format json` lists every one)",
            diagnostics.len() - RENDER_LIMIT
        );
    }
    out
}

/// "2 errors, 1 warning"; "no problems" when empty.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => "no problems".into(),
        (e, 0) => plural(e, "error"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";

struct Paint(bool);

impl Paint {
    fn style(&self, text: &str, code: &str) -> String {
        if self.0 {
            format!("{code}{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(text: &str, start: usize, len: usize) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: "unknown product code `Dataworks_share`".into(),
            file: "m.toml".into(),
            line: 12,
            column: start + 1,
            hint: Some("did you mean `DataWorks_share`?\nvalid: a, b".into()),
            snippet: Some(Snippet {
                text: text.into(),
                start,
                len,
            }),
        }
    }

    #[test]
    fn renders_like_rustc() {
        let got = diagnostic("code = \"Dataworks_share\"", 7, 17).render(false);
        let want = "error: unknown product code `Dataworks_share`
  --> m.toml:12:8
   |
12 | code = \"Dataworks_share\"
   |        ^^^^^^^^^^^^^^^^^
   = help: did you mean `DataWorks_share`?
           valid: a, b
";
        assert_eq!(got, want);
    }

    #[test]
    fn markers_align_under_wide_characters() {
        let got = diagnostic("name = \"对象存储\" x", 14, 1).render(false);
        let lines: Vec<&str> = got.lines().collect();
        let source = lines[3];
        let marker = lines[4];
        let caret = marker.find('^').unwrap_or(0);
        let x = source.find('x').unwrap_or(0);
        assert_eq!(marker[..caret].width(), source[..x].width(), "{got}");
    }

    #[test]
    fn colour_only_when_asked() {
        let d = diagnostic("code = 1", 7, 1);
        assert!(!d.render(false).contains('\x1b'));
        assert!(d.render(true).contains("\x1b[1;31merror:"));
    }

    #[test]
    fn summaries_and_limits() {
        let d = diagnostic("x", 0, 1);
        let mut w = d.clone();
        w.severity = Severity::Warning;
        assert_eq!(summary(&[]), "no problems");
        assert_eq!(summary(&[d.clone(), d.clone(), w.clone()]), "2 errors, 1 warning");
        assert_eq!(summary(&[w]), "1 warning");
        let many = vec![d; RENDER_LIMIT + 5];
        let text = render_all(&many, false);
        assert_eq!(text.matches("error:").count(), RENDER_LIMIT);
        assert!(text.contains("and 5 more not shown"));
    }
}
