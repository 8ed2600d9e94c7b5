//! Property tests: no input makes `validate` or `fmt` panic, and `fmt` is idempotent and
//! keeps the manifest's meaning on generated manifests of every layout.

use pai_spec::{analyse, format, parse, Diagnostic};
use proptest::prelude::*;

const QUICKSTART: &str = include_str!("../../../examples/quickstart.toml");
const MULTI_REGION: &str = include_str!("../../../examples/multi-region.toml");

/// Inserts `# cN` comment lines (and blank lines) before the given lines of `source`.
fn with_comments(source: &str, at: &[(usize, bool)]) -> String {
    let mut lines: Vec<String> = source.lines().map(str::to_owned).collect();
    for (n, (i, blank)) in at.iter().enumerate() {
        let i = i % (lines.len() + 1);
        lines.insert(i, format!("# c{n}"));
        if *blank {
            lines.insert(i, String::new());
        }
    }
    lines.join("\n") + "\n"
}

/// Everything the crate does with one input; panics only where the properties break.
fn exercise(bytes: &[u8]) {
    let (manifest, diagnostics) = analyse(bytes, "p.toml");
    let clean = manifest.is_some() && !diagnostics.iter().any(Diagnostic::is_error);
    assert_eq!(parse(bytes, "p.toml").is_ok(), clean);
    if !clean {
        assert!(
            diagnostics.iter().any(Diagnostic::is_error),
            "rejected without an error"
        );
    }
    for d in &diagnostics {
        assert!(d.line >= 1 && d.column >= 1);
        let _ = d.render(true);
    }
    match format(bytes, "p.toml") {
        Ok(once) => {
            assert!(clean);
            let twice = format(once.as_bytes(), "p.toml").unwrap_or_else(|e| panic!("fmt output invalid: {e}\n{once}"));
            assert_eq!(twice, once);
        }
        Err(_) => assert!(!clean),
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        Just(b'"'),
        Just(b'\''),
        Just(b'['),
        Just(b']'),
        Just(b'{'),
        Just(b'}'),
        Just(b'='),
        Just(b'.'),
        Just(b'\n'),
        Just(b'#'),
        Just(b','),
        Just(0xff),
        Just(0xe4),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Replace(i, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        match *e {
            Edit::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Edit::Delete(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Edit::Replace(i, b) if len > 0 => bytes[i % len] = b,
            _ => {}
        }
    }
    bytes
}

// --- generated manifests ------------------------------------------------------------------

const CODES: [&str; 4] = ["DataWorks_share", "MaxCompute_share", "PAI_share", "OSS_share"];
const REGIONS: [&str; 3] = ["cn-hangzhou", "cn-shanghai", "ap-southeast-1"];
const NAMES: [&str; 8] = ["zeta", "alpha", "m-1", "b_2", "pai", "oss", "dw", "x9"];

/// A documented property of each product, with a value the API accepts.
fn documented(code: usize) -> &'static [(&'static str, &'static str)] {
    match code {
        0 => &[("region", "cn-shanghai")],
        1 => &[
            ("region", "cn-hangzhou"),
            ("odps_specification_type", "OdpsStandard"),
            ("ord_time", "1:Hour"),
        ],
        3 => &[("commodity_type", "oss"), ("ord_time", "1:Hour")],
        _ => &[],
    }
}

#[derive(Debug, Clone)]
struct GenProduct {
    name: &'static str,
    code: usize,
    region: Option<usize>,
    auto_renew: Option<bool>,
    explicit_defaults: bool,
    /// (property index, optional Name)
    properties: Vec<(usize, Option<&'static str>)>,
    /// 0 header table, 1 inline under [products], 2 dotted under [products]
    style: u8,
    /// 0 dotted, 1 inline, 2 sub-table (header tables only)
    property_style: u8,
    order_seed: u64,
    comments: Vec<bool>,
}

#[derive(Debug, Clone)]
struct GenManifest {
    region: usize,
    auto_pay: Option<bool>,
    signature: Option<&'static str>,
    products: Vec<GenProduct>,
    provider_inline: bool,
    provider_last: bool,
    header_comment: bool,
    quote: bool,
}

fn gen_product() -> impl Strategy<Value = GenProduct> {
    (
        0..NAMES.len(),
        0..4usize,
        prop::option::of(0..REGIONS.len()),
        prop::option::of(any::<bool>()),
        any::<bool>(),
        prop::collection::vec(
            (0..3usize, prop::option::of(prop_oneof![Just("A name"), Just("名前")])),
            0..3,
        ),
        0..3u8,
        0..3u8,
        any::<u64>(),
        prop::collection::vec(any::<bool>(), 12),
    )
        .prop_map(
            |(n, code, region, auto_renew, explicit_defaults, props, style, property_style, order_seed, comments)| {
                let available = documented(code).len();
                let mut properties: Vec<(usize, Option<&'static str>)> = Vec::new();
                for (i, name) in props {
                    if available > 0 && !properties.iter().any(|(j, _)| *j == i % available) {
                        properties.push((i % available, name));
                    }
                }
                GenProduct {
                    name: NAMES[n],
                    code,
                    region,
                    auto_renew,
                    explicit_defaults,
                    properties,
                    style,
                    property_style,
                    order_seed,
                    comments,
                }
            },
        )
}

fn gen_manifest() -> impl Strategy<Value = GenManifest> {
    (
        0..REGIONS.len(),
        prop::option::of(any::<bool>()),
        prop::option::of(prop_oneof![Just("v3"), Just("v2")]),
        prop::collection::vec(gen_product(), 0..6),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(region, auto_pay, signature, candidates, provider_inline, provider_last, header_comment, quote)| {
                // Distinct addresses and distinct (region, code) identities; OSS once in all
                // (one purchase per account).
                let mut products: Vec<GenProduct> = Vec::new();
                for p in candidates {
                    let identity = (p.region.unwrap_or(region), p.code);
                    let oss = CODES[p.code] == "OSS_share";
                    let clash = products.iter().any(|q| {
                        q.name == p.name
                            || (q.region.unwrap_or(region), q.code) == identity
                            || (oss && q.code == p.code)
                    });
                    if !clash {
                        products.push(p);
                    }
                }
                GenManifest {
                    region,
                    auto_pay,
                    signature,
                    products,
                    provider_inline,
                    provider_last,
                    header_comment,
                    quote,
                }
            },
        )
}

fn string(s: &str, literal: bool) -> String {
    if literal {
        format!("'{s}'")
    } else {
        format!("\"{s}\"")
    }
}

fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

fn render(m: &GenManifest) -> String {
    let q = |s: &str| string(s, m.quote);
    let mut provider_keys = vec![format!("region = {}", q(REGIONS[m.region]))];
    if let Some(a) = m.auto_pay {
        provider_keys.push(format!("auto_pay = {a}"));
    }
    if let Some(s) = m.signature {
        provider_keys.push(format!("signature = {}", q(s)));
    }
    let provider = if m.provider_inline {
        format!("provider = {{ {} }} # inline provider\n", provider_keys.join(", "))
    } else {
        format!("# provider comment\n[provider]\n{}\n", provider_keys.join("\n"))
    };
    let mut headers = Vec::new();
    let mut under_products = Vec::new();
    for (pi, p) in m.products.iter().enumerate() {
        let comment = |i: usize, text: &str| {
            if p.comments[i % p.comments.len()] {
                format!("# {text} {pi}.{i}\n")
            } else {
                String::new()
            }
        };
        let mut keys = vec![format!("code = {}", q(CODES[p.code]))];
        if let Some(r) = p.region {
            keys.push(format!("region = {}", q(REGIONS[r])));
        }
        if let Some(a) = p.auto_renew {
            keys.push(format!("auto_renew = {a}"));
        }
        if p.explicit_defaults {
            keys.push(format!("charge_type = {}", q("POSTPAY")));
            keys.push(format!("order_type = {}", q("BUY")));
            keys.push("duration = 1".to_string());
            if let Some(cycle) = [Some("Month"), Some("Hour"), None, Some("Hour")][p.code] {
                keys.push(format!("pricing_cycle = {}", q(cycle)));
            }
        }
        let props: Vec<(String, String)> = p
            .properties
            .iter()
            .map(|(i, name)| {
                let (code, value) = documented(p.code)[*i];
                let value = match name {
                    Some(n) => format!("{{ value = {}, name = {} }}", q(value), q(n)),
                    None => q(value),
                };
                (code.to_string(), value)
            })
            .collect();
        let mut sub_table = String::new();
        match (p.style, p.property_style) {
            (0, 2) if !props.is_empty() => {
                sub_table = format!(
                    "\n{}[products.{}.properties]\n{}\n",
                    comment(5, "props table"),
                    p.name,
                    props
                        .iter()
                        .map(|(c, v)| format!("{}{c} = {v}", comment(6, "prop")))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            (_, 1) | (1, _) if !props.is_empty() => keys.push(format!(
                "properties = {{ {} }}",
                props
                    .iter()
                    .map(|(c, v)| format!("{c} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => keys.extend(props.iter().map(|(c, v)| format!("properties.{c} = {v}"))),
        }
        shuffle(&mut keys, p.order_seed);
        match p.style {
            0 => {
                let body: Vec<String> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        let trailing = if p.comments[(i + 3) % p.comments.len()] {
                            " # trailing"
                        } else {
                            ""
                        };
                        format!("{}{k}{trailing}", comment(i, "above"))
                    })
                    .collect();
                headers.push(format!(
                    "{}[products.{}]\n{}\n{sub_table}",
                    comment(11, "table"),
                    p.name,
                    body.join("\n")
                ));
            }
            1 => under_products.push(format!(
                "{}{} = {{ {} }}",
                comment(10, "inline"),
                p.name,
                keys.join(", ")
            )),
            _ => under_products.extend(keys.iter().map(|k| format!("{}.{k}", p.name))),
        }
    }
    let mut out = String::new();
    if m.header_comment {
        out.push_str("# generated manifest\n\n");
    }
    // Root key-values (an inline provider) must precede every table header.
    let provider_first = m.provider_inline || !m.provider_last;
    if provider_first {
        out.push_str(&provider);
        out.push('\n');
    }
    if !under_products.is_empty() {
        out.push_str(&format!("[products]\n{}\n\n", under_products.join("\n")));
    }
    for h in headers {
        out.push_str(&h);
        out.push('\n');
    }
    if !provider_first {
        out.push_str(&provider);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn any_bytes_yield_a_result_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(&bytes);
    }

    #[test]
    fn any_text_yields_a_result_not_a_panic(text in "[\\[\\]{}=.,\"'#a-z_0-9 \\n\\t-]{0,300}") {
        exercise(text.as_bytes());
    }

    #[test]
    fn edited_quickstarts_yield_a_result_not_a_panic(edits in prop::collection::vec(edit(), 1..6)) {
        exercise(&apply(QUICKSTART.as_bytes().to_vec(), &edits));
    }

    #[test]
    fn comments_anywhere_survive_fmt(
        which in any::<bool>(),
        at in prop::collection::vec((any::<usize>(), any::<bool>()), 1..8),
    ) {
        let source = with_comments(if which { QUICKSTART } else { MULTI_REGION }, &at);
        let once = format(source.as_bytes(), "c.toml").unwrap();
        prop_assert_eq!(format(once.as_bytes(), "c.toml").unwrap(), once.clone());
        for n in 0..at.len() {
            let comment = format!("# c{n}");
            prop_assert!(once.lines().any(|l| l == comment), "lost {}\nsource:\n{}\nformatted:\n{}", comment, source, once);
        }
    }

    #[test]
    fn fmt_is_idempotent_and_keeps_the_meaning(m in gen_manifest()) {
        let source = render(&m);
        let loaded = match parse(source.as_bytes(), "g.toml") {
            Ok(l) => l,
            Err(e) => panic!("generated an invalid manifest: {e}\n{source}"),
        };
        let once = format(source.as_bytes(), "g.toml").unwrap();
        let twice = format(once.as_bytes(), "g.toml").unwrap();
        prop_assert_eq!(&twice, &once, "source:\n{}", source);
        let mut before = loaded.manifest;
        let mut after = parse(once.as_bytes(), "g.toml").unwrap().manifest;
        before.source_hash.clear();
        after.source_hash.clear();
        prop_assert_eq!(before, after);
        for comment in source.lines().filter_map(|l| l.find('#').map(|i| l[i..].trim())) {
            prop_assert!(once.contains(comment), "lost {:?}\nsource:\n{}\nformatted:\n{}", comment, source, once);
        }
    }
}
