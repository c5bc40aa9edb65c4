//! Helpers shared by the directory tests: TDs, temporary store files, a started directory.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lmos::discovery::{Directory, DirectorySettings, RunningDirectory, SqliteStore};
use serde_json::{json, Value};

/// A fresh path for an SQLite file under the system temp directory.
pub fn temp_db() -> PathBuf {
    std::env::temp_dir()
        .join(format!("lmos-directory-test-{}", uuid::Uuid::new_v4()))
        .join("directory.db")
}

/// An LMOS agent (or tool) TD with one action.
pub fn td(
    kind: &str,
    id: &str,
    title: &str,
    description: &str,
    vendor: &str,
    action: (&str, &str),
) -> Value {
    let ty = if kind == "tool" {
        "lmos:Tool"
    } else {
        "lmos:Agent"
    };
    json!({
        "@context": ["https://www.w3.org/2022/wot/td/v1.1", {"lmos": "https://eclipse.dev/lmos/protocol/v1"}],
        "@type": ty,
        "id": id,
        "title": title,
        "description": description,
        "lmos:metadata": {"lmos:vendor": {"lmos:name": vendor}},
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "actions": {
            action.0: {
                "description": action.1,
                "forms": [{"href": format!("http://127.0.0.1:9/{}/actions/{}", title.to_lowercase(), action.0)}]
            }
        }
    })
}

pub fn weather(id: &str) -> Value {
    td(
        "agent",
        id,
        "Weather",
        "Tells the current weather and the forecast for a city",
        "ACME",
        ("getForecast", "The weather forecast for the next days"),
    )
}

pub fn geocoder(id: &str) -> Value {
    td(
        "tool",
        id,
        "Geocoder",
        "Turns addresses into coordinates",
        "Maps Inc",
        ("geocode", "Coordinates of an address"),
    )
}

pub fn travel(id: &str) -> Value {
    td(
        "agent",
        id,
        "Travel Planner",
        "Plans trips, looks at flights and hotels; mentions weather once",
        "ACME",
        ("plan", "Plan a trip"),
    )
}

/// Starts a directory on 127.0.0.1 (port 0 = ephemeral) over the SQLite file `db`.
pub async fn start(db: &std::path::Path, port: u16) -> RunningDirectory {
    start_with(db, port, DirectorySettings::default()).await
}

pub async fn start_with(
    db: &std::path::Path,
    port: u16,
    settings: DirectorySettings,
) -> RunningDirectory {
    let store = SqliteStore::open(db).await.expect("open store");
    let directory = Directory::with_settings(Arc::new(store), settings);
    // A port just released may still be in use for a moment.
    for _ in 0..50 {
        match directory
            .start(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
        {
            Ok(running) => return running,
            Err(_) if port != 0 => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(error) => panic!("start directory: {error}"),
        }
    }
    panic!("port {port} stayed busy")
}

/// Polls `check` every 50 ms for up to 30 s; panics with `what` if it never holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}
