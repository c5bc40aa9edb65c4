//! One module per subcommand.

pub mod demo;
pub mod describe;
pub mod did;
pub mod directory;
pub mod discover;
pub mod fmt;
pub mod new;
pub mod sign;
pub mod validate;
pub mod verify;
