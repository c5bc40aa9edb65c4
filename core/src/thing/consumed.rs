//! [`ConsumedThing`]: calls a thing by following the forms of its Thing Description.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Map, Value};
use url::Url;

use super::handler::{ActionState, ActionStatus, ActionUpdate, ActionUpdates, ValueStream};
use super::{lock, ThingError};
use crate::binding::http::client::{sse_events, HttpClient, HttpRequest, HttpResponse};
use crate::binding::http::forms::{LONG_POLL, SSE, SUBSCRIBED_PREFERENCE};
use crate::binding::http::uri_template;
use crate::binding::http::{EVENT_STREAM, TD_JSON};
use crate::binding::ws::client::{WsReplies, WsTopic};
use crate::binding::ws::{self, Body, Dialect, Message, StatusValue, WsClient, WsClientOptions};
use crate::codec::{essence, Codec, JSON};
use crate::identity::data_integrity::{verify_document, verify_document_offline, VerifiedProof};
use crate::identity::{DidResolver, IdentityError, SignaturePolicy, VerificationRelationship};
use crate::security::CredentialStore;
use crate::td::defaults::{form_ops, resolve_href};
use crate::td::payload::{PayloadError, PayloadValidator};
use crate::td::{AffordanceKind, DataSchema, Form, OneOrMany, PropertyAffordance, Thing};

/// A streaming subprotocol for `observeproperty` and `subscribeevent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subprotocol {
    /// Server-Sent Events (`subprotocol: "sse"`).
    Sse,
    /// Long-poll (`subprotocol: "longpoll"`, also forms that name none).
    LongPoll,
}

impl Subprotocol {
    /// The TD name of the subprotocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Subprotocol::Sse => SSE,
            Subprotocol::LongPoll => LONG_POLL,
        }
    }

    /// Reads a TD subprotocol name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            SSE => Some(Subprotocol::Sse),
            LONG_POLL => Some(Subprotocol::LongPoll),
            _ => None,
        }
    }
}

/// How a [`ConsumedThing`] picks forms and checks payloads.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// URI schemes in order of preference (`http` also matches `https`, `ws` also `wss`);
    /// empty = HTTP first, then WebSocket (`lmosprotocol`) forms. Forms of other schemes are
    /// still used when none of these has one, unless [`only_protocols`](Self::only_protocols).
    pub protocols: Vec<String>,
    /// Use only forms whose scheme is in [`protocols`](Self::protocols) (default off: the list
    /// only ranks). With an empty list this has no effect.
    pub only_protocols: bool,
    /// The `lmosprotocol` dialect spoken over WebSocket forms (default: the spec's).
    pub dialect: Dialect,
    /// Content types in order of preference; empty = `application/json` first, then any
    /// supported.
    pub content_types: Vec<String>,
    /// Streaming subprotocols in order of preference (default: SSE, then long-poll).
    pub subprotocols: Vec<Subprotocol>,
    /// Check property values, action outputs and event data against the TD (default on).
    pub validate_outputs: bool,
    /// Check inputs against the TD before sending (default on).
    pub validate_inputs: bool,
    /// Bound on each non-streaming request (default 30 s; `None` = no bound).
    pub timeout: Option<Duration>,
    /// Pause between polls of an action-status resource (default 200 ms).
    pub poll_interval: Duration,
    /// Largest response body read whole, TDs included (default 16 MiB).
    pub max_response_bytes: usize,
    /// What to do with the TD's Data Integrity proof (`eddsa-jcs-2022`): by default a proof
    /// that is present must verify, and a TD without one is accepted.
    pub signature_policy: SignaturePolicy,
    /// Resolves the DIDs of TD signers (`did:key`; `did:web` over HTTPS).
    pub did_resolver: DidResolver,
    /// Credentials applied as each form's security (or the thing's) declares; `None` sends
    /// none. See [`crate::security`].
    pub credentials: Option<CredentialStore>,
    /// Extra CA certificates (PEM) trusted for `https` and `wss` besides the platform's roots.
    /// Certificates are always verified.
    pub extra_ca_pem: Option<String>,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            protocols: Vec::new(),
            only_protocols: false,
            dialect: Dialect::Spec,
            content_types: Vec::new(),
            subprotocols: vec![Subprotocol::Sse, Subprotocol::LongPoll],
            validate_outputs: true,
            validate_inputs: true,
            timeout: Some(Duration::from_secs(30)),
            poll_interval: Duration::from_millis(200),
            max_response_bytes: crate::binding::http::client::DEFAULT_MAX_RESPONSE_BYTES,
            signature_policy: SignaturePolicy::default(),
            did_resolver: DidResolver::default(),
            credentials: None,
            extra_ca_pem: None,
        }
    }
}

/// Per-call options of an interaction (like node-wot's `InteractionOptions`).
#[derive(Debug, Clone, Default)]
pub struct InteractionOptions {
    /// Values of the affordance's `uriVariables`, by name: checked against their schemas (when
    /// input validation is on) and expanded into the form's URI template (`{?a,b}`, `{name}`).
    pub uri_variables: Map<String, Value>,
}

impl InteractionOptions {
    /// Options with these `uriVariables`.
    pub fn uri_variables(variables: Map<String, Value>) -> Self {
        InteractionOptions {
            uri_variables: variables,
        }
    }
}

/// A resolved form: where and how to send one operation.
#[derive(Debug, Clone)]
struct Target {
    url: Url,
    method: String,
    codec: Codec,
    content_type: String,
    accept: String,
    subprotocol: Option<Subprotocol>,
    /// A WebSocket (`lmosprotocol`) form.
    ws: bool,
    /// The form's own `security`, if it overrides the thing's.
    security: Option<OneOrMany<String>>,
}

struct ConsumedInner {
    thing: Thing,
    document_url: Option<Url>,
    options: ConsumeOptions,
    client: HttpClient,
    validators: Mutex<HashMap<String, Arc<PayloadValidator>>>,
    /// WebSocket connections in use, by endpoint URL (shared with other consumed things).
    ws_clients: Mutex<HashMap<String, WsClient>>,
    /// The form chosen for each operation and affordance called without URI variables (the
    /// choice depends on nothing else), so that repeated calls skip resolving every form.
    targets: Mutex<HashMap<String, Target>>,
    /// The TD's proofs that verified.
    proofs: Vec<VerifiedProof>,
    /// TLS for `wss://` forms (with the options' extra CA).
    ws_tls: Option<Arc<rustls::ClientConfig>>,
}

/// A thing this process calls. Cheap to clone; clones share the HTTP connection pool.
#[derive(Clone)]
pub struct ConsumedThing {
    inner: Arc<ConsumedInner>,
}

impl std::fmt::Debug for ConsumedThing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumedThing")
            .field("title", &self.inner.thing.title)
            .finish_non_exhaustive()
    }
}

fn default_method(op: &str) -> &'static str {
    match op {
        "writeproperty" | "writemultipleproperties" | "writeallproperties" => "PUT",
        "invokeaction" => "POST",
        "cancelaction" | "unsubscribeevent" | "unobserveproperty" => "DELETE",
        _ => "GET",
    }
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The error for a non-2xx response, with the problem document if there is one.
fn remote_error(response: &HttpResponse) -> ThingError {
    let problem: Option<Value> = serde_json::from_slice(&response.body)
        .ok()
        .filter(Value::is_object);
    let reason = reqwest::StatusCode::from_u16(response.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    let title = problem
        .as_ref()
        .and_then(|p| p.get("title"))
        .and_then(Value::as_str)
        .unwrap_or(reason)
        .to_owned();
    let detail = problem
        .as_ref()
        .and_then(|p| p.get("detail"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            if problem.is_none() && !response.body.is_empty() {
                let text = String::from_utf8_lossy(&response.body);
                Some(text.chars().take(200).collect())
            } else {
                None
            }
        });
    let problem = problem.map(Box::new);
    match response.status {
        404 => ThingError::RemoteNotFound {
            title,
            detail,
            problem,
        },
        400 => ThingError::RemoteBadRequest {
            title,
            detail,
            violations: problem
                .as_ref()
                .and_then(|p| p.get("errors"))
                .and_then(Value::as_array)
                .map(|errors| errors.iter().filter_map(violation).collect())
                .unwrap_or_default(),
            problem,
        },
        status => ThingError::Remote {
            status,
            title,
            detail,
            problem,
        },
    }
}

/// One entry of a problem document's `errors` (`path`, `rule`, `message`).
fn violation(entry: &Value) -> Option<crate::td::payload::PayloadViolation> {
    let text = |member: &str| entry.get(member).and_then(Value::as_str).map(str::to_owned);
    Some(crate::td::payload::PayloadViolation {
        path: text("path").unwrap_or_default(),
        rule: text("rule").unwrap_or_default(),
        message: text("message")?,
    })
}

fn decode(response: &HttpResponse, codec: Codec) -> Result<Value, ThingError> {
    if !is_success(response.status) {
        return Err(remote_error(response));
    }
    if response.status == 204 || response.body.is_empty() {
        return Ok(Value::Null);
    }
    let codec = response
        .content_type
        .as_deref()
        .and_then(|ct| Codec::for_content_type(ct).ok())
        .unwrap_or(codec);
    Ok(codec.decode(&response.body)?)
}

/// Applies the signature policy to the outcome of verifying a TD's proofs.
fn signature_outcome(
    policy: SignaturePolicy,
    outcome: Result<Vec<VerifiedProof>, IdentityError>,
) -> Result<Vec<VerifiedProof>, ThingError> {
    let refused = |e: IdentityError| {
        ThingError::InvalidTd(format!("signature check failed ({}): {e}", e.code()))
    };
    match outcome {
        Err(IdentityError::ProofMissing) if policy == SignaturePolicy::VerifyIfPresent => {
            Ok(Vec::new())
        }
        Err(e) => Err(refused(e)),
        Ok(proofs) => {
            match proofs
                .iter()
                .find(|p| p.purpose != VerificationRelationship::AssertionMethod)
            {
                Some(p) => Err(refused(IdentityError::InvalidProof(format!(
                    "a TD proof must be an assertionMethod proof, not {}",
                    p.purpose.as_str()
                )))),
                None => Ok(proofs),
            }
        }
    }
}

impl ConsumedThing {
    /// Consumes the thing described by `thing`, applying the signature policy: a TD signed by a
    /// `did:key` (or a DID pinned in the resolver) is checked here; one signed by a `did:web`
    /// DID needs the network, so use [`new_verified`](Self::new_verified) for it.
    pub fn new(thing: Thing, options: ConsumeOptions) -> Result<Self, ThingError> {
        let proofs = match options.signature_policy {
            SignaturePolicy::Ignore => Vec::new(),
            policy => {
                let outcome = verify_document_offline(&thing.to_value(), &options.did_resolver)
                    .ok_or_else(|| {
                        ThingError::InvalidTd(
                            "the TD's signer must be resolved over the network: use \
                             ConsumedThing::new_verified"
                                .to_owned(),
                        )
                    })?;
                signature_outcome(policy, outcome)?
            }
        };
        Self::with_document_url(thing, None, options, proofs)
    }

    /// Consumes the thing described by `thing` after applying the signature policy, resolving
    /// the signer's DID over the network when needed (`did:web`).
    pub async fn new_verified(thing: Thing, options: ConsumeOptions) -> Result<Self, ThingError> {
        let proofs = Self::check_signature(&thing.to_value(), &options).await?;
        Self::with_document_url(thing, None, options, proofs)
    }

    async fn check_signature(
        document: &Value,
        options: &ConsumeOptions,
    ) -> Result<Vec<VerifiedProof>, ThingError> {
        match options.signature_policy {
            SignaturePolicy::Ignore => Ok(Vec::new()),
            policy => signature_outcome(
                policy,
                verify_document(document, &options.did_resolver).await,
            ),
        }
    }

    /// The TD's Data Integrity proofs that verified (empty when it had none or the policy is
    /// [`SignaturePolicy::Ignore`]).
    pub fn verified_proofs(&self) -> &[VerifiedProof] {
        &self.inner.proofs
    }

    fn with_document_url(
        thing: Thing,
        document_url: Option<Url>,
        options: ConsumeOptions,
        proofs: Vec<VerifiedProof>,
    ) -> Result<Self, ThingError> {
        let client = HttpClient::with_extra_ca(options.timeout, options.extra_ca_pem.as_deref())?
            .with_max_response_bytes(options.max_response_bytes);
        let ws_tls = match &options.extra_ca_pem {
            Some(pem) => Some(crate::security::client_tls_config(Some(pem))?),
            None => None,
        };
        Ok(ConsumedThing {
            inner: Arc::new(ConsumedInner {
                thing,
                document_url,
                options,
                client,
                validators: Mutex::new(HashMap::new()),
                ws_clients: Mutex::new(HashMap::new()),
                targets: Mutex::new(HashMap::new()),
                proofs,
                ws_tls,
            }),
        })
    }

    /// Fetches the TD at `url` (`Accept: application/td+json`) and consumes it. Relative hrefs
    /// in a TD without `base` resolve against `url`.
    pub async fn from_url(url: &str, options: ConsumeOptions) -> Result<Self, ThingError> {
        let url = Url::parse(url).map_err(|e| ThingError::InvalidTd(format!("{url:?}: {e}")))?;
        let client = HttpClient::with_extra_ca(options.timeout, options.extra_ca_pem.as_deref())?
            .with_max_response_bytes(options.max_response_bytes);
        let mut request = HttpRequest::new("GET", url.clone());
        request.accept = Some(format!("{TD_JSON}, {JSON}"));
        let response = client.send(request).await?;
        if !is_success(response.status) {
            return Err(remote_error(&response));
        }
        // The TD must pass TD 1.1 JSON Schema validation and the LMOS rules.
        let thing = Thing::parse_validated(&response.body).map_err(|report| {
            let errors: Vec<String> = report.errors().take(5).map(ToString::to_string).collect();
            ThingError::InvalidTd(errors.join("; "))
        })?;
        // The proof covers the TD as sent, so it is checked on the bytes received.
        let proofs = match options.signature_policy {
            SignaturePolicy::Ignore => Vec::new(),
            _ => {
                let document: Value = serde_json::from_slice(&response.body)
                    .map_err(|e| ThingError::InvalidTd(e.to_string()))?;
                Self::check_signature(&document, &options).await?
            }
        };
        Self::with_document_url(thing, Some(url), options, proofs)
    }

    /// The Thing Description.
    pub fn thing(&self) -> &Thing {
        &self.inner.thing
    }

    /// The options in force.
    pub fn options(&self) -> &ConsumeOptions {
        &self.inner.options
    }

    // ----- form selection ---------------------------------------------------------------------

    /// The form's URL, its URI template (if any) expanded with `variables`.
    fn resolve(
        &self,
        form: &Form,
        variables: &Map<String, Value>,
    ) -> Result<Option<Url>, ThingError> {
        let base = self
            .inner
            .thing
            .base
            .clone()
            .or_else(|| self.inner.document_url.as_ref().map(Url::to_string));
        let href = if uri_template::is_template(&form.href) {
            Cow::Owned(uri_template::expand(&form.href, variables).map_err(|e| {
                ThingError::InvalidInput {
                    what: "URI variables".into(),
                    violations: vec![crate::td::payload::PayloadViolation {
                        path: String::new(),
                        rule: "uriVariables".into(),
                        message: e.to_string(),
                    }],
                }
            })?)
        } else {
            Cow::Borrowed(form.href.as_str())
        };
        Ok(resolve_href(base.as_deref(), &href).ok())
    }

    fn protocol_rank(&self, url: &Url, ws_form: bool) -> Option<usize> {
        let scheme = url.scheme();
        let ws_scheme = matches!(scheme, "ws" | "wss");
        if ws_scheme != ws_form || !(ws_scheme || matches!(scheme, "http" | "https")) {
            return None;
        }
        let wanted = &self.inner.options.protocols;
        if wanted.is_empty() {
            return Some(usize::from(ws_scheme));
        }
        wanted
            .iter()
            .position(|p| {
                let p = p.to_ascii_lowercase();
                p == scheme || (p == "http" && scheme == "https") || (p == "ws" && scheme == "wss")
            })
            .or(if self.inner.options.only_protocols {
                None
            } else {
                Some(wanted.len() + usize::from(ws_scheme))
            })
    }

    fn content_rank(&self, content_type: &str) -> usize {
        let wanted = &self.inner.options.content_types;
        let media = essence(content_type);
        if wanted.is_empty() {
            return usize::from(media != JSON);
        }
        wanted
            .iter()
            .position(|w| essence(w) == media)
            .unwrap_or(wanted.len())
    }

    fn select(
        &self,
        forms: &[Form],
        kind: AffordanceKind,
        property: Option<&PropertyAffordance>,
        op: &str,
        name: &str,
        variables: &Map<String, Value>,
    ) -> Result<Target, ThingError> {
        if !variables.is_empty() {
            return self.choose(forms, kind, property, op, name, variables);
        }
        let key = format!("{op} {name}");
        if let Some(target) = lock(&self.inner.targets).get(&key) {
            return Ok(target.clone());
        }
        let target = self.choose(forms, kind, property, op, name, variables)?;
        lock(&self.inner.targets).insert(key, target.clone());
        Ok(target)
    }

    /// The best form for `op` among `forms`, resolved (see [`select`](Self::select)).
    fn choose(
        &self,
        forms: &[Form],
        kind: AffordanceKind,
        property: Option<&PropertyAffordance>,
        op: &str,
        name: &str,
        variables: &Map<String, Value>,
    ) -> Result<Target, ThingError> {
        let streaming = matches!(op, "observeproperty" | "subscribeevent");
        let mut best: Option<((usize, usize, usize, usize), Target)> = None;
        for (index, form) in forms.iter().enumerate() {
            if !form_ops(form, kind, property).contains(&op) {
                continue;
            }
            let Some(url) = self.resolve(form, variables)? else {
                continue;
            };
            let ws_form = ws::is_ws_form(form);
            let Some(protocol_rank) = self.protocol_rank(&url, ws_form) else {
                continue;
            };
            let content_type = crate::td::defaults::content_type(form).to_owned();
            let Ok(codec) = Codec::for_content_type(&content_type) else {
                continue;
            };
            let subprotocol = match form.subprotocol.as_deref() {
                _ if ws_form => None,
                None if streaming => Some(Subprotocol::LongPoll),
                None => None,
                Some(name) => match Subprotocol::parse(name) {
                    Some(sub) if streaming => Some(sub),
                    _ => continue,
                },
            };
            if subprotocol == Some(Subprotocol::Sse) && codec == Codec::Cbor {
                continue;
            }
            let sub_rank = match subprotocol {
                Some(sub) => {
                    let wanted = &self.inner.options.subprotocols;
                    match wanted.iter().position(|w| *w == sub) {
                        Some(rank) => rank,
                        None if wanted.is_empty() => 0,
                        None => continue,
                    }
                }
                None => 0,
            };
            let accept = form
                .response
                .as_ref()
                .and_then(|r| r.content_type.clone())
                .unwrap_or_else(|| content_type.clone());
            let target = Target {
                url,
                method: form.http_method().unwrap_or(default_method(op)).to_owned(),
                codec,
                content_type,
                accept,
                subprotocol,
                ws: ws_form,
                security: form.security.clone(),
            };
            let rank = (
                protocol_rank,
                sub_rank,
                self.content_rank(&target.content_type),
                index,
            );
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((rank, target));
            }
        }
        best.map(|(_, target)| target)
            .ok_or_else(|| ThingError::NoForm {
                operation: op.to_owned(),
                name: name.to_owned(),
            })
    }

    fn property(&self, name: &str) -> Result<&PropertyAffordance, ThingError> {
        self.inner
            .thing
            .properties
            .get(name)
            .ok_or_else(|| ThingError::not_found("property", name))
    }

    fn property_target(
        &self,
        name: &str,
        op: &str,
        options: &InteractionOptions,
    ) -> Result<Target, ThingError> {
        let property = self.property(name)?;
        self.check_uri_variables(
            &format!("property {name}"),
            property.uri_variables.as_ref(),
            options,
        )?;
        self.select(
            &property.forms,
            AffordanceKind::Property,
            Some(property),
            op,
            name,
            &options.uri_variables,
        )
    }

    /// Checks `uriVariables` against the affordance's (and the thing's) declarations: each one
    /// declared, each value valid for its schema (when input validation is on).
    fn check_uri_variables(
        &self,
        affordance: &str,
        own: Option<&indexmap::IndexMap<String, DataSchema>>,
        options: &InteractionOptions,
    ) -> Result<(), ThingError> {
        if options.uri_variables.is_empty() || !self.inner.options.validate_inputs {
            return Ok(());
        }
        let thing_level = self.inner.thing.uri_variables.as_ref();
        let mut violations = Vec::new();
        for (name, value) in &options.uri_variables {
            let schema = own
                .and_then(|o| o.get(name))
                .or_else(|| thing_level.and_then(|t| t.get(name)));
            let Some(schema) = schema else {
                violations.push(crate::td::payload::PayloadViolation {
                    path: format!("/{name}"),
                    rule: "uriVariables".into(),
                    message: format!("{name:?} is not a URI variable of {affordance}"),
                });
                continue;
            };
            let key = format!("URI variable {name} of {affordance}");
            match self.check(&key, Some(schema), value, false) {
                Ok(()) => {}
                Err(ThingError::InvalidInput {
                    violations: found, ..
                }) => {
                    violations.extend(found.into_iter().map(|mut v| {
                        v.path = format!("/{name}{}", v.path);
                        v
                    }));
                }
                Err(other) => return Err(other),
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ThingError::InvalidInput {
                what: format!("URI variables of {affordance}"),
                violations,
            })
        }
    }

    fn thing_target(&self, op: &str) -> Option<Target> {
        let forms = self.inner.thing.forms.as_deref().unwrap_or_default();
        // Thing-level forms have no default op; only explicit ones count.
        self.select(forms, AffordanceKind::Action, None, op, "", &Map::new())
            .ok()
    }

    // ----- validation -------------------------------------------------------------------------

    fn validator(
        &self,
        key: &str,
        schema: Option<&DataSchema>,
    ) -> Result<Option<Arc<PayloadValidator>>, ThingError> {
        let Some(schema) = schema else {
            return Ok(None);
        };
        if let Some(found) = lock(&self.inner.validators).get(key) {
            return Ok(Some(found.clone()));
        }
        let compiled =
            Arc::new(
                PayloadValidator::new(schema).map_err(|e| ThingError::InvalidSchema {
                    affordance: key.to_owned(),
                    message: e.to_string(),
                })?,
            );
        lock(&self.inner.validators).insert(key.to_owned(), compiled.clone());
        Ok(Some(compiled))
    }

    fn check(
        &self,
        key: &str,
        schema: Option<&DataSchema>,
        value: &Value,
        output: bool,
    ) -> Result<(), ThingError> {
        let enabled = if output {
            self.inner.options.validate_outputs
        } else {
            self.inner.options.validate_inputs
        };
        if !enabled {
            return Ok(());
        }
        let Some(validator) = self.validator(key, schema)? else {
            return Ok(());
        };
        match validator.validate(value) {
            Ok(()) => Ok(()),
            Err(PayloadError::Invalid(violations)) if output => Err(ThingError::InvalidOutput {
                what: key.to_owned(),
                violations,
            }),
            Err(PayloadError::Invalid(violations)) => Err(ThingError::InvalidInput {
                what: key.to_owned(),
                violations,
            }),
            Err(PayloadError::Schema(message)) => Err(ThingError::InvalidSchema {
                affordance: key.to_owned(),
                message,
            }),
        }
    }

    fn check_property(&self, name: &str, value: &Value, output: bool) -> Result<(), ThingError> {
        let schema = self.inner.thing.properties.get(name).map(|p| &p.schema);
        self.check(&format!("property {name}"), schema, value, output)
    }

    fn check_action_output(&self, name: &str, value: &Value) -> Result<(), ThingError> {
        let schema = self
            .inner
            .thing
            .actions
            .get(name)
            .and_then(|a| a.output.as_ref());
        self.check(&format!("output of action {name}"), schema, value, true)
    }

    // ----- requests ---------------------------------------------------------------------------

    async fn send(
        &self,
        target: &Target,
        body: Option<&Value>,
    ) -> Result<HttpResponse, ThingError> {
        let mut request = HttpRequest::new(&target.method, target.url.clone());
        request.accept = Some(target.accept.clone());
        if let Some(body) = body {
            request.content_type = Some(target.content_type.clone());
            request.body = Some(target.codec.encode(body)?);
        }
        let request = self.authorized(request, target.security.as_ref()).await?;
        Ok(self.inner.client.send(request).await?)
    }

    /// `request` with the credentials its form's security (`security`, else the thing's) asks
    /// for, from the options' credential store.
    async fn authorized(
        &self,
        mut request: HttpRequest,
        security: Option<&OneOrMany<String>>,
    ) -> Result<HttpRequest, ThingError> {
        let Some(store) = &self.inner.options.credentials else {
            return Ok(request);
        };
        let auth =
            crate::security::authorize(Some(store), &self.inner.thing, security, &request.url)
                .await?;
        if !auth.is_empty() {
            request.auth = Some(auth);
        }
        Ok(request)
    }

    // ----- properties -------------------------------------------------------------------------

    /// `readproperty`.
    pub async fn read_property(&self, name: &str) -> Result<Value, ThingError> {
        self.read_property_with(name, &InteractionOptions::default())
            .await
    }

    /// `readproperty` with per-call options (`uriVariables`).
    pub async fn read_property_with(
        &self,
        name: &str,
        options: &InteractionOptions,
    ) -> Result<Value, ThingError> {
        let target = self.property_target(name, "readproperty", options)?;
        if target.ws {
            let reply = self
                .ws_request(
                    &target,
                    Body::ReadProperty {
                        name: name.to_owned(),
                    },
                )
                .await?;
            let Body::PropertyReading { value, .. } = reply.body else {
                return Err(unexpected(&reply));
            };
            self.check_property(name, &value, true)?;
            return Ok(value);
        }
        let response = self.send(&target, None).await?;
        let value = decode(&response, target.codec)?;
        self.check_property(name, &value, true)?;
        Ok(value)
    }

    /// `writeproperty`.
    pub async fn write_property(&self, name: &str, value: Value) -> Result<(), ThingError> {
        self.write_property_with(name, value, &InteractionOptions::default())
            .await
    }

    /// `writeproperty` with per-call options (`uriVariables`).
    pub async fn write_property_with(
        &self,
        name: &str,
        value: Value,
        options: &InteractionOptions,
    ) -> Result<(), ThingError> {
        let target = self.property_target(name, "writeproperty", options)?;
        self.check_property(name, &value, false)?;
        if target.ws {
            let body = Body::WriteProperty {
                name: name.to_owned(),
                value,
            };
            return self.ws_request(&target, body).await.map(|_| ());
        }
        let response = self.send(&target, Some(&value)).await?;
        decode(&response, target.codec).map(|_| ())
    }

    /// `readallproperties`, through the thing-level form if there is one, else one read per
    /// readable property.
    pub async fn read_all_properties(&self) -> Result<Map<String, Value>, ThingError> {
        if let Some(target) = self.thing_target("readallproperties") {
            if target.ws {
                let reply = self.ws_request(&target, Body::ReadAllProperties).await?;
                let Body::PropertyReadings { values, .. } = reply.body else {
                    return Err(unexpected(&reply));
                };
                for (name, value) in &values {
                    self.check_property(name, value, true)?;
                }
                return Ok(values);
            }
            let response = self.send(&target, None).await?;
            let Value::Object(values) = decode(&response, target.codec)? else {
                return Err(ThingError::InvalidOutput {
                    what: "readallproperties".into(),
                    violations: Vec::new(),
                });
            };
            for (name, value) in &values {
                self.check_property(name, value, true)?;
            }
            return Ok(values);
        }
        let mut values = Map::new();
        for (name, property) in &self.inner.thing.properties {
            if property.is_write_only() {
                continue;
            }
            values.insert(name.clone(), self.read_property(name).await?);
        }
        Ok(values)
    }

    /// `writemultipleproperties`, through the thing-level form if there is one, else one write
    /// per property.
    pub async fn write_multiple_properties(
        &self,
        values: Map<String, Value>,
    ) -> Result<(), ThingError> {
        for (name, value) in &values {
            self.property(name)?;
            self.check_property(name, value, false)?;
        }
        if let Some(target) = self.thing_target("writemultipleproperties") {
            if target.ws {
                let body = Body::WriteMultipleProperties { values };
                return self.ws_request(&target, body).await.map(|_| ());
            }
            let response = self
                .send(&target, Some(&Value::Object(values.clone())))
                .await?;
            // Some servers advertise the operation without serving it (node-wot 0.9.2 answers
            // 404 to PUT on its `properties` form): then write one property at a time.
            if !matches!(response.status, 404 | 405 | 501) {
                return decode(&response, target.codec).map(|_| ());
            }
        }
        for (name, value) in values {
            self.write_property(&name, value).await?;
        }
        Ok(())
    }

    // ----- actions ----------------------------------------------------------------------------

    fn action_target(
        &self,
        name: &str,
        input: &Value,
        options: &InteractionOptions,
    ) -> Result<Target, ThingError> {
        let action = self
            .inner
            .thing
            .actions
            .get(name)
            .ok_or_else(|| ThingError::not_found("action", name))?;
        self.check_uri_variables(
            &format!("action {name}"),
            action.uri_variables.as_ref(),
            options,
        )?;
        let target = self.select(
            &action.forms,
            AffordanceKind::Action,
            None,
            "invokeaction",
            name,
            &options.uri_variables,
        )?;
        self.check(
            &format!("input of action {name}"),
            action.input.as_ref(),
            input,
            false,
        )?;
        Ok(target)
    }

    /// `invokeaction`: starts the action and returns a handle to its result (for asynchronous
    /// actions, to its action-status resource).
    pub async fn start_action(&self, name: &str, input: Value) -> Result<ActionHandle, ThingError> {
        self.start_action_with(name, input, &InteractionOptions::default())
            .await
    }

    /// [`start_action`](Self::start_action) with per-call options (`uriVariables`).
    pub async fn start_action_with(
        &self,
        name: &str,
        input: Value,
        options: &InteractionOptions,
    ) -> Result<ActionHandle, ThingError> {
        let target = self.action_target(name, &input, options)?;
        self.start_action_at(&target, name, input).await
    }

    /// [`start_action_with`](Self::start_action_with) on the form already chosen.
    async fn start_action_at(
        &self,
        target: &Target,
        name: &str,
        input: Value,
    ) -> Result<ActionHandle, ThingError> {
        if target.ws {
            let replies = self.ws_invoke(target, name, input).await?;
            let (client, key) = (replies.client().clone(), replies.key().to_owned());
            return Ok(ActionHandle {
                consumed: self.clone(),
                action: name.to_owned(),
                codec: Codec::Json,
                accept: JSON.to_owned(),
                status_url: None,
                output: None,
                security: target.security.clone(),
                ws: Some(Arc::new(WsInvocation {
                    thing_id: self.ws_thing_id(),
                    client,
                    key,
                    replies: tokio::sync::Mutex::new(replies),
                    latest: Mutex::new(ActionStatus {
                        id: None,
                        status: ActionState::Running,
                        progress: None,
                        output: None,
                        error: None,
                        href: None,
                        time_requested: None,
                        time_ended: None,
                    }),
                })),
            });
        }
        let body = (!input.is_null()).then_some(&input);
        let response = self.send(target, body).await?;
        self.handle_from_response(name, target, &response)
    }

    fn handle_from_response(
        &self,
        name: &str,
        target: &Target,
        response: &HttpResponse,
    ) -> Result<ActionHandle, ThingError> {
        if response.status == 201 {
            let status: Option<ActionStatus> = decode(response, target.codec)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok());
            let location = response
                .location
                .clone()
                .or_else(|| status.as_ref().and_then(|s| s.href.clone()))
                .ok_or_else(|| ThingError::Remote {
                    status: 201,
                    title: "asynchronous action without a Location".into(),
                    detail: None,
                    problem: None,
                })?;
            let url = target.url.join(&location).map_err(|e| ThingError::Remote {
                status: 201,
                title: format!("bad Location {location:?}: {e}"),
                detail: None,
                problem: None,
            })?;
            return Ok(ActionHandle {
                consumed: self.clone(),
                action: name.to_owned(),
                codec: target.codec,
                accept: target.accept.clone(),
                status_url: Some(url),
                output: None,
                ws: None,
                security: target.security.clone(),
            });
        }
        let output = decode(response, target.codec)?;
        self.check_action_output(name, &output)?;
        Ok(ActionHandle {
            consumed: self.clone(),
            action: name.to_owned(),
            codec: target.codec,
            accept: target.accept.clone(),
            status_url: None,
            output: Some(output),
            ws: None,
            security: target.security.clone(),
        })
    }

    /// `invokeaction`, waiting for the output (polling the status resource of an asynchronous
    /// action).
    pub async fn invoke_action(&self, name: &str, input: Value) -> Result<Value, ThingError> {
        self.start_action(name, input).await?.output().await
    }

    /// [`invoke_action`](Self::invoke_action) with per-call options (`uriVariables`).
    pub async fn invoke_action_with(
        &self,
        name: &str,
        input: Value,
        options: &InteractionOptions,
    ) -> Result<Value, ThingError> {
        let target = self.action_target(name, &input, options)?;
        if !target.ws {
            return self
                .start_action_at(&target, name, input)
                .await?
                .output()
                .await;
        }
        // Over WebSocket the replies are read here: no handle to keep for later queries.
        let mut replies = self.ws_invoke(&target, name, input).await?;
        while let Some(reply) = replies.next().await {
            match self.ws_update(name, reply) {
                Some(Ok(ActionUpdate::Output(output))) => return Ok(output),
                Some(Err(error)) => return Err(error),
                Some(Ok(ActionUpdate::Progress(_))) | None => {}
            }
        }
        Err(ThingError::Transport(
            "the invocation ended without a result".into(),
        ))
    }

    /// `invokeaction` as a stream of updates: progress values as the thing reports them (SSE
    /// when the server offers it, else by polling), then the output.
    pub async fn invoke_action_stream(
        &self,
        name: &str,
        input: Value,
    ) -> Result<ActionUpdates, ThingError> {
        self.invoke_action_stream_with(name, input, &InteractionOptions::default())
            .await
    }

    /// [`invoke_action_stream`](Self::invoke_action_stream) with per-call options
    /// (`uriVariables`).
    pub async fn invoke_action_stream_with(
        &self,
        name: &str,
        input: Value,
        options: &InteractionOptions,
    ) -> Result<ActionUpdates, ThingError> {
        let target = self.action_target(name, &input, options)?;
        if target.ws {
            let replies = self.ws_invoke(&target, name, input).await?;
            let this = self.clone();
            let name = name.to_owned();
            return Ok(Box::pin(async_stream::stream! {
                let mut replies = replies;
                while let Some(reply) = replies.next().await {
                    let update = this.ws_update(&name, reply);
                    let last = !matches!(update, Some(Ok(ActionUpdate::Progress(_))));
                    if let Some(update) = update {
                        yield update;
                    }
                    if last {
                        return;
                    }
                }
                yield Err(ThingError::Transport("the update stream ended before the output".into()));
            }));
        }
        let mut request = HttpRequest::new(&target.method, target.url.clone());
        request.accept = Some(if target.codec == Codec::Json {
            format!("{EVENT_STREAM}, {}", target.accept)
        } else {
            target.accept.clone()
        });
        if !input.is_null() {
            request.content_type = Some(target.content_type.clone());
            request.body = Some(target.codec.encode(&input)?);
        }
        let request = self.authorized(request, target.security.as_ref()).await?;
        let response = self.inner.client.open(request).await?;
        let is_stream = response
            .content_type
            .as_deref()
            .is_some_and(|ct| essence(ct) == EVENT_STREAM);
        if is_success(response.status) && is_stream {
            return Ok(self.updates_from_sse(name, response.body));
        }
        let response = response.collect().await?;
        let handle = self.handle_from_response(name, &target, &response)?;
        Ok(handle.updates())
    }

    fn updates_from_sse(
        &self,
        name: &str,
        body: crate::thing::BoxStream<Result<bytes::Bytes, crate::binding::http::HttpError>>,
    ) -> ActionUpdates {
        let this = self.clone();
        let name = name.to_owned();
        Box::pin(async_stream::stream! {
            let mut events = sse_events(body);
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(error) => {
                        yield Err(ThingError::from(error));
                        return;
                    }
                };
                let value = match serde_json::from_str::<Value>(&event.data) {
                    Ok(value) => value,
                    Err(e) => {
                        yield Err(ThingError::Codec(crate::codec::CodecError::Json(e.to_string())));
                        return;
                    }
                };
                match event.event.as_deref() {
                    Some("output") => {
                        yield this.check_action_output(&name, &value).map(|()| ActionUpdate::Output(value));
                        return;
                    }
                    Some("error") => {
                        let title = value.get("title").and_then(Value::as_str).unwrap_or("the action failed").to_owned();
                        yield Err(ThingError::ActionFailed { title, problem: Some(Box::new(value)) });
                        return;
                    }
                    Some("cancelled") => {
                        yield Err(ThingError::ActionCancelled);
                        return;
                    }
                    _ => yield Ok(ActionUpdate::Progress(value)),
                }
            }
            yield Err(ThingError::Transport("the update stream ended before the output".into()));
        })
    }

    // ----- WebSocket ---------------------------------------------------------------------------

    async fn ws_client(&self, target: &Target) -> Result<WsClient, ThingError> {
        // Forms with their own security get connections of their own.
        let key = match &target.security {
            Some(security) => format!("{} {:?}", target.url, security.as_slice()),
            None => target.url.to_string(),
        };
        if let Some(client) = lock(&self.inner.ws_clients).get(&key) {
            return Ok(client.clone());
        }
        // Credentials go with the handshake: query parameters into the URL, the rest as headers.
        let mut url = target.url.clone();
        let mut headers = Vec::new();
        if let Some(store) = &self.inner.options.credentials {
            let auth = crate::security::authorize(
                Some(store),
                &self.inner.thing,
                target.security.as_ref(),
                &target.url,
            )
            .await?;
            auth.apply_to_url(&mut url);
            headers = auth.all_headers();
        }
        // Each reconnection authorizes again: a DID-auth token is good for one handshake.
        let renew_headers = self.inner.options.credentials.clone().map(|store| {
            let thing = self.inner.thing.clone();
            let security = target.security.clone();
            let url = target.url.clone();
            ws::client::HeaderSource(Arc::new(move || {
                let (store, thing, security, url) =
                    (store.clone(), thing.clone(), security.clone(), url.clone());
                Box::pin(async move {
                    crate::security::authorize(Some(&store), &thing, security.as_ref(), &url)
                        .await
                        .map(|auth| ws::client::HandshakeHeaders(auth.all_headers()))
                        .map_err(|e| ws::WsError::Transport(e.to_string()))
                })
            }))
        });
        let options = WsClientOptions {
            dialect: self.inner.options.dialect,
            timeout: self.inner.options.timeout,
            max_message_bytes: self.inner.options.max_response_bytes,
            headers: ws::client::HandshakeHeaders(headers),
            tls: self.inner.ws_tls.clone(),
            renew_headers,
            ..WsClientOptions::default()
        };
        let client = WsClient::connect(url.as_str(), options).await?;
        lock(&self.inner.ws_clients).insert(key, client.clone());
        Ok(client)
    }

    /// The `thingID` of this thing's messages: its `id`, else the URL of its description.
    fn ws_thing_id(&self) -> String {
        ws::thing_id_for(
            &self.inner.thing,
            self.inner.document_url.as_ref().map(Url::as_str),
        )
    }

    async fn ws_request(&self, target: &Target, body: Body) -> Result<Message, ThingError> {
        let client = self.ws_client(target).await?;
        let message = Message::new(Some(self.ws_thing_id()), body);
        Ok(client.request(message).await?)
    }

    async fn ws_invoke(
        &self,
        target: &Target,
        name: &str,
        input: Value,
    ) -> Result<WsReplies, ThingError> {
        let client = self.ws_client(target).await?;
        let body = Body::InvokeAction {
            action: name.to_owned(),
            input: (!input.is_null()).then_some(input),
        };
        let message = Message::new(Some(self.ws_thing_id()), body);
        Ok(client.invoke(message)?.1)
    }

    /// What one reply to an invocation means for its caller (`None`: nothing to report).
    fn ws_update(
        &self,
        name: &str,
        reply: Result<Message, ws::WsError>,
    ) -> Option<Result<ActionUpdate, ThingError>> {
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => return Some(Err(error.into())),
        };
        match reply.body {
            Body::ActionStatus {
                status: StatusValue::Pending,
                output,
                ..
            } => output.map(|value| Ok(ActionUpdate::Progress(value))),
            Body::ActionStatus {
                status: StatusValue::Completed,
                output,
                ..
            } => {
                let output = output.unwrap_or(Value::Null);
                Some(
                    self.check_action_output(name, &output)
                        .map(|()| ActionUpdate::Output(output)),
                )
            }
            Body::ActionStatus {
                status: StatusValue::Cancelled,
                ..
            } => Some(Err(ThingError::ActionCancelled)),
            Body::ActionStatus {
                status: StatusValue::Failed,
                error,
                ..
            } => Some(Err(ThingError::ActionFailed {
                title: error
                    .as_ref()
                    .and_then(|e| e.get("title"))
                    .and_then(Value::as_str)
                    .unwrap_or("the action failed")
                    .to_owned(),
                problem: error.map(Box::new),
            })),
            Body::Error(problem) => Some(Err(ws::WsError::Remote(Box::new(problem)).into())),
            _ => Some(Err(unexpected(&reply))),
        }
    }

    // ----- observation and events -------------------------------------------------------------

    /// `observeproperty`: the values of property `name` as they change, over SSE or long-poll
    /// (by the form and the options' preference). Dropping the stream unobserves.
    pub async fn observe_property(&self, name: &str) -> Result<ValueStream, ThingError> {
        self.observe_property_with(name, &InteractionOptions::default())
            .await
    }

    /// [`observe_property`](Self::observe_property) with per-call options (`uriVariables`).
    pub async fn observe_property_with(
        &self,
        name: &str,
        options: &InteractionOptions,
    ) -> Result<ValueStream, ThingError> {
        let target = self.property_target(name, "observeproperty", options)?;
        if target.ws {
            let subscription = self
                .ws_client(&target)
                .await?
                .subscribe(&self.ws_thing_id(), WsTopic::Property(name.to_owned()))
                .await?;
            let this = self.clone();
            let name = name.to_owned();
            return Ok(Box::pin(subscription.map(move |reply| {
                let reply = reply?;
                let Body::PropertyReading { value, .. } = reply.body else {
                    return Err(unexpected(&reply));
                };
                this.check_property(&name, &value, true)?;
                Ok(value)
            })));
        }
        let this = self.clone();
        let name = name.to_owned();
        self.open_values(target, move |value| this.check_property(&name, value, true))
            .await
    }

    /// `subscribeevent`: the data of each event `name` emitted from now on, over SSE or long-poll.
    /// Dropping the stream unsubscribes.
    pub async fn subscribe_event(&self, name: &str) -> Result<ValueStream, ThingError> {
        self.subscribe_event_with(name, &InteractionOptions::default())
            .await
    }

    /// [`subscribe_event`](Self::subscribe_event) with per-call options (`uriVariables`).
    pub async fn subscribe_event_with(
        &self,
        name: &str,
        options: &InteractionOptions,
    ) -> Result<ValueStream, ThingError> {
        let event = self
            .inner
            .thing
            .events
            .get(name)
            .ok_or_else(|| ThingError::not_found("event", name))?;
        self.check_uri_variables(
            &format!("event {name}"),
            event.uri_variables.as_ref(),
            options,
        )?;
        let target = self.select(
            &event.forms,
            AffordanceKind::Event,
            None,
            "subscribeevent",
            name,
            &options.uri_variables,
        )?;
        let this = self.clone();
        let key = format!("data of event {name}");
        let schema = event.data.clone();
        if target.ws {
            let subscription = self
                .ws_client(&target)
                .await?
                .subscribe(&self.ws_thing_id(), WsTopic::Event(name.to_owned()))
                .await?;
            return Ok(Box::pin(subscription.map(move |reply| {
                let reply = reply?;
                let Body::Event { data, .. } = reply.body else {
                    return Err(unexpected(&reply));
                };
                this.check(&key, schema.as_ref(), &data, true)?;
                Ok(data)
            })));
        }
        self.open_values(target, move |value| {
            this.check(&key, schema.as_ref(), value, true)
        })
        .await
    }

    async fn open_values<F>(&self, target: Target, check: F) -> Result<ValueStream, ThingError>
    where
        F: Fn(&Value) -> Result<(), ThingError> + Send + Sync + 'static,
    {
        match target.subprotocol {
            Some(Subprotocol::Sse) => {
                let mut request = HttpRequest::new(&target.method, target.url.clone());
                request.accept = Some(EVENT_STREAM.to_owned());
                let request = self.authorized(request, target.security.as_ref()).await?;
                let response = self.inner.client.open(request).await?;
                if !is_success(response.status) {
                    return Err(remote_error(&response.collect().await?));
                }
                let codec = target.codec;
                Ok(Box::pin(sse_events(response.body).map(move |event| {
                    let event = event?;
                    let value = codec.decode(event.data.as_bytes())?;
                    check(&value)?;
                    Ok(value)
                })))
            }
            _ => {
                let client = self.inner.client.clone();
                let this = self.clone();
                let prefer = || ("prefer".to_owned(), SUBSCRIBED_PREFERENCE.to_owned());
                // The handshake node-wot makes too, asking whether the server sends a poll's
                // headers once it listens (`Prefer: lmos-subscribed`, answered with
                // `Preference-Applied`). If it does, the first poll is open before this returns
                // and no value emitted after the call is lost. Other servers give no such signal
                // (a failing handshake is not an error: the polls say what is wrong).
                let mut handshake = HttpRequest::new("HEAD", target.url.clone());
                handshake.headers.push(prefer());
                let handshake = self.authorized(handshake, target.security.as_ref()).await?;
                let subscribed = match client.send(handshake).await {
                    Ok(response) => {
                        is_success(response.status)
                            && response.preference_applied.as_deref().is_some_and(|v| {
                                v.split(',').any(|p| p.trim() == SUBSCRIBED_PREFERENCE)
                            })
                    }
                    Err(_) => false,
                };
                let poll = move |target: &Target| {
                    let mut request = HttpRequest::new(&target.method, target.url.clone());
                    request.accept = Some(target.accept.clone());
                    if subscribed {
                        request.headers.push(prefer());
                    }
                    request
                };
                let first = if subscribed {
                    let request = self
                        .authorized(poll(&target), target.security.as_ref())
                        .await?;
                    Some(client.open(request).await)
                } else {
                    None
                };
                Ok(Box::pin(async_stream::stream! {
                    let mut first = first;
                    loop {
                        // Long-poll requests wait as long as the server holds them.
                        let opened = match first.take() {
                            Some(opened) => opened,
                            None => match this.authorized(poll(&target), target.security.as_ref()).await {
                                Ok(request) => client.open(request).await,
                                Err(error) => {
                                    yield Err(error);
                                    return;
                                }
                            },
                        };
                        let response = match opened {
                            Ok(response) => response.collect().await,
                            Err(error) => Err(error),
                        };
                        let response = match response {
                            Ok(response) => response,
                            Err(error) => {
                                yield Err(ThingError::from(error));
                                return;
                            }
                        };
                        // 204, or an empty body after early headers: the poll timed out.
                        if response.status == 204
                            || (subscribed
                                && is_success(response.status)
                                && response.body.is_empty())
                        {
                            continue;
                        }
                        let value = decode(&response, target.codec);
                        let failed = value.is_err();
                        yield value.and_then(|value| check(&value).map(|()| value));
                        if failed {
                            return;
                        }
                    }
                }))
            }
        }
    }
}

/// The result of `invokeaction`: the output of a synchronous action, or the action-status
/// resource of an asynchronous one (`queryaction`, `cancelaction`).
#[derive(Debug, Clone)]
pub struct ActionHandle {
    consumed: ConsumedThing,
    action: String,
    codec: Codec,
    accept: String,
    status_url: Option<Url>,
    output: Option<Value>,
    ws: Option<Arc<WsInvocation>>,
    /// The security of the form the action was invoked through (for the status resource).
    security: Option<OneOrMany<String>>,
}

/// An invocation over WebSocket: its replies and the latest status they reported.
struct WsInvocation {
    thing_id: String,
    client: WsClient,
    key: String,
    replies: tokio::sync::Mutex<WsReplies>,
    latest: Mutex<ActionStatus>,
}

impl std::fmt::Debug for WsInvocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsInvocation")
            .field("thing_id", &self.thing_id)
            .finish_non_exhaustive()
    }
}

fn unexpected(reply: &Message) -> ThingError {
    ThingError::from(ws::WsError::UnexpectedReply(
        reply.body.message_type().to_owned(),
    ))
}

impl WsInvocation {
    /// Records what a reply says about the invocation's status.
    fn note(&self, update: &Result<ActionUpdate, ThingError>) {
        let mut latest = lock(&self.latest);
        match update {
            Ok(ActionUpdate::Progress(value)) => latest.progress = Some(value.clone()),
            Ok(ActionUpdate::Output(value)) => {
                latest.status = ActionState::Completed;
                latest.output = Some(value.clone());
            }
            Err(ThingError::ActionCancelled) => latest.status = ActionState::Cancelled,
            Err(ThingError::ActionFailed { problem, .. }) => {
                latest.status = ActionState::Failed;
                latest.error = problem.as_deref().cloned();
            }
            Err(_) => latest.status = ActionState::Failed,
        }
    }

    /// The next update from the replies (`None` when they ended).
    async fn next(
        &self,
        consumed: &ConsumedThing,
        action: &str,
    ) -> Option<Result<ActionUpdate, ThingError>> {
        let mut replies = self.replies.lock().await;
        loop {
            let reply = replies.next().await?;
            if let Some(update) = consumed.ws_update(action, reply) {
                self.note(&update);
                return Some(update);
            }
        }
    }

    fn final_result(&self) -> Option<Result<Value, ThingError>> {
        let latest = lock(&self.latest);
        match latest.status {
            ActionState::Completed => Some(Ok(latest.output.clone().unwrap_or(Value::Null))),
            ActionState::Cancelled => Some(Err(ThingError::ActionCancelled)),
            ActionState::Failed => Some(Err(ThingError::ActionFailed {
                title: latest
                    .error
                    .as_ref()
                    .and_then(|e| e.get("title"))
                    .and_then(Value::as_str)
                    .unwrap_or("the action failed")
                    .to_owned(),
                problem: latest.error.clone().map(Box::new),
            })),
            _ => None,
        }
    }
}

impl ActionHandle {
    /// The action's name.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// Whether the action runs asynchronously (the server answered 201 with a status resource).
    pub fn is_async(&self) -> bool {
        self.status_url.is_some() || self.ws.is_some()
    }

    /// The URL of the action-status resource, for asynchronous actions.
    pub fn status_url(&self) -> Option<&str> {
        self.status_url.as_ref().map(Url::as_str)
    }

    /// `queryaction`: the current status (a synchronous action is always completed).
    pub async fn query(&self) -> Result<ActionStatus, ThingError> {
        if let Some(invocation) = &self.ws {
            // Over WebSocket the thing pushes every status; take in those already received.
            if let Ok(mut replies) = invocation.replies.try_lock() {
                while let Some(Some(reply)) = futures::FutureExt::now_or_never(replies.next()) {
                    if let Some(update) = self.consumed.ws_update(&self.action, reply) {
                        invocation.note(&update);
                    }
                }
            }
            return Ok(lock(&invocation.latest).clone());
        }
        let Some(url) = &self.status_url else {
            return Ok(ActionStatus {
                id: None,
                status: ActionState::Completed,
                progress: None,
                output: self.output.clone(),
                error: None,
                href: None,
                time_requested: None,
                time_ended: None,
            });
        };
        let mut request = HttpRequest::new("GET", url.clone());
        request.accept = Some(self.accept.clone());
        let request = self
            .consumed
            .authorized(request, self.security.as_ref())
            .await?;
        let response = self.consumed.inner.client.send(request).await?;
        let value = decode(&response, self.codec)?;
        serde_json::from_value(value).map_err(|e| ThingError::Remote {
            status: response.status,
            title: format!("not an action status: {e}"),
            detail: None,
            problem: None,
        })
    }

    /// `cancelaction` (`DELETE` on the status resource). A synchronous action has already
    /// finished: [`ThingError::ActionFinished`].
    pub async fn cancel(&self) -> Result<(), ThingError> {
        if let Some(invocation) = &self.ws {
            if invocation.final_result().is_some() {
                return Err(ThingError::ActionFinished);
            }
            invocation
                .client
                .cancel(&invocation.thing_id, &self.action, &invocation.key)?;
            // The outcome arrives on the invocation's own replies (which another task may be
            // reading through `updates`; then its reading records the outcome).
            loop {
                if let Some(result) = invocation.final_result() {
                    return match result {
                        Err(ThingError::ActionCancelled) => Ok(()),
                        _ => Err(ThingError::ActionFinished),
                    };
                }
                match invocation.next(&self.consumed, &self.action).await {
                    Some(Err(error))
                        if !matches!(
                            error,
                            ThingError::ActionCancelled | ThingError::ActionFailed { .. }
                        ) =>
                    {
                        return Err(error)
                    }
                    Some(_) => continue,
                    None => {
                        if invocation.final_result().is_none() {
                            return Err(ThingError::Closed);
                        }
                    }
                }
            }
        }
        let Some(url) = &self.status_url else {
            return Err(ThingError::ActionFinished);
        };
        let request = self
            .consumed
            .authorized(
                HttpRequest::new("DELETE", url.clone()),
                self.security.as_ref(),
            )
            .await?;
        let response = self.consumed.inner.client.send(request).await?;
        if response.status == 409 {
            return Err(ThingError::ActionFinished);
        }
        decode(&response, self.codec).map(|_| ())
    }

    fn final_output(&self, status: ActionStatus) -> Result<Value, ThingError> {
        match status.status {
            ActionState::Completed => {
                let output = status.output.unwrap_or(Value::Null);
                self.consumed.check_action_output(&self.action, &output)?;
                Ok(output)
            }
            ActionState::Cancelled => Err(ThingError::ActionCancelled),
            _ => Err(ThingError::ActionFailed {
                title: status
                    .error
                    .as_ref()
                    .and_then(|e| e.get("title"))
                    .and_then(Value::as_str)
                    .unwrap_or("the action failed")
                    .to_owned(),
                problem: status.error.map(Box::new),
            }),
        }
    }

    /// Waits for the output, polling the status resource of an asynchronous action.
    pub async fn output(self) -> Result<Value, ThingError> {
        if let Some(output) = self.output.clone() {
            return Ok(output);
        }
        if let Some(invocation) = &self.ws {
            loop {
                if let Some(result) = invocation.final_result() {
                    return result;
                }
                match invocation.next(&self.consumed, &self.action).await {
                    Some(Ok(ActionUpdate::Progress(_))) => continue,
                    Some(update) => {
                        return update.map(|u| match u {
                            ActionUpdate::Output(v) | ActionUpdate::Progress(v) => v,
                        })
                    }
                    None => {
                        return Err(ThingError::Transport(
                            "the invocation ended without a result".into(),
                        ))
                    }
                }
            }
        }
        loop {
            let status = self.query().await?;
            if status.status.is_final() {
                return self.final_output(status);
            }
            tokio::time::sleep(self.consumed.inner.options.poll_interval).await;
        }
    }

    /// The updates from now on: progress values, then the output. Uses SSE on the status
    /// resource when the server offers it, else polls (and then reports each new progress value
    /// it sees).
    pub fn updates(self) -> ActionUpdates {
        if let Some(output) = self.output.clone() {
            return Box::pin(futures::stream::iter([Ok(ActionUpdate::Output(output))]));
        }
        if let Some(invocation) = self.ws.clone() {
            return Box::pin(async_stream::stream! {
                if let Some(result) = invocation.final_result() {
                    yield result.map(ActionUpdate::Output);
                    return;
                }
                while let Some(update) = invocation.next(&self.consumed, &self.action).await {
                    let last = !matches!(update, Ok(ActionUpdate::Progress(_)));
                    yield update;
                    if last {
                        return;
                    }
                }
            });
        }
        Box::pin(async_stream::stream! {
            let Some(url) = self.status_url.clone() else { return };
            let mut request = HttpRequest::new("GET", url);
            request.accept = Some(format!("{EVENT_STREAM}, {}", self.accept));
            let request = match self.consumed.authorized(request, self.security.as_ref()).await {
                Ok(request) => request,
                Err(error) => {
                    yield Err(error);
                    return;
                }
            };
            let response = match self.consumed.inner.client.open(request).await {
                Ok(response) => response,
                Err(error) => {
                    yield Err(ThingError::from(error));
                    return;
                }
            };
            let is_stream = response.content_type.as_deref().is_some_and(|ct| essence(ct) == EVENT_STREAM);
            if is_success(response.status) && is_stream {
                let mut updates = self.consumed.updates_from_sse(&self.action, response.body);
                while let Some(update) = updates.next().await {
                    yield update;
                }
                return;
            }
            drop(response);
            let mut last_progress: Option<Value> = None;
            loop {
                let status = match self.query().await {
                    Ok(status) => status,
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                };
                if let Some(progress) = status.progress.clone() {
                    if last_progress.as_ref() != Some(&progress) {
                        last_progress = Some(progress.clone());
                        yield Ok(ActionUpdate::Progress(progress));
                    }
                }
                if status.status.is_final() {
                    yield self.final_output(status).map(ActionUpdate::Output);
                    return;
                }
                tokio::time::sleep(self.consumed.inner.options.poll_interval).await;
            }
        })
    }
}
