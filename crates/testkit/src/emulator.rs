//! An in-process emulator on loopback, as the client tests and the CLI tests run it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use pai_emulator::{Emulator, EmulatorConfig, Faults, Ledger};
use pai_spec::Region;

/// 127.0.0.1 on a free port.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// One listener per region on a free loopback port, one accepted key pair, no faults, the
/// ledger in memory.
pub fn config(regions: &[Region], access_key_id: &str, secret: &str) -> EmulatorConfig {
    EmulatorConfig::new(
        regions.iter().map(|r| (r.clone(), loopback())).collect(),
        vec![(access_key_id.to_owned(), secret.to_owned())],
    )
}

/// Start an emulator with `config` on the current Tokio runtime.
pub fn spawn(config: EmulatorConfig) -> Emulator {
    pai_emulator::spawn(config).unwrap_or_else(|e| panic!("the emulator does not start: {e}"))
}

/// A runtime for emulators driven from synchronous tests (the CLI under test runs in its own
/// processes).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a Tokio runtime: {e}"))
}

/// An emulator on a runtime handle that can be stopped and started again on the same ports,
/// from its ledger file, with other faults or with its account edited behind its back.
pub struct Emu {
    handle: tokio::runtime::Handle,
    config: EmulatorConfig,
    running: Option<Emulator>,
}

impl Emu {
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
        let emulator = spawn(self.config.clone());
        // A restart binds the same ports, so that the manifest's endpoints stay right.
        self.config.listeners = emulator.addrs().iter().map(|(r, a)| (r.clone(), *a)).collect();
        self.running = Some(emulator);
    }

    fn running(&self) -> &Emulator {
        self.running
            .as_ref()
            .unwrap_or_else(|| panic!("the emulator is not running"))
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
        let path = self
            .config
            .ledger_path
            .clone()
            .unwrap_or_else(|| panic!("edit_ledger needs a ledger file"));
        let mut ledger = Ledger::load(&path).unwrap_or_else(|e| panic!("read the ledger: {e}"));
        edit(&mut ledger);
        ledger.save(&path).unwrap_or_else(|e| panic!("write the ledger: {e}"));
        self.spawn();
    }

    fn stop(&mut self) {
        // The shutdown waits for a commit that a killed client left behind, so the file the
        // restart reads holds every order.
        if let Some(emulator) = self.running.take() {
            self.handle.block_on(emulator.shutdown());
        }
    }
}

/// [`config`] with the ledger persisted in `ledger`, as [`Emu::restart`] needs.
pub fn config_with_ledger(regions: &[Region], access_key_id: &str, secret: &str, ledger: &Path) -> EmulatorConfig {
    let mut config = config(regions, access_key_id, secret);
    config.ledger_path = Some(ledger.to_owned());
    config
}
