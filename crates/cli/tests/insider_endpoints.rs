//! In CI (`CI=true`), a manifest does not choose where signed requests go: a `[provider]
//! endpoint` or `endpoints` entry whose host is not an Alibaba Cloud endpoint (`*.aliyuncs.com`)
//! is refused before any request, unless the pipeline's owner lists its `host:port` in
//! `PAI_PROVISION_ALLOW_ENDPOINTS`. A pull request edits the manifest; it does not edit the
//! pipeline's `--endpoint`, its fleet file's settings, or its variables. Outside CI nothing
//! changes.
//!
//! The "fake host" of these tests is a bare listener on loopback: a request that reached it
//! would be a connection waiting in its backlog.

mod support;

use std::collections::BTreeMap;
use std::net::TcpListener;

use support::fleet::{members, FleetSetup};
use support::{exactly_once_problems, hangzhou, manifest, single_region, two_regions, Run, Setup, Workdir};

const ALLOW: &str = "PAI_PROVISION_ALLOW_ENDPOINTS";

/// A host that must hear nothing.
struct FakeHost(TcpListener);

impl FakeHost {
    fn new() -> FakeHost {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
        listener.set_nonblocking(true).expect("non-blocking");
        FakeHost(listener)
    }

    fn url(&self) -> String {
        format!("http://{}", self.host_port())
    }

    fn host_port(&self) -> String {
        self.0.local_addr().expect("its address").to_string()
    }

    fn assert_untouched(&self) {
        match self.0.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((_, from)) => panic!("the fake host was connected to (from {from})"),
            Err(e) => panic!("the fake host: {e}"),
        }
    }
}

/// The four cn-hangzhou products, with `line` added to `[provider]`.
fn manifest_with(line: &str) -> String {
    manifest(&BTreeMap::new(), &single_region())
        .replacen("[provider.endpoints]\n", "", 1)
        .replacen("auto_pay = true\n", &format!("auto_pay = true\n{line}\n"), 1)
}

fn in_ci(text: &str) -> Workdir {
    let mut work = Workdir::with_manifest(text);
    work.set_env("CI", Some("true"));
    work
}

/// Exit 1, naming the manifest (as it was given: here, the default `pai-provision.toml`), the
/// field, where it would have sent and the variable that would allow it.
fn assert_refused(run: &Run, field: &str, host_port: &str) {
    assert_eq!(run.code, Some(1), "{}", run.describe());
    for needed in ["pai-provision.toml: ", field, ALLOW, host_port] {
        assert!(run.stderr.contains(needed), "`{needed}` not said: {}", run.describe());
    }
}

/// With a short `--timeout`: were a request sent, the fake host would never answer it.
const COMMANDS: [&[&str]; 4] = [
    &["--timeout", "2s", "plan"],
    &["--timeout", "2s", "plan", "--out", "p.json"],
    &["--timeout", "2s", "apply", "--auto-approve"],
    &["--timeout", "2s", "refresh"],
];

#[test]
fn a_manifest_endpoint_to_a_foreign_host_is_refused_in_ci_before_any_request() {
    let fake = FakeHost::new();
    let template = in_ci(&manifest_with(&format!("endpoint = \"{}\"", fake.url())));
    let per_region = in_ci(&manifest(&BTreeMap::from([(hangzhou(), fake.url())]), &single_region()));
    for args in COMMANDS {
        assert_refused(&template.run(args), "[provider] endpoint", &fake.host_port());
        assert_refused(&per_region.run(args), "endpoints.cn-hangzhou", &fake.host_port());
    }
    fake.assert_untouched();
    assert!(!template.file("p.json").exists(), "a plan was saved");
}

#[test]
fn hosts_that_only_look_like_alibaba_cloud_are_refused_in_ci() {
    let cases = [
        ("https://evil.example", "evil.example:443"),
        ("https://aliyuncs.com.evil.example", "aliyuncs.com.evil.example:443"),
        ("http://evil-aliyuncs.com:8080", "evil-aliyuncs.com:8080"),
        ("https://aliyuncs.com", "aliyuncs.com:443"),
    ];
    for (url, host_port) in cases {
        let work = in_ci(&manifest_with(&format!("endpoint = \"{url}\"")));
        let run = work.run(&["--timeout", "2s", "plan"]);
        assert_refused(&run, "[provider] endpoint", host_port);
    }
}

#[test]
fn alibaba_cloud_endpoints_in_a_manifest_are_not_refused_in_ci() {
    for line in [
        "endpoint = \"https://aiworkspace.{region}.aliyuncs.com\"",
        "endpoints.cn-hangzhou = \"aiworkspace-vpc.cn-hangzhou.ALIYUNCS.com\"",
    ] {
        let work = in_ci(&manifest_with(line));
        // Without a refresh nothing is sent: the plan is made, so nothing refused it.
        let run = work.run(&["plan", "--refresh=false"]);
        assert_eq!(run.code, Some(0), "{line}: {}", run.describe());
    }
}

#[test]
fn the_pipeline_owner_allows_a_host_with_pai_provision_allow_endpoints() {
    let setup = Setup::new(&two_regions());
    let mut work = Workdir::new();
    work.write_manifest(&std::fs::read_to_string(&setup.work.manifest).expect("the manifest"));
    work.set_env("CI", Some("true"));
    let host_ports: Vec<String> = setup
        .emu
        .endpoints()
        .values()
        .map(|url| url.trim_start_matches("http://").to_owned())
        .collect();
    // One of the two missing: still refused, naming the one to add.
    work.set_env(ALLOW, Some(&host_ports[0]));
    assert_refused(&work.run(&["plan"]), "endpoints.cn-shanghai", &host_ports[1]);
    work.set_env(ALLOW, Some(&format!(" {} , {}", host_ports[0], host_ports[1])));
    let run = work.run(&["apply", "--auto-approve"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let problems = exactly_once_problems(&setup.emu.ledger(), &two_regions(), &work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_endpoint_flag_is_the_pipelines_own_and_works_in_ci() {
    let setup = Setup::new(&single_region());
    let url = setup.emu.endpoints()[&hangzhou()].clone();
    let work = in_ci(&manifest(&BTreeMap::new(), &single_region()));
    let run = work.run(&["--endpoint", &url, "apply", "--auto-approve"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    // The flag replaces the manifest's template, so a foreign template is never used.
    let fake = FakeHost::new();
    work.write_manifest(&manifest_with(&format!("endpoint = \"{}\"", fake.url())));
    let run = work.run(&["--endpoint", &url, "plan", "--detailed-exitcode"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    fake.assert_untouched();
    let problems = exactly_once_problems(&setup.emu.ledger(), &single_region(), &work.state_list());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn outside_ci_a_manifest_still_chooses_its_endpoints() {
    for ci in [None, Some("false"), Some("")] {
        let mut setup = Setup::new(&single_region());
        setup.work.set_env("CI", ci);
        let run = setup.apply(&[]);
        assert_eq!(run.code, Some(0), "CI={ci:?}: {}", run.describe());
    }
}

#[test]
fn the_sandbox_is_not_affected_in_ci() {
    let fake = FakeHost::new();
    let work = in_ci(&manifest_with(&format!("endpoint = \"{}\"", fake.url())));
    let run = work.run(&["--sandbox", "apply", "--auto-approve"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    fake.assert_untouched();
}

#[test]
fn a_fleets_manifests_follow_the_same_rule() {
    let mut setup = FleetSetup::new(members(2), vec![]);
    setup.work.set_env("CI", Some("true"));
    for args in [
        &["fleet", "plan", "fleet.toml"][..],
        &["fleet", "apply", "--auto-approve", "fleet.toml"],
    ] {
        let run = setup.run(args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.describe());
        assert!(
            // Each account's reason is in the plan (stdout), the accounts sharing it on one line.
            run.stdout.contains(ALLOW) && run.stdout.contains("pai-provision.toml: `[provider] endpoints.cn-"),
            "{args:?}: {}",
            run.describe()
        );
    }
    assert!(
        setup.emu.ledger().orders.is_empty(),
        "ordered: {:#?}",
        setup.emu.ledger()
    );
    assert!(
        !setup.sts_requests().contains("AssumeRole"),
        "a role was assumed for a refused manifest"
    );

    let allowed: Vec<String> = setup
        .emu
        .endpoints()
        .values()
        .map(|url| url.trim_start_matches("http://").to_owned())
        .collect();
    setup.work.set_env(ALLOW, Some(&allowed.join(",")));
    let run = setup.expect(0, &["fleet", "apply", "--auto-approve", "fleet.toml"]);
    assert!(run.stdout.contains("0 failed"), "{}", run.describe());
}
