//! The PostgreSQL store against a real server (`scripts/with-postgres` starts one and sets
//! LMOS_TEST_POSTGRES_URL): the directory API over it, and two directory instances sharing one
//! database whose SSE subscribers see each other's changes.
//!
//! Without LMOS_TEST_POSTGRES_URL these tests fail under CI=true and are skipped (with a
//! message) otherwise.

mod directory_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use directory_common::*;
use futures::StreamExt;
use lmos::discovery::{
    ChangeKind, Directory, DirectoryClient, DirectoryError, PostgresStore, RunningDirectory,
    SearchQuery, WatchOptions,
};
use serde_json::json;

/// A fresh database on the test server, as a URL; `None` (after a message) when no server is
/// configured outside CI.
async fn fresh_database() -> Option<String> {
    let Ok(url) = std::env::var("LMOS_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("LMOS_TEST_POSTGRES_URL is not set: run the PostgreSQL tests through scripts/with-postgres");
        }
        eprintln!(
            "SKIPPED: LMOS_TEST_POSTGRES_URL is not set; run `scripts/with-postgres cargo test -p lmos --test directory_postgres`"
        );
        return None;
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    tokio::spawn(connection);
    let name = format!("lmos_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a database");
    let base = url.rsplit_once('/').map(|(base, _)| base).unwrap_or(&url);
    Some(format!("{base}/{name}"))
}

async fn start_pg(url: &str) -> RunningDirectory {
    let store = PostgresStore::connect(url).await.expect("connect store");
    Directory::new(Arc::new(store))
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("start directory")
}

#[tokio::test]
async fn the_directory_api_over_postgres() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let dir = start_pg(&url).await;
    let client = DirectoryClient::new(dir.base_url()).unwrap();
    client
        .register(&weather("urn:example:weather"), None)
        .await
        .unwrap();
    client
        .register(&geocoder("urn:example:geo"), None)
        .await
        .unwrap();
    client
        .register(&travel("urn:example:travel"), None)
        .await
        .unwrap();
    client
        .register(&weather("urn:example:weather"), None)
        .await
        .unwrap();

    let ids = |list: Vec<serde_json::Value>| -> Vec<String> {
        list.iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(client.list().await.unwrap().len(), 3);
    assert_eq!(
        ids(client.find_type("agent").await.unwrap()),
        ["urn:example:travel", "urn:example:weather"]
    );
    assert_eq!(
        ids(client.find_vendor("maps inc").await.unwrap()),
        ["urn:example:geo"]
    );
    let found = ids(client
        .find_text("find an agent that can tell the weather")
        .await
        .unwrap());
    assert_eq!(found[0], "urn:example:weather");
    assert!(!found.contains(&"urn:example:geo".to_owned()));
    let found = client
        .search(&SearchQuery {
            types: vec!["lmos:Tool".into()],
            text: Some("coordinate".into()),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(found), ["urn:example:geo"]);
    // Pages: by id for a type query, by rank (then id) for a text query; only the page's TDs
    // are read.
    let page = |types: Vec<String>, text: Option<&str>, offset, limit| SearchQuery {
        types,
        text: text.map(str::to_owned),
        offset,
        limit,
        ..SearchQuery::default()
    };
    let agents = |offset, limit| page(vec!["lmos:Agent".into()], None, offset, limit);
    assert_eq!(
        ids(client.search(&agents(0, 1)).await.unwrap()),
        ["urn:example:travel"]
    );
    assert_eq!(
        ids(client.search(&agents(1, 1)).await.unwrap()),
        ["urn:example:weather"]
    );
    assert!(client.search(&agents(2, 1)).await.unwrap().is_empty());
    let ranked = ids(client
        .search(&page(vec![], Some("weather agent"), 0, 10))
        .await
        .unwrap());
    assert_eq!(ranked[0], "urn:example:weather", "{ranked:?}");
    let second = ids(client
        .search(&page(vec![], Some("weather agent"), 1, 1))
        .await
        .unwrap());
    assert_eq!(
        second,
        ranked[1..2],
        "the second page of one is the second match"
    );
    let titles = client
        .search_jsonpath("$[?@.title=='Geocoder'].id")
        .await
        .unwrap();
    assert_eq!(titles, vec![json!("urn:example:geo")]);

    // Validation happens before the store: nothing is written.
    let mut bad = weather("urn:example:bad");
    bad["security"] = json!("x_sc");
    assert!(matches!(
        client.update(&bad, None).await,
        Err(DirectoryError::Invalid(_))
    ));
    assert!(matches!(
        client.get("urn:example:bad").await,
        Err(DirectoryError::NotFound { .. })
    ));

    // Expiry.
    client
        .register(
            &td(
                "tool",
                "urn:example:brief",
                "Brief",
                "Short-lived",
                "X",
                ("a", "b"),
            ),
            Some(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert!(client.get("urn:example:brief").await.is_ok());
    eventually("the entry expires", || {
        let client = client.clone();
        async move { client.get("urn:example:brief").await.is_err() }
    })
    .await;

    client
        .patch("urn:example:geo", &json!({"title": "Geo"}))
        .await
        .unwrap();
    assert_eq!(client.get("urn:example:geo").await.unwrap()["title"], "Geo");
    client.delete("urn:example:geo").await.unwrap();
    assert!(matches!(
        client.delete("urn:example:geo").await,
        Err(DirectoryError::NotFound { .. })
    ));
    dir.shutdown().await;
}

#[tokio::test]
async fn two_instances_share_one_database_and_its_events() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let a = start_pg(&url).await;
    let b = start_pg(&url).await;
    let client_a = DirectoryClient::new(a.base_url()).unwrap();
    let client_b = DirectoryClient::new(b.base_url()).unwrap();
    let options = WatchOptions {
        last_event_id: Some("0".into()),
        diff: true,
        ..WatchOptions::default()
    };
    let mut events_a = client_a.watch(options.clone());
    let mut events_b = client_b.watch(options);

    client_a
        .register(&weather("urn:example:weather"), None)
        .await
        .unwrap();
    client_b
        .register(&geocoder("urn:example:geo"), None)
        .await
        .unwrap();
    // Each instance reads what the other wrote.
    assert_eq!(
        client_b.get("urn:example:weather").await.unwrap()["title"],
        "Weather"
    );
    assert_eq!(
        client_a.get("urn:example:geo").await.unwrap()["title"],
        "Geocoder"
    );
    client_b.delete("urn:example:weather").await.unwrap();

    for events in [&mut events_a, &mut events_b] {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let event = tokio::time::timeout(Duration::from_secs(30), events.next())
                .await
                .expect("an event arrives")
                .unwrap()
                .unwrap();
            seen.push((event.kind, event.thing_id));
        }
        assert_eq!(
            seen,
            [
                (ChangeKind::Created, "urn:example:weather".to_owned()),
                (ChangeKind::Created, "urn:example:geo".to_owned()),
                (ChangeKind::Deleted, "urn:example:weather".to_owned()),
            ]
        );
    }

    // A subscriber of B sees a later write made through A live (not only on replay).
    client_a
        .patch("urn:example:geo", &json!({"description": "Now with maps"}))
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(30), events_b.next())
        .await
        .expect("the update arrives at B")
        .unwrap()
        .unwrap();
    assert_eq!(event.kind, ChangeKind::Updated);
    assert_eq!(
        event.data,
        json!({"id": "urn:example:geo", "description": "Now with maps"})
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_bad_postgres_url_is_a_clear_error() {
    match PostgresStore::connect("postgres://nobody@127.0.0.1:1/none").await {
        Err(DirectoryError::Store(message)) => assert!(message.contains("PostgreSQL"), "{message}"),
        other => panic!("expected a store error, got {other:?}"),
    }
    assert!(matches!(
        PostgresStore::connect("not a url").await,
        Err(DirectoryError::Config(_))
    ));
}
