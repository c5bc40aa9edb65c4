//! `lmos discover --did`, run as a process: a did:web document served over loopback HTTP by a
//! real servient points at that servient's TD and at a real directory.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::lmos;
use lmos::discovery::{Directory, DirectoryClient, SqliteStore, WOT_DIRECTORY_SERVICE};
use lmos::identity::{DidDocument, Ed25519KeyPair, Service};
use lmos::td::ThingBuilder;
use lmos::thing::Servient;
use serde_json::{json, Map, Value};

fn tool_td(id: &str, title: &str, description: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/2022/wot/td/v1.1", {"lmos": "https://eclipse.dev/lmos/protocol/v1"}],
        "@type": "lmos:Tool",
        "id": id,
        "title": title,
        "description": description,
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc"
    })
}

#[tokio::test]
async fn discover_did_lists_the_did_thing_and_searches_its_directory() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = std::env::temp_dir().join(format!("lmos-cli-did-{}.db", uuid::Uuid::new_v4()));
    let directory = Directory::new(Arc::new(SqliteStore::open(&db).await.unwrap()))
        .start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let client = DirectoryClient::new(directory.base_url()).unwrap();
    client
        .register(
            &tool_td(
                "urn:example:geo",
                "Geocoder",
                "Turns addresses into coordinates",
            ),
            None,
        )
        .await
        .unwrap();
    client
        .register(
            &tool_td(
                "urn:example:fx",
                "Currency",
                "Converts amounts between currencies",
            ),
            None,
        )
        .await
        .unwrap();

    let servient = Servient::builder().http_port(0).build().unwrap();
    let exposed = servient
        .expose(
            ThingBuilder::agent("Weather")
                .id("urn:example:weather")
                .description("Tells the weather")
                .build(),
        )
        .unwrap();
    let addresses = servient.start().await.unwrap();
    // did:web of 127.0.0.1:PORT: its document is at http://127.0.0.1:PORT/.well-known/did.json.
    let did = format!("did:web:127.0.0.1%3A{}", addresses.http.unwrap().port());
    let key = Ed25519KeyPair::generate().unwrap();
    let mut document = DidDocument::for_agent(&did, &key.public_key(), exposed.td_url().as_deref());
    document.service.push(Service {
        id: "#directory".into(),
        kind: Value::String(WOT_DIRECTORY_SERVICE.into()),
        service_endpoint: Value::String(directory.base_url().to_owned()),
        extra: Map::new(),
    });
    servient.serve_did_document(document);

    let run = lmos(&["discover", "--did", &did, "--allow-http-loopback"], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "urn:example:weather\tlmos:Agent\tWeather\tTells the weather",
            "urn:example:fx\tlmos:Tool\tCurrency\tConverts amounts between currencies",
            "urn:example:geo\tlmos:Tool\tGeocoder\tTurns addresses into coordinates",
        ]
    );

    // The criteria apply to the DID's own thing and to the directory search alike.
    let run = lmos(
        &[
            "discover",
            "--did",
            &did,
            "--allow-http-loopback",
            "--query",
            "coordinates of an address",
            "--format",
            "json",
        ],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let found: Value = serde_json::from_str(&run.stdout).unwrap();
    let ids: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["urn:example:geo"]);
    let run = lmos(
        &[
            "discover",
            "--did",
            &did,
            "--allow-http-loopback",
            "--type",
            "agent",
        ],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "urn:example:weather\tlmos:Agent\tWeather\tTells the weather\n"
    );

    // Without the loopback option the http did:web is refused, with a clear message.
    let run = lmos(&["discover", "--did", &did], None).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains(&did), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    // Not a DID: a usage error.
    let run = lmos(&["discover", "--did", "weather"], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("weather"), "{}", run.stderr);

    // The directory is gone: the DID's services cannot all be followed.
    directory.shutdown().await;
    let run = lmos(&["discover", "--did", &did, "--allow-http-loopback"], None).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("#directory"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    servient.shutdown().await;
    let _ = std::fs::remove_file(&db);
}
