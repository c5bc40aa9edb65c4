//! `lmos demo`: a whole LMOS network in one process, with no set-up — an embedded directory
//! (SQLite in a temporary folder), a weather agent and a geocoding tool on HTTP and WebSocket —
//! registered, found, verified and called, with a transcript of every step.
//!
//! `lmos demo serve` starts the same network, prints one JSON line per service and stays up until
//! SIGINT or SIGTERM. See `docs/demo.md`.

mod geocoder;
mod mdns;
mod network;
mod steps;
mod weather;

use crate::Format;

/// Arguments of `lmos demo`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<DemoCommand>,
    /// Transcript format: lines for a person, or one JSON object per step.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, clap::Subcommand)]
enum DemoCommand {
    /// Start the demo network, print one JSON line per service (`name`, `url`, `td`) and serve
    /// until SIGINT or SIGTERM.
    Serve,
}

/// Runs the subcommand; returns the exit status.
pub async fn run(args: Args) -> u8 {
    match args.command {
        None => steps::run(args.format).await,
        Some(DemoCommand::Serve) => serve().await,
    }
}

/// `lmos demo serve`.
async fn serve() -> u8 {
    let network = match network::Network::start().await {
        Ok(network) => network,
        Err(e) => {
            errln!("lmos demo serve: {e}");
            return crate::EXIT_ERROR;
        }
    };
    let lines = async {
        let directory_td = network
            .directory
            .client
            .describe()
            .await
            .map_err(|e| format!("cannot read the directory's TD: {e}"))?;
        let mut lines = vec![serde_json::json!({
            "name": "directory",
            "url": network.directory.base_url(),
            "td": directory_td,
        })];
        for service in [&network.weather, &network.geocoder] {
            lines.push(serde_json::json!({
                "name": service.title(),
                "url": service.td_url,
                "td": service.signed_description()?,
            }));
        }
        Ok::<_, String>(lines)
    };
    let printed = match lines.await {
        Ok(lines) => {
            let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
            crate::write_stdout(&text)
        }
        Err(e) => {
            errln!("lmos demo serve: {e}");
            false
        }
    };
    if printed {
        crate::cmd::directory::stop_signal().await;
    }
    let stopped = network.stop().await;
    if let Err(e) = &stopped {
        errln!("lmos demo serve: {e}");
    }
    if printed && stopped.is_ok() {
        crate::EXIT_OK
    } else {
        crate::EXIT_ERROR
    }
}
