//! One module per subcommand.

pub mod describe;
pub mod fmt;
pub mod new;
pub mod validate;
