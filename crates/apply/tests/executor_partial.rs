//! A partial success: `CreateProductOrders` answers with fewer `ProductIds` than products. The
//! emulator always names every product it bought, so this drives the executor against a small
//! scripted service over real HTTP (and a real SQLite state): its first order buys only the first
//! product and names one id, as a service that bought part of an order could.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_apply::executor::Silent;
use pai_apply::{
    Client, ClientConfig, Credentials, EndpointResolver, Executor, ExecutorConfig, ProductOutcome, RetryPolicy,
    StaticCredentials,
};
use pai_planner::Plan;
use pai_state::{EventKind, StateWriter, Status};
use pai_testkit::fixtures::hangzhou;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the scripted service has sold: each order's product codes, and each purchase's id.
#[derive(Default)]
struct Sales {
    orders: Vec<Vec<String>>,
    purchased: BTreeMap<String, String>,
}

/// Serves `CreateProductOrders` and `ListProducts` on loopback until the test ends; the URL.
async fn scripted_service(sales: Arc<Mutex<Sales>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sales = Arc::clone(&sales);
            tokio::spawn(async move { serve(stream, &sales).await });
        }
    });
    url
}

/// One request per connection (`Connection: close`): enough for this client.
async fn serve(mut stream: TcpStream, sales: &Mutex<Sales>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &buffer[header_end..header_end + length];
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let answer = if target.starts_with("/api/v1/productorders") {
        order(body, sales)
    } else {
        list(&target, sales)
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// The first order buys only its first product and names its id alone; later ones buy all.
fn order(body: &[u8], sales: &Mutex<Sales>) -> String {
    let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let codes: Vec<String> = request["Products"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["ProductCode"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut sales = sales.lock().unwrap_or_else(|p| p.into_inner());
    sales.orders.push(codes.clone());
    let n = sales.orders.len();
    let bought: Vec<String> = if n == 1 {
        codes.into_iter().take(1).collect()
    } else {
        codes
    };
    let mut ids = Vec::new();
    for code in bought {
        let id = format!("{code}-{n}");
        sales.purchased.insert(code, id.clone());
        ids.push(id);
    }
    serde_json::json!({
        "RequestId": format!("R{n}"),
        "OrderId": format!("O{n}"),
        "BuyProductRequestId": format!("B{n}"),
        "ProductIds": ids,
    })
    .to_string()
}

fn list(target: &str, sales: &Mutex<Sales>) -> String {
    let sales = sales.lock().unwrap_or_else(|p| p.into_inner());
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let codes = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("ProductCodes="))
        .unwrap_or("")
        .replace("%2C", ",");
    let products: Vec<serde_json::Value> = codes
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|code| {
            let id = sales.purchased.get(code);
            serde_json::json!({
                "ProductCode": code,
                "IsPurchased": id.is_some(),
                "HasPermissionToPurchase": true,
                "ProductId": id.cloned().unwrap_or_default(),
            })
        })
        .collect();
    serde_json::json!({"RequestId": "L", "Products": products}).to_string()
}

fn manifest(url: &str) -> pai_spec::Manifest {
    pai_testkit::fixtures::pai_and_oss_manifest(url)
}

/// The first order (OSS and PAI, in the order of their addresses) buys OSS alone and answers one
/// id for two products. The executor marks `active` only what `ListProducts` shows bought (OSS,
/// with its own id and the order's ids), resolves PAI as after doubt (asked again once the
/// settle time has passed), and orders it once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_success_marks_active_only_what_was_bought_and_orders_the_rest_once() {
    let sales = Arc::new(Mutex::new(Sales::default()));
    let url = scripted_service(Arc::clone(&sales)).await;
    let manifest = manifest(&url);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let state = dir.path().join("state.db");
    let settle = Duration::from_millis(300);
    let config = ClientConfig {
        endpoint: EndpointResolver::new(None, BTreeMap::from([(hangzhou(), url.clone())])),
        read_timeout: settle,
        retry: RetryPolicy {
            max_elapsed: Duration::from_millis(300),
            base: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        },
        ..ClientConfig::default()
    };
    let credentials = Credentials::new("LTAI-partial", "partial-secret".to_owned());
    let client = Client::new(config, Arc::new(StaticCredentials::new(credentials))).expect("client");

    let mut writer = StateWriter::open(&state, "apply", Duration::from_secs(5)).expect("the state");
    let snapshot = writer.snapshot().expect("snapshot");
    let mut plan = Plan::build(
        &manifest,
        "pai.toml",
        &snapshot,
        None,
        &|region| manifest.endpoint_for(region),
        pai_state::clock::now_utc(),
    );
    // As a refreshed plan: ordered at once, without a check first.
    plan.refreshed = true;
    let run = writer.begin_run("apply").expect("begin");
    let writer = Arc::new(Mutex::new(writer));
    let config = ExecutorConfig {
        settle,
        ..ExecutorConfig::default()
    };
    let executor = Executor::new(client, Arc::clone(&writer), run, config, Arc::new(Silent)).expect("executor");
    let report = executor.apply(&plan).await.expect("applied");

    assert!(report.is_success(), "{report:?}");
    let sold = sales.lock().unwrap_or_else(|p| p.into_inner());
    assert_eq!(
        sold.orders,
        [vec!["OSS_share", "PAI_share"], vec!["PAI_share"]],
        "PAI ordered once more, alone"
    );
    let outcomes: BTreeMap<String, ProductOutcome> = report
        .regions
        .iter()
        .flat_map(|r| r.products.iter().map(|(a, o)| (a.to_string(), o.clone())))
        .collect();
    assert!(
        matches!(&outcomes["oss"], ProductOutcome::Ordered { order_id: Some(id), .. } if id == "O1"),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes["pai"], ProductOutcome::Ordered { order_id: Some(id), .. } if id == "O2"),
        "{outcomes:?}"
    );
    let writer = writer.lock().unwrap_or_else(|p| p.into_inner());
    let rows = writer.snapshot().expect("snapshot").resources;
    let row = |a: &str| {
        rows.iter()
            .find(|(address, _)| address.to_string() == a)
            .map(|(_, r)| r.clone())
            .expect("a row")
    };
    let (pai, oss) = (row("pai"), row("oss"));
    assert_eq!((pai.status, oss.status), (Status::Active, Status::Active));
    assert_eq!(
        (oss.order_id.as_deref(), oss.product_ids.as_slice()),
        (Some("O1"), ["OSS_share-1".to_owned()].as_slice())
    );
    assert_eq!(
        (pai.order_id.as_deref(), pai.product_ids.as_slice()),
        (Some("O2"), ["PAI_share-2".to_owned()].as_slice())
    );
    let lists = writer
        .history(None)
        .expect("history")
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Api && e.action == "ListProducts")
        .count();
    assert_eq!(lists, 2, "asked, and asked again once the settle time had passed");
}
