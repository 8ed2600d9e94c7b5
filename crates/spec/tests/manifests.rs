//! Valid manifests: what they compile to (the exact CreateProductOrders elements), defaults,
//! fingerprints, hashes, warnings, and how errors read at the CLI edge.

use std::path::Path;

use pai_spec::{load, parse, Address, OrderBody, ProductCode, Region, Severity, SignatureVersion, SpecError};
use sha2::{Digest, Sha256};

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn body(manifest: &pai_spec::Manifest, region: &str) -> String {
    let region = Region::parse(region).unwrap();
    OrderBody {
        auto_pay: manifest.provider.auto_pay,
        products: manifest
            .products
            .values()
            .filter(|p| p.region == region)
            .map(|p| p.request.clone())
            .collect(),
    }
    .to_json()
}

#[test]
fn quickstart_compiles_to_the_api_reference_examples() {
    let loaded = load(&examples().join("quickstart.toml")).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let m = &loaded.manifest;
    assert_eq!(m.regions(), vec![Region::parse("cn-hangzhou").unwrap()]);
    // The InstanceProperties of the API reference, sorted by Code; Name only where given.
    assert_eq!(
        body(m, "cn-hangzhou"),
        concat!(
            r#"{"AutoPay":true,"Products":["#,
            r#"{"AutoRenew":false,"ChargeType":"POSTPAY","Duration":1,"InstanceProperties":[{"Code":"region","Value":"cn-shanghai"}],"OrderType":"BUY","PricingCycle":"Month","ProductCode":"DataWorks_share"},"#,
            r#"{"AutoRenew":false,"ChargeType":"POSTPAY","Duration":1,"InstanceProperties":[{"Code":"odps_specification_type","Value":"OdpsStandard"},{"Code":"ord_time","Value":"1:Hour"},{"Code":"region","Value":"cn-hangzhou"}],"OrderType":"BUY","PricingCycle":"Hour","ProductCode":"MaxCompute_share"},"#,
            r#"{"AutoRenew":false,"ChargeType":"POSTPAY","Duration":1,"InstanceProperties":[{"Code":"commodity_type","Name":"Object Storage Service","Value":"oss"},{"Code":"ord_time","Name":"1 Hour","Value":"1:Hour"}],"OrderType":"BUY","PricingCycle":"Hour","ProductCode":"OSS_share"},"#,
            r#"{"AutoRenew":false,"ChargeType":"POSTPAY","Duration":1,"InstanceProperties":[],"OrderType":"BUY","ProductCode":"PAI_share"}"#,
            "]}"
        )
    );
    let codes: Vec<ProductCode> = m.products.values().map(|p| p.code()).collect();
    assert_eq!(
        codes,
        [
            ProductCode::DataWorks,
            ProductCode::MaxCompute,
            ProductCode::Oss,
            ProductCode::Pai
        ]
    );
}

#[test]
fn multi_region_orders_through_two_endpoints() {
    let loaded = load(&examples().join("multi-region.toml")).unwrap();
    let m = &loaded.manifest;
    let regions: Vec<String> = m.regions().iter().map(|r| r.to_string()).collect();
    assert_eq!(regions, ["cn-hangzhou", "cn-shanghai"]);
    let shanghai = &m.products[&Address::parse("pai-shanghai").unwrap()];
    assert_eq!(shanghai.region.as_str(), "cn-shanghai");
    assert_eq!(
        m.endpoint_for(&shanghai.region),
        "https://aiworkspace.cn-shanghai.aliyuncs.com"
    );
    assert!(body(m, "cn-shanghai").contains(r#""ProductCode":"OSS_share""#));
    assert!(!body(m, "cn-hangzhou").contains(r#""ProductCode":"OSS_share""#));
}

#[test]
fn defaults() {
    let source = b"[provider]\nregion = \"ap-southeast-1\"\n\n[products.pai]\ncode = \"PAI_share\"\n\n[products.oss]\ncode = \"OSS_share\"\n\n[products.dw]\ncode = \"DataWorks_share\"\n\n[products.mc]\ncode = \"MaxCompute_share\"\n";
    let m = parse(source, "d.toml").unwrap().manifest;
    assert!(m.provider.auto_pay);
    assert_eq!(m.provider.signature, SignatureVersion::V3);
    assert_eq!(
        (m.provider.profile.as_deref(), m.provider.endpoint.as_deref()),
        (None, None)
    );
    assert!(m.provider.endpoints.is_empty());
    assert_eq!(m.state, None);
    let cycles: Vec<(String, Option<String>)> = m
        .products
        .values()
        .map(|p| (p.code().to_string(), p.request.pricing_cycle.clone()))
        .collect();
    assert_eq!(
        cycles,
        [
            ("DataWorks_share".to_string(), Some("Month".to_string())),
            ("MaxCompute_share".to_string(), Some("Hour".to_string())),
            ("OSS_share".to_string(), Some("Hour".to_string())),
            ("PAI_share".to_string(), None),
        ]
    );
    for p in m.products.values() {
        assert_eq!(p.region.as_str(), "ap-southeast-1");
        assert_eq!(
            (p.request.charge_type.as_str(), p.request.order_type.as_str()),
            ("POSTPAY", "BUY")
        );
        assert_eq!((p.request.duration, p.request.auto_renew), (1, false));
    }
}

#[test]
fn every_provider_key() {
    let source = br#"
[provider]
region = "cn-hangzhou"
auto_pay = false
signature = "v2"
profile = "ci"
endpoint = "https://{region}.emulator.test:9000"
endpoints = { cn-shanghai = "http://127.0.0.1:8081" }

[state]
url = "state/team.db"

[products.pai]
code = "PAI_share"

[products.pai-sh]
code = "PAI_share"
region = "cn-shanghai"
auto_renew = true
charge_type = "POSTPAY"
order_type = "BUY"
duration = 1
"#;
    let loaded = parse(source, "p.toml").unwrap();
    let warned: Vec<&str> = loaded.warnings.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        warned,
        ["`auto_pay = false` buys nothing until someone pays the order in the console"],
        "only auto_pay = false warns"
    );
    let m = loaded.manifest;
    assert!(!m.provider.auto_pay);
    assert_eq!(m.provider.signature, SignatureVersion::V2);
    assert_eq!(m.provider.profile.as_deref(), Some("ci"));
    assert_eq!(m.state.as_deref(), Some("state/team.db"));
    let hz = Region::parse("cn-hangzhou").unwrap();
    let sh = Region::parse("cn-shanghai").unwrap();
    assert_eq!(m.endpoint_for(&hz), "https://cn-hangzhou.emulator.test:9000");
    assert_eq!(m.endpoint_for(&sh), "http://127.0.0.1:8081");
    assert!(m.products[&Address::parse("pai-sh").unwrap()].request.auto_renew);
    assert!(body(&m, "cn-hangzhou").starts_with(r#"{"AutoPay":false,"#));
}

#[test]
fn fingerprints_ignore_layout_and_order_but_not_content() {
    let a = b"[provider]\nregion = \"cn-hangzhou\"\n[products.oss]\ncode = \"OSS_share\"\nproperties.commodity_type = \"oss\"\nproperties.ord_time = \"1:Hour\"\n";
    let b = b"[products.oss]\nproperties = { ord_time = '1:Hour', commodity_type = 'oss' }\ncode = 'OSS_share'\n\n[provider]\nregion = 'cn-hangzhou'\n";
    let c = b"[provider]\nregion = \"cn-hangzhou\"\n[products.oss]\ncode = \"OSS_share\"\nproperties.commodity_type = { value = \"oss\", name = \"OSS\" }\nproperties.ord_time = \"1:Hour\"\n";
    let fp = |s: &[u8]| {
        let m = parse(s, "f.toml").unwrap().manifest;
        m.products[&Address::parse("oss").unwrap()].fingerprint()
    };
    assert_eq!(fp(a), fp(b));
    assert_ne!(fp(a), fp(c), "a property's Name is part of the request");
    assert_eq!(fp(a).0.len(), 64);
}

#[test]
fn source_hash_is_the_sha256_of_the_bytes() {
    let source = b"[provider]\nregion = \"cn-hangzhou\"\n\n[products.pai]\ncode = \"PAI_share\"\n";
    let m = parse(source, "h.toml").unwrap().manifest;
    assert_eq!(m.source_hash, hex::encode(Sha256::digest(source)));
    let mut commented = source.to_vec();
    commented.extend_from_slice(b"# a comment changes the hash, not the requests\n");
    let m2 = parse(&commented, "h.toml").unwrap().manifest;
    assert_ne!(m.source_hash, m2.source_hash);
    assert_eq!(m.products, m2.products);
}

#[test]
fn warnings_do_not_stop_a_manifest() {
    let source = b"[provider]\nregion = \"cn-hangzhou\"\nendpoint = \"http://proxy.internal\"\n\n[products.pai]\ncode = \"PAI_share\"\nproperties.colour = \"blue\"\n";
    let loaded = parse(source, "w.toml").unwrap();
    let found: Vec<(Severity, usize, usize)> = loaded.warnings.iter().map(|d| (d.severity, d.line, d.column)).collect();
    assert_eq!(found, [(Severity::Warning, 3, 12), (Severity::Warning, 7, 12)]);
    assert_eq!(loaded.file, "w.toml");
    // An undocumented property is still sent: the API may know more than its reference says.
    let pai = &loaded.manifest.products[&Address::parse("pai").unwrap()];
    assert_eq!(pai.request.instance_properties.len(), 1);
}

#[test]
fn auto_pay_false_warns_where_it_is_written() {
    let source = b"[provider]\nregion = \"cn-hangzhou\"\nauto_pay = false\n\n[products.pai]\ncode = \"PAI_share\"\n";
    let loaded = parse(source, "unpaid.toml").unwrap();
    let found: Vec<(Severity, usize, usize)> = loaded.warnings.iter().map(|d| (d.severity, d.line, d.column)).collect();
    assert_eq!(found, [(Severity::Warning, 3, 12)]);
    let w = &loaded.warnings[0];
    assert!(
        w.message
            .contains("buys nothing until someone pays the order in the console"),
        "{w:?}"
    );
    assert_eq!(w.file, "unpaid.toml");
    assert!(!loaded.manifest.provider.auto_pay);

    let paid = b"[provider]\nregion = \"cn-hangzhou\"\nauto_pay = true\n\n[products.pai]\ncode = \"PAI_share\"\n";
    assert!(parse(paid, "paid.toml").unwrap().warnings.is_empty());
}

#[test]
fn every_error_in_one_run_in_source_order() {
    let source = b"[provider]\nregion = \"Hangzhou\"\nauto_pay = 1\n\n[products.a]\ncode = \"X\"\n\n[products.B]\ncode = \"PAI_share\"\nduration = 3\n";
    let err = parse(source, "many.toml").unwrap_err();
    let at: Vec<(usize, usize)> = err.diagnostics().iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(at, [(2, 10), (3, 12), (6, 8), (8, 11), (10, 12)]);
}

#[test]
fn the_error_display_is_a_complete_report() {
    let source = b"[provider]\nregion = \"cn-hangzhou\"\naccess_key_secret = \"hunter2\"\n\n[products.pai]\ncode = \"pai_share\"\n";
    let err = parse(source, "team.toml").unwrap_err();
    let text = err.to_string();
    for want in [
        "`team.toml` is not a valid manifest (2 errors)",
        "error: unknown product code `pai_share`",
        " --> team.toml:6:8",
        "6 | code = \"pai_share\"",
        "  |        ^^^^^^^^^^^",
        "= help: did you mean `PAI_share`?",
        " --> team.toml:3:1",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("hunter2"), "a secret leaked:\n{text}");
    assert!(!text.contains('\x1b'));
}

#[test]
fn read_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let err = load(&missing).unwrap_err();
    assert!(matches!(err, SpecError::Read { .. }));
    assert!(err.to_string().contains("nope.toml"), "{err}");
    assert!(err.diagnostics().is_empty());
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
}

#[test]
fn load_reads_a_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(
        &path,
        "[provider]\nregion = \"cn-hangzhou\"\n[products.pai]\ncode = \"PAI_share\"\n",
    )
    .unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.file, path.display().to_string());
    assert_eq!(loaded.manifest.products.len(), 1);
}

#[test]
fn byte_order_mark_and_crlf() {
    let source = b"\xef\xbb\xbf[provider]\r\nregion = \"cn-hangzhou\"\r\n\r\n[products.pai]\r\ncode = \"PAI\"\r\n";
    let err = parse(source, "w.toml").unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!((d.line, d.column), (5, 8));
    assert_eq!(d.snippet.as_ref().map(|s| s.text.as_str()), Some("code = \"PAI\""));
}

#[test]
fn ten_megabytes() {
    // Mostly comments: valid, and fast.
    let mut big = String::from("[provider]\nregion = \"cn-hangzhou\"\n[products.pai]\ncode = \"PAI_share\"\n");
    while big.len() < 10 << 20 {
        big.push_str("# a long comment line that pads the manifest to ten megabytes of text ..........\n");
    }
    assert!(parse(big.as_bytes(), "big.toml").is_ok());
    // One 10 MB line with the mistake at its end: located exactly, printed short.
    let value = "x".repeat(10 << 20);
    let line =
        format!("[provider]\nregion = \"cn-hangzhou\"\nprofile = \"{value}\" # end\nbad = 1\n[products.p]\ncode = 1\n");
    let err = parse(line.as_bytes(), "line.toml").unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!(
        (d.line, d.column, d.message.as_str()),
        (4, 1, "unknown key `bad` in `provider`")
    );
    let long = parse(
        format!("[provider]\nregion = \"cn-hangzhou\"\nprofile = \"{value}\" = 2\n").as_bytes(),
        "l.toml",
    )
    .unwrap_err();
    let d = &long.diagnostics()[0];
    assert_eq!((d.line, d.column), (3, value.len() + 14));
    assert!(d.render(false).len() < 600, "{}", d.render(false));
}

#[test]
fn too_large_and_too_many() {
    let huge = vec![b'#'; pai_spec::MAX_MANIFEST_BYTES + 1];
    let err = parse(&huge, "huge.toml").unwrap_err();
    assert!(err.diagnostics()[0].message.contains("larger than 16 MiB"), "{err}");
    let mut many = String::from("[provider]\nregion = \"cn-hangzhou\"\n[products]\n");
    for i in 0..3000 {
        many.push_str(&format!("p{i} = {{ code = \"nope\" }}\n"));
    }
    let err = parse(many.as_bytes(), "many.toml").unwrap_err();
    let diagnostics = err.diagnostics();
    assert_eq!(diagnostics.len(), 1001);
    assert_eq!(
        diagnostics[1000].message,
        "2000 more problems were found but not reported"
    );
    assert!(err.to_string().contains("... and 901 more not shown"));
}
