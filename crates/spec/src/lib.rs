//! The pai-provision manifest: what an account must have, as a platform team writes it.
//!
//! This crate turns a TOML manifest into typed, validated [`Manifest`] values and, for each
//! product, the exact `Products[]` element that `CreateProductOrders` will carry plus a
//! fingerprint of it. It does no I/O beyond reading the manifest file; the planner and the
//! executor consume its types. Every problem in a file is reported in one run, as a
//! [`Diagnostic`] with file, line, column, the source line and a hint.
//!
//! Entry points: [`load`] and [`parse`] (validate), [`format()`] (the canonical layout of `fmt`).
//!
//! Modules:
//! - `model`: the validated types ([`Manifest`], [`Product`], [`ProductCode`], the canonical
//!   [`ProductRequest`]), all re-exported here.
//! - `address`: [`Address`] and [`Region`], their syntax, their errors, and `products.<address>`
//!   as text ([`Address::qualified`], [`Address::parse_qualified`]).
//! - [`keys`]: every manifest key, where it goes, its type; read by `check`, `format` and `suggest`.
//! - [`rules`]: the API rules of `CreateProductOrders`, as pure checks shared with the emulator.
//! - [`diagnostic`]: findings and their rendering (plain or coloured text, JSON via serde).
//! - [`endpoint`]: which URL serves a region, and the one rule of what is an endpoint.
//! - [`printable`]: control characters written out, for every printer of outside text.
//! - [`fleet`]: the fleet file: the accounts, the RAM role and regions of each, which manifest
//!   each gets; validated with the manifest's diagnostics; read by the `fleet` commands.
//! - `load`: bytes to a [`Loaded`] manifest: size, UTF-8 and TOML checks, then `check`.
//! - `check`: the walk over the TOML document (provider, products, properties, identities).
//! - `format`: the canonical layout, keeping comments.
//! - `source`: byte offsets to lines, columns and printable excerpts.
//! - `suggest`: "did you mean" for near misses.

mod address;
mod check;
pub mod diagnostic;
pub mod endpoint;
mod error;
pub mod fleet;
mod format;
pub mod keys;
mod load;
mod model;
pub mod printable;
pub mod rules;
mod source;
mod suggest;

pub use diagnostic::{Diagnostic, Severity, Snippet};
pub use endpoint::{check_endpoint, EndpointError, Endpoints, ManifestEndpoints, RefusedEndpoint};
pub use error::SpecError;
pub use format::format;
pub use load::{analyse, load, parse, read, Loaded, MAX_MANIFEST_BYTES};
pub use model::{
    Address, AddressError, Fingerprint, InstanceProperty, Manifest, OrderBody, Product, ProductCode, ProductRequest,
    Provider, Region, RegionError, SignatureVersion,
};
pub use printable::{escape, escape_lines};
