//! What a fleet run says while it works (stderr): one line per account event in CI and in logs;
//! on a terminal, a progress bar with the events that matter printed above it.

use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use pai_fleet::run::{AccountEvent, FleetProgress};
use pai_spec::escape;

/// The line for one event, or `None` for one not worth a line.
pub fn event_line(account: &str, event: &AccountEvent) -> Option<String> {
    let account = escape(account);
    Some(match event {
        AccountEvent::Started => return None,
        AccountEvent::Planned { changes: 0 } => format!("{account}: no changes"),
        AccountEvent::Planned { changes } => format!("{account}: {changes} change{}", plural(*changes)),
        AccountEvent::NotPlanned { reason } => format!("{account}: NOT PLANNED: {}", escape(reason)),
        AccountEvent::Applied { ordered: 0 } => format!("{account}: done, nothing ordered"),
        AccountEvent::Applied { ordered } => format!("{account}: done, {ordered} product{} ordered", plural(*ordered)),
        AccountEvent::Failed { reason } => format!("{account}: FAILED: {}", escape(reason)),
        AccountEvent::Skipped { reason } => format!("{account}: not started: {}", escape(reason)),
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Plain lines, for CI logs and pipes.
pub struct Lines {
    /// `plan` says only what is not routine (an account not planned); `apply` says every account.
    pub verbose: bool,
}

impl FleetProgress for Lines {
    fn event(&self, account: &str, event: AccountEvent) {
        let routine = matches!(event, AccountEvent::Planned { .. });
        if self.verbose || !routine {
            if let Some(line) = event_line(account, &event) {
                note!("{line}");
            }
        }
    }
}

/// A bar of accounts done, for a terminal.
pub struct Bar {
    bar: ProgressBar,
    done: AtomicUsize,
    verbose: bool,
}

impl Bar {
    pub fn new(what: &str, accounts: usize, verbose: bool) -> Bar {
        let bar = ProgressBar::new(accounts as u64);
        let template = format!("{what} {{bar:30}} {{pos}}/{{len}} accounts {{msg}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        Bar {
            bar,
            done: AtomicUsize::new(0),
            verbose,
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl FleetProgress for Bar {
    fn event(&self, account: &str, event: AccountEvent) {
        if matches!(event, AccountEvent::Started) {
            self.bar.set_message(escape(account).into_owned());
            return;
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        self.bar.inc(1);
        let routine = matches!(event, AccountEvent::Planned { .. });
        if self.verbose || !routine {
            if let Some(line) = event_line(account, &event) {
                self.bar.println(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines() {
        let cases = [
            (AccountEvent::Started, None),
            (AccountEvent::Planned { changes: 0 }, Some("a: no changes")),
            (AccountEvent::Planned { changes: 2 }, Some("a: 2 changes")),
            (
                AccountEvent::NotPlanned {
                    reason: "no\x1b[31m".into(),
                },
                Some("a: NOT PLANNED: no\\u{1b}[31m"),
            ),
            (AccountEvent::Applied { ordered: 1 }, Some("a: done, 1 product ordered")),
            (AccountEvent::Failed { reason: "x".into() }, Some("a: FAILED: x")),
            (AccountEvent::Skipped { reason: "y".into() }, Some("a: not started: y")),
        ];
        for (event, want) in cases {
            assert_eq!(event_line("a", &event).as_deref(), want, "{event:?}");
        }
    }
}
