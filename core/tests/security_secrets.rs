//! No secret, token or private key appears in a log line, a `Debug` dump or an error message:
//! everything the SDK would print about a security setup and its failures is collected and
//! searched for every secret involved.

mod security_common;

use std::sync::{Arc, Mutex};

use lmos::security::{
    ApiKeys, BasicUsers, CredentialStore, Credentials, OAuth2Client, TokenValidator, Verifier,
};
use lmos::td::{DataSchema, Form, PropertyAffordance, SchemeKind, SecurityScheme, ThingBuilder};
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient};
use security_common::*;
use serde_json::json;

const PASSWORD: &str = "pw-never-printed-1";
const WRONG_PASSWORD: &str = "pw-never-printed-2";
const API_KEY: &str = "key-never-printed-3";
const WRONG_KEY: &str = "key-never-printed-4";
const TOKEN_SECRET: &[u8] = b"hmac-never-printed-5, long enough";
const INTROSPECTION_SECRET: &str = "introspection-never-printed-6";
const CLIENT_SECRET_HERE: &str = "client-never-printed-7";

#[tokio::test]
async fn secrets_stay_out_of_logs_and_errors() {
    let mut printed: Vec<String> = Vec::new();
    let token = hs256(TOKEN_SECRET, &claims(""));
    let expired = hs256(TOKEN_SECRET, &expired_claims());
    let secrets: Vec<String> = vec![
        PASSWORD.into(),
        WRONG_PASSWORD.into(),
        API_KEY.into(),
        WRONG_KEY.into(),
        String::from_utf8(TOKEN_SECRET.to_vec()).unwrap(),
        INTROSPECTION_SECRET.into(),
        CLIENT_SECRET_HERE.into(),
        token.clone(),
        expired.clone(),
        keys().rsa_private_pem.lines().nth(1).unwrap().to_owned(),
    ];

    // Configuration, as an application would log it.
    let verifier = Verifier::builder()
        .basic(BasicUsers::new().user("alice", PASSWORD))
        .api_keys(ApiKeys::new().key(API_KEY))
        .bearer(TokenValidator::hmac(TOKEN_SECRET))
        .oauth2(TokenValidator::introspection(
            "http://127.0.0.1:9/introspect",
            "rs",
            INTROSPECTION_SECRET,
        ))
        .build();
    printed.push(format!("{verifier:?}"));
    printed.push(format!("{:?}", BasicUsers::new().user("alice", PASSWORD)));
    let oauth = OAuth2Client::client_credentials("me", CLIENT_SECRET_HERE);
    printed.push(format!("{oauth:?}"));
    let credentials = Credentials::new()
        .basic("alice", PASSWORD)
        .api_key(API_KEY)
        .bearer(token.clone())
        .oauth2(oauth.clone());
    printed.push(format!("{credentials:?}"));
    let store = CredentialStore::new();
    store.insert("urn:lmos:test:vault", credentials);
    let options = ConsumeOptions {
        credentials: Some(store.clone()),
        ..ConsumeOptions::default()
    };
    printed.push(format!("{options:?}"));

    // A servient with a thing per scheme; the internal-error hook is the server's log.
    let logged = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = logged.clone();
    let servient = Servient::builder()
        .http_port(0)
        .verifier(verifier)
        .on_internal_error(Arc::new(move |thing, what, error| {
            sink.lock()
                .unwrap()
                .push(format!("{thing} {what} {error} {error:?}"));
        }))
        .build()
        .unwrap();
    for (title, scheme) in [
        ("basic vault", SecurityScheme::new(SchemeKind::Basic)),
        ("bearer vault", SecurityScheme::new(SchemeKind::Bearer)),
        ("key vault", {
            let mut s = SecurityScheme::new(SchemeKind::ApiKey);
            s.location = Some("query".into());
            s
        }),
    ] {
        let thing = ThingBuilder::tool(title)
            .property(
                "gold",
                PropertyAffordance::new(DataSchema::of_type("number")),
            )
            .security("sc", scheme)
            .build();
        printed.push(format!("{:?}", servient.expose(thing).unwrap()));
    }
    for thing in servient.things() {
        thing.set_property("gold", json!(1)).unwrap();
    }
    let address = servient.start().await.unwrap().http.unwrap();
    printed.push(format!("{servient:?}"));

    // Wrong, expired and right credentials, over both bindings, each error printed.
    let base = format!("http://{address}/");
    for (slug, wrong) in [
        (
            "basic-vault",
            Credentials::new().basic("alice", WRONG_PASSWORD),
        ),
        ("bearer-vault", Credentials::new().bearer(expired.clone())),
        (
            "bearer-vault",
            Credentials::new().bearer(format!("{token}x")),
        ),
        ("key-vault", Credentials::new().api_key(WRONG_KEY)),
    ] {
        let url = format!("{base}{slug}");
        let store = CredentialStore::new();
        store.insert(url.clone(), wrong);
        for protocol in ["http", "ws"] {
            let options = ConsumeOptions {
                protocols: vec![protocol.into()],
                credentials: Some(store.clone()),
                ..ConsumeOptions::default()
            };
            let consumed = ConsumedThing::from_url(&url, options).await.unwrap();
            let error = consumed.read_property("gold").await.unwrap_err();
            printed.push(format!("{error} {error:?}"));
        }
    }
    // A raw refused request: the problem document and its challenges.
    for presented in [
        Presented::basic("alice", WRONG_PASSWORD),
        Presented::bearer(&expired),
        Presented::query("api_key", WRONG_KEY),
    ] {
        for slug in ["basic-vault", "bearer-vault", "key-vault"] {
            let (status, challenges, body) =
                http_get(&format!("{base}{slug}/properties/gold"), &presented).await;
            assert_eq!(status, 401);
            printed.push(body);
            printed.extend(challenges);
        }
    }
    // Transport failures with credentials in the query (an apikey `in: query`) and the token
    // endpoint unreachable or refusing.
    let mut unreachable = SecurityScheme::new(SchemeKind::ApiKey);
    unreachable.location = Some("query".into());
    let mut ws_form = Form::new("ws://127.0.0.1:9/ws").op(&["readproperty"]);
    ws_form.subprotocol = Some("lmosprotocol".into());
    let with_forms = ThingBuilder::tool("Gone")
        .id("urn:lmos:test:vault")
        .property(
            "gold",
            PropertyAffordance::new(DataSchema::of_type("number"))
                .form(Form::new("http://127.0.0.1:9/gone/properties/gold").op(&["readproperty"]))
                .form(ws_form),
        )
        .security("sc", unreachable)
        .build();
    for protocol in ["http", "ws"] {
        let options = ConsumeOptions {
            protocols: vec![protocol.into()],
            credentials: Some(store.clone()),
            ..ConsumeOptions::default()
        };
        let consumed = ConsumedThing::new(with_forms.clone(), options).unwrap();
        let error = consumed.read_property("gold").await.unwrap_err();
        printed.push(format!("{error} {error:?}"));
    }
    let auth = auth_server(600).await;
    for url in [
        format!("{}/token", auth.base),
        "http://127.0.0.1:9/token".to_owned(),
    ] {
        let error = oauth.access_token(Some(&url)).await.unwrap_err();
        printed.push(format!("{error} {error:?}"));
    }
    // An exposure refused for lack of a verifier.
    let bare = Servient::builder().http_port(0).build().unwrap();
    let refused = bare
        .expose(
            ThingBuilder::tool("Needs keys")
                .security("sc", SecurityScheme::new(SchemeKind::Bearer))
                .build(),
        )
        .unwrap_err();
    assert_eq!(refused.code(), "invalid_config");
    assert!(refused.to_string().contains("bearer"), "{refused}");
    printed.push(format!("{refused} {refused:?}"));

    servient.shutdown().await;
    printed.extend(logged.lock().unwrap().iter().cloned());
    assert!(printed.len() > 30);
    for line in &printed {
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "a secret in: {line}");
        }
    }
}
