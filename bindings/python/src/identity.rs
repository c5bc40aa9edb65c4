//! Identity from Python: Ed25519 keys, DIDs (`did:key`, `did:web`) and DID documents, signing and
//! verifying JSON documents (`eddsa-jcs-2022`), verifiable credentials and DID-auth tokens. Every
//! piece of logic is in `lmos::identity`; this converts values, maps errors and bridges async.
//! No private key, token or signature reaches a `repr`, a `str` or an error message.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use serde_json::{json, Map, Value};

use lmos::identity::{
    self as core, did_auth, did_key, did_web, CredentialOptions, CredentialRequirement,
    DidAuthOptions, DidDocument, IdentityError, ProofOptions, ResolverOptions, SignaturePolicy,
    VerificationRelationship,
};

use crate::bridge::attach_alive;
use crate::convert::{to_json, to_py};
use crate::errors::{identity_error, in_future};

/// An identity error, raised from inside a future.
fn raise(error: IdentityError) -> PyErr {
    let message = error.to_string();
    in_future(|py| identity_error(py, &error), message)
}

fn exiting() -> PyErr {
    crate::errors::Closed::new_err("the Python interpreter is shutting down")
}

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!("{what} must be a non-negative number of seconds"))
    })
}

/// A JSON object from a dict, or from JSON text (`str` / `bytes`).
fn object_from(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    let parsed = if let Ok(bytes) = value.cast::<PyBytes>() {
        serde_json::from_slice(bytes.as_bytes())
            .map_err(|e| PyValueError::new_err(format!("the {what} is not valid JSON: {e}")))?
    } else if let Ok(text) = value.cast::<PyString>() {
        serde_json::from_str(text.to_str()?)
            .map_err(|e| PyValueError::new_err(format!("the {what} is not valid JSON: {e}")))?
    } else {
        to_json(value)?
    };
    if !parsed.is_object() {
        return Err(PyTypeError::new_err(format!(
            "the {what} must be a JSON object (a dict)"
        )));
    }
    Ok(parsed)
}

fn purpose(name: &str) -> PyResult<VerificationRelationship> {
    VerificationRelationship::parse(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown proof purpose {name:?}: use \"assertionMethod\", \"authentication\", \
             \"capabilityInvocation\" or \"capabilityDelegation\""
        ))
    })
}

/// A signature policy from its Python name.
pub fn signature_policy(name: &str) -> PyResult<SignaturePolicy> {
    match name {
        "require" => Ok(SignaturePolicy::Require),
        "verify_if_present" => Ok(SignaturePolicy::VerifyIfPresent),
        "ignore" => Ok(SignaturePolicy::Ignore),
        _ => Err(PyValueError::new_err(format!(
            "unknown signature policy {name:?}: use \"require\", \"verify_if_present\" or \"ignore\""
        ))),
    }
}

/// A verified proof as a dict (`verification_method`, `signer`, `purpose`, `created`).
pub fn proof_value(proof: &core::VerifiedProof) -> Value {
    json!({
        "verification_method": proof.verification_method,
        "signer": proof.signer,
        "purpose": proof.purpose.as_str(),
        "created": proof.created,
    })
}

fn proofs_out(py: Python<'_>, proofs: Vec<core::VerifiedProof>) -> PyResult<Py<PyAny>> {
    let list: Vec<Value> = proofs.iter().map(proof_value).collect();
    Ok(to_py(py, &Value::Array(list))?.unbind())
}

// ----- keys -------------------------------------------------------------------------------------

/// An Ed25519 key pair. Its `repr` shows the public key only.
#[pyclass(module = "lmos._native", frozen, name = "Ed25519KeyPair")]
#[derive(Clone)]
pub struct KeyPair {
    pub(crate) inner: core::Ed25519KeyPair,
}

#[pymethods]
impl KeyPair {
    /// A new key from the system's random source.
    #[staticmethod]
    fn generate(py: Python<'_>) -> PyResult<Self> {
        core::Ed25519KeyPair::generate()
            .map(|inner| KeyPair { inner })
            .map_err(|e| identity_error(py, &e))
    }

    /// The key of a 32-byte private key (RFC 8032 seed).
    #[staticmethod]
    fn from_seed(seed: &[u8]) -> PyResult<Self> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| PyValueError::new_err("an Ed25519 seed has 32 bytes"))?;
        Ok(KeyPair {
            inner: core::Ed25519KeyPair::from_seed(&seed),
        })
    }

    /// Reads a private JWK (dict or JSON text; `kid` becomes the key id).
    #[staticmethod]
    fn from_jwk(jwk: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = jwk.py();
        let value = object_from(jwk, "JWK")?;
        core::Ed25519KeyPair::from_jwk(&value)
            .map(|inner| KeyPair { inner })
            .map_err(|e| identity_error(py, &e))
    }

    /// Reads a multibase private key (`z3u2…`).
    #[staticmethod]
    fn from_multibase(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::Ed25519KeyPair::from_secret_multibase(text)
            .map(|inner| KeyPair { inner })
            .map_err(|e| identity_error(py, &e))
    }

    /// Reads a private key file (a JWK, or one line of multibase).
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        py.detach(|| core::Ed25519KeyPair::load(&path))
            .map(|inner| KeyPair { inner })
            .map_err(|e| identity_error(py, &e))
    }

    /// Writes the private JWK to `path`, readable by the owner only (mode 0600).
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.save(&path))
            .map_err(|e| identity_error(py, &e))
    }

    /// The same key, signing as the verification method `key_id` (a DID URL).
    fn with_key_id(&self, key_id: String) -> Self {
        KeyPair {
            inner: self.inner.clone().with_key_id(key_id),
        }
    }

    /// The verification method this key signs as (its `kid`, else its did:key method).
    #[getter]
    fn key_id(&self) -> String {
        self.inner.key_id()
    }

    /// The DID this key speaks for.
    #[getter]
    fn did(&self) -> String {
        self.inner.did()
    }

    /// The public half.
    #[getter]
    fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.public_key(),
        }
    }

    /// Signs `message` (pure Ed25519); the 64-byte signature.
    fn sign<'py>(&self, py: Python<'py>, message: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.sign(message))
    }

    /// The private JWK as JSON text. It is the secret: store it like a password.
    fn private_jwk(&self) -> String {
        self.inner.to_private_jwk().to_string()
    }

    /// The private key as multibase (`z3u2…`). It is the secret.
    fn secret_multibase(&self) -> String {
        self.inner.to_secret_multibase().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "Ed25519KeyPair(public='{}', key_id='{}', secret=<redacted>)",
            self.inner.public_key().to_multibase(),
            self.inner.key_id()
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }
}

/// An Ed25519 public key.
#[pyclass(module = "lmos._native", frozen)]
#[derive(Clone)]
pub struct PublicKey {
    inner: core::PublicKey,
}

#[pymethods]
impl PublicKey {
    /// Reads the multibase form (`z6Mk…`).
    #[staticmethod]
    fn from_multibase(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::PublicKey::from_multibase(text)
            .map(|inner| PublicKey { inner })
            .map_err(|e| identity_error(py, &e))
    }

    /// Reads a public (or private: only `x` is read) JWK.
    #[staticmethod]
    fn from_jwk(jwk: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = jwk.py();
        let value = object_from(jwk, "JWK")?;
        core::PublicKey::from_jwk(&value)
            .map(|inner| PublicKey { inner })
            .map_err(|e| identity_error(py, &e))
    }

    /// The key of a `did:key` DID.
    #[staticmethod]
    fn from_did_key(py: Python<'_>, did: &str) -> PyResult<Self> {
        did_key::public_key(did)
            .map(|inner| PublicKey { inner })
            .map_err(|e| identity_error(py, &e))
    }

    /// The multibase form (`z6Mk…`).
    #[getter]
    fn multibase(&self) -> String {
        self.inner.to_multibase()
    }

    /// The public JWK as a dict.
    #[getter]
    fn jwk<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.to_jwk())
    }

    /// The 32 bytes of the key.
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// The `did:key` DID of this key.
    #[getter]
    fn did_key(&self) -> String {
        self.inner.did_key()
    }

    /// Checks an Ed25519 signature; raises `SignatureInvalid` when it does not match.
    fn verify(&self, py: Python<'_>, message: &[u8], signature: &[u8]) -> PyResult<()> {
        self.inner
            .verify(message, signature)
            .map_err(|e| identity_error(py, &e))
    }

    fn __repr__(&self) -> String {
        format!("PublicKey('{}')", self.inner.to_multibase())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PublicKey>()
            .map(|o| o.get().inner == self.inner)
            .unwrap_or(false)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.inner.hash(&mut hasher);
        hasher.finish()
    }
}

// ----- DIDs -------------------------------------------------------------------------------------

/// Resolves DIDs: `did:key` offline, `did:web` over HTTPS (plain http for loopback hosts only
/// with `allow_http_loopback`), and pinned documents without the network.
#[pyclass(module = "lmos._native", frozen)]
#[derive(Clone)]
pub struct DidResolver {
    pub(crate) inner: core::DidResolver,
}

#[pymethods]
impl DidResolver {
    /// A resolver; `pinned` are DID documents answered without the network.
    #[new]
    #[pyo3(signature = (*, allow_http_loopback=false, timeout=10.0, max_document_bytes=None, pinned=None))]
    fn new(
        py: Python<'_>,
        allow_http_loopback: bool,
        timeout: f64,
        max_document_bytes: Option<usize>,
        pinned: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<Self> {
        let mut options = ResolverOptions {
            allow_http_loopback,
            timeout: seconds(timeout, "timeout")?,
            ..ResolverOptions::default()
        };
        if let Some(bytes) = max_document_bytes {
            options.max_document_bytes = bytes;
        }
        let mut inner = core::DidResolver::new(options);
        for document in pinned.unwrap_or_default() {
            let value = object_from(&document, "DID document")?;
            let document = DidDocument::from_value(value).map_err(|e| identity_error(py, &e))?;
            inner = inner.pin(document);
        }
        Ok(DidResolver { inner })
    }

    /// Whether plain http is used for loopback did:web hosts.
    #[getter]
    fn allow_http_loopback(&self) -> bool {
        self.inner.options().allow_http_loopback
    }

    /// Resolves `did` (or the DID of a DID URL) to its document (awaitable dict).
    fn resolve<'py>(&self, py: Python<'py>, did: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        crate::bridge::future_into_py(py, async move {
            let document = inner.resolve(&did).await.map_err(raise)?;
            let value = document.to_value();
            attach_alive(|py| Ok(to_py(py, &value)?.unbind())).unwrap_or_else(|| Err(exiting()))
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "DidResolver(allow_http_loopback={})",
            if self.inner.options().allow_http_loopback {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// The resolver given, or the default one.
fn resolver_or_default(resolver: Option<&DidResolver>) -> core::DidResolver {
    resolver.map(|r| r.inner.clone()).unwrap_or_default()
}

/// The document of a `did:key` DID (derived, no network).
#[pyfunction]
fn resolve_did_key<'py>(py: Python<'py>, did: &str) -> PyResult<Bound<'py, PyAny>> {
    let document = did_key::resolve(did).map_err(|e| identity_error(py, &e))?;
    to_py(py, &document.to_value())
}

/// The `did:web` DID whose document is served at `url`'s host and path.
#[pyfunction]
fn did_web_for_url(py: Python<'_>, url: &str) -> PyResult<String> {
    let parsed = url::Url::parse(url)
        .map_err(|e| PyValueError::new_err(format!("{url:?} is not a URL: {e}")))?;
    did_web::did_for_url(&parsed).map_err(|e| identity_error(py, &e))
}

/// The URL of a `did:web` DID's document.
#[pyfunction]
#[pyo3(signature = (did, *, allow_http_loopback=false))]
fn did_web_document_url(py: Python<'_>, did: &str, allow_http_loopback: bool) -> PyResult<String> {
    did_web::document_url(did, allow_http_loopback)
        .map(|u| u.to_string())
        .map_err(|e| identity_error(py, &e))
}

/// An agent's DID document: `key` as `{did}#key-1` in every relationship and, with `td_url`, a
/// `WotThing` service pointing at its Thing Description.
#[pyfunction]
#[pyo3(signature = (did, key, td_url=None))]
fn did_document_for_agent<'py>(
    py: Python<'py>,
    did: &str,
    key: &Bound<'py, PyAny>,
    td_url: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let public = public_of(key)?;
    to_py(py, &DidDocument::for_agent(did, &public, td_url).to_value())
}

/// The public key of a `PublicKey` or an `Ed25519KeyPair`.
fn public_of(key: &Bound<'_, PyAny>) -> PyResult<core::PublicKey> {
    if let Ok(public) = key.cast::<PublicKey>() {
        return Ok(public.get().inner);
    }
    if let Ok(pair) = key.cast::<KeyPair>() {
        return Ok(pair.get().inner.public_key());
    }
    Err(PyTypeError::new_err(
        "key must be a PublicKey or an Ed25519KeyPair",
    ))
}

/// Checks a DID document (dict) and returns it as the core reads it; the URLs of its
/// `WotThing` services come with it.
#[pyfunction]
fn parse_did_document<'py>(
    document: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Vec<String>)> {
    let py = document.py();
    let value = object_from(document, "DID document")?;
    let document = DidDocument::from_value(value).map_err(|e| identity_error(py, &e))?;
    Ok((
        to_py(py, &document.to_value())?,
        document.thing_descriptions(),
    ))
}

/// A DID document from Python (dict or JSON text), checked.
pub fn did_document_from(document: &Bound<'_, PyAny>) -> PyResult<DidDocument> {
    let py = document.py();
    let value = object_from(document, "DID document")?;
    DidDocument::from_value(value).map_err(|e| identity_error(py, &e))
}

// ----- signatures -------------------------------------------------------------------------------

/// Signs `document` (any JSON object: a TD, a credential, a DID document) with an
/// `eddsa-jcs-2022` Data Integrity proof; returns the signed copy.
#[pyfunction]
#[pyo3(signature = (document, key, *, verification_method=None, proof_purpose="assertionMethod", created=None, expires=None, id=None, domain=None, challenge=None))]
#[allow(clippy::too_many_arguments)]
fn sign_document<'py>(
    document: &Bound<'py, PyAny>,
    key: PyRef<'py, KeyPair>,
    verification_method: Option<String>,
    proof_purpose: &str,
    created: Option<String>,
    expires: Option<String>,
    id: Option<String>,
    domain: Option<String>,
    challenge: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = document.py();
    let value = object_from(document, "document")?;
    let options = ProofOptions {
        verification_method,
        proof_purpose: purpose(proof_purpose)?,
        created,
        expires,
        id,
        domain,
        challenge,
    };
    let signed =
        core::sign_document(&value, &key.inner, &options).map_err(|e| identity_error(py, &e))?;
    to_py(py, &signed)
}

/// Verifies every proof on `document` (awaitable list of verified proofs); raises
/// `ProofMissing`, `SignatureInvalid`, ... when any fails.
#[pyfunction]
#[pyo3(signature = (document, resolver=None))]
fn verify_document<'py>(
    document: &Bound<'py, PyAny>,
    resolver: Option<PyRef<'py, DidResolver>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = document.py();
    let value = object_from(document, "document")?;
    let resolver = resolver_or_default(resolver.as_deref());
    crate::bridge::future_into_py(py, async move {
        let proofs = core::verify_document(&value, &resolver)
            .await
            .map_err(raise)?;
        attach_alive(|py| proofs_out(py, proofs)).unwrap_or_else(|| Err(exiting()))
    })
}

// ----- credentials ------------------------------------------------------------------------------

/// A credential whose proofs, issuer and validity period were checked.
#[pyclass(module = "lmos._native", frozen)]
#[derive(Clone)]
pub struct VerifiedCredential {
    inner: core::VerifiedCredential,
}

#[pymethods]
impl VerifiedCredential {
    /// The credential's `id`.
    #[getter]
    fn id(&self) -> Option<String> {
        self.inner.id.clone()
    }

    /// Its types (including `VerifiableCredential`).
    #[getter]
    fn types(&self) -> Vec<String> {
        self.inner.types.clone()
    }

    /// The issuer's DID.
    #[getter]
    fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    /// The DIDs of its subjects.
    #[getter]
    fn subjects(&self) -> Vec<String> {
        self.inner.subjects.clone()
    }

    /// `validFrom`.
    #[getter]
    fn valid_from(&self) -> Option<String> {
        self.inner.valid_from.clone()
    }

    /// `validUntil`.
    #[getter]
    fn valid_until(&self) -> Option<String> {
        self.inner.valid_until.clone()
    }

    /// The whole credential (dict).
    #[getter]
    fn credential<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.credential)
    }

    fn __repr__(&self) -> String {
        format!(
            "VerifiedCredential(types={:?}, issuer='{}', subjects={:?})",
            self.inner.types, self.inner.issuer, self.inner.subjects
        )
    }
}

/// Issues a VC 2.0 credential about `subject` (a DID), signed by `issuer`.
#[pyfunction]
#[pyo3(signature = (issuer, *, subject, types=None, claims=None, valid_from=None, valid_until=None, id=None, contexts=None))]
#[allow(clippy::too_many_arguments)]
fn issue_credential<'py>(
    py: Python<'py>,
    issuer: PyRef<'py, KeyPair>,
    subject: String,
    types: Option<Vec<String>>,
    claims: Option<&Bound<'py, PyAny>>,
    valid_from: Option<String>,
    valid_until: Option<String>,
    id: Option<String>,
    contexts: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let claims: Map<String, Value> = match claims.map(to_json).transpose()? {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(PyTypeError::new_err("claims must be a dict")),
    };
    let contexts = match contexts.map(to_json).transpose()? {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(PyTypeError::new_err("contexts must be a list")),
    };
    let options = CredentialOptions {
        id,
        types: types.unwrap_or_default(),
        subject,
        claims,
        valid_from,
        valid_until,
        contexts,
    };
    let credential =
        core::issue_credential(&issuer.inner, &options).map_err(|e| identity_error(py, &e))?;
    to_py(py, &credential)
}

/// Verifies a credential (awaitable `VerifiedCredential`); `now` in Unix seconds (default: now).
#[pyfunction]
#[pyo3(signature = (credential, resolver=None, *, now=None))]
fn verify_credential<'py>(
    credential: &Bound<'py, PyAny>,
    resolver: Option<PyRef<'py, DidResolver>>,
    now: Option<i64>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = credential.py();
    let value = object_from(credential, "credential")?;
    let resolver = resolver_or_default(resolver.as_deref());
    crate::bridge::future_into_py(py, async move {
        let inner = core::verify_credential(&value, &resolver, now)
            .await
            .map_err(raise)?;
        attach_alive(|py| Ok(Py::new(py, VerifiedCredential { inner })?.into_any()))
            .unwrap_or_else(|| Err(exiting()))
    })
}

/// Requirements from Python: dicts `{"type", "issuer"}` or `(type, issuer)` pairs.
fn requirements_from(requirements: &Bound<'_, PyAny>) -> PyResult<Vec<CredentialRequirement>> {
    let mut list = Vec::new();
    for item in requirements.try_iter()? {
        let item = item?;
        if let Ok((credential_type, issuer)) = item.extract::<(String, String)>() {
            list.push(CredentialRequirement::new(credential_type, issuer));
            continue;
        }
        let value = to_json(&item)?;
        let requirement: CredentialRequirement = serde_json::from_value(value).map_err(|_| {
            PyTypeError::new_err(
                "a requirement is a dict {\"type\": ..., \"issuer\": ...} or a (type, issuer) pair",
            )
        })?;
        list.push(requirement);
    }
    Ok(list)
}

/// Checks that `holder` meets every requirement with `credentials` (verified ones); raises
/// `CredentialRequired` naming the first that is not met.
#[pyfunction]
fn check_credentials(
    py: Python<'_>,
    requirements: &Bound<'_, PyAny>,
    holder: &str,
    credentials: Vec<PyRef<'_, VerifiedCredential>>,
) -> PyResult<()> {
    let requirements = requirements_from(requirements)?;
    let credentials: Vec<core::VerifiedCredential> =
        credentials.iter().map(|c| c.inner.clone()).collect();
    CredentialRequirement::check_all(&requirements, holder, &credentials)
        .map_err(|e| identity_error(py, &e))
}

/// The requirements a TD, or one of its affordances, declares in `lmos:requiredCredentials`.
#[pyfunction]
fn required_credentials<'py>(members: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = members.py();
    let Value::Object(map) = to_json(members)? else {
        return Err(PyTypeError::new_err("members must be a dict"));
    };
    let requirements =
        CredentialRequirement::declared_in(&map).map_err(|e| identity_error(py, &e))?;
    let value = serde_json::to_value(requirements)
        .map_err(|e| crate::errors::CodecError::new_err(e.to_string()))?;
    to_py(py, &value)
}

// ----- DID-auth ---------------------------------------------------------------------------------

/// Mints a DID-auth token (a JWT signed by `key`) for `audience`, valid `lifetime` seconds
/// (capped at 600), carrying `credentials` about the caller.
#[pyfunction]
#[pyo3(signature = (key, audience, *, lifetime=120.0, credentials=None))]
fn mint_did_auth(
    py: Python<'_>,
    key: PyRef<'_, KeyPair>,
    audience: &str,
    lifetime: f64,
    credentials: Option<Vec<Bound<'_, PyAny>>>,
) -> PyResult<String> {
    let credentials = credentials
        .unwrap_or_default()
        .iter()
        .map(|c| object_from(c, "credential"))
        .collect::<PyResult<Vec<_>>>()?;
    let lifetime = seconds(lifetime, "lifetime")?;
    did_auth::mint_did_auth(&key.inner, audience, lifetime, &credentials)
        .map_err(|e| identity_error(py, &e))
}

/// The security scheme (dict) a TD declares for DID-auth.
#[pyfunction]
fn did_auth_security_scheme(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let value = serde_json::to_value(did_auth::security_scheme())
        .map_err(|e| crate::errors::CodecError::new_err(e.to_string()))?;
    to_py(py, &value)
}

/// The caller a DID-auth token proved.
#[pyclass(module = "lmos._native", frozen)]
pub struct VerifiedCaller {
    inner: core::VerifiedCaller,
}

#[pymethods]
impl VerifiedCaller {
    /// The caller's DID.
    #[getter]
    fn did(&self) -> String {
        self.inner.did.clone()
    }

    /// The verification method that signed the token.
    #[getter]
    fn key_id(&self) -> String {
        self.inner.key_id.clone()
    }

    /// The token's `jti`.
    #[getter]
    fn jti(&self) -> String {
        self.inner.jti.clone()
    }

    /// When the token expires (Unix seconds).
    #[getter]
    fn expires_at(&self) -> i64 {
        self.inner.expires_at
    }

    /// The credentials it presented, each verified and about the caller.
    #[getter]
    fn credentials(&self) -> Vec<VerifiedCredential> {
        self.inner
            .credentials
            .iter()
            .map(|c| VerifiedCredential { inner: c.clone() })
            .collect()
    }

    /// Whether the caller holds a credential of `credential_type` from `issuer`.
    fn holds(&self, credential_type: &str, issuer: &str) -> bool {
        self.inner
            .holds(&CredentialRequirement::new(credential_type, issuer))
    }

    /// Raises `CredentialRequired` unless the caller meets every requirement.
    fn require(&self, py: Python<'_>, requirements: &Bound<'_, PyAny>) -> PyResult<()> {
        let requirements = requirements_from(requirements)?;
        self.inner
            .require(&requirements)
            .map_err(|e| identity_error(py, &e))
    }

    fn __repr__(&self) -> String {
        format!(
            "VerifiedCaller(did='{}', credentials={})",
            self.inner.did,
            self.inner.credentials.len()
        )
    }
}

/// Verifies DID-auth tokens for a server and remembers their `jti`s (replays are refused).
#[pyclass(module = "lmos._native", frozen)]
pub struct DidAuthVerifier {
    inner: core::DidAuthVerifier,
}

#[pymethods]
impl DidAuthVerifier {
    /// A verifier resolving callers' DIDs with `resolver`.
    #[new]
    #[pyo3(signature = (resolver=None, *, max_lifetime=300.0, leeway=30.0, replay_capacity=100_000))]
    fn new(
        resolver: Option<PyRef<'_, DidResolver>>,
        max_lifetime: f64,
        leeway: f64,
        replay_capacity: usize,
    ) -> PyResult<Self> {
        let options = DidAuthOptions {
            max_lifetime: seconds(max_lifetime, "max_lifetime")?,
            leeway: seconds(leeway, "leeway")?,
            replay_capacity,
        };
        Ok(DidAuthVerifier {
            inner: core::DidAuthVerifier::new(resolver_or_default(resolver.as_deref()), options),
        })
    }

    /// Verifies `token` (a `Bearer ` prefix is removed) for the thing `audience` (awaitable
    /// `VerifiedCaller`).
    fn verify<'py>(
        &self,
        py: Python<'py>,
        token: String,
        audience: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        crate::bridge::future_into_py(py, async move {
            let token = token.strip_prefix("Bearer ").unwrap_or(&token).trim();
            let caller = inner
                .verify_did_auth(token, &audience)
                .await
                .map_err(raise)?;
            attach_alive(|py| Ok(Py::new(py, VerifiedCaller { inner: caller })?.into_any()))
                .unwrap_or_else(|| Err(exiting()))
        })
    }

    /// How many token ids are remembered now.
    #[getter]
    fn remembered(&self) -> usize {
        self.inner.remembered()
    }
}

/// Registers the identity classes and functions on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KeyPair>()?;
    m.add_class::<PublicKey>()?;
    m.add_class::<DidResolver>()?;
    m.add_class::<VerifiedCredential>()?;
    m.add_class::<VerifiedCaller>()?;
    m.add_class::<DidAuthVerifier>()?;
    m.add_function(wrap_pyfunction!(resolve_did_key, m)?)?;
    m.add_function(wrap_pyfunction!(did_web_for_url, m)?)?;
    m.add_function(wrap_pyfunction!(did_web_document_url, m)?)?;
    m.add_function(wrap_pyfunction!(did_document_for_agent, m)?)?;
    m.add_function(wrap_pyfunction!(parse_did_document, m)?)?;
    m.add_function(wrap_pyfunction!(sign_document, m)?)?;
    m.add_function(wrap_pyfunction!(verify_document, m)?)?;
    m.add_function(wrap_pyfunction!(issue_credential, m)?)?;
    m.add_function(wrap_pyfunction!(verify_credential, m)?)?;
    m.add_function(wrap_pyfunction!(check_credentials, m)?)?;
    m.add_function(wrap_pyfunction!(required_credentials, m)?)?;
    m.add_function(wrap_pyfunction!(mint_did_auth, m)?)?;
    m.add_function(wrap_pyfunction!(did_auth_security_scheme, m)?)?;
    Ok(())
}
