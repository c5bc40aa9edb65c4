//! Native side of the `lmos` npm package.
//!
//! The JavaScript layer in `node/` is the public API; this addon only converts values, maps
//! errors and bridges async. Values cross the boundary as JSON text (the JavaScript side uses
//! `JSON.stringify`/`JSON.parse`), so JSON semantics hold exactly (integers stay integers,
//! `undefined` members vanish) and each value crosses in one call.
//!
//! Errors reach JavaScript as `Error`s whose message is a JSON document
//! `{"lmos": code, "message": ..., "details": {...}}`; the JavaScript layer turns them into the
//! `LmosError` subclasses (see [`errors`]).

// napi-derive registers exports only outside `cfg(test)`; the unit-test build sees them unused.
#![cfg_attr(test, allow(dead_code))]

mod chat;
mod consume;
mod discovery;
mod errors;
mod identity;
mod serve;
mod td;
mod trace;

use napi_derive::napi;

/// Allocations of the addon (not of Node.js itself) go through mimalloc: see Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Version of the native addon (the crate version).
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
