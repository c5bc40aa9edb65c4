//! The client side: one connection per endpoint and dialect, shared by every
//! [`ConsumedThing`](crate::thing::ConsumedThing) (and every clone of a [`WsClient`]) in the
//! process.
//!
//! A background task owns the socket. Requests are matched to replies by correlation (the
//! `correlationID` the client sets in the spec dialect, the `messageId` in the kotlin-wot
//! dialect, whose servers answer with `correlationId` = request `messageId`). When the socket
//! breaks, pending requests fail, and the task reconnects with exponential backoff and sends
//! every observation and subscription again; their streams continue.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Frame;
use url::Url;

use super::messages::{Body, Dialect, Message, Problem, StatusValue, SUBPROTOCOL};
use super::WsError;
use crate::thing::lock;
use crate::trace::{Span, SpanKind};

/// How a [`WsClient`] connects and waits.
#[derive(Debug, Clone)]
pub struct WsClientOptions {
    /// The vocabulary to speak (default: the spec's). The kotlin-wot dialect also offers no
    /// subprotocol in the handshake, as kotlin-wot does.
    pub dialect: Dialect,
    /// Bound on each request's reply and on the handshake (default 30 s; `None` = no bound).
    pub timeout: Option<Duration>,
    /// First pause before reconnecting (default 100 ms); doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest pause between reconnection attempts (default 5 s).
    pub max_backoff: Duration,
    /// Largest message accepted from the server (default 16 MiB).
    pub max_message_bytes: usize,
    /// How often the client pings the server (default 30 s); a connection from which nothing
    /// has arrived for two intervals counts as dead and is replaced.
    pub ping_interval: Duration,
    /// Headers sent with the handshake (credentials: their values never show in `Debug`).
    /// Connections with different headers are not shared.
    pub headers: HandshakeHeaders,
    /// The TLS configuration for `wss://` (default: the platform's roots, see
    /// [`crate::security::client_tls_config`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Makes the handshake headers again before each reconnection (credentials that are good
    /// for one use, such as DID-auth tokens); `None` resends [`headers`](Self::headers).
    pub renew_headers: Option<HeaderSource>,
}

/// The future a [`HeaderSource`] returns.
pub type HeadersFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<HandshakeHeaders, WsError>> + Send>>;

/// Produces fresh handshake headers for each new connection.
#[derive(Clone)]
pub struct HeaderSource(pub Arc<dyn Fn() -> HeadersFuture + Send + Sync>);

impl std::fmt::Debug for HeaderSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeaderSource")
    }
}

/// Extra handshake headers whose values are secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HandshakeHeaders(pub Vec<(String, String)>);

impl std::fmt::Debug for HandshakeHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Default for WsClientOptions {
    fn default() -> Self {
        WsClientOptions {
            dialect: Dialect::Spec,
            timeout: Some(Duration::from_secs(30)),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_message_bytes: 16 * 1024 * 1024,
            ping_interval: Duration::from_secs(30),
            headers: HandshakeHeaders::default(),
            tls: None,
            renew_headers: None,
        }
    }
}

/// What an observation or subscription listens to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WsTopic {
    /// `observeProperty` of this property.
    Property(String),
    /// `subscribeEvent` of this event.
    Event(String),
    /// `subscribeAllEvents`.
    AllEvents,
}

type Delivery = Result<Message, WsError>;

enum Route {
    /// One reply completes the request.
    Once(oneshot::Sender<Delivery>),
    /// Statuses of an invocation, until a final one or an error. (A futures channel: it
    /// allocates per message instead of a block of slots up front, and most invocations get one.)
    Stream(futures::channel::mpsc::UnboundedSender<Delivery>),
    /// An observation or subscription (by id).
    Subscription(u64),
}

struct SubscriptionEntry {
    key: String,
    thing_id: String,
    topic: WsTopic,
    traceparent: Option<String>,
    sink: mpsc::UnboundedSender<Delivery>,
    /// Completed by the server's acknowledgement (kotlin-wot), or by a WebSocket pong sent after
    /// the request (the spec dialect has no acknowledgement; the server handles a connection's
    /// messages in order).
    confirm: Option<oneshot::Sender<Result<(), WsError>>>,
    /// The next reply is the acknowledgement (or kotlin-wot's current value) and not a change.
    swallow_first: bool,
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Route>>,
    subscriptions: Mutex<HashMap<u64, SubscriptionEntry>>,
    barriers: Mutex<HashMap<Vec<u8>, oneshot::Sender<()>>>,
    next_id: AtomicU64,
}

/// Queued frames gathered into one write at most.
const WRITE_BATCH: usize = 64;

enum Command {
    Text(String),
    Ping(Vec<u8>),
}

struct ClientInner {
    url: Url,
    options: WsClientOptions,
    commands: mpsc::UnboundedSender<Command>,
    state: Arc<State>,
}

/// A shared WebSocket connection to one `lmosprotocol` endpoint. Cheap to clone; the connection
/// closes when the last clone (and the last stream made from it) is dropped.
#[derive(Clone)]
pub struct WsClient {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsClient")
            .field("url", &without_query(&self.inner.url).as_str())
            .field("dialect", &self.inner.options.dialect)
            .finish()
    }
}

type PoolKey = (String, Dialect, [u8; 32]);

fn pool() -> &'static tokio::sync::Mutex<HashMap<PoolKey, Weak<ClientInner>>> {
    static POOL: OnceLock<tokio::sync::Mutex<HashMap<PoolKey, Weak<ClientInner>>>> =
        OnceLock::new();
    POOL.get_or_init(|| tokio::sync::Mutex::new(HashMap::new()))
}

/// `url` without its query, which may carry a credential (never shown).
fn without_query(url: &Url) -> Url {
    let mut shown = url.clone();
    shown.set_query(None);
    shown
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(url: &Url, options: &WsClientOptions) -> Result<Socket, WsError> {
    let shown = without_query(url);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| WsError::InvalidUrl(format!("{shown}: {e}")))?;
    if options.dialect == Dialect::Spec {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    for (name, value) in &options.headers.0 {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| WsError::InvalidUrl(format!("{name:?} is not a header name")))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            WsError::InvalidUrl(format!("the {name} credential is not a valid header value"))
        })?;
        value.set_sensitive(true);
        request.headers_mut().append(name, value);
    }
    let connector = if url.scheme() == "wss" {
        let tls = match &options.tls {
            Some(tls) => tls.clone(),
            None => crate::security::client_tls_config(None)
                .map_err(|e| WsError::Transport(e.to_string()))?,
        };
        Some(tokio_tungstenite::Connector::Rustls(tls))
    } else {
        None
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(options.max_message_bytes))
        .max_frame_size(Some(options.max_message_bytes));
    let connect =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, connector);
    let result = match options.timeout {
        Some(limit) => tokio::time::timeout(limit, connect)
            .await
            .map_err(|_| WsError::Timeout(limit))?,
        None => connect.await,
    };
    let (socket, _response) = result.map_err(|error| refused_handshake(&shown, error))?;
    Ok(socket)
}

/// Ends a message exchange's client span (when it has one) with its outcome.
fn end_span<T>(span: Option<Span>, result: &Result<T, WsError>) {
    if let Some(span) = span {
        span.end(result.as_ref().err().map(ToString::to_string));
    }
}

/// A failed opening handshake as an error: a refusal by the server (401 without credentials,
/// 403, 404 …) is [`WsError::Remote`] with its status and, when the body is a problem document,
/// its title and detail; anything else is a transport error.
fn refused_handshake(shown: &Url, error: tokio_tungstenite::tungstenite::Error) -> WsError {
    use tokio_tungstenite::tungstenite::Error;
    let Error::Http(response) = error else {
        return WsError::Transport(format!("{shown}: {error}"));
    };
    let status = response.status();
    let document = response
        .body()
        .as_deref()
        .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok());
    let member = |name: &str| {
        document
            .as_ref()
            .and_then(|d| d.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let title = member("title")
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("refused").to_owned());
    let detail =
        member("detail").unwrap_or_else(|| format!("{shown} refused the WebSocket handshake"));
    let mut problem = Problem::new("handshake_refused", status.as_u16(), &title, detail);
    if let Some(kind) = member("type") {
        problem.problem_type = kind;
    }
    WsError::Remote(Box::new(problem))
}

impl WsClient {
    /// The shared connection to `url` in `options.dialect`, opening it if there is none yet
    /// (and failing if it cannot be opened). `wss://` connections verify the server's certificate.
    pub async fn connect(url: &str, options: WsClientOptions) -> Result<WsClient, WsError> {
        let url = Url::parse(url).map_err(|e| WsError::InvalidUrl(format!("{url:?}: {e}")))?;
        match url.scheme() {
            "ws" | "wss" => {}
            other => {
                return Err(WsError::InvalidUrl(format!(
                    "{url}: {other}:// is not a WebSocket URL"
                )))
            }
        }
        let fingerprint = {
            let mut text = String::new();
            for (name, value) in &options.headers.0 {
                text.push_str(name);
                text.push('\u{0}');
                text.push_str(value);
                text.push('\u{0}');
            }
            if let Some(tls) = &options.tls {
                text.push_str(&format!("tls:{:p}", Arc::as_ptr(tls)));
            }
            crate::security::digest(text.as_bytes())
        };
        let key = (url.to_string(), options.dialect, fingerprint);
        let mut connections = pool().lock().await;
        connections.retain(|_, client| client.strong_count() > 0);
        if let Some(inner) = connections.get(&key).and_then(Weak::upgrade) {
            return Ok(WsClient { inner });
        }
        let socket = open(&url, &options).await?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(State::default());
        let inner = Arc::new(ClientInner {
            url: url.clone(),
            options: options.clone(),
            commands,
            state: state.clone(),
        });
        tokio::spawn(run(url, options, state, receiver, socket));
        connections.insert(key, Arc::downgrade(&inner));
        Ok(WsClient { inner })
    }

    /// Whether both handles share one connection.
    pub fn same_connection(&self, other: &WsClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The dialect this connection speaks.
    pub fn dialect(&self) -> Dialect {
        self.inner.options.dialect
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }

    /// Gives `message` a correlation (spec: a `correlationID`; kotlin-wot: its `messageId`) and
    /// the caller's trace context; returns the key replies will carry.
    ///
    /// A message without a trace context of its own is sent in a new client span (a child of the
    /// caller's context), returned for the caller to end when the exchange is over.
    fn prepare(&self, message: &mut Message) -> (String, Option<Span>) {
        let mut span = None;
        if message.traceparent.is_none() {
            let kind = message.body.message_type();
            let thing = message.thing_id.as_deref().unwrap_or_default();
            if let Ok(mut started) =
                Span::start(SpanKind::Client, crate::trace::current().as_ref(), || {
                    format!("{kind} {thing}")
                })
            {
                started.set_attribute("lmos.message_type", kind);
                started.set_attribute("lmos.thing", thing);
                started.set_attribute("url.full", self.inner.url.as_str());
                let context = started.context();
                message.traceparent = Some(context.traceparent());
                message.tracestate = context.tracestate().map(str::to_owned);
                span = Some(started);
            }
        }
        (self.correlate(message), span)
    }

    /// Gives `message` its correlation key (see [`prepare`](Self::prepare)).
    fn correlate(&self, message: &mut Message) -> String {
        match self.inner.options.dialect {
            Dialect::Spec => {
                let key = message
                    .correlation_id
                    .get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
                    .clone();
                key
            }
            Dialect::KotlinWot => {
                message.correlation_id = None;
                message.message_id.clone()
            }
        }
    }

    fn send_raw(&self, message: &Message) -> Result<(), WsError> {
        let style = super::Style::of(self.inner.options.dialect);
        self.inner
            .commands
            .send(Command::Text(message.to_json(style)))
            .map_err(|_| WsError::Closed)
    }

    /// Sends `message` without waiting for anything.
    pub fn send(&self, mut message: Message) -> Result<(), WsError> {
        let (_, span) = self.prepare(&mut message);
        let sent = self.send_raw(&message);
        end_span(span, &sent);
        sent
    }

    async fn bounded<T>(
        &self,
        future: impl std::future::Future<Output = Result<T, WsError>>,
    ) -> Result<T, WsError> {
        match self.inner.options.timeout {
            Some(limit) => tokio::time::timeout(limit, future)
                .await
                .map_err(|_| WsError::Timeout(limit))?,
            None => future.await,
        }
    }

    /// Sends a request and waits for its one reply; an `error` reply is [`WsError::Remote`].
    pub async fn request(&self, mut message: Message) -> Result<Message, WsError> {
        let (key, span) = self.prepare(&mut message);
        let result = self.exchange(key, &message).await;
        end_span(span, &result);
        result
    }

    async fn exchange(&self, key: String, message: &Message) -> Result<Message, WsError> {
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.state.routes).insert(key.clone(), Route::Once(tx));
        if let Err(error) = self.send_raw(message) {
            lock(&self.inner.state.routes).remove(&key);
            return Err(error);
        }
        let reply = self
            .bounded(async { rx.await.unwrap_or(Err(WsError::Closed)) })
            .await;
        if reply.is_err() {
            lock(&self.inner.state.routes).remove(&key);
        }
        match reply? {
            Message {
                body: Body::Error(problem),
                ..
            } => Err(WsError::Remote(Box::new(problem))),
            reply => Ok(reply),
        }
    }

    /// Sends an `invokeAction` and returns its correlation key and the stream of replies
    /// (`actionStatus` messages until a final one, or an `error`).
    pub fn invoke(&self, mut message: Message) -> Result<(String, WsReplies), WsError> {
        let (key, span) = self.prepare(&mut message);
        let (tx, rx) = futures::channel::mpsc::unbounded();
        lock(&self.inner.state.routes).insert(key.clone(), Route::Stream(tx));
        if let Err(error) = self.send_raw(&message) {
            lock(&self.inner.state.routes).remove(&key);
            if let Some(span) = span {
                span.end(Some(error.to_string()));
            }
            return Err(error);
        }
        Ok((
            key.clone(),
            WsReplies {
                client: self.clone(),
                key,
                receiver: rx,
                span,
                failure: None,
            },
        ))
    }

    /// Sends a `cancelAction` for the invocation with correlation `key`; its outcome arrives on
    /// the invocation's replies.
    pub fn cancel(&self, thing_id: &str, action: &str, key: &str) -> Result<(), WsError> {
        let mut message = Message::new(
            Some(thing_id.to_owned()),
            Body::CancelAction {
                action: action.to_owned(),
                reason: None,
            },
        );
        let (_, span) = self.prepare(&mut message);
        // The cancellation names the invocation by its correlation, in both dialects.
        message.correlation_id = Some(key.to_owned());
        let sent = self.send_raw(&message);
        end_span(span, &sent);
        sent
    }

    /// Starts observing a property or subscribing to events of `thing_id`; returns once the
    /// server has taken the subscription (or refused it).
    pub async fn subscribe(
        &self,
        thing_id: &str,
        topic: WsTopic,
    ) -> Result<WsSubscription, WsError> {
        let state = &self.inner.state;
        let id = state.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = subscribe_message(thing_id, &topic);
        let (key, span) = self.prepare(&mut message);
        let (sink, receiver) = mpsc::unbounded_channel();
        let (confirm, confirmed) = oneshot::channel();
        let kotlin = self.inner.options.dialect == Dialect::KotlinWot;
        lock(&state.subscriptions).insert(
            id,
            SubscriptionEntry {
                key: key.clone(),
                thing_id: thing_id.to_owned(),
                topic: topic.clone(),
                traceparent: message.traceparent.clone(),
                sink,
                confirm: Some(confirm),
                swallow_first: kotlin,
            },
        );
        lock(&state.routes).insert(key.clone(), Route::Subscription(id));
        let subscription = WsSubscription {
            client: self.clone(),
            id,
            receiver,
            ended: false,
        };
        self.send_raw(&message)?;
        let barrier = if kotlin {
            None
        } else {
            let payload = uuid::Uuid::new_v4().as_bytes().to_vec();
            let (tx, rx) = oneshot::channel();
            lock(&state.barriers).insert(payload.clone(), tx);
            self.inner
                .commands
                .send(Command::Ping(payload))
                .map_err(|_| WsError::Closed)?;
            Some(rx)
        };
        let wait = async move {
            match barrier {
                Some(pong) => {
                    tokio::select! {
                        refused = confirmed => refused.unwrap_or(Err(WsError::Closed)),
                        answered = pong => answered.map_err(|_| WsError::Transport("the connection broke".into())),
                    }
                }
                None => confirmed.await.unwrap_or(Err(WsError::Closed)),
            }
        };
        let confirmed = self.bounded(wait).await;
        end_span(span, &confirmed);
        confirmed?;
        // From now on errors go to the stream.
        if let Some(entry) = lock(&state.subscriptions).get_mut(&id) {
            entry.confirm = None;
        }
        Ok(subscription)
    }

    fn unsubscribe(&self, id: u64) {
        let state = &self.inner.state;
        let Some(entry) = lock(&state.subscriptions).remove(&id) else {
            return;
        };
        lock(&state.routes).remove(&entry.key);
        let body = match &entry.topic {
            WsTopic::Property(name) => Body::UnobserveProperty { name: name.clone() },
            WsTopic::Event(name) => Body::UnsubscribeEvent {
                event: name.clone(),
            },
            WsTopic::AllEvents => Body::UnsubscribeAllEvents,
        };
        let mut message = Message::new(Some(entry.thing_id.clone()), body);
        message.traceparent = entry.traceparent.clone();
        let _ = self.prepare(&mut message);
        // Names the subscription to end, so other subscriptions on this shared connection stay.
        message.correlation_id = Some(entry.key.clone());
        let _ = self.send_raw(&message);
    }
}

fn subscribe_message(thing_id: &str, topic: &WsTopic) -> Message {
    let body = match topic {
        WsTopic::Property(name) => Body::ObserveProperty { name: name.clone() },
        WsTopic::Event(name) => Body::SubscribeEvent {
            event: name.clone(),
        },
        WsTopic::AllEvents => Body::SubscribeAllEvents,
    };
    Message::new(Some(thing_id.to_owned()), body)
}

/// The replies to one invocation. Dropping it stops listening (it does not cancel the action).
pub struct WsReplies {
    client: WsClient,
    key: String,
    receiver: futures::channel::mpsc::UnboundedReceiver<Delivery>,
    /// The invocation's client span, ended when the replies are dropped.
    span: Option<Span>,
    /// Why the invocation failed, when a reply said so (the span's status).
    failure: Option<String>,
}

impl WsReplies {
    /// The correlation key of the invocation.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The client the invocation was sent on.
    pub fn client(&self) -> &WsClient {
        &self.client
    }
}

impl Stream for WsReplies {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.receiver.poll_next_unpin(cx);
        if let Poll::Ready(Some(item)) = &polled {
            let failure = match item {
                Err(error) => Some(error.to_string()),
                Ok(Message {
                    body: Body::Error(problem),
                    ..
                }) => Some(problem.title.clone()),
                Ok(Message {
                    body:
                        Body::ActionStatus {
                            status: StatusValue::Failed,
                            ..
                        },
                    ..
                }) => Some("the action failed".into()),
                Ok(Message {
                    body:
                        Body::ActionStatus {
                            status: StatusValue::Cancelled,
                            ..
                        },
                    ..
                }) => Some("the action was cancelled".into()),
                Ok(_) => None,
            };
            if failure.is_some() {
                self.failure = failure;
            }
        }
        polled
    }
}

impl Drop for WsReplies {
    fn drop(&mut self) {
        if let Some(span) = self.span.take() {
            span.end(self.failure.take());
        }
        let mut routes = lock(&self.client.inner.state.routes);
        if matches!(routes.get(&self.key), Some(Route::Stream(_))) {
            routes.remove(&self.key);
        }
    }
}

/// The notifications of one observation or subscription (`propertyReading` or `event`
/// messages). It survives reconnections; dropping it unobserves or unsubscribes.
pub struct WsSubscription {
    client: WsClient,
    id: u64,
    receiver: mpsc::UnboundedReceiver<Delivery>,
    ended: bool,
}

impl std::fmt::Debug for WsSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsSubscription")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Stream for WsSubscription {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let next = self.receiver.poll_recv(cx);
        if let Poll::Ready(Some(Err(_)) | None) = &next {
            self.ended = true;
        }
        next
    }
}

impl Drop for WsSubscription {
    fn drop(&mut self) {
        self.client.unsubscribe(self.id);
    }
}

/// The connection task: owns the socket, routes replies, reconnects.
async fn run(
    url: Url,
    options: WsClientOptions,
    state: Arc<State>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    first: Socket,
) {
    let mut socket = Some(first);
    let mut backoff = options.min_backoff;
    let mut reconnected = false;
    loop {
        let current = match socket.take() {
            Some(current) => current,
            None => {
                // Reconnect with exponential backoff while anyone still uses the client.
                let reopen = async {
                    match &options.renew_headers {
                        Some(source) => {
                            let mut fresh = options.clone();
                            fresh.headers = (source.0)().await?;
                            open(&url, &fresh).await
                        }
                        None => open(&url, &options).await,
                    }
                };
                let attempt = tokio::select! {
                    opened = reopen => Some(opened),
                    () = commands_closed(&mut commands) => None,
                };
                match attempt {
                    None => return,
                    Some(Ok(current)) => {
                        backoff = options.min_backoff;
                        current
                    }
                    Some(Err(_)) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(options.max_backoff);
                        socket = None;
                        continue;
                    }
                }
            }
        };
        let (mut sink, mut stream) = current.split();
        if reconnected {
            // Observations and subscriptions made before a reconnection are made again.
            for text in resubscriptions(&state, options.dialect) {
                if sink.send(Frame::Text(text.into())).await.is_err() {
                    break;
                }
            }
        }
        reconnected = true;
        let interval = options.ping_interval.max(Duration::from_millis(10));
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut last_heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = ping.tick() => {
                    // A server that stopped answering (no FIN, no frames) is replaced.
                    if last_heard.elapsed() > interval * 2 {
                        break;
                    }
                    if sink.send(Frame::Ping(b"lmos".to_vec().into())).await.is_err() {
                        break;
                    }
                }
                command = commands.recv() => match command {
                    None => {
                        let _ = sink.close().await;
                        return;
                    }
                    Some(command) => {
                        // Whatever else is queued already goes out in the same write.
                        let mut next = Some(command);
                        let mut batched = 0;
                        let mut failed = false;
                        while let Some(command) = next.take() {
                            let frame = match command {
                                Command::Text(text) => {
                                    if debug_frames() {
                                        eprintln!(">> {text}");
                                    }
                                    Frame::Text(text.into())
                                }
                                Command::Ping(payload) => Frame::Ping(payload.into()),
                            };
                            if sink.feed(frame).await.is_err() {
                                failed = true;
                                break;
                            }
                            batched += 1;
                            if batched < WRITE_BATCH {
                                next = commands.try_recv().ok();
                            }
                        }
                        if failed || sink.flush().await.is_err() {
                            break;
                        }
                    }
                },
                frame = stream.next() => match frame {
                    Some(Ok(Frame::Text(text))) => {
                        last_heard = tokio::time::Instant::now();
                        route(&state, text.as_str());
                    }
                    Some(Ok(Frame::Binary(data))) => {
                        last_heard = tokio::time::Instant::now();
                        if let Ok(text) = std::str::from_utf8(&data) {
                            route(&state, text);
                        }
                    }
                    Some(Ok(Frame::Pong(payload))) => {
                        last_heard = tokio::time::Instant::now();
                        if let Some(waiter) = lock(&state.barriers).remove(payload.as_ref()) {
                            let _ = waiter.send(());
                        }
                    }
                    Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
                },
            }
        }
        fail_pending(&state);
        tokio::time::sleep(backoff).await;
    }
}

async fn commands_closed(commands: &mut mpsc::UnboundedReceiver<Command>) {
    // Commands sent while disconnected wait in the channel; only its closing matters here.
    while !commands.is_closed() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fails every request waiting for a reply; subscriptions wait for the reconnection.
fn fail_pending(state: &State) {
    let lost = || Err(WsError::Transport("the connection was lost".into()));
    let mut routes = lock(&state.routes);
    let keys: Vec<String> = routes
        .iter()
        .filter(|(_, route)| !matches!(route, Route::Subscription(_)))
        .map(|(key, _)| key.clone())
        .collect();
    for key in keys {
        match routes.remove(&key) {
            Some(Route::Once(tx)) => {
                let _ = tx.send(lost());
            }
            Some(Route::Stream(tx)) => {
                let _ = tx.unbounded_send(lost());
            }
            _ => {}
        }
    }
    drop(routes);
    lock(&state.barriers).clear();
}

/// The subscribe messages to send after a reconnection; kotlin-wot correlates by `messageId`,
/// so its subscriptions get new keys.
fn resubscriptions(state: &State, dialect: Dialect) -> Vec<String> {
    let mut routes = lock(&state.routes);
    let mut subscriptions = lock(&state.subscriptions);
    let style = super::Style::of(dialect);
    let mut out = Vec::new();
    for (id, entry) in subscriptions.iter_mut() {
        let mut message = subscribe_message(&entry.thing_id, &entry.topic);
        message.traceparent = entry.traceparent.clone();
        match dialect {
            Dialect::Spec => message.correlation_id = Some(entry.key.clone()),
            Dialect::KotlinWot => {
                routes.remove(&entry.key);
                entry.key = message.message_id.clone();
                routes.insert(entry.key.clone(), Route::Subscription(*id));
                entry.swallow_first = true;
            }
        }
        out.push(message.to_json(style));
    }
    out
}

/// Whether `LMOS_WS_DEBUG` asks for every frame on stderr (read once).
fn debug_frames() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("LMOS_WS_DEBUG").is_some())
}

fn route(state: &State, text: &str) {
    if debug_frames() {
        eprintln!("<< {text}");
    }
    // A server never gets an error for garbage it sends; it is dropped.
    let Ok(parsed) = Message::parse(text) else {
        return;
    };
    let message = parsed.message;
    if let Some(key) = message.correlation_id.clone() {
        let mut routes = lock(&state.routes);
        match routes.get(&key) {
            Some(Route::Once(_)) => {
                if let Some(Route::Once(tx)) = routes.remove(&key) {
                    let _ = tx.send(Ok(message));
                }
                return;
            }
            Some(Route::Stream(tx)) => {
                let done = match &message.body {
                    Body::ActionStatus { status, .. } => status.is_final(),
                    Body::Error(_) => true,
                    _ => false,
                };
                let _ = tx.unbounded_send(Ok(message));
                if done {
                    routes.remove(&key);
                }
                return;
            }
            Some(Route::Subscription(id)) => {
                let id = *id;
                drop(routes);
                deliver(state, id, message);
                return;
            }
            None => {}
        }
    }
    // kotlin-wot reports changes without a correlation: route by thing and name.
    let thing = message.thing_id.clone().unwrap_or_default();
    let targets: Vec<u64> = lock(&state.subscriptions)
        .iter()
        .filter(|(_, entry)| entry.thing_id == thing)
        .filter(|(_, entry)| match (&message.body, &entry.topic) {
            (Body::PropertyReading { name, .. }, WsTopic::Property(observed)) => name == observed,
            (Body::Event { event, .. }, WsTopic::Event(subscribed)) => event == subscribed,
            (Body::Event { .. }, WsTopic::AllEvents) => true,
            _ => false,
        })
        .map(|(id, _)| *id)
        .collect();
    for id in targets {
        deliver(state, id, message.clone());
    }
}

fn deliver(state: &State, id: u64, message: Message) {
    let mut subscriptions = lock(&state.subscriptions);
    let Some(entry) = subscriptions.get_mut(&id) else {
        return;
    };
    if let Body::Error(problem) = &message.body {
        let error = WsError::Remote(Box::new(problem.clone()));
        match entry.confirm.take() {
            Some(confirm) => {
                let _ = confirm.send(Err(error));
            }
            None => {
                let _ = entry.sink.send(Err(error));
            }
        }
        let key = entry.key.clone();
        subscriptions.remove(&id);
        drop(subscriptions);
        lock(&state.routes).remove(&key);
        return;
    }
    if entry.swallow_first
        && matches!(
            message.body,
            Body::Acknowledgement { .. } | Body::PropertyReading { .. }
        )
    {
        entry.swallow_first = false;
        if let Some(confirm) = entry.confirm.take() {
            let _ = confirm.send(Ok(()));
        }
        return;
    }
    match message.body {
        Body::PropertyReading { .. } | Body::Event { .. } => {
            let _ = entry.sink.send(Ok(message));
        }
        _ => {}
    }
}

/// The final status of an invocation as `(status, output, error)`, if `message` carries one.
pub fn final_status(
    message: &Message,
) -> Option<(
    StatusValue,
    Option<&serde_json::Value>,
    Option<&serde_json::Value>,
)> {
    match &message.body {
        Body::ActionStatus {
            status,
            output,
            error,
            ..
        } if status.is_final() => Some((*status, output.as_ref(), error.as_ref())),
        _ => None,
    }
}
