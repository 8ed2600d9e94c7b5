//! What a fleet run logs per account, kept out of the terminal by default. At 1,000 accounts
//! the executor's warnings (an order of unknown outcome, a settle wait) and its notes would be
//! thousands of lines without an account's name; here every event inside an account's span
//! (`pai_fleet::run::ACCOUNT_SPAN`) is counted by kind and written, with the account's name, to
//! a log file, which the run's summary names. `-v` prints them on stderr as well.
//!
//! The file is created on the first such event only, its owner's alone (it names accounts and
//! products), at `PAI_PROVISION_FLEET_LOG` or in the temporary directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The environment variable that chooses the log file.
pub const LOG_VARIABLE: &str = "PAI_PROVISION_FLEET_LOG";

static LOG: OnceLock<Arc<FleetLog>> = OnceLock::new();

/// The process's fleet log; its layer is installed by `main`.
pub fn log() -> Arc<FleetLog> {
    Arc::clone(LOG.get_or_init(|| {
        Arc::new(match std::env::var_os(LOG_VARIABLE) {
            Some(path) if !path.is_empty() => FleetLog::new(PathBuf::from(path), true),
            _ => FleetLog::new(
                std::env::temp_dir().join(format!(
                    "pai-provision-fleet-{}-{}.log",
                    pai_state::clock::now().replace(':', ""),
                    std::process::id()
                )),
                false,
            ),
        })
    }))
}

/// Whether the event is inside an account's span: what stderr leaves to the log by default.
pub fn in_account<S: Subscriber + for<'a> LookupSpan<'a>>(cx: &Context<'_, S>) -> bool {
    cx.lookup_current()
        .is_some_and(|span| span.scope().any(|s| s.name() == pai_fleet::run::ACCOUNT_SPAN))
}

pub struct FleetLog {
    path: PathBuf,
    /// The user chose the path: the file is written even without a warning.
    chosen: bool,
    state: Mutex<Logged>,
}

#[derive(Default)]
struct Logged {
    file: Option<std::fs::File>,
    /// The lines not written yet (before the first warning, for a file not chosen).
    held: Vec<String>,
    /// The file could not be created: said once, then only counted.
    failed: Option<String>,
    /// Warnings by kind.
    warnings: BTreeMap<String, usize>,
    lines: usize,
}

impl FleetLog {
    fn new(path: PathBuf, chosen: bool) -> FleetLog {
        FleetLog {
            path,
            chosen,
            state: Mutex::new(Logged::default()),
        }
    }

    fn write(&self, level: Level, account: &str, kind: Option<String>, line: &str) {
        let mut logged = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if level <= Level::WARN {
            *logged
                .warnings
                .entry(kind.unwrap_or_else(|| first_words(line)))
                .or_default() += 1;
        }
        logged.lines += 1;
        let stamped = format!("{} {level:>5} {account}: {line}\n", pai_state::clock::now());
        logged.held.push(stamped);
        if self.chosen || !logged.warnings.is_empty() {
            self.flush(&mut logged);
        }
    }

    /// Writes the held lines, opening the file first if it is not open.
    fn flush(&self, logged: &mut Logged) {
        if logged.file.is_none() && logged.failed.is_none() {
            match crate::context::append_private(&self.path) {
                Ok(file) => logged.file = Some(file),
                Err(e) => logged.failed = Some(format!("cannot write the log {}: {e}", self.path.display())),
            }
        }
        let held = std::mem::take(&mut logged.held);
        if let Some(file) = &mut logged.file {
            for line in held {
                let _ = file.write_all(line.as_bytes());
            }
        }
    }

    /// `Warnings: 12 × order outcome unknown, 3 × settle wait; the accounts' log (N lines) is
    /// PATH`; `None` when no account warned and no file was chosen.
    pub fn summary(&self) -> Option<String> {
        let mut logged = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !self.chosen && logged.warnings.is_empty() {
            return None;
        }
        self.flush(&mut logged);
        let where_ = match &logged.failed {
            Some(failed) => failed.clone(),
            None => format!(
                "the accounts' log ({} line{}) is {} (-v prints it too)",
                logged.lines,
                if logged.lines == 1 { "" } else { "s" },
                self.path.display()
            ),
        };
        if logged.warnings.is_empty() {
            return Some(format!("No warnings; {where_}."));
        }
        let kinds: Vec<String> = logged
            .warnings
            .iter()
            .map(|(kind, n)| format!("{n} × {kind}"))
            .collect();
        Some(format!("Warnings: {}; {where_}.", kinds.join(", ")))
    }
}

/// A warning without a `kind`: its first words stand for it.
fn first_words(line: &str) -> String {
    line.split(['.', ';', ':'])
        .next()
        .unwrap_or(line)
        .chars()
        .take(60)
        .collect()
}

/// The account a span is for, kept in its extensions.
struct AccountName(String);

/// The layer that feeds [`FleetLog`].
pub struct FleetLogLayer(pub Arc<FleetLog>);

impl<S> Layer<S> for FleetLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, cx: Context<'_, S>) {
        if attrs.metadata().name() != pai_fleet::run::ACCOUNT_SPAN {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(span), Some(name)) = (cx.span(id), fields.values.remove("account")) {
            span.extensions_mut().insert(AccountName(name));
        }
    }

    fn on_event(&self, event: &Event<'_>, cx: Context<'_, S>) {
        let Some(span) = cx.event_span(event) else { return };
        let Some(account) = span
            .scope()
            .find_map(|s| s.extensions().get::<AccountName>().map(|a| a.0.clone()))
        else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let kind = fields.values.remove("kind");
        let mut line = pai_spec::escape(&fields.message).into_owned();
        for (name, value) in &fields.values {
            let _ = write!(line, " {name}={}", pai_spec::escape(value));
        }
        self.0
            .write(*event.metadata().level(), &pai_spec::escape(&account), kind, &line);
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    values: BTreeMap<String, String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.values.insert(field.name().to_owned(), value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.values.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_in_an_account_are_counted_by_kind_and_written_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.log");
        let log = Arc::new(FleetLog::new(path.clone(), false));
        let subscriber = tracing_subscriber::registry().with(FleetLogLayer(Arc::clone(&log)));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("outside any account: not the fleet log's");
            assert_eq!(log.summary(), None);
            let span = tracing::info_span!(pai_fleet::run::ACCOUNT_SPAN, account = "acct-0");
            span.in_scope(|| tracing::info!("created the state"));
            assert_eq!(log.summary(), None, "no warning, no file, nothing said");
            assert!(!path.exists());
            for account in ["acct-1", "acct-2"] {
                let span = tracing::info_span!(pai_fleet::run::ACCOUNT_SPAN, account);
                let _entered = span.enter();
                tracing::warn!(
                    kind = "order outcome unknown",
                    region = "cn-hangzhou",
                    "asking ListProducts"
                );
                tracing::info!("created the state");
            }
            let span = tracing::info_span!(pai_fleet::run::ACCOUNT_SPAN, account = "acct-3");
            let _entered = span.enter();
            tracing::warn!("settle wait: until 10:00. More");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 6, "{text}");
        // A file named by mistake is added to, never emptied.
        let existing = dir.path().join("fleet.toml");
        std::fs::write(&existing, "[fleet]\n").unwrap();
        let named = FleetLog::new(existing.clone(), true);
        named.write(Level::WARN, "acct-1", None, "once");
        assert!(named.summary().is_some());
        let kept = std::fs::read_to_string(&existing).unwrap();
        assert!(
            kept.starts_with("[fleet]\n") && kept.ends_with("WARN acct-1: once\n"),
            "{kept}"
        );
        assert!(
            text.contains(" WARN acct-2: asking ListProducts region=cn-hangzhou\n"),
            "{text}"
        );
        assert!(text.contains(" INFO acct-1: created the state\n"), "{text}");
        assert!(!text.contains("outside any account"), "{text}");
        assert_eq!(
            log.summary().unwrap(),
            format!(
                "Warnings: 2 × order outcome unknown, 1 × settle wait; the accounts' log (6 lines) is {} (-v prints it \
                 too).",
                path.display()
            )
        );
    }
}
