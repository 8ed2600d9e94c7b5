//! `fmt`: the canonical layout, comments kept, a fixed point, the manifest unchanged.

use std::path::Path;

use pai_spec::{format, parse, SpecError};

fn fmt(source: &str) -> String {
    match format(source.as_bytes(), "f.toml") {
        Ok(text) => text,
        Err(e) => panic!("{e}"),
    }
}

/// The manifest apart from the hash of its bytes.
fn meaning(source: &str) -> pai_spec::Manifest {
    let mut m = parse(source.as_bytes(), "f.toml").unwrap().manifest;
    m.source_hash.clear();
    m
}

fn check_round_trip(source: &str) -> String {
    let once = fmt(source);
    assert_eq!(fmt(&once), once, "not idempotent; first pass:\n{once}");
    assert_eq!(meaning(&once), meaning(source), "fmt changed the manifest:\n{once}");
    for comment in source.lines().filter_map(|l| l.find('#').map(|i| l[i..].trim())) {
        assert!(once.contains(comment), "lost {comment:?}:\n{once}");
    }
    once
}

const MESSY: &str = r#"# Team ML manifest
# owner: platform

# The OSS one
[products.oss]
properties.ord_time = { value = "1:Hour", name = "1 Hour" }   # hourly
code   =   'OSS_share'
properties.commodity_type = {value="oss",name="Object Storage Service"}

[provider] # main
auto_pay = true
   region = "cn-hangzhou"   # endpoint
endpoints = { cn-shanghai = "http://127.0.0.1:8081" }
# endpoint = "https://example.com"

[products]
# dw comment
dataworks = { code = "DataWorks_share", properties = { region = "cn-shanghai" }, region = "cn-shanghai" } # inline

[products.mc]
duration = 0x1
code = "MaxCompute_share"
[products.mc.properties]
# region of mc
region = "cn-hangzhou"
[products.mc.properties.ord_time]
value = "1:Hour" # one hour

[products.pai]

# blank then comment
code = "PAI_share"
properties = {}  # nothing
# the end
"#;

const MESSY_FORMATTED: &str = r#"# Team ML manifest
# owner: platform

[provider] # main
region = "cn-hangzhou" # endpoint
auto_pay = true
endpoints.cn-shanghai = "http://127.0.0.1:8081"
# endpoint = "https://example.com"

# dw comment
[products.dataworks] # inline
code = "DataWorks_share"
region = "cn-shanghai"
properties.region = "cn-shanghai"

[products.mc]
code = "MaxCompute_share"
duration = 1
# one hour
properties.ord_time = "1:Hour"
# region of mc
properties.region = "cn-hangzhou"

# The OSS one
[products.oss]
code = "OSS_share"
properties.commodity_type = { value = "oss", name = "Object Storage Service" }
properties.ord_time = { value = "1:Hour", name = "1 Hour" } # hourly

[products.pai]
# blank then comment
code = "PAI_share"
# nothing
# the end
"#;

#[test]
fn messy_manifest_gets_the_canonical_layout() {
    assert_eq!(check_round_trip(MESSY), MESSY_FORMATTED);
}

#[test]
fn examples_are_formatted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for name in ["quickstart.toml", "multi-region.toml"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(check_round_trip(&text), text, "{name}");
    }
}

#[test]
fn every_layout_of_one_manifest_formats_the_same() {
    let canonical = "[provider]\nregion = \"cn-hangzhou\"\n\n[products.oss]\ncode = \"OSS_share\"\nproperties.commodity_type = \"oss\"\nproperties.ord_time = { value = \"1:Hour\", name = \"1 Hour\" }\n";
    let layouts = [
        "provider = { region = \"cn-hangzhou\" }\nproducts = { oss = { code = \"OSS_share\", properties = { ord_time = { value = \"1:Hour\", name = \"1 Hour\" }, commodity_type = \"oss\" } } }\n",
        "provider.region = 'cn-hangzhou'\nproducts.oss.code = 'OSS_share'\nproducts.oss.properties.commodity_type = { value = 'oss' }\nproducts.oss.properties.ord_time = { name = '1 Hour', value = '1:Hour' }\n",
        "[products.oss.properties.ord_time]\nname = \"1 Hour\"\nvalue = \"1:Hour\"\n[products.oss.properties]\ncommodity_type = \"oss\"\n[products.oss]\ncode = \"OSS_share\"\n[provider]\nregion = \"cn-hangzhou\"\n",
        "[provider]\r\nregion = \"cn-hangzhou\"\r\n[products]\r\noss.code = \"OSS_share\"\r\noss.properties = { commodity_type = \"oss\", ord_time = { value = \"1:Hour\", name = \"1 Hour\" } }\r\n",
        "\u{feff}[provider]\n  region   =   \"\"\"cn-hangzhou\"\"\"\n\n\n\n[products.oss]\n\tcode = \"OSS_share\"\n\tproperties . ord_time = { value = \"1:Hour\" , name = \"1 Hour\" }\n\tproperties.commodity_type=\"oss\"\n\n\n",
    ];
    for layout in layouts {
        assert_eq!(check_round_trip(layout), canonical, "from:\n{layout}");
    }
}

#[test]
fn keys_that_need_quotes_stay_quoted() {
    let source = "[provider]\nregion = \"cn-hangzhou\"\n\n[products.pai]\ncode = \"PAI_share\"\nproperties.\"a.b\" = \"x\"\nproperties.\"中文\" = \"值\"\n";
    assert_eq!(check_round_trip(source), source);
}

#[test]
fn comments_of_the_first_table_split_at_the_last_blank_line() {
    let source = "# header one\n\n# header two\n\n# about pai\n[products.pai]\ncode = \"PAI_share\"\n\n# about the provider\n[provider]\nregion = \"cn-hangzhou\"\n";
    let want = "# header one\n\n# header two\n\n# about the provider\n[provider]\nregion = \"cn-hangzhou\"\n\n# about pai\n[products.pai]\ncode = \"PAI_share\"\n";
    assert_eq!(check_round_trip(source), want);
}

#[test]
fn the_file_header_above_a_root_dotted_key_stays_at_the_top() {
    let source = "# header\n\n# about zeta\nproducts.zeta.code = \"PAI_share\"\n\n[provider]\nregion = \"cn-hangzhou\"\n\n[products.alpha]\ncode = \"OSS_share\"\n";
    let want = "# header\n\n[provider]\nregion = \"cn-hangzhou\"\n\n[products.alpha]\ncode = \"OSS_share\"\n\n[products.zeta]\n# about zeta\ncode = \"PAI_share\"\n";
    assert_eq!(check_round_trip(source), want);
    // A header alone above the dotted key, and one above a root inline table, stay on top too.
    let alone = "# header\n\nproducts.zeta.code = \"PAI_share\"\n\n[provider]\nregion = \"cn-hangzhou\"\n";
    let want = "# header\n\n[provider]\nregion = \"cn-hangzhou\"\n\n[products.zeta]\ncode = \"PAI_share\"\n";
    assert_eq!(check_round_trip(alone), want);
}

#[test]
fn invalid_manifests_are_refused_with_their_diagnostics() {
    let err = format(
        b"[provider]\nregion = \"cn-hangzhou\"\n[products.pai]\ncode = \"PAI\"\n",
        "bad.toml",
    )
    .unwrap_err();
    match &err {
        SpecError::Invalid { file, diagnostics } => {
            assert_eq!(file, "bad.toml");
            assert_eq!((diagnostics[0].line, diagnostics[0].column), (4, 8));
        }
        other => panic!("{other}"),
    }
    assert!(format(b"\xff", "bin.toml").is_err());
    assert!(format(b"", "empty.toml").is_err());
}

#[test]
fn warnings_do_not_stop_formatting() {
    let source = "[provider]\nregion = \"cn-hangzhou\"\n\n[products.pai]\ncode = \"PAI_share\"\nproperties.colour = \"red\" # undocumented\n";
    assert_eq!(check_round_trip(source), source);
}
