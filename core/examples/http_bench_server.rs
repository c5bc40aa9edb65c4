//! The server side of `bench/http/run`: one trivial action, `ping` → `"pong"`, served either by a
//! lmos `Servient` (`--mode lmos`) or by a bare axum handler that returns the same body
//! (`--mode axum`). Prints the action's URL as the first line on stdout.

use clap::{Parser, ValueEnum};
use lmos::td::{ActionAffordance, DataSchema, ThingBuilder};
use lmos::thing::handler::invoke_with;
use lmos::thing::Servient;
use serde_json::Value;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// A lmos servient (routing, input validation, handler trait object, output validation).
    Lmos,
    /// A bare axum route returning the same JSON body.
    Axum,
}

/// Command-line options.
#[derive(Debug, Parser)]
struct Options {
    /// Which server to run.
    #[arg(long, value_enum, default_value_t = Mode::Lmos)]
    mode: Mode,
    /// HTTP port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    http_port: u16,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let result = match options.mode {
        Mode::Lmos => lmos_server(options.http_port).await,
        Mode::Axum => axum_server(options.http_port).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("http_bench_server: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn lmos_server(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let servient = Servient::builder().http_port(port).build()?;
    let thing = ThingBuilder::tool("Bench")
        .action(
            "ping",
            ActionAffordance::new().output(DataSchema::of_type("string")),
        )
        .build();
    let exposed = servient.expose(thing)?;
    exposed.on_action(
        "ping",
        invoke_with(|_input, _ctx| async { Ok(Value::String("pong".into())) }),
    )?;
    servient.start().await?;
    println!("{}/actions/ping", exposed.td_url().unwrap_or_default());
    let _ = tokio::signal::ctrl_c().await;
    servient.shutdown().await;
    Ok(())
}

async fn axum_server(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let app = axum::Router::new().route(
        "/bench/actions/ping",
        axum::routing::post(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                "\"pong\"",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("http://{}/bench/actions/ping", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
