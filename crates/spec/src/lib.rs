//! The pai-provision manifest: what an account must have, as a platform team writes it.
//!
//! This crate turns a TOML manifest into typed, validated [`Manifest`] values and, for each
//! product, the exact `Products[]` element that `CreateProductOrders` will carry plus a
//! fingerprint of it. It does no I/O beyond reading the manifest file; the planner and the
//! executor consume its types.
//!
//! Modules:
//! - [`model`]: the validated types (addresses, regions, product codes, canonical requests).
//! - [`rules`]: the API rules of `CreateProductOrders`, as pure checks shared with the emulator.

pub mod model;
pub mod rules;

pub use model::{
    Address, Fingerprint, InstanceProperty, Manifest, OrderBody, Product, ProductCode, ProductRequest, Provider,
    Region, SignatureVersion,
};
