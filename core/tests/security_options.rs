//! Security configured as data, the way the language bindings configure it: a servient built from
//! `ServientOptions` JSON (`security`, `tls`) and consumers built from `ConsumeOptions` JSON
//! (`credentials`, `extraCaPem`), over HTTP and WebSocket.

use lmos::td::{
    DataSchema, OneOrMany, PropertyAffordance, SchemeKind, SecurityScheme, ThingBuilder,
};
use lmos::thing::{ConsumeOptions, ConsumedThing, ServientOptions, ThingError};
use serde_json::{json, Value};

const SECRET: &str = "a shared HS256 secret for the options test";

fn hs256(secret: &str, exp: u64) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "agent-7", "aud": "weather", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn protected(scheme: SchemeKind, name: &str) -> lmos::td::Thing {
    let mut thing = ThingBuilder::tool("Thermometer")
        .id("urn:lmos:test:options-thermometer")
        .property(
            "temperature",
            PropertyAffordance::new(DataSchema::of_type("number")),
        )
        .build();
    thing.security_definitions.clear();
    thing
        .security_definitions
        .insert(name.into(), SecurityScheme::new(scheme));
    thing.security = OneOrMany::One(name.into());
    thing
}

async fn serve(options: Value, thing: lmos::td::Thing) -> (lmos::thing::Servient, String) {
    let options: ServientOptions = serde_json::from_value(options).unwrap();
    let servient = options.builder().unwrap().build().unwrap();
    let exposed = servient.expose(thing).unwrap();
    exposed.set_property("temperature", json!(21.5)).unwrap();
    let address = servient.start().await.unwrap().http.unwrap();
    (servient, address.to_string())
}

async fn read(url: &str, settings: Value) -> Result<Value, ThingError> {
    let options = ConsumeOptions::from_json(&settings)?;
    let consumed = ConsumedThing::from_url(url, options).await?;
    consumed.read_property("temperature").await
}

fn status(result: Result<Value, ThingError>) -> u16 {
    match result {
        Err(ThingError::Remote { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn bearer_verifier_and_credentials_from_json() {
    let (servient, address) = serve(
        json!({"httpPort": 0, "security": {"bearer": {"hmacSecret": SECRET, "audience": "weather"}}}),
        protected(SchemeKind::Bearer, "bearer_sc"),
    )
    .await;
    let url = format!("http://{address}/thermometer");
    let origin = format!("http://{address}");
    let good = hs256(SECRET, 4_000_000_000);
    let forged = hs256("some other secret nobody configured", 4_000_000_000);
    let expired = hs256(SECRET, 1_000_000_000);
    for protocol in ["http", "ws"] {
        let with = |token: &str, key: &str| {
            json!({"protocols": [protocol], "onlyProtocols": true,
                   "credentials": {key: {"bearer": token}}})
        };
        // Keyed by thing id and by origin.
        assert_eq!(
            read(&url, with(&good, "urn:lmos:test:options-thermometer"))
                .await
                .unwrap(),
            json!(21.5),
            "{protocol}"
        );
        assert_eq!(read(&url, with(&good, &origin)).await.unwrap(), json!(21.5));
        assert_eq!(
            status(read(&url, with(&forged, &origin)).await),
            401,
            "{protocol}"
        );
        assert_eq!(
            status(read(&url, with(&expired, &origin)).await),
            401,
            "{protocol}"
        );
        let none = json!({"protocols": [protocol], "onlyProtocols": true});
        assert_eq!(status(read(&url, none).await), 401, "{protocol}");
    }
    servient.shutdown().await;
}

#[tokio::test]
async fn basic_and_apikey_from_json() {
    let (servient, address) = serve(
        json!({"httpPort": 0, "security": {"basic": {"alice": "pw-of-alice"}}}),
        protected(SchemeKind::Basic, "basic_sc"),
    )
    .await;
    let url = format!("http://{address}/thermometer");
    let origin = format!("http://{address}");
    let right = json!({"credentials": {&origin: {"basic": {"username": "alice", "password": "pw-of-alice"}}}});
    let wrong =
        json!({"credentials": {&origin: {"basic": {"username": "alice", "password": "nope"}}}});
    assert_eq!(read(&url, right).await.unwrap(), json!(21.5));
    assert_eq!(status(read(&url, wrong).await), 401);
    servient.shutdown().await;

    let (servient, address) = serve(
        json!({"httpPort": 0, "security": {"apiKeys": ["key-one", "key-two"]}}),
        protected(SchemeKind::ApiKey, "apikey_sc"),
    )
    .await;
    let url = format!("http://{address}/thermometer");
    let origin = format!("http://{address}");
    for protocol in ["http", "ws"] {
        let with = |key: &str| {
            json!({"protocols": [protocol], "onlyProtocols": true,
                   "credentials": {&origin: {"apiKey": key}}})
        };
        assert_eq!(read(&url, with("key-two")).await.unwrap(), json!(21.5));
        assert_eq!(
            status(read(&url, with("key-three")).await),
            401,
            "{protocol}"
        );
    }
    servient.shutdown().await;
}

#[tokio::test]
async fn a_protected_thing_without_its_verifier_is_refused_and_bad_options_are_named() {
    let options: ServientOptions = serde_json::from_value(json!({"httpPort": 0})).unwrap();
    let servient = options.builder().unwrap().build().unwrap();
    let refused = servient.expose(protected(SchemeKind::Bearer, "bearer_sc"));
    assert!(
        matches!(refused, Err(ThingError::InvalidConfig(_))),
        "{refused:?}"
    );

    // A malformed verifier member is an InvalidConfig naming it, not quoting the secret.
    let options: ServientOptions = serde_json::from_value(
        json!({"security": {"bearer": {"hmacSecret": "leaky-secret", "jwksUrl": "https://x.example/j"}}}),
    )
    .unwrap();
    let error = options.builder().unwrap_err().to_string();
    assert!(error.contains("exactly one"), "{error}");
    assert!(!error.contains("leaky-secret"), "{error}");

    let error = serde_json::from_value::<ServientOptions>(json!({"security": {"bearr": {}}}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("bearr"), "{error}");
}
