//! DID-based introduction against real servers: a `did:web` document served over loopback HTTP
//! by a real servient points (`WotThing`) at that servient's TD and (`WotDirectory`) at a real
//! directory in which another servient registered its agent.

mod directory_common;

use std::time::Duration;

use directory_common::*;
use lmos::discovery::{
    discover_did, introduce, DidDiscoveryError, DirectoryClient, WOT_DIRECTORY_SERVICE,
};
use lmos::identity::{
    did_key, did_web, DidDocument, DidResolver, Ed25519KeyPair, ResolverOptions, Service,
};
use lmos::td::{DataSchema, PropertyAffordance, ThingBuilder};
use lmos::thing::handler::read_with;
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient};
use serde_json::{json, Map, Value};

fn loopback_resolver() -> DidResolver {
    DidResolver::new(ResolverOptions {
        allow_http_loopback: true,
        ..ResolverOptions::default()
    })
}

fn service(id: &str, kind: &str, endpoint: Value) -> Service {
    Service {
        id: id.to_owned(),
        kind: Value::String(kind.to_owned()),
        service_endpoint: endpoint,
        extra: Map::new(),
    }
}

/// A started servient on 127.0.0.1:0 hosting one agent; its did:web DID and the agent's TD URL.
async fn agent_servient(title: &str, id: &str) -> (Servient, String, String) {
    let servient = Servient::builder().http_port(0).build().unwrap();
    let exposed = servient
        .expose(
            ThingBuilder::agent(title)
                .id(id)
                .description("Answers questions about the weather")
                .property(
                    "status",
                    PropertyAffordance::new(DataSchema::of_type("string")).read_only(),
                )
                .build(),
        )
        .unwrap();
    exposed
        .on_property_read("status", read_with(|_| async { Ok(json!("ok")) }))
        .unwrap();
    let addresses = servient.start().await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", addresses.http.unwrap())).unwrap();
    let did = did_web::did_for_url(&base).unwrap();
    let td_url = exposed.td_url().unwrap();
    (servient, did, td_url)
}

#[tokio::test]
async fn a_did_web_document_leads_to_its_thing_and_the_things_of_its_directory() {
    let db = temp_db();
    let directory = start(&db, 0).await;
    let client = DirectoryClient::new(directory.base_url()).unwrap();

    // Another organisation's agent registered itself in the directory.
    let (other, _, _) = agent_servient("Forecaster", "urn:example:forecaster").await;
    let registration = other.things()[0]
        .register(&client, Duration::from_secs(60))
        .await
        .unwrap();

    // The agent whose DID we are given: its did.json names its own TD and the directory.
    let (servient, did, td_url) = agent_servient("Weather", "urn:example:weather").await;
    let key = Ed25519KeyPair::generate().unwrap();
    let mut document = DidDocument::for_agent(&did, &key.public_key(), Some(&td_url));
    let directory_td_url = format!("{}.well-known/wot", directory.base_url());
    document.service.push(service(
        "#directory",
        WOT_DIRECTORY_SERVICE,
        Value::String(directory_td_url.clone()),
    ));
    servient.serve_did_document(document);

    let resolver = loopback_resolver();
    let introduction = introduce(&resolver, &did).await.unwrap();
    assert_eq!(introduction.document.id, did);
    assert_eq!(introduction.things.len(), 1);
    assert_eq!(introduction.things[0].td["id"], "urn:example:weather");
    assert_eq!(introduction.things[0].url, td_url);
    assert_eq!(introduction.things[0].service, format!("{did}#td"));
    assert_eq!(introduction.directories.len(), 1);
    let introduced = &introduction.directories[0];
    assert_eq!(introduced.service, format!("{did}#directory"));
    assert_eq!(introduced.url, directory_td_url);
    assert_eq!(introduced.td["@type"], "ThingDirectory");
    assert_eq!(
        introduced.client.base_url().as_str(),
        directory.base_url().trim_end_matches('/').to_owned() + "/"
    );

    let found = discover_did(&resolver, &did).await.unwrap();
    let ids: Vec<&str> = found.iter().map(|t| t.td["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["urn:example:weather", "urn:example:forecaster"]);
    assert_eq!(found[0].directory, None);
    let listed = &found[1];
    assert_eq!(
        listed.directory.as_deref(),
        Some(introduced.client.base_url().as_str())
    );
    assert_eq!(
        listed.url,
        format!(
            "{}things/urn%3Aexample%3Aforecaster",
            introduced.client.base_url()
        )
    );
    assert_eq!(listed.td["registration"]["ttl"], 60);

    // What the DID led to is enough to talk to both agents.
    for thing in &found {
        let td = lmos::td::Thing::from_value(thing.td.clone()).unwrap();
        let consumed = ConsumedThing::new(td, ConsumeOptions::default()).unwrap();
        assert_eq!(consumed.read_property("status").await.unwrap(), "ok");
    }

    // The servient's thing registers in the same directory: it is reported once.
    servient.things()[0]
        .register(&client, Duration::from_secs(60))
        .await
        .unwrap();
    let again = discover_did(&resolver, &did).await.unwrap();
    let ids: Vec<&str> = again.iter().map(|t| t.td["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["urn:example:weather", "urn:example:forecaster"]);
    assert_eq!(again[0].directory, None);

    registration.deregister().await.unwrap();
    servient.shutdown().await;
    other.shutdown().await;
    directory.shutdown().await;
}

#[tokio::test]
async fn a_did_key_document_with_services_introduces_its_thing() {
    let (servient, _, td_url) = agent_servient("Keyed", "urn:example:keyed").await;
    let key = Ed25519KeyPair::generate().unwrap();
    let did = did_key::did_for(&key.public_key());

    // A did:key document has no services by itself: a clear error, not an empty answer.
    let bare = discover_did(&loopback_resolver(), &did).await.unwrap_err();
    assert!(
        matches!(bare, DidDiscoveryError::NoServices { .. }),
        "{bare:?}"
    );
    assert_eq!(bare.code(), "discovery_did_no_service");

    // Known out of band with a WotThing service (a pinned document).
    let mut document = did_key::resolve(&did).unwrap();
    document = document.with_thing_service(&td_url);
    let resolver = loopback_resolver().pin(document);
    let found = discover_did(&resolver, &did).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].td["id"], "urn:example:keyed");
    assert_eq!(found[0].url, td_url);
    servient.shutdown().await;
}

#[tokio::test]
async fn bad_dids_and_bad_services_get_clear_errors() {
    let (servient, did, td_url) = agent_servient("Plain", "urn:example:plain").await;
    let key = Ed25519KeyPair::generate().unwrap();
    // The document changes between cases: no cache.
    let resolver = DidResolver::new(ResolverOptions {
        allow_http_loopback: true,
        cache_ttl: Duration::ZERO,
        ..ResolverOptions::default()
    });

    // Not a DID.
    let error = discover_did(&resolver, "weather-agent").await.unwrap_err();
    assert!(
        matches!(error, DidDiscoveryError::Resolution(_)),
        "{error:?}"
    );
    assert!(error.code().starts_with("identity_"), "{}", error.code());

    // did:web over plain http needs the loopback option.
    let strict = DidResolver::new(ResolverOptions::default());
    servient.serve_did_document(DidDocument::for_agent(
        &did,
        &key.public_key(),
        Some(&td_url),
    ));
    let error = discover_did(&strict, &did).await.unwrap_err();
    assert!(
        matches!(error, DidDiscoveryError::Resolution(_)),
        "{error:?}"
    );

    // A did:web whose host does not answer.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = discover_did(&resolver, &format!("did:web:127.0.0.1%3A{closed}"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_resolution_failed", "{error}");

    let with_services = |services: Vec<Service>| {
        let mut document = DidDocument::for_agent(&did, &key.public_key(), None);
        document.service = services;
        document
    };
    let closed_address = format!("127.0.0.1:{closed}");
    let cases: Vec<(Vec<Service>, &str, &str)> = vec![
        (vec![], "discovery_did_no_service", "no WotThing"),
        (
            vec![service("#td", "WotThing", json!("ftp://127.0.0.1/td"))],
            "discovery_did_endpoint",
            "not an http or https URL",
        ),
        (
            vec![service("#td", "WotThing", json!({"origins": ["x"]}))],
            "discovery_did_endpoint",
            "not a URL",
        ),
        (
            vec![service(
                "#td",
                "WotThing",
                json!(format!("http://127.0.0.1:{closed}/td")),
            )],
            "discovery_did_fetch",
            &closed_address,
        ),
        (
            vec![service(
                "#td",
                "WotThing",
                json!(format!("{td_url}-missing")),
            )],
            "discovery_did_fetch",
            "answered 404",
        ),
        (
            // A thing is not a directory.
            vec![service("#dir", WOT_DIRECTORY_SERVICE, json!(td_url))],
            "discovery_did_not_directory",
            "not a Thing Description Directory",
        ),
        (
            // The DID document itself is JSON but not a TD collection: fine as an object,
            // but it is not a directory either.
            vec![service(
                "#dir",
                WOT_DIRECTORY_SERVICE,
                json!(format!(
                    "{}.well-known/did.json",
                    servient.base_url().unwrap()
                )),
            )],
            "discovery_did_not_directory",
            "not a Thing Description Directory",
        ),
    ];
    for (services, code, text) in cases {
        servient.serve_did_document(with_services(services.clone()));
        let error = discover_did(&resolver, &did).await.unwrap_err();
        assert_eq!(error.code(), code, "{services:?}: {error}");
        assert!(error.to_string().contains(text), "{error}");
        if let Some(first) = services.first() {
            assert!(
                error.to_string().contains(&format!("{did}{}", first.id)),
                "the error names the service: {error}"
            );
        }
    }

    // One good and one failing service: the failure is reported, not hidden.
    servient.serve_did_document(with_services(vec![
        service("#td", "WotThing", json!(td_url)),
        service(
            "#dir",
            WOT_DIRECTORY_SERVICE,
            json!(format!("http://127.0.0.1:{closed}/")),
        ),
    ]));
    let error = discover_did(&resolver, &did).await.unwrap_err();
    assert_eq!(error.code(), "discovery_did_fetch", "{error}");
    servient.shutdown().await;
}
