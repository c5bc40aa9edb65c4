//! Security settings as data: the JSON objects the language bindings hand over for a servient's
//! verifier, its TLS certificate and a consumer's credentials. Each builds the same values the
//! Rust builders do ([`Verifier`], [`TlsServerConfig`], [`CredentialStore`]), so the bindings
//! convert nothing field by field. Members are camelCase; unknown members are refused (a typo in
//! a security setting must not pass silently). Secrets are read into [`Secret`]s and never appear
//! in `Debug` output or errors.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{
    ApiKeys, BasicUsers, CredentialStore, Credentials, DidAuthCredential, JwtKey, OAuth2Client,
    Secret, SecurityError, TlsServerConfig, TokenValidator, Verifier,
};
use crate::identity::{DidAuthOptions, DidAuthVerifier, Ed25519KeyPair, ResolverSettings};

/// What a servient's [`Verifier`] accepts, one member per scheme:
///
/// ```json
/// { "basic": { "alice": "password" },
///   "bearer": { "hmacSecret": "…", "audience": "urn:dev:weather" },
///   "oauth2": { "jwksUrl": "https://issuer.example/jwks.json", "issuer": "https://issuer.example" },
///   "apiKeys": ["k1", "k2"],
///   "didAuth": { "resolver": { "allowHttpLoopback": true }, "leewayMs": 30000 } }
/// ```
#[derive(Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct VerifierOptions {
    /// `basic`: user name → password.
    #[serde(default)]
    pub basic: Option<BTreeMap<String, Secret>>,
    /// `bearer`: how tokens are checked.
    #[serde(default)]
    pub bearer: Option<TokenOptions>,
    /// `oauth2` (as a resource server): how access tokens are checked.
    #[serde(default)]
    pub oauth2: Option<TokenOptions>,
    /// `apikey`: the keys accepted.
    #[serde(default)]
    pub api_keys: Option<Vec<Secret>>,
    /// DID-auth (`bearer` schemes with `"lmos:didAuth": true`): how callers' tokens are
    /// verified (`{}` for the defaults).
    #[serde(default)]
    pub did_auth: Option<DidAuthVerifierOptions>,
}

/// How a servient verifies DID-auth tokens (every member optional).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct DidAuthVerifierOptions {
    /// How callers' DIDs are resolved (`did:key` offline, `did:web` over HTTPS).
    #[serde(default)]
    pub resolver: Option<ResolverSettings>,
    /// The longest token lifetime (`exp - iat`) accepted, in milliseconds (default 300 000).
    /// A token's `jti` is remembered until it expires, so this is also the replay window.
    #[serde(default)]
    pub max_lifetime_ms: Option<u64>,
    /// Clock difference tolerated between caller and server, in milliseconds (default 30 000).
    #[serde(default)]
    pub leeway_ms: Option<u64>,
    /// Most unexpired `jti`s remembered at once (default 100 000); beyond it new tokens are
    /// refused until some expire.
    #[serde(default)]
    pub replay_capacity: Option<usize>,
}

impl DidAuthVerifierOptions {
    /// The DID-auth verifier these options describe.
    pub fn build(self) -> Result<DidAuthVerifier, SecurityError> {
        let resolver = self
            .resolver
            .unwrap_or_default()
            .build()
            .map_err(|e| invalid(format!("security options: didAuth.resolver: {e}")))?;
        let mut options = DidAuthOptions::default();
        if let Some(ms) = self.max_lifetime_ms {
            options.max_lifetime = Duration::from_millis(ms);
        }
        if let Some(ms) = self.leeway_ms {
            options.leeway = Duration::from_millis(ms);
        }
        if let Some(capacity) = self.replay_capacity {
            if capacity == 0 {
                return Err(invalid(
                    "security options: didAuth.replayCapacity must be at least 1",
                ));
            }
            options.replay_capacity = capacity;
        }
        Ok(DidAuthVerifier::new(resolver, options))
    }
}

impl std::fmt::Debug for VerifierOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierOptions")
            .field("basic_users", &self.basic.as_ref().map(|users| users.len()))
            .field("bearer", &self.bearer)
            .field("oauth2", &self.oauth2)
            .field("api_keys", &self.api_keys.as_ref().map(Vec::len))
            .field("did_auth", &self.did_auth)
            .finish()
    }
}

/// How `bearer` or `oauth2` tokens are checked: exactly one source (`hmacSecret`, `keys`,
/// `publicKeysPem`, `jwksUrl` or `introspection`), plus optional checks.
#[derive(Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TokenOptions {
    /// HS256 JWTs signed with this secret (UTF-8 bytes).
    #[serde(default)]
    pub hmac_secret: Option<Secret>,
    /// JWTs signed with one of these keys (JWK objects: RSA, EC P-256, OKP Ed25519, oct).
    #[serde(default)]
    pub keys: Option<Vec<Value>>,
    /// JWTs signed with one of these public keys (PEM: RSA, EC P-256 or Ed25519).
    #[serde(default)]
    pub public_keys_pem: Option<Vec<String>>,
    /// JWTs signed with a key of the JWKS document at this URL.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Opaque tokens checked at an RFC 7662 introspection endpoint.
    #[serde(default)]
    pub introspection: Option<IntrospectionOptions>,
    /// Accepted `aud` values (any of them).
    #[serde(default)]
    pub audience: Option<StringOrList>,
    /// Accepted `iss` values (any of them).
    #[serde(default)]
    pub issuer: Option<StringOrList>,
    /// Accepted signature algorithms (`HS256`, `RS256`, `ES256`, `EdDSA`, …).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Clock skew allowed on `exp`/`nbf`, in milliseconds (default 30 000).
    #[serde(default)]
    pub leeway_ms: Option<u64>,
    /// An extra CA (PEM) trusted for the JWKS and introspection calls.
    #[serde(default)]
    pub extra_ca_pem: Option<String>,
}

impl std::fmt::Debug for TokenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenOptions")
            .field("hmac_secret", &self.hmac_secret.as_ref().map(|_| "…"))
            .field("keys", &self.keys.as_ref().map(Vec::len))
            .field(
                "public_keys_pem",
                &self.public_keys_pem.as_ref().map(Vec::len),
            )
            .field("jwks_url", &self.jwks_url)
            .field("introspection", &self.introspection)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// An RFC 7662 introspection endpoint and this server's client credentials for it.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct IntrospectionOptions {
    /// The endpoint.
    pub url: String,
    /// This resource server's client id (HTTP Basic).
    pub client_id: String,
    /// Its secret.
    pub client_secret: Secret,
}

impl std::fmt::Debug for IntrospectionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionOptions")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// One string or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl StringOrList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(value) => vec![value],
            StringOrList::Many(values) => values,
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

fn invalid(message: impl Into<String>) -> SecurityError {
    SecurityError::InvalidOptions(message.into())
}

impl VerifierOptions {
    /// Reads the options from JSON (see the type's documentation); the error names the member,
    /// never a value.
    pub fn from_json(value: &Value) -> Result<Self, SecurityError> {
        from_value(value).map_err(|e| invalid(format!("security options: {e}")))
    }

    /// The verifier these options describe.
    pub fn build(self) -> Result<Verifier, SecurityError> {
        let mut builder = Verifier::builder();
        if let Some(users) = self.basic {
            let mut basic = BasicUsers::new();
            for (user, password) in users {
                basic = basic.user(user, password);
            }
            builder = builder.basic(basic);
        }
        if let Some(bearer) = self.bearer {
            builder = builder.bearer(bearer.build("bearer")?);
        }
        if let Some(oauth2) = self.oauth2 {
            builder = builder.oauth2(oauth2.build("oauth2")?);
        }
        if let Some(keys) = self.api_keys {
            let mut api_keys = ApiKeys::new();
            for key in keys {
                api_keys = api_keys.key(key);
            }
            builder = builder.api_keys(api_keys);
        }
        if let Some(did_auth) = self.did_auth {
            builder = builder.did_auth(did_auth.build()?);
        }
        Ok(builder.build())
    }
}

impl TokenOptions {
    /// The token validator these options describe; `scheme` names the member in errors.
    pub fn build(self, scheme: &str) -> Result<TokenValidator, SecurityError> {
        let sources = [
            self.hmac_secret.is_some(),
            self.keys.is_some(),
            self.public_keys_pem.is_some(),
            self.jwks_url.is_some(),
            self.introspection.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if sources != 1 {
            return Err(invalid(format!(
                "security options: {scheme} needs exactly one of hmacSecret, keys, \
                 publicKeysPem, jwksUrl, introspection (found {sources})"
            )));
        }
        let mut validator = if let Some(secret) = self.hmac_secret {
            TokenValidator::hmac(secret.expose().as_bytes())
        } else if let Some(jwks) = self.keys {
            let keys = jwks
                .iter()
                .map(JwtKey::from_jwk)
                .collect::<Result<Vec<_>, _>>()?;
            TokenValidator::keys(keys)
        } else if let Some(pems) = self.public_keys_pem {
            let keys = pems
                .iter()
                .map(|pem| public_key_pem(pem.as_bytes()))
                .collect::<Result<Vec<_>, _>>()?;
            TokenValidator::keys(keys)
        } else if let Some(url) = self.jwks_url {
            TokenValidator::jwks(url)
        } else if let Some(endpoint) = self.introspection {
            TokenValidator::introspection(endpoint.url, endpoint.client_id, endpoint.client_secret)
        } else {
            return Err(invalid(format!(
                "security options: {scheme} has no token source"
            )));
        };
        for audience in self
            .audience
            .map(StringOrList::into_vec)
            .unwrap_or_default()
        {
            validator = validator.audience(audience);
        }
        for issuer in self.issuer.map(StringOrList::into_vec).unwrap_or_default() {
            validator = validator.issuer(issuer);
        }
        if let Some(names) = self.algorithms {
            let algorithms = names
                .iter()
                .map(|name| {
                    name.parse::<jsonwebtoken::Algorithm>().map_err(|_| {
                        invalid(format!(
                            "security options: {scheme}.algorithms: unknown algorithm {name:?}"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            validator = validator.algorithms(&algorithms);
        }
        if let Some(ms) = self.leeway_ms {
            validator = validator.leeway(Duration::from_millis(ms));
        }
        if let Some(pem) = self.extra_ca_pem {
            validator = validator.extra_ca_pem(&pem)?;
        }
        Ok(validator)
    }
}

/// A public key in PEM, whichever family it is.
fn public_key_pem(pem: &[u8]) -> Result<JwtKey, SecurityError> {
    JwtKey::rsa_pem(pem)
        .or_else(|_| JwtKey::ec_pem(pem))
        .or_else(|_| JwtKey::ed25519_pem(pem))
        .map_err(|_| {
            SecurityError::InvalidKey(
                "publicKeysPem: not an RSA, EC P-256 or Ed25519 public key in PEM".into(),
            )
        })
}

/// A TLS certificate chain and key for `https`/`wss` serving: either files (`certFile`,
/// `keyFile`) or PEM text (`certPem`, `keyPem`).
#[derive(Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Path of the certificate chain (PEM, leaf first).
    #[serde(default)]
    pub cert_file: Option<String>,
    /// Path of the private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key_file: Option<String>,
    /// The certificate chain as PEM text.
    #[serde(default)]
    pub cert_pem: Option<String>,
    /// The private key as PEM text.
    #[serde(default)]
    pub key_pem: Option<Secret>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("cert_pem", &self.cert_pem.as_ref().map(|_| "…"))
            .field("key_pem", &self.key_pem.as_ref().map(|_| "…"))
            .finish()
    }
}

impl TlsOptions {
    /// Reads the options from JSON; the error names the member, never a value.
    pub fn from_json(value: &Value) -> Result<Self, SecurityError> {
        from_value(value).map_err(|e| invalid(format!("tls options: {e}")))
    }

    /// The server configuration these options describe.
    pub fn build(self) -> Result<TlsServerConfig, SecurityError> {
        match (self.cert_file, self.key_file, self.cert_pem, self.key_pem) {
            (Some(cert), Some(key), None, None) => TlsServerConfig::from_pem_files(cert, key),
            (None, None, Some(cert), Some(key)) => {
                TlsServerConfig::from_pem(cert.as_bytes(), key.expose().as_bytes())
            }
            _ => Err(SecurityError::Tls(
                "tls options need certFile and keyFile, or certPem and keyPem".into(),
            )),
        }
    }
}

/// A consumer's credentials for one thing id or origin:
///
/// ```json
/// { "basic": { "username": "alice", "password": "…" },
///   "bearer": "…token…",
///   "apiKey": "…",
///   "oauth2": { "clientId": "agent", "clientSecret": "…", "scopes": ["read"] },
///   "didAuth": { "key": { "kty": "OKP", "crv": "Ed25519", "d": "…", "x": "…",
///                         "kid": "did:web:agents.example.com#key-1" },
///                "credentials": [ { "@context": ["https://www.w3.org/ns/credentials/v2"], … } ] } }
/// ```
#[derive(Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CredentialOptions {
    /// `basic` user name and password.
    #[serde(default)]
    pub basic: Option<BasicCredentialOptions>,
    /// A `bearer` (or OAuth2 access) token.
    #[serde(default)]
    pub bearer: Option<Secret>,
    /// An `apikey`.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// OAuth2 client credentials.
    #[serde(default)]
    pub oauth2: Option<OAuth2ClientOptions>,
    /// A DID key (and credentials) to mint DID-auth tokens with.
    #[serde(default)]
    pub did_auth: Option<DidAuthCredentialOptions>,
}

/// A consumer's DID-auth credential: its DID key, exactly one of `key` (a private Ed25519 JWK
/// object, or a multibase private key string) and `keyFile` (a file holding either), the
/// verification method it signs as when the key does not say (`keyId`; default: its `did:key`),
/// the verifiable credentials it may present, and the lifetime of its tokens.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct DidAuthCredentialOptions {
    /// The private key: a JWK object or a multibase string.
    #[serde(default)]
    pub key: Option<Value>,
    /// A file holding the private key (a JWK, or one line of multibase).
    #[serde(default)]
    pub key_file: Option<String>,
    /// The verification method the key signs as (e.g. `did:web:example.com#key-1`).
    #[serde(default)]
    pub key_id: Option<String>,
    /// Verifiable credentials about this DID, presented where a TD requires them.
    #[serde(default)]
    pub credentials: Option<Vec<Value>>,
    /// Token lifetime in milliseconds (default 120 000; capped at 10 minutes).
    #[serde(default)]
    pub lifetime_ms: Option<u64>,
}

impl std::fmt::Debug for DidAuthCredentialOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DidAuthCredentialOptions")
            .field("key", &self.key.as_ref().map(|_| "…"))
            .field("key_file", &self.key_file)
            .field("key_id", &self.key_id)
            .field("credentials", &self.credentials.as_ref().map(Vec::len))
            .field("lifetime_ms", &self.lifetime_ms)
            .finish()
    }
}

impl DidAuthCredentialOptions {
    /// The DID-auth credential these options describe.
    pub fn build(self) -> Result<DidAuthCredential, SecurityError> {
        let key_error =
            |e: crate::identity::IdentityError| invalid(format!("credentials: didAuth: {e}"));
        let mut key = match (self.key, self.key_file) {
            (Some(Value::String(text)), None) => {
                Ed25519KeyPair::from_secret_multibase(text.trim()).map_err(key_error)?
            }
            (Some(jwk @ Value::Object(_)), None) => {
                Ed25519KeyPair::from_jwk(&jwk).map_err(key_error)?
            }
            (Some(_), None) => {
                return Err(invalid(
                    "credentials: didAuth.key: a JWK object or a multibase string",
                ))
            }
            (None, Some(path)) => Ed25519KeyPair::load(path).map_err(key_error)?,
            _ => {
                return Err(invalid(
                    "credentials: didAuth needs exactly one of key and keyFile",
                ))
            }
        };
        if let Some(key_id) = self.key_id {
            if !key_id.starts_with("did:") {
                return Err(invalid(
                    "credentials: didAuth.keyId must be a DID URL (did:…#…)",
                ));
            }
            key = key.with_key_id(key_id);
        }
        let mut credential = DidAuthCredential::new(key);
        for item in self.credentials.unwrap_or_default() {
            credential = credential.credential(item);
        }
        if let Some(ms) = self.lifetime_ms {
            credential = credential.lifetime(Duration::from_millis(ms));
        }
        Ok(credential)
    }
}

impl std::fmt::Debug for CredentialOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialOptions")
            .field(
                "basic",
                &self.basic.as_ref().map(|basic| basic.username.as_str()),
            )
            .field("bearer", &self.bearer.is_some())
            .field("api_key", &self.api_key.is_some())
            .field("oauth2", &self.oauth2)
            .field("did_auth", &self.did_auth)
            .finish()
    }
}

/// `basic` credentials.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct BasicCredentialOptions {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// OAuth2 client-credentials settings of a consumer.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct OAuth2ClientOptions {
    /// The client id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: Secret,
    /// Scopes asked for.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// A token endpoint used instead of the one the TD declares.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Fetch a new token this long before the cached one expires (ms; default 30 000).
    #[serde(default)]
    pub refresh_margin_ms: Option<u64>,
    /// An extra CA (PEM) trusted for the token endpoint.
    #[serde(default)]
    pub extra_ca_pem: Option<String>,
}

impl std::fmt::Debug for OAuth2ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2ClientOptions")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("token_url", &self.token_url)
            .finish()
    }
}

impl CredentialOptions {
    /// The credentials these options describe.
    pub fn build(self) -> Result<Credentials, SecurityError> {
        let mut credentials = Credentials::new();
        if let Some(basic) = self.basic {
            credentials = credentials.basic(basic.username, basic.password);
        }
        if let Some(token) = self.bearer {
            credentials = credentials.bearer(token);
        }
        if let Some(key) = self.api_key {
            credentials = credentials.api_key(key);
        }
        if let Some(oauth2) = self.oauth2 {
            let mut client =
                OAuth2Client::client_credentials(oauth2.client_id, oauth2.client_secret);
            if let Some(scopes) = oauth2.scopes {
                client = client.scopes(scopes);
            }
            if let Some(url) = oauth2.token_url {
                client = client.token_url(url);
            }
            if let Some(ms) = oauth2.refresh_margin_ms {
                client = client.refresh_margin(Duration::from_millis(ms));
            }
            if let Some(pem) = oauth2.extra_ca_pem {
                client = client.extra_ca_pem(&pem)?;
            }
            credentials = credentials.oauth2(client);
        }
        if let Some(did_auth) = self.did_auth {
            credentials = credentials.did_auth(did_auth.build()?);
        }
        Ok(credentials)
    }
}

impl CredentialStore {
    /// A store from JSON: an object whose keys are thing ids or origins and whose values are
    /// [`CredentialOptions`] objects.
    pub fn from_json(value: &Value) -> Result<Self, SecurityError> {
        let entries: BTreeMap<String, CredentialOptions> =
            from_value(value).map_err(|e| invalid(format!("credentials: {e}")))?;
        let store = CredentialStore::new();
        for (key, options) in entries {
            store.insert(key, options.build()?);
        }
        Ok(store)
    }
}

/// Reads `T` from `value`; the error names the member (its path, e.g. `bearer.keys[0]`) and what
/// was expected, never the value found there (it may be a secret).
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.inner().to_string();
        let text = match inner.split_once(", expected ") {
            Some((kind, expected)) if inner.starts_with("invalid") => {
                let kind = kind.split(':').next().unwrap_or(kind);
                format!("{kind}, expected {expected}")
            }
            _ => inner,
        };
        if path == "." {
            text
        } else {
            format!("{path}: {text}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verifier_options_build_every_scheme() {
        let options = VerifierOptions::from_json(&json!({
            "basic": {"alice": "pw"},
            "bearer": {"hmacSecret": "s3cret-s3cret-s3cret", "audience": ["a", "b"], "leewayMs": 1000},
            "oauth2": {"jwksUrl": "https://issuer.example/jwks.json", "issuer": "https://issuer.example"},
            "apiKeys": ["k1"]
        }))
        .unwrap();
        let debug = format!("{options:?}");
        assert!(!debug.contains("s3cret") && !debug.contains("pw") && !debug.contains("k1"));
        options.build().unwrap();
    }

    #[test]
    fn token_options_need_exactly_one_source() {
        let none = VerifierOptions::from_json(&json!({"bearer": {"audience": "a"}})).unwrap();
        let error = none.build().unwrap_err().to_string();
        assert!(error.contains("exactly one"), "{error}");
        let two = VerifierOptions::from_json(
            &json!({"bearer": {"hmacSecret": "x", "jwksUrl": "https://x.example/j"}}),
        )
        .unwrap();
        assert!(two.build().is_err());
    }

    #[test]
    fn unknown_members_and_algorithms_are_refused_without_quoting_values() {
        let error = VerifierOptions::from_json(&json!({"bearr": {}})).unwrap_err();
        assert!(error.to_string().contains("bearr"), "{error}");
        let error = VerifierOptions::from_json(&json!({"apiKeys": "top-secret-key"}))
            .unwrap_err()
            .to_string();
        assert!(!error.contains("top-secret-key"), "{error}");
        let bad_alg = VerifierOptions::from_json(
            &json!({"bearer": {"hmacSecret": "x", "algorithms": ["HS999"]}}),
        )
        .unwrap();
        assert!(bad_alg.build().unwrap_err().to_string().contains("HS999"));
    }

    #[test]
    fn bad_pem_key_is_refused_by_name() {
        let options = VerifierOptions::from_json(
            &json!({"bearer": {"publicKeysPem": ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]}}),
        )
        .unwrap();
        let error = options.build().unwrap_err().to_string();
        assert!(error.contains("publicKeysPem"), "{error}");
    }

    #[test]
    fn credential_store_from_json_finds_entries_by_id_and_origin() {
        let store = CredentialStore::from_json(&json!({
            "urn:dev:weather": {"bearer": "tok-1"},
            "http://127.0.0.1:9": {"basic": {"username": "alice", "password": "pw-2"}, "apiKey": "k"},
            "https://billing.example": {"oauth2": {"clientId": "agent", "clientSecret": "cs", "scopes": ["read"]}}
        }))
        .unwrap();
        let url = url::Url::parse("http://127.0.0.1:9/things/x").unwrap();
        assert!(store.lookup(Some("urn:dev:weather"), &url).is_some());
        assert!(store.lookup(Some("urn:other"), &url).is_some());
        let other = url::Url::parse("http://127.0.0.1:10/").unwrap();
        assert!(store.lookup(Some("urn:other"), &other).is_none());
        let debug = format!("{store:?}");
        assert!(!debug.contains("tok-1") && !debug.contains("pw-2"));
        let error = CredentialStore::from_json(&json!({"x": {"basic": {"username": "a"}}}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("password"), "{error}");
    }

    #[tokio::test]
    async fn did_auth_options_build_a_verifier_and_a_credential_that_agree() {
        let options = VerifierOptions::from_json(&json!({
            "didAuth": {
                "resolver": {"allowHttpLoopback": true, "cacheTtlMs": 0},
                "maxLifetimeMs": 60000, "leewayMs": 5000, "replayCapacity": 10
            }
        }))
        .unwrap();
        assert!(format!("{options:?}").contains("max_lifetime_ms: Some(60000)"));
        let verifier = options.build().unwrap();
        assert!(format!("{verifier:?}").contains("DidAuthVerifier"));
        let empty = VerifierOptions::from_json(&json!({"didAuth": {}})).unwrap();
        empty.build().unwrap();
        let error = VerifierOptions::from_json(&json!({"didAuth": {"leway": 1}}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("leway"), "{error}");
        let zero = VerifierOptions::from_json(&json!({"didAuth": {"replayCapacity": 0}})).unwrap();
        assert!(zero
            .build()
            .unwrap_err()
            .to_string()
            .contains("replayCapacity"));

        // The consumer's side: a key as a JWK object (its kid naming the method) or multibase.
        let key = Ed25519KeyPair::generate().unwrap();
        let jwk: Value = serde_json::from_str(&key.to_private_jwk()).unwrap();
        let secret = jwk["d"].as_str().unwrap().to_owned();
        let store = CredentialStore::from_json(&json!({
            "urn:dev:weather": {"didAuth": {"key": jwk, "lifetimeMs": 30000}},
            "urn:dev:billing": {"didAuth": {
                "key": key.to_secret_multibase().as_str(),
                "keyId": "did:web:agents.example.com#key-1",
                "credentials": [{"type": ["VerifiableCredential"]}]
            }}
        }))
        .unwrap();
        let debug = format!("{store:?} {:?}", VerifierOptions::default());
        assert!(!debug.contains(&secret));
        let url = url::Url::parse("http://127.0.0.1:9/").unwrap();
        let weather = store.lookup(Some("urn:dev:weather"), &url).unwrap();
        let billing = store.lookup(Some("urn:dev:billing"), &url).unwrap();
        let (weather, billing) = (format!("{weather:?}"), format!("{billing:?}"));
        assert!(!weather.contains(&secret) && !billing.contains(&secret));
        assert!(weather.contains(&key.key_id()), "{weather}");
        assert!(
            billing.contains("did:web:agents.example.com#key-1"),
            "{billing}"
        );
        assert!(billing.contains("credentials: 1"), "{billing}");

        // A token minted from the options' key passes the options' verifier.
        let credential = DidAuthCredentialOptions {
            key: Some(jwk.clone()),
            key_file: None,
            key_id: None,
            credentials: None,
            lifetime_ms: None,
        }
        .build()
        .unwrap();
        let token = crate::identity::mint_did_auth(
            &Ed25519KeyPair::from_jwk(&jwk).unwrap(),
            "urn:dev:weather",
            Duration::from_secs(30),
            &[],
        )
        .unwrap();
        let did_auth = DidAuthVerifierOptions::default().build().unwrap();
        let caller = did_auth
            .verify_did_auth(&token, "urn:dev:weather")
            .await
            .unwrap();
        assert_eq!(caller.did, credential.did());

        for (bad, needle) in [
            (json!({"didAuth": {}}), "exactly one of key and keyFile"),
            (json!({"didAuth": {"key": 7}}), "JWK object or a multibase"),
            (json!({"didAuth": {"key": "zNotAKey"}}), "invalid key"),
            (
                json!({"didAuth": {"key": jwk, "keyId": "key-1"}}),
                "keyId must be a DID URL",
            ),
            (
                json!({"didAuth": {"keyFile": "/nonexistent/key.jwk"}}),
                "/nonexistent/key.jwk",
            ),
        ] {
            let error = CredentialStore::from_json(&json!({"urn:x": bad}))
                .unwrap_err()
                .to_string();
            assert!(error.contains(needle), "{error}");
            assert!(!error.contains(&secret), "{error}");
        }
    }

    #[test]
    fn tls_options_need_a_pair() {
        let error = TlsOptions {
            cert_file: Some("/nonexistent.pem".into()),
            ..TlsOptions::default()
        }
        .build()
        .unwrap_err();
        assert!(
            error.to_string().contains("certFile and keyFile"),
            "{error}"
        );
    }
}
