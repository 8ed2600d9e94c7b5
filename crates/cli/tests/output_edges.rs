//! What the binary prints at the edges: no colour codes when nobody watches a terminal, no raw
//! control characters from a manifest, a file or a server, the whole request of each product in
//! the plan, and one endpoint rule for `validate`, `plan` and `apply`.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;

use support::{binary, write, Run, Workdir};

const VALID: &str = "[provider]\nregion = \"cn-hangzhou\"\n\n[products.pai]\ncode = \"PAI_share\"\n";

/// Nothing a terminal would act on: no ESC, BEL or other C0/C1 control but newline and tab.
fn assert_no_controls(text: &str, what: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect();
    assert!(bad.is_empty(), "{what} carries raw controls {bad:?}:\n{text}");
}

fn quickstart(dir: &Workdir) -> String {
    let quickstart = support::examples().join("quickstart.toml");
    std::fs::copy(&quickstart, dir.file("q.toml")).expect("copy the quickstart");
    "q.toml".to_owned()
}

#[test]
fn verbose_logs_in_a_pipe_carry_no_colour_even_with_an_empty_no_color() {
    for no_color in [None, Some("")] {
        let mut dir = Workdir::new();
        dir.set_env("NO_COLOR", no_color);
        let manifest = quickstart(&dir);
        // The sandbox runs the emulator in process: its request log and the CLI's share stderr.
        let run = dir.run_plain(&["-vv", "apply", "--sandbox", "--auto-approve", &manifest]);
        assert_eq!(run.code, Some(0), "{}", run.describe());
        assert!(
            run.stderr.contains("INFO"),
            "the emulator logs at info: {}",
            run.describe()
        );
        assert!(!run.stderr.contains('\x1b'), "NO_COLOR={no_color:?}: {}", run.stderr);
        assert!(!run.stdout.contains('\x1b'), "NO_COLOR={no_color:?}: {}", run.stdout);
    }
}

#[test]
fn validate_escapes_control_characters_of_the_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let evil = "[provider]\nregion = \"cn-hangzhou\"\n\n[products.\"\\u001b[31mevil\\u001b]0;pwned\\u0007\"]\ncode = \"PAI_share\"\n";
    let path = write(dir.path(), "evil.toml", evil);
    let run = Run::of(binary().arg("validate").arg(&path));
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_no_controls(&run.stdout, "stdout");
    assert_no_controls(&run.stderr, "stderr");
    assert!(
        run.stderr.contains("\\u{1b}[31mevil\\u{1b}]0;pwned\\u{7}"),
        "shown escaped: {}",
        run.stderr
    );
}

#[test]
fn a_binary_file_is_one_error_not_a_thousand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = Vec::new();
    for i in 0..4000u32 {
        bytes.extend_from_slice(&[0x7f, b'E', b'L', b'F', 0, 0xff, 0xfe, (i % 256) as u8, 0x1b, 0x07]);
    }
    let path = write(dir.path(), "a.out", &bytes);
    let run = Run::of(binary().arg("validate").arg(&path));
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(run.stderr.matches("not a text file").count(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("not valid UTF-8"), "{}", run.stderr);
    assert!(run.stderr.lines().count() < 12, "{}", run.stderr);
    assert_no_controls(&run.stderr, "stderr");
}

/// A one-shot HTTP server that answers every request with a refusal whose message carries
/// terminal escapes, as a hostile or broken gateway could.
fn hostile_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(32) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let body =
                "{\"RequestId\":\"r-1\",\"Code\":\"Forbidden\",\"Message\":\"\\u001b]0;pwned\\u0007\\u001b[2Jdenied\"}";
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_server_message_is_printed_escaped() {
    let dir = Workdir::with_manifest(VALID);
    let endpoint = hostile_server();
    let run = dir.run(&["--endpoint", &endpoint, "plan"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("denied"), "{}", run.describe());
    assert_no_controls(&run.stderr, "stderr");
    assert_no_controls(&run.stdout, "stdout");

    // The apply report quotes the same answer for the product it could not resolve.
    let run = dir.run(&[
        "--endpoint",
        &endpoint,
        "-v",
        "apply",
        "--auto-approve",
        "--refresh=false",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stdout.contains("\\u{1b}]0;pwned\\u{7}\\u{1b}[2Jdenied"),
        "{}",
        run.describe()
    );
    assert_no_controls(&run.stderr, "apply stderr");
    assert_no_controls(&run.stdout, "apply stdout");
}

#[test]
fn the_terminal_plan_shows_every_field_of_an_order() {
    let dir = Workdir::with_manifest(
        "[provider]\nregion = \"cn-hangzhou\"\n\n[products.maxcompute]\ncode = \"MaxCompute_share\"\n\
         pricing_cycle = \"Hour\"\nduration = 1\nauto_renew = false\nproperties.odps_specification_type = \"OdpsStandard\"\n\
         properties.ord_time = \"1:Hour\"\nproperties.region = \"cn-hangzhou\"\n",
    );
    let out = dir.ok(&["--sandbox", "plan"]);
    for field in [
        "AutoRenew",
        "ChargeType",
        "Duration",
        "OrderType",
        "PricingCycle",
        "\"Hour\"",
        "odps_specification_type",
        "\"OdpsStandard\"",
        "ord_time",
        "\"1:Hour\"",
    ] {
        assert!(out.contains(field), "{field} missing:\n{out}");
    }
}

#[test]
fn validate_refuses_the_endpoints_plan_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = VALID.replace(
        "region = \"cn-hangzhou\"\n",
        "region = \"cn-hangzhou\"\nendpoint = \"http://127.0.0.1:9/{region}\"\n",
    );
    let path = write(dir.path(), "m.toml", manifest);
    let run = Run::of(binary().arg("validate").arg(&path));
    assert_eq!(
        run.code,
        Some(1),
        "validate accepts what plan refuses: {}",
        run.describe()
    );
    assert!(run.stderr.contains("without a path"), "{}", run.stderr);
}

#[test]
fn a_malformed_endpoint_flag_is_named_plainly() {
    let dir = Workdir::with_manifest(VALID);
    let run = dir.run(&["--endpoint", "not a url", "plan", "--refresh=false"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(!run.stderr.contains("international domain name"), "{}", run.stderr);
    assert!(
        run.stderr.contains("not a url") && run.stderr.contains("space"),
        "{}",
        run.stderr
    );
}

/// Issue 21, defect 10: with stdout and stderr a pipe whose reader is gone (`2>&1 | head` after
/// `head` exited), no command panics (exit 101): the lines are lost, and the command exits with
/// its own status.
#[test]
fn a_closed_pipe_is_no_panic() {
    let work = Workdir::new();
    std::fs::write(
        work.file("bad.toml"),
        "[fleet]\nrole = \"x\"\n[[accounts]]\nid = \"1\"\n",
    )
    .expect("write");
    std::fs::write(work.file("bad-manifest.toml"), "[provider]\nregion = 1\n").expect("write");
    for args in [
        vec!["fleet", "plan", "bad.toml"],
        vec!["validate", "bad-manifest.toml"],
        vec!["--sandbox", "plan", "bad-manifest.toml"],
        vec!["--help"],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let err = writer.try_clone().expect("clone the pipe");
        let status = work
            .plain_command(&args)
            .stdout(writer)
            .stderr(err)
            .status()
            .expect("run pai-provision");
        assert_ne!(status.code(), Some(101), "{args:?} panicked on a closed pipe");
        assert!(status.code().is_some(), "{args:?} died of a signal: {status}");
    }
}
