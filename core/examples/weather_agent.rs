//! The reference LMOS agent: the WeatherAgent of the LMOS agent description, served over HTTP
//! and WebSocket.
//!
//! ```text
//! cargo run --example weather_agent -- --http-port 0
//! cargo run --example weather_agent -- --http-port 0 --ws-port 0
//! ```
//!
//! Every affordance has HTTP forms and a WebSocket (`lmosprotocol`) form; the WebSocket endpoint
//! is `/ws` on the HTTP port, or on `--ws-port`.
//!
//! The first line on stdout is the URL of the agent's Thing Description; the agent serves until
//! interrupted (Ctrl-C or SIGTERM).
//!
//! The agent itself (TD and handlers) is `cli/src/cmd/demo/weather.rs`, which `lmos demo` serves too.

use std::time::Duration;

use clap::Parser;
use lmos::thing::Servient;

// The agent's TD and handlers, shared with `lmos demo`.
#[path = "../../cli/src/cmd/demo/weather.rs"]
mod weather;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "The LMOS WeatherAgent over HTTP and WebSocket")]
struct Options {
    /// HTTP port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    http_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// URL under which clients reach this server, if not the bound address.
    #[arg(long)]
    public_base_url: Option<String>,
    /// Also accept WebSocket (`lmosprotocol`) connections on this port (0 picks a free one).
    /// Without it the WebSocket endpoint is `/ws` on the HTTP port.
    #[arg(long)]
    ws_port: Option<u16>,
    /// Milliseconds the `forecast` action spends on each day.
    #[arg(long, default_value_t = 200)]
    forecast_step_ms: u64,
    /// The TD's `id` instead of the WeatherAgent's own (to run several side by side, e.g. under
    /// one directory).
    #[arg(long)]
    id: Option<String>,
}

async fn stopped() {
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let mut builder = Servient::builder()
        .http_host(options.host)
        .http_port(options.http_port);
    if let Some(url) = &options.public_base_url {
        builder = builder.public_base_url(url);
    }
    if let Some(port) = options.ws_port {
        builder = builder.ws_port(port);
    }
    let run = async {
        let servient = builder.build()?;
        let mut description = weather::description();
        if let Some(id) = &options.id {
            description.id = Some(id.clone());
        }
        let exposed = servient.expose(description)?;
        weather::serve(&exposed, Duration::from_millis(options.forecast_step_ms))?;
        servient.start().await?;
        Ok::<_, lmos::thing::ThingError>((servient, exposed))
    };
    let (servient, exposed) = match run.await {
        Ok(started) => started,
        Err(error) => {
            eprintln!("weather_agent: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{}", exposed.td_url().unwrap_or_default());
    stopped().await;
    servient.shutdown().await;
    std::process::ExitCode::SUCCESS
}
