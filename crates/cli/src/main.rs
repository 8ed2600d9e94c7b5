//! `pai-provision`: Terraform-style plan/apply for Alibaba Cloud Platform for AI product activations.
//!
//! The binary only wires the library crates together: [`cli`] declares the command line,
//! [`commands`] holds one module per command, [`context`] what they share (the manifest, where
//! the state is, where the orders go), [`cloud`] the connection to the API, and [`sandbox`] the
//! in-process emulator of `--sandbox`. Nothing is kept between calls: each command passes what
//! it loaded to what needs it. `anyhow` lives here at the edge.

/// `eprintln!` that never panics: with stderr closed (`2>&1 | head`) the line is lost and the
/// command goes on to its own exit, rather than dying of a panic (exit 101). Every line the
/// binary writes to stderr goes through it; stdout goes through `context::emit`.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod cloud;
mod commands;
mod context;
mod fleet_log;
mod sandbox;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut cli = cli::parse();
    // The pipeline's environment, read once here: a command takes it as data.
    let env = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    cli.global.manifest_endpoints =
        pai_spec::ManifestEndpoints::from_env(env("CI").as_deref(), env(pai_spec::endpoint::ALLOW_VARIABLE).as_deref());
    // The one colour rule (`context::stderr_color`): logs are coloured on a terminal only.
    init_logging(cli.global.verbose, context::stderr_color(&cli.global));
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // Errors carry manifest text and servers' messages: their controls are written out.
            note!("error: {}", pai_spec::escape_lines(&error_chain(&err)));
            ExitCode::from(1)
        }
    }
}

fn init_logging(verbose: u8, color: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAI_PROVISION_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // What a fleet's accounts log goes to its log file, and to stderr only with -v.
    let quiet_accounts =
        tracing_subscriber::filter::DynFilterFn::new(move |_, cx| verbose > 0 || !fleet_log::in_account(cx));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .with_filter(filter)
        .with_filter(quiet_accounts);
    let accounts =
        fleet_log::FleetLogLayer(fleet_log::log()).with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = tracing_subscriber::registry().with(stderr).with(accounts).try_init();
}

/// The error and its causes, `a: b: c`, leaving out a cause that the text so far already ends
/// with: many library errors spell out their source at the end of their own message and return
/// it as `source()` too, and `{:#}` would print it twice.
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    /// A library error that spells out its source and returns it too.
    #[derive(Debug)]
    struct Spelled {
        path: &'static str,
        source: std::io::Error,
    }

    impl std::fmt::Display for Spelled {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.path, self.source)
        }
    }

    impl std::error::Error for Spelled {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let table: Vec<(anyhow::Error, &str)> = vec![
            (
                anyhow::Error::new(Spelled {
                    path: "/tmp/p.json",
                    source: io(),
                }),
                "/tmp/p.json: No such file or directory",
            ),
            (
                anyhow::Error::new(io()).context("cannot read the plan"),
                "cannot read the plan: No such file or directory",
            ),
            (
                anyhow::Error::new(Spelled {
                    path: "p.json",
                    source: io(),
                })
                .context("refusing the saved plan"),
                "refusing the saved plan: p.json: No such file or directory",
            ),
            (anyhow::anyhow!("plain"), "plain"),
            // Said earlier about something else: still said.
            (
                anyhow::Error::new(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))
                    .context("ListProducts timed out twice, then"),
                "ListProducts timed out twice, then: timed out",
            ),
        ];
        for (err, want) in table {
            assert_eq!(error_chain(&err), want);
        }
    }
}
