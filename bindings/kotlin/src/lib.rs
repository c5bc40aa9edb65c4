//! Rust side of the `lmos` Kotlin library, exported with UniFFI (proc-macro mode).
//!
//! The Kotlin layer in `kotlin/` (package `io.github.lmossdk`) is the public API; what this
//! crate exports (package `io.github.lmossdk.ffi`) is its private foundation. It only converts
//! values, maps errors and bridges async: every piece of protocol logic lives in the `lmos` crate.
//!
//! - JSON values (TDs, payloads, options) cross the boundary as JSON text; Kotlin turns them
//!   into `kotlinx.serialization.json.JsonElement`s.
//! - Every failure is one [`NativeError`] with the core error's stable `code()`, a message and
//!   its fields as JSON details; Kotlin maps it to the sealed `LmosException` hierarchy.
//! - Async functions run on one multi-threaded Tokio runtime owned by this library ([`run`]);
//!   dropping the future (a cancelled Kotlin coroutine) aborts the task.
//! - Handlers are Kotlin implementations of the foreign traits in [`serve`]; when the core drops
//!   a handler's future (the caller cancelled or went away), UniFFI cancels the coroutine.

uniffi::setup_scaffolding!("lmos");

mod chat;
mod consume;
mod discovery;
mod errors;
mod identity;
mod runtime;
mod serve;
mod td;
mod trace;

pub use errors::NativeError;

/// Version of the native library (the crate version).
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
