//! The echoed string to sign, followed past the client: an apply whose orders are refused with
//! a `SignatureDoesNotMatch` that echoes the request's string to sign (with the STS token in
//! it) records the failure in a real SQLite state and its history, reports it, and logs it at
//! TRACE. None of these may hold the secret, the token or a signature; all must hold the
//! cleaned message, so that the check is not vacuous.
//!
//! Alone in its test binary because it installs the process-wide tracing subscriber.

#[path = "client_support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pai_apply::executor::Silent;
use pai_apply::{Credentials, Executor, ExecutorConfig, ProductOutcome};
use pai_planner::Plan;
use pai_spec::SignatureVersion;
use pai_state::StateWriter;
use support::*;

const AK: &str = "STS.EchoStateKey";
const SECRET: &str = "EchoState/Secret+Value=42";
const TOKEN: &str = "CAIS+EchoState/StsToken==xyz";
const CLEANED: &str = "server string to sign is: [removed]";

/// `ListProducts` answers "nothing purchased"; `CreateProductOrders` is refused with the
/// request's own v2 string to sign echoed, as the POP gateway does.
fn service() -> Step {
    Step::Reply(Responder(Arc::new(|request: &Captured| {
        if request.method == "GET" {
            return Step::json(
                200,
                r#"{"RequestId":"L","Products":[{"ProductCode":"PAI_share","IsPurchased":false},{"ProductCode":"OSS_share","IsPurchased":false}],"Services":[]}"#,
            );
        }
        let req = pai_sign::Request {
            method: &request.method,
            path: &request.path,
            query: &[],
            headers: &request.headers,
            body: &request.body,
        };
        let echo = pai_sign::v2::string_to_sign(&req);
        let body = serde_json::json!({
            "RequestId": "ECHO-1",
            "Code": "SignatureDoesNotMatch",
            "Message": format!("Specified signature is not matched with our calculation. server string to sign is:{echo}"),
        });
        Step::json(400, &body.to_string())
    })))
}

fn manifest(url: &str) -> pai_spec::Manifest {
    pai_testkit::fixtures::pai_and_oss_manifest(url)
}

/// Every occurrence of `needle` in the files of `dir` (the database, its WAL and journal).
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).unwrap_or_default();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_order_leaves_no_secret_in_state_history_report_or_logs() {
    let logs = Logs::capture();

    let server = ScriptedServer::start(vec![], service()).await;
    let manifest = manifest(&server.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.db");
    let mut writer = StateWriter::open(&state, "apply", Duration::from_secs(5)).expect("the state");
    let snapshot = writer.snapshot().expect("snapshot");
    let plan = Plan::build(
        &manifest,
        "pai.toml",
        &snapshot,
        None,
        &|region| manifest.endpoint_for(region),
        pai_state::clock::now_utc(),
    );
    let plan_json = serde_json::to_string(&plan).expect("plan JSON");
    let run = writer.begin_run("apply").expect("begin");
    let writer = Arc::new(Mutex::new(writer));
    let creds = Credentials::new(AK, SECRET).with_security_token(TOKEN);
    let client = client(config(&server.url(), SignatureVersion::V2, fast_retry(2_000)), creds);
    let executor = Executor::new(
        client,
        Arc::clone(&writer),
        run,
        ExecutorConfig {
            check_before_order: true,
            settle: Duration::from_secs(10),
            ..ExecutorConfig::default()
        },
        Arc::new(Silent),
    )
    .expect("executor");
    let report = executor.apply(&plan).await.expect("applied");
    drop(executor);
    drop(writer);

    let outcomes: Vec<&ProductOutcome> = report
        .regions
        .iter()
        .flat_map(|r| r.products.iter().map(|(_, o)| o))
        .collect();
    assert!(!outcomes.is_empty());
    for outcome in &outcomes {
        match outcome {
            ProductOutcome::Failed { error } => assert!(error.contains(CLEANED), "{error}"),
            other => panic!("a refused order is failed: {other:?}"),
        }
    }
    let report_json = serde_json::to_string(&report).expect("report JSON");
    let logs = logs.text();
    assert!(logs.contains(CLEANED), "the refusal was logged");
    assert!(
        !files_containing(dir.path(), CLEANED.as_bytes()).is_empty(),
        "the refusal was recorded in the state"
    );

    let mut secrets = vec![SECRET.to_owned(), TOKEN.to_owned(), "x-acs-security-token:".to_owned()];
    let orders: Vec<Captured> = server.requests().into_iter().filter(|r| r.method == "POST").collect();
    assert!(!orders.is_empty(), "orders were sent");
    for request in &orders {
        let auth = request.header("authorization").unwrap_or_default();
        secrets.push(auth.to_owned());
        secrets.push(auth.rsplit_once(':').map_or("", |(_, s)| s).to_owned());
    }
    for secret in &secrets {
        assert!(!secret.is_empty());
        let found = files_containing(dir.path(), secret.as_bytes());
        assert!(found.is_empty(), "{secret:?} reached the state: {found:?}");
        assert!(!report_json.contains(secret.as_str()), "{secret:?} in the report");
        assert!(!plan_json.contains(secret.as_str()), "{secret:?} in the plan");
        if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
            panic!("a secret reached the logs: {line}");
        }
    }
}
