//! What the commands share: loading the manifest, where the state is (decided from the loaded
//! manifest each command passes in, never from what an earlier call left behind), opening the
//! state read-only or locked, where the orders go ([`target`]), colour, and writing to stdout.

use std::collections::BTreeSet;
use std::io::{ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use pai_apply::client::endpoint::parse_endpoint;
use pai_apply::EndpointResolver;
use pai_spec::{diagnostic, Address, Manifest, SpecError};
use pai_state::postgres::target::PasswordSource;
use pai_state::{StateLocation, StateWriter, Store};

use crate::cli::{manifest_path, Global, LocationArg};
use crate::cloud::Target;
use crate::sandbox;

/// Where the state lives unless `--state`, `PAI_PROVISION_STATE` or the manifest says otherwise.
pub const DEFAULT_STATE: &str = "state/pai-provision.db";

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

/// An empty `--state` or `PAI_PROVISION_STATE` is an error, not "the default": a variable
/// set from an unset CI secret is empty, and the default state is then a local file that the
/// runner throws away.
fn choose(given: Option<&str>, manifest: Option<ManifestState>) -> anyhow::Result<Source> {
    Ok(match (given, manifest) {
        (Some(s), _) if s.trim().is_empty() => anyhow::bail!(
            "the state location is empty (--state or PAI_PROVISION_STATE): name a SQLite file or a postgres:// \
             URL, or unset PAI_PROVISION_STATE to use the manifest's `[state] url` or {DEFAULT_STATE}"
        ),
        (Some(s), _) => Source::Given(s.to_owned()),
        (None, Some(m)) => Source::Manifest(m),
        (None, None) => Source::Default,
    })
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

/// For the commands that take no manifest argument (`show`, `state ...`, `force-unlock`): the
/// `pai-provision.toml` of the working directory, when its `[state] url` may decide where the
/// state is (no `--state` or `PAI_PROVISION_STATE`, and something is there). Anything there
/// that cannot be read or is not valid (a directory, a dangling link, a syntax error) is an
/// error: guessing the default state instead could show or change another state than the one
/// the manifest names.
pub fn working_manifest(g: &Global) -> anyhow::Result<Option<LoadedManifest>> {
    if g.state.is_some() {
        return Ok(None);
    }
    let path = manifest_path(&None);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let loaded = pai_spec::load(&path).with_context(|| {
        format!(
            "{} decides where the state is (its `[state] url`) but cannot be used; fix it, or name the state \
             with --state",
            path.display()
        )
    })?;
    Ok(Some(LoadedManifest {
        manifest: loaded.manifest,
        path,
    }))
}

/// Where the state is: `--state` / `PAI_PROVISION_STATE`, else the manifest's `[state] url`,
/// else `state/pai-provision.db`. With `--sandbox`, the sandbox's own state file beside it
/// (`state/pai-provision.sandbox.db`): a sandbox never reads or writes a real state.
/// `manifest` is the command's loaded manifest, or [`working_manifest`] for those without one.
pub fn state_location(g: &Global, manifest: Option<&LoadedManifest>) -> anyhow::Result<StateLocation> {
    let real = real_state_location(g, manifest)?;
    Ok(if g.sandbox {
        StateLocation::File(sandbox::state_path_for(&local_path(&real)))
    } else {
        warn_if_exposed(&real);
        real
    })
}

/// Says on stderr, once a run for each server, what a PostgreSQL state's `sslmode` leaves open
/// when the server is on another machine (`PgTarget::exposure`). Every place that connects to a
/// state calls this with its location.
pub fn warn_if_exposed(location: &StateLocation) {
    static SAID: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let Some(exposure) = location.as_postgres().and_then(|t| t.exposure()) else {
        return;
    };
    let text = exposure.to_string();
    if SAID.lock().unwrap_or_else(PoisonError::into_inner).insert(text.clone()) {
        note!("warning: {text}");
    }
}

fn real_state_location(g: &Global, manifest: Option<&LoadedManifest>) -> anyhow::Result<StateLocation> {
    let declared = manifest.and_then(|m| ManifestState::of(&m.manifest, &m.path));
    resolve(
        &choose(g.state.as_ref().map(LocationArg::as_str), declared)?,
        &process_env,
    )
}

/// The real state file, or for a state in PostgreSQL a local path standing for it, beside
/// which local companions live (the `--sandbox` state and ledger): `state/postgres-DB-SCHEMA.db`.
pub fn state_path(g: &Global, manifest: Option<&LoadedManifest>) -> anyhow::Result<PathBuf> {
    Ok(local_path(&real_state_location(g, manifest)?))
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
                note!("{}", diagnostic::render_all(&loaded.warnings, color));
            }
            let from_manifest = ManifestState::of(&loaded.manifest, &path);
            if let (Some(given), Some(m)) = (
                g.state.as_ref().map(LocationArg::as_str).filter(|s| !s.is_empty()),
                from_manifest,
            ) {
                let no_env = |_: &str| None;
                let overridden = resolve(&Source::Given(given.to_owned()), &no_env);
                match (overridden, resolve(&Source::Manifest(m), &no_env)) {
                    (Ok(used), Ok(declared)) if !used.same_state(&declared) => note!(
                        "warning: the state is {used} (--state or PAI_PROVISION_STATE), not the manifest's \
                         `[state] url` ({declared})"
                    ),
                    // A password in the manifest is worth a word even when it is not used.
                    (_, Err(e)) => note!("warning: {e:#}"),
                    _ => {}
                }
            }
            Ok(LoadedManifest {
                manifest: loaded.manifest,
                path,
            })
        }
        Err(SpecError::Invalid { file, diagnostics }) => {
            note!("{}", diagnostic::render_all(&diagnostics, color));
            anyhow::bail!(
                "`{file}` is not a valid manifest ({})",
                diagnostic::summary(&diagnostics)
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The state, read-only: never created, never written, no lock taken.
pub fn open_read(g: &Global, manifest: Option<&LoadedManifest>) -> anyhow::Result<Store> {
    Ok(Store::open_read_only(state_location(g, manifest)?)?)
}

/// The state, locked for `operation` (waiting up to `--lock-timeout`).
pub fn open_write(g: &Global, manifest: Option<&LoadedManifest>, operation: &str) -> anyhow::Result<StateWriter> {
    let location = state_location(g, manifest)?;
    let _waiting = crate::cloud::after_a_second(format!(
        "waiting for the lock of the state {location} (another run holds it), until {} at the latest",
        crate::cloud::clock(std::time::SystemTime::now() + g.lock_timeout)
    ));
    Ok(StateWriter::open(location, operation, g.lock_timeout)?)
}

/// Where the orders go, resolved once per command before any plan is built: the plan shows it
/// and the client sends there (see [`Target`]). An endpoint the client could not use is an
/// error here, before a plan shows it: `--endpoint` is checked nowhere else without a refresh,
/// and a URL with a password in it must not reach the plan.
pub fn target(g: &Global, manifest: &LoadedManifest) -> anyhow::Result<Target> {
    if g.sandbox {
        return Ok(Target::Sandbox {
            state_path: state_path(g, Some(manifest))?,
        });
    }
    Ok(Target::Cloud(
        cloud_endpoints(g, &manifest.manifest).with_context(|| manifest.path.display().to_string())?,
    ))
}

/// Where `manifest`'s calls go in the cloud (its endpoints, under `--endpoint`), every region's
/// URL checked: one the client could not use is an error before any plan shows it, and so is,
/// in CI, a manifest's choice of a host the pipeline did not allow (`g.manifest_endpoints`).
pub fn cloud_endpoints(g: &Global, manifest: &Manifest) -> anyhow::Result<EndpointResolver> {
    let template = g.endpoint.as_deref();
    g.manifest_endpoints.check(&manifest.provider, template)?;
    let resolver = EndpointResolver::from_provider(&manifest.provider).with_template(template.map(str::to_owned));
    for region in manifest.regions() {
        parse_endpoint(&resolver.url_for(&region)).with_context(|| format!("the endpoint for {region}"))?;
    }
    Ok(resolver)
}

/// Writes `bytes` to the file `path`, creating it its owner's alone (0600 on Unix): what the
/// commands write holds a plan, which names the accounts and what they buy. A file that exists
/// is the user's, and keeps its mode.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = private_options();
    options.truncate(true);
    options.open(path)?.write_all(bytes)
}

/// The file `path` to append to, created its owner's alone (0600 on Unix) if it does not exist:
/// a log never empties a file someone named by mistake (a state, a manifest).
pub fn append_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = private_options();
    options.append(true);
    options.open(path)
}

fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
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
    emit_with(|out| out.write_all(text.as_bytes()))
}

/// [`emit`] of what `write` writes, buffered, as it writes it: for output too large to hold.
pub fn emit_with(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
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
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn global(args: &[&str]) -> Global {
        let mut argv = vec!["pai-provision"];
        argv.extend(args);
        argv.push("show");
        Cli::try_parse_from(argv).unwrap().global
    }

    fn loaded(dir: &Path, text: &str) -> LoadedManifest {
        let path = dir.join("infra.toml");
        std::fs::write(&path, text).unwrap();
        let manifest = pai_spec::load(&path).unwrap().manifest;
        LoadedManifest { manifest, path }
    }

    const PROVIDER: &str = "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n";

    #[test]
    fn the_state_follows_the_manifest_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let declared = loaded(dir.path(), &format!("{PROVIDER}\n[state]\nurl = \"s/prod.db\"\n"));
        let g = global(&[]);
        let at = |m: Option<&LoadedManifest>| state_location(&g, m).unwrap().to_string();
        assert_eq!(at(Some(&declared)), dir.path().join("s/prod.db").display().to_string());
        // Nothing is remembered from the call before: no manifest, the default.
        assert_eq!(at(None), DEFAULT_STATE);
        assert_eq!(
            state_location(&global(&["--sandbox"]), Some(&declared))
                .unwrap()
                .to_string(),
            dir.path().join("s/prod.sandbox.db").display().to_string()
        );
        assert_eq!(
            state_location(&global(&["--state", "x.db"]), Some(&declared))
                .unwrap()
                .to_string(),
            "x.db"
        );
    }

    #[test]
    fn a_state_path_that_cannot_be_worked_out_is_an_error_not_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let m = loaded(dir.path(), PROVIDER);
        let g = global(&["--sandbox", "--state", "postgres://ci@db/infra#main"]);
        let err = format!("{:#}", state_path(&g, Some(&m)).unwrap_err());
        assert!(err.contains("fragment"), "{err}");
        // Else the sandbox's ledger would go beside the default state, not beside this one.
        assert!(target(&g, &m).is_err());
    }

    #[test]
    fn target_table() {
        let dir = tempfile::tempdir().unwrap();
        let m = loaded(
            dir.path(),
            &format!(
                "{PROVIDER}endpoint = \"https://{{region}}.proxy.example\"\nendpoints.cn-shanghai = \
                 \"http://127.0.0.1:8081\"\n\n[products.pai]\ncode = \"PAI_share\"\n\n[products.oss]\ncode = \
                 \"OSS_share\"\nregion = \"cn-shanghai\"\nproperties.commodity_type = {{ value = \"oss\" }}\n\
                 properties.ord_time = {{ value = \"1:Hour\" }}\n"
            ),
        );
        let hz = pai_spec::Region::parse("cn-hangzhou").unwrap();
        let sh = pai_spec::Region::parse("cn-shanghai").unwrap();
        let cases: [(&[&str], &str, &str); 3] = [
            (&[], "https://cn-hangzhou.proxy.example", "http://127.0.0.1:8081"),
            // --endpoint replaces the manifest's template; its per-region entries still win.
            (
                &["--endpoint", "http://127.0.0.1:9"],
                "http://127.0.0.1:9",
                "http://127.0.0.1:8081",
            ),
            (&["--sandbox"], "sandbox", "sandbox"),
        ];
        for (args, want_hz, want_sh) in cases {
            let t = target(&global(args), &m).unwrap();
            assert_eq!(
                (t.endpoint(&hz).as_str(), t.endpoint(&sh).as_str()),
                (want_hz, want_sh),
                "{args:?}"
            );
        }
        let err = format!(
            "{:#}",
            target(&global(&["--endpoint", "http://ci:hunter2@127.0.0.1:9"]), &m).unwrap_err()
        );
        assert!(
            err.contains("the endpoint for cn-hangzhou") && !err.contains("hunter2"),
            "{err}"
        );
        assert!(target(&global(&["--endpoint", "http://h/{region}"]), &m).is_err());
        assert_eq!(
            target(&global(&["--sandbox", "--state", "ci/x.db"]), &m).unwrap(),
            Target::Sandbox {
                state_path: PathBuf::from("ci/x.db")
            }
        );
    }

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
            (Some("x.db"), Some(m.clone()), Some(Source::Given("x.db".into()))),
            (Some(""), Some(m.clone()), None),
            (Some(" "), None, None),
            (None, Some(m.clone()), Some(Source::Manifest(m))),
            (None, None, Some(Source::Default)),
        ];
        for (given, manifest, want) in cases {
            assert_eq!(choose(given, manifest).ok(), want, "{given:?}");
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
