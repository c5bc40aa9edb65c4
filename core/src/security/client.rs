//! The client side: credentials by thing id or origin, applied as a form's security declares,
//! and OAuth2 client-credentials tokens (fetched, cached, refreshed before they expire).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use url::Url;

use super::policy::{self, Location, Requirement};
use super::{Secret, SecurityError};
use crate::identity::did_auth::DEFAULT_TOKEN_LIFETIME;
use crate::identity::{mint_did_auth, CredentialRequirement, Ed25519KeyPair};
use crate::td::{OneOrMany, Thing};
use crate::thing::{read_lock, write_lock};

/// The credentials a client holds for one thing or origin. Only what a TD's security asks for
/// is sent.
#[derive(Clone, Default)]
pub struct Credentials {
    basic: Option<(String, Secret)>,
    bearer: Option<Secret>,
    api_key: Option<Secret>,
    oauth2: Option<OAuth2Client>,
    did_auth: Option<DidAuthCredential>,
}

/// What a client needs for DID-auth: its DID key (an [`Ed25519KeyPair`] whose
/// [`key_id`](Ed25519KeyPair::key_id) names the verification method, e.g.
/// `did:web:agents.example.com#key-1`; a `did:key` otherwise), the verifiable credentials it
/// holds, and the lifetime of the tokens it mints (a fresh one for every HTTP request and
/// every WebSocket connection).
///
/// A token carries, in its `credentials` claim, those of the credentials that the thing asks
/// for somewhere in its TD (`lmos:requiredCredentials`, by type and issuer); other credentials
/// are not shown to it.
#[derive(Clone)]
pub struct DidAuthCredential {
    key: Ed25519KeyPair,
    credentials: Vec<Value>,
    lifetime: Duration,
}

impl std::fmt::Debug for DidAuthCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DidAuthCredential")
            .field("key_id", &self.key.key_id())
            .field("credentials", &self.credentials.len())
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl DidAuthCredential {
    /// Authenticates as the DID of `key`, with tokens valid for 2 minutes.
    pub fn new(key: Ed25519KeyPair) -> Self {
        DidAuthCredential {
            key,
            credentials: Vec::new(),
            lifetime: DEFAULT_TOKEN_LIFETIME,
        }
    }

    /// Also holds this verifiable credential (presented where a TD requires its type from its
    /// issuer).
    pub fn credential(mut self, credential: Value) -> Self {
        self.credentials.push(credential);
        self
    }

    /// Mints tokens valid this long (capped at 10 minutes; servers accept 5 by default).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The DID this credential speaks for.
    pub fn did(&self) -> String {
        self.key.did()
    }

    /// A fresh token for `audience` carrying the credentials `thing` asks for.
    fn mint(&self, thing: &Thing, audience: &str, scheme: &str) -> Result<Secret, SecurityError> {
        let wanted = requested_credentials(thing);
        let presented: Vec<Value> = self
            .credentials
            .iter()
            .filter(|credential| {
                let issuer = match credential.get("issuer") {
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(Value::Object(o)) => o.get("id").and_then(Value::as_str),
                    _ => None,
                };
                let types: Vec<&str> = match credential.get("type") {
                    Some(Value::String(s)) => vec![s.as_str()],
                    Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                wanted.iter().any(|r| {
                    Some(r.issuer.as_str()) == issuer && types.contains(&r.credential_type.as_str())
                })
            })
            .cloned()
            .collect();
        mint_did_auth(&self.key, audience, self.lifetime, &presented)
            .map(Secret::new)
            .map_err(|error| SecurityError::InvalidCredential {
                scheme: scheme.to_owned(),
                message: format!("cannot mint a DID-auth token ({})", error.code()),
            })
    }
}

/// Every credential requirement `thing` declares, on itself or any affordance.
fn requested_credentials(thing: &Thing) -> Vec<CredentialRequirement> {
    let members = std::iter::once(&thing.extra)
        .chain(thing.properties.values().map(|p| &p.schema.extra))
        .chain(thing.actions.values().map(|a| &a.extra))
        .chain(thing.events.values().map(|e| &e.extra));
    let mut out = Vec::new();
    for member in members {
        // A malformed requirement asks for nothing; the server says what it wants.
        for requirement in CredentialRequirement::declared_in(member).unwrap_or_default() {
            if !out.contains(&requirement) {
                out.push(requirement);
            }
        }
    }
    out
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("basic_user", &self.basic.as_ref().map(|(user, _)| user))
            .field("bearer", &self.bearer.is_some())
            .field("api_key", &self.api_key.is_some())
            .field("oauth2", &self.oauth2)
            .field("did_auth", &self.did_auth)
            .finish()
    }
}

impl Credentials {
    /// No credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// A user name and password for `basic`.
    pub fn basic(mut self, username: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.basic = Some((username.into(), password.into()));
        self
    }

    /// A token for `bearer` (and for `oauth2` when no OAuth2 client is set).
    pub fn bearer(mut self, token: impl Into<Secret>) -> Self {
        self.bearer = Some(token.into());
        self
    }

    /// A key for `apikey`.
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// An OAuth2 client-credentials client for `oauth2`.
    pub fn oauth2(mut self, client: OAuth2Client) -> Self {
        self.oauth2 = Some(client);
        self
    }

    /// DID-auth: a fresh token signed by the DID key for every request (or WebSocket
    /// connection), naming the thing as its audience.
    pub fn did_auth(mut self, credential: DidAuthCredential) -> Self {
        self.did_auth = Some(credential);
        self
    }

    fn can_satisfy(&self, requirement: &Requirement) -> bool {
        match requirement {
            Requirement::NoSec => true,
            Requirement::Basic { .. } => self.basic.is_some(),
            Requirement::Bearer { .. } => self.bearer.is_some(),
            Requirement::OAuth2 { .. } => self.oauth2.is_some() || self.bearer.is_some(),
            Requirement::ApiKey { .. } => self.api_key.is_some(),
            Requirement::DidAuth { .. } => self.did_auth.is_some() || self.bearer.is_some(),
            Requirement::AllOf(all) => all.iter().all(|r| self.can_satisfy(r)),
            Requirement::OneOf(any) => any.iter().any(|r| self.can_satisfy(r)),
        }
    }
}

/// Credentials by thing id (the TD's `id`) or by origin (`https://host:port`). A thing's own
/// entry wins over its origin's. Cheap to clone; clones share entries.
#[derive(Clone, Default)]
pub struct CredentialStore {
    entries: Arc<RwLock<HashMap<String, Credentials>>>,
}

impl std::fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialStore")
            .field("keys", &read_lock(&self.entries).keys().collect::<Vec<_>>())
            .finish()
    }
}

fn origin_key(text: &str) -> Option<String> {
    let url = Url::parse(text).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

impl CredentialStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `credentials` for a thing id or an origin (any URL: only its scheme, host and
    /// port count, so `https://example.com/x` means `https://example.com`).
    pub fn insert(&self, key: impl Into<String>, credentials: Credentials) -> &Self {
        let key = key.into();
        let key = match origin_key(&key) {
            Some(origin) if key.starts_with("http") || key.starts_with("ws") => origin,
            _ => key,
        };
        write_lock(&self.entries).insert(key, credentials);
        self
    }

    /// The credentials for a thing with `thing_id` reached at `url`.
    pub fn lookup(&self, thing_id: Option<&str>, url: &Url) -> Option<Credentials> {
        let entries = read_lock(&self.entries);
        if let Some(found) = thing_id.and_then(|id| entries.get(id)) {
            return Some(found.clone());
        }
        let origin = url.origin();
        if !origin.is_tuple() {
            return None;
        }
        if let Some(found) = entries.get(&origin.ascii_serialization()) {
            return Some(found.clone());
        }
        // A WebSocket endpoint shares its HTTP origin's credentials.
        let mut http = url.clone();
        let scheme = match url.scheme() {
            "ws" => "http",
            "wss" => "https",
            _ => return None,
        };
        http.set_scheme(scheme).ok()?;
        entries.get(&http.origin().ascii_serialization()).cloned()
    }
}

#[derive(Clone)]
struct CachedToken {
    token: Secret,
    expires: Instant,
}

struct OAuth2Inner {
    client_id: String,
    client_secret: Secret,
    token_url: Option<String>,
    scopes: Vec<String>,
    refresh_margin: Duration,
    http: reqwest::Client,
    /// By token endpoint.
    cache: tokio::sync::Mutex<HashMap<String, CachedToken>>,
}

/// An OAuth2 client-credentials client: fetches an access token from the token endpoint (the
/// one the TD's `oauth2` scheme declares in `token`, unless one is set here), caches it, and
/// fetches a new one shortly before it expires (30 s by default).
#[derive(Clone)]
pub struct OAuth2Client {
    inner: Arc<OAuth2Inner>,
}

impl std::fmt::Debug for OAuth2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Client")
            .field("client_id", &self.inner.client_id)
            .field("token_url", &self.inner.token_url)
            .field("scopes", &self.inner.scopes)
            .finish()
    }
}

impl OAuth2Client {
    /// A client authenticating to the token endpoint as `client_id` (HTTP Basic).
    pub fn client_credentials(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        OAuth2Client {
            inner: Arc::new(OAuth2Inner {
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                token_url: None,
                scopes: Vec::new(),
                refresh_margin: Duration::from_secs(30),
                http: super::tls::http_client(None).unwrap_or_default(),
                cache: tokio::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    fn edit(mut self, change: impl FnOnce(&mut OAuth2Inner)) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            change(inner);
        } else {
            let old = &self.inner;
            let mut copy = OAuth2Inner {
                client_id: old.client_id.clone(),
                client_secret: old.client_secret.clone(),
                token_url: old.token_url.clone(),
                scopes: old.scopes.clone(),
                refresh_margin: old.refresh_margin,
                http: old.http.clone(),
                cache: tokio::sync::Mutex::new(HashMap::new()),
            };
            change(&mut copy);
            self.inner = Arc::new(copy);
        }
        self
    }

    /// Use this token endpoint instead of the one the TD declares.
    pub fn token_url(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.edit(|inner| inner.token_url = Some(url))
    }

    /// Ask for these scopes.
    pub fn scopes<S: Into<String>>(self, scopes: impl IntoIterator<Item = S>) -> Self {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.edit(|inner| inner.scopes = scopes)
    }

    /// Fetch a new token this long before the cached one expires (default 30 s).
    pub fn refresh_margin(self, margin: Duration) -> Self {
        self.edit(|inner| inner.refresh_margin = margin)
    }

    /// Also trust this CA (PEM) when calling the token endpoint.
    pub fn extra_ca_pem(self, pem: &str) -> Result<Self, SecurityError> {
        let http = super::tls::http_client(Some(pem))?;
        Ok(self.edit(|inner| inner.http = http))
    }

    /// An access token for `declared` (the TD's token endpoint), from the cache while it is
    /// fresh.
    pub async fn access_token(&self, declared: Option<&str>) -> Result<Secret, SecurityError> {
        let url = self
            .inner
            .token_url
            .as_deref()
            .or(declared)
            .ok_or_else(|| SecurityError::TokenEndpoint {
                url: String::new(),
                message: "neither the TD nor the client names a token endpoint".into(),
            })?
            .to_owned();
        let mut cache = self.inner.cache.lock().await;
        if let Some(cached) = cache.get(&url) {
            if Instant::now() + self.inner.refresh_margin < cached.expires {
                return Ok(cached.token.clone());
            }
        }
        let fresh = self.fetch(&url).await?;
        cache.insert(url, fresh.clone());
        Ok(fresh.token)
    }

    async fn fetch(&self, url: &str) -> Result<CachedToken, SecurityError> {
        let failed = |message: String| SecurityError::TokenEndpoint {
            url: url.to_owned(),
            message,
        };
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if !self.inner.scopes.is_empty() {
                form.append_pair("scope", &self.inner.scopes.join(" "));
            }
            form.finish()
        };
        let response = self
            .inner
            .http
            .post(url)
            .basic_auth(
                &self.inner.client_id,
                Some(self.inner.client_secret.expose()),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| failed(format!("unreachable ({})", e.without_url())))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|_| failed("the answer broke off".into()))?;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            // Only the endpoint's error code is shown; its description might echo input.
            let code = answer
                .get("error")
                .and_then(Value::as_str)
                .filter(|c| c.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or("no error code");
            return Err(failed(format!("refused with {}: {code}", status.as_u16())));
        }
        let token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| failed("the answer has no access_token".into()))?;
        let lifetime = answer
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600);
        Ok(CachedToken {
            token: Secret::new(token),
            expires: Instant::now() + Duration::from_secs(lifetime),
        })
    }
}

/// What to add to one request: headers and query parameters (values are secrets).
#[derive(Clone, Default)]
pub(crate) struct RequestAuth {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
}

impl std::fmt::Debug for RequestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestAuth")
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl RequestAuth {
    /// Whether nothing is added.
    pub(crate) fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.query.is_empty() && self.cookies.is_empty()
    }

    /// Every header to send, the cookies joined into one `Cookie` header.
    pub(crate) fn all_headers(&self) -> Vec<(String, String)> {
        let mut out = self.headers.clone();
        if !self.cookies.is_empty() {
            let joined = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            out.push(("Cookie".to_owned(), joined));
        }
        out
    }

    /// Adds the query parameters to `url`.
    pub(crate) fn apply_to_url(&self, url: &mut Url) {
        if self.query.is_empty() {
            return;
        }
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &self.query {
            pairs.append_pair(name, value);
        }
    }

    fn put(&mut self, location: &Location, value: String) {
        match location {
            Location::Header(name) => self.headers.push((name.clone(), value)),
            Location::Query(name) => self.query.push((name.clone(), value)),
            Location::Cookie(name) => self.cookies.push((name.clone(), value)),
        }
    }

    fn put_token(&mut self, location: &Location, token: &Secret) {
        let value = match location {
            Location::Header(_) => format!("Bearer {}", token.expose()),
            _ => token.expose().to_owned(),
        };
        self.put(location, value);
    }
}

async fn apply_owned(
    thing: &Thing,
    requirement: &Requirement,
    credentials: &Credentials,
    auth: &mut RequestAuth,
) -> Result<(), SecurityError> {
    let mut stack = vec![requirement];
    while let Some(requirement) = stack.pop() {
        match requirement {
            Requirement::NoSec => {}
            Requirement::Basic { scheme } => {
                if let Some((user, password)) = &credentials.basic {
                    if user.contains(':') {
                        return Err(SecurityError::InvalidCredential {
                            scheme: scheme.clone(),
                            message: "a basic user name cannot contain ':'".into(),
                        });
                    }
                    let pair = format!("{user}:{}", password.expose());
                    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                    auth.headers
                        .push(("Authorization".to_owned(), format!("Basic {encoded}")));
                }
            }
            Requirement::Bearer { location, .. } => {
                if let Some(token) = &credentials.bearer {
                    auth.put_token(location, token);
                }
            }
            Requirement::OAuth2 {
                location,
                token_url,
                ..
            } => {
                if let Some(client) = &credentials.oauth2 {
                    let token = client.access_token(token_url.as_deref()).await?;
                    auth.put_token(location, &token);
                } else if let Some(token) = &credentials.bearer {
                    auth.put_token(location, token);
                }
            }
            Requirement::ApiKey { location, .. } => {
                if let Some(key) = &credentials.api_key {
                    auth.put(location, key.expose().to_owned());
                }
            }
            Requirement::DidAuth { scheme, location } => {
                // The audience is the thing's id (servers refuse DID-auth things without one).
                match (&credentials.did_auth, thing.id.as_deref()) {
                    (Some(did_auth), Some(audience)) => {
                        let token = did_auth.mint(thing, audience, scheme)?;
                        auth.put_token(location, &token);
                    }
                    // A token minted by hand, for a DID-auth scheme read as plain bearer.
                    _ => {
                        if let Some(token) = &credentials.bearer {
                            auth.put_token(location, token);
                        }
                    }
                }
            }
            Requirement::AllOf(all) => stack.extend(all.iter().rev()),
            Requirement::OneOf(any) => {
                if let Some(first) = any.iter().find(|r| credentials.can_satisfy(r)) {
                    stack.push(first);
                }
            }
        }
    }
    Ok(())
}

/// What to add to a request made through a form of `thing` (reached at `url`) whose own
/// `security` is `form_security`: that security (or the thing's), filled from `store`. Nothing
/// when the store holds nothing for the thing; the server then answers 401 with its challenge.
pub(crate) async fn authorize(
    store: Option<&CredentialStore>,
    thing: &Thing,
    form_security: Option<&OneOrMany<String>>,
    url: &Url,
) -> Result<RequestAuth, SecurityError> {
    let mut auth = RequestAuth::default();
    let Some(store) = store else {
        return Ok(auth);
    };
    let names = form_security
        .map(|s| s.as_slice())
        .unwrap_or_else(|| thing.security.as_slice());
    // A scheme this client cannot speak sends nothing: the server's answer says what it wants.
    let Ok(requirement) = policy::compile(thing, names) else {
        return Ok(auth);
    };
    if requirement.is_open() {
        return Ok(auth);
    }
    let Some(credentials) = store.lookup(thing.id.as_deref(), url) else {
        return Ok(auth);
    };
    apply_owned(thing, &requirement, &credentials, &mut auth).await?;
    Ok(auth)
}
