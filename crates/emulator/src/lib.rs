//! A faithful local AIWorkSpace endpoint: what every test of `pai-provision` stands on, what
//! `pai-provision emulator` serves and what `--sandbox` runs in-process.
//!
//! It answers `POST /api/v1/productorders` (CreateProductOrders) and `GET /api/v1/products`
//! (ListProducts) in the real wire format, verifies both signature versions as strictly as
//! the POP gateway (clock skew, nonce replay, unknown keys, STS tokens), enforces every API
//! rule on the body, and serves STS `AssumeRoleWithOIDC` on `/` so the OIDC credential path
//! can be tested. One emulator serves several regions, one listener each. It is one account
//! (the home account) unless given member accounts: then it also serves a fleet, with STS
//! `AssumeRole` into their roles and Resource Manager `ListAccounts`, each request acting in
//! its key's account. Every accepted order goes into a [`Ledger`] (optionally persisted, durably,
//! before the response) exposed at `GET /_emulator/ledger`; an `AutoPay: false` order is
//! paid, for tests, at `POST /_emulator/pay/<OrderId>`. Faults are injected by flag with
//! a seeded RNG: latency, throttling, 5xx, and responses dropped or delayed after commit.
//! A [`Realism`] makes it as hard as the real service (`Realism::realistic()`); the default
//! stays kind, for the sandbox and the tests of the other crates.
//!
//! Modules:
//! - [`api`]: CreateProductOrders body validation and the ListProducts answer, pure.
//! - [`auth`]: signature verification (ACS3-HMAC-SHA256 and ROA HMAC-SHA1), nonces, keys.
//! - [`accounts`]: the member accounts and their roles, [`accounts_for_fleet`].
//! - [`sts`]: `AssumeRoleWithOIDC` parameter checks and credential issuance;
//!   [`sts::assume_role`]: the signed `AssumeRole`, its checks against the accounts.
//! - [`resource_manager`]: `ListAccounts`' query and page, pure.
//! - [`ledger`]: orders and purchases, and their atomic persistence.
//! - [`faults`]: the fault spec and the seeded per-request draw.
//! - [`realism`]: the real service's harsher behaviours (activation delay, repeat refusal,
//!   throttling by rate, permissions, ...), each an option, off by default; pure rules.
//! - [`error`]: [`EmulatorError`] for the operator, [`ApiError`] for the wire.
//! - `server`: listeners, the per-connection hyper loop, routing (by `pai_sign::wire`, the
//!   operations the client calls).
//! - `rpc`: the signed RPC calls on `/` (`AssumeRole`, `ListAccounts`): routing by action and
//!   version, authentication, faults.
//!
//! See docs/emulator.md for the behaviour in full and the decisions where the real service
//! is not documented.

pub mod accounts;
pub mod api;
pub mod auth;
pub mod error;
pub mod faults;
pub mod ledger;
pub mod realism;
pub mod resource_manager;
mod rpc;
mod server;
pub mod sts;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_spec::Region;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use accounts::{accounts_for_fleet, AccountConfig, AccountStatus, RoleConfig};
pub use error::{ApiError, EmulatorError};
pub use faults::{Faults, FaultsError};
pub use ledger::{Caller, Ledger, Order, PayError, Purchase, Refusal};
pub use realism::{Realism, RealismError, RepeatOrder};
pub use sts::random_secret;

/// The account the configured keys act in unless [`EmulatorConfig::home_account`] says
/// otherwise: the organisation's management account, where a fleet's base credentials live.
/// What a ledger file written before accounts existed holds is this account's.
pub const DEFAULT_HOME_ACCOUNT: &str = "1000000000000001";

/// How far a request's timestamp may be from the emulator's clock, as on the real gateway.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Everything an emulator is started with.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// One listener per region; port 0 picks a free port.
    pub listeners: Vec<(Region, SocketAddr)>,
    /// Access key id and secret pairs it accepts (besides those its STS issues); they act in
    /// `home_account`.
    pub credentials: Vec<(String, String)>,
    /// The account of `credentials` (and of the keys `AssumeRoleWithOIDC` issues); the
    /// management account `ListAccounts` answers to. [`DEFAULT_HOME_ACCOUNT`] unless set.
    pub home_account: String,
    /// Member accounts, with the roles `AssumeRole` enters and what `ListAccounts` reports.
    /// Empty (the default): one account, the home account, as before fleets.
    pub accounts: Vec<AccountConfig>,
    /// Persist the ledger here, and start from it if it exists.
    pub ledger_path: Option<PathBuf>,
    pub faults: Faults,
    /// How hard the emulator is; the kind default unless asked (docs/emulator.md).
    pub realism: Realism,
    pub seed: u64,
    pub max_clock_skew: Duration,
}

impl EmulatorConfig {
    /// No ledger file, no faults, seed 0, a 15-minute skew window.
    pub fn new(listeners: Vec<(Region, SocketAddr)>, credentials: Vec<(String, String)>) -> Self {
        EmulatorConfig {
            listeners,
            credentials,
            home_account: DEFAULT_HOME_ACCOUNT.to_owned(),
            accounts: Vec::new(),
            ledger_path: None,
            faults: Faults::default(),
            realism: Realism::default(),
            seed: 0,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    // Hand-written so that no secret reaches a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key_ids: Vec<&str> = self.credentials.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("EmulatorConfig")
            .field("listeners", &self.listeners)
            .field("access_key_ids", &key_ids)
            .field("home_account", &self.home_account)
            .field("accounts", &self.accounts.len())
            .field("ledger_path", &self.ledger_path)
            .field("faults", &self.faults.to_string())
            .field("realism", &self.realism.to_string())
            .field("seed", &self.seed)
            .field("max_clock_skew", &self.max_clock_skew)
            .finish()
    }
}

/// A running emulator. Dropping it stops every listener; [`Emulator::shutdown`] also waits.
pub struct Emulator {
    addrs: BTreeMap<Region, SocketAddr>,
    shared: Arc<server::Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Start an emulator inside the current Tokio runtime: bind every listener, load the ledger,
/// and spawn the accept loops. Binding happens before this returns, so the endpoints are
/// ready to use.
pub fn spawn(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| EmulatorError::NoRuntime)?;
    if config.listeners.is_empty() {
        return Err(EmulatorError::NoListeners);
    }
    let mut seen = std::collections::BTreeSet::new();
    for (region, _) in &config.listeners {
        if !seen.insert(region) {
            return Err(EmulatorError::DuplicateRegion(region.clone()));
        }
    }
    let directory = accounts::Directory::new(&config.home_account, &config.accounts)?;
    let ledger = match &config.ledger_path {
        Some(path) => {
            let ledger = Ledger::load_for(path, &config.home_account)?;
            // Written at once so that an unwritable path fails now, not at the first order.
            ledger.save(path)?;
            ledger
        }
        None => Ledger::default(),
    };
    let mut bound = Vec::new();
    for (region, addr) in &config.listeners {
        let bind_err = |source| EmulatorError::Bind {
            region: region.clone(),
            addr: *addr,
            source,
        };
        let std_listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let local = std_listener.local_addr().map_err(bind_err)?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(bind_err)?
        };
        bound.push((region.clone(), local, listener));
    }
    let shared = Arc::new(server::Shared {
        keys: auth::Keys::with_home(&config.credentials, &config.home_account),
        accounts: directory,
        nonces: Mutex::new(auth::NonceCache::default()),
        ledger: Mutex::new(ledger),
        commit: tokio::sync::Mutex::new(()),
        pending: Mutex::new(Vec::new()),
        in_flight: Arc::new(tokio::sync::RwLock::new(())),
        ledger_path: config.ledger_path.clone(),
        faults: config.faults.clone(),
        rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
        max_skew: config.max_clock_skew,
        realism: config.realism.clone(),
        activated: Mutex::new(std::collections::HashMap::new()),
        rate: Mutex::new(std::collections::HashMap::new()),
    });
    let (shutdown, _) = watch::channel(false);
    let mut addrs = BTreeMap::new();
    let mut tasks = Vec::new();
    for (region, local, listener) in bound {
        tracing::info!(%region, addr = %local, "emulator listening");
        addrs.insert(region.clone(), local);
        tasks.push(runtime.spawn(server::serve(listener, region, shared.clone(), shutdown.subscribe())));
    }
    Ok(Emulator {
        addrs,
        shared,
        shutdown,
        tasks,
    })
}

/// [`spawn`], for callers that are already async.
pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
    spawn(config)
}

impl Emulator {
    /// `http://ADDR` per region, ready for a manifest's `[provider.endpoints]`.
    pub fn endpoints(&self) -> BTreeMap<Region, String> {
        self.addrs
            .iter()
            .map(|(region, addr)| (region.clone(), format!("http://{addr}")))
            .collect()
    }

    pub fn addrs(&self) -> &BTreeMap<Region, SocketAddr> {
        &self.addrs
    }

    /// A snapshot of the ledger: every order recorded so far.
    pub fn ledger(&self) -> Ledger {
        self.shared.ledger_snapshot()
    }

    pub fn ledger_path(&self) -> Option<&Path> {
        self.shared.ledger_path.as_deref()
    }

    /// Stop accepting, close every connection, and wait for the listeners to finish and for
    /// every commit already under way (one whose client hung up included) to be in the ledger
    /// and its file.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        let _settled = self.shared.in_flight.write().await;
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
