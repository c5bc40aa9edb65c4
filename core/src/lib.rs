//! # lmos
//!
//! The Rust core of the LMOS Protocol SDK: describe agents and tools with W3C Thing Descriptions,
//! validate them, serve them ([`thing::Servient`], [`thing::ExposedThing`]) and call them
//! ([`thing::ConsumedThing`]) over HTTP, and talk to conversational agents ([`chat`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binding;
pub mod chat;
pub mod codec;
pub mod discovery;
pub mod identity;
pub mod security;
pub mod td;
pub mod thing;
pub mod trace;
