//! The fleet side of the CLI tests: [`FleetSetup`], an emulator serving a home account (where
//! the test key acts) and member accounts with their RAM roles, a fleet file and one manifest
//! pointing at it, a state directory, and a recording proxy in front of the emulator's STS, so
//! that a test can see every `AssumeRole` the binary made and every secret STS handed out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use pai_emulator::{AccountConfig, EmulatorConfig, Ledger, RoleConfig};
use pai_state::{StateLocation, Store};
use pai_testkit::emulator::{runtime, Emu};

use super::{emu_config, hangzhou, manifest, proxy, shanghai, two_regions, Run, StateRow, Want, Wire, Workdir};

/// The account the test key acts in: the organisation's management account.
pub const HOME: &str = "1900000000000001";
/// An account that trusts nobody the tests use.
pub const STRANGER: &str = "1800000000000001";
/// The role the fleet file gives every account.
pub const ROLE: &str = "pai-provision";

/// How the emulator holds an account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Present and trusting the home account.
    Trusted,
    /// Not in the account at all (`EntityNotExist.Role`).
    Missing,
    /// Present but trusting another account only (`NoPermission`).
    Untrusted,
}

/// One account of the fleet file, as the emulator serves it.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub id: String,
    pub tags: Vec<String>,
    pub role: Role,
}

/// A trusted account `name` with id `id` and `tags`.
pub fn member(name: &str, id: &str, tags: &[&str]) -> Member {
    Member {
        name: name.to_owned(),
        id: id.to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        role: Role::Trusted,
    }
}

impl Member {
    pub fn with_role(mut self, role: Role) -> Member {
        self.role = role;
        self
    }

    fn emulated(&self) -> AccountConfig {
        let roles = match self.role {
            Role::Trusted => vec![RoleConfig::new(ROLE, &[HOME])],
            Role::Missing => Vec::new(),
            Role::Untrusted => vec![RoleConfig::new(ROLE, &[STRANGER])],
        };
        AccountConfig {
            roles,
            ..AccountConfig::new(self.id.clone(), self.name.clone())
        }
    }
}

/// `n` trusted accounts `acct-1` ... with ids `2000000000000001` ...
pub fn members(n: usize) -> Vec<Member> {
    (1..=n)
        .map(|i| member(&format!("acct-{i}"), &format!("20000000000000{i:02}"), &[]))
        .collect()
}

/// A fleet file of `members`, every one getting `pai-provision.toml` in cn-hangzhou and
/// cn-shanghai through the role [`ROLE`].
pub fn fleet_file(members: &[Member]) -> String {
    let mut text = format!(
        "[fleet]\nmanifest = \"pai-provision.toml\"\nrole = \"{ROLE}\"\nregions = [\"cn-hangzhou\", \"cn-shanghai\"]\n"
    );
    for m in members {
        let tags: Vec<String> = m.tags.iter().map(|t| format!("\"{t}\"")).collect();
        text.push_str(&format!(
            "\n[accounts.{}]\nid = \"{}\"\ntags = [{}]\n",
            m.name,
            m.id,
            tags.join(", ")
        ));
    }
    text
}

/// The emulator, the work directory (fleet file `fleet.toml`, manifest `pai-provision.toml`,
/// states in `states/`) and the STS proxy. Dropped in field order: the emulator before its
/// runtime.
pub struct FleetSetup {
    pub work: Workdir,
    pub emu: Emu,
    /// What went to and came from STS (the proxy in front of the cn-hangzhou listener).
    pub sts: Wire,
    pub members: Vec<Member>,
    /// `--state`, as given to every run: a directory, or a `postgres://` URL.
    pub state: String,
    pub fleet: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl FleetSetup {
    /// A fleet of `members`, wanting [`two_regions`]' products; the emulator also serves
    /// `extra` accounts the fleet file does not list.
    pub fn new(members: Vec<Member>, extra: Vec<AccountConfig>) -> FleetSetup {
        FleetSetup::with(members, extra, |_| {})
    }

    pub fn with(
        members: Vec<Member>,
        extra: Vec<AccountConfig>,
        configure: impl FnOnce(&mut EmulatorConfig),
    ) -> FleetSetup {
        let runtime = runtime();
        let mut work = Workdir::new();
        let mut config = emu_config(&[hangzhou(), shanghai()], &work.path().join("ledger.json"));
        config.home_account = HOME.to_owned();
        config.accounts = members.iter().map(Member::emulated).chain(extra).collect();
        configure(&mut config);
        let emu = Emu::start(runtime.handle(), config);
        let sts = Wire::default();
        let upstream: SocketAddr = emu.endpoints()[&hangzhou()]
            .trim_start_matches("http://")
            .parse()
            .expect("the emulator's address");
        let sts_addr = proxy(runtime.handle(), upstream, &sts, None, None);
        work.set_env("ALIBABA_CLOUD_STS_ENDPOINT", Some(&format!("http://{sts_addr}")));
        let fleet = work.file("fleet.toml");
        std::fs::write(&fleet, fleet_file(&members)).expect("write the fleet file");
        let state = work.file("states").display().to_string();
        let setup = FleetSetup {
            work,
            emu,
            sts,
            members,
            state,
            fleet,
            runtime,
        };
        setup.want(&two_regions());
        setup
    }

    /// Rewrites the manifest every account gets to ask for `products`.
    pub fn want(&self, products: &[Want]) {
        self.work.write_manifest(&manifest(&self.emu.endpoints(), products));
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    /// `pai-provision --no-color --state <state> ARGS`, in the work directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut all = vec!["--no-color", "--state", self.state.as_str()];
        all.extend_from_slice(args);
        self.work.plain_command(&all)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(&mut self.command(args))
    }

    /// Runs ARGS and asserts its exit code.
    pub fn expect(&self, code: i32, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, Some(code), "{args:?}: {}", run.describe());
        run
    }

    pub fn member(&self, name: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no member {name}"))
    }

    /// The orders, purchases and refusals of account `id`.
    pub fn ledger_of(&self, id: &str) -> Ledger {
        self.emu.ledger().of_account(id)
    }

    /// Holds account `id`'s state lock, as another runner applying it would.
    pub fn hold_lock(&self, id: &str) -> pai_state::StateWriter {
        std::fs::create_dir_all(&self.state).expect("the states directory");
        pai_state::StateWriter::open(self.location(id), "apply (another runner)", std::time::Duration::ZERO)
            .expect("take the lock")
    }

    /// Where account `id`'s state is.
    pub fn location(&self, id: &str) -> StateLocation {
        if self.state.starts_with("postgres://") {
            let (base, query) = self.state.split_once('?').unwrap_or((&self.state, ""));
            let schema = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("schema="))
                .unwrap_or("pai_provision");
            let url = format!("{base}?schema={schema}_{id}");
            StateLocation::parse(&url, &|_: &str| None).expect("a state URL")
        } else {
            StateLocation::File(Path::new(&self.state).join(format!("{id}.db")))
        }
    }

    /// Account `id`'s state rows, as `state list --format json` shows them; empty without a state.
    pub fn rows(&self, id: &str) -> Vec<StateRow> {
        let store = Store::open_read_only(self.location(id)).expect("open the account's state");
        if !store.exists() {
            return Vec::new();
        }
        store
            .snapshot()
            .expect("read the account's state")
            .resources
            .values()
            .map(|r| StateRow {
                address: r.address.to_string(),
                region: r.region.to_string(),
                product_code: r.product_code.as_str().to_owned(),
                status: r.status.as_str().to_owned(),
                order_id: r.order_id.clone(),
            })
            .collect()
    }

    /// Whether account `id` has a state file (directory states only).
    pub fn has_state_file(&self, id: &str) -> bool {
        Path::new(&self.state).join(format!("{id}.db")).exists()
    }

    /// Everything the binary sent to STS.
    pub fn sts_requests(&self) -> String {
        Wire::text(&self.sts.to_server)
    }

    /// `AssumeRole` calls whose request names account `id` (in its role ARN).
    pub fn assume_roles_into(&self, id: &str) -> usize {
        self.sts_requests()
            .split("POST /")
            .filter(|request| request.contains("AssumeRole") && request.contains(id))
            .count()
    }

    /// Every secret and security token STS issued, as its answers carried them.
    pub fn issued_secrets(&self) -> Vec<String> {
        let answers = Wire::text(&self.sts.to_client);
        let mut found = Vec::new();
        for field in ["\"AccessKeySecret\":\"", "\"SecurityToken\":\""] {
            for (at, _) in answers.match_indices(field) {
                let rest = &answers[at + field.len()..];
                if let Some(end) = rest.find('"') {
                    found.push(rest[..end].to_owned());
                }
            }
        }
        found
    }
}
