//! `did:key` for Ed25519 keys: the DID is the multibase multicodec public key
//! (`did:key:z6Mk...`), and its document is derived from it without any network access.

use serde_json::{json, Map};

use super::did::{DidDocument, MethodRef, VerificationMethod, DID_CONTEXT, MULTIKEY_CONTEXT};
use super::keys::PublicKey;
use super::IdentityError;

/// The `did:key` DID of `key`.
pub fn did_for(key: &PublicKey) -> String {
    format!("did:key:{}", key.to_multibase())
}

/// The verification method id of a `did:key` (`did:key:z6Mk...#z6Mk...`).
pub fn verification_method_id(key: &PublicKey) -> String {
    let multibase = key.to_multibase();
    format!("did:key:{multibase}#{multibase}")
}

/// The public key a `did:key` DID (or DID URL) names.
pub fn public_key(did: &str) -> Result<PublicKey, IdentityError> {
    let did_only = did.split_once('#').map_or(did, |(d, _)| d);
    let Some(multibase) = did_only.strip_prefix("did:key:") else {
        return Err(IdentityError::invalid_did(did, "not a did:key"));
    };
    if !multibase.starts_with("z6Mk") {
        return Err(IdentityError::invalid_did(
            did,
            "only Ed25519 did:key DIDs (z6Mk...) are supported",
        ));
    }
    PublicKey::from_multibase(multibase).map_err(|e| IdentityError::invalid_did(did, e.to_string()))
}

/// Resolves a `did:key` DID to its document: one `Multikey` verification method, authorized for
/// authentication, assertions and capabilities.
pub fn resolve(did: &str) -> Result<DidDocument, IdentityError> {
    let key = public_key(did)?;
    let did = did_for(&key);
    let method_id = verification_method_id(&key);
    let reference = || MethodRef::Reference(method_id.clone());
    Ok(DidDocument {
        context: json!([DID_CONTEXT, MULTIKEY_CONTEXT]),
        id: did.clone(),
        controller: None,
        verification_method: vec![VerificationMethod::multikey(&method_id, &did, &key)],
        authentication: vec![reference()],
        assertion_method: vec![reference()],
        capability_invocation: vec![reference()],
        capability_delegation: vec![reference()],
        service: Vec::new(),
        extra: Map::new(),
    })
}
