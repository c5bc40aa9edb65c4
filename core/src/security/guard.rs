//! The server side: the [`Verifier`] an application configures, and the per-thing guard every
//! HTTP request and WebSocket message passes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use base64::Engine;

pub(crate) use super::policy::Access;
use super::policy::{self, Location, Requirement};
pub use super::principal::Principal;
use super::token::{TokenInfo, TokenRejection, TokenValidator};
use super::{Secret, SecurityError};
use crate::binding::ws::is_ws_form;
use crate::identity::credentials::REQUIRED_CREDENTIALS;
use crate::identity::{CredentialRequirement, DidAuthVerifier, IdentityError, VerifiedCaller};
use crate::td::defaults::form_ops;
use crate::td::{AffordanceKind, Form, PropertyAffordance, Thing};

/// The future of one check.
type Checking<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Principal, Refusal>> + Send + 'a>>;

/// The realm named in `WWW-Authenticate` challenges.
const REALM: &str = "lmos";

/// Checks HTTP Basic credentials.
pub trait BasicChecker: Send + Sync {
    /// Whether `username` with `password` may pass.
    fn check(&self, username: &str, password: &str) -> bool;
}

impl<F> BasicChecker for F
where
    F: Fn(&str, &str) -> bool + Send + Sync,
{
    fn check(&self, username: &str, password: &str) -> bool {
        self(username, password)
    }
}

/// A fixed set of Basic users (passwords compared in constant time).
#[derive(Clone, Default)]
pub struct BasicUsers {
    users: HashMap<String, Secret>,
}

impl std::fmt::Debug for BasicUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicUsers")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BasicUsers {
    /// No users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user.
    pub fn user(mut self, username: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.users.insert(username.into(), password.into());
        self
    }
}

impl BasicChecker for BasicUsers {
    fn check(&self, username: &str, password: &str) -> bool {
        // Unknown users cost a comparison too, so timing tells nothing about who exists.
        let dummy = Secret::new("\u{0}".repeat(password.len().max(1)));
        let expected = self.users.get(username);
        let matched = expected.unwrap_or(&dummy).matches(password);
        matched && expected.is_some()
    }
}

/// The API keys `apikey` schemes accept (compared in constant time).
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<Secret>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.keys.len())
    }
}

impl ApiKeys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `key`.
    pub fn key(mut self, key: impl Into<Secret>) -> Self {
        self.keys.push(key.into());
        self
    }

    fn accepts(&self, presented: &str) -> bool {
        // Every key is compared, so the time does not depend on which one matched.
        self.keys
            .iter()
            .fold(false, |found, key| key.matches(presented) | found)
    }
}

struct VerifierInner {
    basic: Option<Arc<dyn BasicChecker>>,
    bearer: Option<TokenValidator>,
    oauth2: Option<TokenValidator>,
    api_keys: Option<ApiKeys>,
    did_auth: Option<DidAuthVerifier>,
}

/// What the servient needs to enforce each scheme. Without the configuration for a scheme, a
/// thing declaring it cannot be exposed.
///
/// ```
/// use lmos::security::{ApiKeys, BasicUsers, TokenValidator, Verifier};
/// let verifier = Verifier::builder()
///     .basic(BasicUsers::new().user("alice", "wonderland"))
///     .api_keys(ApiKeys::new().key("k-123"))
///     .bearer(TokenValidator::hmac(b"a shared secret of at least 32 bytes!!").audience("weather"))
///     .build();
/// # let _ = verifier;
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::builder().build()
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("basic", &self.inner.basic.is_some())
            .field("bearer", &self.inner.bearer)
            .field("oauth2", &self.inner.oauth2)
            .field("api_keys", &self.inner.api_keys)
            .field("did_auth", &self.inner.did_auth)
            .finish()
    }
}

/// Builds a [`Verifier`].
#[derive(Default)]
pub struct VerifierBuilder {
    basic: Option<Arc<dyn BasicChecker>>,
    bearer: Option<TokenValidator>,
    oauth2: Option<TokenValidator>,
    api_keys: Option<ApiKeys>,
    did_auth: Option<DidAuthVerifier>,
}

impl VerifierBuilder {
    /// Checks `basic` credentials.
    pub fn basic(mut self, checker: impl BasicChecker + 'static) -> Self {
        self.basic = Some(Arc::new(checker));
        self
    }

    /// Validates `bearer` tokens.
    pub fn bearer(mut self, validator: TokenValidator) -> Self {
        self.bearer = Some(validator);
        self
    }

    /// Validates `oauth2` access tokens (the scopes a form names are checked against the
    /// token's `scope`).
    pub fn oauth2(mut self, validator: TokenValidator) -> Self {
        self.oauth2 = Some(validator);
        self
    }

    /// Accepts these `apikey` keys.
    pub fn api_keys(mut self, keys: ApiKeys) -> Self {
        self.api_keys = Some(keys);
        self
    }

    /// Verifies DID-auth tokens (`bearer` schemes with `"lmos:didAuth": true`): resolves the
    /// caller's DID, checks the signature, audience (the thing's `id`), time window and the
    /// credentials the token carries, and refuses a `jti` seen before.
    pub fn did_auth(mut self, verifier: DidAuthVerifier) -> Self {
        self.did_auth = Some(verifier);
        self
    }

    /// The verifier.
    pub fn build(self) -> Verifier {
        Verifier {
            inner: Arc::new(VerifierInner {
                basic: self.basic,
                bearer: self.bearer,
                oauth2: self.oauth2,
                api_keys: self.api_keys,
                did_auth: self.did_auth,
            }),
        }
    }
}

impl Verifier {
    /// Starts configuring a verifier.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    fn check_configured(&self, requirement: &Requirement) -> Result<(), SecurityError> {
        let mut leaves = Vec::new();
        requirement.leaves(&mut leaves);
        for leaf in leaves {
            let (configured, name, kind) = match leaf {
                Requirement::NoSec => continue,
                Requirement::Basic { scheme } => (self.inner.basic.is_some(), scheme, "basic"),
                Requirement::Bearer { scheme, .. } => {
                    (self.inner.bearer.is_some(), scheme, "bearer")
                }
                Requirement::OAuth2 { scheme, .. } => {
                    (self.inner.oauth2.is_some(), scheme, "oauth2")
                }
                Requirement::ApiKey { scheme, .. } => {
                    (self.inner.api_keys.is_some(), scheme, "apikey")
                }
                Requirement::DidAuth { scheme, .. } => {
                    (self.inner.did_auth.is_some(), scheme, "DID-auth")
                }
                Requirement::AllOf(_) | Requirement::OneOf(_) => continue,
            };
            if !configured {
                return Err(SecurityError::MissingVerifier {
                    name: name.clone(),
                    kind: kind.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// Which binding a request came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    /// HTTP routes.
    Http,
    /// The `lmosprotocol` WebSocket endpoint.
    Ws,
}

/// Which affordance an operation is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// A property.
    Property,
    /// An action.
    Action,
    /// An event.
    Event,
    /// The thing itself (readallproperties, ...).
    Thing,
}

type Key = (Transport, Target, String, String);

/// The credentials required for an affordance (`Target` and its name) or, for the thing's own
/// operations (`Target::Thing`), for an operation (`Target::Thing` and the op).
type CredentialKey = (Target, String);

/// The compiled security of one exposed thing.
pub(crate) struct ThingGuard {
    verifier: Verifier,
    default: Access,
    /// Accesses of forms whose security or scopes differ from the thing's.
    overrides: HashMap<Key, Access>,
    /// Every distinct requirement (for the WebSocket handshake).
    distinct: Vec<Arc<Requirement>>,
    /// The audience DID-auth tokens must name: the thing's `id`.
    audience: Option<String>,
    /// Credentials the caller must hold (`lmos:requiredCredentials`), where any are required.
    credentials: HashMap<CredentialKey, Vec<CredentialRequirement>>,
}

impl std::fmt::Debug for ThingGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThingGuard")
            .field("default", &self.default)
            .field("overrides", &self.overrides.len())
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl ThingGuard {
    /// Compiles the security of `thing` (forms already filled in). `None` when nothing of it is
    /// protected; an error when a scheme cannot be enforced with `verifier`.
    pub(crate) fn compile(
        thing: &Thing,
        verifier: &Verifier,
    ) -> Result<Option<ThingGuard>, SecurityError> {
        let default = Arc::new(policy::compile(thing, thing.security.as_slice())?);
        verifier.check_configured(&default)?;
        let default_access = Access {
            requirement: default.clone(),
            scopes: Vec::new(),
        };
        let credentials = required_credentials(thing)?;
        let mut overrides = HashMap::new();
        let mut distinct = vec![default.clone()];
        let mut visit = |forms: &[Form],
                         kind: AffordanceKind,
                         target: Target,
                         name: &str,
                         property: Option<&PropertyAffordance>|
         -> Result<(), SecurityError> {
            let demands_credentials = credentials.contains_key(&(target, name.to_owned()));
            for form in forms {
                let access = policy::form_access(thing, &default, form)?;
                if demands_credentials && !access.requirement.involves_did_auth() {
                    return Err(SecurityError::InvalidCredentialRequirement {
                        affordance: name.to_owned(),
                        message: format!(
                            "{REQUIRED_CREDENTIALS} needs DID-auth in the security of every form \
                             (a form of it for {} does not have it)",
                            form.href
                        ),
                    });
                }
                if access == default_access {
                    continue;
                }
                verifier.check_configured(&access.requirement)?;
                if !distinct.contains(&access.requirement) {
                    distinct.push(access.requirement.clone());
                }
                let transport = if is_ws_form(form) {
                    Transport::Ws
                } else {
                    Transport::Http
                };
                for op in form_ops(form, kind, property) {
                    overrides.insert(
                        (transport, target, name.to_owned(), op.to_owned()),
                        access.clone(),
                    );
                }
            }
            Ok(())
        };
        for (name, property) in &thing.properties {
            visit(
                &property.forms,
                AffordanceKind::Property,
                Target::Property,
                name,
                Some(property),
            )?;
        }
        for (name, action) in &thing.actions {
            visit(
                &action.forms,
                AffordanceKind::Action,
                Target::Action,
                name,
                None,
            )?;
        }
        for (name, event) in &thing.events {
            visit(
                &event.forms,
                AffordanceKind::Event,
                Target::Event,
                name,
                None,
            )?;
        }
        if let Some(forms) = &thing.forms {
            visit(forms, AffordanceKind::Action, Target::Thing, "", None)?;
        }
        let did_auth = distinct.iter().any(|r| r.involves_did_auth());
        if did_auth && thing.id.is_none() {
            return Err(SecurityError::InvalidScheme {
                name: "lmos:didAuth".to_owned(),
                message: "DID-auth needs the thing to have an id: tokens name it as their \
                          audience"
                    .to_owned(),
            });
        }
        let open = default.is_open()
            && credentials.is_empty()
            && overrides
                .values()
                .all(|a| a.requirement.is_open() && a.scopes.is_empty());
        if open {
            return Ok(None);
        }
        Ok(Some(ThingGuard {
            verifier: verifier.clone(),
            default: default_access,
            overrides,
            distinct,
            audience: thing.id.clone(),
            credentials,
        }))
    }

    /// The access for one operation.
    pub(crate) fn access(
        &self,
        transport: Transport,
        target: Target,
        name: &str,
        op: &str,
    ) -> &Access {
        if self.overrides.is_empty() {
            return &self.default;
        }
        let found = self
            .overrides
            .get(&(transport, target, name.to_owned(), op.to_owned()));
        // HTTP has no forms for queryaction/cancelaction: the status resource of an invocation
        // is guarded like the invocation.
        let inherited = || {
            matches!(op, "queryaction" | "cancelaction")
                .then(|| {
                    self.overrides.get(&(
                        transport,
                        target,
                        name.to_owned(),
                        "invokeaction".to_owned(),
                    ))
                })
                .flatten()
        };
        found.or_else(inherited).unwrap_or(&self.default)
    }

    /// The credentials a caller must hold for one operation (none: an empty slice).
    fn required_credentials(
        &self,
        target: Target,
        name: &str,
        op: &str,
    ) -> &[CredentialRequirement] {
        if self.credentials.is_empty() {
            return &[];
        }
        let found = match target {
            Target::Thing => self
                .credentials
                .get(&(Target::Thing, op.to_owned()))
                .or_else(|| self.credentials.get(&(Target::Thing, String::new()))),
            _ => self.credentials.get(&(target, name.to_owned())),
        };
        found.map(Vec::as_slice).unwrap_or_default()
    }

    /// Checks `presented` against the access of one operation, then the credentials it
    /// requires.
    pub(crate) async fn check(
        &self,
        transport: Transport,
        target: Target,
        name: &str,
        op: &str,
        presented: &Presented<'_>,
    ) -> Result<Principal, Refusal> {
        let access = self.access(transport, target, name, op);
        let context = CheckContext {
            verifier: &self.verifier,
            audience: self.audience.as_deref(),
            presented,
        };
        let mut principal = check(&context, &access.requirement, &access.scopes).await?;
        // A credential verified when a socket's token was first used may have expired since.
        let now = crate::identity::unix_now();
        principal.credentials.retain(|c| c.is_valid_at(now));
        let required = self.required_credentials(target, name, op);
        if required.is_empty() {
            return Ok(principal);
        }
        let Some(did) = principal.did.as_deref() else {
            return Err(Refusal {
                status: 403,
                challenges: Vec::new(),
                reason: "this operation requires verifiable credentials presented with DID-auth"
                    .to_owned(),
            });
        };
        CredentialRequirement::check_all(required, did, &principal.credentials).map_err(
            |missing| Refusal {
                status: 403,
                challenges: Vec::new(),
                reason: missing.to_string(),
            },
        )?;
        Ok(principal)
    }

    /// Whether `presented` passes any requirement of this thing (scopes aside): the WebSocket
    /// handshake is let through when it does for some thing.
    pub(crate) async fn admits_any(&self, presented: &Presented<'_>) -> Result<(), Refusal> {
        let context = CheckContext {
            verifier: &self.verifier,
            audience: self.audience.as_deref(),
            presented,
        };
        let mut first = None;
        for requirement in &self.distinct {
            match check(&context, requirement, &[]).await {
                Ok(_) => return Ok(()),
                Err(refusal) => {
                    first.get_or_insert(refusal);
                }
            }
        }
        Err(first.unwrap_or_else(|| Refusal::unauthorized(Vec::new(), "credentials required")))
    }
}

/// The credentials a request carries: its headers and its query string, and the DID-auth
/// tokens already verified for the connection.
pub(crate) struct Presented<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) query: Option<&'a str>,
    pub(crate) session: &'a DidAuthSession,
}

/// The DID-auth tokens verified for one HTTP request or one WebSocket connection, by token
/// digest, with the audiences each names. A token's `jti` is spent the first time it is
/// verified; over a WebSocket the connection stays authenticated as its DID from then on, for
/// the things its `aud` names.
#[derive(Default)]
pub(crate) struct DidAuthSession {
    verified: tokio::sync::Mutex<HashMap<[u8; 32], SessionEntry>>,
}

/// A verified token's caller and the audiences the token names.
type SessionEntry = (VerifiedCaller, Vec<String>);

/// Most tokens a connection keeps verified (a handshake carries one per token location).
const SESSION_CAPACITY: usize = 16;

impl DidAuthSession {
    async fn verify(
        &self,
        verifier: &DidAuthVerifier,
        token: &str,
        audience: &str,
    ) -> Result<VerifiedCaller, IdentityError> {
        let key = super::digest(token.as_bytes());
        // Held across the verification: two messages of one socket cannot spend a token twice.
        let mut verified = self.verified.lock().await;
        if let Some((caller, audiences)) = verified.get(&key) {
            if audiences.iter().any(|a| a == audience) {
                return Ok(caller.clone());
            }
            return Err(IdentityError::WrongAudience {
                expected: audience.to_owned(),
            });
        }
        let caller = verifier.verify_did_auth(token, audience).await?;
        if verified.len() < SESSION_CAPACITY {
            let audiences = crate::identity::did_auth::token_audiences(token);
            verified.insert(key, (caller.clone(), audiences));
        }
        Ok(caller)
    }
}

/// What one check needs besides the requirement.
struct CheckContext<'a> {
    verifier: &'a Verifier,
    /// The audience DID-auth tokens must name.
    audience: Option<&'a str>,
    presented: &'a Presented<'a>,
}

impl Presented<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    fn cookie(&self, name: &str) -> Option<String> {
        for value in self.headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for pair in text.split(';') {
                if let Some((key, value)) = pair.trim().split_once('=') {
                    if key == name {
                        return Some(value.to_owned());
                    }
                }
            }
        }
        None
    }

    fn at(&self, location: &Location) -> Option<String> {
        match location {
            Location::Header(name) => self.header(name).map(str::to_owned),
            Location::Query(name) => self.query_param(name),
            Location::Cookie(name) => self.cookie(name),
        }
    }

    /// A bearer token at `location`: `Authorization: Bearer …` for the Authorization header, the
    /// bare value elsewhere (a `Bearer ` prefix is accepted there too).
    fn token(&self, location: &Location) -> Option<String> {
        let value = self.at(location)?;
        let value = value.trim();
        let stripped = value
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("bearer "))
            .map(|_| value[7..].trim());
        match (location, stripped) {
            (_, Some(token)) if !token.is_empty() => Some(token.to_owned()),
            (Location::Header(name), None) if name.eq_ignore_ascii_case("authorization") => None,
            (_, None) if !value.is_empty() => Some(value.to_owned()),
            _ => None,
        }
    }

    fn basic(&self) -> Option<(String, String)> {
        let value = self.header("authorization")?.trim();
        let encoded = value
            .get(..6)
            .filter(|p| p.eq_ignore_ascii_case("basic "))
            .map(|_| value[6..].trim())?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_owned(), password.to_owned()))
    }
}

/// A refused request: the status (401 or 403, 503 when a key set is unreachable), the
/// `WWW-Authenticate` challenges and a reason that contains no credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) challenges: Vec<String>,
    pub(crate) reason: String,
}

impl Refusal {
    fn unauthorized(challenges: Vec<String>, reason: &str) -> Self {
        Refusal {
            status: 401,
            challenges,
            reason: reason.to_owned(),
        }
    }

    /// The problem-type code (`unauthorized`, `forbidden`, `unavailable`).
    pub(crate) fn code(&self) -> &'static str {
        match self.status {
            401 => "unauthorized",
            403 => "forbidden",
            _ => "unavailable",
        }
    }

    /// The problem title.
    pub(crate) fn title(&self) -> &'static str {
        match self.status {
            401 => "unauthorized",
            403 => "forbidden",
            _ => "authorization unavailable",
        }
    }
}

fn bearer_challenge(error: Option<&str>, description: Option<&str>, scope: Option<&str>) -> String {
    let mut text = format!("Bearer realm=\"{REALM}\"");
    if let Some(error) = error {
        text.push_str(&format!(", error=\"{error}\""));
    }
    if let Some(description) = description {
        text.push_str(&format!(", error_description=\"{description}\""));
    }
    if let Some(scope) = scope {
        text.push_str(&format!(", scope=\"{scope}\""));
    }
    text
}

/// `text` as an RFC 6750 `error_description`: printable ASCII without `"` and `\` (anything
/// else would make the header value invalid and drop the challenge).
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// The refusal for a DID-auth token the verifier did not accept: 403 when the token is good
/// but a credential it carries is not, 401 with an `invalid_token` challenge otherwise.
fn did_auth_refusal(error: &IdentityError) -> Refusal {
    let reason = error.to_string();
    match error {
        IdentityError::InvalidCredential(_) | IdentityError::CredentialNotValid(_) => Refusal {
            status: 403,
            challenges: Vec::new(),
            reason,
        },
        _ => Refusal::unauthorized(
            vec![bearer_challenge(
                Some("invalid_token"),
                Some(&quotable(&reason)),
                None,
            )],
            &reason,
        ),
    }
}

fn token_refusal(rejection: TokenRejection) -> Refusal {
    match rejection {
        TokenRejection::Invalid(reason) => Refusal::unauthorized(
            vec![bearer_challenge(Some("invalid_token"), Some(reason), None)],
            reason,
        ),
        TokenRejection::Unavailable(reason) => Refusal {
            status: 503,
            challenges: Vec::new(),
            reason: reason.to_owned(),
        },
    }
}

async fn check_token(
    validator: Option<&TokenValidator>,
    presented: &Presented<'_>,
    location: &Location,
) -> Result<TokenInfo, Refusal> {
    let Some(token) = presented.token(location) else {
        return Err(Refusal::unauthorized(
            vec![bearer_challenge(None, None, None)],
            "a bearer token is required",
        ));
    };
    let Some(validator) = validator else {
        return Err(Refusal::unauthorized(Vec::new(), "no token validator"));
    };
    validator.validate(&token).await.map_err(token_refusal)
}

fn check<'a>(
    context: &'a CheckContext<'a>,
    requirement: &'a Requirement,
    scopes: &'a [String],
) -> Checking<'a> {
    let verifier = context.verifier;
    let presented = context.presented;
    Box::pin(async move {
        match requirement {
            Requirement::NoSec => Ok(Principal::default()),
            Requirement::Basic { scheme } => {
                let challenge = format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"");
                let Some((user, password)) = presented.basic() else {
                    return Err(Refusal::unauthorized(
                        vec![challenge],
                        "basic credentials are required",
                    ));
                };
                let accepted = verifier
                    .inner
                    .basic
                    .as_ref()
                    .is_some_and(|checker| checker.check(&user, &password));
                if !accepted {
                    return Err(Refusal::unauthorized(
                        vec![challenge],
                        "the user name or password is wrong",
                    ));
                }
                Ok(Principal {
                    scheme: Some(scheme.clone()),
                    subject: Some(user),
                    ..Principal::default()
                })
            }
            Requirement::Bearer { scheme, location } => {
                let info = check_token(verifier.inner.bearer.as_ref(), presented, location).await?;
                Ok(Principal {
                    scheme: Some(scheme.clone()),
                    subject: info.subject,
                    scopes: info.scopes,
                    ..Principal::default()
                })
            }
            Requirement::OAuth2 {
                scheme, location, ..
            } => {
                let info = check_token(verifier.inner.oauth2.as_ref(), presented, location).await?;
                let granted: HashSet<&str> = info.scopes.iter().map(String::as_str).collect();
                if !scopes.iter().all(|s| granted.contains(s.as_str())) {
                    let wanted = scopes.join(" ");
                    return Err(Refusal {
                        status: 403,
                        challenges: vec![bearer_challenge(
                            Some("insufficient_scope"),
                            Some("the token lacks a required scope"),
                            Some(&wanted),
                        )],
                        reason: format!("this operation needs the scopes {wanted:?}"),
                    });
                }
                Ok(Principal {
                    scheme: Some(scheme.clone()),
                    subject: info.subject,
                    scopes: info.scopes,
                    ..Principal::default()
                })
            }
            Requirement::ApiKey { scheme, location } => {
                let challenge = format!(
                    "ApiKey realm=\"{REALM}\", in=\"{}\", name=\"{}\"",
                    location.kind(),
                    location.name()
                );
                let Some(key) = presented.at(location) else {
                    return Err(Refusal::unauthorized(
                        vec![challenge],
                        "an API key is required",
                    ));
                };
                let accepted = verifier
                    .inner
                    .api_keys
                    .as_ref()
                    .is_some_and(|keys| keys.accepts(key.trim()));
                if !accepted {
                    return Err(Refusal::unauthorized(
                        vec![challenge],
                        "the API key is not accepted",
                    ));
                }
                Ok(Principal {
                    scheme: Some(scheme.clone()),
                    ..Principal::default()
                })
            }
            Requirement::DidAuth { scheme, location } => {
                let Some(token) = presented.token(location) else {
                    return Err(Refusal::unauthorized(
                        vec![bearer_challenge(None, None, None)],
                        "a DID-auth token is required",
                    ));
                };
                let (Some(did_auth), Some(audience)) =
                    (verifier.inner.did_auth.as_ref(), context.audience)
                else {
                    return Err(Refusal::unauthorized(Vec::new(), "no DID-auth verifier"));
                };
                let caller = presented
                    .session
                    .verify(did_auth, &token, audience)
                    .await
                    .map_err(|error| did_auth_refusal(&error))?;
                Ok(Principal {
                    scheme: Some(scheme.clone()),
                    subject: Some(caller.did.clone()),
                    did: Some(caller.did),
                    scopes: Vec::new(),
                    credentials: caller.credentials,
                })
            }
            Requirement::AllOf(parts) => {
                let mut principal = Principal::default();
                for part in parts {
                    let passed = check(context, part, scopes).await?;
                    principal.merge(passed);
                }
                Ok(principal)
            }
            Requirement::OneOf(parts) => {
                let mut refusals = Vec::new();
                for part in parts {
                    match check(context, part, scopes).await {
                        Ok(principal) => return Ok(principal),
                        Err(refusal) => refusals.push(refusal),
                    }
                }
                let status = refusals.iter().map(|r| r.status).max().unwrap_or(401);
                let reason = refusals
                    .first()
                    .map(|r| r.reason.clone())
                    .unwrap_or_else(|| "credentials required".into());
                Err(Refusal {
                    status,
                    challenges: refusals.into_iter().flat_map(|r| r.challenges).collect(),
                    reason,
                })
            }
        }
    })
}

fn declared(
    members: &serde_json::Map<String, serde_json::Value>,
    affordance: &str,
) -> Result<Vec<CredentialRequirement>, SecurityError> {
    CredentialRequirement::declared_in(members).map_err(|error| {
        SecurityError::InvalidCredentialRequirement {
            affordance: affordance.to_owned(),
            message: error.to_string(),
        }
    })
}

fn add_all(list: &mut Vec<CredentialRequirement>, more: &[CredentialRequirement]) {
    for requirement in more {
        if !list.contains(requirement) {
            list.push(requirement.clone());
        }
    }
}

/// The `lmos:requiredCredentials` of `thing`: the thing's own apply to every affordance; the
/// thing's operations over many affordances (`readallproperties`, `subscribeallevents`, ...)
/// require what each of those affordances requires.
fn required_credentials(
    thing: &Thing,
) -> Result<HashMap<CredentialKey, Vec<CredentialRequirement>>, SecurityError> {
    let own = declared(&thing.extra, "")?;
    let mut out = HashMap::new();
    let mut per_kind = [own.clone(), own.clone(), own.clone()];
    let affordances = thing
        .properties
        .iter()
        .map(|(name, p)| (Target::Property, 0, name, &p.schema.extra))
        .chain(
            thing
                .actions
                .iter()
                .map(|(name, a)| (Target::Action, 1, name, &a.extra)),
        )
        .chain(
            thing
                .events
                .iter()
                .map(|(name, e)| (Target::Event, 2, name, &e.extra)),
        );
    for (target, kind, name, members) in affordances {
        let mut list = own.clone();
        add_all(&mut list, &declared(members, name)?);
        add_all(&mut per_kind[kind], &list);
        if !list.is_empty() {
            out.insert((target, name.clone()), list);
        }
    }
    let [properties, actions, events] = per_kind;
    let thing_ops: [(&[&str], Vec<CredentialRequirement>); 4] = [
        (
            &[
                "readallproperties",
                "readmultipleproperties",
                "writeallproperties",
                "writemultipleproperties",
                "observeallproperties",
                "unobserveallproperties",
            ],
            properties,
        ),
        (&["queryallactions"], actions),
        (&["subscribeallevents", "unsubscribeallevents"], events),
        (&[""], own),
    ];
    for (ops, list) in thing_ops {
        if list.is_empty() {
            continue;
        }
        for op in ops {
            out.insert((Target::Thing, (*op).to_owned()), list.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_auth_challenges_stay_valid_header_values() {
        let error = IdentityError::WrongAudience {
            expected: "urn:thing:\u{e9}t\u{e9} \"x\" \\ \n".to_owned(),
        };
        let refusal = did_auth_refusal(&error);
        assert_eq!(refusal.status, 401);
        let challenge = &refusal.challenges[0];
        assert!(challenge.starts_with("Bearer realm=\"lmos\", error=\"invalid_token\""));
        axum::http::HeaderValue::from_str(challenge).unwrap();
        let forbidden = did_auth_refusal(&IdentityError::CredentialNotValid("expired".into()));
        assert_eq!((forbidden.status, forbidden.challenges.len()), (403, 0));
    }
}
