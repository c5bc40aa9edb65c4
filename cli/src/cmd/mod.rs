//! One module per subcommand.

pub mod describe;
pub mod directory;
pub mod discover;
pub mod did;
pub mod fmt;
pub mod new;
pub mod sign;
pub mod validate;
pub mod verify;
