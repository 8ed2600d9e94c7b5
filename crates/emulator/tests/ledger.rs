//! The ledger over HTTP and on disk, regions told apart by listener, and start-up errors.

mod common;

use common::*;
use pai_emulator::{EmulatorError, Ledger};
use pai_spec::ProductCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_are_told_apart_by_listener() {
    let emu = start(&["cn-hangzhou", "cn-shanghai"]).await;
    let (hz, sh) = (addr(&emu, "cn-hangzhou"), addr(&emu, "cn-shanghai"));
    assert_ne!(hz, sh);
    assert_eq!(emu.endpoints()[&region("cn-shanghai")], format!("http://{sh}"));

    assert_eq!(send(hz, &Call::order(Algo::V3, PAI_ORDER)).await.status, 200);
    let here = send(hz, &Call::list(Algo::V3, "PAI_share")).await;
    let there = send(sh, &Call::list(Algo::V3, "PAI_share")).await;
    assert_eq!(here.body["Products"][0]["IsPurchased"], true);
    assert_eq!(there.body["Products"][0]["IsPurchased"], false);

    // One account: every listener serves the same ledger.
    let from_sh = ledger_over_http(sh).await;
    assert_eq!(from_sh, ledger_over_http(hz).await);
    let order = &from_sh["orders"][0];
    for key in [
        "OrderId",
        "Region",
        "ProductCodes",
        "ProductIds",
        "BuyProductRequestId",
        "Body",
        "At",
    ] {
        assert!(!order[key].is_null(), "orders[0].{key} in {order}");
    }
    assert_eq!(order["Region"], "cn-hangzhou");
    assert_eq!(order["ProductCodes"], serde_json::json!(["PAI_share"]));
    assert_eq!(order["Body"]["Products"][0]["ProductCode"], "PAI_share");
    assert_eq!(from_sh["purchased"][0]["Region"], "cn-hangzhou");
    assert_eq!(from_sh["purchased"][0]["ProductCode"], "PAI_share");
    // And the typed snapshot is the same thing.
    let typed: Ledger = serde_json::from_value(from_sh).unwrap();
    assert_eq!(typed, emu.ledger());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_is_recorded_but_activates_nothing() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    let unpaid = PAI_ORDER.replace("\"AutoPay\":true", "\"AutoPay\":false");
    assert_eq!(send(a, &Call::order(Algo::V3, &unpaid)).await.status, 200);
    let list = send(a, &Call::list(Algo::V3, "PAI_share")).await;
    assert_eq!(list.body["Products"][0]["IsPurchased"], false);
    let ledger = emu.ledger();
    assert_eq!(ledger.orders.len(), 1);
    assert!(!ledger.orders[0].auto_pay);
    assert!(ledger.purchased.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_file_survives_restarts_and_ids_keep_counting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub.json");
    let mut cfg = config(&["cn-hangzhou"]);
    cfg.ledger_path = Some(path.clone());
    let emu = pai_emulator::start(cfg.clone()).await.unwrap();
    assert!(path.exists(), "created at start, so a bad path fails early");
    let first = send(addr(&emu, "cn-hangzhou"), &Call::order(Algo::V3, PAI_ORDER)).await;
    emu.shutdown().await;

    let emu = pai_emulator::start(cfg).await.unwrap();
    let second = send(addr(&emu, "cn-hangzhou"), &Call::order(Algo::V2, PAI_ORDER)).await;
    assert_ne!(first.body["OrderId"], second.body["OrderId"]);
    let on_disk: Ledger = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk, emu.ledger());
    assert_eq!(on_disk.order_count(&region("cn-hangzhou"), ProductCode::Pai), 2);
    assert_eq!(on_disk.purchased.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Many orders at once are committed in groups (one write of the file for all the orders
/// waiting): each still gets its own id, and the file holds every one.
async fn concurrent_orders_each_get_their_own_id_and_all_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.json");
    let mut cfg = config(&["cn-hangzhou"]);
    cfg.ledger_path = Some(path.clone());
    let emu = pai_emulator::start(cfg).await.unwrap();
    let a = addr(&emu, "cn-hangzhou");
    let tasks: Vec<_> = (0..64)
        .map(|_| tokio::spawn(async move { send(a, &Call::order(Algo::V3, PAI_ORDER)).await }))
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200);
        ids.push(r.body["OrderId"].as_str().unwrap().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    let on_disk: Ledger = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk.orders.len(), 64);
    assert_eq!(on_disk, emu.ledger(), "the file is the ledger");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.json");
    std::fs::write(&corrupt, "[1,2").unwrap();
    let mut cfg = config(&["cn-hangzhou"]);
    cfg.ledger_path = Some(corrupt);
    assert!(matches!(
        pai_emulator::start(cfg).await,
        Err(EmulatorError::LedgerParse { .. })
    ));

    let mut cfg = config(&["cn-hangzhou"]);
    cfg.ledger_path = Some(dir.path().join("missing-dir").join("l.json"));
    assert!(matches!(
        pai_emulator::start(cfg).await,
        Err(EmulatorError::LedgerWrite { .. })
    ));

    assert!(matches!(
        pai_emulator::start(config(&[])).await,
        Err(EmulatorError::NoListeners)
    ));
    let twice = config(&["cn-hangzhou", "cn-hangzhou"]);
    assert!(matches!(
        pai_emulator::start(twice).await,
        Err(EmulatorError::DuplicateRegion(_))
    ));

    let emu = start(&["cn-hangzhou"]).await;
    let taken = pai_emulator::EmulatorConfig::new(vec![(region("cn-beijing"), addr(&emu, "cn-hangzhou"))], vec![]);
    let err = pai_emulator::start(taken).await.err().unwrap();
    assert!(matches!(err, EmulatorError::Bind { .. }), "{err}");
    assert!(err.to_string().contains("cn-beijing"), "{err}");
}

#[test]
fn spawn_outside_a_runtime_is_an_error_not_a_panic() {
    assert!(matches!(
        pai_emulator::spawn(config(&["cn-hangzhou"])),
        Err(EmulatorError::NoRuntime)
    ));
}

#[test]
fn config_debug_shows_no_secret() {
    let shown = format!("{:?}", config(&["cn-hangzhou"]));
    assert!(shown.contains(AK) && !shown.contains(SECRET), "{shown}");
}
