//! Shared by the security tests: keys generated at test time, JWT signing, and the authorization
//! server a deployment would run (JWKS, RFC 7662 introspection, OAuth2 token endpoint), served on
//! 127.0.0.1:0.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message as Frame;

pub const HMAC_SECRET: &[u8] = b"hmac secret for the tests, 32+ bytes long";
pub const OTHER_HMAC_SECRET: &[u8] = b"another secret nobody configured!!";
pub const OAUTH_SECRET: &[u8] = b"the authorization server's signing secret";
pub const AUDIENCE: &str = "weather";
pub const RS_CLIENT: &str = "resource-server";
pub const RS_SECRET: &str = "rs-introspection-secret-7781";
pub const CLIENT_ID: &str = "agent-client";
pub const CLIENT_SECRET: &str = "client-secret-5519";

pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Asymmetric keys, generated once per test binary.
pub struct Keys {
    pub rsa_private_pem: String,
    pub rsa_public_pem: String,
    pub rsa_jwk: Value,
    pub ec_private_pem: String,
    pub ec_jwk: Value,
    pub ed_private_pem: String,
    pub ed_jwk: Value,
    /// An EC key the JWKS does not list.
    pub stray_ec_private_pem: String,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        use rsa::traits::PublicKeyParts;
        let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let public = rsa.to_public_key();
        let rsa_jwk = json!({
            "kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
            "n": b64url(&public.n().to_bytes_be()),
            "e": b64url(&public.e().to_bytes_be()),
        });
        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let point = ec.public_key_raw();
        let ec_jwk = json!({
            "kty": "EC", "kid": "ec-1", "crv": "P-256", "alg": "ES256",
            "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
        });
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let ed_jwk = json!({
            "kty": "OKP", "kid": "ed-1", "crv": "Ed25519", "alg": "EdDSA",
            "x": b64url(ed.public_key_raw()),
        });
        let stray = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Keys {
            rsa_private_pem: rsa.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            rsa_public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
            rsa_jwk,
            ec_private_pem: ec.serialize_pem(),
            ec_jwk,
            ed_private_pem: ed.serialize_pem(),
            ed_jwk,
            stray_ec_private_pem: stray.serialize_pem(),
        }
    })
}

/// Claims valid for ten minutes for [`AUDIENCE`].
pub fn claims(scope: &str) -> Value {
    json!({"sub": "agent-7", "aud": AUDIENCE, "iss": "https://issuer.test", "exp": now() + 600, "iat": now(), "scope": scope})
}

pub fn expired_claims() -> Value {
    json!({"sub": "agent-7", "aud": AUDIENCE, "exp": now() - 3600, "iat": now() - 7200})
}

pub fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

pub fn hs256(secret: &[u8], claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(secret),
        claims,
    )
}

pub fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(keys().rsa_private_pem.as_bytes()).unwrap();
    sign(Algorithm::RS256, Some("rsa-1"), &key, claims)
}

pub fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(keys().ec_private_pem.as_bytes()).unwrap();
    sign(Algorithm::ES256, Some("ec-1"), &key, claims)
}

pub fn es256_stray(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(keys().stray_ec_private_pem.as_bytes()).unwrap();
    sign(Algorithm::ES256, Some("ec-1"), &key, claims)
}

pub fn eddsa(claims: &Value) -> String {
    let key = EncodingKey::from_ed_pem(keys().ed_private_pem.as_bytes()).unwrap();
    sign(Algorithm::EdDSA, Some("ed-1"), &key, claims)
}

/// The authorization server of the tests.
pub struct AuthServer {
    pub base: String,
    pub jwks_fetches: Arc<AtomicUsize>,
    pub token_fetches: Arc<AtomicUsize>,
    pub introspections: Arc<AtomicUsize>,
    /// Keys the JWKS lists besides the three of [`keys`] (for key rotation).
    pub extra_keys: Arc<std::sync::Mutex<Vec<Value>>>,
}

#[derive(Clone)]
struct AuthState {
    jwks_fetches: Arc<AtomicUsize>,
    token_fetches: Arc<AtomicUsize>,
    introspections: Arc<AtomicUsize>,
    token_lifetime: u64,
    extra_keys: Arc<std::sync::Mutex<Vec<Value>>>,
}

fn basic_of(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn form_of(body: &str) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

async fn jwks(State(state): State<AuthState>) -> impl IntoResponse {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys = keys();
    let mut list = vec![
        keys.rsa_jwk.clone(),
        keys.ec_jwk.clone(),
        keys.ed_jwk.clone(),
    ];
    list.extend(state.extra_keys.lock().unwrap().iter().cloned());
    axum::Json(json!({"keys": list}))
}

async fn introspect(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    state.introspections.fetch_add(1, Ordering::SeqCst);
    if basic_of(&headers) != Some((RS_CLIENT.to_owned(), RS_SECRET.to_owned())) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let form = form_of(&body);
    let answer = match form.get("token").map(String::as_str) {
        Some("opaque-good") => {
            json!({"active": true, "scope": "read", "sub": "agent-7", "aud": AUDIENCE, "exp": now() + 600})
        }
        Some("opaque-expired") => json!({"active": true, "aud": AUDIENCE, "exp": now() - 3600}),
        Some("opaque-other-audience") => {
            json!({"active": true, "aud": "billing", "exp": now() + 600})
        }
        _ => json!({"active": false}),
    };
    axum::Json(answer).into_response()
}

async fn token(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    if basic_of(&headers) != Some((CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "bad client"})),
        )
            .into_response();
    }
    let form = form_of(&body);
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let n = state.token_fetches.fetch_add(1, Ordering::SeqCst);
    let scope = form.get("scope").cloned().unwrap_or_default();
    let claims = json!({"sub": CLIENT_ID, "aud": AUDIENCE, "exp": now() + state.token_lifetime, "scope": scope, "n": n});
    axum::Json(json!({
        "access_token": hs256(OAUTH_SECRET, &claims),
        "token_type": "Bearer",
        "expires_in": state.token_lifetime,
    }))
    .into_response()
}

/// Starts the authorization server; issued tokens live `token_lifetime` seconds.
pub async fn auth_server(token_lifetime: u64) -> AuthServer {
    let state = AuthState {
        jwks_fetches: Arc::new(AtomicUsize::new(0)),
        token_fetches: Arc::new(AtomicUsize::new(0)),
        introspections: Arc::new(AtomicUsize::new(0)),
        token_lifetime,
        extra_keys: Arc::new(std::sync::Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .route("/jwks", get(jwks))
        .route("/introspect", post(introspect))
        .route("/token", post(token))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    AuthServer {
        base: format!("http://{address}"),
        jwks_fetches: state.jwks_fetches,
        token_fetches: state.token_fetches,
        introspections: state.introspections,
        extra_keys: state.extra_keys,
    }
}

/// What a request presents: headers and query parameters.
#[derive(Debug, Clone, Default)]
pub struct Presented {
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
}

impl Presented {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn header(name: &str, value: &str) -> Self {
        Presented {
            headers: vec![(name.to_owned(), value.to_owned())],
            query: Vec::new(),
        }
    }

    pub fn query(name: &str, value: &str) -> Self {
        Presented {
            headers: Vec::new(),
            query: vec![(name.to_owned(), value.to_owned())],
        }
    }

    pub fn bearer(token: &str) -> Self {
        Self::header("Authorization", &format!("Bearer {token}"))
    }

    pub fn basic(user: &str, password: &str) -> Self {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self::header("Authorization", &format!("Basic {encoded}"))
    }

    pub fn and(mut self, other: Presented) -> Self {
        self.headers.extend(other.headers);
        self.query.extend(other.query);
        self
    }

    fn url(&self, base: &str) -> String {
        let mut url = url::Url::parse(base).unwrap();
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &self.query {
                pairs.append_pair(k, v);
            }
        }
        url.to_string()
    }
}

/// A plain HTTP GET with what `presented` carries: (status, WWW-Authenticate values, body).
pub async fn http_get(url: &str, presented: &Presented) -> (u16, Vec<String>, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut request = client.get(presented.url(url));
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

/// The outcome of a WebSocket `readProperty`.
#[derive(Debug)]
pub enum WsOutcome {
    /// The handshake was refused with this HTTP status.
    Refused(u16),
    /// The reply message.
    Reply(Value),
}

/// Opens a WebSocket to `ws_url` with `presented` in the handshake and sends one readProperty.
pub async fn ws_read(ws_url: &str, presented: &Presented, thing_id: &str, name: &str) -> WsOutcome {
    let mut request = presented.url(ws_url).into_client_request().unwrap();
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
    let (mut socket, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(ok) => ok,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            return WsOutcome::Refused(response.status().as_u16())
        }
        Err(other) => panic!("handshake failed: {other}"),
    };
    let message = json!({
        "thingID": thing_id,
        "messageID": uuid::Uuid::new_v4().to_string(),
        "messageType": "readProperty",
        "name": name,
    });
    socket
        .send(Frame::Text(message.to_string().into()))
        .await
        .unwrap();
    loop {
        match socket.next().await.unwrap().unwrap() {
            Frame::Text(text) => return WsOutcome::Reply(serde_json::from_str(&text).unwrap()),
            Frame::Ping(_) | Frame::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}
