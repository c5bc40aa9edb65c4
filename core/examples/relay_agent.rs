//! An agent that calls another agent: `askWeather` forwards its question to the `getWeather`
//! action of the WeatherAgent whose TD is at `--weather URL`, over the protocol it prefers.
//!
//! ```text
//! cargo run --example relay_agent -- --weather http://127.0.0.1:8080/weather-agent --http-port 0
//! ```
//!
//! The first line on stdout is the URL of the relay's TD; it serves until interrupted. The
//! handler's call runs in the handler's trace context, so the call chain caller → relay →
//! WeatherAgent is one trace; with `OTEL_EXPORTER_OTLP_ENDPOINT` (and `OTEL_SERVICE_NAME`) set,
//! the spans of both hops are exported over OTLP. tests/interop/trace_chain.py runs it between a
//! Python client and the JavaScript WeatherAgent.

use std::sync::Arc;

use clap::Parser;
use lmos::td::{ActionAffordance, DataSchema, ThingBuilder};
use lmos::thing::handler::invoke_with;
use lmos::thing::{ConsumeOptions, ConsumedThing, HandlerError, Servient};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "An LMOS agent that asks the WeatherAgent")]
struct Options {
    /// URL of the WeatherAgent's Thing Description.
    #[arg(long)]
    weather: String,
    /// HTTP port (0 picks a free one).
    #[arg(long, default_value_t = 8081)]
    http_port: u16,
    /// Preferred protocol for calling the WeatherAgent (`http` or `ws`).
    #[arg(long, default_value = "http")]
    protocol: String,
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

fn description() -> lmos::td::Thing {
    ThingBuilder::agent("RelayAgent")
        .id("urn:lmos:example:relay-agent")
        .description("Answers weather questions by asking the WeatherAgent.")
        .action(
            "askWeather",
            ActionAffordance::new()
                .description("Forwards a weather question to the WeatherAgent.")
                .input(DataSchema::object(
                    [("question", DataSchema::of_type("string"))],
                    &["question"],
                ))
                .output(DataSchema::of_type("string")),
        )
        .build()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let weather_url = options.weather.clone();
    let protocol = options.protocol.clone();
    // The WeatherAgent is consumed on first use and shared by every call after.
    let weather: Arc<OnceCell<ConsumedThing>> = Arc::default();
    let run = async {
        let servient = Servient::builder().http_port(options.http_port).build()?;
        let relay = servient.expose(description())?;
        relay.on_action(
            "askWeather",
            invoke_with(move |input: Value, _ctx| {
                let weather_url = weather_url.clone();
                let protocol = protocol.clone();
                let weather = weather.clone();
                async move {
                    let failed = |e: lmos::thing::ThingError| HandlerError::Failed(e.to_string());
                    let agent = weather
                        .get_or_try_init(|| async {
                            let options = ConsumeOptions {
                                protocols: vec![protocol],
                                ..ConsumeOptions::default()
                            };
                            ConsumedThing::from_url(&weather_url, options).await
                        })
                        .await
                        .map_err(failed)?;
                    let question = input["question"].as_str().unwrap_or_default();
                    agent
                        .invoke_action(
                            "getWeather",
                            json!({"question": question, "interactionMode": "text"}),
                        )
                        .await
                        .map_err(failed)
                }
            }),
        )?;
        servient.start().await?;
        Ok::<_, lmos::thing::ThingError>((servient, relay))
    };
    let (servient, relay) = match run.await {
        Ok(started) => started,
        Err(error) => {
            eprintln!("relay_agent: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{}", relay.td_url().unwrap_or_default());
    stopped().await;
    servient.shutdown().await;
    lmos::trace::flush_async(std::time::Duration::from_secs(5)).await;
    std::process::ExitCode::SUCCESS
}
