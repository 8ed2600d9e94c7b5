//! What the tests of several crates share, so that each fixture and harness is written once.
//!
//! Only ever a dev-dependency. It depends on `pai-spec` and `pai-emulator` and on nothing that
//! could depend on it, so any crate but the emulator itself may use it without a cycle.
//! Like any test code it panics on a broken setup: a failed setup is a failed test.
//!
//! Modules:
//! - [`fixtures`]: regions, addresses, product requests, products and order bodies.
//! - [`emulator`]: an in-process emulator on loopback: its configuration, a runtime for it,
//!   and [`emulator::Emu`], which restarts on the same ports with other faults or an edited
//!   ledger.
//! - [`forge`]: a fake GitHub and GitLab on loopback (their comment and issue endpoints,
//!   pagination and authentication) with a store a test inspects, for `pai-forge`.

pub mod emulator;
pub mod fixtures;
pub mod forge;
