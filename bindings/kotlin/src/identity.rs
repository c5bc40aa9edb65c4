//! Identity (`lmos::identity`): Ed25519 keys, `did:key` / `did:web`, DID documents, signed
//! documents (`eddsa-jcs-2022`), verifiable credentials and DID-auth tokens. Documents cross as
//! JSON text; a key pair stays in Rust ([`NativeKeyPair`]) and its private half leaves only
//! through the explicit export methods. No error message carries a key, a token or a signature.

use std::sync::Arc;
use std::time::Duration;

use lmos::identity::{
    did_auth, did_key, did_web, issue_credential, mint_did_auth, verify_credential,
    verify_document, CredentialOptions, CredentialRequirement, DidAuthOptions, DidAuthVerifier,
    DidDocument, DidResolver, Ed25519KeyPair, IdentityError, ProofOptions, PublicKey,
    VerificationRelationship, VerifiedCredential, VerifiedProof,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::errors::{encode, parse_json, type_error, NativeError};
use crate::runtime::run;
use crate::serve::NativeServient;

/// The encoded form of an identity error, with its (secret-free) fields as details.
pub fn identity_error(error: &IdentityError) -> NativeError {
    let details = match error {
        IdentityError::KeyFile { path, .. } => json!({"path": path}),
        IdentityError::InvalidDid { did, .. }
        | IdentityError::Resolution { did, .. }
        | IdentityError::InvalidDidDocument { did, .. } => json!({"did": did}),
        IdentityError::VerificationMethod {
            method,
            relationship,
        } => json!({"method": method, "relationship": relationship}),
        IdentityError::WrongAudience { expected } => json!({"expected": expected}),
        IdentityError::CredentialRequired {
            credential_type,
            issuer,
        } => json!({"credentialType": credential_type, "issuer": issuer}),
        _ => json!({}),
    };
    NativeError::with_details(error.code(), error.to_string(), details)
}

fn options<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, NativeError> {
    serde_json::from_str(text).map_err(|e| type_error(format!("bad {what}: {e}")))
}

// ----- keys ---------------------------------------------------------------------------------

/// An Ed25519 key pair. Its private key leaves only through `to_private_jwk`,
/// `to_secret_multibase` and `save`.
#[derive(uniffi::Object)]
pub struct NativeKeyPair {
    pub(crate) inner: Ed25519KeyPair,
}

#[uniffi::export]
impl NativeKeyPair {
    /// A fresh key from the OS random source.
    #[uniffi::constructor]
    pub fn generate() -> Result<Arc<Self>, NativeError> {
        let inner = Ed25519KeyPair::generate().map_err(|e| identity_error(&e))?;
        Ok(Arc::new(NativeKeyPair { inner }))
    }

    /// A key from a private JWK (JSON text) or a multibase private key (`z3u2…`).
    #[uniffi::constructor]
    pub fn from_text(text: String) -> Result<Arc<Self>, NativeError> {
        let inner = Ed25519KeyPair::from_text(&text).map_err(|e| identity_error(&e))?;
        Ok(Arc::new(NativeKeyPair { inner }))
    }

    /// Reads a key file (a private JWK or a multibase private key).
    #[uniffi::constructor]
    pub fn load(path: String) -> Result<Arc<Self>, NativeError> {
        let inner = Ed25519KeyPair::load(&path).map_err(|e| identity_error(&e))?;
        Ok(Arc::new(NativeKeyPair { inner }))
    }

    /// Writes the key as a private JWK (file mode 0600).
    pub fn save(&self, path: String) -> Result<(), NativeError> {
        self.inner.save(&path).map_err(|e| identity_error(&e))
    }

    /// The same key signing as the verification method `key_id`.
    pub fn with_key_id(&self, key_id: String) -> Arc<NativeKeyPair> {
        Arc::new(NativeKeyPair {
            inner: self.inner.clone().with_key_id(key_id),
        })
    }

    /// The verification method the key signs as.
    pub fn key_id(&self) -> String {
        self.inner.key_id()
    }

    /// The key's DID (the DID part of its key id; `did:key` by default).
    pub fn did(&self) -> String {
        self.inner.did()
    }

    /// The public key, multibase (`z6Mk…`).
    pub fn public_key_multibase(&self) -> String {
        self.inner.public_key().to_multibase()
    }

    /// The public key as a JWK (JSON text).
    pub fn public_jwk(&self) -> Result<String, NativeError> {
        encode(&self.inner.public_key().to_jwk())
    }

    /// The private key as a JWK (JSON text). Secret.
    pub fn to_private_jwk(&self) -> String {
        self.inner.to_private_jwk().to_string()
    }

    /// The private key, multibase. Secret.
    pub fn to_secret_multibase(&self) -> String {
        self.inner.to_secret_multibase().to_string()
    }

    /// Signs bytes; the 64-byte Ed25519 signature.
    pub fn sign(&self, message: Vec<u8>) -> Vec<u8> {
        self.inner.sign(&message).to_vec()
    }
}

fn public_key_from(text: &str) -> Result<PublicKey, NativeError> {
    let result = if text.trim_start().starts_with('{') {
        let jwk = parse_json(text, "the public JWK")?;
        PublicKey::from_jwk(&jwk)
    } else if text.starts_with("did:key:") {
        did_key::public_key(text)
    } else {
        PublicKey::from_multibase(text)
    };
    result.map_err(|e| identity_error(&e))
}

/// Checks an Ed25519 signature by a public key (multibase, `did:key` or JWK JSON text).
#[uniffi::export]
pub fn verify_signature(
    public_key: String,
    message: Vec<u8>,
    signature: Vec<u8>,
) -> Result<(), NativeError> {
    public_key_from(&public_key)?
        .verify(&message, &signature)
        .map_err(|e| identity_error(&e))
}

// ----- DIDs ---------------------------------------------------------------------------------

/// Resolver options as the Kotlin layer sends them (the core's settings).
type Resolver = lmos::identity::ResolverSettings;

fn build_resolver(settings: Resolver) -> Result<DidResolver, NativeError> {
    settings.build().map_err(|e| identity_error(&e))
}

pub(crate) fn resolver_from(text: &str) -> Result<DidResolver, NativeError> {
    build_resolver(options::<Resolver>(text, "resolver options")?)
}

/// Resolves a DID (`did:key` offline, `did:web` over HTTPS, or the loopback http option) to its
/// DID document (JSON text).
#[uniffi::export]
pub async fn resolve_did(did: String, resolver: String) -> Result<String, NativeError> {
    let resolver = resolver_from(&resolver)?;
    run(async move {
        let document = resolver
            .resolve(&did)
            .await
            .map_err(|e| identity_error(&e))?;
        encode(&document.to_value())
    })
    .await
}

/// The DID document of a `did:key` (JSON text), without the network.
#[uniffi::export]
pub fn resolve_did_key(did: String) -> Result<String, NativeError> {
    let document = did_key::resolve(&did).map_err(|e| identity_error(&e))?;
    encode(&document.to_value())
}

/// The `did:web` DID for a URL (`http://127.0.0.1:8080/` → `did:web:127.0.0.1%3A8080`).
#[uniffi::export]
pub fn did_web_for_url(url: String) -> Result<String, NativeError> {
    let parsed =
        url::Url::parse(&url).map_err(|e| type_error(format!("{url:?} is not a URL: {e}")))?;
    did_web::did_for_url(&parsed).map_err(|e| identity_error(&e))
}

/// Where a `did:web` DID's document is fetched from.
#[uniffi::export]
pub fn did_web_document_url(did: String, allow_http_loopback: bool) -> Result<String, NativeError> {
    did_web::document_url(&did, allow_http_loopback)
        .map(|url| url.to_string())
        .map_err(|e| identity_error(&e))
}

/// An agent's DID document: the key (multibase, `did:key` or JWK text) as `{did}#key-1` and,
/// with `td_url`, a `WotThing` service pointing at its TD.
#[uniffi::export]
pub fn did_document_for_agent(
    did: String,
    public_key: String,
    td_url: Option<String>,
) -> Result<String, NativeError> {
    let key = public_key_from(&public_key)?;
    encode(&DidDocument::for_agent(&did, &key, td_url.as_deref()).to_value())
}

/// Reads a DID document (JSON text) and gives it back in its normal form.
#[uniffi::export]
pub fn parse_did_document(document: String) -> Result<String, NativeError> {
    let value = parse_json(&document, "the DID document")?;
    let document = DidDocument::from_value(value).map_err(|e| identity_error(&e))?;
    encode(&document.to_value())
}

// ----- signed documents ---------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Proof {
    verification_method: Option<String>,
    proof_purpose: Option<String>,
    created: Option<String>,
    expires: Option<String>,
    id: Option<String>,
    domain: Option<String>,
    challenge: Option<String>,
}

fn purpose(name: &str) -> Result<VerificationRelationship, NativeError> {
    VerificationRelationship::parse(name).ok_or_else(|| {
        type_error(format!(
            "unknown proof purpose {name:?} (assertionMethod, authentication, \
             capabilityInvocation, capabilityDelegation)"
        ))
    })
}

/// A proof that verified, as JSON.
pub(crate) fn proof_json(proof: &VerifiedProof) -> Value {
    json!({
        "verificationMethod": proof.verification_method,
        "signer": proof.signer,
        "purpose": proof.purpose.as_str(),
        "created": proof.created,
    })
}

/// Signs a JSON object (a TD, a credential, any document) with an `eddsa-jcs-2022` proof.
#[uniffi::export]
pub fn sign_document(
    document: String,
    key: Arc<NativeKeyPair>,
    options: String,
) -> Result<String, NativeError> {
    let document = parse_json(&document, "the document")?;
    let given: Proof = self::options(&options, "proof options")?;
    let mut proof = ProofOptions {
        verification_method: given.verification_method,
        created: given.created,
        expires: given.expires,
        id: given.id,
        domain: given.domain,
        challenge: given.challenge,
        ..ProofOptions::default()
    };
    if let Some(name) = given.proof_purpose {
        proof.proof_purpose = purpose(&name)?;
    }
    let signed = lmos::identity::sign_document(&document, &key.inner, &proof)
        .map_err(|e| identity_error(&e))?;
    encode(&signed)
}

/// Verifies every proof on a document (at least one); returns the proofs that verified.
#[uniffi::export]
pub async fn verify_signed_document(
    document: String,
    resolver: String,
) -> Result<String, NativeError> {
    let document = parse_json(&document, "the document")?;
    let resolver = resolver_from(&resolver)?;
    run(async move {
        let proofs = verify_document(&document, &resolver)
            .await
            .map_err(|e| identity_error(&e))?;
        encode(&Value::Array(proofs.iter().map(proof_json).collect()))
    })
    .await
}

// ----- credentials ----------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Credential {
    id: Option<String>,
    #[serde(rename = "type")]
    types: Option<Vec<String>>,
    subject: String,
    claims: Option<Map<String, Value>>,
    valid_from: Option<String>,
    valid_until: Option<String>,
    contexts: Option<Vec<Value>>,
}

fn credential_json(credential: &VerifiedCredential) -> Value {
    json!({
        "id": credential.id,
        "types": credential.types,
        "issuer": credential.issuer,
        "subjects": credential.subjects,
        "validFrom": credential.valid_from,
        "validUntil": credential.valid_until,
        "credential": credential.credential,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifiedCredentialJson {
    id: Option<String>,
    types: Vec<String>,
    issuer: String,
    subjects: Vec<String>,
    valid_from: Option<String>,
    valid_until: Option<String>,
    credential: Value,
}

/// Issues a credential `{type, subject, claims, validFrom, validUntil, id, contexts}` signed by
/// `issuer` (whose DID becomes the credential's issuer).
#[uniffi::export]
pub fn issue_verifiable_credential(
    issuer: Arc<NativeKeyPair>,
    options: String,
) -> Result<String, NativeError> {
    let given: Credential = self::options(&options, "credential options")?;
    let options = CredentialOptions {
        id: given.id,
        types: given.types.unwrap_or_default(),
        subject: given.subject,
        claims: given.claims.unwrap_or_default(),
        valid_from: given.valid_from,
        valid_until: given.valid_until,
        contexts: given.contexts.unwrap_or_default(),
    };
    let credential = issue_credential(&issuer.inner, &options).map_err(|e| identity_error(&e))?;
    encode(&credential)
}

/// Verifies a credential (shape, proofs by the issuer, validity at `now`, Unix seconds).
#[uniffi::export]
pub async fn verify_verifiable_credential(
    credential: String,
    resolver: String,
    now: Option<i64>,
) -> Result<String, NativeError> {
    let credential = parse_json(&credential, "the credential")?;
    let resolver = resolver_from(&resolver)?;
    run(async move {
        let verified = verify_credential(&credential, &resolver, now)
            .await
            .map_err(|e| identity_error(&e))?;
        encode(&credential_json(&verified))
    })
    .await
}

/// Checks that `holder` meets every requirement (`[{type, issuer}]`) with credentials that
/// `verify_verifiable_credential` verified; fails with `identity_credential_required` for the
/// first unmet one.
#[uniffi::export]
pub fn check_credential_requirements(
    requirements: String,
    holder: String,
    credentials: String,
) -> Result<(), NativeError> {
    let requirements: Vec<CredentialRequirement> =
        self::options(&requirements, "credential requirements")?;
    let credentials: Vec<VerifiedCredentialJson> =
        self::options(&credentials, "verified credentials")?;
    let credentials: Vec<VerifiedCredential> = credentials
        .into_iter()
        .map(|c| VerifiedCredential {
            id: c.id,
            types: c.types,
            issuer: c.issuer,
            subjects: c.subjects,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            credential: c.credential,
        })
        .collect();
    CredentialRequirement::check_all(&requirements, &holder, &credentials)
        .map_err(|e| identity_error(&e))
}

/// The credential requirements a TD member map (a thing or an affordance) declares in
/// `lmos:requiredCredentials` (JSON text of an array).
#[uniffi::export]
pub fn declared_credential_requirements(members: String) -> Result<String, NativeError> {
    let members: Map<String, Value> = self::options(&members, "the members")?;
    let requirements =
        CredentialRequirement::declared_in(&members).map_err(|e| identity_error(&e))?;
    encode(&requirements)
}

// ----- DID-auth -------------------------------------------------------------------------------

/// Mints a DID-auth token for `audience`, valid `lifetime_seconds` (default 2 minutes, capped
/// at 10), carrying credentials (JSON text of an array).
#[uniffi::export]
pub fn mint_did_auth_token(
    key: Arc<NativeKeyPair>,
    audience: String,
    lifetime_seconds: Option<u64>,
    credentials: String,
) -> Result<String, NativeError> {
    let credentials: Vec<Value> = self::options(&credentials, "credentials")?;
    let lifetime = match lifetime_seconds {
        None => did_auth::DEFAULT_TOKEN_LIFETIME,
        Some(0) => return Err(type_error("the token lifetime must be at least one second")),
        Some(s) => Duration::from_secs(s.min(1_000_000_000)),
    };
    mint_did_auth(&key.inner, &audience, lifetime, &credentials).map_err(|e| identity_error(&e))
}

/// The TD security scheme for DID-auth (JSON text).
#[uniffi::export]
pub fn did_auth_security_scheme() -> Result<String, NativeError> {
    encode(&did_auth::security_scheme())
}

/// The audience a DID-auth token for this thing names (its `id`, else the TD URL).
#[uniffi::export]
pub fn did_auth_audience(
    td: String,
    td_url: Option<String>,
) -> Result<Option<String>, NativeError> {
    let thing = crate::td::thing_from(&td)?;
    Ok(did_auth::audience_for(&thing, td_url.as_deref()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Verifier {
    resolver: Option<Resolver>,
    max_lifetime_seconds: Option<u64>,
    leeway_seconds: Option<u64>,
    replay_capacity: Option<usize>,
}

/// Verifies DID-auth tokens, remembering their ids to refuse replays.
#[derive(uniffi::Object)]
pub struct NativeDidAuthVerifier {
    inner: Arc<DidAuthVerifier>,
}

#[uniffi::export]
impl NativeDidAuthVerifier {
    /// A verifier (options as JSON text).
    #[uniffi::constructor]
    pub fn new(options: String) -> Result<Arc<Self>, NativeError> {
        let given: Verifier = self::options(&options, "verifier options")?;
        let resolver = build_resolver(given.resolver.unwrap_or_default())?;
        let mut options = DidAuthOptions::default();
        if let Some(s) = given.max_lifetime_seconds {
            options.max_lifetime = Duration::from_secs(s);
        }
        if let Some(s) = given.leeway_seconds {
            options.leeway = Duration::from_secs(s);
        }
        if let Some(n) = given.replay_capacity {
            options.replay_capacity = n;
        }
        Ok(Arc::new(NativeDidAuthVerifier {
            inner: Arc::new(DidAuthVerifier::new(resolver, options)),
        }))
    }

    /// Verifies a token (with or without `Bearer `) for the audience; returns the caller
    /// `{did, keyId, jti, expiresAt, credentials}` (JSON text).
    pub async fn verify(&self, token: String, audience: String) -> Result<String, NativeError> {
        let verifier = self.inner.clone();
        run(async move {
            let token = token.strip_prefix("Bearer ").unwrap_or(&token);
            let caller = verifier
                .verify_did_auth(token, &audience)
                .await
                .map_err(|e| identity_error(&e))?;
            encode(&json!({
                "did": caller.did,
                "keyId": caller.key_id,
                "jti": caller.jti,
                "expiresAt": caller.expires_at,
                "credentials": caller.credentials.iter().map(credential_json).collect::<Vec<_>>(),
            }))
        })
        .await
    }
}

// ----- the servient's identity ------------------------------------------------------------------

#[uniffi::export]
impl NativeServient {
    /// Signs every TD served from now on with `key` (`None` stops signing).
    pub fn set_description_signer(&self, key: Option<Arc<NativeKeyPair>>) {
        self.core()
            .set_description_signer(key.map(|k| k.inner.clone()));
    }

    /// Serves a DID document (JSON text) at `/.well-known/did.json`.
    pub fn serve_did_document(&self, document: String) -> Result<(), NativeError> {
        let value = parse_json(&document, "the DID document")?;
        let document = DidDocument::from_value(value).map_err(|e| identity_error(&e))?;
        self.core().serve_did_document(document);
        Ok(())
    }
}
