//! [`DidResolver`]: resolves `did:key` (offline) and `did:web` (HTTPS) DIDs to documents.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::did::{DidDocument, VerificationRelationship};
use super::keys::PublicKey;
use super::{did_key, did_web, IdentityError};

/// How a [`DidResolver`] fetches `did:web` documents.
#[derive(Debug, Clone)]
pub struct ResolverOptions {
    /// Use plain `http` for `did:web` DIDs on loopback hosts (`localhost`, `127.0.0.1`, `[::1]`).
    /// Off by default; meant for local development and tests. Other hosts always use HTTPS with
    /// certificate verification.
    pub allow_http_loopback: bool,
    /// Bound on one fetch (default 10 s).
    pub timeout: Duration,
    /// Largest DID document accepted (default 256 KiB).
    pub max_document_bytes: usize,
    /// How long a fetched `did:web` document is reused (default 5 minutes; zero = fetch every
    /// time). A key removed from a DID document is still accepted for up to this long.
    pub cache_ttl: Duration,
}

/// Resolver options as data (the JSON object the language bindings hand over; camelCase, all
/// optional): `allowHttpLoopback`, `timeoutMs`, `maxDocumentBytes`, `cacheTtlMs`, and `pinned`
/// (DID documents answered without the network).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ResolverSettings {
    /// See [`ResolverOptions::allow_http_loopback`].
    #[serde(default)]
    pub allow_http_loopback: Option<bool>,
    /// See [`ResolverOptions::timeout`], in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// See [`ResolverOptions::max_document_bytes`].
    #[serde(default)]
    pub max_document_bytes: Option<usize>,
    /// See [`ResolverOptions::cache_ttl`], in milliseconds.
    #[serde(default)]
    pub cache_ttl_ms: Option<u64>,
    /// Documents pinned with [`DidResolver::pin`].
    #[serde(default)]
    pub pinned: Option<Vec<Value>>,
}

impl ResolverSettings {
    /// Reads the settings from JSON (`null` is the defaults).
    pub fn from_json(value: &Value) -> Result<Self, IdentityError> {
        if value.is_null() {
            return Ok(ResolverSettings::default());
        }
        serde::Deserialize::deserialize(value).map_err(|e: serde_json::Error| {
            IdentityError::InvalidOptions(format!("resolver options: {e}"))
        })
    }

    /// The resolver these settings describe.
    pub fn build(self) -> Result<DidResolver, IdentityError> {
        let mut options = ResolverOptions::default();
        if let Some(flag) = self.allow_http_loopback {
            options.allow_http_loopback = flag;
        }
        if let Some(ms) = self.timeout_ms {
            options.timeout = Duration::from_millis(ms);
        }
        if let Some(bytes) = self.max_document_bytes {
            options.max_document_bytes = bytes;
        }
        if let Some(ms) = self.cache_ttl_ms {
            options.cache_ttl = Duration::from_millis(ms);
        }
        let mut resolver = DidResolver::new(options);
        for document in self.pinned.unwrap_or_default() {
            resolver = resolver.pin(DidDocument::from_value(document)?);
        }
        Ok(resolver)
    }
}

/// Most `did:web` documents kept in a resolver's cache.
const CACHE_CAPACITY: usize = 1024;

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions {
            allow_http_loopback: false,
            timeout: Duration::from_secs(10),
            max_document_bytes: 256 * 1024,
            cache_ttl: Duration::from_secs(300),
        }
    }
}

/// Resolves DIDs: `did:key` from the DID itself, `did:web` over HTTPS, and any document pinned
/// with [`pin`](Self::pin). Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct DidResolver {
    /// Built on the first `did:web` resolution (`None` inside when it could not be built).
    client: Arc<OnceLock<Option<reqwest::Client>>>,
    options: ResolverOptions,
    pinned: Arc<HashMap<String, DidDocument>>,
    /// Fetched `did:web` documents and when they were fetched.
    cache: Arc<Mutex<HashMap<String, (Instant, DidDocument)>>>,
}

impl std::fmt::Debug for DidResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DidResolver")
            .field("options", &self.options)
            .field("pinned", &self.pinned.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for DidResolver {
    fn default() -> Self {
        Self::new(ResolverOptions::default())
    }
}

impl DidResolver {
    /// A resolver with these options.
    pub fn new(options: ResolverOptions) -> Self {
        DidResolver {
            client: Arc::new(OnceLock::new()),
            options,
            pinned: Arc::new(HashMap::new()),
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn client(&self) -> Option<&reqwest::Client> {
        self.client
            .get_or_init(|| {
                // reqwest is built without a TLS crypto provider; use ring unless the
                // application installed another one.
                let _ = rustls::crypto::ring::default_provider().install_default();
                // Redirects are not followed: the DID names the one URL its document is at.
                reqwest::Client::builder()
                    .user_agent(concat!("lmos/", env!("CARGO_PKG_VERSION")))
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(self.options.timeout)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// The options in force.
    pub fn options(&self) -> &ResolverOptions {
        &self.options
    }

    /// The same resolver, answering `document.id` with `document` without any network access
    /// (a DID known out of band, or a did:web document in an air-gapped setup).
    pub fn pin(mut self, document: DidDocument) -> Self {
        Arc::make_mut(&mut self.pinned).insert(document.id.clone(), document);
        self
    }

    /// Resolves `did` (a DID, or a DID URL whose DID part is resolved) without the network:
    /// `Some` for `did:key` and pinned DIDs, `None` when the network would be needed.
    pub fn resolve_offline(&self, did: &str) -> Option<Result<DidDocument, IdentityError>> {
        let did = did_part(did);
        if let Some(document) = self.pinned.get(did) {
            return Some(Ok(document.clone()));
        }
        if did.starts_with("did:key:") {
            return Some(did_key::resolve(did));
        }
        if did.starts_with("did:web:") {
            return None;
        }
        Some(Err(check_method(did)))
    }

    /// Resolves `did` (or the DID of a DID URL) to its document. A fetched `did:web` document
    /// is reused for [`ResolverOptions::cache_ttl`] (shared by clones of this resolver).
    pub async fn resolve(&self, did: &str) -> Result<DidDocument, IdentityError> {
        if let Some(result) = self.resolve_offline(did) {
            return result;
        }
        let did = did_part(did);
        let ttl = self.options.cache_ttl;
        if !ttl.is_zero() {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, document)) = cache.get(did) {
                if at.elapsed() < ttl {
                    return Ok(document.clone());
                }
            }
        }
        let document = self.fetch(did).await?;
        if !ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(did.to_owned(), (Instant::now(), document.clone()));
        }
        Ok(document)
    }

    async fn fetch(&self, did: &str) -> Result<DidDocument, IdentityError> {
        let url = did_web::document_url(did, self.options.allow_http_loopback)?;
        if url.scheme() != "https" && !self.options.allow_http_loopback {
            return Err(IdentityError::invalid_did(did, "did:web needs https"));
        }
        let fail = |message: String| IdentityError::Resolution {
            did: did.to_owned(),
            message,
        };
        let client = self
            .client()
            .ok_or_else(|| fail("no HTTP client could be built".to_owned()))?;
        let mut response = client
            .get(url.clone())
            .header(
                reqwest::header::ACCEPT,
                "application/did+json, application/did+ld+json, application/json",
            )
            .send()
            .await
            .map_err(|e| fail(format!("GET {url}: {}", describe(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(format!("GET {url} answered {}", status.as_u16())));
        }
        let limit = self.options.max_document_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(fail(format!("the document is larger than {limit} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fail(format!("GET {url}: {}", describe(&e))))?
        {
            if body.len() + chunk.len() > limit {
                return Err(fail(format!("the document is larger than {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let value: Value =
            serde_json::from_slice(&body).map_err(|e| IdentityError::InvalidDidDocument {
                did: did.to_owned(),
                message: format!("not JSON: {e}"),
            })?;
        let document = DidDocument::from_value(value)?;
        if document.id != did {
            return Err(IdentityError::InvalidDidDocument {
                did: did.to_owned(),
                message: format!("the document is for {:?}", document.id),
            });
        }
        Ok(document)
    }

    /// Resolves the DID of verification method `method` and returns its public key, provided
    /// the document authorizes the method for `relationship`.
    pub async fn public_key(
        &self,
        method: &str,
        relationship: VerificationRelationship,
    ) -> Result<PublicKey, IdentityError> {
        let document = self.resolve(method).await?;
        document.public_key_for(&absolute_method(method, &document), relationship)
    }

    /// As [`public_key`](Self::public_key), without the network (`None` when it would be
    /// needed).
    pub fn public_key_offline(
        &self,
        method: &str,
        relationship: VerificationRelationship,
    ) -> Option<Result<PublicKey, IdentityError>> {
        let document = match self.resolve_offline(method)? {
            Ok(document) => document,
            Err(e) => return Some(Err(e)),
        };
        Some(document.public_key_for(&absolute_method(method, &document), relationship))
    }
}

/// A verification method id as given, or (a bare DID) the document's only method.
fn absolute_method(method: &str, document: &DidDocument) -> String {
    if method.contains('#') {
        method.to_owned()
    } else if let [only] = document.verification_method.as_slice() {
        only.id.clone()
    } else {
        method.to_owned()
    }
}

fn did_part(did: &str) -> &str {
    did.split(['#', '?']).next().unwrap_or(did)
}

fn check_method(did: &str) -> IdentityError {
    if did.starts_with("did:") && did.split(':').count() >= 3 {
        IdentityError::UnsupportedMethod(did.chars().take(100).collect())
    } else {
        IdentityError::invalid_did(did, "a DID has the form did:method:identifier")
    }
}

/// The error chain of a reqwest error (its `Display` hides the cause, e.g. a TLS failure).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
