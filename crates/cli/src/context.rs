//! What the commands share: where the state is, loading the manifest, opening the state
//! read-only or locked, colour, writing to stdout, and the source of the cloud's status.

use std::io::{ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use pai_planner::{StateWriter, StatusSource, Store};
use pai_spec::{diagnostic, Address, Manifest, SpecError};

use crate::cli::{manifest_path, Global};

/// Where the state lives unless `--state` or `PAI_PROVISION_STATE` says otherwise.
pub const DEFAULT_STATE: &str = "state/pai-provision.db";

/// `--state`, then `PAI_PROVISION_STATE` (clap reads both into `g.state`), then the default.
pub fn state_path(g: &Global) -> PathBuf {
    match g.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => PathBuf::from(s),
        None => PathBuf::from(DEFAULT_STATE),
    }
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
            if let Some(url) = &loaded.manifest.state {
                if Path::new(url) != state_path(g) {
                    eprintln!(
                        "warning: the manifest's `[state] url` ({url}) is not used yet; the state is {} \
                         (set it with --state or PAI_PROVISION_STATE)",
                        state_path(g).display()
                    );
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
    Ok(Store::open_read_only(&state_path(g))?)
}

/// The state, locked for `operation` (waiting up to `--lock-timeout`).
pub fn open_write(g: &Global, operation: &str) -> anyhow::Result<StateWriter> {
    Ok(StateWriter::open(&state_path(g), operation, g.lock_timeout)?)
}

/// Where `plan` (and later `apply`/`refresh`) learn what the cloud has.
pub fn status_source(g: &Global, manifest: &Manifest) -> anyhow::Result<Box<dyn StatusSource>> {
    Ok(Box::new(crate::cloud::Cloud::connect(g, manifest, &manifest.regions())?))
}

/// Accepts `pai` or `products.pai`.
pub fn parse_address(s: &str) -> anyhow::Result<Address> {
    pai_planner::render::parse_address(s).map_err(anyhow::Error::msg)
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
