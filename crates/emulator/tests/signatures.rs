//! Authentication on the wire, both algorithms: every way a request can be wrong is answered
//! with the gateway's code and status, and nothing is recorded.

mod common;

use common::*;
use pai_sign::wire;
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_signed_requests_pass_with_both_algorithms() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    for algo in [Algo::V3, Algo::V2] {
        let list = send(a, &Call::list(algo, "PAI_share,OSS_share")).await;
        assert_eq!(list.status, 200, "{algo:?}: {}", list.body);
        assert_eq!(list.body["Products"].as_array().unwrap().len(), 2);
        assert!(list.headers.contains_key("x-acs-request-id"));
        // A query value that needs encoding is signed over its raw form.
        let mut odd = Call::list(algo, "PAI_share");
        odd.query.push(("ServiceCodes".into(), "a b/c~d+é".into()));
        let r = send(a, &odd).await;
        assert_eq!(r.status, 200, "{algo:?}: {}", r.body);
        assert_eq!(r.body["Services"][0]["ServiceCode"], "a b/c~d+é");
    }
    let order = send(a, &Call::order(Algo::V3, PAI_ORDER)).await;
    assert_eq!(order.status, 200, "{}", order.body);
    assert_eq!(order.body["Message"], "正常");
}

/// Rebuild the headers, apply `tamper`, send, and return (status, code).
async fn tampered(
    a: std::net::SocketAddr,
    call: &Call,
    tamper: impl FnOnce(&mut Vec<(String, String)>, &mut Vec<u8>),
) -> (u16, String) {
    let mut headers = call.headers(&a.to_string());
    let mut body = call.body.clone();
    tamper(&mut headers, &mut body);
    let r = send_raw(a, call, &headers, &body).await;
    (r.status, r.code().to_owned())
}

/// A named way to break a request, and the answer it must get.
type Tamper = Box<dyn FnOnce(&mut Vec<(String, String)>, &mut Vec<u8>)>;
type Case = (&'static str, Tamper, u16, &'static str);

fn drop_header(h: &mut Vec<(String, String)>, name: &str) {
    h.retain(|(k, _)| k != name);
}

fn set_header(h: &mut [(String, String)], name: &str, value: &str) {
    for (k, v) in h.iter_mut() {
        if k == name {
            *v = value.to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_rejections() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    let order = || Call::order(Algo::V3, PAI_ORDER);
    let ok = |h: &mut Vec<(String, String)>, _: &mut Vec<u8>| {
        let _ = h;
    };
    assert_eq!(tampered(a, &order(), ok).await.0, 200);

    let cases: Vec<Case> = vec![
        (
            "no authorization",
            Box::new(|h, _| drop_header(h, "authorization")),
            400,
            "IncompleteSignature",
        ),
        (
            "garbled authorization",
            Box::new(|h, _| set_header(h, "authorization", "ACS3-HMAC-SHA256 nonsense")),
            400,
            "IncompleteSignature",
        ),
        (
            "other scheme",
            Box::new(|h, _| set_header(h, "authorization", "Bearer abc")),
            400,
            "IncompleteSignature",
        ),
        (
            "sm3",
            Box::new(|h, _| {
                let v = h
                    .iter()
                    .find(|(k, _)| k == "authorization")
                    .unwrap()
                    .1
                    .replace("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3");
                set_header(h, "authorization", &v)
            }),
            400,
            "InvalidSignatureMethod",
        ),
        (
            "missing x-acs-date",
            Box::new(|h, _| drop_header(h, "x-acs-date")),
            400,
            "IncompleteSignature",
        ),
        (
            "missing nonce",
            Box::new(|h, _| drop_header(h, "x-acs-signature-nonce")),
            400,
            "IncompleteSignature",
        ),
        (
            "missing content hash",
            Box::new(|h, _| drop_header(h, "x-acs-content-sha256")),
            400,
            "IncompleteSignature",
        ),
        (
            "wrong version",
            Box::new(|h, _| set_header(h, "x-acs-version", "2020-01-01")),
            400,
            "InvalidVersion",
        ),
        (
            "wrong action",
            Box::new(|h, _| set_header(h, "x-acs-action", "ListProducts")),
            404,
            "InvalidAction.NotFound",
        ),
        (
            "bad date",
            Box::new(|h, _| set_header(h, "x-acs-date", "yesterday")),
            400,
            "InvalidTimeStamp.Format",
        ),
        (
            "body altered in flight",
            Box::new(|_, b| {
                let s = String::from_utf8(b.clone())
                    .unwrap()
                    .replace("\"AutoRenew\":false", "\"AutoRenew\":true");
                *b = s.into_bytes();
            }),
            400,
            "SignatureDoesNotMatch",
        ),
        (
            "content hash altered too",
            Box::new(|h, b| {
                let s = String::from_utf8(b.clone())
                    .unwrap()
                    .replace("\"AutoRenew\":false", "\"AutoRenew\":true");
                set_header(h, "x-acs-content-sha256", &pai_sign::v3::content_sha256(s.as_bytes()));
                *b = s.into_bytes();
            }),
            400,
            "SignatureDoesNotMatch",
        ),
        (
            "signed header value changed",
            Box::new(|h, _| set_header(h, "accept", "text/xml")),
            400,
            "SignatureDoesNotMatch",
        ),
        (
            "signed header removed",
            Box::new(|h, _| drop_header(h, "x-acs-version")),
            400,
            "IncompleteSignature",
        ),
        (
            "host not signed",
            Box::new(|h, _| {
                let v = h
                    .iter()
                    .find(|(k, _)| k == "authorization")
                    .unwrap()
                    .1
                    .replace("host;", "");
                set_header(h, "authorization", &v)
            }),
            400,
            "IncompleteSignature",
        ),
        (
            "security token added to a static key",
            Box::new(|h, _| h.push(("x-acs-security-token".into(), "CAIS".into()))),
            400,
            "IncompleteSignature",
        ),
        (
            "header given twice",
            Box::new(|h, _| h.push(("x-acs-signature-nonce".into(), "again".into()))),
            400,
            "IncompleteSignature",
        ),
    ];
    for (name, tamper, status, code) in cases {
        let got = tampered(a, &order(), tamper).await;
        assert_eq!(got, (status, code.to_owned()), "{name}");
    }

    let wrong_secret = order().with_key(AK, "nope", None);
    assert_eq!(
        tampered(a, &wrong_secret, ok).await,
        (400, "SignatureDoesNotMatch".into())
    );
    let unknown = order().with_key("LTAI5tNobody", SECRET, None);
    assert_eq!(
        tampered(a, &unknown, ok).await,
        (404, "InvalidAccessKeyId.NotFound".into())
    );
    assert_eq!(emu.ledger().orders.len(), 1, "only the well-signed order is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_rejections() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    let order = || Call::order(Algo::V2, PAI_ORDER);
    let cases: Vec<Case> = vec![
        (
            "missing date",
            Box::new(|h, _| drop_header(h, "date")),
            400,
            "IncompleteSignature",
        ),
        (
            "missing method",
            Box::new(|h, _| drop_header(h, "x-acs-signature-method")),
            400,
            "IncompleteSignature",
        ),
        (
            "sha256 method",
            Box::new(|h, _| set_header(h, "x-acs-signature-method", "HMAC-SHA256")),
            400,
            "InvalidSignatureMethod",
        ),
        (
            "version 2.0",
            Box::new(|h, _| set_header(h, "x-acs-signature-version", "2.0")),
            400,
            "InvalidSignatureMethod",
        ),
        (
            "malformed",
            Box::new(|h, _| set_header(h, "authorization", "acs onlyak")),
            400,
            "IncompleteSignature",
        ),
        (
            "signed x-acs header changed",
            Box::new(|h, _| set_header(h, "x-acs-signature-nonce", "other")),
            400,
            "SignatureDoesNotMatch",
        ),
        (
            "content type changed",
            Box::new(|h, _| set_header(h, "content-type", "application/json")),
            400,
            "SignatureDoesNotMatch",
        ),
        (
            "bad date",
            Box::new(|h, _| set_header(h, "date", "26/11/2026")),
            400,
            "InvalidTimeStamp.Format",
        ),
        (
            "content-md5 of another body",
            Box::new(|h, _| h.push(("content-md5".into(), "1B2M2Y8AsgTpgAmY7PhCfg==".into()))),
            400,
            "SignatureDoesNotMatch",
        ),
        (
            "accesskey-id header of another key",
            Box::new(|h, _| h.push(("x-acs-accesskey-id".into(), "LTAIother".into()))),
            400,
            "IncompleteSignature",
        ),
    ];
    for (name, tamper, status, code) in cases {
        let got = tampered(a, &order(), tamper).await;
        assert_eq!(got, (status, code.to_owned()), "{name}");
    }
    // v2 does not sign the body: this is why v3 is the default. The emulator cannot tell.
    let altered = tampered(a, &order(), |_, b| {
        *b = String::from_utf8(b.clone())
            .unwrap()
            .replace("\"AutoRenew\":false", "\"AutoRenew\":true")
            .into_bytes();
    })
    .await;
    assert_eq!(altered.0, 200);
    let wrong = order().with_key(AK, "nope", None);
    assert_eq!(send(a, &wrong).await.code(), "SignatureDoesNotMatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_over_fifteen_minutes_is_refused() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    for algo in [Algo::V3, Algo::V2] {
        for (offset_min, status, code) in [
            (-16i64, 400u16, "InvalidTimeStamp.Expired"),
            (16, 400, "InvalidTimeStamp.Expired"),
            (-14, 200, ""),
            (14, 200, ""),
        ] {
            let mut call = Call::list(algo, "PAI_share");
            call.date = OffsetDateTime::now_utc() + time::Duration::minutes(offset_min);
            let r = send(a, &call).await;
            assert_eq!(
                (r.status, r.code()),
                (status, code),
                "{algo:?} {offset_min} min: {}",
                r.body
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_request_is_refused_and_not_recorded() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    for algo in [Algo::V3, Algo::V2] {
        let call = Call::order(algo, PAI_ORDER);
        // Byte-identical: the same headers and body, the same nonce.
        let headers = call.headers(&a.to_string());
        assert_eq!(send_raw(a, &call, &headers, &call.body).await.status, 200);
        let again = send_raw(a, &call, &headers, &call.body).await;
        assert_eq!((again.status, again.code()), (400, "SignatureNonceUsed"), "{algo:?}");
    }
    assert_eq!(emu.ledger().orders.len(), 2, "one order per algorithm, no replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_have_the_service_shape() {
    let emu = start(&["cn-hangzhou"]).await;
    let a = addr(&emu, "cn-hangzhou");
    let r = send(a, &Call::list(Algo::V3, "PAI_share").with_key(AK, "nope", None)).await;
    let body = r.body.as_object().unwrap();
    let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["Code", "HostId", "Message", "RequestId"]);
    assert_eq!(
        r.headers["x-acs-request-id"].to_str().unwrap(),
        body["RequestId"].as_str().unwrap()
    );
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    // No secret in any answer.
    assert!(!r.body.to_string().contains(SECRET));

    let unknown = client().get(format!("http://{a}/api/v1/nothing")).send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let v: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(v["Code"], "InvalidApi.NotFound");
    let wrong_method = client()
        .delete(format!("http://{a}{}", wire::CREATE_PRODUCT_ORDERS.path))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status().as_u16(), 404);
}
