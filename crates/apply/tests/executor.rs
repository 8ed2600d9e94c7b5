//! The executor against a real emulator over HTTP, with faults, and a real SQLite state in a
//! temporary directory: one test per case of `docs/idempotency.md`. Each checks the emulator's
//! ledger (what was bought), the state's rows and the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_apply::executor::Silent;
use pai_apply::{
    await_interrupted, ApplyReport, Client, ClientConfig, Credentials, EndpointResolver, ExecError, Executor,
    ExecutorConfig, ListProductsStatus, ProductOutcome, RetryPolicy, StaticCredentials,
};
use pai_emulator::{Emulator, Faults, Ledger, Realism};
use pai_planner::{wanted, Action, Plan};
use pai_spec::{Manifest, OrderBody, ProductCode, Region};
use pai_state::{EventKind, StateWriter, Status};
use pai_testkit::emulator::{config_with_ledger, spawn};
use pai_testkit::fixtures::{hangzhou, oss_order, pai_and_oss_manifest, pai_manifest_with, pai_order, shanghai};

const AK: &str = "LTAI-executor-test";
const SECRET: &str = "executor-test-secret";

/// A temporary directory with the state file and the emulator's ledger file.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        Work {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    fn ledger_path(&self) -> PathBuf {
        self.dir.path().join("ledger.json")
    }

    /// An emulator for cn-hangzhou with `faults`, keeping its ledger in this directory (a later
    /// emulator of the same directory sees the orders of an earlier one).
    fn emulator(&self, faults: &str) -> Emulator {
        self.seeded_emulator(faults, 0)
    }

    fn seeded_emulator(&self, faults: &str, seed: u64) -> Emulator {
        let mut config = config_with_ledger(&[hangzhou()], AK, SECRET, &self.ledger_path());
        config.faults = faults.parse::<Faults>().expect("faults");
        config.seed = seed;
        spawn(config)
    }

    /// An emulator for cn-hangzhou and cn-shanghai as unkind as `realism` (docs/emulator.md,
    /// "Realism"), keeping its ledger in this directory.
    fn realistic_emulator(&self, realism: &str) -> Emulator {
        let mut config = config_with_ledger(&[hangzhou(), shanghai()], AK, SECRET, &self.ledger_path());
        config.realism = realism.parse::<Realism>().expect("realism");
        spawn(config)
    }

    fn writer(&self) -> StateWriter {
        StateWriter::open(self.state(), "apply", Duration::from_secs(5)).expect("the state")
    }
}

fn endpoint(emu: &Emulator) -> String {
    emu.endpoints()
        .get(&hangzhou())
        .cloned()
        .expect("a cn-hangzhou endpoint")
}

/// PAI and OSS in cn-hangzhou: one order of two products.
fn manifest(emu: &Emulator) -> Manifest {
    pai_and_oss_manifest(&endpoint(emu))
}

/// PAI and the product `second` declares (a `[products.NAME]` table) in cn-hangzhou.
fn manifest_with(emu: &Emulator, second: &str) -> Manifest {
    pai_manifest_with(&endpoint(emu), second)
}

fn client(emu: &Emulator, read_timeout: Duration, credentials: Credentials) -> Client {
    let config = ClientConfig {
        endpoint: EndpointResolver::new(None, emu.endpoints()),
        connect_timeout: Duration::from_secs(2),
        read_timeout,
        retry: RetryPolicy {
            max_elapsed: Duration::from_millis(300),
            base: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        },
        ..ClientConfig::default()
    };
    Client::new(config, Arc::new(StaticCredentials::new(credentials))).expect("client")
}

/// A state, an emulator with `faults`, the manifest for it and a client with good credentials.
fn start(faults: &str, read_timeout: Duration) -> (Work, Emulator, Manifest, Client) {
    let work = Work::new();
    let emu = work.emulator(faults);
    let manifest = manifest(&emu);
    let client = client_for(&emu, read_timeout);
    (work, emu, manifest, client)
}

/// What someone does in the console behind pai-provision's back: orders the plan's products.
async fn buy_in_the_console(client: &Client, plan: &Plan) {
    client
        .create_product_orders(&hangzhou(), &plan.orders[0].body)
        .await
        .expect("bought in the console");
}

fn good_credentials() -> Credentials {
    Credentials::new(AK, SECRET.to_owned())
}

/// A plan for the manifest against the current state: refreshed through `client`, or blind.
async fn plan(work: &Work, manifest: &Manifest, refresh_with: Option<&Client>) -> Plan {
    let snapshot = work.writer().snapshot().expect("snapshot");
    let observed = match refresh_with {
        Some(client) => Some(
            ListProductsStatus::new(client.clone())
                .observe_async(&wanted(manifest, &snapshot))
                .await
                .expect("ListProducts"),
        ),
        None => None,
    };
    Plan::build(
        manifest,
        "pai.toml",
        &snapshot,
        observed.as_ref(),
        &|region| manifest.endpoint_for(region),
        pai_state::clock::now_utc(),
    )
}

/// Runs `plan` in a run of its own, as `apply` does; the report and the state afterwards.
async fn apply(work: &Work, client: Client, settle: Duration, plan: &Plan) -> Result<ApplyReport, ExecError> {
    let mut writer = work.writer();
    let run = writer.begin_run("apply").expect("begin");
    let writer = Arc::new(Mutex::new(writer));
    let config = ExecutorConfig {
        check_before_order: !plan.refreshed,
        settle,
        ..ExecutorConfig::default()
    };
    let executor = Executor::new(client, Arc::clone(&writer), run, config, Arc::new(Silent))?;
    executor.apply(plan).await
}

fn statuses(state: &Path) -> BTreeMap<String, Status> {
    StateWriter::open(state, "check", Duration::from_secs(5))
        .expect("the state")
        .snapshot()
        .expect("snapshot")
        .resources
        .into_iter()
        .map(|(a, r)| (a.to_string(), r.status))
        .collect()
}

fn outcomes(report: &ApplyReport) -> Vec<(String, ProductOutcome)> {
    report
        .regions
        .iter()
        .flat_map(|r| r.products.iter().map(|(a, o)| (a.to_string(), o.clone())))
        .collect()
}

fn assert_bought_once(ledger: &Ledger) {
    for code in [ProductCode::Pai, ProductCode::Oss] {
        assert!(ledger.is_purchased(&hangzhou(), code), "{code:?} bought");
        assert_eq!(
            ledger.order_count(&hangzhou(), code),
            1,
            "{code:?} ordered exactly once"
        );
    }
}

fn both(status: Status) -> BTreeMap<String, Status> {
    [("oss".to_owned(), status), ("pai".to_owned(), status)].into()
}

/// Step 5 to 7, no fault: intent, one send, the outcome recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_ok_is_recorded_active_after_its_intent() {
    let (work, emu, manifest, client) = start("none", Duration::from_secs(5));
    let plan = plan(&work, &manifest, Some(&client)).await;
    let report = apply(&work, client, Duration::from_secs(10), &plan)
        .await
        .expect("applied");

    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.ordered(), 2);
    assert_eq!(report.order_requests(), 1, "{report:?}");
    assert_bought_once(&emu.ledger());
    assert_eq!(emu.ledger().orders.len(), 1, "one order for the region");
    assert_eq!(statuses(&work.state()), both(Status::Active));
    let history = work.writer().history(None).expect("history");
    let position = |kind: EventKind, action: &str| {
        history
            .events
            .iter()
            .position(|e| e.kind == kind && e.action == action)
            .unwrap_or_else(|| panic!("no {action} in {:?}", history.events))
    };
    assert!(
        position(EventKind::State, "pending") < position(EventKind::Api, "CreateProductOrders"),
        "the intent is durable before the order"
    );
    // Each row its own product id, not the whole order's list.
    let ledger = emu.ledger();
    let ids = product_ids(&work.state());
    assert_eq!(ids["pai"], [purchased_id(&ledger, &hangzhou(), ProductCode::Pai)]);
    assert_eq!(ids["oss"], [purchased_id(&ledger, &hangzhou(), ProductCode::Oss)]);
}

/// Step 7: the order is placed and its response lost; `ListProducts` reports it purchased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_lost_is_resolved_by_list_products_without_a_second_order() {
    let (work, emu, manifest, client) = start("drop_after_commit=1", Duration::from_secs(5));
    let plan = plan(&work, &manifest, Some(&client)).await;
    let report = apply(&work, client, Duration::from_secs(10), &plan)
        .await
        .expect("applied");

    assert!(report.is_success(), "{report:?}");
    for (address, outcome) in outcomes(&report) {
        assert!(
            // Bought by this run: its order went out, and only the answer was lost.
            matches!(
                &outcome,
                ProductOutcome::Ordered {
                    answer_lost: true,
                    order_id: None,
                    ..
                }
            ),
            "{address}: {outcome:?}"
        );
    }
    assert_bought_once(&emu.ledger());
    assert_eq!(statuses(&work.state()), both(Status::Active));
}

/// Step 7: the client gives up at its timeout while the service still carries the order out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_then_landed_late_is_recorded_not_reordered() {
    let (work, emu, manifest, client) = start("slow_after_commit=1,slow_ms=3000", Duration::from_millis(300));
    let plan = plan(&work, &manifest, Some(&client)).await;
    let report = apply(&work, client, Duration::from_millis(300), &plan)
        .await
        .expect("applied");

    assert!(report.is_success(), "{report:?}");
    // The answer came too late, and ListProducts confirms the order: this run bought both.
    assert_eq!(report.ordered(), 2, "{report:?}");
    assert_eq!(report.order_requests(), 1, "{report:?}");
    assert_bought_once(&emu.ledger());
    assert_eq!(statuses(&work.state()), both(Status::Active));
}

/// Step 6 and 7, then step 2 of the next run: HTTP 5xx before anything was recorded, and
/// `ListProducts` unreachable too. The rows stay `pending`; the next run waits out the settle
/// time, asks, and orders exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_before_commit_leaves_pending_and_the_next_run_orders_once() {
    let settle = Duration::from_millis(300);
    let (work, failing, manifest, client) = start("error_500=1", settle);
    let first = plan(&work, &manifest, None).await;
    // Blind, so apply would ask first; ListProducts fails, and nothing is ordered.
    let report = apply(&work, client.clone(), settle, &first).await.expect("applied");
    assert!(!report.is_success());
    assert!(
        emu_orders(&failing).is_empty(),
        "nothing ordered without the cloud's word"
    );

    // Now with the check skipped, as a refreshed plan would: the order itself meets the 500.
    let mut unchecked = first.clone();
    unchecked.refreshed = true;
    let report = apply(&work, client, settle, &unchecked).await.expect("applied");
    for (address, outcome) in outcomes(&report) {
        assert!(
            matches!(outcome, ProductOutcome::Unknown { .. }),
            "{address}: {outcome:?}"
        );
    }
    assert_eq!(statuses(&work.state()), both(Status::Pending));
    assert!(
        emu_orders(&failing).is_empty(),
        "the 500 came before anything was recorded"
    );
    failing.shutdown().await;

    let healthy = work.emulator("none");
    let manifest = self::manifest(&healthy);
    let client = client_for(&healthy, settle);
    let snapshot = work.writer().snapshot().expect("snapshot");
    // The rows were sent moments ago; how long is left of their settle time depends on how fast
    // this machine got here, so only the outcome is checked.
    await_interrupted(&snapshot, settle).await;
    let next = plan(&work, &manifest, None).await;
    assert!(next.changes.iter().all(|c| c.resolve_first), "{:?}", next.changes);
    let report = apply(&work, client, settle, &next).await.expect("applied");
    assert!(report.is_success(), "{report:?}");
    assert_bought_once(&healthy.ledger());
    assert_eq!(statuses(&work.state()), both(Status::Active));
}

/// Step 7: HTTP 5xx before the order was recorded, and `ListProducts` answering. Its first "not
/// purchased" may predate an order still on its way: the executor waits out the settle time,
/// asks again, and only then orders again, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_then_not_purchased_waits_the_settle_time_and_orders_again_once() {
    // With this seed the first request (the order) meets the 500 and the next ones do not.
    let seed = 2;
    let work = Work::new();
    let settle = Duration::from_millis(300);
    let emu = work.seeded_emulator("error_500=0.5", seed);
    let manifest = manifest(&emu);
    let client = client_for(&emu, settle);
    let mut plan = plan(&work, &manifest, None).await;
    plan.refreshed = true;
    let report = apply(&work, client, settle, &plan).await.expect("applied");

    let history = work.writer().history(None).expect("history");
    let orders: Vec<&str> = history
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Api && e.action == "CreateProductOrders")
        .map(|e| e.outcome.as_deref().unwrap_or("?"))
        .collect();
    assert_eq!(orders, ["ambiguous", "ok"], "{:?}", history.events);
    let lists = history
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Api && e.action == "ListProducts")
        .count();
    assert_eq!(lists, 2, "asked, waited, asked again: {:?}", history.events);
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.ordered(), 2);
    assert_eq!(
        report.order_requests(),
        2,
        "the order in doubt and the one sent again: {report:?}"
    );
    assert_bought_once(&emu.ledger());
    assert_eq!(statuses(&work.state()), both(Status::Active));
}

/// Issue 21, defect 15: orders whose outcome stays unknown (a 500 each time, while ListProducts
/// answers "not purchased") are not "failed": the rows stay `pending`, the report says the
/// outcome is unknown after that many orders and that the next run resolves it, and the
/// history numbers each order, not "try 1" for every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_whose_outcome_stays_unknown_are_reported_unknown_not_failed() {
    let settle = Duration::from_millis(200);
    let (work, emu, manifest, client) = start("order_error_500=1", settle);
    let mut plan = plan(&work, &manifest, None).await;
    plan.refreshed = true;
    let report = apply(&work, client, settle, &plan).await.expect("applied");

    assert!(!report.is_success());
    assert!(report.is_unresolved(), "nothing was refused: {report:?}");
    let attempts = ExecutorConfig::default().max_order_attempts;
    for (address, outcome) in outcomes(&report) {
        assert!(
            matches!(&outcome, ProductOutcome::Unknown { error }
                if error.contains(&format!("outcome unknown after {attempts} orders"))
                    && error.contains("the next run resolves it")),
            "{address}: {outcome:?}"
        );
    }
    assert_eq!(statuses(&work.state()), both(Status::Pending));
    assert!(emu_orders(&emu).is_empty(), "the 500 came before anything was recorded");

    let history = work.writer().history(None).expect("history");
    let sends: Vec<String> = history
        .events
        .iter()
        .filter(|e| e.action == "sending" && e.addresses.iter().any(|a| a == "pai"))
        .filter_map(|e| e.message.clone())
        .collect();
    assert_eq!(sends.len() as u32, attempts, "{sends:?}");
    for (n, message) in sends.iter().enumerate() {
        assert!(message.contains(&format!("order {} of this run", n + 1)), "{message}");
    }
}

/// A throttled order is retried by the client (nothing was bought): the report counts every
/// request, as the state's notes of them do, though one order was placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_request_sent_is_counted_retries_included() {
    // With this seed the first three requests (the order and two retries) are throttled and
    // the fourth is not.
    let seed = 2;
    let work = Work::new();
    let emu = work.seeded_emulator("throttle=0.5", seed);
    let manifest = manifest(&emu);
    // Room for the throttled answer's `Retry-After` (a second), which the usual client lacks.
    let config = ClientConfig {
        endpoint: EndpointResolver::new(None, emu.endpoints()),
        read_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_elapsed: Duration::from_secs(30),
            base: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        },
        ..ClientConfig::default()
    };
    let client = Client::new(config, Arc::new(StaticCredentials::new(good_credentials()))).expect("client");
    let mut plan = plan(&work, &manifest, None).await;
    plan.refreshed = true;
    let report = apply(&work, client, Duration::from_secs(10), &plan)
        .await
        .expect("applied");

    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.ordered(), 2);
    assert_bought_once(&emu.ledger());
    let history = work.writer().history(None).expect("history");
    // One `sending` note per product per request; both products go in one request.
    let notes = history
        .events
        .iter()
        .filter(|e| e.kind == EventKind::State && e.action == "sending")
        .count();
    assert_eq!(report.order_requests() as usize * 2, notes, "{:?}", history.events);
    assert_eq!(
        report.order_requests(),
        4,
        "three throttled requests and the one that was answered: {report:?}"
    );
}

/// Step 2: a killed run's order did land; the next run records it instead of ordering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_pending_rows_that_landed_are_resolved() {
    let settle = Duration::from_millis(300);
    let (work, emu, manifest, client) = start("none", settle);
    // The killed run: its intent and send are recorded, the order reached the cloud, and the
    // process died before it read the answer.
    let blind = plan(&work, &manifest, None).await;
    {
        let mut writer = work.writer();
        let run = writer.begin_run("apply").expect("begin");
        let products: Vec<_> = manifest.products.values().collect();
        writer.put_pending(run, &products).expect("intent");
        let addresses: Vec<_> = products.iter().map(|p| p.address.clone()).collect();
        writer
            .note_sending(run, &addresses, pai_state::Attempt::FIRST, settle)
            .expect("send noted");
        client
            .create_product_orders(&hangzhou(), &blind.orders[0].body)
            .await
            .expect("the killed run's order");
    }
    let snapshot = work.writer().snapshot().expect("snapshot");
    await_interrupted(&snapshot, settle).await;
    let refreshed = plan(&work, &manifest, Some(&client)).await;
    assert!(
        refreshed.changes.iter().all(|c| c.action == Action::Adopt),
        "{:?}",
        refreshed.changes
    );
    let report = apply(&work, client, settle, &refreshed).await.expect("applied");

    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.adopted.len(), 2);
    assert_bought_once(&emu.ledger());
    assert_eq!(statuses(&work.state()), both(Status::Active));
}

/// Adopt: bought in the console, not in the state; recorded, not ordered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchased_elsewhere_is_adopted() {
    let (work, emu, manifest, client) = start("none", Duration::from_secs(5));
    let blind = plan(&work, &manifest, None).await;
    buy_in_the_console(&client, &blind).await;
    let refreshed = plan(&work, &manifest, Some(&client)).await;
    let report = apply(&work, client, Duration::from_secs(10), &refreshed)
        .await
        .expect("applied");

    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.ordered(), 0);
    assert_eq!(report.adopted.len(), 2);
    assert_bought_once(&emu.ledger());
    assert_eq!(statuses(&work.state()), both(Status::Active));
}

/// A saved plan applied after the products were bought in the console: the check before
/// ordering records them instead (the one exception to "as saved", and it only spends less).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_records_what_was_bought_since_instead_of_ordering() {
    let (work, emu, manifest, client) = start("none", Duration::from_secs(5));
    let saved = plan(&work, &manifest, None).await;
    buy_in_the_console(&client, &saved).await;
    let report = apply(&work, client, Duration::from_secs(10), &saved)
        .await
        .expect("applied");

    assert!(report.is_success(), "{report:?}");
    for (address, outcome) in outcomes(&report) {
        assert!(
            matches!(&outcome, ProductOutcome::Recorded { why } if why == "already purchased"),
            "{address}: {outcome:?}"
        );
    }
    assert_bought_once(&emu.ledger());
}

/// Step 6, a permanent failure (the API refuses the signature): nothing bought, rows `failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_rejection_is_recorded_failed() {
    let (work, emu, manifest, good) = start("none", Duration::from_secs(5));
    let plan = plan(&work, &manifest, Some(&good)).await;
    let bad = client(
        &emu,
        Duration::from_secs(5),
        Credentials::new(AK, "not-the-secret".to_owned()),
    );
    let report = apply(&work, bad, Duration::from_secs(10), &plan)
        .await
        .expect("applied");

    assert!(!report.is_success());
    for (address, outcome) in outcomes(&report) {
        assert!(
            matches!(outcome, ProductOutcome::Failed { .. }),
            "{address}: {outcome:?}"
        );
    }
    assert!(emu_orders(&emu).is_empty());
    assert_eq!(statuses(&work.state()), both(Status::Failed));
}

/// What makes a "not purchased" trustworthy is checked by the executor itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_time_shorter_than_the_timeout_is_refused() {
    let (work, emu, manifest, client) = start("none", Duration::from_secs(5));
    let plan = plan(&work, &manifest, None).await;
    let err = apply(&work, client, Duration::from_secs(4), &plan)
        .await
        .expect_err("refused");
    assert!(matches!(err, ExecError::UnsafeSettle { .. }), "{err}");
    assert!(emu_orders(&emu).is_empty());
    assert!(statuses(&work.state()).is_empty());
}

/// The reviewed body is the one sent: a plan whose body says otherwise is refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_whose_body_differs_from_its_changes_is_refused() {
    let (work, emu, manifest, client) = start("none", Duration::from_secs(5));
    let mut plan = plan(&work, &manifest, Some(&client)).await;
    plan.orders[0].body.products[0].duration += 1;
    let err = apply(&work, client, Duration::from_secs(10), &plan)
        .await
        .expect_err("refused");
    assert!(matches!(err, ExecError::BodyMismatch { .. }), "{err}");
    assert!(emu_orders(&emu).is_empty());
    assert!(statuses(&work.state()).is_empty());
}

/// A state, an emulator as unkind as `realism`, the PAI and OSS manifest, and a client whose
/// timeout is `settle` (the shortest settle time the executor accepts).
fn start_realistic(realism: &str, settle: Duration) -> (Work, Emulator, Manifest, Client) {
    let work = Work::new();
    let emu = work.realistic_emulator(realism);
    let manifest = manifest(&emu);
    let client = client_for(&emu, settle);
    (work, emu, manifest, client)
}

/// The state's product ids of each row.
fn product_ids(state: &Path) -> BTreeMap<String, Vec<String>> {
    StateWriter::open(state, "check", Duration::from_secs(5))
        .expect("the state")
        .snapshot()
        .expect("snapshot")
        .resources
        .into_iter()
        .map(|(a, r)| (a.to_string(), r.product_ids))
        .collect()
}

/// The ledger's product id of `code` in `region`.
fn purchased_id(ledger: &Ledger, region: &pai_spec::Region, code: ProductCode) -> String {
    ledger
        .purchased
        .iter()
        .find(|p| &p.region == region && p.product_code == code)
        .map(|p| p.product_id.clone())
        .unwrap_or_else(|| panic!("{code:?} purchased in {region}"))
}

/// A refused order's products that were not open: ordered once more, in one new order holding
/// only them; the open one recorded with the id the cloud reports, each row with its own id.
fn assert_open_one_recorded_rest_ordered_once(work: &Work, emu: &Emulator, report: &ApplyReport, open: &str) {
    let ledger = emu.ledger();
    assert!(report.is_success(), "{report:?}");
    assert_eq!(ledger.refusals.len(), 1, "one refused order: {:?}", ledger.refusals);
    let ours: Vec<_> = ledger.orders.iter().skip(1).collect();
    let (open_code, other_code, other) = if open == "pai" {
        (ProductCode::Pai, ProductCode::Oss, "oss")
    } else {
        (ProductCode::Oss, ProductCode::Pai, "pai")
    };
    assert_eq!(ours.len(), 1, "exactly one new order: {:?}", ledger.orders);
    assert_eq!(ours[0].product_codes, [other_code], "holding only the others");
    for (address, outcome) in outcomes(report) {
        if address == open {
            assert!(
                matches!(&outcome, ProductOutcome::Recorded { why } if why.contains("already open")),
                "{address}: {outcome:?}"
            );
        } else {
            assert!(
                matches!(outcome, ProductOutcome::Ordered { .. }),
                "{address}: {outcome:?}"
            );
        }
    }
    assert_eq!(statuses(&work.state()), both(Status::Active));
    let ids = product_ids(&work.state());
    let open_region = ledger
        .purchased
        .iter()
        .find(|p| p.product_code == open_code)
        .map(|p| p.region.clone())
        .expect("the open product");
    assert_eq!(ids[open], [purchased_id(&ledger, &open_region, open_code)]);
    assert_eq!(ids[other], [purchased_id(&ledger, &hangzhou(), other_code)]);
}

/// Buys `bought` behind the plan's back (the console), then applies the plan against an
/// emulator with `realism`: the service refuses the order as already open.
async fn already_open_scenario(realism: &str, region: Region, bought: OrderBody, open: &str) {
    let settle = Duration::from_millis(300);
    let (work, emu, manifest, client) = start_realistic(realism, settle);
    let plan = plan(&work, &manifest, Some(&client)).await;
    client
        .create_product_orders(&region, &bought)
        .await
        .expect("bought in the console");
    let report = apply(&work, client, settle, &plan).await.expect("applied");
    assert_open_one_recorded_rest_ordered_once(&work, &emu, &report, open);
}

/// Step 7, "already open": PAI was bought in the console after the plan's refresh, and the
/// service refuses the whole order with `400 ORDER.OPEND`. PAI is recorded, OSS (never tried)
/// ordered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_refused_as_already_open_records_the_open_one_and_orders_the_rest_once() {
    already_open_scenario("repeat=order_opend", hangzhou(), pai_order(), "pai").await;
}

/// The same refusal as a `500` whose message says `您已开通过`: a 5xx, so only `ListProducts`
/// may say what was bought, and a "not purchased" counts only once the settle time has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_already_opened_500_records_the_open_one_and_orders_the_rest_once() {
    already_open_scenario("repeat=already_opened_500", hangzhou(), pai_order(), "pai").await;
}

/// OSS is one purchase per account: bought in cn-shanghai, an order of it in cn-hangzhou is a
/// repeat. It is recorded with the id the cloud reports; PAI is ordered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oss_bought_in_another_region_is_recorded_and_the_rest_ordered_once() {
    already_open_scenario(
        "repeat=order_opend,oss_account_wide=true",
        shanghai(),
        oss_order(),
        "oss",
    )
    .await;
}

/// The refusal says a product is open, but `ListProducts` does not report it yet (the activation
/// delay), even after the settle time: which one is open is unknown, so nothing is ordered
/// again and nothing marked failed. The rows stay `pending` for the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_open_but_not_reported_yet_stays_pending_and_is_not_reordered() {
    let settle = Duration::from_millis(300);
    let (work, emu, manifest, client) = start_realistic("repeat=order_opend,activation_delay_ms=600000", settle);
    let plan = plan(&work, &manifest, Some(&client)).await;
    client
        .create_product_orders(&hangzhou(), &pai_order())
        .await
        .expect("bought in the console");
    let report = apply(&work, client, settle, &plan).await.expect("applied");

    assert!(!report.is_success(), "{report:?}");
    for (address, outcome) in outcomes(&report) {
        assert!(
            matches!(&outcome, ProductOutcome::Unknown { error } if error.contains("already open")),
            "{address}: {outcome:?}"
        );
    }
    assert_eq!(statuses(&work.state()), both(Status::Pending));
    let ledger = emu.ledger();
    assert_eq!(ledger.orders.len(), 1, "only the console's order: {:?}", ledger.orders);
    assert_eq!(ledger.refusals.len(), 1, "{:?}", ledger.refusals);
}

/// A refusal that is not about being open (the account may not buy DataWorks) still marks
/// every row of the order `failed`, and nothing else happens: no question, no order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_not_about_being_open_is_recorded_failed() {
    let work = Work::new();
    let settle = Duration::from_millis(300);
    let emu = work.realistic_emulator("unbuyable=DataWorks_share");
    let manifest = manifest_with(
        &emu,
        "[products.dataworks]\ncode = \"DataWorks_share\"\nproperties.region = \"cn-hangzhou\"\n",
    );
    let client = client_for(&emu, settle);
    let plan = plan(&work, &manifest, Some(&client)).await;
    let report = apply(&work, client, settle, &plan).await.expect("applied");

    assert!(!report.is_success());
    for (address, outcome) in outcomes(&report) {
        assert!(
            matches!(outcome, ProductOutcome::Failed { .. }),
            "{address}: {outcome:?}"
        );
    }
    let failed: BTreeMap<String, Status> = [
        ("dataworks".to_owned(), Status::Failed),
        ("pai".to_owned(), Status::Failed),
    ]
    .into();
    assert_eq!(statuses(&work.state()), failed);
    let ledger = emu.ledger();
    assert!(ledger.orders.is_empty() && ledger.purchased.is_empty());
    assert_eq!(ledger.refusals.len(), 1);
    let history = work.writer().history(None).expect("history");
    let calls: Vec<&str> = history
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Api)
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        calls,
        ["CreateProductOrders"],
        "the order, nothing after: {:?}",
        history.events
    );
}

fn client_for(emu: &Emulator, read_timeout: Duration) -> Client {
    client(emu, read_timeout, good_credentials())
}

fn emu_orders(emu: &Emulator) -> Vec<pai_emulator::Order> {
    emu.ledger().orders
}
