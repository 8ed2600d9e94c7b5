//! The arguments of the `state` commands (docs/state.md, "Commands").

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{Format, LocationArg};

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// One row per address.
    List(StateFormatArgs),
    /// Everything recorded for one address.
    Show(StateAddrArgs),
    /// Drop an address from the state (the activation stays active and billed).
    Rm(StateAddrArgs),
    /// The history of runs and API calls.
    History(StateHistoryArgs),
    /// Record an activation bought elsewhere.
    Import(StateImportArgs),
    /// Copy the state to an empty location (a file or a postgres:// URL), verified.
    Migrate(StateMigrateArgs),
    /// Freeze the state: apply refuses until `state unfreeze` (plan and refresh still run).
    Freeze(StateFreezeArgs),
    /// Lift the freeze.
    Unfreeze(StateFormatArgs),
}

#[derive(Debug, Args)]
pub struct StateFreezeArgs {
    /// Why: shown to whoever tries to apply, and kept in the history.
    #[arg(long)]
    pub reason: String,
    /// How to print it.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The output of `state history`, which can also be one JSON object per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum HistoryFormat {
    /// Text for people.
    #[default]
    Human,
    /// One JSON document: `{runs, events}`.
    Json,
    /// One JSON object per event, with its run and the run's provenance (for a SIEM; docs/state.md).
    Jsonl,
}

#[derive(Debug, Args)]
pub struct StateFormatArgs {
    /// How to print it.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StateAddrArgs {
    /// `ADDRESS` or `products.ADDRESS`.
    pub address: String,
    /// How to print it.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StateHistoryArgs {
    /// Only the events of this address (`ADDRESS` or `products.ADDRESS`).
    pub address: Option<String>,
    /// Only the events at or after this time (RFC 3339, e.g. 2026-11-30T00:00:00Z), and their runs.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// How to print it.
    #[arg(long, value_enum, default_value_t)]
    pub format: HistoryFormat,
}

#[derive(Debug, Args)]
pub struct StateImportArgs {
    /// `ADDRESS` or `products.ADDRESS`, as the manifest declares it.
    pub address: String,
    /// The manifest that declares the address.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// How to print it.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StateMigrateArgs {
    /// Where to copy the state: a SQLite file path or a postgres:// URL; it must hold no state.
    #[arg(long)]
    pub to: LocationArg,
    /// How to print it.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}
