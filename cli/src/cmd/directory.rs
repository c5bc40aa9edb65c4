//! `lmos directory serve`: run a Thing Description Directory.
//!
//! The first line on standard output is the base URL (so scripts can read it); the directory runs
//! until SIGINT or SIGTERM. Exit status: 0 after a clean stop, 2 when the store cannot be opened
//! or the port cannot be bound.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use lmos::discovery::{Directory, DirectorySettings, DirectoryStore, Mdns, MdnsOptions};

use crate::{EXIT_ERROR, EXIT_OK};

/// Arguments of `lmos directory`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DirectoryCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DirectoryCommand {
    /// Serve the W3C WoT directory API (register, search, events) until interrupted.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// TCP port (0: an ephemeral port; the first output line tells which).
    #[arg(long, default_value_t = 8081)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Store: `sqlite:PATH` (or a plain path) or `postgres://user@host:port/db`. Default: an
    /// SQLite file in the user's data directory ($XDG_DATA_HOME/lmos/directory.db, else
    /// ~/.local/share/lmos/directory.db).
    #[arg(long, value_name = "sqlite:PATH|postgres://...")]
    db: Option<String>,
    /// The URL clients reach this directory at (behind a proxy or load balancer).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Longest time-to-live granted to a registration, in seconds.
    #[arg(long, value_name = "SECONDS")]
    max_ttl: Option<u64>,
    /// Advertise the directory on the local network (DNS-SD `_directory._sub._wot._tcp` over
    /// mDNS). Only an address other than 127.0.0.1 (see --host) is visible on the network.
    #[arg(long)]
    mdns: bool,
    /// UDP port of the mDNS group (5353 is mDNS proper).
    #[arg(long, value_name = "PORT", default_value_t = 5353)]
    mdns_port: u16,
}

/// The default store file: `$XDG_DATA_HOME/lmos/directory.db`, else
/// `$HOME/.local/share/lmos/directory.db`.
fn default_db() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".local").join("share"))
        })?;
    Some(data.join("lmos").join("directory.db"))
}

async fn open_store(db: Option<&str>) -> Result<Arc<dyn DirectoryStore>, String> {
    let spec = match db {
        Some(spec) => spec.to_owned(),
        None => {
            let path =
                default_db().ok_or("no --db given and neither XDG_DATA_HOME nor HOME is set")?;
            format!("sqlite:{}", path.display())
        }
    };
    lmos::discovery::open_store(&spec)
        .await
        .map_err(|e| e.to_string())
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs the subcommand; returns the exit status.
pub async fn run(args: Args) -> u8 {
    match args.command {
        DirectoryCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> u8 {
    let store = match open_store(args.db.as_deref()).await {
        Ok(store) => store,
        Err(e) => {
            errln!("lmos directory serve: {e}");
            return EXIT_ERROR;
        }
    };
    let settings = DirectorySettings {
        public_base_url: args.public_url.clone(),
        max_ttl: args.max_ttl,
        ..DirectorySettings::default()
    };
    let directory = Directory::with_settings(store, settings);
    let running = match directory.start(SocketAddr::new(args.host, args.port)).await {
        Ok(running) => running,
        Err(e) => {
            errln!("lmos directory serve: {e}");
            return EXIT_ERROR;
        }
    };
    let mdns = if args.mdns {
        let advertised = Mdns::new(MdnsOptions {
            port: args.mdns_port,
        })
        .and_then(|mdns| {
            mdns.advertise_directory("LMOS Directory", &running)?;
            Ok(mdns)
        });
        match advertised {
            Ok(mdns) => Some(mdns),
            Err(e) => {
                errln!("lmos directory serve: {e}");
                running.shutdown().await;
                return EXIT_ERROR;
            }
        }
    } else {
        None
    };
    if !crate::write_stdout(&format!("{}\n", running.base_url())) {
        running.shutdown().await;
        return EXIT_ERROR;
    }
    stop_signal().await;
    if let Some(mdns) = mdns {
        mdns.shutdown().await;
    }
    running.shutdown().await;
    EXIT_OK
}
