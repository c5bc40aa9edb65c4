//! The OAuth2 client-credentials client against a token endpoint served on loopback: it fetches
//! the token from the endpoint the TD declares, caches it, fetches a new one before it expires,
//! and reports a refusing endpoint without its secret.

mod security_common;

use std::sync::atomic::Ordering;

use lmos::security::{CredentialStore, Credentials, OAuth2Client, TokenValidator, Verifier};
use lmos::td::{
    DataSchema, OneOrMany, PropertyAffordance, SchemeKind, SecurityScheme, ThingBuilder,
};
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient, ThingError};
use security_common::*;
use serde_json::json;

async fn serve(token_url: &str) -> (Servient, String) {
    let mut oauth = SecurityScheme::new(SchemeKind::OAuth2);
    oauth.flow = Some("client".into());
    oauth.token = Some(token_url.to_owned());
    oauth.scopes = Some(OneOrMany::One("read".into()));
    let thing = ThingBuilder::tool("Billing")
        .id("urn:lmos:test:billing")
        .property(
            "balance",
            PropertyAffordance::new(DataSchema::of_type("number")),
        )
        .security("oauth2_sc", oauth)
        .build();
    let servient = Servient::builder()
        .http_port(0)
        .verifier(
            Verifier::builder()
                .oauth2(TokenValidator::hmac(OAUTH_SECRET).audience(AUDIENCE))
                .build(),
        )
        .build()
        .unwrap();
    servient
        .expose(thing)
        .unwrap()
        .set_property("balance", json!(12.5))
        .unwrap();
    let address = servient.start().await.unwrap().http.unwrap();
    (servient, format!("http://{address}/billing"))
}

async fn consume(td_url: &str, client: OAuth2Client, protocol: &str) -> ConsumedThing {
    let store = CredentialStore::new();
    store.insert("urn:lmos:test:billing", Credentials::new().oauth2(client));
    let options = ConsumeOptions {
        protocols: vec![protocol.into()],
        credentials: Some(store),
        ..ConsumeOptions::default()
    };
    ConsumedThing::from_url(td_url, options).await.unwrap()
}

#[tokio::test]
async fn tokens_are_fetched_once_and_cached() {
    let auth = auth_server(3600).await;
    let (servient, td_url) = serve(&format!("{}/token", auth.base)).await;
    let client = OAuth2Client::client_credentials(CLIENT_ID, CLIENT_SECRET).scopes(["read"]);
    let http = consume(&td_url, client.clone(), "http").await;
    let ws = consume(&td_url, client, "ws").await;
    for _ in 0..3 {
        assert_eq!(http.read_property("balance").await.unwrap(), json!(12.5));
    }
    assert_eq!(ws.read_property("balance").await.unwrap(), json!(12.5));
    assert_eq!(auth.token_fetches.load(Ordering::SeqCst), 1);
    servient.shutdown().await;
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    // Tokens live 20 s and the client renews 30 s before expiry: every use needs a new token.
    let auth = auth_server(20).await;
    let (servient, td_url) = serve(&format!("{}/token", auth.base)).await;
    let client = OAuth2Client::client_credentials(CLIENT_ID, CLIENT_SECRET).scopes(["read"]);
    let first = client
        .access_token(Some(&format!("{}/token", auth.base)))
        .await
        .unwrap();
    let second = client
        .access_token(Some(&format!("{}/token", auth.base)))
        .await
        .unwrap();
    assert_ne!(first.expose(), second.expose(), "a fresh token was fetched");
    assert_eq!(auth.token_fetches.load(Ordering::SeqCst), 2);
    let http = consume(&td_url, client, "http").await;
    assert_eq!(http.read_property("balance").await.unwrap(), json!(12.5));
    assert_eq!(auth.token_fetches.load(Ordering::SeqCst), 3);
    // With a margin shorter than the lifetime the cached token is reused.
    let patient = OAuth2Client::client_credentials(CLIENT_ID, CLIENT_SECRET)
        .refresh_margin(std::time::Duration::from_secs(5));
    let a = patient
        .access_token(Some(&format!("{}/token", auth.base)))
        .await
        .unwrap();
    let b = patient
        .access_token(Some(&format!("{}/token", auth.base)))
        .await
        .unwrap();
    assert_eq!(a.expose(), b.expose());
    assert_eq!(auth.token_fetches.load(Ordering::SeqCst), 4);
    servient.shutdown().await;
}

#[tokio::test]
async fn a_refused_client_gets_a_clear_error_without_its_secret() {
    let auth = auth_server(3600).await;
    let (servient, td_url) = serve(&format!("{}/token", auth.base)).await;
    let wrong_secret = "wrong-client-secret-0042";
    let client = OAuth2Client::client_credentials(CLIENT_ID, wrong_secret);
    for protocol in ["http", "ws"] {
        let consumed = consume(&td_url, client.clone(), protocol).await;
        let error = consumed.read_property("balance").await.unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(matches!(error, ThingError::Transport(_)), "{text}");
        assert!(text.contains("invalid_client"), "{text}");
        assert!(!text.contains(wrong_secret), "{text}");
        // The endpoint's free-text description is not relayed either.
        assert!(!text.contains("bad client"), "{text}");
    }
    servient.shutdown().await;
}

#[tokio::test]
async fn a_token_url_set_on_the_client_wins_over_the_td() {
    let auth = auth_server(3600).await;
    // The TD names an endpoint nobody serves.
    let (servient, td_url) = serve("http://127.0.0.1:9/token").await;
    let client = OAuth2Client::client_credentials(CLIENT_ID, CLIENT_SECRET)
        .token_url(format!("{}/token", auth.base))
        .scopes(["read"]);
    let http = consume(&td_url, client, "http").await;
    assert_eq!(http.read_property("balance").await.unwrap(), json!(12.5));
    servient.shutdown().await;
}
