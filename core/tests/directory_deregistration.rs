//! A servient's things leave the directory when they stop being served: `Servient::shutdown`
//! deletes every entry `ExposedThing::register` keeps, `Servient::destroy` the entries of the
//! destroyed thing (and only those). Real directory, real sockets.

mod directory_common;

use std::time::Duration;

use directory_common::*;
use lmos::discovery::{DirectoryClient, DirectoryError};
use lmos::td::ThingBuilder;
use lmos::thing::Servient;
use serde_json::Value;

fn ids(list: &[Value]) -> Vec<&str> {
    let mut ids: Vec<&str> = list.iter().map(|t| t["id"].as_str().unwrap()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn destroy_deregisters_that_thing_and_shutdown_the_rest() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let client = DirectoryClient::new(dir.base_url()).unwrap();
    let servient = Servient::builder().http_port(0).build().unwrap();
    for (title, id) in [
        ("Weather", "urn:example:weather"),
        ("News", "urn:example:news"),
        ("Geocoder", "urn:example:geo"),
    ] {
        servient
            .expose(ThingBuilder::agent(title).id(id).build())
            .unwrap();
    }
    servient.start().await.unwrap();
    let mut registrations = Vec::new();
    for thing in servient.things() {
        registrations.push(
            thing
                .register(&client, Duration::from_secs(60))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        ids(&client.list().await.unwrap()),
        ["urn:example:geo", "urn:example:news", "urn:example:weather"]
    );

    assert!(servient.destroy("weather"));
    eventually("the destroyed thing's entry is deleted", || {
        let client = client.clone();
        async move {
            matches!(
                client.get("urn:example:weather").await,
                Err(DirectoryError::NotFound { .. })
            )
        }
    })
    .await;
    assert!(!registrations[0].is_active());
    assert!(registrations[1].is_active());
    assert_eq!(
        ids(&client.list().await.unwrap()),
        ["urn:example:geo", "urn:example:news"]
    );
    // Destroying what is not there changes nothing.
    assert!(!servient.destroy("weather"));
    assert_eq!(client.list().await.unwrap().len(), 2);

    servient.shutdown().await;
    assert!(client.list().await.unwrap().is_empty());
    assert!(registrations.iter().all(|r| !r.is_active()));
    dir.shutdown().await;
}

#[test]
fn destroy_outside_a_runtime_deregisters_on_the_registration_runtime() {
    // A binding calls destroy from its own thread, outside any tokio runtime; the registration
    // was made on the runtime that keeps running.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let db = temp_db();
    let (dir, client, servient, registration) = runtime.block_on(async {
        let dir = start(&db, 0).await;
        let client = DirectoryClient::new(dir.base_url()).unwrap();
        let servient = Servient::builder().http_port(0).build().unwrap();
        let thing = servient
            .expose(ThingBuilder::tool("Dice").id("urn:example:dice").build())
            .unwrap();
        servient.start().await.unwrap();
        let registration = thing
            .register(&client, Duration::from_secs(60))
            .await
            .unwrap();
        (dir, client, servient, registration)
    });
    assert!(servient.destroy("dice"));
    runtime.block_on(async {
        eventually("the entry is deleted", || {
            let client = client.clone();
            async move {
                matches!(
                    client.get("urn:example:dice").await,
                    Err(DirectoryError::NotFound { .. })
                )
            }
        })
        .await;
        assert!(!registration.is_active());
        servient.shutdown().await;
        dir.shutdown().await;
    });
}
