//! Issue 22: every region is sent where the official SDK sends it. The installed SDK's client
//! (`alibabacloud-aiworkspace20210204`, `PAI_SDK_PYTHON`) is asked for its endpoint map and
//! for the endpoint it resolves for each region of the map and for regions outside it; each
//! must be the host of `EndpointResolver::url_for` with no override. Without `PAI_SDK_PYTHON`
//! the test fails, saying so (`scripts/test.sh` sets it up).

use std::process::Command;

use pai_apply::EndpointResolver;
use pai_spec::Region;

const SDK_ENDPOINTS: &str = r#"
import json, sys
from alibabacloud_aiworkspace20210204.client import Client
from alibabacloud_tea_openapi import models as open_api_models
extra = sys.argv[1:]
probe = Client(open_api_models.Config(access_key_id="x", access_key_secret="y", region_id="cn-hangzhou"))
regions = sorted(set(probe._endpoint_map) | set(extra))
resolved = {}
for region in regions:
    client = Client(open_api_models.Config(access_key_id="x", access_key_secret="y", region_id=region))
    resolved[region] = client._endpoint
print(json.dumps({"map": probe._endpoint_map, "resolved": resolved}))
"#;

/// Regions the SDK's map does not list: the regional rule.
const OUTSIDE: [&str; 8] = [
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-shenzhen",
    "cn-hongkong",
    "ap-southeast-1",
    "us-west-1",
    "eu-central-1",
];

#[test]
fn every_region_goes_where_the_official_sdk_sends_it() {
    let python = match std::env::var("PAI_SDK_PYTHON") {
        Ok(python) if !python.is_empty() => python,
        _ => panic!(
            "PAI_SDK_PYTHON is not set: this test needs a Python with the official SDK (pip install \
             alibabacloud-aiworkspace20210204). Run `bash scripts/test.sh`, or set PAI_SDK_PYTHON."
        ),
    };
    let out = Command::new(&python)
        .arg("-c")
        .arg(SDK_ENDPOINTS)
        .args(OUTSIDE)
        .output()
        .expect("run the SDK");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from the SDK");

    let sdk_map = doc["map"].as_object().expect("the SDK's endpoint map");
    let ours: Vec<(String, String)> = pai_spec::endpoint::SDK_ENDPOINT_MAP
        .iter()
        .map(|(r, h)| ((*r).to_owned(), (*h).to_owned()))
        .collect();
    let theirs: Vec<(String, String)> = sdk_map
        .iter()
        .map(|(r, h)| (r.clone(), h.as_str().unwrap_or_default().trim().to_owned()))
        .collect();
    let mut theirs_sorted = theirs.clone();
    theirs_sorted.sort();
    assert_eq!(
        ours, theirs_sorted,
        "pai_spec's copy of the SDK's map is the installed SDK's"
    );

    let resolver = EndpointResolver::default();
    let resolved = doc["resolved"].as_object().expect("resolved endpoints");
    assert!(resolved.len() >= sdk_map.len() + OUTSIDE.len(), "{resolved:?}");
    for (region, host) in resolved {
        let host = host.as_str().expect("a host").trim();
        let region = Region::parse(region).unwrap_or_else(|e| panic!("{region}: {e}"));
        assert_eq!(
            resolver.url_for(&region),
            format!("https://{host}"),
            "{region}: the SDK sends it to {host}"
        );
    }
}
