//! The executor's edges that send nothing: a run interrupted before it ordered (`Cancel`), and
//! a run on a state that does not exist yet whose check before ordering was refused
//! (`Executor::without_run`). Against a real emulator (which verifies signatures) and a real
//! SQLite state in a temporary directory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_apply::executor::Silent;
use pai_apply::{
    Cancel, Client, ClientConfig, Credentials, EndpointResolver, Executor, ExecutorConfig, ListProductsStatus,
    ProductOutcome, RetryPolicy, StaticCredentials,
};
use pai_emulator::Emulator;
use pai_planner::{wanted, Plan};
use pai_state::StateWriter;
use pai_testkit::emulator::{config_with_ledger, spawn};
use pai_testkit::fixtures::{hangzhou, pai_and_oss_manifest};

const AK: &str = "LTAI-executor-cancel";
const SECRET: &str = "executor-cancel-secret";

fn client(emu: &Emulator, secret: &str) -> Client {
    let config = ClientConfig {
        endpoint: EndpointResolver::new(None, emu.endpoints()),
        read_timeout: Duration::from_secs(5),
        retry: RetryPolicy::never(),
        ..ClientConfig::default()
    };
    Client::new(
        config,
        Arc::new(StaticCredentials::new(Credentials::new(AK, secret.to_owned()))),
    )
    .expect("client")
}

/// The emulator, and a plan of PAI and OSS in cn-hangzhou against an empty state, refreshed
/// (`refreshed`) or not.
async fn setup(dir: &std::path::Path, refreshed: bool) -> (Emulator, Plan) {
    let emu = spawn(config_with_ledger(&[hangzhou()], AK, SECRET, &dir.join("ledger.json")));
    let endpoint = emu.endpoints().get(&hangzhou()).cloned().expect("an endpoint");
    let manifest = pai_and_oss_manifest(&endpoint);
    let snapshot = pai_state::StateSnapshot::default();
    let observed = if refreshed {
        let status = ListProductsStatus::new(client(&emu, SECRET));
        Some(
            status
                .observe_async(&wanted(&manifest, &snapshot))
                .await
                .expect("ListProducts"),
        )
    } else {
        None
    };
    let plan = Plan::build(
        &manifest,
        "pai-provision.toml",
        &snapshot,
        observed.as_ref(),
        &|region| manifest.endpoint_for(region),
        pai_state::clock::now_utc(),
    );
    (emu, plan)
}

fn config() -> ExecutorConfig {
    ExecutorConfig {
        settle: Duration::from_secs(10),
        ..ExecutorConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_before_ordering_sends_nothing_and_says_so() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (emu, plan) = setup(dir.path(), true).await;
    let state = dir.path().join("state.db");
    let mut writer = StateWriter::open(&state, "apply", Duration::from_secs(5)).expect("the state");
    let run = writer.begin_run("apply").expect("begin");
    let writer = Arc::new(Mutex::new(writer));
    let cancel = Cancel::new();
    cancel.cancel();
    let executor = Executor::new(
        client(&emu, SECRET),
        Arc::clone(&writer),
        run,
        config(),
        Arc::new(Silent),
    )
    .expect("executor")
    .with_cancel(cancel);
    let report = executor.apply(&plan).await.expect("applied");

    assert!(!report.is_success());
    let outcomes: Vec<_> = report.regions.iter().flat_map(|r| r.products.clone()).collect();
    assert_eq!(outcomes.len(), 2, "{report:?}");
    for (address, outcome) in outcomes {
        assert!(
            matches!(&outcome, ProductOutcome::NotSent { error } if error.contains("interrupted")),
            "{address}: {outcome:?}"
        );
    }
    assert!(emu.ledger().orders.is_empty());
    let rows = writer.lock().expect("writer").snapshot().expect("snapshot").resources;
    assert!(
        rows.is_empty(),
        "nothing pending after an interruption before ordering: {rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_check_on_a_new_state_records_nothing_and_creates_no_state() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Unrefreshed: the executor asks ListProducts first, with a secret the emulator refuses.
    let (emu, plan) = setup(dir.path(), false).await;
    let state = dir.path().join("state.db");
    let writer = StateWriter::open(&state, "apply", Duration::from_secs(5)).expect("the state");
    assert!(!writer.exists());
    let writer = Arc::new(Mutex::new(writer));
    let executor = Executor::without_run(
        client(&emu, "not-the-secret"),
        Arc::clone(&writer),
        "apply",
        Vec::new(),
        config(),
        Arc::new(Silent),
    )
    .expect("executor");
    let report = executor.apply(&plan).await.expect("applied");

    for (address, outcome) in report.regions.iter().flat_map(|r| r.products.clone()) {
        assert!(
            matches!(&outcome, ProductOutcome::NotSent { error } if error.contains("check before ordering")),
            "{address}: {outcome:?}"
        );
    }
    assert_eq!(executor.run_id(), None, "no run was begun");
    drop(executor);
    drop(writer);
    assert!(!state.exists(), "the state was created by a run that recorded nothing");
    assert!(emu.ledger().orders.is_empty());
}
