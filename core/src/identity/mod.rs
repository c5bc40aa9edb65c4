//! Digital identity for agents and tools: Ed25519 keys, `did:key` and `did:web`, signed
//! descriptions (Data Integrity proofs with the `eddsa-jcs-2022` cryptosuite), DID-authenticated
//! requests (short-lived JWTs signed by the caller's DID key) and verifiable credentials
//! (VC Data Model 2.0).
//!
//! - [`keys`]: [`Ed25519KeyPair`] / [`PublicKey`], saved and loaded as JWK or multibase.
//! - [`did`]: the [`DidDocument`] model; [`did_key`] and [`did_web`] make and resolve DIDs;
//!   [`DidResolver`] resolves either.
//! - [`jcs`]: the JSON Canonicalization Scheme (RFC 8785).
//! - [`data_integrity`]: sign any JSON document, verify every proof on it.
//! - [`did_auth`]: mint a DID-auth token (client) and verify it (server, with a replay cache).
//! - [`credentials`]: issue, verify and require verifiable credentials.
//!
//! The decisions behind this module are written down in `docs/identity.md`. No error message of
//! this module contains a private key, a token or a signature.

pub mod credentials;
pub mod data_integrity;
pub mod did;
pub mod did_auth;
pub mod did_key;
pub mod did_web;
pub mod jcs;
pub mod keys;
pub mod multibase;
pub mod resolver;
pub mod route;
mod time;

pub use credentials::{
    issue_credential, verify_credential, CredentialOptions, CredentialRequirement,
    VerifiedCredential,
};
pub use data_integrity::{
    sign_document, verify_document, ProofOptions, ProofPurpose, SignaturePolicy, VerifiedProof,
};
pub use did::{DidDocument, Service, VerificationMethod, VerificationRelationship};
pub use did_auth::{mint_did_auth, DidAuthOptions, DidAuthVerifier, VerifiedCaller};
pub use keys::{Ed25519KeyPair, PublicKey};
pub use resolver::{DidResolver, ResolverOptions, ResolverSettings};

/// What can go wrong with keys, DIDs, proofs, tokens and credentials.
///
/// Each variant has a stable [`code`](IdentityError::code). Messages never carry secrets: no
/// private key, token or signature text appears in them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// A key (JWK, multibase, raw bytes) is malformed or not an Ed25519 key.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A key file could not be read or written.
    #[error("key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A DID or DID URL is malformed.
    #[error("invalid DID {did:?}: {reason}")]
    InvalidDid {
        /// The DID as given.
        did: String,
        /// Why it was refused.
        reason: String,
    },
    /// The DID method is not one this SDK resolves (`did:key`, `did:web`).
    #[error("unsupported DID method in {0:?} (supported: did:key, did:web)")]
    UnsupportedMethod(String),
    /// Resolving a DID failed (network, HTTP status, size, TLS, ...).
    #[error("cannot resolve {did}: {message}")]
    Resolution {
        /// The DID.
        did: String,
        /// Why resolution failed.
        message: String,
    },
    /// A DID document is malformed or does not belong to the DID it was fetched for.
    #[error("invalid DID document for {did}: {message}")]
    InvalidDidDocument {
        /// The DID.
        did: String,
        /// What is wrong.
        message: String,
    },
    /// The DID document has no such verification method, or does not authorize it for this
    /// purpose.
    #[error("verification method {method:?} is not usable for {relationship}")]
    VerificationMethod {
        /// The verification method id.
        method: String,
        /// The relationship asked for (`assertionMethod`, `authentication`).
        relationship: String,
    },
    /// The document carries no proof.
    #[error("the document has no proof")]
    ProofMissing,
    /// A proof is malformed or of an unsupported kind.
    #[error("invalid proof: {0}")]
    InvalidProof(String),
    /// A proof's signature does not match the document (tampered with, or signed by another key).
    #[error("the signature does not verify ({0})")]
    SignatureInvalid(String),
    /// A JWT is malformed or not a DID-auth token.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token's `exp` has passed.
    #[error("the token has expired")]
    TokenExpired,
    /// The token's `iat`/`nbf` lies in the future, or its lifetime is longer than allowed.
    #[error("the token is not valid now: {0}")]
    TokenNotValid(String),
    /// The token is not meant for this thing.
    #[error("the token is not meant for {expected:?}")]
    WrongAudience {
        /// The audience this server expected.
        expected: String,
    },
    /// A token with this `jti` was already accepted.
    #[error("the token was already used (replay)")]
    TokenReplayed,
    /// A verifiable credential is malformed.
    #[error("invalid credential: {0}")]
    InvalidCredential(String),
    /// The credential is outside its validity period.
    #[error("the credential is not valid now: {0}")]
    CredentialNotValid(String),
    /// The caller holds no valid credential the affordance requires.
    #[error("a credential of type {credential_type:?} issued by {issuer:?} is required")]
    CredentialRequired {
        /// The credential type required.
        credential_type: String,
        /// The issuer required.
        issuer: String,
    },
    /// The system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// Identity settings given as data (JSON from a binding) are malformed.
    #[error("{0}")]
    InvalidOptions(String),
}

impl IdentityError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::InvalidKey(_) => "identity_invalid_key",
            IdentityError::KeyFile { .. } => "identity_key_file",
            IdentityError::InvalidDid { .. } => "identity_invalid_did",
            IdentityError::UnsupportedMethod(_) => "identity_unsupported_did_method",
            IdentityError::Resolution { .. } => "identity_resolution_failed",
            IdentityError::InvalidDidDocument { .. } => "identity_invalid_did_document",
            IdentityError::VerificationMethod { .. } => "identity_verification_method",
            IdentityError::ProofMissing => "identity_proof_missing",
            IdentityError::InvalidProof(_) => "identity_invalid_proof",
            IdentityError::SignatureInvalid(_) => "identity_signature_invalid",
            IdentityError::InvalidToken(_) => "identity_invalid_token",
            IdentityError::TokenExpired => "identity_token_expired",
            IdentityError::TokenNotValid(_) => "identity_token_not_valid",
            IdentityError::WrongAudience { .. } => "identity_wrong_audience",
            IdentityError::TokenReplayed => "identity_token_replayed",
            IdentityError::InvalidCredential(_) => "identity_invalid_credential",
            IdentityError::CredentialNotValid(_) => "identity_credential_not_valid",
            IdentityError::CredentialRequired { .. } => "identity_credential_required",
            IdentityError::Random(_) => "identity_random",
            IdentityError::InvalidOptions(_) => "identity_invalid_options",
        }
    }

    pub(crate) fn invalid_did(did: &str, reason: impl Into<String>) -> Self {
        IdentityError::InvalidDid {
            did: did.chars().take(200).collect(),
            reason: reason.into(),
        }
    }
}
