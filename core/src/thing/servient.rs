//! [`Servient`]: hosts exposed things on an HTTP port, or hands out their routes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::oneshot;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use super::exposed::{ExposedSettings, ExposedThing};
use super::{lock, read_lock, write_lock, ThingError};
use crate::binding::http::{forms, server, HttpSettings};
use crate::binding::ws::{self, WsSettings};
use crate::security::{ThingGuard, TlsOptions, TlsServerConfig, Verifier, VerifierOptions};
use crate::td::Thing;

/// Addresses a started servient listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BoundAddresses {
    /// The HTTP listener.
    pub http: Option<SocketAddr>,
    /// Where WebSocket upgrades are accepted: the separate WebSocket listener when one is
    /// configured ([`ServientBuilder::ws_port`]), else the HTTP listener.
    pub ws: Option<SocketAddr>,
}

/// Servient settings as the language bindings receive them: a JSON object whose members are
/// all optional and camelCase (`httpPort`, `host`, `publicBaseUrl`, `maxBodyBytes`,
/// `longPollTimeoutMs`, `actionRetentionMs`, `cancelGraceMs`, `wsPort`, `websocket`,
/// `wsMaxMessageBytes`, `wsQueueCapacity`, `wsMaxInFlight`, `wsPingIntervalMs`,
/// `wsPingTimeoutMs`, `security`, `tls`); unknown members are refused.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServientOptions {
    /// See [`ServientBuilder::http_port`].
    pub http_port: Option<u16>,
    /// An IP address; see [`ServientBuilder::http_host`].
    pub host: Option<String>,
    /// See [`ServientBuilder::public_base_url`].
    pub public_base_url: Option<String>,
    /// See [`ServientBuilder::max_body_bytes`].
    pub max_body_bytes: Option<usize>,
    /// See [`ServientBuilder::long_poll_timeout`].
    pub long_poll_timeout_ms: Option<u64>,
    /// See [`ServientBuilder::action_retention`].
    pub action_retention_ms: Option<u64>,
    /// See [`ServientBuilder::cancel_grace`].
    pub cancel_grace_ms: Option<u64>,
    /// See [`ServientBuilder::ws_port`].
    pub ws_port: Option<u16>,
    /// See [`ServientBuilder::websocket`].
    pub websocket: Option<bool>,
    /// See [`ServientBuilder::ws_max_message_bytes`].
    pub ws_max_message_bytes: Option<usize>,
    /// See [`ServientBuilder::ws_queue_capacity`].
    pub ws_queue_capacity: Option<usize>,
    /// See [`ServientBuilder::ws_max_in_flight`].
    pub ws_max_in_flight: Option<usize>,
    /// Ping interval of [`ServientBuilder::ws_ping`] (default 30 s when only the timeout is set).
    pub ws_ping_interval_ms: Option<u64>,
    /// Pong timeout of [`ServientBuilder::ws_ping`] (default 30 s when only the interval is set).
    pub ws_ping_timeout_ms: Option<u64>,
    /// What the verifier accepts; see [`VerifierOptions`] and [`ServientBuilder::verifier`].
    pub security: Option<VerifierOptions>,
    /// Serve `https`/`wss`; see [`TlsOptions`] and [`ServientBuilder::tls`].
    pub tls: Option<TlsOptions>,
}

impl ServientOptions {
    /// Reads the settings from JSON; the error names the member, never the value found there
    /// (a `security` or `tls` member may hold secrets).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, ThingError> {
        crate::security::options::from_value(value)
            .map_err(|e| ThingError::InvalidConfig(format!("servient options: {e}")))
    }

    /// A builder with these settings; `InvalidConfig` when `host` is not an IP address.
    pub fn builder(self) -> Result<ServientBuilder, ThingError> {
        let mut builder = ServientBuilder::default();
        if let Some(port) = self.http_port {
            builder = builder.http_port(port);
        }
        if let Some(host) = self.host {
            let address: IpAddr = host.parse().map_err(|e| {
                ThingError::InvalidConfig(format!("host {host:?} is not an IP address: {e}"))
            })?;
            builder = builder.http_host(address);
        }
        if let Some(url) = self.public_base_url {
            builder = builder.public_base_url(url);
        }
        if let Some(bytes) = self.max_body_bytes {
            builder = builder.max_body_bytes(bytes);
        }
        if let Some(ms) = self.long_poll_timeout_ms {
            builder = builder.long_poll_timeout(Duration::from_millis(ms));
        }
        if let Some(ms) = self.action_retention_ms {
            builder = builder.action_retention(Duration::from_millis(ms));
        }
        if let Some(ms) = self.cancel_grace_ms {
            builder = builder.cancel_grace(Duration::from_millis(ms));
        }
        if let Some(port) = self.ws_port {
            builder = builder.ws_port(port);
        }
        if let Some(enabled) = self.websocket {
            builder = builder.websocket(enabled);
        }
        if let Some(bytes) = self.ws_max_message_bytes {
            builder = builder.ws_max_message_bytes(bytes);
        }
        if let Some(messages) = self.ws_queue_capacity {
            builder = builder.ws_queue_capacity(messages);
        }
        if let Some(requests) = self.ws_max_in_flight {
            builder = builder.ws_max_in_flight(requests);
        }
        if self.ws_ping_interval_ms.is_some() || self.ws_ping_timeout_ms.is_some() {
            let interval = Duration::from_millis(self.ws_ping_interval_ms.unwrap_or(30_000));
            let timeout = Duration::from_millis(self.ws_ping_timeout_ms.unwrap_or(30_000));
            builder = builder.ws_ping(interval, timeout);
        }
        if let Some(security) = self.security {
            builder = builder.verifier(security.build()?);
        }
        if let Some(tls) = self.tls {
            builder = builder.tls(tls.build()?);
        }
        Ok(builder)
    }
}

/// Configures a [`Servient`].
#[derive(Debug, Clone)]
pub struct ServientBuilder {
    http_host: IpAddr,
    http_port: u16,
    public_base_url: Option<String>,
    http: HttpSettings,
    exposed: ExposedSettings,
    ws_port: Option<u16>,
    ws: WsSettings,
    websocket: bool,
    td_signer: Option<Arc<crate::identity::Ed25519KeyPair>>,
    verifier: Verifier,
    tls: Option<TlsServerConfig>,
}

impl Default for ServientBuilder {
    fn default() -> Self {
        ServientBuilder {
            http_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 8080,
            public_base_url: None,
            http: HttpSettings::default(),
            exposed: ExposedSettings::default(),
            ws_port: None,
            ws: WsSettings::default(),
            websocket: true,
            td_signer: None,
            verifier: Verifier::default(),
            tls: None,
        }
    }
}

impl ServientBuilder {
    /// The HTTP port (default 8080; 0 picks a free port, readable after [`Servient::start`]).
    pub fn http_port(mut self, port: u16) -> Self {
        self.http_port = port;
        self
    }

    /// The address to listen on (default `127.0.0.1`).
    pub fn http_host(mut self, host: IpAddr) -> Self {
        self.http_host = host;
        self
    }

    /// The URL under which clients reach the server root (behind a proxy, or when the routes are
    /// mounted under a prefix); form hrefs are made from it instead of the bound address.
    pub fn public_base_url(mut self, url: impl Into<String>) -> Self {
        self.public_base_url = Some(url.into());
        self
    }

    /// Largest accepted request body in bytes (default 1 MiB); larger ones get 413.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.http.max_body_bytes = bytes;
        self
    }

    /// How long a long-poll request waits for a value before answering 204 (default 30 min).
    pub fn long_poll_timeout(mut self, timeout: Duration) -> Self {
        self.http.long_poll_timeout = timeout;
        self
    }

    /// How long a finished asynchronous action stays queryable (default 5 min).
    pub fn action_retention(mut self, retention: Duration) -> Self {
        self.exposed.action_retention = retention;
        self
    }

    /// How long a cancelled action handler may run on to clean up (default 10 s).
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.exposed.cancel_grace = grace;
        self
    }

    /// Receives the errors callers only see as "internal error" (a failed handler, an output
    /// that breaks its schema) instead of standard error, e.g. to log them.
    pub fn on_internal_error(mut self, hook: super::exposed::InternalErrorHook) -> Self {
        self.exposed.internal_errors = Some(hook);
        self
    }

    /// Also accept WebSocket upgrades on this port (0 = a free port), on the HTTP host; the
    /// WebSocket forms then point at it. Without it the endpoint is only on the HTTP port.
    pub fn ws_port(mut self, port: u16) -> Self {
        self.ws_port = Some(port);
        self
    }

    /// Whether to serve the `lmosprotocol` WebSocket endpoint and add its forms (default on).
    pub fn websocket(mut self, enabled: bool) -> Self {
        self.websocket = enabled;
        self
    }

    /// Largest WebSocket message (and frame) in bytes (default 1 MiB); a larger one closes the
    /// connection with code 1009.
    pub fn ws_max_message_bytes(mut self, bytes: usize) -> Self {
        self.ws.max_message_bytes = bytes.max(64);
        self
    }

    /// Messages waiting to be written per WebSocket connection (default 256). Replies wait for
    /// room; notifications that find the queue full are dropped.
    pub fn ws_queue_capacity(mut self, messages: usize) -> Self {
        self.ws.queue_capacity = messages.max(1);
        self
    }

    /// Requests handled at once per WebSocket connection (default 64); more wait.
    pub fn ws_max_in_flight(mut self, requests: usize) -> Self {
        self.ws.max_in_flight = requests.max(1);
        self
    }

    /// How often an idle WebSocket peer is pinged (default 30 s), and how long after that
    /// without any frame from it the connection is dropped (default 30 s).
    pub fn ws_ping(mut self, interval: Duration, timeout: Duration) -> Self {
        self.ws.ping_interval = interval.max(Duration::from_millis(10));
        self.ws.pong_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// Signs every TD this servient serves with an `eddsa-jcs-2022` Data Integrity proof by
    /// `key` (as the verification method [`key_id`](crate::identity::Ed25519KeyPair::key_id)),
    /// made when the TD is served, so that it covers the hrefs as served.
    pub fn sign_descriptions(mut self, key: crate::identity::Ed25519KeyPair) -> Self {
        self.td_signer = Some(Arc::new(key));
        self
    }

    /// What enforces the security schemes exposed things declare (see [`crate::security`]).
    /// Without it only `nosec` things can be exposed: a thing declaring a scheme the verifier
    /// cannot check is refused by [`Servient::expose`].
    pub fn verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = verifier;
        self
    }

    /// Serve `https` (and `wss`) with this certificate and key instead of plain HTTP.
    pub fn tls(mut self, tls: TlsServerConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Builds the servient (nothing listens until [`Servient::start`]).
    pub fn build(self) -> Result<Servient, ThingError> {
        let public = match &self.public_base_url {
            Some(text) => {
                let mut url = Url::parse(text).map_err(|e| {
                    ThingError::InvalidConfig(format!("public base URL {text:?}: {e}"))
                })?;
                if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
                    return Err(ThingError::InvalidConfig(format!(
                        "public base URL {text:?} is not an http(s) URL"
                    )));
                }
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Some(url)
            }
            None => None,
        };
        Ok(Servient {
            inner: Arc::new(Registry {
                http_host: self.http_host,
                http_port: self.http_port,
                public_base_url: public.clone(),
                http: self.http,
                exposed: self.exposed,
                things: RwLock::new(IndexMap::new()),
                base_url: Arc::new(RwLock::new(public)),
                bound: RwLock::new(None),
                running: Mutex::new(None),
                ws_port: self.ws_port,
                ws: self.ws,
                websocket: self.websocket,
                ws_base: Arc::new(RwLock::new(None)),
                ws_bound: RwLock::new(None),
                ws_shutdown: ws::server::shutdown_signal(),
                closing: watch::Sender::new(false),
                did_document: Default::default(),
                td_signer: Arc::new(RwLock::new(self.td_signer)),
                verifier: self.verifier,
                tls: self.tls,
                guards: RwLock::new(std::collections::HashMap::new()),
                guarded: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
    ws: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// What the HTTP routes need: the hosted things and how to make URLs.
pub(crate) struct Registry {
    http_host: IpAddr,
    http_port: u16,
    pub(crate) public_base_url: Option<Url>,
    pub(crate) http: HttpSettings,
    exposed: ExposedSettings,
    things: RwLock<IndexMap<String, ExposedThing>>,
    /// Public base URL, or the bound address once started.
    base_url: Arc<RwLock<Option<Url>>>,
    bound: RwLock<Option<SocketAddr>>,
    running: Mutex<Option<Running>>,
    ws_port: Option<u16>,
    pub(crate) ws: WsSettings,
    websocket: bool,
    /// `ws://host:port/` of the separate WebSocket listener, once bound.
    ws_base: Arc<RwLock<Option<Url>>>,
    ws_bound: RwLock<Option<SocketAddr>>,
    /// Set to `true` to close every open WebSocket connection.
    pub(crate) ws_shutdown: tokio::sync::watch::Sender<bool>,
    /// `true` while [`Servient::shutdown`] runs: open streams (SSE, long-poll) end on it, so their
    /// connections close instead of outliving the server.
    closing: watch::Sender<bool>,
    /// The DID document served at `/.well-known/did.json`, once set.
    pub(crate) did_document: crate::identity::route::SharedDidDocument,
    /// Signs every TD served, when set.
    pub(crate) td_signer: crate::identity::route::SharedSigner,
    verifier: Verifier,
    tls: Option<TlsServerConfig>,
    /// The guards of protected things, by slug.
    guards: RwLock<std::collections::HashMap<String, Arc<ThingGuard>>>,
    /// Whether any exposed thing is protected (the only cost of security for open things).
    guarded: std::sync::atomic::AtomicBool,
}

impl Registry {
    /// Whether the WebSocket endpoint is served on the HTTP port too (as by [`Servient::router`]).
    pub(crate) fn websocket_on_http_port(&self) -> bool {
        self.websocket
    }

    /// Completes when the servient starts shutting down.
    pub(crate) fn closed(&self) -> crate::thing::BoxFuture<()> {
        let mut closing = self.closing.subscribe();
        Box::pin(async move {
            // An error means the servient is gone, which is a shutdown too.
            let _ = closing.wait_for(|closing| *closing).await;
        })
    }

    /// Whether any exposed thing has a guard.
    pub(crate) fn any_guarded(&self) -> bool {
        self.guarded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The guard of the thing at `slug`, if it is protected.
    pub(crate) fn guard(&self, slug: &str) -> Option<Arc<ThingGuard>> {
        read_lock(&self.guards).get(slug).cloned()
    }

    pub(crate) fn thing(&self, slug: &str) -> Option<ExposedThing> {
        read_lock(&self.things).get(slug).cloned()
    }

    pub(crate) fn things(&self) -> Vec<ExposedThing> {
        read_lock(&self.things).values().cloned().collect()
    }

    /// The thing a WebSocket message's `thingID` names: the TD's `id`, else the URL of its TD
    /// (any host, as consumers reach the server under different names), else its slug.
    pub(crate) fn thing_by_id(&self, id: &str) -> Option<ExposedThing> {
        let things = read_lock(&self.things);
        if let Some(found) = things
            .values()
            .find(|t| t.template().id.as_deref() == Some(id))
        {
            return Some(found.clone());
        }
        if let Some(found) = things.get(id) {
            if found.template().id.is_none() {
                return Some(found.clone());
            }
        }
        // A consumer holding an id-less TD without its URL can only name the thing by its title.
        if let Some(found) = things
            .values()
            .find(|t| t.template().id.is_none() && t.title() == id)
        {
            return Some(found.clone());
        }
        let url = Url::parse(id).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        let segment = url.path_segments()?.next_back()?;
        things
            .values()
            .find(|t| t.template().id.is_none() && forms::encode_segment(t.slug()) == segment)
            .cloned()
    }

    /// The base URL for a request: the configured public one, else the bound address, else the
    /// request's `Host` header.
    pub(crate) fn base_for(&self, host: Option<&str>) -> Url {
        if let Some(url) = read_lock(&self.base_url).clone() {
            return url;
        }
        host.and_then(|h| Url::parse(&format!("http://{h}/")).ok())
            .or_else(|| Url::parse(&format!("http://{}:{}/", self.http_host, self.http_port)).ok())
            .unwrap_or_else(|| Url::parse("http://127.0.0.1/").expect("static URL parses"))
    }
}

/// Hosts exposed things on one HTTP port, or hands out their routes as an axum [`axum::Router`].
///
/// ```no_run
/// # async fn demo() -> Result<(), lmos::thing::ThingError> {
/// use lmos::thing::Servient;
/// use lmos::td::ThingBuilder;
/// let servient = Servient::builder().http_port(0).build()?;
/// let exposed = servient.expose(ThingBuilder::agent("Echo").build())?;
/// let addresses = servient.start().await?;
/// println!("{:?} {:?}", addresses.http, exposed.td_url());
/// servient.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Servient {
    inner: Arc<Registry>,
}

impl std::fmt::Debug for Servient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Servient")
            .field(
                "things",
                &read_lock(&self.inner.things).keys().collect::<Vec<_>>(),
            )
            .field("bound", &*read_lock(&self.inner.bound))
            .finish()
    }
}

/// The URL path segment for a thing: its title (or id) in lower case, with every run of
/// characters other than ASCII letters and digits turned into one `-`.
pub fn slug_for(thing: &Thing) -> String {
    fn slugify(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        out.trim_end_matches('-').to_owned()
    }
    let from_title = slugify(&thing.title);
    if !from_title.is_empty() && from_title != ".well-known" {
        return from_title;
    }
    let from_id = thing.id.as_deref().map(slugify).unwrap_or_default();
    if from_id.is_empty() {
        "thing".to_owned()
    } else {
        from_id
    }
}

impl Servient {
    /// Starts configuring a servient.
    pub fn builder() -> ServientBuilder {
        ServientBuilder::default()
    }

    /// Hosts `thing`: replaces its forms with this servient's HTTP forms and compiles its data
    /// schemas. Things can be exposed before or after [`start`](Self::start).
    pub fn expose(&self, thing: Thing) -> Result<ExposedThing, ThingError> {
        let slug = slug_for(&thing);
        if read_lock(&self.inner.things).contains_key(&slug) {
            return Err(ThingError::DuplicateThing(slug));
        }
        let original = thing;
        let mut thing = original.clone();
        forms::fill_forms(&mut thing, &slug);
        if self.inner.websocket {
            ws::add_forms(&mut thing);
        }
        crate::security::carry_form_security(&original, &mut thing);
        drop(original);
        let guard = ThingGuard::compile(&thing, &self.inner.verifier)?.map(Arc::new);
        let exposed = ExposedThing::new(
            thing,
            slug.clone(),
            self.inner.base_url.clone(),
            self.inner.ws_base.clone(),
            self.inner.exposed.clone(),
        )?;
        let mut things = write_lock(&self.inner.things);
        if things.contains_key(&slug) {
            return Err(ThingError::DuplicateThing(slug));
        }
        if let Some(guard) = guard {
            write_lock(&self.inner.guards).insert(slug.clone(), guard);
            self.inner
                .guarded
                .store(true, std::sync::atomic::Ordering::Release);
        }
        things.insert(slug, exposed.clone());
        Ok(exposed)
    }

    /// Stops hosting the thing at `slug`; returns whether there was one. Directory entries kept
    /// by [`ExposedThing::register`] are deleted in the background.
    pub fn destroy(&self, slug: &str) -> bool {
        let removed = write_lock(&self.inner.things).shift_remove(slug);
        if let Some(thing) = removed.clone() {
            crate::discovery::registration::spawn_deletion(async move {
                thing.deregister_all().await;
            });
        }
        let removed = removed.is_some();
        let mut guards = write_lock(&self.inner.guards);
        guards.remove(slug);
        self.inner
            .guarded
            .store(!guards.is_empty(), std::sync::atomic::Ordering::Release);
        removed
    }

    /// The exposed things.
    pub fn things(&self) -> Vec<ExposedThing> {
        self.inner.things()
    }

    /// The HTTP routes of every exposed thing (present and future), to mount in an existing axum
    /// application. Form hrefs use the public base URL if configured, else the request's `Host`.
    pub fn router(&self) -> axum::Router {
        let http = server::router(self.inner.clone()).merge(
            crate::identity::route::did_document_router(self.inner.did_document.clone(), None),
        );
        let router = if self.inner.websocket {
            http.merge(self.ws_router())
        } else {
            http
        };
        crate::identity::route::sign_thing_descriptions(router, self.inner.td_signer.clone())
    }

    /// Signs every TD served from now on with `key` (see
    /// [`ServientBuilder::sign_descriptions`]); `None` stops signing. For a `did:web` agent
    /// whose DID names the address it is bound to, set the key after [`start`](Self::start).
    pub fn set_description_signer(&self, key: Option<crate::identity::Ed25519KeyPair>) {
        *write_lock(&self.inner.td_signer) = key.map(Arc::new);
    }

    /// Serves `document` at `/.well-known/did.json` (replacing an earlier one), e.g. the
    /// [`DidDocument::for_agent`](crate::identity::DidDocument::for_agent) of a `did:web`
    /// agent, with a `WotThing` service pointing at its TD.
    pub fn serve_did_document(&self, document: crate::identity::DidDocument) {
        *write_lock(&self.inner.did_document) = Some(document);
    }

    pub(crate) fn registry(&self) -> Arc<Registry> {
        self.inner.clone()
    }

    /// Only the WebSocket endpoint ([`ws::WS_PATH`]), to mount in an existing axum application.
    pub fn ws_router(&self) -> axum::Router {
        axum::Router::new()
            .route(ws::WS_PATH, axum::routing::get(ws::server::upgrade))
            .with_state(self.inner.clone())
    }

    /// Binds the HTTP port and serves until [`shutdown`](Self::shutdown).
    pub async fn start(&self) -> Result<BoundAddresses, ThingError> {
        if read_lock(&self.inner.bound).is_some() {
            return Ok(self.addresses());
        }
        let address = SocketAddr::new(self.inner.http_host, self.inner.http_port);
        let listener =
            tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| ThingError::Bind {
                    address: address.to_string(),
                    message: e.to_string(),
                })?;
        let bound = listener.local_addr().map_err(|e| ThingError::Bind {
            address: address.to_string(),
            message: e.to_string(),
        })?;
        if self.inner.public_base_url.is_none() {
            let scheme = if self.inner.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let base = Url::parse(&format!("{scheme}://{bound}/"))
                .map_err(|e| ThingError::InvalidConfig(e.to_string()))?;
            *write_lock(&self.inner.base_url) = Some(base);
        }
        let ws_listener = match (self.inner.websocket, self.inner.ws_port) {
            (true, Some(port)) => {
                let address = SocketAddr::new(self.inner.http_host, port);
                let listener =
                    tokio::net::TcpListener::bind(address)
                        .await
                        .map_err(|e| ThingError::Bind {
                            address: address.to_string(),
                            message: e.to_string(),
                        })?;
                let ws_bound = listener.local_addr().map_err(|e| ThingError::Bind {
                    address: address.to_string(),
                    message: e.to_string(),
                })?;
                Some((listener, ws_bound))
            }
            _ => None,
        };
        *write_lock(&self.inner.bound) = Some(bound);
        self.inner.ws_shutdown.send_replace(false);
        let ws = match ws_listener {
            Some((listener, ws_bound)) => {
                let scheme = if self.inner.tls.is_some() {
                    "wss"
                } else {
                    "ws"
                };
                let base = Url::parse(&format!("{scheme}://{ws_bound}/"))
                    .map_err(|e| ThingError::InvalidConfig(e.to_string()))?;
                *write_lock(&self.inner.ws_base) = Some(base);
                *write_lock(&self.inner.ws_bound) = Some(ws_bound);
                let (stop, on_stop) = oneshot::channel::<()>();
                let app = self.ws_router();
                let tls = self.inner.tls.clone();
                let task = tokio::spawn(async move {
                    if let Some(tls) = tls {
                        crate::security::tls::serve(listener, tls, app, on_stop).await;
                        return;
                    }
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                        let _ = on_stop.await;
                    });
                    if let Err(error) = serve.await {
                        eprintln!("lmos: WebSocket server stopped: {error}");
                    }
                });
                Some((stop, task))
            }
            None => None,
        };
        self.inner.closing.send_replace(false);
        let (shutdown, on_shutdown) = oneshot::channel::<()>();
        // The routes of `router()`, served without an axum `Router` in front (see
        // `server::serve`); over TLS the same service behind the TLS acceptor.
        let tls = self.inner.tls.clone().map(|tls| {
            let app = axum::Router::new()
                .fallback(server::serve)
                .with_state(self.inner.clone());
            (tls, app)
        });
        let app = axum::handler::Handler::with_state(server::serve, self.inner.clone())
            .into_make_service();
        let task = tokio::spawn(async move {
            if let Some((tls, tls_app)) = tls {
                crate::security::tls::serve(listener, tls, tls_app, on_shutdown).await;
                return;
            }
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = on_shutdown.await;
            });
            // A failing accept loop ends the server; there is nobody to report to but the log.
            if let Err(error) = serve.await {
                eprintln!("lmos: HTTP server stopped: {error}");
            }
        });
        *lock(&self.inner.running) = Some(Running { shutdown, task, ws });
        Ok(self.addresses())
    }

    /// The addresses bound by [`start`](Self::start), if started.
    pub fn addresses(&self) -> BoundAddresses {
        let http = *read_lock(&self.inner.bound);
        let ws = if !self.inner.websocket {
            None
        } else if self.inner.ws_port.is_some() {
            *read_lock(&self.inner.ws_bound)
        } else {
            http
        };
        BoundAddresses { http, ws }
    }

    /// The base URL form hrefs are made from, once known.
    pub fn base_url(&self) -> Option<String> {
        read_lock(&self.inner.base_url).as_ref().map(Url::to_string)
    }

    /// Stops the server: directory entries kept by [`ExposedThing::register`] are deleted, no new
    /// connections are accepted, open streams (SSE, long-poll) are closed.
    pub async fn shutdown(&self) {
        // Directory entries go first, while the things still answer.
        for thing in self.things() {
            thing.deregister_all().await;
        }
        let running = lock(&self.inner.running).take();
        // Open WebSocket connections close with 1001 (going away).
        self.inner.ws_shutdown.send_replace(true);
        if let Some(running) = running {
            // Open streams end now, so their connections can finish.
            self.inner.closing.send_replace(true);
            let _ = running.shutdown.send(());
            if let Some((stop, mut task)) = running.ws {
                let _ = stop.send(());
                if tokio::time::timeout(Duration::from_secs(2), &mut task)
                    .await
                    .is_err()
                {
                    task.abort();
                }
            }
            // Give requests in flight a moment, then stop the task.
            let mut task = running.task;
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        *write_lock(&self.inner.bound) = None;
        *write_lock(&self.inner.ws_bound) = None;
        *write_lock(&self.inner.ws_base) = None;
        if self.inner.public_base_url.is_none() {
            *write_lock(&self.inner.base_url) = None;
        }
    }
}

#[cfg(test)]
mod options_tests {
    use super::*;

    #[test]
    fn from_json_names_the_member_and_never_quotes_its_value() {
        let error = ServientOptions::from_json(
            &serde_json::json!({"httpPort": 0, "security": {"apiKeys": "key-that-leaks"}}),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("security.apiKeys"), "{error}");
        assert!(!error.contains("key-that-leaks"), "{error}");
        let options = ServientOptions::from_json(&serde_json::json!({"httpPort": 0})).unwrap();
        assert_eq!(options.http_port, Some(0));
    }

    #[test]
    fn binding_options_configure_a_servient() {
        let options: ServientOptions =
            serde_json::from_str(r#"{"httpPort":0,"host":"127.0.0.1","websocket":false}"#).unwrap();
        let servient = options.builder().unwrap().build().unwrap();
        assert!(!servient.inner.websocket);
        let unknown = serde_json::from_str::<ServientOptions>(r#"{"httpport":0}"#);
        assert!(unknown.is_err(), "unknown members are refused");
        let bad_host = ServientOptions {
            host: Some("localhost:80".into()),
            ..ServientOptions::default()
        };
        match bad_host.builder() {
            Err(ThingError::InvalidConfig(message)) => {
                assert!(message.contains("is not an IP address"), "{message}")
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }
}
