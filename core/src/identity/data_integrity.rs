//! Data Integrity proofs (W3C VC Data Integrity 1.0) with the `eddsa-jcs-2022` cryptosuite
//! (W3C vc-di-eddsa): sign any JSON document, a Thing Description included, and verify every
//! proof on one.
//!
//! Signing: the proof options (with the document's `@context` copied in) and the document
//! without its proof are each canonicalized with JCS and hashed with SHA-256; the Ed25519
//! signature over `hash(proof config) || hash(document)` is the `proofValue` (base58btc
//! multibase). A document that already has proofs gets one more (a proof set).
//!
//! Verification resolves each proof's `verificationMethod` with a [`DidResolver`] and checks that
//! the DID document authorizes it for the proof's `proofPurpose`. One stricter rule than the
//! cryptosuite: a proof with `@context` verifies only when the document's `@context` equals it
//! (the cryptosuite would accept contexts appended after signing, which nothing signed).

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::did::VerificationRelationship;
use super::keys::{Ed25519KeyPair, PublicKey};
use super::multibase::{decode_base58btc, encode_base58btc};
use super::resolver::DidResolver;
use super::{jcs, time, IdentityError};

/// The proof type of every Data Integrity proof.
pub const DATA_INTEGRITY_PROOF: &str = "DataIntegrityProof";
/// The cryptosuite implemented here.
pub const EDDSA_JCS_2022: &str = "eddsa-jcs-2022";

/// What a proof is for: the verification relationship its key must have.
pub type ProofPurpose = VerificationRelationship;

/// How [`sign_document`] makes a proof.
#[derive(Debug, Clone)]
pub struct ProofOptions {
    /// The verification method (DID URL) of the key; default: the key's
    /// [`key_id`](Ed25519KeyPair::key_id).
    pub verification_method: Option<String>,
    /// What the proof is for (default `assertionMethod`).
    pub proof_purpose: ProofPurpose,
    /// The `created` date-time (default: now, to the second, UTC).
    pub created: Option<String>,
    /// An `expires` date-time, after which the proof is no longer accepted.
    pub expires: Option<String>,
    /// An `id` for the proof (a URL), so that later proofs can refer to it.
    pub id: Option<String>,
    /// The `domain` the proof is meant for.
    pub domain: Option<String>,
    /// A `challenge` given by the verifier.
    pub challenge: Option<String>,
}

impl Default for ProofOptions {
    fn default() -> Self {
        ProofOptions {
            verification_method: None,
            proof_purpose: VerificationRelationship::AssertionMethod,
            created: None,
            expires: None,
            id: None,
            domain: None,
            challenge: None,
        }
    }
}

/// What a consumer does with the signature of a Thing Description it is given or fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignaturePolicy {
    /// Refuse a TD without a proof, or with one that does not verify.
    Require,
    /// Refuse a TD whose proof does not verify; accept one without a proof (the default).
    #[default]
    VerifyIfPresent,
    /// Do not look at proofs.
    Ignore,
}

impl SignaturePolicy {
    /// The policy named `require`, `verifyIfPresent` (also `verify_if_present`,
    /// `verify-if-present`) or `ignore`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "require" => Some(SignaturePolicy::Require),
            "verifyIfPresent" | "verify_if_present" | "verify-if-present" => {
                Some(SignaturePolicy::VerifyIfPresent)
            }
            "ignore" => Some(SignaturePolicy::Ignore),
            _ => None,
        }
    }
}

/// A proof that verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedProof {
    /// The verification method that signed.
    pub verification_method: String,
    /// The DID of the signer.
    pub signer: String,
    /// The proof's purpose.
    pub purpose: ProofPurpose,
    /// The proof's `created`, if any.
    pub created: Option<String>,
}

/// The transformation step of `eddsa-jcs-2022`: the JCS form of the unsecured document.
pub fn transform(unsecured: &Value) -> String {
    jcs::canonicalize(unsecured)
}

/// The proof configuration step: checks `type`, `cryptosuite` and `created` of the proof
/// options (without `proofValue`) and returns their JCS form.
pub fn proof_configuration(proof_options: &Value) -> Result<String, IdentityError> {
    let Value::Object(options) = proof_options else {
        return Err(IdentityError::InvalidProof(
            "a proof must be an object".to_owned(),
        ));
    };
    if options.get("type").and_then(Value::as_str) != Some(DATA_INTEGRITY_PROOF) {
        return Err(IdentityError::InvalidProof(format!(
            "unsupported proof type (only {DATA_INTEGRITY_PROOF})"
        )));
    }
    if options.get("cryptosuite").and_then(Value::as_str) != Some(EDDSA_JCS_2022) {
        return Err(IdentityError::InvalidProof(format!(
            "unsupported cryptosuite (only {EDDSA_JCS_2022})"
        )));
    }
    for member in ["created", "expires"] {
        if let Some(value) = options.get(member) {
            if value.as_str().and_then(time::parse).is_none() {
                return Err(IdentityError::InvalidProof(format!(
                    "{member} is not an XML Schema dateTime with a time zone"
                )));
            }
        }
    }
    Ok(jcs::canonicalize(proof_options))
}

/// The hashing step: `SHA-256(canonical proof config) || SHA-256(transformed document)`.
pub fn hash_data(transformed_document: &str, canonical_proof_config: &str) -> [u8; 64] {
    let mut data = [0u8; 64];
    data[..32].copy_from_slice(&Sha256::digest(canonical_proof_config.as_bytes()));
    data[32..].copy_from_slice(&Sha256::digest(transformed_document.as_bytes()));
    data
}

/// The `proofValue` of a signature: base58btc multibase.
pub fn proof_value(signature: &[u8; 64]) -> String {
    encode_base58btc(signature)
}

fn context_of(document: &Value) -> Option<&Value> {
    document.get("@context")
}

/// Makes a proof over `unsecured` (a document without the proof being made; existing proofs
/// are not covered).
pub fn create_proof(
    unsecured: &Value,
    key: &Ed25519KeyPair,
    options: &ProofOptions,
) -> Result<Value, IdentityError> {
    let Value::Object(_) = unsecured else {
        return Err(IdentityError::InvalidProof(
            "only a JSON object can be signed".to_owned(),
        ));
    };
    let mut proof = Map::new();
    if let Some(id) = &options.id {
        proof.insert("id".to_owned(), Value::String(id.clone()));
    }
    proof.insert("type".to_owned(), DATA_INTEGRITY_PROOF.into());
    proof.insert("cryptosuite".to_owned(), EDDSA_JCS_2022.into());
    let created = options
        .created
        .clone()
        .unwrap_or_else(|| time::format(time::now()));
    proof.insert("created".to_owned(), Value::String(created));
    if let Some(expires) = &options.expires {
        proof.insert("expires".to_owned(), Value::String(expires.clone()));
    }
    let method = options
        .verification_method
        .clone()
        .unwrap_or_else(|| key.key_id());
    proof.insert("verificationMethod".to_owned(), Value::String(method));
    proof.insert(
        "proofPurpose".to_owned(),
        options.proof_purpose.as_str().into(),
    );
    if let Some(domain) = &options.domain {
        proof.insert("domain".to_owned(), Value::String(domain.clone()));
    }
    if let Some(challenge) = &options.challenge {
        proof.insert("challenge".to_owned(), Value::String(challenge.clone()));
    }
    if let Some(context) = context_of(unsecured) {
        proof.insert("@context".to_owned(), context.clone());
    }
    let mut proof = Value::Object(proof);
    let config = proof_configuration(&proof)?;
    let signature = key.sign(&hash_data(&transform(unsecured), &config));
    if let Value::Object(map) = &mut proof {
        map.insert(
            "proofValue".to_owned(),
            Value::String(proof_value(&signature)),
        );
    }
    Ok(proof)
}

/// Signs `document`: returns it with one more proof (`proof` becomes an array when there was
/// one already; earlier proofs are not covered by the new one).
pub fn sign_document(
    document: &Value,
    key: &Ed25519KeyPair,
    options: &ProofOptions,
) -> Result<Value, IdentityError> {
    let mut unsecured = document.clone();
    let existing = match &mut unsecured {
        Value::Object(map) => map.remove("proof"),
        _ => {
            return Err(IdentityError::InvalidProof(
                "only a JSON object can be signed".to_owned(),
            ))
        }
    };
    let proof = create_proof(&unsecured, key, options)?;
    let proofs = match existing {
        None => proof,
        Some(Value::Array(mut items)) => {
            items.push(proof);
            Value::Array(items)
        }
        Some(other) => Value::Array(vec![other, proof]),
    };
    if let Value::Object(map) = &mut unsecured {
        map.insert("proof".to_owned(), proofs);
    }
    Ok(unsecured)
}

/// One proof of a document, ready for its key: what was signed and the signature.
#[derive(Debug, Clone)]
pub struct PreparedProof {
    /// The verification method that must have signed.
    pub verification_method: String,
    /// The proof's purpose.
    pub purpose: ProofPurpose,
    /// The proof's `created`.
    pub created: Option<String>,
    /// `hash(proof config) || hash(document)`.
    pub hash_data: [u8; 64],
    signature: Vec<u8>,
}

impl PreparedProof {
    /// Checks the signature with `key`.
    pub fn verify_with(&self, key: &PublicKey) -> Result<VerifiedProof, IdentityError> {
        key.verify(&self.hash_data, &self.signature)?;
        Ok(VerifiedProof {
            signer: self
                .verification_method
                .split('#')
                .next()
                .unwrap_or_default()
                .to_owned(),
            verification_method: self.verification_method.clone(),
            purpose: self.purpose,
            created: self.created.clone(),
        })
    }
}

/// The proofs of `document` (an object or a proof set), each with the data it signs; checks
/// everything but the signatures. `ProofMissing` when there is none.
pub fn prepare_proofs(document: &Value) -> Result<Vec<PreparedProof>, IdentityError> {
    let Value::Object(map) = document else {
        return Err(IdentityError::InvalidProof(
            "only a JSON object carries proofs".to_owned(),
        ));
    };
    let proofs: Vec<&Value> = match map.get("proof") {
        None => return Err(IdentityError::ProofMissing),
        Some(Value::Array(items)) if items.is_empty() => return Err(IdentityError::ProofMissing),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    let mut unsecured = map.clone();
    unsecured.remove("proof");
    let now = time::now();
    proofs
        .iter()
        .map(|proof| prepare_one(&unsecured, proof, &proofs, now))
        .collect()
}

fn prepare_one(
    unsecured: &Map<String, Value>,
    proof: &Value,
    all: &[&Value],
    now: i64,
) -> Result<PreparedProof, IdentityError> {
    let Value::Object(proof_map) = proof else {
        return Err(IdentityError::InvalidProof(
            "a proof must be an object".to_owned(),
        ));
    };
    let mut options = proof_map.clone();
    let proof_value = match options.remove("proofValue") {
        Some(Value::String(text)) => text,
        _ => {
            return Err(IdentityError::InvalidProof(
                "no proofValue string".to_owned(),
            ))
        }
    };
    let signature = decode_base58btc(&proof_value)
        .map_err(|_| IdentityError::InvalidProof("proofValue is not base58btc".to_owned()))?;
    let verification_method = options
        .get("verificationMethod")
        .and_then(Value::as_str)
        .ok_or_else(|| IdentityError::InvalidProof("no verificationMethod".to_owned()))?
        .to_owned();
    let purpose = options
        .get("proofPurpose")
        .and_then(Value::as_str)
        .and_then(VerificationRelationship::parse)
        .ok_or_else(|| IdentityError::InvalidProof("missing or unknown proofPurpose".to_owned()))?;
    let options = Value::Object(options);
    let config = proof_configuration(&options)?;
    if let Some(expires) = options
        .get("expires")
        .and_then(Value::as_str)
        .and_then(time::parse)
    {
        if expires < now {
            return Err(IdentityError::InvalidProof(
                "the proof has expired".to_owned(),
            ));
        }
    }
    let mut unsecured = unsecured.clone();
    if let Some(context) = options.get("@context") {
        if unsecured.get("@context") != Some(context) {
            return Err(IdentityError::SignatureInvalid(
                "the document's @context differs from the signed one".to_owned(),
            ));
        }
    }
    // A proof in a chain also covers the proofs it names in previousProof.
    if let Some(previous) = options.get("previousProof") {
        let ids: Vec<&str> = match previous {
            Value::String(id) => vec![id.as_str()],
            Value::Array(ids) => ids.iter().filter_map(Value::as_str).collect(),
            _ => return Err(IdentityError::InvalidProof("bad previousProof".to_owned())),
        };
        let mut covered = Vec::new();
        for id in ids {
            let found = all
                .iter()
                .find(|p| p.get("id").and_then(Value::as_str) == Some(id))
                .ok_or_else(|| {
                    IdentityError::InvalidProof(format!("previousProof {id:?} is not in the set"))
                })?;
            covered.push((*found).clone());
        }
        let value = if covered.len() == 1 {
            covered.remove(0)
        } else {
            Value::Array(covered)
        };
        unsecured.insert("proof".to_owned(), value);
    }
    let hash_data = hash_data(&transform(&Value::Object(unsecured)), &config);
    Ok(PreparedProof {
        verification_method,
        purpose,
        created: options
            .get("created")
            .and_then(Value::as_str)
            .map(str::to_owned),
        hash_data,
        signature,
    })
}

/// Verifies every proof on `document`, resolving each verification method's DID. Succeeds
/// only when there is at least one proof and all of them verify.
pub async fn verify_document(
    document: &Value,
    resolver: &DidResolver,
) -> Result<Vec<VerifiedProof>, IdentityError> {
    let mut verified = Vec::new();
    for proof in prepare_proofs(document)? {
        let key = resolver
            .public_key(&proof.verification_method, proof.purpose)
            .await?;
        verified.push(proof.verify_with(&key)?);
    }
    Ok(verified)
}

/// As [`verify_document`] without the network: `None` when a verification method needs it
/// (a `did:web` DID that is not pinned in `resolver`).
pub fn verify_document_offline(
    document: &Value,
    resolver: &DidResolver,
) -> Option<Result<Vec<VerifiedProof>, IdentityError>> {
    let proofs = match prepare_proofs(document) {
        Ok(proofs) => proofs,
        Err(e) => return Some(Err(e)),
    };
    let mut verified = Vec::new();
    for proof in proofs {
        let key = match resolver.public_key_offline(&proof.verification_method, proof.purpose)? {
            Ok(key) => key,
            Err(e) => return Some(Err(e)),
        };
        match proof.verify_with(&key) {
            Ok(v) => verified.push(v),
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(verified))
}
