//! Protocol bindings: how interactions with a thing travel over a network protocol.

pub mod http;
pub mod ws;
