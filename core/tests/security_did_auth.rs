//! The authorization matrix for DID-auth (a `bearer` scheme with `"lmos:didAuth": true`) and
//! credential requirements (`lmos:requiredCredentials`): HTTP and WebSocket × right token, wrong
//! key, missing, expired, wrong audience, replayed `jti`; right credential, wrong issuer, wrong
//! type, missing, expired, about someone else. Real Ed25519 keys, real sockets on 127.0.0.1, and
//! handlers that report the principal they were given.

mod security_common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use lmos::identity::did_auth::security_scheme;
use lmos::identity::{
    issue_credential, mint_did_auth, CredentialOptions, DidAuthOptions, DidAuthVerifier,
    DidResolver, Ed25519KeyPair,
};
use lmos::security::{
    BasicUsers, CredentialStore, Credentials, DidAuthCredential, Principal, Verifier,
};
use lmos::td::{
    ActionAffordance, DataSchema, PropertyAffordance, SchemeKind, SecurityScheme, ThingBuilder,
};
use lmos::thing::handler::{invoke_with, read_with};
use lmos::thing::{
    ConsumeOptions, ConsumedThing, HandlerError, InteractionContext, Servient, ThingError,
};
use security_common::{http_get, ws_read, Presented, WsOutcome};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message as Frame;

const DID_THING: &str = "urn:lmos:test:did-secured";
const BASIC_THING: &str = "urn:lmos:test:basic-secured";
const OPEN_THING: &str = "urn:lmos:test:open";
const GROUP: &str = "AgentGroupMembership";

/// What a handler saw of its caller, as JSON.
fn describe(context: &InteractionContext) -> Value {
    match context.principal() {
        None => json!(null),
        Some(principal) => describe_principal(principal),
    }
}

fn describe_principal(principal: &Principal) -> Value {
    json!({
        "scheme": principal.scheme,
        "subject": principal.subject,
        "did": principal.did,
        "scopes": principal.scopes,
        "credentialTypes": principal.credential_types(),
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token with arbitrary header and claims, signed by `key`.
fn forge(key: &Ed25519KeyPair, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn token(key: &Ed25519KeyPair, audience: &str, credentials: &[Value]) -> String {
    mint_did_auth(key, audience, Duration::from_secs(60), credentials).unwrap()
}

fn membership(issuer: &Ed25519KeyPair, subject: &str, kind: &str, until: Option<&str>) -> Value {
    issue_credential(
        issuer,
        &CredentialOptions {
            types: vec![kind.to_owned()],
            subject: subject.to_owned(),
            valid_until: until.map(str::to_owned),
            ..CredentialOptions::default()
        },
    )
    .unwrap()
}

fn did_verifier() -> Verifier {
    Verifier::builder()
        .did_auth(DidAuthVerifier::new(
            DidResolver::default(),
            DidAuthOptions::default(),
        ))
        .basic(BasicUsers::new().user("alice", "wonderland"))
        .build()
}

/// The DID-auth thing: `temperature` for any authenticated DID, `whoami` reporting the
/// principal, `join` only for holders of a group membership issued by `issuer`.
fn did_thing(issuer: &str) -> lmos::td::Thing {
    let mut join = ActionAffordance::new()
        .output(DataSchema::of_type("object"))
        .synchronous(true);
    join.extra.insert(
        "lmos:requiredCredentials".into(),
        json!([{"type": GROUP, "issuer": issuer}]),
    );
    let mut thing = ThingBuilder::tool("DidSecured")
        .id(DID_THING)
        .security("did_auth", security_scheme())
        .property(
            "temperature",
            PropertyAffordance::new(DataSchema::of_type("number")).read_only(),
        )
        .property(
            "whoami",
            PropertyAffordance::new(DataSchema::of_type("object")).read_only(),
        )
        .action("join", join)
        .build();
    thing.security = lmos::td::OneOrMany::One("did_auth".into());
    thing
}

struct Served {
    servient: Servient,
    http: String,
    ws: String,
}

async fn serve(issuer: &str, with_open_thing: bool) -> Served {
    let servient = Servient::builder()
        .http_port(0)
        .verifier(did_verifier())
        .build()
        .unwrap();
    let secured = servient.expose(did_thing(issuer)).unwrap();
    secured.set_property("temperature", json!(21.5)).unwrap();
    secured
        .on_property_read(
            "whoami",
            read_with(|context: InteractionContext| async move { Ok(describe(&context)) }),
        )
        .unwrap();
    secured
        .on_action(
            "join",
            invoke_with(|_input, context: InteractionContext| async move {
                let principal = context
                    .principal()
                    .ok_or_else(|| HandlerError::Failed("no principal".into()))?;
                Ok(describe_principal(principal))
            }),
        )
        .unwrap();

    let mut basic = ThingBuilder::tool("BasicSecured")
        .id(BASIC_THING)
        .security("basic_sc", SecurityScheme::new(SchemeKind::Basic))
        .property(
            "whoami",
            PropertyAffordance::new(DataSchema::of_type("object")).read_only(),
        )
        .build();
    basic.security = lmos::td::OneOrMany::One("basic_sc".into());
    let basic = servient.expose(basic).unwrap();
    basic
        .on_property_read(
            "whoami",
            read_with(|context: InteractionContext| async move { Ok(describe(&context)) }),
        )
        .unwrap();

    if with_open_thing {
        let open = servient
            .expose(
                ThingBuilder::tool("Open")
                    .id(OPEN_THING)
                    .property(
                        "whoami",
                        PropertyAffordance::new(DataSchema::of_type("object")).read_only(),
                    )
                    .build(),
            )
            .unwrap();
        open.on_property_read(
            "whoami",
            read_with(|context: InteractionContext| async move { Ok(describe(&context)) }),
        )
        .unwrap();
    }
    let addresses = servient.start().await.unwrap();
    Served {
        servient,
        http: format!("http://{}/", addresses.http.unwrap()),
        ws: format!("ws://{}/ws", addresses.ws.unwrap()),
    }
}

async fn http_post(url: &str, presented: &Presented, body: &Value) -> (u16, Vec<String>, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut request = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (name, value) in &presented.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenges = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (status, challenges, response.text().await.unwrap())
}

/// One WebSocket connection with `presented` in its handshake, for several requests.
struct Socket {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Socket {
    async fn open(ws_url: &str, presented: &Presented) -> Result<Socket, u16> {
        let mut request = ws_url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("lmosprotocol"),
        );
        for (name, value) in &presented.headers {
            request.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Socket { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("handshake failed: {other}"),
        }
    }

    async fn request(&mut self, message: Value) -> Value {
        let mut message = message;
        message["messageID"] = json!(uuid::Uuid::new_v4().to_string());
        self.socket
            .send(Frame::Text(message.to_string().into()))
            .await
            .unwrap();
        loop {
            match self.socket.next().await.unwrap().unwrap() {
                Frame::Text(text) => return serde_json::from_str(&text).unwrap(),
                Frame::Ping(_) | Frame::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    async fn read(&mut self, thing: &str, name: &str) -> Value {
        self.request(json!({"thingID": thing, "messageType": "readProperty", "name": name}))
            .await
    }

    async fn invoke(&mut self, thing: &str, action: &str) -> Value {
        self.request(json!({
            "thingID": thing, "messageType": "invokeAction", "action": action, "input": {}
        }))
        .await
    }
}

fn status_of(reply: &Value) -> Option<u16> {
    match &reply["status"] {
        Value::String(text) => text.parse().ok(),
        other => other.as_u64().map(|n| n as u16),
    }
}

/// The tokens of the matrix for `caller`.
struct Tokens {
    right: String,
    wrong_key: String,
    expired: String,
    wrong_audience: String,
}

fn tokens(caller: &Ed25519KeyPair) -> Tokens {
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": caller.key_id()});
    let t = now();
    let claims = |iat: i64, exp: i64| {
        json!({
            "iss": caller.did(), "sub": caller.did(), "aud": DID_THING,
            "iat": iat, "exp": exp, "jti": uuid::Uuid::new_v4().to_string(),
        })
    };
    let intruder = Ed25519KeyPair::generate().unwrap();
    Tokens {
        right: token(caller, DID_THING, &[]),
        // Claims to be the caller, signed by someone else.
        wrong_key: forge(&intruder, header.clone(), claims(t, t + 60)),
        expired: forge(caller, header, claims(t - 400, t - 100)),
        wrong_audience: token(caller, "urn:lmos:test:another-thing", &[]),
    }
}

#[tokio::test]
async fn did_auth_over_http_admits_only_a_fresh_token_for_this_thing() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let caller = Ed25519KeyPair::generate().unwrap();
    let served = serve(&issuer.did(), true).await;
    let url = format!("{}didsecured/properties/temperature", served.http);

    // The TD is public and declares the scheme.
    let (status, _, td) = http_get(&format!("{}didsecured", served.http), &Presented::none()).await;
    assert_eq!(status, 200);
    let td: Value = serde_json::from_str(&td).unwrap();
    assert_eq!(td["securityDefinitions"]["did_auth"]["lmos:didAuth"], true);

    let tokens = tokens(&caller);
    let (status, _, body) = http_get(&url, &Presented::bearer(&tokens.right)).await;
    assert_eq!(status, 200, "right token: {body}");
    assert_eq!(body, "21.5");

    // The same token again is a replay.
    let (status, challenges, body) = http_get(&url, &Presented::bearer(&tokens.right)).await;
    assert_eq!(status, 401, "replayed jti: {body}");
    assert!(body.contains("already used"), "{body}");
    assert!(challenges[0].starts_with("Bearer realm=\"lmos\", error=\"invalid_token\""));

    for (what, presented, needle) in [
        ("missing", Presented::none(), "required"),
        (
            "wrong key",
            Presented::bearer(&tokens.wrong_key),
            "does not verify",
        ),
        ("expired", Presented::bearer(&tokens.expired), "expired"),
        (
            "wrong audience",
            Presented::bearer(&tokens.wrong_audience),
            "not meant for",
        ),
        ("garbage", Presented::bearer("not.a.jwt"), "invalid token"),
        (
            "basic instead",
            Presented::basic("alice", "wonderland"),
            "required",
        ),
    ] {
        let (status, challenges, body) = http_get(&url, &presented).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(!body.contains("21.5"));
        assert!(body.contains(needle), "{what}: {body}");
        assert!(
            challenges
                .iter()
                .any(|c| c.starts_with("Bearer realm=\"lmos\"")),
            "{what}: {challenges:?}"
        );
        // The refusal never repeats the token.
        for (_, value) in &presented.headers {
            let secret = value.rsplit(' ').next().unwrap();
            assert!(!body.contains(secret) && challenges.iter().all(|c| !c.contains(secret)));
        }
    }
    // A wrong-audience token was not used up by the refusal elsewhere: the right thing takes a
    // token minted for it, and the refused ones stay refused.
    let (status, _, _) = http_get(&url, &Presented::bearer(&token(&caller, DID_THING, &[]))).await;
    assert_eq!(status, 200);

    // The handler learns who called.
    let whoami = format!("{}didsecured/properties/whoami", served.http);
    let (status, _, body) =
        http_get(&whoami, &Presented::bearer(&token(&caller, DID_THING, &[]))).await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["scheme"], "did_auth");
    assert_eq!(seen["did"], json!(caller.did()));
    assert_eq!(seen["subject"], json!(caller.did()));
    assert_eq!(seen["credentialTypes"], json!([]));

    // So do handlers of other schemes; an open thing's handler sees no principal.
    let (status, _, body) = http_get(
        &format!("{}basicsecured/properties/whoami", served.http),
        &Presented::basic("alice", "wonderland"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["scheme"], "basic_sc");
    assert_eq!(seen["subject"], "alice");
    assert_eq!(seen["did"], Value::Null);
    let (status, _, body) = http_get(
        &format!("{}open/properties/whoami", served.http),
        &Presented::bearer(&token(&caller, DID_THING, &[])),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "null"));
    served.servient.shutdown().await;
}

#[tokio::test]
async fn did_auth_over_websocket_authenticates_the_connection_once() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let caller = Ed25519KeyPair::generate().unwrap();
    let served = serve(&issuer.did(), true).await;
    let tokens = tokens(&caller);

    // The right token: several requests on one socket, each served, the handler sees the DID.
    let mut socket = Socket::open(&served.ws, &Presented::bearer(&tokens.right))
        .await
        .unwrap();
    let reply = socket.read(DID_THING, "temperature").await;
    assert_eq!(reply["messageType"], "propertyReading", "{reply}");
    assert_eq!(reply["value"], json!(21.5));
    let reply = socket.read(DID_THING, "whoami").await;
    assert_eq!(reply["value"]["did"], json!(caller.did()), "{reply}");
    assert_eq!(reply["value"]["scheme"], "did_auth");
    // The same socket reaches the open thing (no principal there) and is refused by the Basic
    // thing, whose scheme it did not satisfy.
    let reply = socket.read(OPEN_THING, "whoami").await;
    assert_eq!(reply["value"], Value::Null, "{reply}");
    let reply = socket.read(BASIC_THING, "whoami").await;
    assert_eq!(status_of(&reply), Some(401), "{reply}");

    // The token opened one connection: a second one with it is a replay.
    match ws_read(
        &served.ws,
        &Presented::bearer(&tokens.right),
        DID_THING,
        "temperature",
    )
    .await
    {
        WsOutcome::Reply(reply) => {
            assert_eq!(reply["messageType"], "error", "{reply}");
            assert_eq!(status_of(&reply), Some(401));
            assert!(reply.to_string().contains("already used"), "{reply}");
        }
        other => panic!("replay over WS: {other:?}"),
    }
    // The first connection keeps working.
    let reply = socket.read(DID_THING, "temperature").await;
    assert_eq!(reply["value"], json!(21.5), "{reply}");

    for (what, presented) in [
        ("missing", Presented::none()),
        ("wrong key", Presented::bearer(&tokens.wrong_key)),
        ("expired", Presented::bearer(&tokens.expired)),
        ("wrong audience", Presented::bearer(&tokens.wrong_audience)),
    ] {
        // The open thing keeps the handshake open; the message is refused.
        match ws_read(&served.ws, &presented, DID_THING, "temperature").await {
            WsOutcome::Reply(reply) => {
                assert_eq!(reply["messageType"], "error", "{what}: {reply}");
                assert_eq!(status_of(&reply), Some(401), "{what}: {reply}");
                assert!(!reply.to_string().contains("21.5"));
                for (_, value) in &presented.headers {
                    let secret = value.rsplit(' ').next().unwrap();
                    assert!(
                        !reply.to_string().contains(secret),
                        "{what} echoes the token"
                    );
                }
            }
            other => panic!("{what} over WS: {other:?}"),
        }
    }
    served.servient.shutdown().await;
}

#[tokio::test]
async fn a_websocket_handshake_no_thing_would_admit_is_refused() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let caller = Ed25519KeyPair::generate().unwrap();
    let served = serve(&issuer.did(), false).await;
    let tokens = tokens(&caller);
    for (what, presented) in [
        ("missing", Presented::none()),
        ("wrong key", Presented::bearer(&tokens.wrong_key)),
        ("expired", Presented::bearer(&tokens.expired)),
        ("wrong audience", Presented::bearer(&tokens.wrong_audience)),
    ] {
        match Socket::open(&served.ws, &presented).await {
            Err(status) => assert_eq!(status, 401, "{what}"),
            Ok(_) => panic!("{what}: the handshake was accepted"),
        }
    }
    // The right token passes the handshake and is spent there: the socket is served, a second
    // handshake with it is refused.
    let mut socket = Socket::open(&served.ws, &Presented::bearer(&tokens.right))
        .await
        .unwrap();
    let reply = socket.read(DID_THING, "temperature").await;
    assert_eq!(reply["value"], json!(21.5), "{reply}");
    match Socket::open(&served.ws, &Presented::bearer(&tokens.right)).await {
        Err(status) => assert_eq!(status, 401),
        Ok(_) => panic!("a replayed token opened a second connection"),
    }
    served.servient.shutdown().await;
}

#[tokio::test]
async fn credential_requirements_are_enforced_over_http_and_websocket() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let other_issuer = Ed25519KeyPair::generate().unwrap();
    let caller = Ed25519KeyPair::generate().unwrap();
    let stranger = Ed25519KeyPair::generate().unwrap();
    let served = serve(&issuer.did(), true).await;
    let url = format!("{}didsecured/actions/join", served.http);

    let right = membership(&issuer, &caller.did(), GROUP, Some("2100-01-01T00:00:00Z"));
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        ("missing", vec![], GROUP),
        (
            "wrong issuer",
            vec![membership(&other_issuer, &caller.did(), GROUP, None)],
            GROUP,
        ),
        (
            "wrong type",
            vec![membership(&issuer, &caller.did(), "OtherCredential", None)],
            GROUP,
        ),
        (
            "expired",
            vec![membership(
                &issuer,
                &caller.did(),
                GROUP,
                Some("2020-01-01T00:00:00Z"),
            )],
            "expired",
        ),
        (
            "about someone else",
            vec![membership(&issuer, &stranger.did(), GROUP, None)],
            "not about the caller",
        ),
    ];

    // Right: the handler sees the credential.
    let (status, _, body) = http_post(
        &url,
        &Presented::bearer(&token(&caller, DID_THING, std::slice::from_ref(&right))),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "right credential: {body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["did"], json!(caller.did()));
    assert_eq!(seen["credentialTypes"], json!([GROUP]));

    for (what, credentials, needle) in &cases {
        let presented = Presented::bearer(&token(&caller, DID_THING, credentials));
        let (status, _, body) = http_post(&url, &presented, &json!({})).await;
        assert_eq!(status, 403, "{what} over HTTP: {body}");
        assert!(body.contains(needle), "{what}: {body}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], 403);
        // Affordances without a requirement stay open to the authenticated caller, unless the
        // token carries a credential that does not verify.
        let presented = Presented::bearer(&token(&caller, DID_THING, credentials));
        let (status, _, _) = http_get(
            &format!("{}didsecured/properties/temperature", served.http),
            &presented,
        )
        .await;
        let broken = matches!(*what, "expired" | "about someone else");
        assert_eq!(status, if broken { 403 } else { 200 }, "{what}");

        let mut socket = Socket::open(
            &served.ws,
            &Presented::bearer(&token(&caller, DID_THING, credentials)),
        )
        .await
        .unwrap();
        let reply = socket.invoke(DID_THING, "join").await;
        assert_eq!(reply["messageType"], "error", "{what} over WS: {reply}");
        assert_eq!(status_of(&reply), Some(403), "{what} over WS: {reply}");
    }

    let mut socket = Socket::open(
        &served.ws,
        &Presented::bearer(&token(&caller, DID_THING, std::slice::from_ref(&right))),
    )
    .await
    .unwrap();
    let reply = socket.invoke(DID_THING, "join").await;
    assert_eq!(reply["messageType"], "actionStatus", "{reply}");
    assert_eq!(
        reply["output"]["credentialTypes"],
        json!([GROUP]),
        "{reply}"
    );
    // A second invocation on the same socket is served too.
    let reply = socket.invoke(DID_THING, "join").await;
    assert_eq!(reply["output"]["did"], json!(caller.did()), "{reply}");
    served.servient.shutdown().await;
}

#[tokio::test]
async fn consumers_mint_a_fresh_token_per_request_and_present_what_the_td_asks_for() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let caller = Ed25519KeyPair::generate().unwrap();
    let served = serve(&issuer.did(), false).await;
    let right = membership(&issuer, &caller.did(), GROUP, None);
    // A credential the TD does not ask for is not shown to the thing.
    let unrelated = membership(&issuer, &caller.did(), "DrivingLicence", None);

    for protocol in ["http", "ws"] {
        let store = CredentialStore::new();
        store.insert(
            DID_THING,
            Credentials::new().did_auth(
                DidAuthCredential::new(caller.clone())
                    .credential(right.clone())
                    .credential(unrelated.clone()),
            ),
        );
        let options = ConsumeOptions {
            protocols: vec![protocol.into()],
            credentials: Some(store),
            ..ConsumeOptions::default()
        };
        let consumed = ConsumedThing::from_url(&format!("{}didsecured", served.http), options)
            .await
            .unwrap();
        for _ in 0..3 {
            let value = consumed.read_property("temperature").await.unwrap();
            assert_eq!(value, json!(21.5), "{protocol}");
        }
        let seen = consumed.read_property("whoami").await.unwrap();
        assert_eq!(seen["did"], json!(caller.did()), "{protocol}");
        let seen = consumed.invoke_action("join", json!({})).await.unwrap();
        assert_eq!(
            seen["credentialTypes"],
            json!([GROUP]),
            "{protocol}: {seen}"
        );

        // Without the membership, the action is refused (and the rest still works).
        let store = CredentialStore::new();
        store.insert(
            DID_THING,
            Credentials::new().did_auth(DidAuthCredential::new(caller.clone())),
        );
        let options = ConsumeOptions {
            protocols: vec![protocol.into()],
            credentials: Some(store),
            ..ConsumeOptions::default()
        };
        let consumed = ConsumedThing::from_url(&format!("{}didsecured", served.http), options)
            .await
            .unwrap();
        assert_eq!(
            consumed.read_property("temperature").await.unwrap(),
            json!(21.5)
        );
        match consumed.invoke_action("join", json!({})).await {
            Err(ThingError::Remote { status, .. }) => assert_eq!(status, 403, "{protocol}"),
            other => panic!("{protocol}: join without the membership: {other:?}"),
        }
    }
    served.servient.shutdown().await;
}

#[test]
fn a_thing_whose_did_auth_or_credential_requirements_cannot_be_enforced_is_not_exposed() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let expose = |verifier: Verifier, thing: lmos::td::Thing| {
        Servient::builder()
            .verifier(verifier)
            .build()
            .unwrap()
            .expose(thing)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };

    // No DID-auth configuration.
    let error = expose(
        Verifier::builder()
            .basic(BasicUsers::new().user("a", "b"))
            .build(),
        did_thing(&issuer.did()),
    );
    assert!(error.contains("no DID-auth configuration"), "{error}");

    // No id: a token could not name the thing.
    let mut thing = did_thing(&issuer.did());
    thing.id = None;
    let error = expose(did_verifier(), thing);
    assert!(error.contains("have an id"), "{error}");

    // A credential requirement where no DID-auth token can present credentials.
    let mut thing = did_thing(&issuer.did());
    thing
        .security_definitions
        .insert("basic_sc".into(), SecurityScheme::new(SchemeKind::Basic));
    thing.security = lmos::td::OneOrMany::One("basic_sc".into());
    let error = expose(did_verifier(), thing);
    assert!(error.contains("needs DID-auth"), "{error}");

    // A malformed requirement.
    let mut thing = did_thing(&issuer.did());
    thing
        .actions
        .get_mut("join")
        .unwrap()
        .extra
        .insert("lmos:requiredCredentials".into(), json!(42));
    let error = expose(did_verifier(), thing);
    assert!(error.contains("lmos:requiredCredentials"), "{error}");
}

#[tokio::test]
async fn thing_wide_requirements_and_operations_on_many_affordances_require_every_credential() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let caller = Ed25519KeyPair::generate().unwrap();
    let requirement = json!([{"type": GROUP, "issuer": issuer.did()}]);
    // `temperature` requires the membership; readallproperties reads it too, so it requires it.
    let mut thing = did_thing(&issuer.did());
    thing
        .properties
        .get_mut("temperature")
        .unwrap()
        .schema
        .extra
        .insert("lmos:requiredCredentials".into(), requirement.clone());
    let servient = Servient::builder()
        .http_port(0)
        .verifier(did_verifier())
        .build()
        .unwrap();
    let exposed = servient.expose(thing).unwrap();
    exposed.set_property("temperature", json!(21.5)).unwrap();
    exposed.set_property("whoami", json!({})).unwrap();
    // A thing-wide requirement covers every affordance.
    let mut wide = ThingBuilder::tool("Wide")
        .id("urn:lmos:test:wide")
        .security("did_auth", security_scheme())
        .property(
            "level",
            PropertyAffordance::new(DataSchema::of_type("number")).read_only(),
        )
        .build();
    wide.security = lmos::td::OneOrMany::One("did_auth".into());
    wide.extra
        .insert("lmos:requiredCredentials".into(), requirement.clone());
    let wide = servient.expose(wide).unwrap();
    wide.set_property("level", json!(3)).unwrap();
    let addresses = servient.start().await.unwrap();
    let http = format!("http://{}/", addresses.http.unwrap());
    let ws = format!("ws://{}/ws", addresses.ws.unwrap());

    let member = membership(&issuer, &caller.did(), GROUP, None);
    let with = |audience: &str| token(&caller, audience, std::slice::from_ref(&member));
    let without = |audience: &str| token(&caller, audience, &[]);
    for (url, audience) in [
        (
            format!("{http}didsecured/properties/temperature"),
            DID_THING,
        ),
        (format!("{http}didsecured/properties"), DID_THING),
        (format!("{http}wide/properties/level"), "urn:lmos:test:wide"),
        (format!("{http}wide/properties"), "urn:lmos:test:wide"),
    ] {
        let (status, _, body) = http_get(&url, &Presented::bearer(&without(audience))).await;
        assert_eq!(status, 403, "{url} without the membership: {body}");
        assert!(!body.contains("21.5"), "{body}");
        let (status, _, body) = http_get(&url, &Presented::bearer(&with(audience))).await;
        assert_eq!(status, 200, "{url} with the membership: {body}");
    }
    // whoami requires nothing of its own here.
    let (status, _, _) = http_get(
        &format!("{http}didsecured/properties/whoami"),
        &Presented::bearer(&without(DID_THING)),
    )
    .await;
    assert_eq!(status, 200);

    let mut socket = Socket::open(&ws, &Presented::bearer(&without(DID_THING)))
        .await
        .unwrap();
    let reply = socket
        .request(json!({"thingID": DID_THING, "messageType": "readAllProperties"}))
        .await;
    assert_eq!(status_of(&reply), Some(403), "{reply}");
    let reply = socket.read(DID_THING, "whoami").await;
    assert_eq!(reply["messageType"], "propertyReading", "{reply}");
    let mut socket = Socket::open(&ws, &Presented::bearer(&with(DID_THING)))
        .await
        .unwrap();
    let reply = socket
        .request(json!({"thingID": DID_THING, "messageType": "readAllProperties"}))
        .await;
    assert_eq!(reply["messageType"], "propertyReadings", "{reply}");
    // That socket's token names one thing; the other refuses it.
    let reply = socket.read("urn:lmos:test:wide", "level").await;
    assert_eq!(status_of(&reply), Some(401), "{reply}");

    // A token naming both things (`aud` as an array) serves one socket for both.
    let t = now();
    let both = forge(
        &caller,
        json!({"alg": "EdDSA", "typ": "JWT", "kid": caller.key_id()}),
        json!({
            "iss": caller.did(), "aud": [DID_THING, "urn:lmos:test:wide"],
            "iat": t, "exp": t + 60, "jti": uuid::Uuid::new_v4().to_string(),
            "credentials": [member],
        }),
    );
    let mut socket = Socket::open(&ws, &Presented::bearer(&both)).await.unwrap();
    for _ in 0..2 {
        let reply = socket.read("urn:lmos:test:wide", "level").await;
        assert_eq!(reply["value"], json!(3), "{reply}");
        let reply = socket.read(DID_THING, "temperature").await;
        assert_eq!(reply["value"], json!(21.5), "{reply}");
    }
    servient.shutdown().await;
}

#[tokio::test]
async fn a_did_web_caller_is_resolved_with_the_servient_s_json_options() {
    use lmos::identity::{did_web, DidDocument};
    use lmos::security::VerifierOptions;
    // The caller: an agent whose did:web document is served on loopback.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let agent = Servient::builder().http_port(0).build().unwrap();
    let addresses = agent.start().await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", addresses.http.unwrap())).unwrap();
    let did = did_web::did_for_url(&base).unwrap();
    let key = Ed25519KeyPair::generate()
        .unwrap()
        .with_key_id(format!("{did}#key-1"));
    agent.serve_did_document(DidDocument::for_agent(&did, &key.public_key(), None));

    let issuer = Ed25519KeyPair::generate().unwrap();
    let serve_with = |options: Value| {
        let issuer = issuer.did();
        async move {
            let verifier = VerifierOptions::from_json(&options)
                .unwrap()
                .build()
                .unwrap();
            let servient = Servient::builder()
                .http_port(0)
                .verifier(verifier)
                .build()
                .unwrap();
            let exposed = servient.expose(did_thing(&issuer)).unwrap();
            exposed
                .on_property_read(
                    "whoami",
                    read_with(|context: InteractionContext| async move { Ok(describe(&context)) }),
                )
                .unwrap();
            let addresses = servient.start().await.unwrap();
            (servient, format!("http://{}/", addresses.http.unwrap()))
        }
    };

    // The consumer's key comes from JSON too (a private JWK whose kid is the did:web method).
    let jwk: Value = serde_json::from_str(&key.to_private_jwk()).unwrap();
    let store =
        CredentialStore::from_json(&json!({ DID_THING: {"didAuth": {"key": jwk}} })).unwrap();
    let options = ConsumeOptions {
        protocols: vec!["http".into()],
        credentials: Some(store),
        ..ConsumeOptions::default()
    };

    let (servient, http) = serve_with(json!({
        "didAuth": {"resolver": {"allowHttpLoopback": true}, "leewayMs": 10000}
    }))
    .await;
    let consumed = ConsumedThing::from_url(&format!("{http}didsecured"), options.clone())
        .await
        .unwrap();
    let seen = consumed.read_property("whoami").await.unwrap();
    assert_eq!(seen["did"], json!(did), "{seen}");
    servient.shutdown().await;

    // By default did:web is resolved over HTTPS only: the loopback document is not fetched over
    // plain http, so the caller is refused.
    let (servient, http) = serve_with(json!({"didAuth": {}})).await;
    let consumed = ConsumedThing::from_url(&format!("{http}didsecured"), options)
        .await
        .unwrap();
    match consumed.read_property("whoami").await {
        Err(ThingError::Remote { status, .. }) => assert_eq!(status, 401),
        other => panic!("did:web over plain http by default: {other:?}"),
    }
    servient.shutdown().await;
    agent.shutdown().await;
}

/// A DID-auth WebSocket consumer survives a server restart: each reconnection presents a fresh
/// token (the first one's `jti` is spent), and reads work again on the new connection.
#[tokio::test]
async fn a_did_auth_websocket_consumer_reconnects_with_a_fresh_token() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let caller = Ed25519KeyPair::generate().unwrap();
    let start = |port: u16, generation: u8| {
        let issuer = issuer.did();
        async move {
            let servient = Servient::builder()
                .http_port(port)
                .verifier(did_verifier())
                .build()
                .unwrap();
            let secured = servient.expose(did_thing(&issuer)).unwrap();
            secured
                .set_property("temperature", json!(generation))
                .unwrap();
            let address = servient.start().await.unwrap().http.unwrap();
            (servient, address)
        }
    };
    let (first, address) = start(0, 1).await;
    let store = CredentialStore::new();
    store.insert(
        DID_THING,
        Credentials::new().did_auth(DidAuthCredential::new(caller.clone())),
    );
    let options = ConsumeOptions {
        protocols: vec!["ws".into()],
        only_protocols: true,
        credentials: Some(store),
        ..ConsumeOptions::default()
    };
    let consumed = ConsumedThing::from_url(&format!("http://{address}/didsecured"), options)
        .await
        .unwrap();
    let port = address.port();
    assert_eq!(
        consumed.read_property("temperature").await.unwrap(),
        json!(1)
    );
    first.shutdown().await;
    let (second, _) = start(port, 2).await;
    // The client notices the broken connection and reconnects with backoff; until then reads
    // fail with a transport error, never with a 401.
    let mut last = None;
    for _ in 0..100 {
        match consumed.read_property("temperature").await {
            Ok(value) => {
                last = Some(Ok(value));
                break;
            }
            Err(ThingError::Remote { status, .. }) => {
                panic!("refused with {status} after reconnecting")
            }
            Err(other) => last = Some(Err(other)),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.unwrap().unwrap(), json!(2));
    second.shutdown().await;
}
