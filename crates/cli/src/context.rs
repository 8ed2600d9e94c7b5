//! What the commands share: where the state is, loading the manifest, opening the state
//! read-only or locked, colour, writing to stdout, and the source of the cloud's status.

use std::io::{ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use pai_planner::StatusSource;
use pai_spec::{diagnostic, Address, Manifest, SpecError};
use pai_state::postgres::target::PasswordSource;
use pai_state::{StateLocation, StateWriter, Store};

use crate::cli::{manifest_path, Global, LocationArg};
use crate::sandbox;

/// Where the state lives unless `--state`, `PAI_PROVISION_STATE` or the manifest says otherwise.
pub const DEFAULT_STATE: &str = "state/pai-provision.db";

/// The manifest's `[state] url`, once a command has loaded the manifest, so that the commands
/// that open the state after loading it (all of them do) use it without being told.
static MANIFEST_STATE: Mutex<Loaded> = Mutex::new(Loaded::Not);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Loaded {
    Not,
    Manifest(Option<ManifestState>),
}

/// A manifest's `[state] url` and the directory a relative path in it is relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ManifestState {
    url: String,
    dir: PathBuf,
    manifest: PathBuf,
}

impl ManifestState {
    fn of(manifest: &Manifest, path: &Path) -> Option<ManifestState> {
        let url = manifest.state.clone()?;
        Some(ManifestState {
            url,
            dir: path.parent().map(Path::to_owned).unwrap_or_default(),
            manifest: path.to_owned(),
        })
    }
}

/// Where the state location comes from, in order of precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// `--state`, or `PAI_PROVISION_STATE` (clap reads both into `g.state`).
    Given(String),
    /// The manifest's `[state] url`.
    Manifest(ManifestState),
    Default,
}

fn choose(given: Option<&str>, manifest: Option<ManifestState>) -> Source {
    match (given.filter(|s| !s.is_empty()), manifest) {
        (Some(s), _) => Source::Given(s.to_owned()),
        (None, Some(m)) => Source::Manifest(m),
        (None, None) => Source::Default,
    }
}

/// Reads an environment variable for the state's connection settings (`PGPASSWORD` ...).
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn resolve(source: &Source, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<StateLocation> {
    match source {
        Source::Given(text) => Ok(StateLocation::parse(text, env)?),
        Source::Default => Ok(StateLocation::File(PathBuf::from(DEFAULT_STATE))),
        Source::Manifest(m) => {
            let location = StateLocation::parse(&m.url, env)?;
            if location.as_postgres().and_then(|t| t.password_source()) == Some(&PasswordSource::Url) {
                anyhow::bail!(
                    "the `[state] url` of {} carries a password, and a manifest is committed to git; remove it and \
                     give the password in PGPASSWORD or ~/.pgpass (or pass the whole URL in PAI_PROVISION_STATE)",
                    m.manifest.display()
                );
            }
            // A relative path in a manifest is relative to the manifest, wherever it is run from.
            Ok(match location {
                StateLocation::File(p) if p.is_relative() => StateLocation::File(m.dir.join(p)),
                other => other,
            })
        }
    }
}

/// The `[state] url` that applies: the loaded manifest's, or, for commands that take no
/// manifest (`show`, `state ...`, `force-unlock`), that of `pai-provision.toml` in the working
/// directory if there is a valid one.
fn manifest_state() -> Option<ManifestState> {
    let loaded = MANIFEST_STATE.lock().map(|l| l.clone()).unwrap_or(Loaded::Not);
    match loaded {
        Loaded::Manifest(m) => m,
        Loaded::Not => {
            let path = manifest_path(&None);
            if !path.is_file() {
                return None;
            }
            match pai_spec::load(&path) {
                Ok(loaded) => ManifestState::of(&loaded.manifest, &path),
                Err(e) => {
                    tracing::info!("{} was not read for its [state] url: {e}", path.display());
                    None
                }
            }
        }
    }
}

/// Where the state is: `--state` / `PAI_PROVISION_STATE`, else the manifest's `[state] url`,
/// else `state/pai-provision.db`. With `--sandbox`, the sandbox's own state file beside it
/// (`state/pai-provision.sandbox.db`): a sandbox never reads or writes a real state.
pub fn state_location(g: &Global) -> anyhow::Result<StateLocation> {
    let real = real_state_location(g)?;
    Ok(if g.sandbox {
        StateLocation::File(sandbox::state_path_for(&local_path(&real)))
    } else {
        real
    })
}

fn real_state_location(g: &Global) -> anyhow::Result<StateLocation> {
    resolve(
        &choose(g.state.as_ref().map(LocationArg::as_str), manifest_state()),
        &process_env,
    )
}

/// The real state file, or for a state in PostgreSQL a local path standing for it, beside
/// which local companions live (the `--sandbox` state and ledger): `state/postgres-DB-SCHEMA.db`.
pub fn state_path(g: &Global) -> PathBuf {
    match real_state_location(g) {
        Ok(location) => local_path(&location),
        Err(_) => PathBuf::from(DEFAULT_STATE),
    }
}

fn local_path(location: &StateLocation) -> PathBuf {
    match location {
        StateLocation::File(p) => p.clone(),
        StateLocation::Postgres(t) => {
            PathBuf::from(format!("state/postgres-{}-{}.db", sanitise(t.database()), t.schema()))
        }
    }
}

fn sanitise(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A validated manifest and the path it was read from.
pub struct LoadedManifest {
    pub manifest: Manifest,
    pub path: PathBuf,
}

/// Loads and validates the manifest (argument or `pai-provision.toml`). Warnings and, on
/// failure, every error go to stderr with their source lines.
pub fn load_manifest(g: &Global, arg: &Option<PathBuf>) -> anyhow::Result<LoadedManifest> {
    let path = manifest_path(arg);
    let color = stderr_color(g);
    match pai_spec::load(&path) {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprintln!("{}", diagnostic::render_all(&loaded.warnings, color));
            }
            let from_manifest = ManifestState::of(&loaded.manifest, &path);
            if let Ok(mut slot) = MANIFEST_STATE.lock() {
                *slot = Loaded::Manifest(from_manifest.clone());
            }
            if let (Some(given), Some(m)) = (
                g.state.as_ref().map(LocationArg::as_str).filter(|s| !s.is_empty()),
                from_manifest,
            ) {
                let no_env = |_: &str| None;
                let overridden = resolve(&Source::Given(given.to_owned()), &no_env);
                match (overridden, resolve(&Source::Manifest(m), &no_env)) {
                    (Ok(used), Ok(declared)) if !used.same_state(&declared) => eprintln!(
                        "warning: the state is {used} (--state or PAI_PROVISION_STATE), not the manifest's \
                         `[state] url` ({declared})"
                    ),
                    // A password in the manifest is worth a word even when it is not used.
                    (_, Err(e)) => eprintln!("warning: {e:#}"),
                    _ => {}
                }
            }
            Ok(LoadedManifest {
                manifest: loaded.manifest,
                path,
            })
        }
        Err(SpecError::Invalid { file, diagnostics }) => {
            eprintln!("{}", diagnostic::render_all(&diagnostics, color));
            anyhow::bail!(
                "`{file}` is not a valid manifest ({})",
                diagnostic::summary(&diagnostics)
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The state, read-only: never created, never written, no lock taken.
pub fn open_read(g: &Global) -> anyhow::Result<Store> {
    Ok(Store::open_read_only(state_location(g)?)?)
}

/// The state, locked for `operation` (waiting up to `--lock-timeout`).
pub fn open_write(g: &Global, operation: &str) -> anyhow::Result<StateWriter> {
    Ok(StateWriter::open(state_location(g)?, operation, g.lock_timeout)?)
}

/// Where `plan` (and later `apply`/`refresh`) learn what the cloud has.
pub fn status_source(g: &Global, manifest: &Manifest) -> anyhow::Result<Box<dyn StatusSource>> {
    Ok(Box::new(crate::cloud::Cloud::connect(
        g,
        manifest,
        &manifest.regions(),
    )?))
}

/// Accepts `pai` or `products.pai`.
pub fn parse_address(s: &str) -> anyhow::Result<Address> {
    Address::parse_qualified(s).map_err(anyhow::Error::new)
}

fn no_color(g: &Global) -> bool {
    // https://no-color.org: set and not empty.
    g.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Colour on stdout: only on a terminal, never with `--no-color` or `NO_COLOR`.
pub fn stdout_color(g: &Global) -> bool {
    !no_color(g) && std::io::stdout().is_terminal()
}

pub fn stderr_color(g: &Global) -> bool {
    !no_color(g) && std::io::stderr().is_terminal()
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly instead of panicking.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// Pretty JSON with a final newline, to stdout.
pub fn emit_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("serialising the JSON output")?;
    text.push('\n');
    emit(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_at(url: &str, manifest: &str) -> ManifestState {
        let path = PathBuf::from(manifest);
        ManifestState {
            url: url.to_owned(),
            dir: path.parent().map(Path::to_owned).unwrap_or_default(),
            manifest: path,
        }
    }

    #[test]
    fn choose_table() {
        let m = manifest_at("postgres://ci@db/infra", "infra/pai-provision.toml");
        let cases = [
            (Some("x.db"), Some(m.clone()), Source::Given("x.db".into())),
            (Some(""), Some(m.clone()), Source::Manifest(m.clone())),
            (None, Some(m.clone()), Source::Manifest(m)),
            (None, None, Source::Default),
        ];
        for (given, manifest, want) in cases {
            assert_eq!(choose(given, manifest), want, "{given:?}");
        }
    }

    #[test]
    fn resolve_table() {
        let env = |k: &str| (k == "PGPASSWORD").then(|| "from-env".to_owned());
        let shown = |s: Source| resolve(&s, &env).map(|l| l.to_string()).map_err(|e| e.to_string());
        assert_eq!(shown(Source::Default).unwrap(), DEFAULT_STATE);
        assert_eq!(
            shown(Source::Given("postgres://ci:pw@db/infra".into())).unwrap(),
            "postgres://ci:***@db:5432/infra?schema=pai_provision"
        );
        assert_eq!(
            shown(Source::Manifest(manifest_at(
                "state/prod.db",
                "infra/pai-provision.toml"
            )))
            .unwrap(),
            "infra/state/prod.db"
        );
        assert_eq!(
            shown(Source::Manifest(manifest_at("/var/lib/s.db", "infra/m.toml"))).unwrap(),
            "/var/lib/s.db"
        );
        assert_eq!(
            shown(Source::Manifest(manifest_at(
                "postgres://ci@db/infra?schema=prod",
                "m.toml"
            )))
            .unwrap(),
            "postgres://ci@db:5432/infra?schema=prod"
        );
        let err = shown(Source::Manifest(manifest_at(
            "postgres://ci:hunter2@db/infra",
            "m.toml",
        )))
        .unwrap_err();
        assert!(err.contains("carries a password"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
