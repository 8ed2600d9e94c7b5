//! The executor's permission skip against a real emulator over HTTP and a real SQLite state: a
//! product whose planned change observed `HasPermissionToPurchase: false` is not sent, and the
//! region's other products are still ordered (in one order without it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_apply::executor::{Silent, CREATE_ORDER_RAM_ACTION};
use pai_apply::{
    Client, ClientConfig, Credentials, EndpointResolver, Executor, ExecutorConfig, ListProductsStatus, ProductOutcome,
    StaticCredentials,
};
use pai_planner::{wanted, Plan};
use pai_spec::ProductCode;
use pai_state::{StateWriter, Status};
use pai_testkit::emulator::{config, spawn};
use pai_testkit::fixtures::{addr, hangzhou};

const AK: &str = "LTAI-permission-test";
const SECRET: &str = "permission-test-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpermitted_product_is_skipped_and_the_others_of_its_region_are_ordered() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let emu = spawn(config(&[hangzhou()], AK, SECRET));
    let url = emu.endpoints().into_values().next().expect("an endpoint");
    let text = format!(
        "[provider]\nregion = \"cn-hangzhou\"\n\n[provider.endpoints]\ncn-hangzhou = \"{url}\"\n\n\
         [products.pai]\ncode = \"PAI_share\"\n\n\
         [products.oss]\ncode = \"OSS_share\"\n\
         properties.commodity_type = {{ value = \"oss\", name = \"Object Storage Service\" }}\n\
         properties.ord_time = {{ value = \"1:Hour\", name = \"1 Hour\" }}\n"
    );
    let manifest = pai_spec::parse(text.as_bytes(), "pai.toml")
        .expect("a valid manifest")
        .manifest;
    let client_config = ClientConfig {
        endpoint: EndpointResolver::new(None, emu.endpoints()),
        ..ClientConfig::default()
    };
    let credentials = Credentials::new(AK, SECRET.to_owned());
    let client = Client::new(client_config, Arc::new(StaticCredentials::new(credentials))).expect("client");

    let state = dir.path().join("state.db");
    let mut writer = StateWriter::open(&state, "apply", Duration::from_secs(5)).expect("the state");
    let snapshot = writer.snapshot().expect("snapshot");
    let observed = ListProductsStatus::new(client.clone())
        .observe_async(&wanted(&manifest, &snapshot))
        .await
        .expect("ListProducts");
    let mut plan = Plan::build(
        &manifest,
        "pai.toml",
        &snapshot,
        Some(&observed),
        &|region| manifest.endpoint_for(region),
        pai_state::clock::now_utc(),
    );
    // The emulator denies per key, all products at once; one product's word is enough here.
    let oss = plan
        .changes
        .iter_mut()
        .find(|c| c.address == addr("oss"))
        .expect("oss is planned");
    oss.observed.as_mut().expect("observed").has_permission = Some(false);

    let run = writer.begin_run("apply").expect("begin");
    let writer = Arc::new(Mutex::new(writer));
    let config = ExecutorConfig {
        settle: client.config().read_timeout,
        ..ExecutorConfig::default()
    };
    let executor = Executor::new(client, Arc::clone(&writer), run, config, Arc::new(Silent)).expect("executor");
    let report = executor.apply(&plan).await.expect("apply");

    assert!(!report.is_success(), "a skipped product is not a success");
    let outcomes: Vec<(String, ProductOutcome)> = report
        .regions
        .iter()
        .flat_map(|r| r.products.iter().map(|(a, o)| (a.to_string(), o.clone())))
        .collect();
    assert!(
        outcomes.contains(&(
            "oss".into(),
            ProductOutcome::NotPermitted {
                action: CREATE_ORDER_RAM_ACTION.into()
            }
        )),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|(a, o)| a == "pai" && matches!(o, ProductOutcome::Ordered { .. })),
        "{outcomes:?}"
    );

    let ledger = emu.ledger();
    assert_eq!(ledger.orders.len(), 1);
    assert_eq!(ledger.order_count(&hangzhou(), ProductCode::Oss), 0, "no order for oss");
    assert_eq!(ledger.order_count(&hangzhou(), ProductCode::Pai), 1);
    let resources = writer
        .lock()
        .expect("the writer")
        .snapshot()
        .expect("snapshot")
        .resources;
    assert_eq!(resources.len(), 1, "oss was never sent, so it is not recorded");
    assert_eq!(resources[&addr("pai")].status, Status::Active);
}
