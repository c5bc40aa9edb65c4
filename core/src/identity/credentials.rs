//! Verifiable credentials (W3C VC Data Model 2.0) secured with `eddsa-jcs-2022`: issue, verify,
//! and require them (an affordance may demand that its caller hold a credential of a given type
//! from a given issuer; that is how agent groups are formed).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::data_integrity::{sign_document, verify_document, ProofOptions};
use super::did::VerificationRelationship;
use super::keys::Ed25519KeyPair;
use super::resolver::DidResolver;
use super::{time, IdentityError};

/// The base context of VC Data Model 2.0.
pub const CREDENTIALS_V2_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";
/// The base type of every credential.
pub const VERIFIABLE_CREDENTIAL: &str = "VerifiableCredential";
/// The TD member (on a thing or an affordance) listing the credentials a caller must hold.
pub const REQUIRED_CREDENTIALS: &str = "lmos:requiredCredentials";

/// What [`issue_credential`] puts in a credential.
#[derive(Debug, Clone, Default)]
pub struct CredentialOptions {
    /// The credential's `id` (default: a fresh `urn:uuid:`).
    pub id: Option<String>,
    /// Types besides `VerifiableCredential` (e.g. `AgentGroupMembership`).
    pub types: Vec<String>,
    /// The subject's DID (`credentialSubject.id`).
    pub subject: String,
    /// More claims about the subject (members of `credentialSubject`).
    pub claims: Map<String, Value>,
    /// `validFrom` (default: now).
    pub valid_from: Option<String>,
    /// `validUntil`, if the credential expires.
    pub valid_until: Option<String>,
    /// Extra `@context` entries after the VC 2.0 one.
    pub contexts: Vec<Value>,
}

/// A credential whose proof, issuer and validity period were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCredential {
    /// The credential's `id`.
    pub id: Option<String>,
    /// Its types (including `VerifiableCredential`).
    pub types: Vec<String>,
    /// The issuer's DID.
    pub issuer: String,
    /// The `id`s of its subjects.
    pub subjects: Vec<String>,
    /// `validFrom`.
    pub valid_from: Option<String>,
    /// `validUntil`.
    pub valid_until: Option<String>,
    /// The whole credential.
    pub credential: Value,
}

impl VerifiedCredential {
    /// Whether the credential's validity period (`validFrom`, `validUntil`) includes
    /// `unix_seconds`.
    pub fn is_valid_at(&self, unix_seconds: i64) -> bool {
        let from = self.valid_from.as_deref().and_then(time::parse);
        let until = self.valid_until.as_deref().and_then(time::parse);
        from.is_none_or(|from| from <= unix_seconds)
            && until.is_none_or(|until| unix_seconds <= until)
    }
}

/// Issues a credential: `issuer` (whose [`did`](Ed25519KeyPair::did) becomes `issuer`) signs it
/// with an `assertionMethod` proof.
pub fn issue_credential(
    issuer: &Ed25519KeyPair,
    options: &CredentialOptions,
) -> Result<Value, IdentityError> {
    if !options.subject.starts_with("did:") {
        return Err(IdentityError::InvalidCredential(
            "the subject must be a DID".to_owned(),
        ));
    }
    for (name, value) in [
        ("validFrom", &options.valid_from),
        ("validUntil", &options.valid_until),
    ] {
        if let Some(text) = value {
            if time::parse(text).is_none() {
                return Err(IdentityError::InvalidCredential(format!(
                    "{name} is not a date-time with a time zone"
                )));
            }
        }
    }
    let mut context = vec![Value::String(CREDENTIALS_V2_CONTEXT.to_owned())];
    context.extend(options.contexts.iter().cloned());
    let mut types = vec![Value::String(VERIFIABLE_CREDENTIAL.to_owned())];
    types.extend(
        options
            .types
            .iter()
            .filter(|t| t.as_str() != VERIFIABLE_CREDENTIAL)
            .map(|t| Value::String(t.clone())),
    );
    let mut subject = options.claims.clone();
    subject.insert("id".to_owned(), Value::String(options.subject.clone()));
    let mut credential = json!({
        "@context": context,
        "id": options.id.clone().unwrap_or_else(|| format!("urn:uuid:{}", uuid::Uuid::new_v4())),
        "type": types,
        "issuer": issuer.did(),
        "validFrom": options.valid_from.clone().unwrap_or_else(|| time::format(time::now())),
        "credentialSubject": subject,
    });
    if let (Some(until), Value::Object(map)) = (&options.valid_until, &mut credential) {
        map.insert("validUntil".to_owned(), Value::String(until.clone()));
    }
    sign_document(&credential, issuer, &ProofOptions::default())
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Verifies a credential: its shape (VC 2.0 context, `VerifiableCredential` type, an issuer),
/// every proof (each an `assertionMethod` proof by a key of the issuer's DID) and its validity
/// period at `now` (Unix seconds; `None` = now).
pub async fn verify_credential(
    credential: &Value,
    resolver: &DidResolver,
    now: Option<i64>,
) -> Result<VerifiedCredential, IdentityError> {
    let Value::Object(map) = credential else {
        return Err(IdentityError::InvalidCredential(
            "a credential is a JSON object".to_owned(),
        ));
    };
    let first_context = match map.get("@context") {
        Some(Value::Array(items)) => items.first().and_then(Value::as_str),
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    if first_context != Some(CREDENTIALS_V2_CONTEXT) {
        return Err(IdentityError::InvalidCredential(format!(
            "the first @context must be {CREDENTIALS_V2_CONTEXT}"
        )));
    }
    let types = strings(map.get("type"));
    if !types.iter().any(|t| t == VERIFIABLE_CREDENTIAL) {
        return Err(IdentityError::InvalidCredential(
            "the type must include VerifiableCredential".to_owned(),
        ));
    }
    let issuer = match map.get("issuer") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    if !issuer.starts_with("did:") {
        return Err(IdentityError::InvalidCredential(
            "the issuer must be a DID".to_owned(),
        ));
    }
    let subjects: Vec<String> = match map.get("credentialSubject") {
        Some(Value::Object(s)) => s
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .into_iter()
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|s| s.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        _ => {
            return Err(IdentityError::InvalidCredential(
                "credentialSubject is missing".to_owned(),
            ))
        }
    };
    let now = now.unwrap_or_else(time::now);
    let mut period = [None, None];
    for (slot, name) in period.iter_mut().zip(["validFrom", "validUntil"]) {
        if let Some(value) = map.get(name) {
            let text = value.as_str().unwrap_or_default();
            let at = time::parse(text).ok_or_else(|| {
                IdentityError::InvalidCredential(format!("{name} is not a date-time"))
            })?;
            *slot = Some((text.to_owned(), at));
        }
    }
    if let Some((text, from)) = &period[0] {
        if now < *from {
            return Err(IdentityError::CredentialNotValid(format!(
                "valid from {text}"
            )));
        }
    }
    if let Some((text, until)) = &period[1] {
        if now > *until {
            return Err(IdentityError::CredentialNotValid(format!(
                "expired at {text}"
            )));
        }
    }
    for proof in verify_document(credential, resolver).await? {
        if proof.purpose != VerificationRelationship::AssertionMethod {
            return Err(IdentityError::InvalidCredential(
                "a credential's proof must be an assertionMethod proof".to_owned(),
            ));
        }
        if proof.signer != issuer {
            return Err(IdentityError::InvalidCredential(format!(
                "signed by {} instead of the issuer {issuer}",
                proof.signer
            )));
        }
    }
    Ok(VerifiedCredential {
        id: map.get("id").and_then(Value::as_str).map(str::to_owned),
        types,
        issuer,
        subjects,
        valid_from: period[0].take().map(|p| p.0),
        valid_until: period[1].take().map(|p| p.0),
        credential: credential.clone(),
    })
}

/// A credential a caller must hold: of type `credential_type`, issued by `issuer`, about the
/// caller. In a TD: `"lmos:requiredCredentials": [{"type": "...", "issuer": "did:..."}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRequirement {
    /// The credential type.
    #[serde(rename = "type")]
    pub credential_type: String,
    /// The issuer's DID.
    pub issuer: String,
}

impl CredentialRequirement {
    /// A requirement for a credential of `credential_type` from `issuer`.
    pub fn new(credential_type: impl Into<String>, issuer: impl Into<String>) -> Self {
        CredentialRequirement {
            credential_type: credential_type.into(),
            issuer: issuer.into(),
        }
    }

    /// Whether one of `credentials` (already verified) meets the requirement for `holder`.
    pub fn is_met_by(&self, holder: &str, credentials: &[VerifiedCredential]) -> bool {
        credentials.iter().any(|c| {
            c.issuer == self.issuer
                && c.types.contains(&self.credential_type)
                && c.subjects.iter().any(|s| s == holder)
        })
    }

    /// `Ok` when every requirement is met for `holder`, else the first one that is not.
    pub fn check_all(
        requirements: &[CredentialRequirement],
        holder: &str,
        credentials: &[VerifiedCredential],
    ) -> Result<(), IdentityError> {
        match requirements
            .iter()
            .find(|r| !r.is_met_by(holder, credentials))
        {
            None => Ok(()),
            Some(missing) => Err(IdentityError::CredentialRequired {
                credential_type: missing.credential_type.clone(),
                issuer: missing.issuer.clone(),
            }),
        }
    }

    /// The requirements an affordance (or thing) declares in its `lmos:requiredCredentials`
    /// member; an empty list when there is none.
    pub fn declared_in(members: &Map<String, Value>) -> Result<Vec<Self>, IdentityError> {
        match members.get(REQUIRED_CREDENTIALS) {
            None => Ok(Vec::new()),
            Some(value @ Value::Object(_)) => serde_json::from_value(value.clone())
                .map(|r| vec![r])
                .map_err(|e| {
                    IdentityError::InvalidCredential(format!("{REQUIRED_CREDENTIALS}: {e}"))
                }),
            Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
                IdentityError::InvalidCredential(format!("{REQUIRED_CREDENTIALS}: {e}"))
            }),
        }
    }
}
