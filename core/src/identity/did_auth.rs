//! DID-authenticated requests: the client presents a short-lived JWT (RFC 7519, `alg: EdDSA`)
//! signed by a key of its DID; the server resolves the DID, checks the signature, the audience
//! and the time window, and refuses a `jti` it has seen before.
//!
//! Token claims: `iss` and `sub` = the caller's DID, `aud` = the thing (its TD `id`, else its TD
//! URL), `iat`, `exp` (at most [`DidAuthOptions::max_lifetime`] after `iat`), `jti` (unique), and
//! optionally `credentials`: verifiable credentials about the caller, for affordances that
//! require them. The header's `kid` is the verification method, which the DID document must
//! list under `authentication`. How a TD declares this is in `docs/protocol-notes.md`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::credentials::{verify_credential, CredentialRequirement, VerifiedCredential};
use super::did::VerificationRelationship;
use super::keys::Ed25519KeyPair;
use super::resolver::DidResolver;
use super::{time, IdentityError};

/// The default lifetime of a minted token (2 minutes).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(120);
/// The `credentials` claim: verifiable credentials about the caller.
pub const CREDENTIALS_CLAIM: &str = "credentials";
/// The largest token accepted (64 KiB: room for a few credentials).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Mints a DID-auth token for `audience`, valid for `lifetime` (capped at 10 minutes), carrying
/// `credentials` (verifiable credentials about the caller; may be empty).
pub fn mint_did_auth(
    key: &Ed25519KeyPair,
    audience: &str,
    lifetime: Duration,
    credentials: &[Value],
) -> Result<String, IdentityError> {
    let now = time::now();
    let lifetime = i64::try_from(lifetime.as_secs().clamp(1, 600)).unwrap_or(600);
    let did = key.did();
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": key.key_id()});
    let mut claims = json!({
        "iss": did,
        "sub": did,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if !credentials.is_empty() {
        if let Value::Object(map) = &mut claims {
            map.insert(
                CREDENTIALS_CLAIM.to_owned(),
                Value::Array(credentials.to_vec()),
            );
        }
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// The TD security-scheme member that marks a `bearer` scheme as DID-auth.
pub const DID_AUTH_TERM: &str = "lmos:didAuth";

/// The security scheme a TD declares for DID-auth: a `bearer` scheme with `format: "jwt"`,
/// `alg: "EdDSA"`, the token in the `Authorization` header, and `"lmos:didAuth": true`.
pub fn security_scheme() -> crate::td::SecurityScheme {
    // The literal is a valid scheme, so reading it cannot fail; a plain bearer scheme would be
    // the (never taken) fallback.
    serde_json::from_value(json!({
        "scheme": "bearer",
        "format": "jwt",
        "alg": "EdDSA",
        "in": "header",
        "name": "Authorization",
        DID_AUTH_TERM: true,
    }))
    .unwrap_or_else(|_| crate::td::SecurityScheme::new(crate::td::SchemeKind::Bearer))
}

/// Whether a TD security scheme is DID-auth (a `bearer` scheme with `"lmos:didAuth": true`).
pub fn is_did_auth_scheme(scheme: &crate::td::SecurityScheme) -> bool {
    scheme.scheme == crate::td::SchemeKind::Bearer
        && scheme.extra.get(DID_AUTH_TERM) == Some(&Value::Bool(true))
}

/// The audience a token for `thing` names: its TD `id`, else the URL its TD is served at.
pub fn audience_for(thing: &crate::td::Thing, td_url: Option<&str>) -> Option<String> {
    thing.id.clone().or_else(|| td_url.map(str::to_owned))
}

/// How a [`DidAuthVerifier`] judges tokens.
#[derive(Debug, Clone)]
pub struct DidAuthOptions {
    /// Longest `exp - iat` accepted (default 5 minutes).
    pub max_lifetime: Duration,
    /// Clock difference tolerated between caller and server (default 30 s).
    pub leeway: Duration,
    /// Most `jti`s remembered at once (default 100 000). Entries leave when their token expires;
    /// when the cache is full of unexpired tokens, new tokens are refused rather than forgetting
    /// one that could then be replayed.
    pub replay_capacity: usize,
}

impl Default for DidAuthOptions {
    fn default() -> Self {
        DidAuthOptions {
            max_lifetime: Duration::from_secs(300),
            leeway: Duration::from_secs(30),
            replay_capacity: 100_000,
        }
    }
}

/// The caller a token proved.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCaller {
    /// The caller's DID (`iss`).
    pub did: String,
    /// The verification method that signed (`kid`).
    pub key_id: String,
    /// The token's `jti`.
    pub jti: String,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
    /// The credentials it presented, each verified and about the caller.
    pub credentials: Vec<VerifiedCredential>,
}

impl VerifiedCaller {
    /// Whether the caller holds a credential meeting `requirement`.
    pub fn holds(&self, requirement: &CredentialRequirement) -> bool {
        requirement.is_met_by(&self.did, &self.credentials)
    }

    /// `Ok` when the caller meets every requirement, else
    /// [`IdentityError::CredentialRequired`] for the first it does not.
    pub fn require(&self, requirements: &[CredentialRequirement]) -> Result<(), IdentityError> {
        CredentialRequirement::check_all(requirements, &self.did, &self.credentials)
    }
}

#[derive(Default)]
struct ReplayCache {
    /// `iss` + `jti` → expiry.
    seen: HashMap<(String, String), i64>,
    /// Expiry → keys, to forget expired entries in order.
    by_expiry: BTreeMap<i64, Vec<(String, String)>>,
}

impl ReplayCache {
    fn prune(&mut self, now: i64) {
        let keep = self.by_expiry.split_off(&now);
        for (_, keys) in std::mem::replace(&mut self.by_expiry, keep) {
            for key in keys {
                self.seen.remove(&key);
            }
        }
    }
}

/// Verifies DID-auth tokens for a server and remembers their `jti`s (in memory, bounded).
/// Cheap to clone; clones share the replay cache.
#[derive(Clone)]
pub struct DidAuthVerifier {
    resolver: DidResolver,
    options: DidAuthOptions,
    cache: Arc<Mutex<ReplayCache>>,
}

impl std::fmt::Debug for DidAuthVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DidAuthVerifier")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn decode_part(part: &str, what: &str) -> Result<Map<String, Value>, IdentityError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| IdentityError::InvalidToken(format!("the {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(IdentityError::InvalidToken(format!(
            "the {what} is not a JSON object"
        ))),
    }
}

/// The `aud` values of a token (already verified: this reads, it does not check).
pub(crate) fn token_audiences(token: &str) -> Vec<String> {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|part| decode_part(part, "claim set").ok());
    match claims.as_ref().and_then(|c| c.get("aud")) {
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn int_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, IdentityError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| IdentityError::InvalidToken(format!("{name} is not a number"))),
    }
}

impl DidAuthVerifier {
    /// A verifier resolving DIDs with `resolver`.
    pub fn new(resolver: DidResolver, options: DidAuthOptions) -> Self {
        DidAuthVerifier {
            resolver,
            options,
            cache: Arc::new(Mutex::new(ReplayCache::default())),
        }
    }

    /// Verifies `token` (without any `Bearer ` prefix) for the thing `expected_aud`: structure,
    /// audience, time window, signature by a key the caller's DID document lists under
    /// `authentication`, the credentials it carries, and that its `jti` is new.
    pub async fn verify_did_auth(
        &self,
        token: &str,
        expected_aud: &str,
    ) -> Result<VerifiedCaller, IdentityError> {
        self.verify_at(token, expected_aud, time::now()).await
    }

    async fn verify_at(
        &self,
        token: &str,
        expected_aud: &str,
        now: i64,
    ) -> Result<VerifiedCaller, IdentityError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(IdentityError::InvalidToken(format!(
                "longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let mut parts = token.split('.');
        let (Some(header_part), Some(claims_part), Some(signature_part), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdentityError::InvalidToken(
                "a JWT has three dot-separated parts".to_owned(),
            ));
        };
        let header = decode_part(header_part, "header")?;
        if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
            return Err(IdentityError::InvalidToken("alg must be EdDSA".to_owned()));
        }
        if header.get("crit").is_some() {
            return Err(IdentityError::InvalidToken(
                "critical header parameters are not supported".to_owned(),
            ));
        }
        let claims = decode_part(claims_part, "claim set")?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let issuer = text("iss")
            .filter(|iss| iss.starts_with("did:") && !iss.contains('#'))
            .ok_or_else(|| IdentityError::InvalidToken("iss must be a DID".to_owned()))?
            .to_owned();
        let key_id = match header.get("kid").and_then(Value::as_str) {
            Some(kid) if kid.starts_with('#') => format!("{issuer}{kid}"),
            Some(kid) => kid.to_owned(),
            None => issuer.clone(),
        };
        if key_id.split('#').next() != Some(issuer.as_str()) {
            return Err(IdentityError::InvalidToken(
                "kid is not a key of the issuer's DID".to_owned(),
            ));
        }
        if let Some(sub) = text("sub") {
            if sub != issuer {
                return Err(IdentityError::InvalidToken(
                    "sub differs from iss".to_owned(),
                ));
            }
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == expected_aud,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(expected_aud)),
            _ => false,
        };
        if !audience_ok {
            return Err(IdentityError::WrongAudience {
                expected: expected_aud.to_owned(),
            });
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| IdentityError::InvalidToken("jti is missing".to_owned()))?
            .to_owned();
        let exp = int_claim(&claims, "exp")?
            .ok_or_else(|| IdentityError::InvalidToken("exp is missing".to_owned()))?;
        let iat = int_claim(&claims, "iat")?
            .ok_or_else(|| IdentityError::InvalidToken("iat is missing".to_owned()))?;
        let leeway = i64::try_from(self.options.leeway.as_secs()).unwrap_or(0);
        let max_lifetime = i64::try_from(self.options.max_lifetime.as_secs()).unwrap_or(300);
        if exp + leeway < now {
            return Err(IdentityError::TokenExpired);
        }
        if iat > now + leeway {
            return Err(IdentityError::TokenNotValid(
                "issued in the future".to_owned(),
            ));
        }
        if let Some(nbf) = int_claim(&claims, "nbf")? {
            if nbf > now + leeway {
                return Err(IdentityError::TokenNotValid(
                    "not valid yet (nbf)".to_owned(),
                ));
            }
        }
        if exp - iat > max_lifetime || exp < iat {
            return Err(IdentityError::TokenNotValid(format!(
                "lifetime longer than {max_lifetime} s"
            )));
        }
        let signature = URL_SAFE_NO_PAD.decode(signature_part).map_err(|_| {
            IdentityError::InvalidToken("the signature is not base64url".to_owned())
        })?;
        let key = self
            .resolver
            .public_key(&key_id, VerificationRelationship::Authentication)
            .await?;
        let signing_input = &token[..header_part.len() + 1 + claims_part.len()];
        key.verify(signing_input.as_bytes(), &signature)?;
        let mut credentials = Vec::new();
        match claims.get(CREDENTIALS_CLAIM) {
            None => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let credential = verify_credential(item, &self.resolver, Some(now)).await?;
                    if !credential.subjects.contains(&issuer) {
                        return Err(IdentityError::InvalidCredential(
                            "a presented credential is not about the caller".to_owned(),
                        ));
                    }
                    credentials.push(credential);
                }
            }
            Some(_) => {
                return Err(IdentityError::InvalidToken(format!(
                    "{CREDENTIALS_CLAIM} must be an array"
                )))
            }
        }
        self.remember(&issuer, &jti, exp + leeway, now)?;
        Ok(VerifiedCaller {
            did: issuer,
            key_id,
            jti,
            expires_at: exp,
            credentials,
        })
    }

    fn remember(&self, issuer: &str, jti: &str, until: i64, now: i64) -> Result<(), IdentityError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.prune(now);
        let key = (issuer.to_owned(), jti.to_owned());
        if cache.seen.contains_key(&key) {
            return Err(IdentityError::TokenReplayed);
        }
        if cache.seen.len() >= self.options.replay_capacity {
            return Err(IdentityError::TokenNotValid(
                "too many unexpired tokens; try again shortly".to_owned(),
            ));
        }
        cache.seen.insert(key.clone(), until);
        cache.by_expiry.entry(until).or_default().push(key);
        Ok(())
    }

    /// How many `jti`s are remembered now.
    pub fn remembered(&self) -> usize {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.prune(time::now());
        cache.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(capacity: usize) -> DidAuthVerifier {
        DidAuthVerifier::new(
            DidResolver::default(),
            DidAuthOptions {
                replay_capacity: capacity,
                ..DidAuthOptions::default()
            },
        )
    }

    #[tokio::test]
    async fn a_full_cache_refuses_until_entries_expire() {
        let key = Ed25519KeyPair::generate().unwrap();
        let verifier = verifier(1);
        let now = time::now();
        let first = mint_did_auth(&key, "urn:thing", Duration::from_secs(60), &[]).unwrap();
        verifier.verify_at(&first, "urn:thing", now).await.unwrap();
        let second = mint_did_auth(&key, "urn:thing", Duration::from_secs(60), &[]).unwrap();
        let full = verifier
            .verify_at(&second, "urn:thing", now)
            .await
            .unwrap_err();
        assert_eq!(full.code(), "identity_token_not_valid");
        assert_eq!(verifier.remembered(), 1);
        // Once the first token's window (exp + leeway) has passed, its entry is forgotten.
        verifier.cache.lock().unwrap().prune(now + 60 + 31);
        assert_eq!(verifier.cache.lock().unwrap().seen.len(), 0);
        verifier.verify_at(&second, "urn:thing", now).await.unwrap();
    }
}
