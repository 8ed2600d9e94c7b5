//! The fleet plan's totals, exit codes and held-back accounts, and its file: saved, read back,
//! and refused when edited, of another format, or not a fleet plan.

use std::path::Path;

use super::*;
use crate::fixtures::*;

fn names<'a>(it: impl Iterator<Item = &'a AccountPlan>) -> Vec<&'a str> {
    it.map(|a| a.name.as_str()).collect()
}

#[test]
fn totals_count_accounts_and_changes() {
    let fleet = small_fleet();
    let names_sorted: Vec<&str> = fleet.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names_sorted, ["team-a", "team-b", "team-c", "team-d", "team-e"]);
    assert_eq!(
        fleet.totals,
        Totals {
            accounts: 5,
            planned: 4,
            not_planned: 1,
            with_changes: 2, // team-a orders, team-c adopts beside its conflict
            with_conflicts: 1,
            order: 2,
            adopt: 1,
            reorder: 0,
            forget: 0,
            conflict: 1,
            noop: 2,
        }
    );
    assert_eq!(Totals::of(&[]), Totals::default());
}

#[test]
fn exit_codes_as_for_a_single_plan_and_unplanned_accounts_fail() {
    let fleet = small_fleet();
    let keep = |names: &[&str]| {
        let accounts = fleet
            .accounts
            .iter()
            .filter(|a| names.contains(&a.name.as_str()))
            .cloned()
            .collect();
        FleetPlan::new("f.toml", FLEET_HASH.into(), false, "s".into(), None, accounts, at())
    };
    // (accounts kept, exit code, with --detailed-exitcode)
    let table: [(&[&str], u8, u8); 6] = [
        (&["team-b", "team-e"], 0, 0),
        (&["team-a", "team-b"], 0, 2),
        (&["team-a", "team-c"], 1, 1),
        (&["team-b", "team-d"], 1, 1),
        (&["team-a", "team-b", "team-c", "team-d", "team-e"], 1, 1),
        (&[], 0, 0),
    ];
    for (kept, plain, detailed) in table {
        let plan = keep(kept);
        assert_eq!(
            (plan.exit_code(false), plan.exit_code(true)),
            (plain, detailed),
            "{kept:?}"
        );
    }
    assert!(fleet.has_changes() && fleet.has_conflicts() && fleet.has_unplanned());
    assert!(keep(&["team-b"]).exit_code(true) == 0 && !keep(&["team-b"]).has_changes());
}

#[test]
fn apply_takes_the_accounts_planned_without_conflicts_and_names_the_others() {
    let fleet = small_fleet();
    assert_eq!(
        names(fleet.applicable().map(|(a, _)| a)),
        ["team-a", "team-b", "team-e"]
    );
    let held: Vec<(&str, String)> = fleet.held_back().map(|(a, why)| (a.name.as_str(), why)).collect();
    assert_eq!(held.len(), 2);
    assert_eq!(held[0], ("team-c", "1 conflict (first: products.dataworks)".to_owned()));
    assert_eq!(held[1].0, "team-d");
    assert!(
        held[1].1.starts_with("not planned: AssumeRole refused"),
        "{}",
        held[1].1
    );
    assert_eq!(fleet.account("team-c").map(|a| a.id.as_str()), Some("1000000000000003"));
    assert!(fleet.account("team-z").is_none());
}

#[test]
fn a_saved_plan_reads_back_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet-plan.json");
    let fleet = small_fleet();
    fleet.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(FleetPlan::is_fleet_plan(&text));
    assert_eq!(FleetPlan::load(&path).unwrap(), fleet);
    // Saving again replaces the plan, and nothing is left beside it.
    fleet.save(&path).unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["accounts"][0]["outcome"]["status"], "planned");
    assert_eq!(json["accounts"][3]["outcome"]["status"], "not_planned");
    assert_eq!(json["shard"], serde_json::json!({"index": 1, "count": 2}));
    assert!(json["digest"].as_str().unwrap().starts_with("sha256:"));
}

/// The saved document of the small fleet, edited by `edit`, read back.
fn reread(edit: impl Fn(&mut serde_json::Value)) -> Result<FleetPlan, FleetPlanFileError> {
    let mut json: serde_json::Value = serde_json::from_str(&small_fleet().to_json()).unwrap();
    edit(&mut json);
    FleetPlan::from_json(&json.to_string(), Path::new("plan.json"))
}

/// What is done to the document, and the refusal expected.
type Case = (
    &'static str,
    Box<dyn Fn(&mut serde_json::Value)>,
    fn(&FleetPlanFileError) -> bool,
);

#[test]
fn edited_other_format_and_other_documents_are_refused() {
    use FleetPlanFileError as E;
    let reseal = |json: &mut serde_json::Value| {
        json.as_object_mut().unwrap().remove("digest");
        let plan: FleetPlan = serde_json::from_value(json.clone()).unwrap();
        *json = serde_json::from_str(&plan.to_json()).unwrap();
    };
    let cases: Vec<Case> = vec![
        (
            "an order's AutoPay",
            Box::new(|j| j["accounts"][0]["outcome"]["plan"]["orders"][0]["body"]["AutoPay"] = false.into()),
            |e| matches!(e, E::Edited { .. }),
        ),
        (
            "a role",
            Box::new(|j| j["accounts"][1]["role_arn"] = "acs:ram::1:role/x".into()),
            |e| matches!(e, E::Edited { .. }),
        ),
        (
            "a not-planned account made planned",
            Box::new(|j| j["accounts"][3]["outcome"] = j["accounts"][1]["outcome"].clone()),
            |e| matches!(e, E::Edited { .. }),
        ),
        ("no digest", Box::new(|j| j["digest"] = serde_json::Value::Null), |e| {
            matches!(e, E::NotAPlan { .. })
        }),
        ("newer", Box::new(|j| j["format_version"] = 2.into()), |e| {
            matches!(e, E::NewerFormat { found: 2, .. })
        }),
        ("older", Box::new(|j| j["format_version"] = 0.into()), |e| {
            matches!(e, E::OlderFormat { found: 0, .. })
        }),
        (
            "an account plan of a newer format",
            Box::new(|j| j["accounts"][2]["outcome"]["plan"]["format_version"] = 99.into()),
            |e| matches!(e, E::AccountFormat { found: 99, account, .. } if account == "team-c"),
        ),
        (
            "an account plan of an older format",
            Box::new(|j| j["accounts"][0]["outcome"]["plan"]["format_version"] = 2.into()),
            |e| matches!(e, E::AccountFormat { found: 2, .. }),
        ),
        (
            "totals that do not count, resealed",
            Box::new(move |j| {
                j["totals"]["order"] = 0.into();
                reseal(j)
            }),
            |e| matches!(e, E::NotAPlan { why, .. } if why.contains("totals")),
        ),
        (
            "accounts out of order, resealed",
            Box::new(move |j| {
                j["accounts"].as_array_mut().unwrap().swap(0, 1);
                reseal(j)
            }),
            |e| matches!(e, E::NotAPlan { why, .. } if why.contains("sorted")),
        ),
        (
            "a single plan",
            Box::new(|j| *j = j["accounts"][0]["outcome"]["plan"].clone()),
            |e| matches!(e, E::SinglePlan { .. }),
        ),
        (
            "no fleet_path",
            Box::new(|j| j["fleet_path"] = serde_json::Value::Null),
            |e| matches!(e, E::NotAPlan { .. }),
        ),
    ];
    for (what, edit, expected) in cases {
        let err = reread(edit).expect_err(what);
        assert!(expected(&err), "{what}: {err}");
    }
    // Unknown fields are dropped, not refused: the digest is of what is read.
    reread(|j| j["comment"] = "reviewed by ops".into()).unwrap();
    // How `fleet apply FLEET|FLEETPLAN` tells its argument apart.
    let single = serde_json::to_string(&crate::fixtures::settled_account()).unwrap();
    assert!(!FleetPlan::is_fleet_plan(&single));
    assert!(!FleetPlan::is_fleet_plan("[fleet]\nmanifest = \"pai.toml\"\n"));
    assert!(FleetPlan::is_fleet_plan(&small_fleet().to_json()));
    let err = FleetPlan::from_json("[fleet]\n", Path::new("fleet.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("fleet.toml: not a pai-provision fleet plan"),
        "{err}"
    );
}

#[test]
fn the_messages_say_what_to_do() {
    let err = reread(|j| j["accounts"][2]["outcome"]["plan"]["format_version"] = 99.into()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plan.json: the plan of account `team-c` is format version 99, newer than this pai-provision reads (3); \
         apply it with the version that made it"
    );
    let err = reread(|j| j["accounts"][0]["role_arn"] = "x".into()).unwrap_err();
    assert!(
        err.to_string().contains("was edited after `fleet plan` saved it"),
        "{err}"
    );
}

#[test]
fn save_replaces_only_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = small_fleet();
    let table: [(&str, &[u8], bool); 5] = [
        ("fleet.toml", b"[fleet]\nmanifest = \"m.toml\"\n", false),
        ("state.db", b"SQLite format 3\0\xff", false),
        ("other.json", b"{\"name\": 1}", false),
        ("single-plan.json", b"{\"format_version\": 3}", true),
        (
            "old-fleet-plan.json",
            b"{\"format_version\": 1, \"fleet_path\": \"f\"}",
            true,
        ),
    ];
    for (name, bytes, replaced) in table {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let saved = fleet.save(&path);
        assert_eq!(saved.is_ok(), replaced, "{name}: {saved:?}");
        if !replaced {
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} left as it was");
            assert!(saved.unwrap_err().to_string().contains("exists and is not a plan"));
        }
    }
    let err = fleet.save(dir.path()).unwrap_err();
    assert!(matches!(err, FleetPlanFileError::WouldReplace { .. }), "{err}");
    let err = FleetPlan::load(&dir.path().join("missing.json")).unwrap_err();
    assert!(matches!(err, FleetPlanFileError::Io { .. }), "{err}");
}

#[test]
fn a_saved_plan_is_refused_for_another_fleet_file_target_or_shard() {
    let fleet = small_fleet();
    let same = |s: &str| s == "fleet/fleet.states";
    let here = |hash: &str, sandbox, shard| FleetHere {
        fleet_hash: hash.to_owned(),
        sandbox,
        state: "elsewhere".into(),
        same_state: &same,
        shard,
    };
    let other_state = |_: &str| false;
    let shard = |i, n| Some(Shard::new(i, n).unwrap());
    assert_eq!(fleet.check_made_for(&here(FLEET_HASH, false, None)), Ok(()));
    assert_eq!(fleet.check_made_for(&here(FLEET_HASH, false, shard(1, 2))), Ok(()));
    let refused = [
        (here("0000", false, None), "the fleet file fleet/fleet.toml changed since the plan was made; plan again"),
        (here(FLEET_HASH, true, None), "the fleet plan was made without --sandbox, and this apply runs with --sandbox; plan again the way you mean to apply"),
        (here(FLEET_HASH, false, shard(2, 2)), "the fleet plan was made for shard 1/2, but this apply runs --shard 2/2; apply it without --shard or with the plan's"),
        (
            FleetHere { same_state: &other_state, ..here(FLEET_HASH, false, None) },
            "the fleet plan was made for the states at fleet/fleet.states, but this apply uses those at elsewhere; plan again against the states to change",
        ),
    ];
    for (here, message) in refused {
        assert_eq!(
            fleet.check_made_for(&here).map_err(|e| e.to_string()),
            Err(message.to_owned())
        );
    }
    assert_eq!(
        FleetPlan::hash_of(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
