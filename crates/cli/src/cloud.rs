//! The connection to the cloud (or to the `--sandbox` emulator): a Tokio runtime, the API
//! client with its credentials, and the sandbox when one runs. Commands that talk to the API
//! build one [`Cloud`] for a [`Target`] and drive their async work through [`Cloud::block_on`].
//!
//! A [`Cloud`] also owns Ctrl-C and SIGTERM ([`Interrupts`]): while apply orders, the first
//! signal sends no new order and lets the request in flight be answered and recorded; at any
//! other time, and on a second signal, the process exits at once (130 / 143). The client's
//! waits are said on stderr (`waits`).

mod waits;

pub use waits::{after_a_second, clock};

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::Arc;

use anyhow::Context;
use pai_apply::client::LIST_PRODUCTS;
use pai_apply::executor::history_entry;
use pai_apply::{
    Cancel, Client, ClientConfig, CredentialProvider, Credentials, DefaultChain, EndpointResolver, ListProductsStatus,
    StaticCredentials,
};
use pai_planner::Observation;
use pai_spec::{Address, Manifest, ProductCode, Region, SignatureVersion};
use pai_state::{ApiCall, StateSnapshot};

use crate::cli::{Global, SignatureArg};
use crate::sandbox::Sandbox;

/// What a plan records as the endpoint of every region's orders in the sandbox. The emulator
/// listens on a new port each run, so a saved sandbox plan names the sandbox, not a URL that is
/// gone by the time it is applied.
pub const SANDBOX_ENDPOINT: &str = "sandbox";

/// Where a command's orders go, resolved once, before the plan is built: the plan shows
/// [`Target::endpoint`], and [`Cloud::connect`] builds the client that sends there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Alibaba Cloud, or whatever the manifest's endpoints and `--endpoint` name.
    Cloud(EndpointResolver),
    /// The in-process emulator, with its ledger beside this real state file (or its stand-in).
    Sandbox { state_path: PathBuf },
}

impl Target {
    /// The endpoint a plan records and shows for `region`'s orders.
    pub fn endpoint(&self, region: &Region) -> String {
        match self {
            Target::Cloud(resolver) => resolver.url_for(region),
            Target::Sandbox { .. } => SANDBOX_ENDPOINT.to_owned(),
        }
    }
}

/// The credentials chain of the cloud, with the profile `--profile` or the manifest asks for.
fn chain(g: &Global, manifest: &Manifest) -> DefaultChain {
    let profile = g.profile.clone().or_else(|| manifest.provider.profile.clone());
    DefaultChain::from_process_env(profile, None)
}

/// The account the orders to `target` are placed for, when the credentials name it: the account
/// id in the ARN of an OIDC role (`DefaultChain::identity`). The account, not the role: a plan
/// made with a read-only role is applied with an ordering role of the same account
/// (`docs/gitops.md`). `None` for an access key, whose id names no account, and for the
/// sandbox, which `--sandbox` in the plan's target already names. Nothing is asked over the
/// network.
pub fn account(g: &Global, manifest: &Manifest, target: &Target) -> Option<String> {
    match target {
        Target::Sandbox { .. } => None,
        Target::Cloud(_) => chain(g, manifest).identity().as_deref().and_then(account_of_arn),
    }
}

/// `1234` of `acs:ram::1234:role/deploy`; `None` for anything else.
fn account_of_arn(arn: &str) -> Option<String> {
    match arn.split(':').collect::<Vec<_>>()[..] {
        ["acs", _, _, account, _] if !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) => {
            Some(account.to_owned())
        }
        _ => None,
    }
}

/// What a refresh saw, and the `ListProducts` calls that said so.
pub struct Refreshed {
    pub observation: Observation,
    pub calls: Vec<ApiCall>,
}

/// What Ctrl-C and SIGTERM do: exit at once, except the first one while apply orders.
#[derive(Debug, Clone, Default)]
pub struct Interrupts {
    cancel: Cancel,
    /// [`Phase`] as a number.
    phase: Arc<AtomicU8>,
    /// The first signal taken while ordering, 0 until then.
    first: Arc<AtomicI32>,
}

/// Where the command is, for what a signal does and says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Nothing ordered yet: exit at once.
    Before = 0,
    /// The executor runs: the first signal cancels it ([`Cancel`]), a second exits at once.
    Ordering = 1,
    /// The orders are over; the report is being written: exit at once.
    After = 2,
}

impl Interrupts {
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// The signal that interrupted the orders (2 or 15), if one did.
    pub fn taken(&self) -> Option<i32> {
        Some(self.first.load(Ordering::SeqCst)).filter(|s| *s != 0)
    }

    fn on_signal(&self, signo: i32) {
        let name = signal_name(signo);
        let phase = self.phase.load(Ordering::SeqCst);
        if phase == Phase::Ordering as u8
            && self
                .first
                .compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            note!(
                "\nInterrupted ({name}): no new order will be sent; waiting for the requests in flight to be answered \
                 and recorded. Send it again to exit at once (a request in flight is then left pending, and the next \
                 run asks ListProducts about it before ordering anything)."
            );
            self.cancel.cancel();
            return;
        }
        let what = match phase {
            p if p == Phase::Before as u8 => " Nothing was ordered.",
            p if p == Phase::Ordering as u8 => {
                " A request in flight is left pending: the next run asks ListProducts about it before ordering \
                 anything, and orders the rest."
            }
            _ => " The orders were done; `pai-provision state list` shows what was recorded.",
        };
        note!("\nInterrupted ({name}): exiting now.{what}");
        std::process::exit(128 + signo);
    }

    /// Listens for the signals on `runtime` from now on.
    fn listen(&self, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
        let _entered = runtime.enter();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
            let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
            let this = self.clone();
            runtime.spawn(async move {
                loop {
                    let signo = tokio::select! {
                        Some(()) = interrupt.recv() => 2,
                        Some(()) = terminate.recv() => 15,
                        else => return,
                    };
                    this.on_signal(signo);
                }
            });
        }
        #[cfg(not(unix))]
        {
            let this = self.clone();
            runtime.spawn(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    this.on_signal(2);
                }
            });
        }
        Ok(())
    }
}

/// The runtime a command's async work runs on, and what Ctrl-C and SIGTERM do meanwhile.
pub fn runtime_with_interrupts() -> anyhow::Result<(tokio::runtime::Runtime, Interrupts)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // State reads of a fleet run beside the workers, one short read per account: a few
        // threads keep up, and each thread more is memory (its stack and its allocator arena).
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let interrupts = Interrupts::default();
    interrupts.listen(&runtime)?;
    Ok((runtime, interrupts))
}

/// `SIGINT` (Ctrl-C) or `SIGTERM` (a cancelled CI job).
pub fn signal_name(signo: i32) -> &'static str {
    if signo == 15 {
        "SIGTERM"
    } else {
        "SIGINT"
    }
}

pub struct Cloud {
    client: Client,
    sandbox: Option<Sandbox>,
    interrupts: Interrupts,
    say: waits::Say,
    // Declared last so that the sandbox's listeners are dropped while the runtime still runs.
    runtime: tokio::runtime::Runtime,
}

impl Cloud {
    /// Connects to `target` for `manifest`; for the sandbox, starts an emulator serving `regions`.
    pub fn connect(g: &Global, manifest: &Manifest, target: &Target, regions: &[Region]) -> anyhow::Result<Cloud> {
        let (runtime, interrupts) = runtime_with_interrupts()?;
        let say = waits::Say::default();
        let signature = match g.signature {
            Some(SignatureArg::V3) => SignatureVersion::V3,
            Some(SignatureArg::V2) => SignatureVersion::V2,
            None => manifest.provider.signature,
        };
        let mut config = ClientConfig {
            signature,
            read_timeout: g.timeout,
            ..ClientConfig::default()
        };
        let (credentials, sandbox): (Arc<dyn CredentialProvider>, Option<Sandbox>) = match target {
            Target::Sandbox { state_path } => {
                let _entered = runtime.enter();
                let sandbox = Sandbox::start(state_path, regions)?;
                // Never the public endpoint: a region the sandbox does not serve gets no request at all.
                config.endpoint = EndpointResolver::only(sandbox.endpoints());
                let (id, secret) = sandbox.credentials();
                let credentials = Credentials::new(id, secret.to_owned()).with_provider_name("sandbox");
                (Arc::new(StaticCredentials::new(credentials)), Some(sandbox))
            }
            Target::Cloud(resolver) => {
                config.endpoint = resolver.clone();
                (Arc::new(chain(g, manifest)), None)
            }
        };
        let client = Client::new(config, credentials)
            .context("cannot build the API client")?
            .with_wait_observer({
                let say = say.clone();
                Arc::new(move |w| say.client_wait(w))
            });
        Ok(Cloud {
            client,
            sandbox,
            interrupts,
            say,
            runtime,
        })
    }

    pub fn interrupts(&self) -> &Interrupts {
        &self.interrupts
    }

    /// Where the client's waits are said (above apply's progress display while it is drawn).
    pub fn say(&self) -> &waits::Say {
        &self.say
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// `ListProducts` for every pair of `wanted` (`pai_planner::wanted(manifest, snapshot)`),
    /// regions concurrently; and the calls' history entries, each naming the addresses of
    /// `manifest` and `snapshot` it was about, for the run that acts on the answer to record.
    pub fn refresh(
        &self,
        wanted: &[(Region, ProductCode)],
        manifest: &Manifest,
        snapshot: &StateSnapshot,
    ) -> anyhow::Result<Refreshed> {
        let status = ListProductsStatus::new(self.client.clone());
        let (observation, calls) = self.block_on(status.observe_recorded(wanted));
        let observation = observation.context("cannot read the products' status (ListProducts); nothing was sent")?;
        let calls = calls
            .iter()
            .map(|call| {
                let about = |region: &Region, code: ProductCode| &call.region == region && call.codes.contains(&code);
                let mut addresses: Vec<Address> = manifest
                    .products
                    .values()
                    .filter(|p| about(&p.region, p.code()))
                    .map(|p| p.address.clone())
                    .chain(
                        snapshot
                            .resources
                            .values()
                            .filter(|r| about(&r.region, r.product_code))
                            .map(|r| r.address.clone()),
                    )
                    .collect();
                addresses.sort();
                addresses.dedup();
                let result = call.result.as_ref().map(|request_id| (request_id.clone(), None));
                history_entry(&call.region, LIST_PRODUCTS, addresses, call.duration, result)
            })
            .collect();
        Ok(Refreshed { observation, calls })
    }

    /// Where the sandbox keeps its ledger, when this is a sandbox.
    pub fn sandbox_ledger(&self) -> Option<&std::path::Path> {
        self.sandbox.as_ref().map(Sandbox::ledger_path)
    }
}

#[cfg(test)]
mod tests {
    use super::account_of_arn;

    #[test]
    fn account_of_arn_table() {
        let cases = [
            ("acs:ram::1234567890123456:role/deploy", Some("1234567890123456")),
            ("acs:ram::1234:role/path/name", Some("1234")),
            ("acs:ram:::role/deploy", None),
            ("acs:ram::12a4:role/deploy", None),
            ("arn:aws:iam::1234:role/x", None),
            ("deploy", None),
            ("", None),
        ];
        for (arn, want) in cases {
            assert_eq!(account_of_arn(arn).as_deref(), want, "{arn}");
        }
    }
}
