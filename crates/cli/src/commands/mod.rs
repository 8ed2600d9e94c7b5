//! One module per command. Each `run` returns the process exit code.

use crate::cli::{Cli, Command, FleetCommand, StateCommand};

mod apply;
mod emulator;
mod fleet;
mod fmt;
mod forge;
mod governance;
mod plan;
mod policy;
mod show;
mod state;
mod validate;

pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    g.check()?;
    if let Some(warning) = g.settle_warning() {
        note!("warning: {warning}");
    }
    match cli.command {
        Command::Validate(args) => validate::run(g, args),
        Command::Fmt(args) => fmt::run(g, args),
        Command::Plan(args) => plan::run(g, args),
        Command::Apply(args) => apply::run(g, args),
        Command::Refresh(args) => apply::refresh(g, args),
        Command::Show(args) => show::run(g, args),
        Command::State(cmd) => match cmd {
            StateCommand::List(args) => state::list(g, args),
            StateCommand::Show(args) => state::show(g, args),
            StateCommand::Rm(args) => state::rm(g, args),
            StateCommand::History(args) => governance::history(g, args),
            StateCommand::Import(args) => state::import(g, args),
            StateCommand::Migrate(args) => state::migrate(g, args),
            StateCommand::Freeze(args) => governance::freeze(g, args),
            StateCommand::Unfreeze(args) => governance::unfreeze(g, args),
        },
        Command::ForceUnlock(args) => state::force_unlock(g, args),
        Command::Emulator(args) => emulator::run(g, args),
        Command::Fleet(cmd) => match cmd {
            FleetCommand::Plan(args) => fleet::logged(fleet::plan(g, args)),
            FleetCommand::Apply(args) => fleet::logged(fleet::apply(g, args)),
            FleetCommand::Status(args) => fleet::status(g, args),
        },
        Command::Comment(args) => forge::comment(g, args),
        Command::Drift(args) => forge::drift(g, args),
        Command::PolicyWorker => policy::serve(),
    }
}
