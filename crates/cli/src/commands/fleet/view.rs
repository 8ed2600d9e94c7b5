//! What a fleet run says while it works (stderr). Quiet by default: at 1,000 accounts a line
//! per account is a log nobody reads. On a terminal, a progress bar (accounts done, failed, in
//! flight, waiting for a lock, time left) with failures printed above it; in CI and in logs, a
//! progress line every [`TICK`]. The first lock wait is said at once, naming the account, the
//! state and the holder. With `-v`, one line per account event, in the words of the summary
//! (`pai_fleet::run::Applied::describe`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use pai_fleet::run::{AccountEvent, FleetProgress};
use pai_spec::escape;

/// How often the progress line is printed where there is no terminal.
pub const TICK: Duration = Duration::from_secs(10);

/// The line for one event (`-v`), or `None` for one not worth a line.
pub fn event_line(account: &str, event: &AccountEvent) -> Option<String> {
    let account = escape(account);
    Some(match event {
        AccountEvent::Started => return None,
        AccountEvent::Waiting { on } => format!("{account}: waiting for {}", escape(on)),
        AccountEvent::Planned { changes: 0 } => format!("{account}: no changes"),
        AccountEvent::Planned { changes } => format!("{account}: {changes} change{}", plural(*changes)),
        AccountEvent::NotPlanned { reason } => format!("{account}: NOT PLANNED: {}", escape(reason)),
        AccountEvent::Finished { line, .. } => format!("{account}: {}", escape(line)),
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

/// Where the run stands.
#[derive(Debug, Default)]
struct Tally {
    total: usize,
    done: usize,
    failed: usize,
    in_flight: HashSet<String>,
    waiting: HashSet<String>,
}

impl Tally {
    /// Notes `event`; whether it ended the account's part in the run.
    fn note(&mut self, account: &str, event: &AccountEvent) -> bool {
        match event {
            AccountEvent::Started => {
                self.in_flight.insert(account.to_owned());
                false
            }
            AccountEvent::Waiting { .. } => {
                self.waiting.insert(account.to_owned());
                false
            }
            ended => {
                self.in_flight.remove(account);
                self.waiting.remove(account);
                self.done += 1;
                self.failed += usize::from(matches!(
                    ended,
                    AccountEvent::NotPlanned { .. }
                        | AccountEvent::Skipped { .. }
                        | AccountEvent::Finished { failed: true, .. }
                ));
                true
            }
        }
    }

    /// `420/1000 accounts done (3 failed), 128 in flight, 18 waiting for a lock, about 12s left`
    fn line(&self, elapsed: Duration) -> String {
        let mut line = format!("{}/{} accounts done", self.done, self.total);
        if self.failed > 0 {
            line.push_str(&format!(" ({} failed)", self.failed));
        }
        line.push_str(&format!(", {} in flight", self.in_flight.len()));
        if !self.waiting.is_empty() {
            line.push_str(&format!(", {} waiting for a lock", self.waiting.len()));
        }
        if let Some(left) = self.time_left(elapsed) {
            line.push_str(&format!(", about {left} left"));
        }
        line
    }

    /// The time left at the pace so far; unknown before the first account is done.
    fn time_left(&self, elapsed: Duration) -> Option<String> {
        if self.done == 0 || self.done >= self.total {
            return None;
        }
        let per_account = elapsed.as_secs_f64() / self.done as f64;
        let left = Duration::from_secs_f64(per_account * (self.total - self.done) as f64);
        Some(humantime::format_duration(Duration::from_secs(left.as_secs().max(1))).to_string())
    }
}

/// The fleet run's progress: a bar on a terminal, a line every [`TICK`] elsewhere.
pub struct Progress {
    what: &'static str,
    started: Instant,
    tally: Mutex<Tally>,
    verbose: bool,
    bar: Option<ProgressBar>,
    said_wait: AtomicBool,
    say: Box<dyn Fn(&str) + Send + Sync>,
    stop: Mutex<Option<mpsc::Sender<()>>>,
}

impl Progress {
    /// `what` is `planning` or `applying`; `terminal`: a bar instead of progress lines.
    pub fn start(what: &'static str, total: usize, verbose: bool, terminal: bool) -> Arc<Progress> {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total as u64);
            let template = format!("{what} {{bar:30}} {{msg}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar
        });
        let say: Box<dyn Fn(&str) + Send + Sync> = match &bar {
            Some(bar) => {
                let bar = bar.clone();
                Box::new(move |line| bar.println(line))
            }
            None => Box::new(|line| note!("{line}")),
        };
        Progress::with(what, total, verbose, bar, say, (!terminal).then_some(TICK))
    }

    fn with(
        what: &'static str,
        total: usize,
        verbose: bool,
        bar: Option<ProgressBar>,
        say: Box<dyn Fn(&str) + Send + Sync>,
        tick: Option<Duration>,
    ) -> Arc<Progress> {
        let progress = Arc::new(Progress {
            what,
            started: Instant::now(),
            tally: Mutex::new(Tally {
                total,
                ..Tally::default()
            }),
            verbose,
            bar,
            said_wait: AtomicBool::new(false),
            say,
            stop: Mutex::new(None),
        });
        if let Some(tick) = tick {
            let (stop, stopped) = mpsc::channel::<()>();
            *progress.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop);
            // A weak reference: the line stops when the run drops its progress, or at `finish`.
            let watched = Arc::downgrade(&progress);
            std::thread::spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    let Some(progress) = watched.upgrade() else { return };
                    let line = progress.line();
                    (progress.say)(&format!("{}: {line}", progress.what));
                }
            });
        }
        progress
    }

    fn line(&self) -> String {
        self.tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .line(self.started.elapsed())
    }

    pub fn finish(&self) {
        if let Some(stop) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = stop.send(());
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl FleetProgress for Progress {
    fn event(&self, account: &str, event: AccountEvent) {
        let ended = self
            .tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note(account, &event);
        if let Some(bar) = &self.bar {
            if ended {
                bar.inc(1);
            }
            bar.set_message(self.line());
        }
        let failed = matches!(
            event,
            AccountEvent::NotPlanned { .. } | AccountEvent::Finished { failed: true, .. }
        );
        let first_wait = matches!(event, AccountEvent::Waiting { .. }) && !self.said_wait.swap(true, Ordering::SeqCst);
        // By default: the first lock wait (the others are counted), and on a terminal the
        // failures as they happen (the summary lists them again, in the same words).
        let said = self.verbose || first_wait || (failed && self.bar.is_some());
        if said {
            if let Some(mut line) = event_line(account, &event) {
                if first_wait && !self.verbose {
                    line.push_str("; other accounts' waits are counted in the progress (-v names each)");
                }
                (self.say)(&line);
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
            (
                AccountEvent::Finished {
                    line: "done: 1 ordered".into(),
                    failed: false,
                },
                Some("a: done: 1 ordered"),
            ),
            (AccountEvent::Skipped { reason: "y".into() }, Some("a: not started: y")),
            (
                AccountEvent::Waiting {
                    on: "the lock of its state (schema s)".into(),
                },
                Some("a: waiting for the lock of its state (schema s)"),
            ),
        ];
        for (event, want) in cases {
            assert_eq!(event_line("a", &event).as_deref(), want, "{event:?}");
        }
    }

    #[test]
    fn the_progress_line_counts_what_is_done_failed_in_flight_and_waiting() {
        let mut tally = Tally {
            total: 10,
            ..Tally::default()
        };
        let finished = |failed| AccountEvent::Finished {
            line: String::new(),
            failed,
        };
        assert_eq!(tally.line(Duration::from_secs(1)), "0/10 accounts done, 0 in flight");
        for account in ["a", "b", "c", "d"] {
            tally.note(account, &AccountEvent::Started);
        }
        tally.note("c", &AccountEvent::Waiting { on: String::new() });
        tally.note("a", &finished(false));
        tally.note("b", &finished(true));
        tally.note("e", &AccountEvent::Skipped { reason: String::new() });
        assert_eq!(
            tally.line(Duration::from_secs(30)),
            "3/10 accounts done (2 failed), 2 in flight, 1 waiting for a lock, about 1m 10s left"
        );
        tally.note("c", &finished(false));
        assert_eq!(
            tally.line(Duration::from_secs(40)),
            "4/10 accounts done (2 failed), 1 in flight, about 1m left"
        );
    }

    /// Where there is no terminal, a line every tick while the run lasts, and none after it.
    #[test]
    fn progress_lines_tick_until_the_run_finishes() {
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&said);
        let progress = Progress::with(
            "applying",
            3,
            false,
            None,
            Box::new(move |line| sink.lock().unwrap().push(line.to_owned())),
            Some(Duration::from_millis(20)),
        );
        progress.event("a", AccountEvent::Started);
        progress.event(
            "a",
            AccountEvent::Finished {
                line: "done: 1 ordered".into(),
                failed: false,
            },
        );
        progress.event("b", AccountEvent::Waiting { on: "its lock".into() });
        progress.event("c", AccountEvent::Waiting { on: "its lock".into() });
        std::thread::sleep(Duration::from_millis(150));
        progress.finish();
        let count = said.lock().unwrap().len();
        std::thread::sleep(Duration::from_millis(100));
        let said = said.lock().unwrap();
        assert_eq!(said.len(), count, "no line after the run: {said:?}");
        assert_eq!(
            said[0], "b: waiting for its lock; other accounts' waits are counted in the progress (-v names each)",
            "the first wait is said at once, the second is not: {said:?}"
        );
        assert!(
            !said.iter().any(|l| l.starts_with("c:") || l.starts_with("a:")),
            "{said:?}"
        );
        let ticks: Vec<&String> = said.iter().filter(|l| l.starts_with("applying: ")).collect();
        assert!(ticks.len() >= 2, "{said:?}");
        assert!(
            ticks[0].starts_with("applying: 1/3 accounts done, 0 in flight, 2 waiting for a lock"),
            "{said:?}"
        );
    }
}
