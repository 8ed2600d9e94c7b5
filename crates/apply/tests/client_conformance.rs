//! Conformance with the official SDK: every request our client sends, in both signature versions,
//! with and without an STS token, with a non-ASCII body and a query that needs encoding, is
//! checked by `tests/sdk/verify.py`, which recomputes the signature with the SDK's own signing
//! functions over what arrived on the wire and has the SDK's client make the same call to compare
//! header names and the wire query.
//!
//! Needs `PAI_SDK_PYTHON`: a Python with `alibabacloud-aiworkspace20210204` installed
//! (`scripts/test.sh` sets it up). Without it the test fails, saying so.

#[path = "client_support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use pai_apply::{Credentials, ListProductsQuery};
use pai_spec::{ProductCode, SignatureVersion};
use serde_json::{json, Value};
use support::*;

const AK: &str = "LTAI5tConformanceKey";
const SECRET: &str = "Conformance/Secret+with=chars";
const TOKEN: &str = "CAIS.conformance/sts+token==";
const ANY_OK: &str = r#"{"RequestId":"R","OrderId":"O","ProductIds":["P"],"Products":[],"Services":[]}"#;

fn sdk_python() -> String {
    match std::env::var("PAI_SDK_PYTHON") {
        Ok(python) if !python.is_empty() => python,
        _ => panic!(
            "PAI_SDK_PYTHON is not set: the SDK conformance test needs a Python with the official SDK \
             (pip install alibabacloud-aiworkspace20210204). Run `bash scripts/test.sh`, or set \
             PAI_SDK_PYTHON=/path/to/venv/bin/python."
        ),
    }
}

fn verifier() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/verify.py")
}

/// Run the verifier over a document; returns (exit success, one report per request).
fn verify(python: &str, doc: &Value) -> (bool, Vec<Value>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("requests.json");
    std::fs::write(&path, serde_json::to_vec(doc).expect("json")).expect("write");
    let out = Command::new(python)
        .arg(verifier())
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run PAI_SDK_PYTHON={python}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("Traceback"),
        "the verifier crashed (is the SDK installed for {python}?):\n{stderr}"
    );
    let reports = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad verifier line {l:?}: {e}")))
        .collect();
    (out.status.success(), reports)
}

/// What one captured request must be.
struct Expect {
    name: String,
    signature: SignatureVersion,
    action: &'static str,
    sts: bool,
    query: Value,
    body: Option<Value>,
    compare_with_sdk: bool,
}

#[tokio::test]
async fn every_request_matches_the_official_sdk() {
    let python = sdk_python();
    // The first request is throttled once, so a retried request (with the SDK's retry headers)
    // is checked too.
    let server = ScriptedServer::start(
        vec![Step::Respond(
            429,
            vec![("x-acs-retry-after".into(), "10".into())],
            r#"{"Code":"Throttling"}"#.into(),
        )],
        Step::json(200, ANY_OK),
    )
    .await;
    let order = oss_order();
    let order_json: Value = serde_json::from_str(&order.to_json()).expect("order json");
    let encoded = ListProductsQuery {
        product_codes: Some("PAI_share,OSS_share".into()),
        service_codes: Some("a b/c~d*+对象".into()),
        verbose: None,
    };
    let mut expected = Vec::new();
    for signature in [SignatureVersion::V3, SignatureVersion::V2] {
        for sts in [false, true] {
            let mut creds = Credentials::new(AK, SECRET);
            if sts {
                creds = creds.with_security_token(TOKEN);
            }
            let client = client(config(&server.url(), signature, fast_retry(5_000)), creds);
            let label = format!("{}/{}", signature.as_str(), if sts { "sts" } else { "ak" });
            let first = expected.is_empty();

            client.create_product_orders(&region(), &order).await.expect("order");
            let order_expect = |name: String| Expect {
                name,
                signature,
                action: "CreateProductOrders",
                sts,
                query: json!({}),
                body: Some(order_json.clone()),
                compare_with_sdk: true,
            };
            if first {
                expected.push(order_expect(format!("order-non-ascii/{label}/throttled")));
            }
            expected.push(order_expect(format!("order-non-ascii/{label}")));

            client.list_products_with(&region(), &encoded).await.expect("list");
            expected.push(Expect {
                name: format!("list-encoded-query/{label}"),
                signature,
                action: "ListProducts",
                sts,
                query: json!({"ProductCodes": "PAI_share,OSS_share", "ServiceCodes": "a b/c~d*+对象"}),
                body: None,
                compare_with_sdk: true,
            });

            client
                .list_products(&region(), &[ProductCode::Pai, ProductCode::DataWorks])
                .await
                .expect("list");
            expected.push(Expect {
                name: format!("list-verbose/{label}"),
                signature,
                action: "ListProducts",
                sts,
                query: json!({"ProductCodes": "PAI_share,DataWorks_share", "Verbose": "true"}),
                body: None,
                compare_with_sdk: false,
            });
        }
    }
    let captured = server.requests();
    assert_eq!(captured.len(), expected.len(), "one captured request per expectation");
    assert_eq!(
        captured[1].header("x-acs-retry-attempts"),
        Some("1"),
        "the second request is the retry"
    );
    let host = format!("127.0.0.1:{}", server.addr.port());
    let requests: Vec<Value> = captured
        .iter()
        .zip(&expected)
        .map(|(c, e)| {
            json!({
                "name": e.name,
                "method": c.method,
                "path": c.path,
                "query": c.query,
                "headers": c.headers,
                "body_b64": base64::engine::general_purpose::STANDARD.encode(&c.body),
                "compare_with_sdk": e.compare_with_sdk,
                "expect": {
                    "signature": e.signature.as_str(),
                    "host": host,
                    "action": e.action,
                    "security_token": if e.sts { Some(TOKEN) } else { None },
                    "query": e.query,
                    "body_json": e.body,
                },
            })
        })
        .collect();
    let doc = json!({"access_key_id": AK, "access_key_secret": SECRET, "requests": requests});

    let (ok, reports) = verify(&python, &doc);
    assert_eq!(reports.len(), expected.len(), "a report per request: {reports:#?}");
    let failed: Vec<&Value> = reports.iter().filter(|r| r["ok"] != json!(true)).collect();
    assert!(ok && failed.is_empty(), "requests the SDK disagrees with: {failed:#?}");

    // The verifier must be able to fail: a wrong secret fails every signature, and a body
    // changed in flight fails the order it belongs to.
    let mut wrong = doc.clone();
    wrong["access_key_secret"] = json!("not-the-secret");
    let (ok, reports) = verify(&python, &wrong);
    assert!(!ok && reports.iter().all(|r| r["ok"] == json!(false)), "{reports:#?}");
    let mut tampered = doc.clone();
    let body = base64::engine::general_purpose::STANDARD.encode(order.to_json().replace("true", "false"));
    tampered["requests"][1]["body_b64"] = json!(body);
    let (ok, reports) = verify(&python, &tampered);
    assert!(
        !ok && reports[1]["ok"] == json!(false) && reports[0]["ok"] == json!(true),
        "{reports:#?}"
    );
}
