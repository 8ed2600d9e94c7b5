//! The fleet's connection to the cloud (or to the `--sandbox` emulator serving every account of
//! the fleet): one runtime, the base credentials, and per account a client whose credentials
//! are that account's role, assumed with STS `AssumeRole` on its first call and cached.
//!
//! The base credentials are the pipeline's own (the default chain, OIDC included, or
//! `--profile`): a manifest's `[provider] profile` is not used, because which account a manifest
//! acts in is the fleet file's to say. Every session carries this run's name and commit
//! (`pai_apply::credentials::session_identity`), so the cloud's audit log names the run.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use pai_apply::credentials::{session_identity, AssumeRoleConfig, AssumeRoleProvider, SessionIdentity};
use pai_apply::{
    Client, ClientConfig, CredentialProvider, Credentials, DefaultChain, EndpointResolver, ProxyConfig, RpcClient,
    StaticCredentials,
};
use pai_fleet::run::{Environment, Purpose, ThrottleFlag};
use pai_spec::fleet::{Account, Fleet, Found};
use pai_spec::{Manifest, Region, SignatureVersion};
use pai_state::FleetStates;

use crate::cli::{Global, SignatureArg};
use crate::cloud::{Interrupts, SANDBOX_ENDPOINT};

/// The sandbox's management account: the one its key belongs to, trusted by every role.
const SANDBOX_HOME_ACCOUNT: &str = "1000000000000000";

/// The runtime, the signals, and the [`FleetEnv`] every account's client comes from.
pub struct FleetCloud {
    env: Arc<FleetEnv>,
    interrupts: Interrupts,
    sandbox: Option<Sandbox>,
    // Declared last so that the sandbox's listeners are dropped while the runtime still runs.
    runtime: tokio::runtime::Runtime,
}

struct Sandbox {
    _emulator: pai_emulator::Emulator,
    ledger: PathBuf,
}

impl FleetCloud {
    /// Connects for `fleet`; with `--sandbox`, starts an emulator serving every account of the
    /// fleet in every region any of them has, its ledger in the sandbox's state directory.
    /// `sts_rate`: AssumeRole calls a second, at most (`--sts-rate`).
    pub fn connect(g: &Global, fleet: &Fleet, states: &FleetStates, sts_rate: f64) -> anyhow::Result<FleetCloud> {
        let (runtime, interrupts) = crate::cloud::runtime_with_interrupts()?;
        let rpc = RpcClient::new(
            Duration::from_secs(10),
            g.timeout,
            &ProxyConfig::FromEnvironment,
            &|name| std::env::var(name).ok(),
        )
        .context("cannot build the STS client")?
        .paced(sts_rate);
        let (base, sts_endpoint, sandbox, endpoints): (Arc<dyn CredentialProvider>, String, _, _) = if g.sandbox {
            let _entered = runtime.enter();
            let (sandbox, secret, endpoints) = start_sandbox(fleet, states)?;
            let credentials =
                Credentials::new(crate::sandbox::SANDBOX_ACCESS_KEY_ID, secret).with_provider_name("sandbox");
            let sts = endpoints.values().next().cloned().unwrap_or_default();
            (
                Arc::new(StaticCredentials::new(credentials)),
                sts,
                Some(sandbox),
                Some(endpoints),
            )
        } else {
            let chain = DefaultChain::from_process_env(g.profile.clone(), None);
            let env = |name: &str| std::env::var(name).ok();
            let sts = pai_apply::credentials::oidc::resolve_sts_endpoint(None, &env, None, None);
            (Arc::new(chain), sts, None, None)
        };
        let signature = match g.signature {
            Some(SignatureArg::V3) => Some(SignatureVersion::V3),
            Some(SignatureArg::V2) => Some(SignatureVersion::V2),
            None => None,
        };
        let env = FleetEnv {
            base,
            rpc,
            sts_endpoint,
            session: session_identity(&|name| std::env::var(name).ok()),
            sandbox_endpoints: endpoints,
            endpoint_template: g.endpoint.clone(),
            signature,
            timeout: g.timeout,
            clients: Mutex::new(BTreeMap::new()),
            roles: Mutex::new(BTreeMap::new()),
        };
        tracing::info!(session = %env.session.session_name, "fleet: role sessions are named");
        Ok(FleetCloud {
            env: Arc::new(env),
            interrupts,
            sandbox,
            runtime,
        })
    }

    pub fn env(&self) -> Arc<dyn Environment> {
        Arc::clone(&self.env) as Arc<dyn Environment>
    }

    pub fn interrupts(&self) -> &Interrupts {
        &self.interrupts
    }

    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn sandbox_ledger(&self) -> Option<&std::path::Path> {
        self.sandbox.as_ref().map(|s| s.ledger.as_path())
    }

    /// The fleet with the accounts its `[discovery]` finds in Resource Directory
    /// (`ListAccounts` with the base credentials), each left-out one said on stderr. Without
    /// `[discovery]`, the fleet as it is, and no call.
    pub fn discover(&self, fleet: Fleet) -> anyhow::Result<Fleet> {
        let Some(discovery) = fleet.discovery.clone() else {
            return Ok(fleet);
        };
        let endpoint = match &self.env.sandbox_endpoints {
            Some(_) => self.env.sts_endpoint.clone(),
            None => std::env::var(RESOURCE_MANAGER_ENDPOINT)
                .ok()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| pai_apply::directory::DEFAULT_ENDPOINT.to_owned()),
        };
        let accounts = self
            .block_on(pai_apply::list_accounts(
                &self.env.rpc,
                &endpoint,
                self.env.base.as_ref(),
                &discovery,
            ))
            .with_context(|| {
                format!(
                    "discovering the accounts of folder {} (`[discovery]`)",
                    discovery.folder
                )
            })?;
        let found: Vec<Found> = accounts
            .into_iter()
            .map(|a| Found {
                id: a.account_id,
                display_name: a.display_name,
            })
            .collect();
        let (fleet, skipped) = fleet.with_discovered(&found);
        for why in skipped {
            note!("warning: {why}");
        }
        Ok(fleet)
    }
}

/// Where `[discovery]` asks Resource Directory, when not the global endpoint.
pub const RESOURCE_MANAGER_ENDPOINT: &str = "ALIBABA_CLOUD_RESOURCEMANAGER_ENDPOINT";

/// An emulator serving every account of `fleet` (each role trusting the sandbox's own key), its
/// ledger kept in the sandbox's state directory so that a second run sees what the first bought.
fn start_sandbox(fleet: &Fleet, states: &FleetStates) -> anyhow::Result<(Sandbox, String, BTreeMap<Region, String>)> {
    let dir = states
        .directory()
        .cloned()
        .context("the sandbox keeps its states in a directory")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {} for the sandbox", dir.display()))?;
    let ledger = dir.join("sandbox-ledger.json");
    let discovered = fleet.discovery.iter().flat_map(|d| d.regions.iter().cloned());
    let mut regions: Vec<Region> = fleet
        .accounts()
        .flat_map(|a| a.regions.iter().cloned())
        .chain(discovered)
        .collect();
    regions.sort();
    regions.dedup();
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let secret = pai_emulator::random_secret();
    let mut config = pai_emulator::EmulatorConfig::new(
        regions.into_iter().map(|r| (r, loopback)).collect(),
        vec![(crate::sandbox::SANDBOX_ACCESS_KEY_ID.to_owned(), secret.clone())],
    );
    config.ledger_path = Some(ledger.clone());
    config.home_account = SANDBOX_HOME_ACCOUNT.to_owned();
    config.accounts = pai_emulator::accounts_for_fleet(fleet, SANDBOX_HOME_ACCOUNT);
    let emulator = pai_emulator::spawn(config).context("cannot start the sandbox emulator")?;
    let endpoints = emulator.endpoints();
    Ok((
        Sandbox {
            _emulator: emulator,
            ledger,
        },
        secret,
        endpoints,
    ))
}

/// Hands out each account's client.
pub struct FleetEnv {
    base: Arc<dyn CredentialProvider>,
    rpc: RpcClient,
    sts_endpoint: String,
    session: SessionIdentity,
    /// The sandbox's endpoints, when this is one: the only place calls go.
    sandbox_endpoints: Option<BTreeMap<Region, String>>,
    endpoint_template: Option<String>,
    signature: Option<SignatureVersion>,
    timeout: Duration,
    /// One client (one connection pool) per manifest, by path: its endpoints and signature.
    clients: Mutex<BTreeMap<String, Client>>,
    /// Each assumed role, by ARN, kept for the run: plan and apply in one run assume it once.
    roles: Mutex<BTreeMap<String, Arc<dyn CredentialProvider>>>,
}

impl FleetEnv {
    fn manifest_client(&self, manifest: &Manifest) -> Result<Client, String> {
        let key = format!("{:?}|{}", manifest.provider, manifest.source_hash);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let endpoint = match &self.sandbox_endpoints {
            Some(endpoints) => EndpointResolver::only(endpoints.clone()),
            None => self.cloud_endpoints(manifest),
        };
        let config = ClientConfig {
            signature: self.signature.unwrap_or(manifest.provider.signature),
            read_timeout: self.timeout,
            endpoint,
            ..ClientConfig::default()
        };
        let client =
            Client::new(config, Arc::clone(&self.base)).map_err(|e| format!("cannot build the API client: {e}"))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// `manifest`'s endpoints under `--endpoint`, as checked when the manifest was loaded
    /// (`context::cloud_endpoints`).
    fn cloud_endpoints(&self, manifest: &Manifest) -> EndpointResolver {
        EndpointResolver::from_provider(&manifest.provider).with_template(self.endpoint_template.clone())
    }

    fn role(&self, role_arn: &str) -> Result<Arc<dyn CredentialProvider>, String> {
        let mut roles = self.roles.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(role) = roles.get(role_arn) {
            return Ok(Arc::clone(role));
        }
        let mut config = AssumeRoleConfig::new(role_arn.to_owned(), &self.session);
        config.sts_endpoint = self.sts_endpoint.clone();
        let provider: Arc<dyn CredentialProvider> = Arc::new(
            AssumeRoleProvider::new(&self.rpc, Arc::clone(&self.base), config)
                .map_err(|e| format!("cannot assume {role_arn}: {e}"))?,
        );
        roles.insert(role_arn.to_owned(), Arc::clone(&provider));
        Ok(provider)
    }
}

impl Environment for FleetEnv {
    fn client(
        &self,
        account: &Account,
        manifest: &Manifest,
        purpose: Purpose,
        throttled: ThrottleFlag,
    ) -> Result<Client, String> {
        let role = self.role(purpose.role_of(account))?;
        let client = self.manifest_client(manifest)?.with_credentials(role);
        Ok(client.with_wait_observer(Arc::new(move |wait| {
            if let pai_apply::client::WaitKind::Retry { throttled: true, .. } = wait.kind {
                throttled.store(true, Ordering::Relaxed);
            }
        })))
    }

    fn endpoint(&self, manifest: &Manifest, region: &Region) -> String {
        match &self.sandbox_endpoints {
            Some(_) => SANDBOX_ENDPOINT.to_owned(),
            None => self.cloud_endpoints(manifest).url_for(region),
        }
    }

    fn sandbox(&self) -> bool {
        self.sandbox_endpoints.is_some()
    }
}
