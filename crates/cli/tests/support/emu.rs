//! The emulator side of the apply tests: a Tokio runtime for it, an [`Emu`] that can be
//! restarted with other faults or with its account edited behind its back, and [`Setup`], an
//! emulator with a work directory whose manifest points at it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use pai_emulator::{Emulator, EmulatorConfig, Faults, Ledger};
use pai_spec::Region;

use super::{hangzhou, manifest, shanghai, Run, Want, Workdir, ACCESS_KEY_ID, ACCESS_KEY_SECRET};

/// The runtime the emulators of a test run on; the CLI under test runs in its own processes.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// An emulator serving some regions on 127.0.0.1, its ledger in a file so that it survives a
/// restart with other faults.
pub struct Emu {
    handle: tokio::runtime::Handle,
    config: EmulatorConfig,
    running: Option<Emulator>,
}

impl Emu {
    /// The usual configuration: one listener per region on a free port, the test key pair,
    /// the ledger in `ledger`, no faults.
    pub fn config(regions: &[Region], ledger: &Path) -> EmulatorConfig {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = EmulatorConfig::new(
            regions.iter().map(|r| (r.clone(), loopback)).collect(),
            vec![(ACCESS_KEY_ID.to_owned(), ACCESS_KEY_SECRET.to_owned())],
        );
        config.ledger_path = Some(ledger.to_owned());
        config
    }

    pub fn start(handle: &tokio::runtime::Handle, config: EmulatorConfig) -> Emu {
        let mut emu = Emu {
            handle: handle.clone(),
            config,
            running: None,
        };
        emu.spawn();
        emu
    }

    fn spawn(&mut self) {
        let _entered = self.handle.enter();
        let emulator = pai_emulator::spawn(self.config.clone()).expect("the emulator starts");
        // A restart binds the same ports, so that the manifest's endpoints stay right.
        self.config.listeners = emulator.addrs().iter().map(|(r, a)| (r.clone(), *a)).collect();
        self.running = Some(emulator);
    }

    fn running(&self) -> &Emulator {
        self.running.as_ref().expect("the emulator runs")
    }

    pub fn endpoints(&self) -> BTreeMap<Region, String> {
        self.running().endpoints()
    }

    pub fn ledger(&self) -> Ledger {
        self.running().ledger()
    }

    /// Stops the emulator and starts it again from its ledger file with `faults`.
    pub fn restart(&mut self, faults: Faults) {
        self.stop();
        self.config.faults = faults;
        self.spawn();
    }

    /// Stops the emulator, lets `edit` change the account behind its back (a purchase made or
    /// cancelled in the console), and starts it again on the same ports.
    pub fn edit_ledger(&mut self, edit: impl FnOnce(&mut Ledger)) {
        self.stop();
        let path = self.config.ledger_path.clone().expect("a ledger file");
        let mut ledger = Ledger::load(&path).expect("read the ledger");
        edit(&mut ledger);
        ledger.save(&path).expect("write the ledger");
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(emulator) = self.running.take() {
            self.handle.block_on(emulator.shutdown());
        }
        // A commit runs in a task of its own that a shutdown does not cancel (an order is all
        // or nothing); give one that a killed client left behind time to reach the file.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An emulator serving cn-hangzhou and cn-shanghai and a work directory whose manifest asks
/// for `products` through it. Dropped in field order: the emulator before its runtime.
pub struct Setup {
    pub work: Workdir,
    pub emu: Emu,
    runtime: tokio::runtime::Runtime,
}

impl Setup {
    pub fn new(products: &[Want]) -> Setup {
        Setup::with(products, |_| {})
    }

    /// With the emulator's configuration changed by `configure` (faults, keys ...).
    pub fn with(products: &[Want], configure: impl FnOnce(&mut EmulatorConfig)) -> Setup {
        let runtime = runtime();
        let work = Workdir::new();
        let mut config = Emu::config(&[hangzhou(), shanghai()], &work.path().join("ledger.json"));
        configure(&mut config);
        let emu = Emu::start(runtime.handle(), config);
        let setup = Setup { work, emu, runtime };
        setup.want(products);
        setup
    }

    /// Rewrites the manifest to ask for `products`.
    pub fn want(&self, products: &[Want]) {
        self.work.write_manifest(&manifest(&self.emu.endpoints(), products));
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    /// `apply --auto-approve ARGS`.
    pub fn apply(&self, args: &[&str]) -> Run {
        let mut all = vec!["apply", "--auto-approve"];
        all.extend_from_slice(args);
        self.work.run(&all)
    }

    /// Another work directory (its own state) on the same account, asking for `products`.
    pub fn elsewhere(&self, products: &[Want]) -> Workdir {
        let other = Workdir::new();
        other.write_manifest(&manifest(&self.emu.endpoints(), products));
        other
    }
}
