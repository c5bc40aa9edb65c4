//! TD security schemes, both sides, and TLS.
//!
//! - Server side: a [`Verifier`] holds what each scheme needs (a [`BasicChecker`] for `basic`,
//!   a [`TokenValidator`] for `bearer` and `oauth2` — JWTs checked with static keys or a JWKS URL,
//!   or opaque tokens checked by an RFC 7662 introspection endpoint — and [`ApiKeys`] for
//!   `apikey`). When a thing is exposed its `security`, `securityDefinitions` and per-form
//!   `security`/`scopes` are compiled into a per-thing guard; every HTTP route and every
//!   WebSocket message is checked against it. A thing that declares a scheme the verifier has no
//!   configuration for is refused at [`Servient::expose`](crate::thing::Servient::expose): it
//!   never serves open.
//! - Client side: a [`CredentialStore`] keyed by thing id or origin holds [`Credentials`];
//!   a [`ConsumedThing`](crate::thing::ConsumedThing) applies what the chosen form's security
//!   declares. OAuth2 client-credentials tokens are fetched, cached and refreshed by an
//!   [`OAuth2Client`].
//! - TLS: [`TlsServerConfig`] loads a certificate chain and key (PEM) for `https`/`wss` serving;
//!   clients verify certificates against the platform's roots plus an optional extra CA.
//!
//! Secrets (passwords, tokens, keys) never appear in `Debug` output, logs or error messages.
//! The behaviour is documented in `docs/security.md`.

mod client;
pub(crate) mod enforce;
pub(crate) mod guard;
pub(crate) mod options;
mod policy;
pub(crate) mod tls;
mod token;

pub use client::{CredentialStore, Credentials, OAuth2Client};
pub use guard::{ApiKeys, BasicChecker, BasicUsers, Principal, Verifier, VerifierBuilder};
pub use options::{
    BasicCredentialOptions, CredentialOptions, IntrospectionOptions, OAuth2ClientOptions,
    StringOrList, TlsOptions, TokenOptions, VerifierOptions,
};
pub use policy::carry_form_security;
pub use tls::{client_tls_config, TlsServerConfig};
pub use token::{JwtKey, TokenValidator};

pub(crate) use client::{authorize, RequestAuth};
pub(crate) use guard::ThingGuard;

/// Everything that can go wrong when configuring or applying security.
///
/// Messages name schemes, files and endpoints, never a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecurityError {
    /// A `security` entry names no definition in `securityDefinitions`.
    #[error("security names {0:?}, which securityDefinitions does not define")]
    UnknownScheme(String),
    /// A scheme this SDK cannot enforce (`digest`, `psk`, `auto`, extension schemes).
    #[error("security scheme {name:?} ({kind}) is not supported")]
    UnsupportedScheme {
        /// The definition name.
        name: String,
        /// The `scheme` member.
        kind: String,
    },
    /// The thing declares a scheme the verifier has no configuration for.
    #[error("the thing declares {kind} security ({name:?}) but the servient's verifier has no {kind} configuration")]
    MissingVerifier {
        /// The definition name.
        name: String,
        /// The `scheme` member.
        kind: String,
    },
    /// A scheme definition is malformed (e.g. `apikey` in an unknown place, a `combo` without
    /// `allOf`/`oneOf`, a cycle of combos).
    #[error("security scheme {name:?} is malformed: {message}")]
    InvalidScheme {
        /// The definition name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A key could not be read (the message never contains the key material).
    #[error("unusable key: {0}")]
    InvalidKey(String),
    /// A certificate, key or TLS setting could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// A JWKS document could not be fetched or read.
    #[error("JWKS at {url}: {message}")]
    Jwks {
        /// The JWKS URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// An introspection endpoint could not be reached or answered nonsense.
    #[error("introspection endpoint {url}: {message}")]
    Introspection {
        /// The endpoint.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// An OAuth2 token endpoint refused or failed.
    #[error("OAuth2 token endpoint {url}: {message}")]
    TokenEndpoint {
        /// The endpoint.
        url: String,
        /// What went wrong (the error code of the endpoint's answer, never a secret).
        message: String,
    },
    /// A credential cannot be sent as declared (e.g. a header value with control characters).
    #[error("cannot apply credentials for {scheme:?}: {message}")]
    InvalidCredential {
        /// The definition name.
        scheme: String,
        /// Why.
        message: String,
    },
    /// Security settings given as data (JSON from a binding) are malformed; the message names
    /// the member, never a value.
    #[error("{0}")]
    InvalidOptions(String),
}

impl SecurityError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            SecurityError::UnknownScheme(_) => "security_unknown_scheme",
            SecurityError::UnsupportedScheme { .. } => "security_unsupported_scheme",
            SecurityError::MissingVerifier { .. } => "security_missing_verifier",
            SecurityError::InvalidScheme { .. } => "security_invalid_scheme",
            SecurityError::InvalidKey(_) => "security_invalid_key",
            SecurityError::Tls(_) => "security_tls",
            SecurityError::Jwks { .. } => "security_jwks",
            SecurityError::Introspection { .. } => "security_introspection",
            SecurityError::TokenEndpoint { .. } => "security_token_endpoint",
            SecurityError::InvalidCredential { .. } => "security_invalid_credential",
            SecurityError::InvalidOptions(_) => "security_invalid_options",
        }
    }
}

impl From<SecurityError> for crate::thing::ThingError {
    fn from(error: SecurityError) -> Self {
        use crate::thing::ThingError;
        match error {
            SecurityError::TokenEndpoint { .. } | SecurityError::InvalidCredential { .. } => {
                ThingError::Transport(error.to_string())
            }
            other => ThingError::InvalidConfig(other.to_string()),
        }
    }
}

/// A secret string: compared in constant time, never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself (only to put it on the wire).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with `other`.
    pub fn matches(&self, other: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), other.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

/// The SHA-256 digest of `data` (cache keys for tokens: the token itself is never stored).
pub(crate) fn digest(data: &[u8]) -> [u8; 32] {
    let hash = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.as_ref());
    out
}
