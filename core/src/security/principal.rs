//! Who a request proved to be, and how that reaches the handlers: the guard puts the
//! [`Principal`] of each admitted request in scope around the interaction, and
//! [`InteractionContext`](crate::thing::InteractionContext) picks it up when the thing builds it.

use std::future::Future;
use std::sync::Arc;

use crate::identity::VerifiedCredential;

/// Who passed a security check (for logs and handlers; never a credential).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Principal {
    /// The name of the security definition (in the TD's `securityDefinitions`) that admitted
    /// the caller; the first one for an `allOf` combo. `None` for `nosec`.
    pub scheme: Option<String>,
    /// The Basic user name, the token's `sub`, or the caller's DID, if known.
    pub subject: Option<String>,
    /// The caller's DID, when it authenticated with a DID-auth token.
    pub did: Option<String>,
    /// The scopes of the token, if any.
    pub scopes: Vec<String>,
    /// The verifiable credentials the caller presented (each verified, about the caller, and
    /// within its validity period when the request was admitted).
    pub credentials: Vec<VerifiedCredential>,
}

impl Principal {
    /// Whether nothing is known about the caller (an open thing, or `nosec`).
    pub fn is_anonymous(&self) -> bool {
        self == &Principal::default()
    }

    /// The types of the presented credentials (without the `VerifiableCredential` base type),
    /// each once.
    pub fn credential_types(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for credential in &self.credentials {
            for kind in &credential.types {
                if kind != crate::identity::credentials::VERIFIABLE_CREDENTIAL
                    && !out.contains(&kind.as_str())
                {
                    out.push(kind);
                }
            }
        }
        out
    }

    /// Whether the caller presented a credential of `credential_type` issued by `issuer`.
    pub fn holds(&self, credential_type: &str, issuer: &str) -> bool {
        self.credentials
            .iter()
            .any(|c| c.issuer == issuer && c.types.iter().any(|t| t == credential_type))
    }

    /// The principal as the language bindings hand it to handlers: `{"scheme", "subject",
    /// "did", "scopes", "credentials": [{"type": [...], "issuer", "subjects", "id", "validUntil"}]}` (absent
    /// members are `null`; no credential's proof or other claims).
    pub fn to_json(&self) -> serde_json::Value {
        let credentials: Vec<serde_json::Value> = self
            .credentials
            .iter()
            .map(|c| {
                serde_json::json!({
                    "type": c.types,
                    "issuer": c.issuer,
                    "subjects": c.subjects,
                    "id": c.id,
                    "validUntil": c.valid_until,
                })
            })
            .collect();
        serde_json::json!({
            "scheme": self.scheme,
            "subject": self.subject,
            "did": self.did,
            "scopes": self.scopes,
            "credentials": credentials,
        })
    }

    /// Adds what `other` proved (an `allOf` combo: every part passed).
    pub(crate) fn merge(&mut self, other: Principal) {
        if self.scheme.is_none() {
            self.scheme = other.scheme;
        }
        if self.subject.is_none() {
            self.subject = other.subject;
        }
        if self.did.is_none() {
            self.did = other.did;
        }
        self.scopes.extend(other.scopes);
        self.credentials.extend(other.credentials);
    }
}

tokio::task_local! {
    static CALLER: Option<Arc<Principal>>;
}

/// Runs `future` with `principal` as the caller of the interactions it starts.
pub(crate) async fn scope<F: Future>(principal: Option<Principal>, future: F) -> F::Output {
    let principal = principal.filter(|p| !p.is_anonymous()).map(Arc::new);
    CALLER.scope(principal, future).await
}

/// `future`, keeping the caller of the current task (for work spawned on another task).
pub(crate) fn inherit<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let principal = current();
    CALLER.scope(principal, future)
}

/// The caller of the interaction running on this task, if it authenticated.
pub(crate) fn current() -> Option<Arc<Principal>> {
    CALLER.try_with(Clone::clone).ok().flatten()
}
