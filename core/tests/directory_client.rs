//! DirectoryClient and ExposedThing::register against a real directory on a real socket.

mod directory_common;

use std::time::Duration;

use directory_common::*;
use futures::StreamExt;
use lmos::discovery::{
    ChangeKind, DirectoryClient, DirectoryError, DirectoryStore, DiscoveryError, Entry,
    SearchQuery, SqliteStore, WatchOptions,
};
use lmos::td::{DataSchema, PropertyAffordance, ThingBuilder};
use lmos::thing::Servient;
use serde_json::{json, Value};

fn ids(list: &[Value]) -> Vec<&str> {
    list.iter().map(|t| t["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn register_read_search_delete() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let client = DirectoryClient::new(dir.base_url()).unwrap();
    let description = client.describe().await.unwrap();
    assert_eq!(description["@type"], "ThingDirectory");

    let id = client
        .register(&weather("urn:example:weather"), None)
        .await
        .unwrap();
    assert_eq!(id, "urn:example:weather");
    client
        .register(&geocoder("urn:example:geo"), Some(Duration::from_secs(600)))
        .await
        .unwrap();
    let mut anonymous = travel("x");
    anonymous.as_object_mut().unwrap().remove("id");
    let travel_id = client.register(&anonymous, None).await.unwrap();
    assert!(travel_id.starts_with("urn:uuid:"), "{travel_id}");
    assert_eq!(
        client.get(&travel_id).await.unwrap()["title"],
        "Travel Planner"
    );
    assert_eq!(
        client.get("urn:example:geo").await.unwrap()["registration"]["ttl"],
        600
    );

    let all = client.list().await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        ids(&client.find_type("tool").await.unwrap()),
        ["urn:example:geo"]
    );
    assert_eq!(client.find_vendor("acme").await.unwrap().len(), 2);
    let found = client
        .find_text("an agent that can tell the weather")
        .await
        .unwrap();
    assert_eq!(found[0]["id"], "urn:example:weather");
    let found = client
        .search(&SearchQuery {
            types: vec!["agent".into()],
            text: Some("trip".into()),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&found), [travel_id.as_str()]);
    let titles = client.search_jsonpath("$[*].title").await.unwrap();
    assert_eq!(titles.len(), 3);
    match client.search_jsonpath("$$").await {
        Err(DirectoryError::Status { status: 400, .. }) => {}
        other => panic!("expected a 400, got {other:?}"),
    }

    client
        .patch("urn:example:weather", &json!({"title": "Weather Pro"}))
        .await
        .unwrap();
    assert_eq!(
        client.get("urn:example:weather").await.unwrap()["title"],
        "Weather Pro"
    );
    let mut invalid = weather("urn:example:weather");
    invalid["security"] = json!("nothing_sc");
    match client.update(&invalid, None).await {
        Err(DirectoryError::Invalid(detail)) => assert!(detail.contains("nothing_sc"), "{detail}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    client.delete("urn:example:weather").await.unwrap();
    match client.get("urn:example:weather").await {
        Err(DirectoryError::NotFound { id }) => assert_eq!(id, "urn:example:weather"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        client.delete("urn:example:weather").await,
        Err(DirectoryError::NotFound { .. })
    ));
    dir.shutdown().await;
}

#[tokio::test]
async fn list_follows_every_page() {
    let db = temp_db();
    let settings = lmos::discovery::DirectorySettings {
        default_page: 3,
        ..Default::default()
    };
    let dir = start_with(&db, 0, settings).await;
    let client = DirectoryClient::new(dir.base_url()).unwrap();
    for i in 0..8 {
        client
            .register(&geocoder(&format!("urn:example:g{i}")), None)
            .await
            .unwrap();
    }
    let all = client.list().await.unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(all[7]["id"], "urn:example:g7");
    dir.shutdown().await;
}

#[tokio::test]
async fn watch_resumes_after_the_directory_restarts() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let port = dir.address().port();
    let client = DirectoryClient::new(dir.base_url()).unwrap();
    let mut events = client.watch(WatchOptions {
        diff: true,
        // From the start of the history: the stream connects when first polled, after the write.
        last_event_id: Some("0".into()),
        retry: Duration::from_millis(100),
        ..WatchOptions::default()
    });
    client
        .register(&weather("urn:example:one"), None)
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.kind, ChangeKind::Created);
    assert_eq!(first.thing_id, "urn:example:one");
    assert_eq!(first.data["title"], "Weather");
    dir.shutdown().await;

    // While the directory is down, another writer changes the store.
    let store = SqliteStore::open(&db).await.unwrap();
    let mut td = geocoder("urn:example:two");
    td.as_object_mut().unwrap().remove("registration");
    store
        .put(Entry {
            id: "urn:example:two".into(),
            td,
            ttl: None,
            now: lmos::binding::ws::messages::Timestamp::now(),
        })
        .await
        .unwrap();
    drop(store);

    let dir = start(&db, port).await;
    let second = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        second.thing_id, "urn:example:two",
        "the missed event is replayed"
    );
    assert_eq!(second.kind, ChangeKind::Created);
    client.delete("urn:example:one").await.unwrap();
    let third = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (third.kind, third.thing_id.as_str()),
        (ChangeKind::Deleted, "urn:example:one")
    );
    let ids: Vec<u64> = [&first, &second, &third]
        .iter()
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    dir.shutdown().await;
}

#[tokio::test]
async fn an_exposed_thing_stays_registered_until_shutdown() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let port = dir.address().port();
    let client = DirectoryClient::new(dir.base_url()).unwrap();

    let servient = Servient::builder().http_port(0).build().unwrap();
    let exposed = servient
        .expose(
            ThingBuilder::agent("Echo")
                .id("urn:example:echo")
                .description("Says back what it hears")
                .property(
                    "last",
                    PropertyAffordance::new(DataSchema::of_type("string")).read_only(),
                )
                .build(),
        )
        .unwrap();
    match exposed.register(&client, Duration::from_secs(2)).await {
        Err(DiscoveryError::NotRegistrable(_)) => {}
        other => panic!("registering before start must fail, got {other:?}"),
    }
    servient.start().await.unwrap();
    let registration = exposed
        .register(&client, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(registration.id(), "urn:example:echo");
    let stored = client.get("urn:example:echo").await.unwrap();
    assert_eq!(stored["registration"]["ttl"], 2);
    // The stored TD is the served one: absolute form URLs on the servient's port.
    let base = servient.base_url().unwrap();
    let href = stored["properties"]["last"]["forms"][0]["href"]
        .as_str()
        .unwrap();
    assert!(href.starts_with(&base), "{href} is not under {base}");

    // Refreshed before it expires.
    let created = stored["registration"]["created"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("the entry is refreshed", || {
        let client = client.clone();
        let created = created.clone();
        async move {
            client
                .get("urn:example:echo")
                .await
                .map(|td| td["registration"]["modified"].as_str() != Some(created.as_str()))
                .unwrap_or(false)
        }
    })
    .await;

    // The directory restarts on an empty store: the thing registers again.
    dir.shutdown().await;
    let fresh = temp_db();
    let dir = start(&fresh, port).await;
    eventually("the entry is registered again", || {
        let client = client.clone();
        async move { client.get("urn:example:echo").await.is_ok() }
    })
    .await;

    servient.shutdown().await;
    assert!(!registration.is_active());
    assert!(matches!(
        client.get("urn:example:echo").await,
        Err(DirectoryError::NotFound { .. })
    ));
    dir.shutdown().await;
}
