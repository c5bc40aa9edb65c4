//! The `lmos` command: validate, format, describe and create LMOS agent and tool descriptions.

#![forbid(unsafe_code)]

/// `eprintln!` that cannot panic: see [`write_stderr`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::write_stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}

mod client;
mod cmd;
mod input;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit status for "everything was fine".
const EXIT_OK: u8 = 0;
/// Exit status for "a document is not valid".
const EXIT_INVALID: u8 = 1;
/// Exit status for usage errors and input that could not be read or fetched.
const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "lmos",
    version,
    about = "Validate, format, describe and create LMOS agent and tool descriptions (W3C Thing Descriptions)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check Thing Descriptions (and Thing Models) against TD 1.1 and the LMOS rules.
    ///
    /// Exit status: 0 when every document is valid, 1 when any is invalid, 2 when one could not
    /// be read or fetched.
    Validate(cmd::validate::Args),
    /// Print a Thing Description back in a stable, pretty-printed form.
    Fmt(cmd::fmt::Args),
    /// Summarise a Thing Description for a person: affordances, schemas, forms, security.
    Describe(cmd::describe::Args),
    /// Print a valid starter Thing Description for an agent or a tool.
    New(cmd::new::Args),
    /// Run a Thing Description Directory (`lmos directory serve`).
    Directory(cmd::directory::Args),
    /// Find agents and tools in a directory: by type, vendor, text or JSONPath.
    Discover(cmd::discover::Args),
    /// Make keys and DIDs, print DID documents, resolve DIDs (did:key, did:web).
    Did(cmd::did::Args),
    /// Sign a JSON document (a TD, a credential) with an eddsa-jcs-2022 proof; prints it.
    Sign(cmd::sign::Args),
    /// Verify every Data Integrity proof on a JSON document.
    ///
    /// Exit status: 0 when there is a proof and every proof verifies, 1 otherwise, 2 when the
    /// document could not be read.
    Verify(cmd::verify::Args),
    /// Run a whole LMOS network in one process and show each step (`lmos demo`), or serve it
    /// (`lmos demo serve`).
    ///
    /// Exit status: 0 when every step worked, 1 when one failed.
    Demo(cmd::demo::Args),
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// Output format of machine-readable commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for a person.
    Text,
    /// One JSON array holding one report per document.
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    // A second provider may already be installed by a library; either one is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // `--help` and `--version` are not errors; clap knows which is which.
            let code = if err.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_OK
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Validate(args) => cmd::validate::run(args).await,
        Command::Fmt(args) => cmd::fmt::run(args).await,
        Command::Describe(args) => cmd::describe::run(args).await,
        Command::New(args) => cmd::new::run(args),
        Command::Directory(args) => cmd::directory::run(args).await,
        Command::Discover(args) => cmd::discover::run(args).await,
        Command::Did(args) => cmd::did::run(args).await,
        Command::Sign(args) => cmd::sign::run(args).await,
        Command::Verify(args) => cmd::verify::run(args).await,
        Command::Demo(args) => cmd::demo::run(args).await,
        // The client commands use their own exit codes 0-3 (see client.rs).
        Command::Client(command) => u8::try_from(client::run(command).await).unwrap_or(1),
    };
    ExitCode::from(code)
}

/// Writes `text` to standard output. Returns false when that failed; a reader that went away
/// (`lmos describe x | head -1`) is not worth a message, any other failure is told on stderr.
fn write_stdout(text: &str) -> bool {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => false,
        Err(e) => {
            write_stderr(&format!("lmos: cannot write to standard output: {e}\n"));
            false
        }
    }
}

/// Writes `text` to standard error; a failure there has nowhere left to be told, so it is dropped.
fn write_stderr(text: &str) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}
