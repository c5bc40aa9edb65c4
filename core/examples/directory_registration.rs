//! A directory, an agent that registers itself in it, and a search that finds the agent.
//!
//! `cargo run -p lmos --example directory_registration [-- --db PATH]`
//!
//! Prints, one per line: the directory's URL, the id the agent is registered under, the titles a
//! text search for "who can tell the weather?" finds, and, after the servient shut down, how many
//! entries are left (0: shutting down deregisters).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lmos::discovery::{Directory, DirectoryClient, SqliteStore};
use lmos::td::{ActionAffordance, DataSchema, ThingBuilder};
use lmos::thing::Servient;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let db = match (args.next().as_deref(), args.next()) {
        (Some("--db"), Some(path)) => std::path::PathBuf::from(path),
        _ => std::env::temp_dir().join(format!("lmos-example-{}.db", uuid::Uuid::new_v4())),
    };

    // The directory: an SQLite file, on an ephemeral loopback port.
    let store = SqliteStore::open(&db).await?;
    let directory = Directory::new(Arc::new(store))
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await?;
    println!("{}", directory.base_url());

    // An agent served on its own port, registered with a 30 s time-to-live (refreshed).
    let servient = Servient::builder().http_port(0).build()?;
    let agent = servient.expose(
        ThingBuilder::agent("Weather")
            .id("urn:example:weather-agent")
            .description("Tells the current weather and the forecast for a city")
            .vendor("ACME", None)
            .action(
                "forecast",
                ActionAffordance::new()
                    .description("The weather forecast for the next days")
                    .input(DataSchema::of_type("string")),
            )
            .build(),
    )?;
    servient.start().await?;
    let client = DirectoryClient::new(directory.base_url())?;
    let registration = agent.register(&client, Duration::from_secs(30)).await?;
    println!("{}", registration.id());

    // Another agent looks for one that can help.
    for td in client.find_text("who can tell the weather?").await? {
        println!("{}", td["title"].as_str().unwrap_or("?"));
    }

    // Shutting the servient down deletes its entries.
    servient.shutdown().await;
    println!("{}", client.list().await?.len());
    directory.shutdown().await;
    let _ = std::fs::remove_file(&db);
    Ok(())
}
