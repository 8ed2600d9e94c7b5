//! The evaluating process's side of [`crate::Evaluator`]: [`serve`] reads the parsed files,
//! then evaluates each input it is sent, answering per policy file (`crate::wire`). It is run
//! in a process of its own (`pai-provision`'s hidden `policy-worker` command, this crate's
//! `pai-policy-worker`), which its parent limits and stops; it keeps nothing between inputs but
//! the loaded policies.

use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use regorus::Value;

use crate::set::PolicySet;
use crate::wire::{self, Hello, Reply};
use crate::PolicyError;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn broken(e: std::io::Error) -> PolicyError {
    PolicyError::Worker {
        message: format!("the stream to the parent broke: {e}"),
    }
}

/// Serves the parent on `input` and `output` until `input` ends. A policy that fails is
/// answered, not returned: only a broken stream ends this early. It owns its process: once the
/// parent is gone, it ends the process (exit 1), wherever the evaluation is.
pub fn serve(input: impl Read, output: impl Write + Send) -> Result<(), PolicyError> {
    let mut input = BufReader::new(input);
    let output = Mutex::new(BufWriter::new(output));
    let mut frame = Vec::new();
    let mut buffer = Vec::new();
    let Some(hello) = wire::receive::<Hello>(&mut input, &mut frame).map_err(broken)? else {
        return Ok(());
    };
    let set = match PolicySet::from_sources(hello.sources.into_iter().map(Into::into).collect()) {
        Ok(set) => set,
        Err(e) => {
            let reply = Reply::Failed {
                line: None,
                column: None,
                message: e.to_string(),
            };
            wire::send(&mut *lock(&output), &mut buffer, &reply).map_err(broken)?;
            return Err(e);
        }
    };
    wire::send(&mut *lock(&output), &mut buffer, &Reply::Ready).map_err(broken)?;
    let keeper = Keeper {
        done: Mutex::new(false),
        wake: Condvar::new(),
        flush_every: hello.flush_every.max(Duration::from_millis(1)),
    };
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("policy-keeper".into())
            .spawn_scoped(scope, || keeper.keep(&output))
            .map_err(|e| PolicyError::Worker {
                message: format!("starting its keeper: {e}"),
            })?;
        let served = evaluate_inputs(&set, &mut input, &output);
        *lock(&keeper.done) = true;
        keeper.wake.notify_all();
        served
    })
}

/// Evaluates each input that comes, until the parent's stream ends.
fn evaluate_inputs<W: Write>(
    set: &PolicySet,
    input: &mut impl Read,
    output: &Mutex<BufWriter<W>>,
) -> Result<(), PolicyError> {
    let mut frame = Vec::new();
    let mut buffer = Vec::new();
    let count = set.policies().count();
    while wire::read_frame(input, &mut frame).map_err(broken)? {
        let parsed = std::str::from_utf8(&frame)
            .map_err(|e| e.to_string())
            .and_then(|text| Value::from_json_str(text).map_err(|e| e.to_string()));
        let document = match parsed {
            Ok(document) => document,
            Err(message) => {
                wire::send(&mut *lock(output), &mut buffer, &Reply::BadInput(message)).map_err(broken)?;
                continue;
            }
        };
        for index in 0..count {
            let reply = match set.evaluate_policy(index, &document) {
                Ok(findings) => Reply::Findings(findings),
                Err(e) => failed(e),
            };
            let stop = matches!(reply, Reply::Failed { .. });
            // Written, not flushed: the keeper sends what is written while a file takes long.
            wire::write(&mut *lock(output), &mut buffer, &reply).map_err(broken)?;
            if stop {
                break;
            }
        }
        lock(output).flush().map_err(broken)?;
    }
    Ok(())
}

/// The thread beside the evaluation: it sends the replies written so far every
/// `flush_every`, so that the parent hears of each finished file while the next one runs, and
/// ends the process once the parent is gone (an evaluation that never ends must not outlive
/// the run it was for, whose watchdog went with it).
struct Keeper {
    done: Mutex<bool>,
    wake: Condvar,
    flush_every: Duration,
}

impl Keeper {
    fn keep<W: Write>(&self, output: &Mutex<BufWriter<W>>) {
        // The parent that sent the hello: it was there then.
        #[cfg(unix)]
        let parent = std::os::unix::process::parent_id();
        let mut looked = Instant::now();
        let mut done = lock(&self.done);
        while !*done {
            done = self
                .wake
                .wait_timeout(done, self.flush_every)
                .map(|(done, _)| done)
                .unwrap_or_else(|e| e.into_inner().0);
            // A broken stream is the evaluation's to report.
            let _ = lock(output).flush();
            if looked.elapsed() >= Duration::from_secs(1) {
                looked = Instant::now();
                #[cfg(unix)]
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(1);
                }
            }
        }
    }
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
