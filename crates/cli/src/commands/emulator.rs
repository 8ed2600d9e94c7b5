//! `pai-provision emulator`: serve a local AIWorkSpace emulator until Ctrl-C (or SIGTERM).
//!
//! Prints one `listening REGION http://ADDR` line per listener on stdout (ports chosen by the
//! OS when `:0` is given), with `--fleet` a `serving N accounts` line, then the access key id,
//! faults, seed, realism and ledger on stderr. The secret is never printed.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{bail, Context};
use pai_emulator::{accounts_for_fleet, EmulatorConfig, Faults, Realism};
use pai_spec::Region;

use crate::cli::{EmulatorArgs, Global};

/// The documented default credentials of `pai-provision emulator` (docs/emulator.md).
pub const DEFAULT_ACCESS_KEY_ID: &str = "emulator";
pub const DEFAULT_ACCESS_KEY_SECRET: &str = "emulator-secret";

pub fn run(_g: &Global, args: EmulatorArgs) -> anyhow::Result<u8> {
    let config = config(&args)?;
    for warning in exposure_warnings(&config.listeners) {
        note!("warning: {warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

fn config(args: &EmulatorArgs) -> anyhow::Result<EmulatorConfig> {
    let default_region = Region::parse(&args.region).map_err(anyhow::Error::msg)?;
    let listeners = args
        .listen
        .iter()
        .map(|spec| parse_listen(spec, &default_region))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let credentials = match (&args.access_key_id, &args.access_key_secret) {
        (Some(id), Some(secret)) => vec![(id.clone(), secret.clone())],
        _ => vec![(DEFAULT_ACCESS_KEY_ID.to_owned(), DEFAULT_ACCESS_KEY_SECRET.to_owned())],
    };
    let faults: Faults = match &args.faults {
        Some(spec) => spec.parse()?,
        None => Faults::default(),
    };
    // The kind emulator unless asked: the sandbox and the tests rely on it.
    let base = if args.realistic {
        Realism::realistic()
    } else {
        Realism::default()
    };
    let realism = match &args.realism {
        Some(spec) => base.with_spec(spec)?,
        None => base,
    };
    let mut config = EmulatorConfig::new(listeners, credentials);
    config.ledger_path = args.ledger.clone();
    config.faults = faults;
    config.realism = realism;
    // Without --seed a fresh one is drawn and printed, so any run can be replayed.
    config.seed = args.seed.unwrap_or_else(rand_seed);
    if let Some(path) = &args.fleet {
        let loaded = pai_spec::fleet::load_fleet(path)?;
        for warning in &loaded.warnings {
            note!("{}", warning.render(false).trim_end());
        }
        // The emulator's own key is the fleet's base credentials: every role trusts its account.
        config.accounts = accounts_for_fleet(&loaded.fleet, &config.home_account);
    }
    Ok(config)
}

fn rand_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// One warning per listener other machines can reach: the emulator is a test double whose
/// credentials are documented (docs/emulator.md), and it takes orders from whoever asks.
fn exposure_warnings(listeners: &[(Region, SocketAddr)]) -> Vec<String> {
    listeners
        .iter()
        .filter(|(_, addr)| !addr.ip().is_loopback())
        .map(|(region, addr)| {
            format!(
                "--listen {addr} ({region}) is not a loopback address: other machines can reach this emulator and \
                 place orders in its ledger; use 127.0.0.1 unless that is what you want"
            )
        })
        .collect()
}

/// `ADDR` (serves the default region) or `REGION=ADDR`.
fn parse_listen(spec: &str, default_region: &Region) -> anyhow::Result<(Region, SocketAddr)> {
    let (region, addr) = match spec.split_once('=') {
        Some((region, addr)) => (
            Region::parse(region.trim()).map_err(|e| anyhow::anyhow!("--listen {spec}: {e}"))?,
            addr.trim(),
        ),
        None => (default_region.clone(), spec.trim()),
    };
    let addr: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(_) => bail!("--listen {spec}: `{addr}` is not an IP:PORT address (e.g. 127.0.0.1:8080)"),
    };
    Ok((region, addr))
}

async fn serve(config: EmulatorConfig) -> anyhow::Result<u8> {
    let emulator = start_and_announce(config, &mut std::io::stdout(), &mut std::io::stderr()).await?;
    wait_for_signal().await?;
    note!("stopping");
    emulator.shutdown().await;
    Ok(0)
}

/// Start the emulator; the listener lines go to `out` (what scripts read), the rest to `info`.
async fn start_and_announce(
    config: EmulatorConfig,
    out: &mut dyn Write,
    info: &mut dyn Write,
) -> anyhow::Result<pai_emulator::Emulator> {
    let key_ids: Vec<String> = config.credentials.iter().map(|(id, _)| id.clone()).collect();
    let (faults, seed, ledger) = (config.faults.clone(), config.seed, config.ledger_path.clone());
    let realism = config.realism.clone();
    let (accounts, home) = (config.accounts.len(), config.home_account.clone());
    let emulator = pai_emulator::start(config).await?;
    for (region, url) in emulator.endpoints() {
        writeln!(out, "listening {region} {url}")?;
    }
    if accounts > 0 {
        writeln!(out, "serving {accounts} accounts (home account {home})")?;
    }
    out.flush()?;
    writeln!(info, "access key id: {}", key_ids.join(", "))?;
    writeln!(info, "faults: {faults} (seed {seed})")?;
    writeln!(info, "realism: {realism}")?;
    match ledger {
        Some(path) => writeln!(info, "ledger: {} (also at GET /_emulator/ledger)", path.display())?,
        None => writeln!(info, "ledger: in memory (GET /_emulator/ledger)")?,
    }
    Ok(emulator)
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("cannot listen for Ctrl-C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(argv: &[&str]) -> EmulatorArgs {
        let mut full = vec!["pai-provision", "emulator"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Emulator(a) => a,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn flags_become_a_config() {
        let c = config(&args(&[])).unwrap();
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].0.as_str(), "cn-hangzhou");
        assert_eq!(c.listeners[0].1.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.credentials,
            vec![(DEFAULT_ACCESS_KEY_ID.to_owned(), DEFAULT_ACCESS_KEY_SECRET.to_owned())]
        );
        assert_eq!(c.faults, Faults::default());
        assert!(c.realism.is_kind(), "kind unless asked");

        let c = config(&args(&[
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "cn-shanghai=127.0.0.1:0",
            "--region",
            "cn-beijing",
            "--access-key-id",
            "ak",
            "--access-key-secret",
            "sk",
            "--faults",
            "throttle=0.5",
            "--seed",
            "9",
            "--ledger",
            "l.json",
        ]))
        .unwrap();
        let regions: Vec<&str> = c.listeners.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(regions, ["cn-beijing", "cn-shanghai"]);
        assert_eq!(c.credentials, vec![("ak".to_owned(), "sk".to_owned())]);
        assert_eq!((c.faults.throttle, c.seed), (0.5, 9));
        assert_eq!(c.ledger_path.as_deref(), Some(std::path::Path::new("l.json")));

        assert!(config(&args(&["--faults", "throttle=2"])).is_err());

        assert_eq!(config(&args(&["--realistic"])).unwrap().realism, Realism::realistic());
        let tuned = config(&args(&[
            "--realistic",
            "--realism",
            "activation_delay_ms=0,deny_create_order=a;b",
        ]))
        .unwrap();
        assert_eq!(
            tuned.realism,
            Realism {
                activation_delay_ms: 0,
                deny_create_order: vec!["a".into(), "b".into()],
                ..Realism::realistic()
            }
        );
        let one = config(&args(&["--realism", "repeat=already_opened_500"])).unwrap();
        assert_eq!(one.realism.to_string(), "repeat=already_opened_500");
        assert!(config(&args(&["--realism", "repeat=twice"])).is_err());
        assert!(config(&args(&["--region", "nowhere"])).is_err());
        assert!(Cli::try_parse_from(["pai-provision", "emulator", "--access-key-id", "only"]).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn announces_each_listener_and_never_the_secret() {
        let c = config(&args(&[
            "--listen",
            "cn-hangzhou=127.0.0.1:0",
            "--listen",
            "cn-shanghai=127.0.0.1:0",
            "--access-key-secret",
            "very-secret-value",
            "--access-key-id",
            "ak",
        ]))
        .unwrap();
        let (mut out, mut info) = (Vec::new(), Vec::new());
        let emulator = start_and_announce(c, &mut out, &mut info).await.unwrap();
        let out = String::from_utf8(out).unwrap();
        let info = String::from_utf8(info).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        for (line, region) in lines.iter().zip(["cn-hangzhou", "cn-shanghai"]) {
            let url = emulator.endpoints()[&Region::parse(region).unwrap()].clone();
            assert_eq!(*line, format!("listening {region} {url}"));
        }
        assert!(info.contains("access key id: ak"), "{info}");
        assert!(info.contains("realism: none"), "{info}");
        assert!(!out.contains("very-secret-value") && !info.contains("very-secret-value"));

        // The announced address really serves.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = lines[0].rsplit("http://").next().unwrap();
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        stream
            .write_all(b"GET /_emulator/ledger HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains(r#"{"orders":[],"purchased":[]}"#), "{response}");
        emulator.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fleet_file_is_served_as_accounts() {
        let fleet = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet/fleet.toml");
        let fleet = fleet.to_str().unwrap();
        let c = config(&args(&["--listen", "127.0.0.1:0", "--fleet", fleet])).unwrap();
        let ids: Vec<&str> = c.accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["2345678901234567", "1234567890123456", "3456789012345678"]);
        assert!(c
            .accounts
            .iter()
            // Each account's role and its plan role (the example names both), trusting the home account.
            .all(|a| a.roles.len() == 2 && a.roles.iter().all(|r| r.trusted == [c.home_account.clone()])));
        let (mut out, mut info) = (Vec::new(), Vec::new());
        let emulator = start_and_announce(c, &mut out, &mut info).await.unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.lines().any(|l| l
                == format!(
                    "serving 3 accounts (home account {})",
                    pai_emulator::DEFAULT_HOME_ACCOUNT
                )),
            "{out}"
        );
        emulator.shutdown().await;

        let missing = config(&args(&["--fleet", "/nonexistent/fleet.toml"])).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/fleet.toml"), "{missing}");
    }

    #[test]
    fn only_a_listener_others_can_reach_is_warned_about() {
        let hz = Region::parse("cn-hangzhou").unwrap();
        for (spec, warned) in [
            ("127.0.0.1:0", false),
            ("127.0.0.2:0", false),
            ("[::1]:0", false),
            ("0.0.0.0:0", true),
            ("[::]:0", true),
            ("192.0.2.7:80", true),
        ] {
            let listener = parse_listen(spec, &hz).unwrap();
            assert_eq!(exposure_warnings(&[listener]).len(), usize::from(warned), "{spec}");
        }
    }

    #[test]
    fn listen_specs() {
        let hz = Region::parse("cn-hangzhou").unwrap();
        let (r, a) = parse_listen("127.0.0.1:8080", &hz).unwrap();
        assert_eq!((r.as_str(), a.to_string().as_str()), ("cn-hangzhou", "127.0.0.1:8080"));
        let (r, a) = parse_listen("cn-shanghai=127.0.0.1:0", &hz).unwrap();
        assert_eq!((r.as_str(), a.port()), ("cn-shanghai", 0));
        for bad in ["localhost:80", "Shanghai=127.0.0.1:1", "cn-shanghai=", "127.0.0.1"] {
            assert!(parse_listen(bad, &hz).is_err(), "{bad}");
        }
    }
}
