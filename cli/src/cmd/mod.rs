//! One module per subcommand.

pub mod describe;
pub mod directory;
pub mod discover;
pub mod fmt;
pub mod new;
pub mod validate;
