//! Table tests of the diagnostics: each case is a manifest, the message a diagnostic must
//! carry, its severity, its 1-based line and column, and (optionally) a piece of its hint.

mod support;

use pai_spec::analyse;
use support::{e, w, Case};

const P: &str = "[provider]\nregion = \"cn-hangzhou\"\n";

/// `P` plus one product table.
fn product(body: &str) -> String {
    format!("{P}\n[products.x]\n{body}")
}

fn cases() -> Vec<Case> {
    vec![
        // The file as a whole.
        e("empty file", "", "the manifest is empty", 1, 1).hint("[provider]"),
        e("only whitespace", " \n\n\t\n", "the manifest is empty", 1, 1),
        e("only a comment", "# nothing yet\n", "missing table `[provider]`", 1, 1),
        e("no provider", "[products.pai]\ncode = \"PAI_share\"\n", "missing table `[provider]`", 1, 1),
        e("toml: missing value", format!("{P}auto_pay =\n"), "TOML syntax error", 3, 11),
        e("toml: unterminated string", format!("{P}profile = \"ci\n"), "TOML syntax error", 3, 14),
        e("toml: table defined twice", format!("{P}[provider]\n"), "duplicate key `provider`", 3, 1)
            .hint("defined only once"),
        e("toml: key defined twice", format!("{P}region = \"cn-beijing\"\n"), "duplicate key `region`", 3, 1),
        e("toml: bare word value", format!("{P}signature = v3\n"), "TOML syntax error", 3, 13),
        // The top level.
        e("unknown top-level table", format!("{P}[product.pai]\ncode = \"PAI_share\"\n"), "unknown key `product` at the top level", 3, 2)
            .hint("did you mean `products`?"),
        e("array of products", format!("{P}[[products]]\ncode = \"PAI_share\"\n"), "`products` must be a table, not an array of tables", 3, 1)
            .hint("[products.<address>]"),
        e("provider is a string", "provider = \"cn-hangzhou\"\n", "`provider` must be a table, not a string", 1, 12),
        e("state url empty", format!("{P}[state]\nurl = \"\"\n"), "`state.url` is empty", 4, 7),
        e("state url with a password", format!("{P}[state]\nurl = \"postgres://pai:pw@db/x\"\n"), "`state.url` carries a password", 4, 7),
        e("state url of another scheme", format!("{P}[state]\nurl = \"postgress://ci@db:5432/infra\"\n"), "`state.url` has the scheme `postgress://`, which is not a state backend", 4, 7),
        e("state url of mysql, password and all", format!("{P}[state]\nurl = \"mysql://ci:pw@db/infra\"\n"), "`state.url` has the scheme `mysql://`", 4, 7),
        e("state unknown key", format!("{P}[state]\npath = \"x.db\"\n"), "unknown key `path` in `state`", 4, 1)
            .hint("`url`"),
        e("state without url", format!("{P}[state]\n"), "`[state]` has no `url`", 3, 2),
        // [provider]
        e("provider without region", "[provider]\nauto_pay = true\n", "`[provider]` has no `region`", 1, 2),
        e("region not an id", "[provider]\nregion = \"Hangzhou\"\n", "invalid region `Hangzhou`", 2, 10)
            .hint("like `cn-hangzhou`"),
        e("region with underscore", "[provider]\nregion = \"cn_hangzhou\"\n", "invalid region `cn_hangzhou`", 2, 10)
            .hint("did you mean `cn-hangzhou`?"),
        e("region not a string", "[provider]\nregion = 1\n", "`provider.region` must be a string, not an integer", 2, 10),
        e("auto_pay quoted", format!("{P}auto_pay = \"true\"\n"), "`provider.auto_pay` must be a boolean, not a string", 3, 12)
            .hint("without quotes"),
        e("auto_pay a word", format!("{P}auto_pay = \"yes\"\n"), "must be a boolean, not a string", 3, 12)
            .hint("auto_pay = true"),
        e("signature unknown", format!("{P}signature = \"v4\"\n"), "unknown signature version `v4`", 3, 13)
            .hint("did you mean `v3`?"),
        e("signature far off", format!("{P}signature = \"hmac-sha256\"\n"), "unknown signature version", 3, 13)
            .hint("valid values: `v3`, `v2`"),
        e("provider key typo", format!("{P}regoin = \"cn-beijing\"\n"), "unknown key `regoin` in `provider`", 3, 1)
            .hint("did you mean `region`?"),
        e("secret in provider", format!("{P}access_key_secret = \"hunter2\"\n"), "credentials never go in the manifest", 3, 1)
            .hint("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        e("product key in provider", format!("{P}code = \"PAI_share\"\n"), "unknown key `code` in `provider`", 3, 1)
            .hint("belongs in a `[products.<address>]` table"),
        e("profile empty", format!("{P}profile = \" \"\n"), "`provider.profile` is empty", 3, 11),
        e("endpoint other scheme", format!("{P}endpoint = \"ftp://aiworkspace.cn-hangzhou.aliyuncs.com\"\n"), "must start with `https://` or `http://`", 3, 12),
        // What the client refuses, validate refuses: the API's paths are signed as absolute.
        e("endpoint with a path", format!("{P}endpoint = \"http://127.0.0.1:9/{{region}}\"\n"), "without a path", 3, 12),
        e("endpoint placeholder", format!("{P}endpoint = \"https://x.{{zone}}.com\"\n"), "unknown placeholder `{zone}`", 3, 12)
            .hint("`{region}`"),
        e("endpoint with user info", format!("{P}endpoint = \"https://u:pw@x\"\n"), "invalid endpoint `(redacted)`", 3, 12),
        w("endpoint plain http", format!("{P}endpoint = \"http://aiworkspace.example.com\"\n"), "uses plain HTTP", 3, 12),
        e("endpoints bad region", format!("{P}endpoints = {{ Shanghai = \"http://127.0.0.1:8081\" }}\n"), "invalid region `Shanghai` in `provider.endpoints`", 3, 15)
            .hint("region id"),
        e("endpoints not a table", format!("{P}endpoints = \"http://127.0.0.1:1\"\n"), "`provider.endpoints` must be a table, not a string", 3, 13),
        w(
            "endpoint override unused",
            format!("{P}endpoints.cn-beijing = \"http://127.0.0.1:1\"\n\n[products.pai]\ncode = \"PAI_share\"\n"),
            "no product is ordered in `cn-beijing`",
            3,
            11,
        )
        .hint("`cn-hangzhou`"),
        // [products.<address>]
        w("no products", P, "the manifest declares no products", 1, 1),
        e("products not a table", format!("products = \"pai\"\n{P}"), "`products` must be a table, not a string", 1, 12),
        e("products key below provider", format!("{P}products = \"pai\"\n"), "unknown key `products` in `provider`", 3, 1)
            .hint("belongs to that table"),
        e("address with capitals", format!("{P}[products.DataWorks]\ncode = \"DataWorks_share\"\n"), "invalid address `DataWorks`", 3, 11)
            .hint("did you mean `dataworks`?"),
        e("address with a space", format!("{P}[products.\"data works\"]\ncode = \"DataWorks_share\"\n"), "invalid address `data works`", 3, 11)
            .hint("did you mean `data_works`?"),
        e("address starts with a digit", format!("{P}[products.1pai]\ncode = \"PAI_share\"\n"), "invalid address `1pai`", 3, 11),
        e("product is a string", format!("{P}[products]\npai = \"PAI_share\"\n"), "`products.pai` must be a table, not a string", 4, 7),
        e("product without code", product("region = \"cn-shanghai\"\n"), "`products.x` has no `code`", 4, 11)
            .hint("`DataWorks_share`, `MaxCompute_share`, `PAI_share`, `OSS_share`"),
        e("code with wrong case", product("code = \"Dataworks_share\"\n"), "unknown product code `Dataworks_share`", 5, 8)
            .hint("did you mean `DataWorks_share`?"),
        e("code without suffix", product("code = \"MaxCompute\"\n"), "unknown product code `MaxCompute`", 5, 8)
            .hint("did you mean `MaxCompute_share`?"),
        e("code of another product", product("code = \"ECS_share\"\n"), "unknown product code `ECS_share`", 5, 8)
            .hint("valid codes: `DataWorks_share`"),
        e("code not a string", product("code = 1\n"), "`products.x.code` must be a string, not an integer", 5, 8),
        e("product region invalid", product("code = \"PAI_share\"\nregion = \"cn hangzhou\"\n"), "invalid region `cn hangzhou`", 6, 10)
            .hint("did you mean `cn-hangzhou`?"),
        e("charge type", product("code = \"PAI_share\"\ncharge_type = \"PREPAY\"\n"), "ChargeType `PREPAY` is not supported", 6, 15)
            .hint("`POSTPAY`"),
        e("order type", product("code = \"PAI_share\"\norder_type = \"RENEW\"\n"), "OrderType `RENEW` is not supported", 6, 14)
            .hint("`BUY`"),
        e("duration 2", product("code = \"PAI_share\"\nduration = 2\n"), "Duration 2 is not supported", 6, 12),
        e("duration quoted", product("code = \"PAI_share\"\nduration = \"1\"\n"), "`products.x.duration` must be an integer, not a string", 6, 12)
            .hint("duration = 1"),
        e("duration float", product("code = \"PAI_share\"\nduration = 1.0\n"), "must be an integer, not a float", 6, 12),
        e("dataworks by the hour", product("code = \"DataWorks_share\"\npricing_cycle = \"Hour\"\n"), "PricingCycle `Hour` is not valid for DataWorks_share", 6, 17)
            .hint("takes `Month`"),
        e("oss by the month", product("code = \"OSS_share\"\npricing_cycle = \"Month\"\n"), "PricingCycle `Month` is not valid for OSS_share", 6, 17)
            .hint("takes `Hour`"),
        e("maxcompute by the month", product("code = \"MaxCompute_share\"\npricing_cycle = \"Month\"\n"), "not valid for MaxCompute_share", 6, 17),
        e("pai with a cycle", product("code = \"PAI_share\"\npricing_cycle = \"Hour\"\n"), "PricingCycle `Hour` is not valid for PAI_share", 6, 17)
            .hint("takes no pricing cycle"),
        e("auto_renew a string", product("code = \"PAI_share\"\nauto_renew = \"yes\"\n"), "`products.x.auto_renew` must be a boolean, not a string", 6, 14),
        e("wire name as key", product("ProductCode = \"PAI_share\"\n"), "unknown key `ProductCode` in `products.x`", 5, 1)
            .hint("did you mean `code`?"),
        e("key typo in product", product("code = \"PAI_share\"\nauto_renw = true\n"), "unknown key `auto_renw`", 6, 1)
            .hint("did you mean `auto_renew`?"),
        e("provider key in product", product("code = \"PAI_share\"\nauto_pay = true\n"), "unknown key `auto_pay` in `products.x`", 6, 1)
            .hint("belongs in `[provider]`"),
        e("properties a string", product("code = \"DataWorks_share\"\nproperties = \"cn-shanghai\"\n"), "`products.x.properties` must be a table, not a string", 6, 14),
        e("oss commodity type", product("code = \"OSS_share\"\nproperties.commodity_type = \"OSS\"\n"), "must be `oss` for OSS_share, not `OSS`", 6, 29)
            .hint("use `oss`"),
        e("oss ord_time in a table", product("code = \"OSS_share\"\nproperties.ord_time = { value = \"1:Month\", name = \"1 Month\" }\n"), "instance property `ord_time` must be `1:Hour`", 6, 33),
        e("maxcompute specification", product("code = \"MaxCompute_share\"\nproperties.odps_specification_type = \"Standard\"\n"), "must be `OdpsStandard`", 6, 38),
        e("dataworks region property", product("code = \"DataWorks_share\"\nproperties = { region = \"Shanghai\" }\n"), "instance property `region` must be a region id, not `Shanghai`", 6, 25),
        w("undocumented property", product("code = \"OSS_share\"\nproperties.comodity_type = \"oss\"\n"), "instance property `comodity_type` is not documented for OSS_share", 6, 12)
            .hint("did you mean `commodity_type`?"),
        w("property on pai", product("code = \"PAI_share\"\nproperties.region = \"cn-hangzhou\"\n"), "is not documented for PAI_share", 6, 12)
            .hint("documents no instance properties"),
        e("property an integer", product("code = \"DataWorks_share\"\nproperties.region = 1\n"), "must be a string or a table with `value` and `name`, not an integer", 6, 21),
        e("property without value", product("code = \"OSS_share\"\nproperties.ord_time = { name = \"1 Hour\" }\n"), "`products.x.properties.ord_time` has no `value`", 6, 12),
        e("property unknown part", product("code = \"OSS_share\"\nproperties.ord_time = { value = \"1:Hour\", nme = \"1 Hour\" }\n"), "unknown key `nme` in `products.x.properties.ord_time`", 6, 43)
            .hint("did you mean `name`?"),
        e("property name not a string", product("code = \"OSS_share\"\nproperties.ord_time = { value = \"1:Hour\", name = 1 }\n"), "`products.x.properties.ord_time.name` must be a string", 6, 50),
        e("property code empty", product("code = \"OSS_share\"\nproperties = { \"\" = \"oss\" }\n"), "an instance property code in `products.x.properties` is empty", 6, 16),
        e(
            "duplicate region and code",
            format!("{P}\n[products.pai]\ncode = \"PAI_share\"\n\n[products.pai2]\ncode = \"PAI_share\"\n"),
            "`products.pai2` orders PAI_share in cn-hangzhou, as `products.pai` does",
            8,
            8,
        )
        .hint("`products.pai` (line 5) already declares"),
        e(
            "duplicate through an explicit region",
            format!("{P}\n[products.b]\ncode = \"OSS_share\"\n\n[products.a]\ncode = \"OSS_share\"\nregion = \"cn-hangzhou\"\n"),
            "`products.a` orders OSS_share in cn-hangzhou, as `products.b` does",
            8,
            8,
        ),
        e("a fleet file given as a manifest", "[fleet]\nrole = \"pai\"\n", "unknown key `fleet` at the top level", 1, 2)
            .hint("looks like a fleet file"),
        e(
            "OSS in a second region",
            format!("{P}\n[products.oss]\ncode = \"OSS_share\"\n\n[products.oss-sh]\ncode = \"OSS_share\"\nregion = \"cn-shanghai\"\n"),
            "`products.oss-sh` orders OSS_share in cn-shanghai, but `products.oss` already orders it in cn-hangzhou",
            8,
            8,
        )
        .hint("OSS is opened once per account"),
        // Roles come only from the fleet file: a manifest edit must not pick the account.
        e("role in provider", format!("{P}role = \"pai-provision\"\n"), "`provider.role` is not a manifest key: roles come only from the fleet file", 3, 1)
            .hint("docs/fleet.md"),
        e("role arn in provider", format!("{P}role_arn = \"acs:ram::1234567890123456:role/x\"\n"), "roles come only from the fleet file", 3, 1),
        e("assume_role at the top", format!("assume_role = \"x\"\n{P}"), "`assume_role` is not a manifest key: roles come only", 1, 1),
        e("RoleArn in a product", product("code = \"PAI_share\"\nRoleArn = \"x\"\n"), "`products.x.RoleArn` is not a manifest key: roles come only", 6, 1),
        // Inside `properties` too (issue 21): they would be sent in InstanceProperties.
        e("assume_role in properties", product("code = \"PAI_share\"\nproperties.assume_role = \"x\"\n"), "`products.x.properties.assume_role` is not an instance property: roles come only", 6, 12),
        e("role_arn in a property table", product("code = \"PAI_share\"\n\n[products.x.properties]\nrole_arn = { value = \"acs:ram::1:role/x\" }\n"), "`products.x.properties.role_arn` is not an instance property: roles come only", 8, 1),
    ]
}

#[test]
fn every_bad_manifest_is_reported_where_it_is_wrong() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let (manifest, diagnostics) = analyse(case.source.as_bytes(), "m.toml");
        failures.extend(case.failures(manifest.is_some(), &diagnostics, "m.toml"));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn invalid_utf8_is_located() {
    let source = b"[provider]\nregion = \"cn-\xffhangzhou\"\n\n# \xc3\x28\n";
    let (manifest, diagnostics) = analyse(source, "m.toml");
    assert!(manifest.is_none());
    let at: Vec<(usize, usize, &str)> = diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(
        at,
        [
            (2, 14, "the file is not valid UTF-8: byte 0xFF cannot be decoded"),
            (4, 3, "the file is not valid UTF-8: byte 0xC3 cannot be decoded"),
        ]
    );
    let text = diagnostics[0].render(false);
    assert!(text.contains("2 | region = \"cn-\u{FFFD}hangzhou\""), "{text}");
}
