//! The DID document model (W3C DID Core 1.0) with the parts this SDK reads: verification
//! methods, verification relationships and services. Unknown members survive a round trip.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::keys::PublicKey;
use super::IdentityError;

/// The JSON-LD context of DID documents.
pub const DID_CONTEXT: &str = "https://www.w3.org/ns/did/v1";
/// The context that defines the `Multikey` verification method type.
pub const MULTIKEY_CONTEXT: &str = "https://w3id.org/security/multikey/v1";
/// The service type that points at a Thing Description.
pub const WOT_THING_SERVICE: &str = "WotThing";

/// A verification method: a public key and who controls it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationMethod {
    /// Its DID URL (`did:...#key-1`).
    pub id: String,
    /// `Multikey`, `Ed25519VerificationKey2020`, `Ed25519VerificationKey2018` or
    /// `JsonWebKey2020` (the kinds read here).
    #[serde(rename = "type")]
    pub kind: String,
    /// The DID that controls the key.
    pub controller: String,
    /// The key as multibase multicodec (`z6Mk...`).
    #[serde(
        rename = "publicKeyMultibase",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key_multibase: Option<String>,
    /// The key as a JWK.
    #[serde(
        rename = "publicKeyJwk",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key_jwk: Option<Value>,
    /// The raw key in base58 (the 2018 suite).
    #[serde(
        rename = "publicKeyBase58",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key_base58: Option<String>,
    /// Members not read here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl VerificationMethod {
    /// A `Multikey` verification method for an Ed25519 key.
    pub fn multikey(id: impl Into<String>, controller: impl Into<String>, key: &PublicKey) -> Self {
        VerificationMethod {
            id: id.into(),
            kind: "Multikey".to_owned(),
            controller: controller.into(),
            public_key_multibase: Some(key.to_multibase()),
            public_key_jwk: None,
            public_key_base58: None,
            extra: Map::new(),
        }
    }

    /// The Ed25519 public key of this method, in whichever representation it carries.
    pub fn public_key(&self) -> Result<PublicKey, IdentityError> {
        if let Some(multibase) = &self.public_key_multibase {
            return PublicKey::from_multibase(multibase);
        }
        if let Some(jwk) = &self.public_key_jwk {
            return PublicKey::from_jwk(jwk);
        }
        if let Some(base58) = &self.public_key_base58 {
            return PublicKey::from_base58(base58);
        }
        Err(IdentityError::InvalidKey(format!(
            "verification method {:?} carries no Ed25519 key",
            self.id
        )))
    }
}

/// A verification relationship entry: a reference to a method or an embedded one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MethodRef {
    /// A DID URL (absolute or `#fragment` relative to the document).
    Reference(String),
    /// A method defined in place.
    Embedded(Box<VerificationMethod>),
}

/// What a verification method may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerificationRelationship {
    /// Proving control of the DID (DID-auth tokens).
    Authentication,
    /// Making assertions: signing descriptions and issuing credentials.
    AssertionMethod,
    /// Invoking capabilities.
    CapabilityInvocation,
    /// Delegating capabilities.
    CapabilityDelegation,
}

impl VerificationRelationship {
    /// The DID document member (and `proofPurpose` value) of the relationship.
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationRelationship::Authentication => "authentication",
            VerificationRelationship::AssertionMethod => "assertionMethod",
            VerificationRelationship::CapabilityInvocation => "capabilityInvocation",
            VerificationRelationship::CapabilityDelegation => "capabilityDelegation",
        }
    }

    /// Reads a relationship name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "authentication" => VerificationRelationship::Authentication,
            "assertionMethod" => VerificationRelationship::AssertionMethod,
            "capabilityInvocation" => VerificationRelationship::CapabilityInvocation,
            "capabilityDelegation" => VerificationRelationship::CapabilityDelegation,
            _ => return None,
        })
    }
}

/// A service entry (`WotThing` for a TD, `VerifiableCredentialService`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Its id (`did:...#td`).
    pub id: String,
    /// Its type(s).
    #[serde(rename = "type")]
    pub kind: Value,
    /// Where the service is (a URL, or a map or array of them).
    #[serde(rename = "serviceEndpoint")]
    pub service_endpoint: Value,
    /// Members not read here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Service {
    /// Whether the service has type `kind`.
    pub fn has_type(&self, kind: &str) -> bool {
        match &self.kind {
            Value::String(s) => s == kind,
            Value::Array(items) => items.iter().any(|t| t.as_str() == Some(kind)),
            _ => false,
        }
    }
}

/// A DID document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DidDocument {
    /// JSON-LD context.
    #[serde(rename = "@context", default, skip_serializing_if = "Value::is_null")]
    pub context: Value,
    /// The DID.
    pub id: String,
    /// Who controls the DID (a DID or a list of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<Value>,
    /// Verification methods.
    #[serde(
        rename = "verificationMethod",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub verification_method: Vec<VerificationMethod>,
    /// Methods for authentication.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authentication: Vec<MethodRef>,
    /// Methods for assertions (signatures on descriptions, credentials).
    #[serde(
        rename = "assertionMethod",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub assertion_method: Vec<MethodRef>,
    /// Methods for capability invocation.
    #[serde(
        rename = "capabilityInvocation",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capability_invocation: Vec<MethodRef>,
    /// Methods for capability delegation.
    #[serde(
        rename = "capabilityDelegation",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capability_delegation: Vec<MethodRef>,
    /// Services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<Service>,
    /// Members not read here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DidDocument {
    /// A document for `did` with one Ed25519 key (`{did}#key-1`, a `Multikey`) usable for
    /// authentication and assertions, and, when `td_url` is given, a `WotThing` service
    /// (`{did}#td`) pointing at the agent's Thing Description.
    pub fn for_agent(did: &str, key: &PublicKey, td_url: Option<&str>) -> Self {
        let key_id = format!("{did}#key-1");
        let mut document = DidDocument {
            context: json!([DID_CONTEXT, MULTIKEY_CONTEXT]),
            id: did.to_owned(),
            controller: None,
            verification_method: vec![VerificationMethod::multikey(&key_id, did, key)],
            authentication: vec![MethodRef::Reference(key_id.clone())],
            assertion_method: vec![MethodRef::Reference(key_id.clone())],
            capability_invocation: vec![MethodRef::Reference(key_id.clone())],
            capability_delegation: vec![MethodRef::Reference(key_id)],
            service: Vec::new(),
            extra: Map::new(),
        };
        if let Some(url) = td_url {
            document = document.with_thing_service(url);
        }
        document
    }

    /// The same document with a `WotThing` service (`{did}#td`) pointing at `td_url`, replacing
    /// an earlier one with that id.
    pub fn with_thing_service(mut self, td_url: &str) -> Self {
        let id = format!("{}#td", self.id);
        self.service.retain(|s| s.id != id);
        self.service.push(Service {
            id,
            kind: Value::String(WOT_THING_SERVICE.to_owned()),
            service_endpoint: Value::String(td_url.to_owned()),
            extra: Map::new(),
        });
        self
    }

    /// Reads a DID document from JSON.
    pub fn from_value(value: Value) -> Result<Self, IdentityError> {
        let did = value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        serde_json::from_value(value).map_err(|e| IdentityError::InvalidDidDocument {
            did,
            message: e.to_string(),
        })
    }

    /// The document as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The URLs of the `WotThing` services: where the thing's TD is.
    pub fn thing_descriptions(&self) -> Vec<String> {
        self.service
            .iter()
            .filter(|s| s.has_type(WOT_THING_SERVICE))
            .filter_map(|s| s.service_endpoint.as_str().map(str::to_owned))
            .collect()
    }

    fn absolute(&self, id: &str) -> String {
        if id.starts_with('#') {
            format!("{}{id}", self.id)
        } else {
            id.to_owned()
        }
    }

    /// The verification method `id` (absolute or `#fragment`), if this document defines it
    /// (in `verificationMethod` or embedded in a relationship).
    pub fn verification_method(&self, id: &str) -> Option<&VerificationMethod> {
        let wanted = self.absolute(id);
        let embedded = [
            &self.authentication,
            &self.assertion_method,
            &self.capability_invocation,
            &self.capability_delegation,
        ]
        .into_iter()
        .flatten()
        .filter_map(|r| match r {
            MethodRef::Embedded(m) => Some(&**m),
            MethodRef::Reference(_) => None,
        });
        self.verification_method
            .iter()
            .chain(embedded)
            .find(|m| self.absolute(&m.id) == wanted)
    }

    fn relationship(&self, relationship: VerificationRelationship) -> &[MethodRef] {
        match relationship {
            VerificationRelationship::Authentication => &self.authentication,
            VerificationRelationship::AssertionMethod => &self.assertion_method,
            VerificationRelationship::CapabilityInvocation => &self.capability_invocation,
            VerificationRelationship::CapabilityDelegation => &self.capability_delegation,
        }
    }

    /// The public key of verification method `id`, provided the document authorizes it for
    /// `relationship` and it is controlled by this DID.
    pub fn public_key_for(
        &self,
        id: &str,
        relationship: VerificationRelationship,
    ) -> Result<PublicKey, IdentityError> {
        let wanted = self.absolute(id);
        let refused = || IdentityError::VerificationMethod {
            method: wanted.clone(),
            relationship: relationship.as_str().to_owned(),
        };
        let listed = self.relationship(relationship).iter().find(|r| match r {
            MethodRef::Reference(reference) => self.absolute(reference) == wanted,
            MethodRef::Embedded(method) => self.absolute(&method.id) == wanted,
        });
        let method = match listed.ok_or_else(refused)? {
            MethodRef::Embedded(method) => &**method,
            MethodRef::Reference(_) => self.verification_method(&wanted).ok_or_else(refused)?,
        };
        if method.controller != self.id {
            return Err(refused());
        }
        method.public_key()
    }
}
