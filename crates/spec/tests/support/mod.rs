//! The table of diagnostics that the manifest's and the fleet file's tests share: a case is a
//! source, the message a diagnostic must carry, its severity, its 1-based line and column, and
//! (optionally) a piece of its hint.

use pai_spec::{Diagnostic, Severity};

pub struct Case {
    pub name: &'static str,
    pub source: String,
    pub severity: Severity,
    pub message: &'static str,
    pub line: usize,
    pub column: usize,
    pub hint: &'static str,
}

pub fn e(name: &'static str, source: impl Into<String>, message: &'static str, line: usize, column: usize) -> Case {
    Case {
        name,
        source: source.into(),
        severity: Severity::Error,
        message,
        line,
        column,
        hint: "",
    }
}

pub fn w(name: &'static str, source: impl Into<String>, message: &'static str, line: usize, column: usize) -> Case {
    Case {
        severity: Severity::Warning,
        ..e(name, source, message, line, column)
    }
}

impl Case {
    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }

    /// What is wrong with how `file` was reported: `accepted` says whether the source was taken
    /// as valid, `diagnostics` what was said of it. Empty when the case holds.
    pub fn failures(&self, accepted: bool, diagnostics: &[Diagnostic], file: &str) -> Vec<String> {
        let mut failures = Vec::new();
        if self.severity == Severity::Error && accepted {
            failures.push(format!("{}: accepted", self.name));
        }
        let Some(d) = diagnostics
            .iter()
            .find(|d| d.message.contains(self.message) && d.severity == self.severity)
        else {
            failures.push(format!(
                "{}: no {:?} `{}` in {:#?}",
                self.name, self.severity, self.message, diagnostics
            ));
            return failures;
        };
        if (d.line, d.column) != (self.line, self.column) {
            failures.push(format!(
                "{}: at {}:{}, want {}:{}\n{}",
                self.name,
                d.line,
                d.column,
                self.line,
                self.column,
                d.render(false)
            ));
        }
        if !d.hint.as_deref().unwrap_or_default().contains(self.hint) {
            failures.push(format!("{}: hint {:?} lacks {:?}", self.name, d.hint, self.hint));
        }
        if d.file != file {
            failures.push(format!("{}: file {}", self.name, d.file));
        }
        failures
    }
}
