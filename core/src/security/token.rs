//! Bearer and OAuth2 access tokens: JWTs verified with static keys or a JWKS document (fetched,
//! cached, fetched again for an unknown `kid`), or opaque tokens checked at an RFC 7662
//! introspection endpoint.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::{Secret, SecurityError};
use crate::thing::{read_lock, write_lock};

/// A verification key for JWTs.
#[derive(Clone)]
pub struct JwtKey {
    kid: Option<String>,
    key: DecodingKey,
    family: Family,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

fn family_of(alg: Algorithm) -> Family {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
        Algorithm::EdDSA => Family::Ed,
        _ => Family::Rsa,
    }
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .finish()
    }
}

impl JwtKey {
    /// An HMAC secret (HS256).
    pub fn hmac(secret: &[u8]) -> Self {
        JwtKey {
            kid: None,
            key: DecodingKey::from_secret(secret),
            family: Family::Hmac,
        }
    }

    /// An RSA public key in PEM (RS256).
    pub fn rsa_pem(pem: &[u8]) -> Result<Self, SecurityError> {
        Ok(JwtKey {
            kid: None,
            key: DecodingKey::from_rsa_pem(pem)
                .map_err(|_| SecurityError::InvalidKey("not an RSA public key in PEM".into()))?,
            family: Family::Rsa,
        })
    }

    /// A P-256 public key in PEM (ES256).
    pub fn ec_pem(pem: &[u8]) -> Result<Self, SecurityError> {
        Ok(JwtKey {
            kid: None,
            key: DecodingKey::from_ec_pem(pem)
                .map_err(|_| SecurityError::InvalidKey("not an EC public key in PEM".into()))?,
            family: Family::Ec,
        })
    }

    /// An Ed25519 public key in PEM (EdDSA).
    pub fn ed25519_pem(pem: &[u8]) -> Result<Self, SecurityError> {
        Ok(JwtKey {
            kid: None,
            key: DecodingKey::from_ed_pem(pem).map_err(|_| {
                SecurityError::InvalidKey("not an Ed25519 public key in PEM".into())
            })?,
            family: Family::Ed,
        })
    }

    /// A public key as a JWK (RSA, EC P-256, OKP Ed25519); its `kid` is kept.
    pub fn from_jwk(jwk: &Value) -> Result<Self, SecurityError> {
        let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone())
            .map_err(|e| SecurityError::InvalidKey(format!("not a JWK: {e}")))?;
        Self::from_parsed_jwk(&parsed)
    }

    fn from_parsed_jwk(jwk: &jsonwebtoken::jwk::Jwk) -> Result<Self, SecurityError> {
        use jsonwebtoken::jwk::AlgorithmParameters;
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Family::Rsa,
            AlgorithmParameters::EllipticCurve(_) => Family::Ec,
            AlgorithmParameters::OctetKeyPair(_) => Family::Ed,
            AlgorithmParameters::OctetKey(_) => Family::Hmac,
        };
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| SecurityError::InvalidKey(format!("unusable JWK: {e}")))?;
        Ok(JwtKey {
            kid: jwk.common.key_id.clone(),
            key,
            family,
        })
    }

    /// The same key with a key id (`kid`) tokens name it by.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }
}

/// What a valid token says.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenInfo {
    pub(crate) subject: Option<String>,
    pub(crate) scopes: Vec<String>,
}

/// Why a token was not accepted (reasons contain no token material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenRejection {
    /// The token is not valid: 401.
    Invalid(&'static str),
    /// The validator could not decide (key set or introspection endpoint unreachable): 503.
    Unavailable(&'static str),
}

struct Jwks {
    url: String,
    keys: RwLock<Vec<JwtKey>>,
    fetched: tokio::sync::Mutex<Option<Instant>>,
    min_refetch: Duration,
}

struct Introspection {
    url: String,
    client_id: String,
    client_secret: Secret,
}

enum Source {
    Keys(Vec<JwtKey>),
    Jwks(Jwks),
    Introspection(Introspection),
}

struct ValidatorInner {
    source: Source,
    audience: Option<Vec<String>>,
    issuer: Option<Vec<String>>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    http: reqwest::Client,
}

/// Validates access tokens for `bearer` and `oauth2` schemes: `exp` (required for JWTs) and
/// `nbf` with a small leeway (default 30 s), the signature algorithm against an allow-list
/// (default HS256, RS256, ES256, EdDSA; a key only verifies its own family), and `aud` / `iss`
/// when configured.
#[derive(Clone)]
pub struct TokenValidator {
    inner: Arc<ValidatorInner>,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.inner.source {
            Source::Keys(keys) => format!("{} static keys", keys.len()),
            Source::Jwks(jwks) => format!("JWKS {}", jwks.url),
            Source::Introspection(i) => format!("introspection {}", i.url),
        };
        f.debug_struct("TokenValidator")
            .field("source", &source)
            .field("audience", &self.inner.audience)
            .field("issuer", &self.inner.issuer)
            .finish()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn scopes_of(claims: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for member in ["scope", "scp"] {
        match claims.get(member) {
            Some(Value::String(text)) => out.extend(text.split_whitespace().map(str::to_owned)),
            Some(Value::Array(items)) => {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
            }
            _ => {}
        }
    }
    out
}

impl TokenValidator {
    fn with_source(source: Source) -> Self {
        TokenValidator {
            inner: Arc::new(ValidatorInner {
                source,
                audience: None,
                issuer: None,
                algorithms: vec![
                    Algorithm::HS256,
                    Algorithm::RS256,
                    Algorithm::ES256,
                    Algorithm::EdDSA,
                ],
                leeway: Duration::from_secs(30),
                http: super::tls::http_client(None).unwrap_or_default(),
            }),
        }
    }

    fn edit(mut self, change: impl FnOnce(&mut ValidatorInner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => change(inner),
            None => {
                // Unreachable in practice (the builder methods run before sharing); rebuild.
                let inner = &self.inner;
                let mut copy = ValidatorInner {
                    source: match &inner.source {
                        Source::Keys(keys) => Source::Keys(keys.clone()),
                        Source::Jwks(j) => Source::Jwks(Jwks {
                            url: j.url.clone(),
                            keys: RwLock::new(read_lock(&j.keys).clone()),
                            fetched: tokio::sync::Mutex::new(None),
                            min_refetch: j.min_refetch,
                        }),
                        Source::Introspection(i) => Source::Introspection(Introspection {
                            url: i.url.clone(),
                            client_id: i.client_id.clone(),
                            client_secret: i.client_secret.clone(),
                        }),
                    },
                    audience: inner.audience.clone(),
                    issuer: inner.issuer.clone(),
                    algorithms: inner.algorithms.clone(),
                    leeway: inner.leeway,
                    http: inner.http.clone(),
                };
                change(&mut copy);
                self.inner = Arc::new(copy);
            }
        }
        self
    }

    /// JWTs signed with one of these keys.
    pub fn keys(keys: Vec<JwtKey>) -> Self {
        Self::with_source(Source::Keys(keys))
    }

    /// JWTs signed with an HMAC secret (HS256).
    pub fn hmac(secret: &[u8]) -> Self {
        Self::keys(vec![JwtKey::hmac(secret)])
    }

    /// JWTs signed with a key of the JWKS document at `url` (fetched on first use, cached, and
    /// fetched again when a token names an unknown `kid`, at most once per 10 s by default).
    pub fn jwks(url: impl Into<String>) -> Self {
        Self::with_source(Source::Jwks(Jwks {
            url: url.into(),
            keys: RwLock::new(Vec::new()),
            fetched: tokio::sync::Mutex::new(None),
            min_refetch: Duration::from_secs(10),
        }))
    }

    /// Opaque (or any) tokens checked at an RFC 7662 introspection endpoint, which this server
    /// authenticates to with HTTP Basic as `client_id`.
    pub fn introspection(
        url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        Self::with_source(Source::Introspection(Introspection {
            url: url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }))
    }

    /// Accept only tokens whose `aud` names this audience (may be called again to accept more).
    pub fn audience(self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        self.edit(|inner| inner.audience.get_or_insert_with(Vec::new).push(audience))
    }

    /// Accept only tokens from this issuer (`iss`; may be called again to accept more).
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        self.edit(|inner| inner.issuer.get_or_insert_with(Vec::new).push(issuer))
    }

    /// The signature algorithms accepted (default HS256, RS256, ES256, EdDSA).
    pub fn algorithms(self, algorithms: &[Algorithm]) -> Self {
        let algorithms = algorithms.to_vec();
        self.edit(|inner| inner.algorithms = algorithms)
    }

    /// Clock skew allowed on `exp` and `nbf` (default 30 s).
    pub fn leeway(self, leeway: Duration) -> Self {
        self.edit(|inner| inner.leeway = leeway)
    }

    /// The shortest pause between two JWKS fetches (default 10 s).
    pub fn jwks_min_refetch(self, pause: Duration) -> Self {
        self.edit(|inner| {
            if let Source::Jwks(jwks) = &mut inner.source {
                jwks.min_refetch = pause;
            }
        })
    }

    /// Also trust this CA (PEM) when fetching the JWKS or calling the introspection endpoint.
    pub fn extra_ca_pem(self, pem: &str) -> Result<Self, SecurityError> {
        let http = super::tls::http_client(Some(pem))?;
        Ok(self.edit(|inner| inner.http = http))
    }

    /// Checks `token`.
    pub(crate) async fn validate(&self, token: &str) -> Result<TokenInfo, TokenRejection> {
        match &self.inner.source {
            Source::Keys(keys) => self.validate_jwt(token, keys),
            Source::Jwks(jwks) => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|_| TokenRejection::Invalid("the token is not a well-formed JWT"))?;
                let known = {
                    let keys = read_lock(&jwks.keys);
                    !keys.is_empty()
                        && header
                            .kid
                            .as_ref()
                            .is_none_or(|kid| keys.iter().any(|k| k.kid.as_ref() == Some(kid)))
                };
                if !known {
                    self.refresh_jwks(jwks).await?;
                }
                let keys = read_lock(&jwks.keys).clone();
                self.validate_jwt(token, &keys)
            }
            Source::Introspection(endpoint) => self.introspect(endpoint, token).await,
        }
    }

    async fn refresh_jwks(&self, jwks: &Jwks) -> Result<(), TokenRejection> {
        let mut fetched = jwks.fetched.lock().await;
        if let Some(at) = *fetched {
            if at.elapsed() < jwks.min_refetch {
                // Fetched a moment ago (perhaps by a concurrent request): use what is there.
                return Ok(());
            }
        }
        *fetched = Some(Instant::now());
        let response = self
            .inner
            .http
            .get(&jwks.url)
            .header(
                reqwest::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .send()
            .await
            .map_err(|_| TokenRejection::Unavailable("the key set could not be fetched"))?;
        if !response.status().is_success() {
            return Err(TokenRejection::Unavailable(
                "the key set could not be fetched",
            ));
        }
        let body = response
            .bytes()
            .await
            .map_err(|_| TokenRejection::Unavailable("the key set could not be fetched"))?;
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|_| TokenRejection::Unavailable("the key set is not a JWKS document"))?;
        let keys: Vec<JwtKey> = set
            .keys
            .iter()
            .filter_map(|jwk| JwtKey::from_parsed_jwk(jwk).ok())
            .collect();
        *write_lock(&jwks.keys) = keys;
        Ok(())
    }

    fn validate_jwt(&self, token: &str, keys: &[JwtKey]) -> Result<TokenInfo, TokenRejection> {
        use jsonwebtoken::errors::ErrorKind;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenRejection::Invalid("the token is not a well-formed JWT"))?;
        if !self.inner.algorithms.contains(&header.alg) {
            return Err(TokenRejection::Invalid(
                "the token's algorithm is not accepted",
            ));
        }
        let family = family_of(header.alg);
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.inner.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_exp = true;
        let mut required = vec!["exp"];
        match &self.inner.audience {
            Some(audience) => {
                validation.set_audience(audience);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &self.inner.issuer {
            validation.set_issuer(issuer);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        let candidates = keys.iter().filter(|key| {
            key.family == family
                && match (&header.kid, &key.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    _ => true,
                }
        });
        let mut outcome = Err(TokenRejection::Invalid("no key verifies the token"));
        for key in candidates {
            match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
                Ok(data) => {
                    return Ok(TokenInfo {
                        subject: data
                            .claims
                            .get("sub")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        scopes: scopes_of(&data.claims),
                    })
                }
                Err(error) => {
                    let reason = match error.kind() {
                        ErrorKind::InvalidSignature => "the signature does not verify",
                        ErrorKind::ExpiredSignature => "the token has expired",
                        ErrorKind::ImmatureSignature => "the token is not valid yet",
                        ErrorKind::InvalidAudience => "the token is meant for another audience",
                        ErrorKind::InvalidIssuer => "the token comes from another issuer",
                        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
                        _ => "the token is not a well-formed JWT",
                    };
                    outcome = Err(TokenRejection::Invalid(reason));
                    // A wrong signature may be another key's token: try the next one. Any
                    // other failure concerns the claims, which no other key changes.
                    if !matches!(error.kind(), ErrorKind::InvalidSignature) {
                        return outcome;
                    }
                }
            }
        }
        outcome
    }

    async fn introspect(
        &self,
        endpoint: &Introspection,
        token: &str,
    ) -> Result<TokenInfo, TokenRejection> {
        let unavailable = TokenRejection::Unavailable("the introspection endpoint failed");
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let response = self
            .inner
            .http
            .post(&endpoint.url)
            .basic_auth(&endpoint.client_id, Some(endpoint.client_secret.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|_| unavailable.clone())?;
        if !response.status().is_success() {
            return Err(unavailable);
        }
        let body = response.bytes().await.map_err(|_| unavailable.clone())?;
        let claims: Value = serde_json::from_slice(&body).map_err(|_| unavailable.clone())?;
        if claims.get("active").and_then(Value::as_bool) != Some(true) {
            return Err(TokenRejection::Invalid("the token is not active"));
        }
        let now = now_secs();
        let leeway = self.inner.leeway.as_secs();
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            if exp + leeway < now {
                return Err(TokenRejection::Invalid("the token has expired"));
            }
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
            if nbf > now + leeway {
                return Err(TokenRejection::Invalid("the token is not valid yet"));
            }
        }
        if let Some(audience) = &self.inner.audience {
            let matches = match claims.get("aud") {
                Some(Value::String(aud)) => audience.contains(aud),
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|aud| audience.iter().any(|a| a == aud)),
                _ => false,
            };
            if !matches {
                return Err(TokenRejection::Invalid(
                    "the token is meant for another audience",
                ));
            }
        }
        if let Some(issuer) = &self.inner.issuer {
            let matches = claims
                .get("iss")
                .and_then(Value::as_str)
                .is_some_and(|iss| issuer.iter().any(|i| i == iss));
            if !matches {
                return Err(TokenRejection::Invalid(
                    "the token comes from another issuer",
                ));
            }
        }
        Ok(TokenInfo {
            subject: claims
                .get("sub")
                .or_else(|| claims.get("username"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            scopes: scopes_of(&claims),
        })
    }
}
