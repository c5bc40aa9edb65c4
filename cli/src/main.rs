//! The `lmos` command.

mod client;

use clap::{Parser, Subcommand};

/// The LMOS command line.
#[derive(Debug, Parser)]
#[command(
    name = "lmos",
    version,
    about = "Describe, serve and call LMOS agents and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Client(client::ClientCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lmos: cannot start the async runtime: {error}");
            return std::process::ExitCode::from(3);
        }
    };
    let code = match cli.command {
        Command::Client(command) => runtime.block_on(client::run(command)),
    };
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
