//! How a TD's security becomes enforcement: per-form overrides, the WebSocket handshake of a
//! servient whose things are all protected, and things that cannot be exposed safely.

mod security_common;

use lmos::security::{ApiKeys, CredentialStore, Credentials, TokenValidator, Verifier};
use lmos::td::{
    ActionAffordance, DataSchema, Form, OneOrMany, PropertyAffordance, SchemeKind, SecurityScheme,
    ThingBuilder,
};
use lmos::thing::handler::invoke_with;
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient, ThingError};
use security_common::*;
use serde_json::json;

fn bearer_verifier() -> Verifier {
    Verifier::builder()
        .bearer(TokenValidator::hmac(HMAC_SECRET))
        .build()
}

/// An open thing whose `reset` action alone needs a bearer token (a per-form `security`).
async fn serve_mixed() -> (Servient, String, String) {
    let mut admin = Form::new("reset").op(&["invokeaction"]);
    admin.security = Some(OneOrMany::One("bearer_sc".into()));
    let mut thing = ThingBuilder::tool("Counter")
        .id("urn:lmos:test:counter")
        .property(
            "count",
            PropertyAffordance::new(DataSchema::of_type("integer")),
        )
        .action("reset", ActionAffordance::new().form(admin.clone()))
        .action(
            "rebuild",
            ActionAffordance::new().synchronous(false).form(admin),
        )
        .build();
    thing
        .security_definitions
        .insert("bearer_sc".into(), SecurityScheme::new(SchemeKind::Bearer));
    let servient = Servient::builder()
        .http_port(0)
        .verifier(bearer_verifier())
        .build()
        .unwrap();
    let exposed = servient.expose(thing).unwrap();
    exposed.set_property("count", json!(7)).unwrap();
    exposed
        .on_action("reset", invoke_with(|_, _| async { Ok(json!("reset")) }))
        .unwrap();
    exposed
        .on_action(
            "rebuild",
            invoke_with(|_, _| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                Ok(json!("rebuilt"))
            }),
        )
        .unwrap();
    let addresses = servient.start().await.unwrap();
    (
        servient,
        format!("http://{}/counter", addresses.http.unwrap()),
        format!("ws://{}/ws", addresses.ws.unwrap()),
    )
}

#[tokio::test]
async fn a_form_security_overrides_the_things() {
    let (servient, td_url, ws) = serve_mixed().await;
    let token = hs256(HMAC_SECRET, &claims(""));

    // The served TD says so: every generated form of `reset` carries the override.
    let consumed = ConsumedThing::from_url(&td_url, ConsumeOptions::default())
        .await
        .unwrap();
    let forms = &consumed.thing().actions["reset"].forms;
    assert!(forms.len() >= 2);
    assert!(forms
        .iter()
        .all(|f| f.security == Some(OneOrMany::One("bearer_sc".into()))));
    assert!(consumed.thing().properties["count"]
        .forms
        .iter()
        .all(|f| f.security.is_none()));

    // Reading stays open; the action needs the token, over HTTP and WebSocket.
    assert_eq!(consumed.read_property("count").await.unwrap(), json!(7));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (status, challenges, _) = {
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{td_url}/actions/reset"))
            .send()
            .await
            .unwrap();
        let challenges: Vec<String> = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        (response.status().as_u16(), challenges, ())
    };
    assert_eq!(status, 401);
    assert_eq!(challenges, vec!["Bearer realm=\"lmos\"".to_owned()]);
    for protocol in ["http", "ws"] {
        let options = ConsumeOptions {
            protocols: vec![protocol.into()],
            ..ConsumeOptions::default()
        };
        let anonymous = ConsumedThing::from_url(&td_url, options).await.unwrap();
        assert_eq!(anonymous.read_property("count").await.unwrap(), json!(7));
        match anonymous.invoke_action("reset", json!(null)).await {
            Err(ThingError::Remote { status: 401, .. }) => {}
            other => panic!("reset without a token over {protocol}: {other:?}"),
        }
        let store = CredentialStore::new();
        store.insert(
            "urn:lmos:test:counter",
            Credentials::new().bearer(token.clone()),
        );
        let options = ConsumeOptions {
            protocols: vec![protocol.into()],
            credentials: Some(store),
            ..ConsumeOptions::default()
        };
        let admin = ConsumedThing::from_url(&td_url, options).await.unwrap();
        assert_eq!(
            admin.invoke_action("reset", json!(null)).await.unwrap(),
            json!("reset"),
            "over {protocol}"
        );
    }
    // The status resource of an invocation is guarded like the invocation.
    let client = reqwest::Client::new();
    let started = client
        .post(format!("{td_url}/actions/rebuild"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status().as_u16(), 201);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let anonymous = client.get(&location).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let cancel = client.delete(&location).send().await.unwrap();
    assert_eq!(cancel.status().as_u16(), 401);
    let status = client
        .get(&location)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status().as_u16(), 200);
    let cancel = client
        .delete(&location)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status().as_u16(), 204);

    // The WebSocket handshake needs nothing here: the thing has open operations.
    match ws_read(&ws, &Presented::none(), "urn:lmos:test:counter", "count").await {
        WsOutcome::Reply(reply) => assert_eq!(reply["messageType"], "propertyReading"),
        other => panic!("{other:?}"),
    }
    servient.shutdown().await;
}

#[tokio::test]
async fn a_handshake_no_thing_would_answer_is_refused() {
    let thing = ThingBuilder::tool("Vault")
        .id("urn:lmos:test:vault")
        .property(
            "gold",
            PropertyAffordance::new(DataSchema::of_type("number")),
        )
        .security("bearer_sc", SecurityScheme::new(SchemeKind::Bearer))
        .build();
    let servient = Servient::builder()
        .http_port(0)
        .verifier(bearer_verifier())
        .build()
        .unwrap();
    servient
        .expose(thing)
        .unwrap()
        .set_property("gold", json!(9))
        .unwrap();
    let ws = format!("ws://{}/ws", servient.start().await.unwrap().ws.unwrap());
    let expired = hs256(HMAC_SECRET, &expired_claims());
    for refused in [
        Presented::none(),
        Presented::bearer("not-a-jwt"),
        Presented::bearer(&expired),
    ] {
        match ws_read(&ws, &refused, "urn:lmos:test:vault", "gold").await {
            WsOutcome::Refused(401) => {}
            other => panic!("{refused:?}: {other:?}"),
        }
    }
    let token = hs256(HMAC_SECRET, &claims(""));
    match ws_read(
        &ws,
        &Presented::bearer(&token),
        "urn:lmos:test:vault",
        "gold",
    )
    .await
    {
        WsOutcome::Reply(reply) => assert_eq!(reply["value"], json!(9), "{reply}"),
        other => panic!("{other:?}"),
    }
    // A consumer without credentials learns why.
    let options = ConsumeOptions {
        protocols: vec!["ws".into()],
        ..ConsumeOptions::default()
    };
    let td_url = ws.replace("ws://", "http://").replace("/ws", "/vault");
    let consumed = ConsumedThing::from_url(&td_url, options).await.unwrap();
    let error = consumed.read_property("gold").await.unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
    servient.shutdown().await;
}

#[test]
fn things_that_cannot_be_enforced_are_not_exposed() {
    let servient = Servient::builder().http_port(0).build().unwrap();
    let property = || PropertyAffordance::new(DataSchema::of_type("number"));
    // A scheme without verifier configuration.
    for kind in [
        SchemeKind::Basic,
        SchemeKind::Bearer,
        SchemeKind::ApiKey,
        SchemeKind::OAuth2,
    ] {
        let mut scheme = SecurityScheme::new(kind.clone());
        if kind == SchemeKind::OAuth2 {
            scheme.flow = Some("client".into());
            scheme.token = Some("https://issuer.test/token".into());
        }
        let thing = ThingBuilder::tool("Needs config")
            .property("p", property())
            .security("sc", scheme)
            .build();
        let error = servient.expose(thing).unwrap_err();
        assert_eq!(error.code(), "invalid_config");
        assert!(error.to_string().contains(kind.as_str()), "{error}");
    }
    // Schemes this SDK does not enforce.
    let verifier = Verifier::builder()
        .api_keys(ApiKeys::new().key("k"))
        .build();
    let servient = Servient::builder()
        .http_port(0)
        .verifier(verifier)
        .build()
        .unwrap();
    for kind in [
        SchemeKind::Digest,
        SchemeKind::Psk,
        SchemeKind::Other("ex:custom".into()),
    ] {
        let thing = ThingBuilder::tool("Odd")
            .property("p", property())
            .security("sc", SecurityScheme::new(kind))
            .build();
        let error = servient.expose(thing).unwrap_err();
        assert!(error.to_string().contains("not supported"), "{error}");
    }
    // A per-form security naming an undefined scheme, and a combo without parts.
    let mut form = Form::new("p").op(&["readproperty"]);
    form.security = Some(OneOrMany::One("missing_sc".into()));
    let thing = ThingBuilder::tool("Dangling")
        .property("p", property().form(form))
        .build();
    let error = servient.expose(thing).unwrap_err();
    assert!(error.to_string().contains("missing_sc"), "{error}");
    let thing = ThingBuilder::tool("Empty combo")
        .property("p", property())
        .security("combo_sc", SecurityScheme::new(SchemeKind::Combo))
        .build();
    assert!(servient.expose(thing).is_err());
    // apikey "in": "body" has no place to be checked.
    let mut scheme = SecurityScheme::new(SchemeKind::ApiKey);
    scheme.location = Some("body".into());
    let thing = ThingBuilder::tool("Body key")
        .property("p", property())
        .security("sc", scheme)
        .build();
    assert!(servient.expose(thing).is_err());
    // Nothing was exposed along the way.
    assert!(servient.things().is_empty());
}

#[tokio::test]
async fn jwks_is_fetched_again_for_an_unknown_kid_but_not_for_every_one() {
    use std::sync::atomic::Ordering;
    let auth = auth_server(600).await;
    let serve_with = |validator: TokenValidator| async move {
        let thing = ThingBuilder::tool("Rotating")
            .property("p", PropertyAffordance::new(DataSchema::of_type("number")))
            .security("bearer_sc", SecurityScheme::new(SchemeKind::Bearer))
            .build();
        let servient = Servient::builder()
            .http_port(0)
            .verifier(Verifier::builder().bearer(validator).build())
            .build()
            .unwrap();
        servient
            .expose(thing)
            .unwrap()
            .set_property("p", json!(5))
            .unwrap();
        let url = format!(
            "http://{}/rotating/properties/p",
            servient.start().await.unwrap().http.unwrap()
        );
        (servient, url)
    };
    let jwks = format!("{}/jwks", auth.base);
    let (servient, url) =
        serve_with(TokenValidator::jwks(&jwks).jwks_min_refetch(std::time::Duration::ZERO)).await;
    let (status, _, _) = http_get(&url, &Presented::bearer(&es256(&claims("")))).await;
    assert_eq!(status, 200);
    assert_eq!(auth.jwks_fetches.load(Ordering::SeqCst), 1);

    // The issuer rotates in a new key: a token naming it makes the server fetch the set again.
    let rotated = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = rotated.public_key_raw();
    auth.extra_keys.lock().unwrap().push(json!({
        "kty": "EC", "kid": "ec-2", "crv": "P-256", "alg": "ES256",
        "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
    }));
    let key = jsonwebtoken::EncodingKey::from_ec_pem(rotated.serialize_pem().as_bytes()).unwrap();
    let token = sign(
        jsonwebtoken::Algorithm::ES256,
        Some("ec-2"),
        &key,
        &claims(""),
    );
    let (status, _, _) = http_get(&url, &Presented::bearer(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(auth.jwks_fetches.load(Ordering::SeqCst), 2);
    // An unknown kid is refused (after one more fetch).
    let stray = sign(
        jsonwebtoken::Algorithm::ES256,
        Some("ec-unknown"),
        &jsonwebtoken::EncodingKey::from_ec_pem(keys().stray_ec_private_pem.as_bytes()).unwrap(),
        &claims(""),
    );
    let (status, _, _) = http_get(&url, &Presented::bearer(&stray)).await;
    assert_eq!(status, 401);
    assert_eq!(auth.jwks_fetches.load(Ordering::SeqCst), 3);
    servient.shutdown().await;

    // With the default pause, a burst of unknown kids costs no fetch after the first one.
    let before = auth.jwks_fetches.load(Ordering::SeqCst);
    let (servient, url) = serve_with(TokenValidator::jwks(&jwks)).await;
    for _ in 0..5 {
        let (status, _, _) = http_get(&url, &Presented::bearer(&stray)).await;
        assert_eq!(status, 401);
    }
    assert_eq!(auth.jwks_fetches.load(Ordering::SeqCst), before + 1);
    servient.shutdown().await;
}
