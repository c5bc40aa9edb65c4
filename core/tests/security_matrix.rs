//! The authorization matrix: every scheme × HTTP and WebSocket × right, wrong, missing and
//! expired credentials (and wrong audience, missing scope), over real sockets, with real keys
//! and a real authorization server (JWKS, introspection, token endpoint) on loopback.

mod security_common;

use lmos::security::{
    ApiKeys, BasicUsers, CredentialStore, Credentials, JwtKey, OAuth2Client, TokenValidator,
    Verifier,
};
use lmos::td::{
    DataSchema, Form, OneOrMany, PropertyAffordance, SchemeKind, SecurityScheme, ThingBuilder,
};
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient, ThingError};
use security_common::*;
use serde_json::json;

const SECURED_ID: &str = "urn:lmos:test:secured";
const OPEN_ID: &str = "urn:lmos:test:open";

fn scheme(kind: SchemeKind, location: Option<&str>, name: Option<&str>) -> SecurityScheme {
    let mut scheme = SecurityScheme::new(kind);
    scheme.location = location.map(str::to_owned);
    scheme.name = name.map(str::to_owned);
    scheme
}

fn combo(all_of: Option<&[&str]>, one_of: Option<&[&str]>) -> SecurityScheme {
    let mut scheme = SecurityScheme::new(SchemeKind::Combo);
    scheme.all_of = all_of.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
    scheme.one_of = one_of.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
    scheme
}

struct Case {
    label: &'static str,
    /// Definitions; the first one is the thing's `security`.
    definitions: Vec<(&'static str, SecurityScheme)>,
    verifier: Verifier,
    /// OAuth2 scopes the `readproperty` form names.
    scopes: Option<Vec<&'static str>>,
    right: Vec<Presented>,
    /// (what, credentials, expected status)
    refused: Vec<(&'static str, Presented, u16)>,
    /// What a consumer holds.
    client: Credentials,
}

async fn serve(case: &Case) -> (Servient, String, String) {
    let mut property = PropertyAffordance::new(DataSchema::of_type("number")).read_only();
    if let Some(scopes) = &case.scopes {
        let mut form = Form::new("temperature").op(&["readproperty"]);
        form.scopes = Some(OneOrMany::Many(
            scopes.iter().map(|s| (*s).to_owned()).collect(),
        ));
        property = property.form(form);
    }
    let mut builder = ThingBuilder::tool("Secured")
        .id(SECURED_ID)
        .property("temperature", property);
    for (name, scheme) in &case.definitions {
        builder = builder.security(*name, scheme.clone());
    }
    let mut thing = builder.build();
    thing.security = OneOrMany::One(case.definitions[0].0.to_owned());
    let servient = Servient::builder()
        .http_port(0)
        .verifier(case.verifier.clone())
        .build()
        .unwrap();
    let secured = servient.expose(thing).unwrap();
    secured.set_property("temperature", json!(21.5)).unwrap();
    let open = servient
        .expose(
            ThingBuilder::tool("Open")
                .id(OPEN_ID)
                .property(
                    "temperature",
                    PropertyAffordance::new(DataSchema::of_type("number")),
                )
                .build(),
        )
        .unwrap();
    open.set_property("temperature", json!(3.0)).unwrap();
    let addresses = servient.start().await.unwrap();
    let http = format!("http://{}/", addresses.http.unwrap());
    let ws = format!("ws://{}/ws", addresses.ws.unwrap());
    (servient, http, ws)
}

async fn run_case(case: Case) {
    let label = case.label;
    let (servient, http, ws) = serve(&case).await;
    let url = format!("{http}secured/properties/temperature");

    // The TD itself is public, so consumers can learn what to present.
    let (status, _, _) = http_get(&format!("{http}secured"), &Presented::none()).await;
    assert_eq!(status, 200, "{label}: the TD is readable");
    // The open thing next to it stays open.
    let (status, _, _) = http_get(
        &format!("{http}open/properties/temperature"),
        &Presented::none(),
    )
    .await;
    assert_eq!(status, 200, "{label}: the open thing stays open");

    for (index, right) in case.right.iter().enumerate() {
        let (status, _, body) = http_get(&url, right).await;
        assert_eq!(
            status, 200,
            "{label}: right credentials #{index} over HTTP: {body}"
        );
        assert_eq!(body, "21.5");
        match ws_read(&ws, right, SECURED_ID, "temperature").await {
            WsOutcome::Reply(reply) => {
                assert_eq!(
                    reply["messageType"], "propertyReading",
                    "{label} #{index} over WS: {reply}"
                );
                assert_eq!(reply["value"], json!(21.5));
            }
            other => panic!("{label}: right credentials #{index} over WS: {other:?}"),
        }
    }
    for (what, presented, expected) in &case.refused {
        let (status, challenges, body) = http_get(&url, presented).await;
        assert_eq!(status, *expected, "{label}: {what} over HTTP: {body}");
        assert!(!body.contains("21.5"), "{label}: {what} leaked the value");
        if *expected == 401 || *expected == 403 {
            assert!(
                !challenges.is_empty(),
                "{label}: {what}: no WWW-Authenticate"
            );
        }
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], json!(expected));
        // Whatever was presented is not echoed back.
        for (_, value) in presented.headers.iter().chain(&presented.query) {
            let secret = value.rsplit(' ').next().unwrap_or(value);
            if secret.len() < 4 {
                continue;
            }
            assert!(
                !body.contains(secret),
                "{label}: {what}: the refusal echoes the credential"
            );
            assert!(challenges.iter().all(|c| !c.contains(secret)));
        }
        // Over WebSocket the open thing keeps the handshake open; the message is refused.
        match ws_read(&ws, presented, SECURED_ID, "temperature").await {
            WsOutcome::Reply(reply) => {
                assert_eq!(
                    reply["messageType"], "error",
                    "{label}: {what} over WS: {reply}"
                );
                let status = match &reply["status"] {
                    serde_json::Value::String(text) => text.parse::<u16>().ok(),
                    other => other.as_u64().map(|n| n as u16),
                };
                assert_eq!(status, Some(*expected), "{label}: {what} over WS: {reply}");
                let text = reply.to_string();
                assert!(!text.contains("21.5"));
            }
            other => panic!("{label}: {what} over WS: {other:?}"),
        }
    }

    // A consumer applies what the TD declares from its credential store, over both bindings.
    let store = CredentialStore::new();
    store.insert(SECURED_ID, case.client.clone());
    for protocol in ["http", "ws"] {
        let options = ConsumeOptions {
            protocols: vec![protocol.into()],
            credentials: Some(store.clone()),
            ..ConsumeOptions::default()
        };
        let consumed = ConsumedThing::from_url(&format!("{http}secured"), options)
            .await
            .unwrap();
        let value = consumed.read_property("temperature").await;
        assert_eq!(
            value.unwrap(),
            json!(21.5),
            "{label}: consumer over {protocol}"
        );
        // Without credentials the consumer is refused.
        let options = ConsumeOptions {
            protocols: vec![protocol.into()],
            ..ConsumeOptions::default()
        };
        let consumed = ConsumedThing::from_url(&format!("{http}secured"), options)
            .await
            .unwrap();
        match consumed.read_property("temperature").await {
            Err(ThingError::Remote { status, .. }) => {
                assert!(status == 401 || status == 403, "{label}: {status}")
            }
            Err(ThingError::Transport(message)) if protocol == "ws" => {
                // Only when the handshake itself is refused; here the open thing keeps it open.
                panic!("{label}: unexpected transport error {message}")
            }
            other => panic!("{label}: consumer without credentials over {protocol}: {other:?}"),
        }
    }
    servient.shutdown().await;
}

fn bearer_case(
    label: &'static str,
    validator: TokenValidator,
    right: String,
    wrong: String,
    expired: String,
    other_audience: String,
) -> Case {
    Case {
        label,
        definitions: vec![("bearer_sc", scheme(SchemeKind::Bearer, None, None))],
        verifier: Verifier::builder().bearer(validator).build(),
        scopes: None,
        right: vec![Presented::bearer(&right)],
        refused: vec![
            ("wrong token", Presented::bearer(&wrong), 401),
            ("missing token", Presented::none(), 401),
            ("expired token", Presented::bearer(&expired), 401),
            ("wrong audience", Presented::bearer(&other_audience), 401),
            (
                "basic instead of bearer",
                Presented::basic("alice", "wonderland"),
                401,
            ),
        ],
        client: Credentials::new().bearer(right),
    }
}

fn other_audience() -> serde_json::Value {
    json!({"sub": "agent-7", "aud": "billing", "exp": now() + 600})
}

#[tokio::test]
async fn basic() {
    run_case(Case {
        label: "basic",
        definitions: vec![("basic_sc", scheme(SchemeKind::Basic, None, None))],
        verifier: Verifier::builder()
            .basic(BasicUsers::new().user("alice", "wonderland"))
            .build(),
        scopes: None,
        right: vec![Presented::basic("alice", "wonderland")],
        refused: vec![
            (
                "wrong password",
                Presented::basic("alice", "looking-glass"),
                401,
            ),
            (
                "unknown user",
                Presented::basic("mallory", "wonderland"),
                401,
            ),
            ("missing", Presented::none(), 401),
            ("bearer instead", Presented::bearer("wonderland"), 401),
        ],
        client: Credentials::new().basic("alice", "wonderland"),
    })
    .await;
}

#[tokio::test]
async fn bearer_hs256_static_key() {
    let audience = other_audience();
    run_case(bearer_case(
        "bearer HS256",
        TokenValidator::hmac(HMAC_SECRET).audience(AUDIENCE),
        hs256(HMAC_SECRET, &claims("")),
        hs256(OTHER_HMAC_SECRET, &claims("")),
        hs256(HMAC_SECRET, &expired_claims()),
        hs256(HMAC_SECRET, &audience),
    ))
    .await;
}

#[tokio::test]
async fn bearer_rs256_static_key() {
    let key = JwtKey::rsa_pem(keys().rsa_public_pem.as_bytes()).unwrap();
    run_case(bearer_case(
        "bearer RS256",
        TokenValidator::keys(vec![key]).audience(AUDIENCE),
        rs256(&claims("")),
        // An HS256 token "signed" with the public key: the algorithm-confusion attack.
        hs256(keys().rsa_public_pem.as_bytes(), &claims("")),
        rs256(&expired_claims()),
        rs256(&other_audience()),
    ))
    .await;
}

#[tokio::test]
async fn bearer_es256_from_jwks() {
    let auth = auth_server(600).await;
    run_case(bearer_case(
        "bearer ES256 (JWKS)",
        TokenValidator::jwks(format!("{}/jwks", auth.base)).audience(AUDIENCE),
        es256(&claims("")),
        es256_stray(&claims("")),
        es256(&expired_claims()),
        es256(&other_audience()),
    ))
    .await;
    // Fetched once and cached (the wrong key's kid is known, so it causes no refetch).
    assert_eq!(
        auth.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn bearer_eddsa_and_rs256_from_jwks() {
    let auth = auth_server(600).await;
    let validator = TokenValidator::jwks(format!("{}/jwks", auth.base)).audience(AUDIENCE);
    run_case(bearer_case(
        "bearer EdDSA (JWKS)",
        validator.clone(),
        eddsa(&claims("")),
        hs256(HMAC_SECRET, &claims("")),
        eddsa(&expired_claims()),
        eddsa(&other_audience()),
    ))
    .await;
    run_case(bearer_case(
        "bearer RS256 (JWKS)",
        validator,
        rs256(&claims("")),
        es256_stray(&claims("")),
        rs256(&expired_claims()),
        rs256(&other_audience()),
    ))
    .await;
}

#[tokio::test]
async fn bearer_opaque_token_by_introspection() {
    let auth = auth_server(600).await;
    let validator =
        TokenValidator::introspection(format!("{}/introspect", auth.base), RS_CLIENT, RS_SECRET)
            .audience(AUDIENCE);
    run_case(bearer_case(
        "bearer opaque (introspection)",
        validator,
        "opaque-good".into(),
        "opaque-unknown".into(),
        "opaque-expired".into(),
        "opaque-other-audience".into(),
    ))
    .await;
    assert!(
        auth.introspections
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );
}

#[tokio::test]
async fn introspection_endpoint_refusing_the_server_is_unavailable_not_open() {
    let auth = auth_server(600).await;
    let validator = TokenValidator::introspection(
        format!("{}/introspect", auth.base),
        RS_CLIENT,
        "not the resource server's secret",
    );
    let servient = Servient::builder()
        .http_port(0)
        .verifier(Verifier::builder().bearer(validator).build())
        .build()
        .unwrap();
    let thing = ThingBuilder::tool("Secured")
        .property("t", PropertyAffordance::new(DataSchema::of_type("number")))
        .security("bearer_sc", scheme(SchemeKind::Bearer, None, None))
        .build();
    servient
        .expose(thing)
        .unwrap()
        .set_property("t", json!(1))
        .unwrap();
    let http = servient.start().await.unwrap().http.unwrap();
    let (status, _, body) = http_get(
        &format!("http://{http}/secured/properties/t"),
        &Presented::bearer("opaque-good"),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.contains("opaque-good"));
    servient.shutdown().await;
}

#[tokio::test]
async fn apikey_in_header_query_and_cookie() {
    let keys = || ApiKeys::new().key("key-4711").key("key-0815");
    let wrong = "key-9999";
    for (label, location, name) in [
        ("apikey header", "header", "X-Api-Key"),
        ("apikey query", "query", "key"),
        ("apikey cookie", "cookie", "session"),
    ] {
        let present = |value: &str| match location {
            "header" => Presented::header(name, value),
            "query" => Presented::query(name, value),
            _ => Presented::header("Cookie", &format!("theme=dark; {name}={value}")),
        };
        run_case(Case {
            label,
            definitions: vec![(
                "apikey_sc",
                scheme(SchemeKind::ApiKey, Some(location), Some(name)),
            )],
            verifier: Verifier::builder().api_keys(keys()).build(),
            scopes: None,
            right: vec![present("key-4711"), present("key-0815")],
            refused: vec![
                ("wrong key", present(wrong), 401),
                ("missing key", Presented::none(), 401),
                ("empty key", present(""), 401),
                (
                    "key in the wrong place",
                    Presented::header("Authorization", "key-4711"),
                    401,
                ),
            ],
            client: Credentials::new().api_key("key-4711"),
        })
        .await;
    }
}

#[tokio::test]
async fn oauth2_resource_server_with_form_scopes() {
    let auth = auth_server(600).await;
    let mut oauth = SecurityScheme::new(SchemeKind::OAuth2);
    oauth.flow = Some("client".into());
    oauth.token = Some(format!("{}/token", auth.base));
    oauth.scopes = Some(OneOrMany::Many(vec!["read".into(), "write".into()]));
    let token = |scope: &str| {
        let mut c = claims(scope);
        c["scope"] = json!(scope);
        hs256(OAUTH_SECRET, &c)
    };
    run_case(Case {
        label: "oauth2",
        definitions: vec![("oauth2_sc", oauth)],
        verifier: Verifier::builder()
            .oauth2(TokenValidator::hmac(OAUTH_SECRET).audience(AUDIENCE))
            .build(),
        scopes: Some(vec!["read"]),
        right: vec![
            Presented::bearer(&token("read")),
            Presented::bearer(&token("write read")),
        ],
        refused: vec![
            ("missing scope", Presented::bearer(&token("write")), 403),
            (
                "wrong signature",
                Presented::bearer(&hs256(HMAC_SECRET, &claims("read"))),
                401,
            ),
            ("missing token", Presented::none(), 401),
            (
                "expired token",
                Presented::bearer(&hs256(OAUTH_SECRET, &expired_claims())),
                401,
            ),
            (
                "wrong audience",
                Presented::bearer(&hs256(OAUTH_SECRET, &other_audience())),
                401,
            ),
        ],
        // The consumer fetches its token from the token endpoint the TD declares.
        client: Credentials::new()
            .oauth2(OAuth2Client::client_credentials(CLIENT_ID, CLIENT_SECRET).scopes(["read"])),
    })
    .await;
    assert!(auth.token_fetches.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn combo_all_of_and_one_of() {
    let verifier = || {
        Verifier::builder()
            .basic(BasicUsers::new().user("alice", "wonderland"))
            .api_keys(ApiKeys::new().key("key-4711"))
            .bearer(TokenValidator::hmac(HMAC_SECRET))
            .build()
    };
    let key = |k: &str| Presented::header("X-API-Key", k);
    let basic_sc = scheme(SchemeKind::Basic, None, None);
    let key_sc = scheme(SchemeKind::ApiKey, Some("header"), None);
    let bearer_sc = scheme(SchemeKind::Bearer, None, None);
    run_case(Case {
        label: "combo allOf",
        definitions: vec![
            ("both_sc", combo(Some(&["basic_sc", "key_sc"]), None)),
            ("basic_sc", basic_sc.clone()),
            ("key_sc", key_sc.clone()),
        ],
        verifier: verifier(),
        scopes: None,
        right: vec![Presented::basic("alice", "wonderland").and(key("key-4711"))],
        refused: vec![
            (
                "right password, wrong key",
                Presented::basic("alice", "wonderland").and(key("nope")),
                401,
            ),
            (
                "only the password",
                Presented::basic("alice", "wonderland"),
                401,
            ),
            ("only the key", key("key-4711"), 401),
            ("missing", Presented::none(), 401),
        ],
        client: Credentials::new()
            .basic("alice", "wonderland")
            .api_key("key-4711"),
    })
    .await;
    let token = hs256(HMAC_SECRET, &claims(""));
    run_case(Case {
        label: "combo oneOf",
        definitions: vec![
            ("either_sc", combo(None, Some(&["basic_sc", "bearer_sc"]))),
            ("basic_sc", basic_sc),
            ("bearer_sc", bearer_sc),
        ],
        verifier: verifier(),
        scopes: None,
        right: vec![
            Presented::basic("alice", "wonderland"),
            Presented::bearer(&token),
        ],
        refused: vec![
            ("wrong password", Presented::basic("alice", "nope"), 401),
            (
                "wrong token",
                Presented::bearer(&hs256(OTHER_HMAC_SECRET, &claims(""))),
                401,
            ),
            (
                "expired token",
                Presented::bearer(&hs256(HMAC_SECRET, &expired_claims())),
                401,
            ),
            ("missing", Presented::none(), 401),
        ],
        client: Credentials::new().bearer(token.clone()),
    })
    .await;
}
