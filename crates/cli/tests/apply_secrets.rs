//! `-vvv` must not leak, whole CLI: every byte `pai-provision` writes to stdout and stderr at
//! TRACE level over full runs (a saved plan, both signature versions, refresh, the state
//! commands, STS credentials from the environment, an OIDC login, a refused signature), and every
//! byte of the files it leaves (the state and its WAL, the lock file, the saved plan), must hold
//! no access key secret, no STS token, no OIDC token and no request signature.
//!
//! The signatures and the credentials the CLI obtained itself are learnt from the wire: every
//! endpoint of the manifest, and the STS endpoint, is a recording TCP proxy in front of the
//! emulator.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use pai_apply::{CredentialProvider, DefaultChain};
use pai_spec::ProductCode;
use support::{hangzhou, shanghai, want, Run, Setup, Want, Wire, Workdir, ACCESS_KEY_SECRET};

const WRONG_SECRET: &str = "LeakCheck-WrongSecret-0a1b2c3d4e";
const ROLE_ARN: &str = "acs:ram::1234567890123456:role/ci";
const PROVIDER_ARN: &str = "acs:ram::1234567890123456:oidc-provider/ci";

/// What must never be written: the values of the headers that carry a signature or a token,
/// and the secrets an STS answer handed out.
fn secrets_on_the_wire(wire: &Wire) -> Vec<String> {
    let mut found = Vec::new();
    for line in Wire::text(&wire.to_server).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "authorization" => {
                if let Some((_, signature)) = value.split_once("Signature=") {
                    found.push(signature.to_owned()); // ACS3-HMAC-SHA256
                } else if let Some((_, signature)) = value.strip_prefix("acs ").and_then(|v| v.rsplit_once(':')) {
                    found.push(signature.to_owned()); // ROA HMAC-SHA1
                }
            }
            "x-acs-security-token" => found.push(value.to_owned()),
            _ => {}
        }
    }
    // What an STS answer handed out: `"AccessKeySecret":"…"`, `"SecurityToken":"…"`.
    let answers = Wire::text(&wire.to_client);
    for key in ["\"AccessKeySecret\":\"", "\"SecurityToken\":\""] {
        for (at, _) in answers.match_indices(key) {
            let rest = &answers[at + key.len()..];
            if let Some(end) = rest.find('"') {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found
}

/// A well-formed OIDC token that expires in 2100: `{"alg":"RS256"}`,
/// `{"iss":"https://ci.example","sub":"leak-check","aud":"sts","exp":4102444800}`, and a signature
/// the emulator does not check.
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.\
                   eyJpc3MiOiJodHRwczovL2NpLmV4YW1wbGUiLCJzdWIiOiJsZWFrLWNoZWNrIiwiYXVkIjoic3RzIiwiZXhwIjo0MTAy\
                   NDQ0ODAwfQ.\
                   LeakCheckJwtSignature-9z8y7x";

/// Runs with `-vvv`, keeping the output for the final check.
struct Recorder<'a> {
    work: &'a Workdir,
    outputs: Vec<(String, Run)>,
}

impl Recorder<'_> {
    fn run(&mut self, args: &[&str]) -> Run {
        let mut all = vec!["-vvv"];
        all.extend_from_slice(args);
        let run = self.work.run(&all);
        self.outputs.push((all.join(" "), run.clone()));
        run
    }

    fn succeed(&mut self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.describe());
        run
    }
}

#[test]
fn trace_output_and_files_of_full_runs_hold_no_secret() {
    let products: Vec<Want> = vec![
        want("pai", ProductCode::Pai, &hangzhou()),
        want("pai-shanghai", ProductCode::Pai, &shanghai()),
        want("oss", ProductCode::Oss, &hangzhou()),
        want("maxcompute", ProductCode::MaxCompute, &hangzhou()),
        want("dataworks", ProductCode::DataWorks, &hangzhou()),
    ];
    let setup = Setup::new(&[]);
    let wire = Wire::default();
    let endpoints = support::gateway(setup.handle(), &setup.emu.endpoints(), &wire, None, None);
    let sts_endpoint = endpoints[&hangzhou()].clone();
    let manifest = |n: usize| support::manifest(&endpoints, &products[..n]);
    let work = &setup.work;
    let mut cli = Recorder {
        work,
        outputs: Vec::new(),
    };

    // A static key: a saved plan, v3, two regions; then v2; refresh and the state commands.
    work.write_manifest(&manifest(2));
    let plan_file = work.path().join("plan.json");
    let plan_path = plan_file.to_str().expect("UTF-8 path");
    cli.succeed(&["plan", "--out", plan_path]);
    cli.succeed(&["apply", plan_path]);
    work.write_manifest(&manifest(3));
    cli.succeed(&["--signature", "v2", "apply", "--auto-approve"]);
    cli.succeed(&["refresh"]);
    cli.succeed(&["plan", "--format", "json"]);
    cli.succeed(&["state", "list"]);
    cli.succeed(&["state", "history", "--format", "json"]);

    // STS credentials in the environment, as a CI job that assumed a role hands them over.
    let token_file = work.path().join("oidc-token");
    std::fs::write(&token_file, JWT).expect("write the OIDC token");
    let token_path = token_file.display().to_string();
    let oidc_env = [
        ("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER_ARN),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_path.as_str()),
    ];
    let lookup: BTreeMap<String, String> = oidc_env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let chain = DefaultChain::new(move |n| lookup.get(n).cloned(), None, None, Some(sts_endpoint.clone()));
    let sts = setup
        .handle()
        .block_on(chain.credentials())
        .expect("STS credentials from the emulator");
    let sts_secret = sts.access_key_secret.expose().to_owned();
    let sts_token = sts.security_token.as_ref().expect("an STS token").expose().to_owned();
    let mut sts_work = Workdir::new();
    sts_work.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", Some(&sts.access_key_id));
    sts_work.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", Some(&sts_secret));
    sts_work.set_env("ALIBABA_CLOUD_SECURITY_TOKEN", Some(&sts_token));
    sts_work.write_manifest(&manifest(4));
    let mut sts_cli = Recorder {
        work: &sts_work,
        outputs: Vec::new(),
    };
    let adopted = sts_cli.succeed(&["apply", "--auto-approve"]);
    assert!(
        adopted.stdout.contains("Apply complete: 1 ordered, 3 adopted"),
        "{}",
        adopted.stdout
    );
    sts_cli.succeed(&["--signature", "v2", "refresh"]);

    // An OIDC login done by the CLI itself, through the recording proxy.
    let mut oidc_work = Workdir::new();
    oidc_work.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", None);
    oidc_work.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", None);
    for (name, value) in oidc_env {
        oidc_work.set_env(name, Some(value));
    }
    oidc_work.set_env("ALIBABA_CLOUD_STS_ENDPOINT", Some(&endpoints[&hangzhou()]));
    oidc_work.write_manifest(&manifest(5));
    let mut oidc_cli = Recorder {
        work: &oidc_work,
        outputs: Vec::new(),
    };
    let ordered = oidc_cli.succeed(&["apply", "--auto-approve"]);
    assert!(
        ordered.stdout.contains("Apply complete: 1 ordered"),
        "{}",
        ordered.stdout
    );

    // A refused signature: the error path logs too.
    let mut wrong_work = Workdir::new();
    wrong_work.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", Some(WRONG_SECRET));
    wrong_work.write_manifest(&manifest(5));
    let mut wrong_cli = Recorder {
        work: &wrong_work,
        outputs: Vec::new(),
    };
    let refused = wrong_cli.run(&["apply", "--auto-approve"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(refused.stderr.contains("SignatureDoesNotMatch"), "{}", refused.stderr);

    let mut needles = vec![
        ACCESS_KEY_SECRET.to_owned(),
        WRONG_SECRET.to_owned(),
        sts_secret.clone(),
        sts_token.clone(),
        JWT.to_owned(),
        "LeakCheckJwtSignature-9z8y7x".to_owned(),
    ];
    let from_wire = secrets_on_the_wire(&wire);
    let signatures = from_wire.len();
    assert!(signatures > 20, "the proxy saw the requests' signatures ({signatures})");
    needles.extend(from_wire);
    // A redaction that keeps half of a secret is a leak too.
    for secret in [ACCESS_KEY_SECRET, sts_secret.as_str(), sts_token.as_str()] {
        needles.push(secret[..secret.len() / 2].to_owned());
    }
    needles.sort();
    needles.dedup();

    let outputs: Vec<&(String, Run)> = cli
        .outputs
        .iter()
        .chain(&sts_cli.outputs)
        .chain(&oidc_cli.outputs)
        .chain(&wrong_cli.outputs)
        .collect();
    let mut traced = 0;
    for (command, run) in &outputs {
        traced += run.stderr.matches("TRACE").count();
        for needle in &needles {
            assert!(
                !run.stdout.contains(needle.as_str()),
                "`{command}` printed a secret on stdout"
            );
            assert!(
                !run.stderr.contains(needle.as_str()),
                "`{command}` logged a secret on stderr"
            );
        }
    }
    assert!(traced > 100, "-vvv logged at TRACE level ({traced} lines)");
    // The signed headers that are not secret are logged beside the redacted ones: a signature
    // logged with them would have been found above.
    let nonces = header_values(&wire, "x-acs-signature-nonce");
    let logged = nonces
        .iter()
        .filter(|n| outputs.iter().any(|(_, r)| r.stderr.contains(n.as_str())))
        .count();
    assert!(
        logged * 2 > nonces.len(),
        "{logged} of {} request nonces are in the trace",
        nonces.len()
    );

    assert!(plan_file.exists());
    let mut files = 0;
    for dir in [work.path(), sts_work.path(), oidc_work.path(), wrong_work.path()] {
        files += check_files(dir, &needles);
    }
    assert!(
        files >= 8,
        "state files, WAL, locks and the plan were checked ({files})"
    );
}

/// Every file the CLI left in `dir` (the state, its WAL and shared memory, the lock, a saved
/// plan); not the test's own manifest, OIDC token file or the emulator's ledger.
fn check_files(dir: &Path, needles: &[String]) -> usize {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("list the work directory") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !path.is_file() || ["pai-provision.toml", "oidc-token", "ledger.json"].contains(&name.as_str()) {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read a file the CLI wrote");
        for needle in needles {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{} holds a secret",
                path.display()
            );
        }
        checked += 1;
    }
    checked
}

/// Every value the proxy saw sent in header `name`.
fn header_values(wire: &Wire, name: &str) -> Vec<String> {
    Wire::text(&wire.to_server)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// `--help` shows where a flag's value may come from; it must not show the value of
/// `PAI_PROVISION_STATE`, which may carry the state database's password.
#[test]
fn help_does_not_show_the_state_password() {
    for args in [&["--help"][..], &["plan", "--help"], &["state", "migrate", "--help"]] {
        let out = Run::of(
            support::binary()
                .env("PAI_PROVISION_STATE", "postgres://pai:LeakCheck-hunter2@db/infra")
                .args(args),
        );
        let text = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(out.code, Some(0), "{args:?}: {text}");
        assert!(text.contains("PAI_PROVISION_STATE"), "{args:?}: {text}");
        assert!(!text.contains("hunter2"), "{args:?}: {text}");
    }
}
