//! The ten signing cases of `shared/vectors/signatures.json`, computed with the official SDK.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    algorithm: String,
    access_key_id: String,
    access_key_secret: String,
    method: String,
    path: String,
    query: serde_json::Map<String, serde_json::Value>,
    headers: serde_json::Map<String, serde_json::Value>,
    body: String,
    canonical_request: Option<String>,
    string_to_sign: Option<String>,
    authorization: String,
}

fn vectors() -> Vectors {
    // Also vendored beside this test so a checkout without `shared/` still runs it.
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/signatures.json");
    let text = std::fs::read_to_string(&local).expect("tests/signatures.json");
    serde_json::from_str(&text).expect("valid vectors")
}

fn pairs(map: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_owned()))
        .collect()
}

#[test]
fn all_ten_vectors_match_the_official_sdk() {
    let vectors = vectors();
    assert_eq!(vectors.cases.len(), 10);
    for case in &vectors.cases {
        let query = pairs(&case.query);
        let headers = pairs(&case.headers);
        let req = pai_sign::Request {
            method: &case.method,
            path: &case.path,
            query: &query,
            headers: &headers,
            body: case.body.as_bytes(),
        };
        match case.algorithm.as_str() {
            "ACS3-HMAC-SHA256" => {
                assert_eq!(
                    Some(pai_sign::v3::canonical_request(&req)),
                    case.canonical_request,
                    "{}: canonical request",
                    case.name
                );
                if let Some(sha) = req.header("x-acs-content-sha256") {
                    assert_eq!(pai_sign::v3::content_sha256(req.body), sha, "{}: body hash", case.name);
                }
                let auth = pai_sign::v3::authorization(&case.access_key_id, &case.access_key_secret, &req);
                assert_eq!(auth, case.authorization, "{}", case.name);
                let parsed = pai_sign::v3::parse_authorization(&auth).expect("parses");
                assert_eq!(parsed.access_key_id, case.access_key_id);
            }
            "HMAC-SHA1" => {
                assert_eq!(
                    Some(pai_sign::v2::string_to_sign(&req)),
                    case.string_to_sign,
                    "{}: string to sign",
                    case.name
                );
                let auth = pai_sign::v2::authorization(&case.access_key_id, &case.access_key_secret, &req);
                assert_eq!(auth, case.authorization, "{}", case.name);
                assert_eq!(
                    pai_sign::v2::parse_authorization(&auth).map(|(ak, _)| ak),
                    Some(case.access_key_id.clone())
                );
            }
            other => panic!("unknown algorithm {other}"),
        }
    }
}

#[test]
fn a_wrong_secret_gives_another_signature() {
    let vectors = vectors();
    for case in &vectors.cases {
        let query = pairs(&case.query);
        let headers = pairs(&case.headers);
        let req = pai_sign::Request {
            method: &case.method,
            path: &case.path,
            query: &query,
            headers: &headers,
            body: case.body.as_bytes(),
        };
        let auth = if case.algorithm == "HMAC-SHA1" {
            pai_sign::v2::authorization(&case.access_key_id, "wrong", &req)
        } else {
            pai_sign::v3::authorization(&case.access_key_id, "wrong", &req)
        };
        assert_ne!(auth, case.authorization, "{}", case.name);
    }
}
