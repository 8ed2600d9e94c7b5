//! The emulator side of the apply tests: [`Setup`], an emulator (`pai_testkit`'s restartable
//! [`Emu`]) with a work directory whose manifest points at it.

use std::path::Path;

use pai_emulator::EmulatorConfig;
use pai_spec::Region;
use pai_testkit::emulator::{runtime, Emu};

use super::{hangzhou, manifest, shanghai, Run, Want, Workdir, ACCESS_KEY_ID, ACCESS_KEY_SECRET};

/// The usual configuration: one listener per region on a free port, the test key pair, the
/// ledger in `ledger` (so that it survives a restart), no faults.
pub fn emu_config(regions: &[Region], ledger: &Path) -> EmulatorConfig {
    pai_testkit::emulator::config_with_ledger(regions, ACCESS_KEY_ID, ACCESS_KEY_SECRET, ledger)
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
        let mut config = emu_config(&[hangzhou(), shanghai()], &work.path().join("ledger.json"));
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

/// `POST /_emulator/pay/<order_id>` on the emulator at `base` (`http://host:port`): what
/// someone does in the console's order center. Returns the HTTP status.
pub fn pay(base: &str, order_id: &str) -> u16 {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the emulator");
    write!(
        stream,
        "POST /_emulator/pay/{order_id} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send the payment");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}
