//! `--sandbox`: run any command against an in-process emulator instead of Alibaba Cloud.
//!
//! The emulator listens on 127.0.0.1 (a free port per region the manifest needs) and keeps its
//! ledger beside the state file, as `<state dir>/<state stem>.sandbox-ledger.json`, so that a
//! second `apply --sandbox` sees what the first one bought and orders nothing. A sandbox has a
//! state of its own beside the real one, `<state dir>/<state stem>.sandbox.db`: its orders
//! are not the account's, and recording them in the real state would overwrite real OrderIds. Its access key
//! id is `sandbox`; its secret is drawn at random each time it starts and lives only in this
//! process's memory, since the only client is this same process. See docs/emulator.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use pai_emulator::{Emulator, EmulatorConfig};
use pai_spec::Region;

pub const SANDBOX_ACCESS_KEY_ID: &str = "sandbox";

/// The region a sandbox serves when the caller needs none (an empty manifest, `state list`).
const FALLBACK_REGION: &str = "cn-hangzhou";

/// A running sandbox emulator. Dropping it stops the listeners.
pub struct Sandbox {
    emulator: Emulator,
    secret: String,
    ledger_path: PathBuf,
}

/// Where the sandbox ledger of a state file lives: `state/pai-provision.db` →
/// `state/pai-provision.sandbox-ledger.json`.
pub fn ledger_path_for(state_path: &Path) -> PathBuf {
    state_path.with_file_name(format!("{}.sandbox-ledger.json", stem(state_path)))
}

/// The sandbox's own state for a real state: `state/pai-provision.db` →
/// `state/pai-provision.sandbox.db`.
pub fn state_path_for(state_path: &Path) -> PathBuf {
    let extension = state_path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db".to_owned());
    state_path.with_file_name(format!("{}.sandbox.{extension}", stem(state_path)))
}

fn stem(state_path: &Path) -> String {
    state_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "pai-provision".to_owned())
}

impl Sandbox {
    /// Start the sandbox for `state_path`, with one listener per region. Must be called from
    /// inside a Tokio runtime (the listeners run on it).
    pub fn start(state_path: &Path, regions: &[Region]) -> anyhow::Result<Sandbox> {
        let ledger_path = ledger_path_for(state_path);
        if let Some(dir) = ledger_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {} for the sandbox ledger", dir.display()))?;
        }
        let mut regions: Vec<Region> = regions.to_vec();
        regions.sort();
        regions.dedup();
        if regions.is_empty() {
            regions.push(Region::parse(FALLBACK_REGION).map_err(anyhow::Error::msg)?);
        }
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let secret = pai_emulator::random_secret();
        let mut config = EmulatorConfig::new(
            regions.into_iter().map(|r| (r, loopback)).collect(),
            vec![(SANDBOX_ACCESS_KEY_ID.to_owned(), secret.clone())],
        );
        config.ledger_path = Some(ledger_path.clone());
        let emulator = pai_emulator::spawn(config).context("cannot start the sandbox emulator")?;
        tracing::info!(ledger = %ledger_path.display(), "sandbox emulator started");
        Ok(Sandbox {
            emulator,
            secret,
            ledger_path,
        })
    }

    /// `http://127.0.0.1:PORT` per region: use these as the per-region endpoints.
    pub fn endpoints(&self) -> BTreeMap<Region, String> {
        self.emulator.endpoints()
    }

    /// The access key id and secret the sandbox accepts. The secret must not be printed.
    pub fn credentials(&self) -> (&str, &str) {
        (SANDBOX_ACCESS_KEY_ID, &self.secret)
    }

    pub fn ledger_path(&self) -> &Path {
        &self.ledger_path
    }
}

#[cfg(test)]
impl Sandbox {
    /// Every order the sandbox has ever accepted for this state file.
    pub fn ledger(&self) -> pai_emulator::Ledger {
        self.emulator.ledger()
    }

    pub async fn shutdown(self) {
        self.emulator.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use pai_testkit::fixtures::{hangzhou, pai_order, shanghai};

    use super::*;

    #[test]
    fn ledger_sits_beside_the_state_file() {
        for (state, ledger) in [
            ("state/pai-provision.db", "state/pai-provision.sandbox-ledger.json"),
            ("/tmp/x/prod.sqlite", "/tmp/x/prod.sandbox-ledger.json"),
            ("plain", "plain.sandbox-ledger.json"),
        ] {
            assert_eq!(ledger_path_for(Path::new(state)), PathBuf::from(ledger), "{state}");
        }
    }

    #[test]
    fn the_sandbox_state_sits_beside_the_real_one() {
        for (state, sandbox) in [
            ("state/pai-provision.db", "state/pai-provision.sandbox.db"),
            ("/tmp/x/prod.sqlite", "/tmp/x/prod.sandbox.sqlite"),
            ("plain", "plain.sandbox.db"),
        ] {
            assert_eq!(state_path_for(Path::new(state)), PathBuf::from(sandbox), "{state}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_each_region_and_keeps_its_ledger_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("nested").join("ci.db");
        let hz = hangzhou();
        let sh = shanghai();

        let sandbox = Sandbox::start(&state, &[sh.clone(), hz.clone(), sh.clone()]).unwrap();
        let endpoints = sandbox.endpoints();
        assert_eq!(
            endpoints.keys().cloned().collect::<Vec<_>>(),
            vec![hz.clone(), sh.clone()]
        );
        assert!(endpoints.values().all(|url| url.starts_with("http://127.0.0.1:")));
        assert_eq!(
            sandbox.ledger_path(),
            dir.path().join("nested").join("ci.sandbox-ledger.json")
        );
        assert!(sandbox.ledger_path().exists());
        let (id, secret) = sandbox.credentials();
        assert_eq!(id, SANDBOX_ACCESS_KEY_ID);
        assert!(secret.len() >= 32);

        // The project's own client, with the sandbox's credentials, orders through it.
        let client = pai_apply::Client::new(
            pai_apply::ClientConfig {
                endpoint: pai_apply::EndpointResolver::new(None, endpoints.clone()),
                ..pai_apply::ClientConfig::default()
            },
            std::sync::Arc::new(pai_apply::StaticCredentials::new(pai_apply::Credentials::new(
                id, secret,
            ))),
        )
        .unwrap();
        let order = client.create_product_orders(&hz, &pai_order()).await.unwrap();
        assert_eq!(order.product_ids.len(), 1);
        let secret = secret.to_owned();
        sandbox.shutdown().await;

        // The next run starts from the same ledger, with a new secret.
        let again = Sandbox::start(&state, std::slice::from_ref(&hz)).unwrap();
        assert_eq!(again.ledger().order_count(&hz, pai_spec::ProductCode::Pai), 1);
        assert!(again.ledger().is_purchased(&hz, pai_spec::ProductCode::Pai));
        assert_ne!(again.credentials().1, secret);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_regions_still_gives_a_listener() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::start(&dir.path().join("s.db"), &[]).unwrap();
        assert_eq!(sandbox.endpoints().len(), 1);
    }

    #[test]
    fn outside_a_runtime_it_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Sandbox::start(&dir.path().join("s.db"), &[]).err().unwrap();
        assert!(format!("{err:#}").contains("Tokio runtime"), "{err:#}");
    }
}
