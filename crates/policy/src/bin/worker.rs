//! `pai-policy-worker`: [`pai_policy::worker::serve`] on the standard streams, the evaluating
//! process of this crate's own tests (`pai-provision` runs the same as its hidden
//! `policy-worker` command).

use std::process::ExitCode;

fn main() -> ExitCode {
    match pai_policy::worker::serve(std::io::stdin().lock(), std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
