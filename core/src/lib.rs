//! # lmos
//!
//! The Rust core of the LMOS Protocol SDK: describe agents and tools with W3C Thing Descriptions,
//! validate them, and (in later modules) serve and call them over HTTP and WebSocket.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod td;
