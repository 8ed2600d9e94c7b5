//! The fleet of a scenario and what is checked of it once it has converged: the fleet file and
//! the accounts the emulator serves (the fleet's, and some it does not list), and per account
//! the ledger against that account's state.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pai_emulator::{AccountConfig, Ledger, RoleConfig};
use pai_spec::fleet::Fleet;
use pai_state::{FleetStates, StateLocation, Store};

use crate::checks;
use crate::support::{self, Accounting, StateRow, Want};
use crate::tally::{count_history, Tally};

/// The role every account of the fleet trusts the home account to assume.
pub const ROLE: &str = "pai-provision";
/// Accounts with a tag of this name are the canary of `--canary tag:canary`.
pub const CANARY_TAG: &str = "canary";
const CANARY_ACCOUNTS: usize = 3;
/// Accounts the emulator serves (with the same role, trusting the same caller) that the fleet
/// file does not list: the pipeline must never act there.
pub const OUTSIDERS: [&str; 2] = ["3000000000000001", "3000000000000002"];

/// The id of the `i`-th account (0-based): 16 digits.
fn account_id(i: usize) -> String {
    format!("{}", 2_000_000_000_000_001u64 + i as u64)
}

/// A fleet of `accounts` accounts in cn-hangzhou and cn-shanghai sharing `manifest.toml`, the
/// first few tagged as the canary.
pub fn fleet_file(accounts: usize) -> String {
    let mut text = String::from(
        "[fleet]\nmanifest = \"manifest.toml\"\nrole = \"pai-provision\"\nregions = [\"cn-hangzhou\", \"cn-shanghai\"]\n",
    );
    for i in 0..accounts {
        text.push_str(&format!("\n[accounts.team-{:03}]\nid = \"{}\"\n", i + 1, account_id(i)));
        if i < CANARY_ACCOUNTS {
            text.push_str(&format!("tags = [\"{CANARY_TAG}\"]\n"));
        }
    }
    text
}

/// Reads the fleet file back as the binary does.
pub fn load(path: &Path) -> Result<Fleet, String> {
    pai_spec::fleet::load_fleet(path)
        .map(|loaded| loaded.fleet)
        .map_err(|e| format!("the campaign's fleet file: {e}"))
}

/// Every account the emulator serves: the fleet's, each with its role trusting the home
/// account, and the [`OUTSIDERS`], with the same role.
pub fn emulator_accounts(fleet: &Fleet) -> Vec<AccountConfig> {
    let mut accounts = pai_emulator::accounts_for_fleet(fleet, pai_emulator::DEFAULT_HOME_ACCOUNT);
    for (i, id) in OUTSIDERS.iter().enumerate() {
        accounts.push(AccountConfig {
            roles: vec![RoleConfig::new(ROLE, &[pai_emulator::DEFAULT_HOME_ACCOUNT])],
            ..AccountConfig::new(*id, format!("outsider-{i}"))
        });
    }
    accounts
}

/// Where the fleet's states are: `--state` as the campaign passes it.
pub fn states(state: &Path) -> Result<FleetStates, String> {
    let text = state.display().to_string();
    let location = StateLocation::parse(&text, &|_| None).map_err(|e| format!("the states {text}: {e}"))?;
    FleetStates::new(location).map_err(|e| format!("the states {text}: {e}"))
}

/// One account's state as the ledger checks read it: its rows, and each row's product ids.
struct AccountState {
    rows: Vec<StateRow>,
    product_ids: Vec<(String, Vec<String>)>,
    history: pai_state::History,
}

fn read_state(states: &FleetStates, id: &str) -> Result<AccountState, String> {
    let location = states.account(id).map_err(|e| e.to_string())?;
    let store = Store::open_read_only(location.clone()).map_err(|e| format!("cannot open {location}: {e}"))?;
    let snapshot = store.snapshot().map_err(|e| format!("cannot read {location}: {e}"))?;
    let history = store
        .history(None)
        .map_err(|e| format!("cannot read the history of {location}: {e}"))?;
    let rows = snapshot
        .resources
        .values()
        .map(|r| StateRow {
            address: r.address.to_string(),
            region: r.region.to_string(),
            product_code: r.product_code.as_str().to_owned(),
            status: r.status.as_str().to_owned(),
            order_id: r.order_id.clone(),
        })
        .collect();
    let product_ids = snapshot
        .resources
        .values()
        .map(|r| (r.address.to_string(), r.product_ids.clone()))
        .collect();
    Ok(AccountState {
        rows,
        product_ids,
        history,
    })
}

/// Everything wrong with "every account of the fleet holds exactly one order per wanted product,
/// its state agrees with its ledger, and no account outside the fleet was touched"; counts what
/// each account's history and ledger show into `tally` on the way.
pub fn problems(
    fleet: &Fleet,
    states: &FleetStates,
    accounting: Accounting,
    ledger: &Ledger,
    wanted: &[Want],
    tally: &mut Tally,
) -> Vec<String> {
    let mut problems = Vec::new();
    let ids: BTreeSet<&str> = fleet.accounts().map(|a| a.id.as_str()).collect();
    for account in ledger.accounts() {
        if !ids.contains(account) {
            let own = ledger.of_account(account);
            problems.push(format!(
                "account {account} is not in the fleet file, yet the ledger has {} order(s) and {} refusal(s) in it",
                own.orders.len(),
                own.refusals.len()
            ));
        }
    }
    for account in fleet.accounts() {
        let id = account.id.as_str();
        let own = ledger.of_account(id);
        let named = |p: String| format!("{} ({id}): {p}", account.name);
        let state = match read_state(states, id) {
            Ok(state) => state,
            Err(why) => {
                problems.push(named(why));
                continue;
            }
        };
        let found = support::exactly_once_problems_under(accounting, &own, wanted, &state.rows);
        let recorded: Vec<(&str, &[String])> = state
            .product_ids
            .iter()
            .map(|(address, ids)| (address.as_str(), ids.as_slice()))
            .collect();
        let ids_found = checks::product_id_problems_of(accounting, &own, wanted, &recorded);
        if !found.is_empty() || !ids_found.is_empty() {
            problems.extend(found.into_iter().chain(ids_found).map(named));
            problems.push(named(format!(
                "ledger: {}\n    state: {:?}",
                serde_json::to_string(&own.orders).unwrap_or_default(),
                state.rows
            )));
        }
        count_history(&state.history, tally);
        tally.lost += support::unrecorded_orders(&own, &state.rows) as u64;
        tally.orders += own.orders.len() as u64;
        tally.products += own.orders.iter().map(|o| o.product_codes.len() as u64).sum::<u64>();
        tally.duplicates += support::duplicates_under(accounting, &own) as u64;
        tally.repeats_refused += own.refusals.iter().filter(|r| r.code == "ORDER.OPEND").count() as u64;
        tally.refused_elsewhere += support::refused_as_bought_elsewhere(accounting, &own) as u64;
    }
    problems
}

/// Every file under `dir` (states, plans, the binary's output, the ledger), recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// No file the scenario left holds the base secret key, and none the binary wrote holds an STS
/// security token (`CAIS` and 300 letters and digits, as the emulator issues them): the
/// account states, the plans and every command's output included.
pub fn secret_leaks(dir: &Path, ledger: &Path) -> Vec<String> {
    let secret = support::ACCESS_KEY_SECRET.as_bytes();
    let mut leaks = Vec::new();
    for path in files_under(dir) {
        let Ok(bytes) = std::fs::read(&path) else {
            leaks.push(format!("cannot read {}", path.display()));
            continue;
        };
        if bytes.windows(secret.len()).any(|w| w == secret) {
            leaks.push(format!("the secret key is in {}", path.display()));
        }
        if path != ledger && holds_security_token(&bytes) {
            leaks.push(format!("a security token is in {}", path.display()));
        }
    }
    leaks
}

fn holds_security_token(bytes: &[u8]) -> bool {
    const RUN: usize = 64;
    bytes.windows(4).enumerate().any(|(at, w)| {
        w == b"CAIS"
            && bytes[at + 4..]
                .iter()
                .take(RUN)
                .filter(|b| b.is_ascii_alphanumeric())
                .count()
                == RUN
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_security_token_is_found_and_its_prefix_alone_is_not() {
        let token = format!("x CAIS{} y", "a1".repeat(150));
        assert!(holds_security_token(token.as_bytes()));
        assert!(!holds_security_token(b"CAISSON is a word; CAIS"));
    }

    #[test]
    fn the_fleet_file_lists_each_account_once_with_the_canary_tagged() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("manifest.toml"), "").expect("write");
        let path = support::write(dir.path(), "fleet.toml", fleet_file(50));
        let fleet = load(&path).expect("the fleet file is valid");
        assert_eq!(fleet.accounts().count(), 50);
        assert_eq!(fleet.accounts_tagged(CANARY_TAG).count(), CANARY_ACCOUNTS);
        let served = emulator_accounts(&fleet);
        assert_eq!(served.len(), 52);
        assert!(OUTSIDERS.iter().all(|o| fleet.account(o).is_err()));
    }
}
