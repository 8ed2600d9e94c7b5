//! One apply as a history run: begun before the first order (or deferred, on a state that does
//! not exist yet), and closed with what happened. `apply` of one manifest and each account of a
//! fleet apply go through these two calls, so a run is recorded the same way everywhere.

use std::sync::{Arc, Mutex};

use pai_state::{ApiCall, RunResult, StateError, StateWriter};

use super::{ApplyReport, ExecError, Executor, ExecutorConfig, ProgressSink};
use crate::client::Client;

impl Executor {
    /// An executor for an apply of `command` (`apply`, `fleet apply`) on the state `writer`
    /// holds, with `calls` (the refresh's `ListProducts`) recorded in its run. On a state that
    /// exists the run is begun now; on one that does not, by the first write that records a
    /// product ([`Executor::without_run`]).
    pub fn for_apply(
        client: Client,
        writer: Arc<Mutex<StateWriter>>,
        command: &str,
        calls: &[ApiCall],
        config: ExecutorConfig,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Executor, ExecError> {
        // Before the run is begun: a refused executor leaves no open run behind.
        super::check_settle(&client, &config)?;
        let begun = {
            let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
            if w.exists() {
                let run = w.begin_run(command)?;
                for call in calls {
                    w.record_api_call(run, call)?;
                }
                Some(run)
            } else {
                None
            }
        };
        match begun {
            Some(run) => Executor::new(client, writer, run, config, progress),
            None => Executor::without_run(client, writer, command, calls.to_vec(), config, progress),
        }
    }

    /// Closes the run, if one was begun, with the result of [`Executor::apply`]; `interrupted`
    /// names the signal that stopped it, which is the run's result whatever the report says.
    pub fn finish(&self, result: &Result<ApplyReport, ExecError>, interrupted: Option<&str>) -> Result<(), StateError> {
        let Some(run) = self.run_id() else {
            return Ok(());
        };
        let run_result = match (result, interrupted) {
            (_, Some(signal)) => RunResult::Failed(format!("interrupted by {signal}")),
            (Ok(report), None) if report.is_success() => RunResult::Succeeded,
            (Ok(_), None) => RunResult::Failed("some products were not ordered".into()),
            (Err(e), None) => RunResult::Failed(e.to_string()),
        };
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer.end_run(run, &run_result)
    }
}
