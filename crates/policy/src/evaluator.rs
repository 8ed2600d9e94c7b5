//! Policies evaluated in a process of their own, under limits: a policy is code from the
//! repository, and one that never ends, or asks for more memory than the machine has, must end
//! the run with an error naming it, never hang it or abort it (an allocation that fails aborts
//! a Rust process, and the engine cannot stop inside one of its builtins).
//!
//! [`Evaluator::start`] starts the process (a command that runs [`crate::worker::serve`]),
//! its address space limited to [`Limits::memory`] (Unix), and gives it the files the set
//! read. Each plan is then sent as its input document, and each policy file's findings come
//! back on their own (together when the plan was quick, `crate::wire`), so that when one
//! file's evaluation takes longer than [`Limits::timeout`] a watchdog thread kills the process
//! and the error names that file; an evaluation that died names the file it was in too. One process serves plan after plan (a
//! whole fleet), as an engine in process did: starting one per plan would cost more than
//! judging it.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pai_planner::{Plan, PolicyVerdict};

use crate::input::PolicyContext;
use crate::set::{add_findings, empty_verdict, evaluation_error, sorted};
use crate::wire::{self, Hello, Reply, WireSource};
use crate::{PolicyError, PolicySet};

/// What an evaluation may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long one policy file may take on one plan (`--policy-timeout`).
    pub timeout: Duration,
    /// The address space of the evaluating process, in bytes (`RLIMIT_AS`; Unix only).
    pub memory: u64,
}

impl Limits {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Far more than policies on the largest plan need (a plan's input is tens of kB), far
    /// less than a machine running fleets of them has.
    pub const DEFAULT_MEMORY: u64 = 1 << 30;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: Limits::DEFAULT_TIMEOUT,
            memory: Limits::DEFAULT_MEMORY,
        }
    }
}

/// A process evaluating a [`PolicySet`], plan after plan. Dropping it ends the process.
pub struct Evaluator {
    child: Arc<Mutex<Child>>,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    watch: Arc<Watch>,
    watchdog: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<Said>>,
    /// The path of each policy file, in the order the process answers for them.
    paths: Vec<PathBuf>,
    names: Vec<String>,
    digest: String,
    limits: Limits,
    frame: Vec<u8>,
    /// A request is under way: dropping the evaluator then kills the process.
    busy: bool,
    /// The process is gone (stopped, or died): every later call fails.
    ended: bool,
}

impl Evaluator {
    /// Starts `worker` (a command whose process runs [`crate::worker::serve`]; its standard
    /// streams are taken over) under `limits`, and gives it the files of `policies`.
    pub fn start(mut worker: Command, policies: &PolicySet, limits: Limits) -> Result<Evaluator, PolicyError> {
        let program = worker.get_program().to_string_lossy().into_owned();
        worker
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        limit_memory(&mut worker, limits.memory);
        let spawn_failed = |source| PolicyError::Spawn {
            program: program.clone(),
            source,
        };
        let mut child = worker.spawn().map_err(spawn_failed)?;
        let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(stdin), Some(stdout), Some(stderr)) = pipes else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PolicyError::Worker {
                message: format!("{program} was started without its standard streams"),
            });
        };
        let child = Arc::new(Mutex::new(child));
        let watch = Arc::new(Watch::new(limits.timeout));
        // Without either thread the process is not watched: it is ended at once. (Its end
        // closes its stderr, which ends the drain.)
        let abandon = |e| {
            let mut child = lock(&child);
            let _ = child.kill();
            let _ = child.wait();
            spawn_failed(e)
        };
        let stderr = std::thread::Builder::new()
            .name("policy-stderr".into())
            .spawn(move || drain(stderr))
            .map_err(abandon)?;
        let watchdog = {
            let (watch, child) = (watch.clone(), child.clone());
            std::thread::Builder::new()
                .name("policy-watchdog".into())
                .spawn(move || watchdog(&watch, &child))
                .map_err(abandon)?
        };
        let mut evaluator = Evaluator {
            child,
            stdin: Some(BufWriter::new(stdin)),
            stdout: BufReader::new(stdout),
            watch,
            watchdog: Some(watchdog),
            stderr: Some(stderr),
            paths: policies.policies().map(|(_, path)| path.to_owned()).collect(),
            names: policies.policies().map(|(name, _)| name.to_owned()).collect(),
            digest: policies.digest().to_owned(),
            limits,
            frame: Vec::new(),
            busy: false,
            ended: false,
        };
        let hello = Hello {
            sources: policies.sources().iter().map(WireSource::from).collect(),
            // A file that ends this long before its deadline may still be taken for the next
            // one's; a tenth of the timeout, at most 0.1 s.
            flush_every: (limits.timeout / 10).min(Duration::from_millis(100)),
        };
        evaluator.busy = true;
        let sent = match evaluator.stdin.as_mut() {
            Some(stdin) => wire::send(stdin, &mut evaluator.frame, &hello),
            None => Ok(()),
        };
        if sent.is_err() {
            return Err(evaluator.failure(None));
        }
        match evaluator.reply(None)? {
            Reply::Ready => {
                evaluator.busy = false;
                Ok(evaluator)
            }
            Reply::Failed { message, .. } => Err(PolicyError::Worker { message }),
            other => Err(evaluator.confused(&other)),
        }
    }

    /// Evaluates the policies on `plan` in `context` and returns the plan carrying the
    /// verdict, as [`crate::judge`] does in this process.
    pub fn judge(&mut self, plan: Plan, context: &PolicyContext) -> Result<Plan, PolicyError> {
        self.judge_digested(plan, context, None)
    }

    /// [`Evaluator::judge`], given the plan's digest when the caller has it, as
    /// [`crate::judge_digested`].
    pub fn judge_digested(
        &mut self,
        mut plan: Plan,
        context: &PolicyContext,
        digest: Option<&str>,
    ) -> Result<Plan, PolicyError> {
        let digest = digest.filter(|_| plan.policy.is_none());
        plan.policy = None;
        wire::begin_frame(&mut self.frame);
        crate::input::PolicyInput::write_json(&mut self.frame, &plan, context, digest)
            .map_err(|e| PolicyError::Input { message: e.to_string() })?;
        wire::end_frame(&mut self.frame).map_err(|e| PolicyError::Input { message: e.to_string() })?;
        plan.policy = Some(self.evaluate_frame()?);
        Ok(plan)
    }

    /// Sends the input document in `self.frame` and gathers the verdict, one reply per file.
    fn evaluate_frame(&mut self) -> Result<PolicyVerdict, PolicyError> {
        if self.ended {
            return Err(PolicyError::Worker {
                message: "it was stopped by an earlier failure".into(),
            });
        }
        self.busy = true;
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(&self.frame).and_then(|()| stdin.flush()),
            None => Ok(()),
        };
        if sent.is_err() {
            return Err(self.failure(Some(0)));
        }
        let mut verdict = empty_verdict(&self.digest);
        for index in 0..self.paths.len() {
            match self.reply(Some(index))? {
                Reply::Findings(findings) => add_findings(&mut verdict, &self.names[index], findings),
                Reply::Failed { line, column, message } => {
                    self.busy = false;
                    return Err(match (line, column) {
                        (Some(line), Some(column)) => PolicyError::EvaluationAt {
                            path: self.paths[index].clone(),
                            line,
                            column,
                            message,
                        },
                        _ => evaluation_error(&self.paths[index], &message),
                    });
                }
                Reply::BadInput(message) => {
                    self.busy = false;
                    return Err(PolicyError::Input { message });
                }
                other @ Reply::Ready => return Err(self.confused(&other)),
            }
        }
        self.busy = false;
        Ok(sorted(verdict))
    }

    /// The next reply, about the policy file `index` within the timeout, or the hello's
    /// (`None`) within [`STARTUP`] at least: starting a process is not the policy's time.
    fn reply(&mut self, index: Option<usize>) -> Result<Reply, PolicyError> {
        let allowed = match index {
            Some(_) => self.limits.timeout,
            None => self.limits.timeout.max(STARTUP),
        };
        self.watch.start(allowed);
        let got = wire::receive::<Reply>(&mut self.stdout, &mut self.frame);
        // Killed just as the answer came: the evaluation did reach the limit.
        let fired = self.watch.stop_clock();
        match got {
            Ok(Some(reply)) if !fired => Ok(reply),
            _ => Err(self.failure(index)),
        }
    }

    fn confused(&mut self, reply: &Reply) -> PolicyError {
        self.ended = true;
        PolicyError::Worker {
            message: format!("an answer out of turn: {reply:?}"),
        }
    }

    /// Why the process stopped answering during the evaluation of the policy file `index`:
    /// the watchdog stopped it, or it died (its last words on stderr tell how).
    fn failure(&mut self, index: Option<usize>) -> PolicyError {
        self.ended = true;
        let path = index.and_then(|i| self.paths.get(i)).cloned();
        if self.watch.fired() {
            return match path {
                Some(path) => PolicyError::Timeout {
                    path,
                    limit: self.limits.timeout,
                },
                None => PolicyError::Worker {
                    message: format!("it did not start within {:?}", self.limits.timeout.max(STARTUP)),
                },
            };
        }
        // Its output ended: it has exited (or is exiting), so waiting is short.
        drop(self.stdin.take());
        let status = lock(&self.child).wait();
        let said = self.stderr.take().and_then(|t| t.join().ok()).unwrap_or_default();
        let status = match status {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        };
        match (path, said.out_of_memory) {
            (Some(path), Some(detail)) => PolicyError::Memory {
                path,
                limit: self.limits.memory,
                detail,
            },
            (path, _) => PolicyError::Ended {
                path,
                status,
                detail: said.last.trim().to_owned(),
            },
        }
    }
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        // An evaluation left under way (its caller gave up on it) is not waited for.
        if self.busy && !self.ended {
            let _ = lock(&self.child).kill();
        }
        // Its input ends: an idle process returns from `serve` and exits.
        drop(self.stdin.take());
        let _ = lock(&self.child).wait();
        self.watch.finish();
        if let Some(t) = self.watchdog.take() {
            let _ = t.join();
        }
        if let Some(t) = self.stderr.take() {
            let _ = t.join();
        }
    }
}

/// The least time the evaluating process is given to start and load the policies.
const STARTUP: Duration = Duration::from_secs(30);

/// What Rust's allocator prints before aborting the process.
const OUT_OF_MEMORY: &str = "memory allocation of ";

/// Sets the child's address-space limit, and no core file: the abort of a policy that ran out
/// of memory would otherwise dump up to the limit onto the disk.
#[cfg(unix)]
fn limit_memory(worker: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    let bytes = libc::rlim_t::try_from(bytes).unwrap_or(libc::RLIM_INFINITY);
    // SAFETY: runs in the child between fork and exec, and only calls `setrlimit`, which is
    // async-signal-safe, on values prepared before the fork; it allocates nothing.
    unsafe {
        worker.pre_exec(move || {
            let set = |resource, value| {
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                if libc::setrlimit(resource, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            set(libc::RLIMIT_AS, bytes)?;
            set(libc::RLIMIT_CORE, 0)
        });
    }
}

/// What the evaluating process wrote on its stderr: the allocator's last words, if it ran out
/// of memory, and the last line (a panic's, say).
#[derive(Default)]
struct Said {
    out_of_memory: Option<String>,
    last: String,
}

/// The evaluating process's stderr, passed on to this process's (what a policy `print`s), up to
/// the allocator's last words, which the error repeats.
fn drain(stderr: ChildStderr) -> Said {
    let mut reader = BufReader::new(stderr);
    let mut said = Said::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.by_ref().take(64 * 1024).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return said,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        if text.starts_with(OUT_OF_MEMORY) {
            said.out_of_memory = Some(text.trim().to_owned());
        } else if said.out_of_memory.is_none() {
            // After those words only the runtime's notes on the abort come, which the error
            // makes moot.
            let _ = std::io::stderr().write_all(&line);
        }
        // A backtrace's lines and notes say less than the line before them.
        let notable = !(text.trim().is_empty()
            || text.starts_with(char::is_whitespace)
            || text.starts_with("note:")
            || text.starts_with("stack backtrace:"));
        if notable {
            said.last = text.into_owned();
        }
    }
}

/// Until when the evaluating process may go on with what it is doing now, shared with the
/// watchdog.
struct Watch {
    /// How long the watchdog sleeps while nothing is timed.
    idle: Duration,
    state: Mutex<WatchState>,
    wake: Condvar,
}

#[derive(Default)]
struct WatchState {
    deadline: Option<Instant>,
    /// When the watchdog looks again, if it is waiting.
    looks_at: Option<Instant>,
    fired: bool,
    finished: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Watch {
    fn new(idle: Duration) -> Watch {
        Watch {
            idle,
            state: Mutex::new(WatchState::default()),
            wake: Condvar::new(),
        }
    }

    /// The clock starts on an evaluation allowed `limit`. The watchdog is woken only when the
    /// deadline comes before it would look again (after the longer start-up allowance): a
    /// plan's deadlines come one after the other, so timing them costs it nothing.
    fn start(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = lock(&self.state);
        state.deadline = Some(deadline);
        if state.looks_at.is_some_and(|at| deadline < at) {
            self.wake.notify_all();
        }
    }

    /// Stops the clock; whether the watchdog fired.
    fn stop_clock(&self) -> bool {
        let mut state = lock(&self.state);
        state.deadline = None;
        state.fired
    }

    fn fired(&self) -> bool {
        lock(&self.state).fired
    }

    fn finish(&self) {
        lock(&self.state).finished = true;
        self.wake.notify_all();
    }
}

/// Kills the evaluating process once an evaluation runs past its deadline.
fn watchdog(watch: &Watch, child: &Mutex<Child>) {
    let mut state = lock(&watch.state);
    loop {
        if state.finished {
            return;
        }
        let wait = match state.deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left,
                _ => {
                    state.fired = true;
                    let _ = lock(child).kill();
                    return;
                }
            },
            // Idle: nothing to time; look again later.
            None => watch.idle,
        };
        state.looks_at = Some(Instant::now() + wait);
        state = watch
            .wake
            .wait_timeout(state, wait)
            .map(|(state, _)| state)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}
