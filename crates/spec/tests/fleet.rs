//! The fleet file: a table test of every diagnostic (message, severity, line, column, hint),
//! the example fleet read back account by account, and the rule that an account the fleet
//! file does not list is never resolved.

mod support;

use std::path::Path;

use pai_spec::fleet::{analyse_fleet, load_fleet, FleetError};
use support::{e, w, Case};

/// A fleet whose defaults give every account a role, regions and a manifest.
const F: &str = "[fleet]\nmanifest = \"m.toml\"\nrole = \"pai\"\nregions = [\"cn-hangzhou\"]\n";
/// One account, 16 digits.
const A: &str = "[accounts.a]\nid = \"1234567890123456\"\n";

fn cases() -> Vec<Case> {
    vec![
        e("empty", "", "the fleet file lists no accounts", 1, 1).hint("[accounts.<name>]"),
        e(
            "toml: key twice",
            format!("{F}role = \"x\"\n"),
            "duplicate key `role`",
            5,
            1,
        ),
        e("toml syntax", format!("{F}{A}tags = [\n"), "TOML syntax error", 8, 1),
        e(
            "unknown top-level key",
            format!("{F}[account.a]\n"),
            "unknown key `account` at the top level",
            5,
            2,
        )
        .hint("did you mean `accounts`?"),
        e(
            "unknown fleet key",
            format!("[fleet]\nregion = [\"cn-hangzhou\"]\n{A}"),
            "unknown key `region` in `fleet`",
            2,
            1,
        )
        .hint("did you mean `regions`?"),
        e(
            "secret in the fleet",
            format!("{F}access_key_secret = \"x\"\n{A}"),
            "credentials never go in the fleet file",
            5,
            1,
        ),
        e(
            "unknown account key",
            format!("{F}{A}regoins = [\"cn-hangzhou\"]\n"),
            "unknown key `regoins` in `accounts.a`",
            7,
            1,
        )
        .hint("did you mean `regions`?"),
        e(
            "account name",
            format!("{F}[accounts.Prod]\nid = \"1234567890123456\"\n"),
            "invalid account name `Prod`",
            5,
            11,
        ),
        e(
            "account not a table",
            format!("{F}[accounts]\na = \"1234567890123456\"\n"),
            "`accounts.a` must be a table, not a string",
            6,
            5,
        ),
        e(
            "no id",
            format!("{F}[accounts.a]\ntags = []\n"),
            "`[accounts.a]` has no `id`",
            5,
            11,
        ),
        e(
            "id as an integer",
            format!("{F}[accounts.a]\nid = 1234567890123456\n"),
            "`accounts.a.id` must be a string, not an integer",
            6,
            6,
        ),
        e(
            "id too short",
            format!("{F}[accounts.a]\nid = \"12345\"\n"),
            "invalid account id `12345`",
            6,
            6,
        )
        .hint("16 digits"),
        e(
            "id with letters",
            format!("{F}[accounts.a]\nid = \"12345678901234ab\"\n"),
            "invalid account id",
            6,
            6,
        ),
        e(
            "duplicate id",
            format!("{F}{A}[accounts.b]\nid = \"1234567890123456\"\n"),
            "account id `1234567890123456` is listed twice: `accounts.a` (line 6) and `accounts.b`",
            8,
            6,
        ),
        e(
            "role arn of another account",
            format!("{F}{A}role = \"acs:ram::9999999999999999:role/pai\"\n"),
            "is in account `9999999999999999`, not in this account `1234567890123456`",
            7,
            8,
        ),
        e(
            "role arn mangled",
            format!("{F}{A}role = \"acs:ram::1234567890123456:user/pai\"\n"),
            "invalid role ARN",
            7,
            8,
        )
        .hint("acs:ram::<account id>:role/<role name>"),
        e(
            "role arn in the fleet",
            "[fleet]\nrole = \"acs:ram::1234567890123456:role/pai\"\n",
            "a role ARN names one account; `[fleet]` takes a role name",
            2,
            8,
        )
        .hint("role = \"pai\""),
        e(
            "role name",
            format!("{F}{A}role = \"pai provision\"\n"),
            "invalid role name `pai provision`",
            7,
            8,
        ),
        e(
            "no role",
            "[fleet]\nmanifest = \"m.toml\"\nregions = [\"cn-hangzhou\"]\n[accounts.a]\nid = \"1234567890123456\"\n",
            "`accounts.a` has no role",
            4,
            11,
        ),
        e(
            "no regions",
            "[fleet]\nmanifest = \"m.toml\"\nrole = \"pai\"\n[accounts.a]\nid = \"1234567890123456\"\n",
            "`accounts.a` has no regions",
            4,
            11,
        )
        .hint("regions = [\"cn-hangzhou\"]"),
        e(
            "empty regions",
            format!("{F}{A}regions = []\n"),
            "`accounts.a.regions` is empty",
            7,
            11,
        ),
        e(
            "bad region",
            format!("{F}{A}regions = [\"cn_shanghai\"]\n"),
            "invalid region `cn_shanghai`",
            7,
            12,
        )
        .hint("did you mean `cn-shanghai`?"),
        e(
            "regions a string",
            format!("{F}{A}regions = \"cn-hangzhou\"\n"),
            "`accounts.a.regions` must be an array of strings, not a string",
            7,
            11,
        ),
        e(
            "region an integer",
            format!("{F}{A}regions = [1]\n"),
            "`accounts.a.regions` must hold strings only",
            7,
            12,
        ),
        e(
            "no manifest",
            "[fleet]\nrole = \"pai\"\nregions = [\"cn-hangzhou\"]\n[accounts.a]\nid = \"1234567890123456\"\n",
            "`accounts.a` has no manifest",
            4,
            11,
        ),
        e(
            "empty manifest",
            format!("{F}{A}manifest = \" \"\n"),
            "`accounts.a.manifest` is empty",
            7,
            12,
        ),
        e(
            "bad tag",
            format!("{F}{A}tags = [\"Prod\"]\n"),
            "invalid tag `Prod`",
            7,
            9,
        ),
        e(
            "two tag manifests",
            format!("{F}[tags.x]\nmanifest = \"x.toml\"\n[tags.y]\nmanifest = \"y.toml\"\n{A}tags = [\"x\", \"y\"]\n"),
            "`accounts.a` gets two manifests, from its tags `x` and `y`",
            9,
            11,
        )
        .hint("its own `manifest"),
        e(
            "unknown tag key",
            format!("{F}[tags.x]\nrole = \"other\"\n{A}"),
            "unknown key `role` in `tags.x`",
            6,
            1,
        )
        .hint("`manifest`"),
        e(
            "a manifest given as a fleet file",
            "[provider]\nregion = \"cn-hangzhou\"\n",
            "unknown key `provider` at the top level",
            1,
            2,
        )
        .hint("looks like a manifest"),
        w(
            "unused tag override",
            format!("{F}[tags.gpu]\nmanifest = \"g.toml\"\n{A}"),
            "no account carries the tag `gpu`",
            5,
            7,
        ),
        e(
            "discovery without folder",
            format!("{F}[discovery]\n"),
            "`[discovery]` has no `folder`",
            5,
            2,
        ),
        e(
            "discovery folder",
            format!("{F}[discovery]\nfolder = \"r-123\"\n"),
            "invalid Resource Directory folder id `r-123`",
            6,
            10,
        ),
        e(
            "discovery tag value",
            format!("{F}[discovery]\nfolder = \"fd-1\"\ntags = {{ env = 1 }}\n"),
            "`discovery.tags.env` must be a string, not an integer",
            7,
            16,
        ),
        e(
            "discovery without defaults",
            "[discovery]\nfolder = \"fd-1\"\n",
            "`[discovery]` needs `role`, `regions`, `manifest` in `[fleet]`",
            1,
            2,
        ),
    ]
}

#[test]
fn every_bad_fleet_file_is_reported_where_it_is_wrong() {
    let mut failures = Vec::new();
    for case in &cases() {
        let (fleet, diagnostics) = analyse_fleet(case.source.as_bytes(), "fleet.toml", None);
        failures.extend(case.failures(fleet.is_some(), &diagnostics, "fleet.toml"));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn example() -> pai_spec::fleet::LoadedFleet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet/fleet.toml");
    match load_fleet(&path) {
        Ok(loaded) => loaded,
        Err(err) => panic!("{err}"),
    }
}

#[test]
fn the_example_fleet_resolves_every_account() {
    let loaded = example();
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let fleet = &loaded.fleet;
    let rows: Vec<String> = fleet
        .accounts()
        .map(|a| {
            let manifest = a.manifest.file_name().map(|f| f.to_string_lossy().into_owned());
            let regions: Vec<String> = a.regions.iter().map(ToString::to_string).collect();
            format!(
                "{} {} [{}] {} [{}] {}",
                a.name,
                a.id,
                a.tags.join(" "),
                a.role_arn,
                regions.join(" "),
                manifest.unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            "analytics 2345678901234567 [ml] acs:ram::2345678901234567:role/pai-provision [cn-hangzhou] quickstart.toml",
            "research 1234567890123456 [ml multi-region] acs:ram::1234567890123456:role/pai-provision \
             [cn-hangzhou cn-shanghai] multi-region.toml",
            "sandbox 3456789012345678 [sandbox] acs:ram::3456789012345678:role/pai-provision-sandbox [cn-hangzhou] \
             quickstart.toml",
        ]
    );
    // Each manifest it names is one that validates, read from the fleet file's directory.
    for account in fleet.accounts() {
        if let Err(err) = pai_spec::load(&account.manifest) {
            panic!("{}: {err}", account.name);
        }
    }
    assert_eq!(fleet.accounts_tagged("ml").count(), 2);
    assert!(fleet.discovery.is_none());
}

#[test]
fn an_account_missing_from_the_fleet_file_is_never_resolved() {
    let fleet = example().fleet;
    assert_eq!(
        fleet.account("research").map(|a| a.id.to_string()),
        Ok("1234567890123456".into())
    );
    assert_eq!(
        fleet.account("3456789012345678").map(|a| a.name.to_string()),
        Ok("sandbox".into())
    );
    for unknown in ["9999999999999999", "production", "Research", ""] {
        let err = fleet.account(unknown).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains(&format!("account `{unknown}` is not in the fleet file")),
            "{unknown}: {err}"
        );
    }
    assert!(fleet.accounts().all(|a| a.role_arn.contains(a.id.as_str())));
}

#[test]
fn manifest_paths_are_read_from_the_fleet_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    std::fs::write(dir.path().join("manifests/base.toml"), "").unwrap();
    let source = "[fleet]\nmanifest = \"manifests/base.toml\"\nrole = \"pai\"\nregions = [\"cn-hangzhou\"]\n\n\
                  [accounts.a]\nid = \"1234567890123456\"\n\n\
                  [accounts.b]\nid = \"2345678901234567\"\nmanifest = \"manifests/b.toml\"\n";
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, source).unwrap();
    let Err(FleetError::Invalid { diagnostics, .. }) = load_fleet(&path) else {
        panic!("a fleet naming a missing manifest was accepted");
    };
    let at: Vec<(usize, usize, &str)> = diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(at.len(), 1, "{at:?}");
    assert_eq!((at[0].0, at[0].1), (11, 12));
    assert!(
        at[0].2.starts_with("the manifest `manifests/b.toml` does not exist"),
        "{}",
        at[0].2
    );

    std::fs::write(dir.path().join("manifests/b.toml"), "").unwrap();
    let fleet = load_fleet(&path).map_err(|e| e.to_string()).unwrap().fleet;
    let a = fleet.account("a").unwrap();
    assert_eq!(a.manifest, dir.path().join("manifests/base.toml"));
    assert_eq!(
        fleet.account("b").unwrap().manifest,
        dir.path().join("manifests/b.toml")
    );
}

#[test]
fn discovery_is_parsed_with_the_fleet_defaults() {
    let source = format!("[discovery]\nfolder = \"fd-bZr2\"\ntags = {{ env = \"prod\" }}\n{F}");
    let (fleet, diagnostics) = analyse_fleet(source.as_bytes(), "fleet.toml", None);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let discovery = fleet
        .and_then(|f| f.discovery)
        .map(|d| (d.folder, d.tags.into_iter().collect::<Vec<_>>()));
    assert_eq!(discovery, Some(("fd-bZr2".into(), vec![("env".into(), "prod".into())])));
}

#[test]
fn without_a_directory_paths_are_kept_as_written() {
    let source = format!("{F}{A}manifest = \"does/not/exist.toml\"\n");
    let (fleet, diagnostics) = analyse_fleet(source.as_bytes(), "fleet.toml", None);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let manifest = fleet.and_then(|f| f.account("a").ok().map(|a| a.manifest.clone()));
    assert_eq!(manifest, Some(Path::new("does/not/exist.toml").to_path_buf()));
}

/// `[discovery]`: the accounts Resource Directory lists join the fleet with the `[fleet]`
/// defaults; one the file lists keeps what the file says; a bad id is left out with a reason.
#[test]
fn discovered_accounts_take_the_fleet_defaults() {
    use pai_spec::fleet::Found;
    let text = format!("{F}[discovery]\nfolder = \"fd-1\"\n[accounts.a]\nid = \"1234567890123456\"\nrole = \"own\"\n");
    let (fleet, diagnostics) = analyse_fleet(text.as_bytes(), "fleet.toml", None);
    let fleet = fleet.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let found = [
        Found {
            id: "1234567890123456".into(),
            display_name: "listed already".into(),
        },
        Found {
            id: "2222222222222222".into(),
            display_name: "Team B".into(),
        },
        Found {
            id: "33".into(),
            display_name: "short".into(),
        },
    ];
    let (fleet, skipped) = fleet.with_discovered(&found);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].contains("`33`"), "{skipped:?}");
    let listed = fleet.account("a").unwrap();
    assert_eq!(listed.role_arn, "acs:ram::1234567890123456:role/own");
    let found = fleet.account("2222222222222222").unwrap();
    assert_eq!(found.name.as_str(), "team-b");
    assert_eq!(found.role_arn, "acs:ram::2222222222222222:role/pai");
    assert_eq!(found.manifest, Path::new("m.toml"));
    assert_eq!(found.regions.len(), 1);
    assert!(found.tags.is_empty());
    assert_eq!(fleet.accounts().count(), 2);
}

/// `plan_role`: a role name in `[fleet]` or an account, or the account's own ARN; the plan role
/// ARN is made from the account's id like the role's.
#[test]
fn plan_roles_resolve_like_roles() {
    let text = format!(
        "{F}plan_role = \"reader\"\n[accounts.a]\nid = \"1234567890123456\"\n\
         [accounts.b]\nid = \"2345678901234567\"\nplan_role = \"acs:ram::2345678901234567:role/ro\"\n"
    );
    let (fleet, diagnostics) = analyse_fleet(text.as_bytes(), "fleet.toml", None);
    let fleet = fleet.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let a = fleet.account("a").unwrap();
    assert_eq!(
        a.plan_role_arn.as_deref(),
        Some("acs:ram::1234567890123456:role/reader")
    );
    assert_eq!(a.role_arn, "acs:ram::1234567890123456:role/pai");
    let b = fleet.account("b").unwrap();
    assert_eq!(b.plan_role_arn.as_deref(), Some("acs:ram::2345678901234567:role/ro"));
    // Without one, plans assume the role itself.
    let (fleet, _) = analyse_fleet(format!("{F}{A}").as_bytes(), "fleet.toml", None);
    assert_eq!(fleet.unwrap().account("a").unwrap().plan_role_arn, None);
    // Another account's ARN is refused, as for `role`.
    let bad =
        format!("{F}[accounts.a]\nid = \"1234567890123456\"\nplan_role = \"acs:ram::9999999999999999:role/ro\"\n");
    let (fleet, diagnostics) = analyse_fleet(bad.as_bytes(), "fleet.toml", None);
    assert!(fleet.is_none());
    assert!(
        diagnostics.iter().any(|d| d.message.contains("not in this account")),
        "{diagnostics:?}"
    );
}
