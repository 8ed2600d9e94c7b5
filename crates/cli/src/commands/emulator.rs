//! `pai-provision emulator`: serve a local AIWorkSpace emulator until Ctrl-C (or SIGTERM).
//!
//! Prints one `listening REGION http://ADDR` line per listener on stdout (ports chosen by the
//! OS when `:0` is given), then the access key id, faults, seed and ledger on stderr. The
//! secret is never printed.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use pai_emulator::{EmulatorConfig, Faults};
use pai_spec::Region;

use crate::cli::{EmulatorArgs, Global};

/// The documented default credentials of `pai-provision emulator` (docs/emulator.md).
pub const DEFAULT_ACCESS_KEY_ID: &str = "emulator";
pub const DEFAULT_ACCESS_KEY_SECRET: &str = "emulator-secret";

pub fn run(_g: &Global, args: EmulatorArgs) -> anyhow::Result<u8> {
    let config = config(&args)?;
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
    let mut config = EmulatorConfig::new(listeners, credentials);
    config.ledger_path = args.ledger.clone();
    config.faults = faults;
    // Without --seed a fresh one is drawn and printed, so any run can be replayed.
    config.seed = args.seed.unwrap_or_else(rand_seed);
    Ok(config)
}

fn rand_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
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
    let key_ids: Vec<String> = config.credentials.iter().map(|(id, _)| id.clone()).collect();
    let (faults, seed, ledger) = (config.faults.clone(), config.seed, config.ledger_path.clone());
    let emulator = pai_emulator::start(config).await?;
    for (region, url) in emulator.endpoints() {
        println!("listening {region} {url}");
    }
    eprintln!("access key id: {}", key_ids.join(", "));
    eprintln!("faults: {faults} (seed {seed})");
    match ledger {
        Some(path) => eprintln!("ledger: {} (also at GET /_emulator/ledger)", path.display()),
        None => eprintln!("ledger: in memory (GET /_emulator/ledger)"),
    }
    wait_for_signal().await?;
    eprintln!("stopping");
    emulator.shutdown().await;
    Ok(0)
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
