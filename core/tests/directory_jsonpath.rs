//! JSONPath over a directory that keeps no snapshot (`jsonpath_snapshot_limit: 0`), so that a
//! query of the shape `$[?@.member == 'text' ...]` goes through the store's text prefilter
//! (`DirectoryStore::all_containing`) and every other query reads every TD. Each answer is
//! compared with the same query evaluated here over every TD the directory lists; SQLite always,
//! PostgreSQL when `LMOS_TEST_POSTGRES_URL` is set (scripts/with-postgres).

mod directory_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use directory_common::*;
use lmos::discovery::{
    Directory, DirectoryClient, DirectorySettings, DirectoryStore, PostgresStore, SqliteStore,
};
use serde_json::{json, Value};

const QUERIES: &[&str] = &[
    "$[?@.title=='Weather'].id",
    "$[?@.title == \"Geocoder\"]",
    "$[?@['@type']=='lmos:Agent'].id",
    "$[?@['@type']=='lmos:Agent' && @['lmos:metadata']['lmos:vendor']['lmos:name']=='ACME'].id",
    "$[?'Maps Inc' == @['lmos:metadata']['lmos:vendor']['lmos:name']].title",
    // Only in a description: the prefilter lets it through, the query does not select it.
    "$[?@.title=='Sunny'].id",
    "$[?@.title=='Wetter \"für\" Köln'].id",
    "$[?@.title=='Nobody'].id",
    "$[?@.actions.getForecast.description=='The forecast'].id",
    // No needle: these read every TD.
    "$[*].id",
    "$[?@.title=='Weather' || @.title=='Geocoder'].id",
    "$[?@.registration.ttl==600].id",
    "$[?@.title==$[0].title].id",
    "$..['lmos:name']",
];

fn quoted(td: &mut Value) -> &mut Value {
    td["title"] = json!("Wetter \"für\" Köln");
    td
}

async fn check(store: Arc<dyn DirectoryStore>) {
    let directory = Directory::with_settings(
        store,
        DirectorySettings {
            jsonpath_snapshot_limit: 0,
            ..DirectorySettings::default()
        },
    )
    .start(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .unwrap();
    let client = DirectoryClient::new(directory.base_url()).unwrap();
    client
        .register(&weather("urn:example:weather"), None)
        .await
        .unwrap();
    client
        .register(&geocoder("urn:example:geo"), Some(Duration::from_secs(600)))
        .await
        .unwrap();
    client
        .register(&travel("urn:example:travel"), None)
        .await
        .unwrap();
    let mut sunny = td(
        "agent",
        "urn:example:sunny",
        "Sunshine",
        "Sunny",
        "ACME",
        ("getForecast", "The forecast"),
    );
    client.register(&sunny, None).await.unwrap();
    sunny["id"] = json!("urn:example:koeln");
    client.register(quoted(&mut sunny), None).await.unwrap();

    // What every query selects, evaluated here over every TD (without `retrieved`).
    let mut all = client.list().await.unwrap();
    for td in &mut all {
        td["registration"]
            .as_object_mut()
            .unwrap()
            .remove("retrieved");
    }
    let all = Value::Array(all);
    for query in QUERIES {
        let expected: Vec<&Value> = serde_json_path::JsonPath::parse(query)
            .unwrap()
            .query(&all)
            .all();
        let found = client.search_jsonpath(query).await.unwrap();
        let expected: Vec<Value> = expected.into_iter().cloned().collect();
        assert_eq!(found, expected, "{query}");
    }
    // The queries did select something where they should.
    assert_eq!(
        client
            .search_jsonpath("$[?@.title=='Wetter \"für\" Köln'].id")
            .await
            .unwrap(),
        [json!("urn:example:koeln")]
    );
    assert_eq!(
        client
            .search_jsonpath("$[?@.title=='Sunny'].id")
            .await
            .unwrap(),
        Vec::<Value>::new()
    );
    // After a change the prefiltered answer follows it.
    client.delete("urn:example:weather").await.unwrap();
    assert_eq!(
        client
            .search_jsonpath("$[?@.title=='Weather'].id")
            .await
            .unwrap(),
        Vec::<Value>::new()
    );
    directory.shutdown().await;
}

#[tokio::test]
async fn prefiltered_jsonpath_answers_as_the_full_evaluation_on_sqlite() {
    let db = temp_db();
    check(Arc::new(SqliteStore::open(&db).await.unwrap())).await;
}

#[tokio::test]
async fn prefiltered_jsonpath_answers_as_the_full_evaluation_on_postgres() {
    let Ok(url) = std::env::var("LMOS_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("LMOS_TEST_POSTGRES_URL is not set: run through scripts/with-postgres");
        }
        eprintln!("SKIPPED: LMOS_TEST_POSTGRES_URL is not set (scripts/with-postgres)");
        return;
    };
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let name = format!("lmos_{}", uuid::Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = url.rsplit_once('/').map(|(base, _)| base).unwrap_or(&url);
    let store = PostgresStore::connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    check(Arc::new(store)).await;
}
