//! The one harness of the CLI's integration tests: a work directory holding a state file and a
//! manifest ([`Workdir`]), the real `pai-provision` binary run in it as a child process with
//! credentials passed through its own environment only ([`Run`]), and, for the apply tests
//! (`apply_e2e`, `apply_race`, `apply_secrets`, `fault_campaign`, `state_postgres`), an
//! in-process emulator on loopback whose ledger lives in a file and which can be restarted with
//! other faults on the same ports, and the exactly-once check itself.
//!
//! - `emu`: [`Setup`], on `pai_testkit`'s emulator harness ([`Emu`], [`runtime`]).
//! - `proxy`: a recording TCP proxy that can play a slow gateway.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

mod emu;
mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use pai_emulator::Ledger;
use pai_spec::{ProductCode, Region};
use serde::Deserialize;

// Re-exported for the binaries that use them; the others do not.
#[allow(unused_imports)]
pub use emu::{emu_config, Setup};
#[allow(unused_imports)]
pub use pai_testkit::emulator::{runtime, Emu};
#[allow(unused_imports)]
pub use proxy::{gateway, proxy, Wire};

pub const ACCESS_KEY_ID: &str = "LTAI5tApplyTestKey";
pub const ACCESS_KEY_SECRET: &str = "ApplyTest-Secret-5f4e3d2c1b0a";

#[allow(unused_imports)]
pub use pai_testkit::fixtures::{hangzhou, region, shanghai};

/// A product the manifest wants, at its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub address: String,
    pub code: ProductCode,
    pub region: Region,
}

pub fn want(address: &str, code: ProductCode, region: &Region) -> Want {
    Want {
        address: address.to_owned(),
        code,
        region: region.clone(),
    }
}

/// The quickstart's four products, all ordered through cn-hangzhou.
pub fn single_region() -> Vec<Want> {
    let hz = hangzhou();
    vec![
        want("dataworks", ProductCode::DataWorks, &hz),
        want("maxcompute", ProductCode::MaxCompute, &hz),
        want("oss", ProductCode::Oss, &hz),
        want("pai", ProductCode::Pai, &hz),
    ]
}

/// The four in cn-hangzhou, and PAI and OSS again in cn-shanghai: two orders, in parallel.
pub fn two_regions() -> Vec<Want> {
    let sh = shanghai();
    let mut products = single_region();
    products.push(want("oss-shanghai", ProductCode::Oss, &sh));
    products.push(want("pai-shanghai", ProductCode::Pai, &sh));
    products
}

/// The regions `products` are ordered in, sorted.
pub fn regions_of(products: &[Want]) -> Vec<Region> {
    let set: BTreeSet<Region> = products.iter().map(|w| w.region.clone()).collect();
    set.into_iter().collect()
}

/// A manifest ordering `products` through cn-hangzhou, the endpoint of each region it orders
/// in overridden.
pub fn manifest(endpoints: &BTreeMap<Region, String>, products: &[Want]) -> String {
    let mut text = String::from("[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n\n[provider.endpoints]\n");
    let used = regions_of(products);
    for (region, url) in endpoints.iter().filter(|(r, _)| used.contains(r)) {
        text.push_str(&format!("{region} = \"{url}\"\n"));
    }
    for w in products {
        text.push_str(&format!("\n[products.{}]\ncode = \"{}\"\n", w.address, w.code.as_str()));
        if w.region != hangzhou() {
            text.push_str(&format!("region = \"{}\"\n", w.region));
        }
        text.push_str(properties(w.code));
    }
    text
}

/// The documented instance properties of each product, as in the API reference's example.
fn properties(code: ProductCode) -> &'static str {
    match code {
        ProductCode::DataWorks => "properties.region = \"cn-hangzhou\"\n",
        ProductCode::MaxCompute => {
            "properties.odps_specification_type = \"OdpsStandard\"\nproperties.ord_time = \"1:Hour\"\n\
             properties.region = \"cn-hangzhou\"\n"
        }
        ProductCode::Oss => {
            "properties.commodity_type = { value = \"oss\", name = \"Object Storage Service\" }\n\
             properties.ord_time = { value = \"1:Hour\", name = \"1 Hour\" }\n"
        }
        ProductCode::Pai => "",
    }
}

/// A temporary directory with a state file and a manifest, and the environment the binary
/// runs in: nothing of this process's own, a `HOME` inside the directory (no stray aliyun CLI
/// profile), and the test's credentials.
pub struct Workdir {
    dir: tempfile::TempDir,
    pub state: PathBuf,
    pub manifest: PathBuf,
    env: BTreeMap<String, String>,
}

impl Default for Workdir {
    fn default() -> Self {
        Workdir::new()
    }
}

impl Workdir {
    /// A work directory whose manifest, `pai-provision.toml`, is `text`.
    pub fn with_manifest(text: &str) -> Workdir {
        let work = Workdir::new();
        work.write_manifest(text);
        work
    }

    /// Puts the state at `relative` inside the directory instead, e.g. in a subdirectory that
    /// does not exist yet.
    pub fn state_at(mut self, relative: &str) -> Workdir {
        self.state = self.dir.path().join(relative);
        self
    }

    pub fn new() -> Workdir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let state = dir.path().join("s.db");
        let manifest = dir.path().join("pai-provision.toml");
        let env = BTreeMap::from([
            ("HOME".to_owned(), dir.path().display().to_string()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID".to_owned(), ACCESS_KEY_ID.to_owned()),
            (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET".to_owned(),
                ACCESS_KEY_SECRET.to_owned(),
            ),
        ]);
        Workdir {
            dir,
            state,
            manifest,
            env,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the directory (state, ledger, logs) for a post-mortem, and says where it is.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }

    /// Sets (or, with `None`, removes) a variable of the binary's environment.
    pub fn set_env(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(v) => self.env.insert(name.to_owned(), v.to_owned()),
            None => self.env.remove(name),
        };
    }

    pub fn write_manifest(&self, text: &str) {
        std::fs::write(&self.manifest, text).expect("write the manifest");
    }

    /// A file of the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `pai-provision --state <state> --no-color ARGS`, in the directory, with only the
    /// workdir's environment; output captured, no stdin (so never a terminal).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.plain_command(&[]);
        cmd.arg("--state").arg(&self.state).arg("--no-color").args(args);
        cmd
    }

    /// `pai-provision ARGS` as [`Workdir::command`] runs it, but with neither `--state` nor
    /// `--no-color`: for what the binary decides by itself (where the state is, whether to
    /// colour).
    pub fn plain_command(&self, args: &[&str]) -> Command {
        let mut cmd = binary();
        cmd.current_dir(self.dir.path()).envs(&self.env).args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(&mut self.command(args))
    }

    /// [`Workdir::run`] of [`Workdir::plain_command`].
    pub fn run_plain(&self, args: &[&str]) -> Run {
        Run::of(&mut self.plain_command(args))
    }

    /// Starts `n` copies of ARGS at once and waits for all of them.
    pub fn race(&self, n: usize, args: &[&str]) -> Vec<Run> {
        let children: Vec<Child> = (0..n)
            .map(|_| self.command(args).spawn().expect("start pai-provision"))
            .collect();
        children
            .into_iter()
            .map(|c| Run::from(c.wait_with_output().expect("wait for pai-provision")))
            .collect()
    }

    /// Runs ARGS, asserts exit 0 and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.describe());
        run.stdout
    }

    /// Runs ARGS, asserts exit 1 and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.describe());
        run.stderr
    }

    /// Runs ARGS, asserts exit 0 and returns stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let run = self.run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.describe());
        run.json()
    }

    /// `state list --format json`.
    pub fn state_list(&self) -> Vec<StateRow> {
        let stdout = self.ok(&["state", "list", "--format", "json"]);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("state list JSON: {e}: {stdout}"))
    }
}

/// `pai-provision` with an empty environment, output captured and no stdin (so never a
/// terminal): on its own for the commands that take their files as arguments (`validate`,
/// `fmt`), and under [`Workdir::command`].
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pai-provision"));
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The repository's `examples/`, the manifests the README tells a newcomer to run.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Writes `contents` to `name` in `dir`, and returns its path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write the file");
    path
}

/// A finished run of the binary.
#[derive(Debug, Clone)]
pub struct Run {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn of(cmd: &mut Command) -> Run {
        Run::from(cmd.output().expect("run pai-provision"))
    }

    /// Exit code, stdout and stderr, for tests that name them `code, out, err`.
    pub fn into_parts(self) -> (Option<i32>, String, String) {
        (self.code, self.stdout, self.stderr)
    }

    /// For assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.describe()))
    }
}

/// One row of `state list --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StateRow {
    pub address: String,
    pub region: String,
    pub product_code: String,
    pub status: String,
    pub order_id: Option<String>,
}

/// Everything wrong with the claim "the account holds exactly one order per wanted product and
/// the state agrees with it"; empty when it holds.
///
/// A row without an order id is accepted: it was resolved by observation after its response
/// was lost, and the ledger's single order for it is the one that went through.
pub fn exactly_once_problems(ledger: &Ledger, wanted: &[Want], rows: &[StateRow]) -> Vec<String> {
    let mut problems = Vec::new();
    let wanted_pairs: BTreeSet<(Region, ProductCode)> = wanted.iter().map(|w| (w.region.clone(), w.code)).collect();
    for w in wanted {
        let count = ledger.order_count(&w.region, w.code);
        if count != 1 {
            problems.push(format!("{} in {} was ordered {count} times", w.code, w.region));
        }
    }
    for order in &ledger.orders {
        for code in &order.product_codes {
            if !wanted_pairs.contains(&(order.region.clone(), *code)) {
                problems.push(format!(
                    "order {} bought unwanted {code} in {}",
                    order.order_id, order.region
                ));
            }
        }
    }
    let purchased: BTreeSet<(Region, ProductCode)> = ledger
        .purchased
        .iter()
        .map(|p| (p.region.clone(), p.product_code))
        .collect();
    if purchased != wanted_pairs {
        problems.push(format!("purchased {purchased:?}, wanted {wanted_pairs:?}"));
    }
    if rows.len() != wanted.len() {
        problems.push(format!(
            "the state has {} rows for {} wanted products",
            rows.len(),
            wanted.len()
        ));
    }
    for w in wanted {
        let Some(row) = rows.iter().find(|r| r.address == w.address) else {
            problems.push(format!("no state row for `{}`", w.address));
            continue;
        };
        if row.status != "active" || row.region != w.region.as_str() || row.product_code != w.code.as_str() {
            problems.push(format!("state row {row:?} is not {} in {}, active", w.code, w.region));
        }
        let ledger_order = ledger
            .orders
            .iter()
            .find(|o| o.region == w.region && o.product_codes.contains(&w.code));
        if let (Some(id), Some(order)) = (&row.order_id, ledger_order) {
            if *id != order.order_id {
                problems.push(format!(
                    "`{}` records order {id}, but the ledger's order for it is {}",
                    w.address, order.order_id
                ));
            }
        }
    }
    problems
}

/// Orders of the ledger that no state row records: their responses were lost on the way.
pub fn unrecorded_orders(ledger: &Ledger, rows: &[StateRow]) -> usize {
    ledger
        .orders
        .iter()
        .filter(|o| !rows.iter().any(|r| r.order_id.as_deref() == Some(o.order_id.as_str())))
        .count()
}

/// Duplicate orders: every order of a product beyond its first.
pub fn duplicates(ledger: &Ledger) -> usize {
    let mut seen = BTreeSet::new();
    let mut extra = 0;
    for order in &ledger.orders {
        for code in &order.product_codes {
            if !seen.insert((order.region.clone(), *code)) {
                extra += 1;
            }
        }
    }
    extra
}

/// SplitMix64: a small seeded generator for the tests' own draws (which products, which
/// faults, when to kill), so that a seed replays a scenario.
pub struct Draws(u64);

impl Draws {
    pub fn new(seed: u64) -> Draws {
        Draws(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    pub fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.between(0, choices.len() as u64 - 1) as usize]
    }
}
