//! A server that echoes the request's own string to sign in a `SignatureDoesNotMatch`, as the
//! real service does, computed from what it received (ROA v2: the string to sign, which holds
//! the `x-acs-security-token` header; v3: the canonical request, which lists it too). In both
//! signature versions, with and without an STS token, neither the secret, nor the token, nor a
//! signature may appear in the error's `Display` or `Debug` or in any TRACE-level log line.
//!
//! Alone in its test binary because it installs the process-wide tracing subscriber.

#[path = "client_support/mod.rs"]
mod support;

use std::sync::Arc;

use pai_apply::{Credentials, ErrorKind};
use pai_spec::{ProductCode, SignatureVersion};
use support::*;

const AK: &str = "LTAI5tEchoTestKey";
// Characters that change under percent-encoding, so that encoded echoes are exercised too.
const SECRET: &str = "Echo/Secret+Value=0123456789";
const TOKEN: &str = "CAIS+EchoTest/StsToken==abcdef";

/// `application/x-www-form-urlencoded` back to raw pairs, as a server reads the query.
fn decode_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'%', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// What the server signed for this request, and the signature the client sent.
fn server_side(request: &Captured) -> (String, String, String) {
    let query = decode_query(&request.query);
    let auth = request.header("authorization").unwrap_or_default().to_owned();
    let (echo, signature) = match pai_sign::v3::parse_authorization(&auth) {
        Some(parsed) => {
            let signed: Vec<(String, String)> = request
                .headers
                .iter()
                .filter(|(k, _)| parsed.signed_headers.contains(k))
                .cloned()
                .collect();
            let req = pai_sign::Request {
                method: &request.method,
                path: &request.path,
                query: &query,
                headers: &signed,
                body: &request.body,
            };
            (pai_sign::v3::canonical_request(&req), parsed.signature)
        }
        None => {
            let req = pai_sign::Request {
                method: &request.method,
                path: &request.path,
                query: &query,
                headers: &request.headers,
                body: &request.body,
            };
            let signature = auth.rsplit_once(':').map_or("", |(_, s)| s).to_owned();
            (pai_sign::v2::string_to_sign(&req), signature)
        }
    };
    (echo, signature, auth)
}

/// The SignatureDoesNotMatch answer, echoing the string to sign in the message as the POP
/// gateway does, and (as a careless gateway might) the token and the Authorization value in
/// other fields.
fn echo_step() -> Step {
    Step::Reply(Responder(Arc::new(|request: &Captured| {
        let (echo, _, auth) = server_side(request);
        let token = request.header("x-acs-security-token").unwrap_or("none");
        let body = serde_json::json!({
            "RequestId": "A57FBFD7-FC9A-54FE-A876-4D5E19577186",
            "HostId": "aiworkspace.cn-hangzhou.aliyuncs.com",
            "Code": "SignatureDoesNotMatch",
            "Message": format!("Specified signature is not matched with our calculation. server string to sign is:{echo}"),
            "Recommend": format!(
                "https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch&product=AIWorkSpace&token={}&auth={auth}",
                pai_sign::encode_query_component(token)
            ),
        });
        Step::json(400, &body.to_string())
    })))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_strings_to_sign_never_leak() {
    let logs = Logs::capture();

    let mut secrets: Vec<String> = vec![
        SECRET.into(),
        TOKEN.into(),
        pai_sign::encode_query_component(SECRET),
        pai_sign::encode_query_component(TOKEN),
    ];
    let mut shown = String::new();
    for signature in [SignatureVersion::V2, SignatureVersion::V3] {
        for sts in [false, true] {
            let server = ScriptedServer::start(vec![], echo_step()).await;
            let mut creds = Credentials::new(AK, SECRET);
            if sts {
                creds = creds.with_security_token(TOKEN);
            }
            let client = client(config(&server.url(), signature, fast_retry(2_000)), creds);
            let order = client
                .create_product_orders(&region(), &oss_order())
                .await
                .expect_err("refused");
            let listed = client
                .list_products(&region(), &[ProductCode::Pai])
                .await
                .expect_err("refused");
            for err in [&order, &listed] {
                let case = format!("{signature:?} sts={sts}");
                assert_eq!(err.code.as_deref(), Some("SignatureDoesNotMatch"), "{case}");
                assert_eq!((err.kind, err.attempts), (ErrorKind::Permanent, 1), "{case}");
                assert_eq!(
                    err.message,
                    "Specified signature is not matched with our calculation. server string to sign is: [removed]",
                    "{case}"
                );
                assert!(
                    err.recommend.as_deref().is_some_and(|r| r.contains("&auth=***")),
                    "{case}: {:?}",
                    err.recommend
                );
                shown.push_str(&format!("{err}\n{err:?}\n"));
                tracing::error!("{err} / {err:?}");
            }
            let seen = server.requests();
            assert_eq!(seen.len(), 2, "one request per call");
            for request in &seen {
                let (echo, sent_signature, auth) = server_side(request);
                // The echo is what the server really signs: it reproduces the client's signature.
                let recomputed = match signature {
                    SignatureVersion::V2 => pai_sign::v2::signature(SECRET, &echo),
                    SignatureVersion::V3 => pai_sign::v3::signature(SECRET, &echo),
                };
                assert_eq!(recomputed, sent_signature, "{signature:?} sts={sts}");
                assert_eq!(
                    echo.contains(TOKEN),
                    sts,
                    "{signature:?}: the echo holds the token exactly when there is one"
                );
                secrets.push(sent_signature);
                secrets.push(auth);
            }
        }
    }

    let logs = logs.text();
    assert!(
        logs.contains("TRACE") && logs.contains("error response") && logs.contains("[removed]"),
        "TRACE logging of the refusals was captured"
    );
    for secret in &secrets {
        assert!(!secret.is_empty());
        if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
            panic!("a secret reached the logs: {line}");
        }
        if let Some(line) = shown.lines().find(|l| l.contains(secret.as_str())) {
            panic!("a secret reached an error: {line}");
        }
    }
}
