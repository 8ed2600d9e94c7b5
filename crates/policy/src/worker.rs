//! The evaluating process's side of [`crate::Evaluator`]: [`serve`] reads the parsed files,
//! then evaluates each input it is sent, answering per policy file (`crate::wire`). It is run
//! in a process of its own (`pai-provision`'s hidden `policy-worker` command, this crate's
//! `pai-policy-worker`), which its parent limits and stops; it keeps nothing between inputs but
//! the loaded policies.

use std::io::{BufReader, BufWriter, Read, Write};

use regorus::Value;

use crate::set::PolicySet;
use crate::wire::{self, Hello, Reply};
use crate::PolicyError;

/// Serves the parent on `input` and `output` until `input` ends. A policy that fails is
/// answered, not returned: only a broken stream ends this early. It owns its process: once the
/// parent is gone, it ends the process (exit 1), wherever the evaluation is.
pub fn serve(input: impl Read, output: impl Write) -> Result<(), PolicyError> {
    let broken = |e: std::io::Error| PolicyError::Worker {
        message: format!("the stream to the parent broke: {e}"),
    };
    let mut input = BufReader::new(input);
    let mut output = BufWriter::new(output);
    let mut frame = Vec::new();
    let mut buffer = Vec::new();
    let Some(hello) = wire::receive::<Hello>(&mut input, &mut frame).map_err(broken)? else {
        return Ok(());
    };
    exit_with_parent()?;
    let set = match PolicySet::from_sources(hello.sources.into_iter().map(Into::into).collect()) {
        Ok(set) => set,
        Err(e) => {
            let reply = Reply::Failed {
                line: None,
                column: None,
                message: e.to_string(),
            };
            wire::send(&mut output, &mut buffer, &reply).map_err(broken)?;
            return Err(e);
        }
    };
    wire::send(&mut output, &mut buffer, &Reply::Ready).map_err(broken)?;
    let count = set.policies().count();
    while wire::read_frame(&mut input, &mut frame).map_err(broken)? {
        let parsed = std::str::from_utf8(&frame)
            .map_err(|e| e.to_string())
            .and_then(|text| Value::from_json_str(text).map_err(|e| e.to_string()));
        let document = match parsed {
            Ok(document) => document,
            Err(message) => {
                wire::send(&mut output, &mut buffer, &Reply::BadInput(message)).map_err(broken)?;
                continue;
            }
        };
        for index in 0..count {
            // Each reply is flushed as it is made: the parent learns which file a stopped
            // evaluation was in from the replies it got.
            let reply = match set.evaluate_policy(index, &document) {
                Ok(findings) => Reply::Findings(findings),
                Err(e) => failed(e),
            };
            let stop = matches!(reply, Reply::Failed { .. });
            wire::send(&mut output, &mut buffer, &reply).map_err(broken)?;
            if stop {
                break;
            }
        }
    }
    Ok(())
}

/// Ends this process soon after its parent is gone (it looks every second): an evaluation that
/// never ends must not outlive the run it was for, whose watchdog went with it. Started once the
/// parent's hello came, so that the parent is known to have been there.
fn exit_with_parent() -> Result<(), PolicyError> {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        std::thread::Builder::new()
            .name("policy-parent".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(1);
                }
            })
            .map_err(|e| PolicyError::Worker {
                message: format!("watching its parent: {e}"),
            })?;
    }
    Ok(())
}

fn failed(e: PolicyError) -> Reply {
    match e {
        PolicyError::EvaluationAt {
            line, column, message, ..
        } => Reply::Failed {
            line: Some(line),
            column: Some(column),
            message,
        },
        PolicyError::Evaluation { message, .. } => Reply::Failed {
            line: None,
            column: None,
            message,
        },
        other => Reply::Failed {
            line: None,
            column: None,
            message: other.to_string(),
        },
    }
}
