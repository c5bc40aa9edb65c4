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
    /// Keep the services on 127.0.0.1 too (by default they listen on the address multicast
    /// leaves from, so that mDNS can find them); the mDNS step is then not available.
    #[arg(long)]
    loopback: bool,
}

#[derive(Debug, clap::Subcommand)]
enum DemoCommand {
    /// Start the demo network, print one JSON line per service (`name`, `url`, `td`) and serve
    /// until SIGINT or SIGTERM.
    Serve(ServeArgs),
}

/// Arguments of `lmos demo serve`.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Keep the services on 127.0.0.1 (not advertised by mDNS).
    #[arg(long)]
    loopback: bool,
    /// UDP port of the mDNS group the services are advertised on (5353 is mDNS proper, where
    /// `lmos discover --mdns` looks).
    #[arg(long, default_value_t = 5353)]
    mdns_port: u16,
}

/// Runs the subcommand; returns the exit status.
pub async fn run(args: Args) -> u8 {
    match args.command {
        None => steps::run(args.format, args.loopback).await,
        Some(DemoCommand::Serve(serve_args)) => serve(serve_args).await,
    }
}

/// `lmos demo serve`.
async fn serve(args: ServeArgs) -> u8 {
    let network = match network::Network::start(args.loopback, args.mdns_port).await {
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
