//! `[discovery]` end to end: the fleet commands ask the emulator's Resource Directory
//! (`ListAccounts`, signed with the base key) for the accounts of a folder, add them with the
//! `[fleet]` defaults, and act in them; an account outside the folder, or without the tags, is
//! never touched. A saved plan applies only its own accounts.

mod support;

use pai_emulator::{AccountConfig, RoleConfig};
use pai_spec::ProductCode;
use pai_testkit::emulator::{runtime, Emu};
use support::{emu_config, hangzhou, manifest, want, Workdir};

const HOME: &str = "1000000000000001";
const FOLDER: &str = "fd-teams";

fn member(id: &str, name: &str, folder: Option<&str>, env: &str) -> AccountConfig {
    let mut account = AccountConfig::new(id, name);
    account.folder = folder.map(str::to_owned);
    account.tags.insert("env".to_owned(), env.to_owned());
    account.roles = vec![RoleConfig::new("pai-provision", &[HOME])];
    account
}

#[test]
fn discovery_adds_the_folders_accounts_and_nothing_else() {
    let rt = runtime();
    let work = Workdir::new();
    let mut config = emu_config(&[hangzhou()], &work.file("ledger.json"));
    config.home_account = HOME.to_owned();
    config.accounts = vec![
        member("2000000000000001", "Team A", Some(FOLDER), "prod"),
        member("2000000000000002", "Team B", Some(FOLDER), "prod"),
        // In the folder, without the tag; and tagged, in another folder: neither is taken.
        member("2000000000000003", "Team C", Some(FOLDER), "dev"),
        member("2000000000000004", "Elsewhere", Some("fd-other"), "prod"),
    ];
    let emu = Emu::start(rt.handle(), config);
    let endpoint = emu.endpoints()[&hangzhou()].clone();
    std::fs::write(
        work.file("m.toml"),
        manifest(&emu.endpoints(), &[want("pai", ProductCode::Pai, &hangzhou())]),
    )
    .unwrap();
    std::fs::write(
        work.file("fleet.toml"),
        format!(
            "[fleet]\nmanifest = \"m.toml\"\nrole = \"pai-provision\"\nregions = [\"cn-hangzhou\"]\n\n\
             [discovery]\nfolder = \"{FOLDER}\"\ntags = {{ env = \"prod\" }}\n"
        ),
    )
    .unwrap();
    let mut work = work;
    work.set_env("ALIBABA_CLOUD_STS_ENDPOINT", Some(&endpoint));
    work.set_env("ALIBABA_CLOUD_RESOURCEMANAGER_ENDPOINT", Some(&endpoint));
    let states = work.file("states");
    let states = states.to_str().unwrap();

    let plan = work.run_plain(&["--state", states, "fleet", "plan", "fleet.toml", "--out", "p.json"]);
    assert_eq!(plan.code, Some(0), "{plan:?}");
    // The two accounts make the same changes: one section names both; the saved plan has each.
    assert!(
        plan.stdout.contains("the same changes in 2 accounts: team-a, team-b"),
        "{}",
        plan.stdout
    );
    let saved = std::fs::read_to_string(work.file("p.json")).unwrap();
    assert!(saved.contains("\"2000000000000001\"") && saved.contains("\"2000000000000002\""));
    for other in ["2000000000000003", "2000000000000004"] {
        assert!(
            !plan.stdout.contains(other) && !saved.contains(other),
            "{}",
            plan.stdout
        );
    }

    // A plan of one discovered account applies that account only.
    let one = work.run_plain(&[
        "--state",
        states,
        "fleet",
        "plan",
        "fleet.toml",
        "--account",
        "team-a",
        "--out",
        "one.json",
    ]);
    assert_eq!(one.code, Some(0), "{one:?}");
    let applied = work.run_plain(&["--state", states, "fleet", "apply", "one.json"]);
    assert_eq!(applied.code, Some(0), "{applied:?}");
    let ledger = emu.ledger();
    assert_eq!(
        ledger.order_count_in("2000000000000001", &hangzhou(), ProductCode::Pai),
        1
    );
    assert_eq!(
        ledger.order_count_in("2000000000000002", &hangzhou(), ProductCode::Pai),
        0
    );

    let applied = work.run_plain(&["--state", states, "fleet", "apply", "p.json"]);
    assert_eq!(applied.code, Some(0), "{applied:?}");
    assert!(applied.stdout.contains("team-a: no changes"), "{}", applied.stdout);
    let ledger = emu.ledger();
    for (id, orders) in [
        ("2000000000000001", 1),
        ("2000000000000002", 1),
        ("2000000000000003", 0),
        ("2000000000000004", 0),
        (HOME, 0),
    ] {
        assert_eq!(
            ledger.order_count_in(id, &hangzhou(), ProductCode::Pai),
            orders,
            "account {id}: {ledger:?}"
        );
    }
    let files: Vec<String> = std::fs::read_dir(work.file("states"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".db"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
}
