//! The server side: the upgrade handler at [`WS_PATH`](super::WS_PATH) and one task pair per
//! connection (a reader that dispatches messages to the exposed things, a writer that drains the
//! connection's bounded queue and pings the peer).
//!
//! Built on axum's `ws` extractor so that the endpoint shares the servient's HTTP port and can be
//! mounted with the rest of [`Servient::router`](crate::thing::Servient::router); axum wraps
//! tokio-tungstenite, which the client uses directly.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::{SelectAll, SplitSink, StreamExt};
use futures::{FutureExt, SinkExt};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::AbortHandle;

use super::messages::{
    Body, Dialect, Message, MessageError, Parsed, Problem, Rejected, StatusValue, Style, Timestamp,
    SUBPROTOCOL,
};
use crate::security::enforce::Handshake;
use crate::thing::exposed::failure_problem;
use crate::thing::servient::Registry;
use crate::thing::{ActionUpdate, ExposedThing, ThingError, ValueStream};
use crate::trace::TraceContext;

/// Close code for a message over the size limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code when the server shuts down.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Initial read buffer of a connection.
const READ_BUFFER_BYTES: usize = 4096;
/// Outgoing bytes gathered before a write to the socket.
const WRITE_BUFFER_BYTES: usize = 4096;
/// Queued messages gathered into one write at most.
const WRITE_BATCH: usize = 64;
/// Finished invocations remembered per connection for `queryAction`.
const REMEMBERED_INVOCATIONS: usize = 256;
/// Updates an invocation may produce on the reader's task before it gets a task of its own (so
/// that a handler streaming without pause cannot hold up the connection's other requests).
const INLINE_UPDATES: usize = 8;

type AppState = Arc<Registry>;

/// The upgrade handler: negotiates the subprotocol and hands the socket to [`serve_socket`].
pub(crate) async fn upgrade(
    State(registry): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Credentials come with the handshake and count for every message on the socket.
    let handshake = Handshake::new(&headers, uri.query());
    if let Err(refused) = crate::security::enforce::admit_handshake(&registry, &handshake).await {
        return refused;
    }
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    // kotlin-wot (and so the LMOS Kotlin SDK) offers no subprotocol at all.
    let dialect = if offered.is_empty() {
        Dialect::KotlinWot
    } else if offered.iter().any(|p| p == SUBPROTOCOL) {
        Dialect::Spec
    } else {
        let body = json!({
            "type": format!("{}unsupported-subprotocol", super::messages::ERROR_TYPE_BASE),
            "title": "unsupported subprotocol",
            "status": 400,
            "detail": format!("this endpoint speaks {SUBPROTOCOL:?}; offered: {}", offered.join(", ")),
        });
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, crate::binding::http::PROBLEM_JSON)],
            body.to_string(),
        )
            .into_response();
    };
    let settings = registry.ws.clone();
    let upgrade = if dialect == Dialect::Spec {
        upgrade.protocols([SUBPROTOCOL])
    } else {
        upgrade
    };
    // tungstenite allocates its read buffer up front (128 KiB by default); a small one keeps idle
    // connections cheap, and larger messages still arrive (the buffer grows while a frame does).
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(settings.max_message_bytes)
        .max_frame_size(settings.max_message_bytes)
        .on_upgrade(move |socket| serve_socket(socket, registry, dialect, handshake))
}

enum Outgoing {
    Text(String),
    Close(u16, &'static str),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Topic {
    Property(String),
    Event(String),
    AllEvents,
}

struct Subscription {
    thing: String,
    topic: Topic,
    task: AbortHandle,
}

struct InvocationState {
    status: StatusValue,
    output: Option<Value>,
    error: Option<Value>,
}

struct Invocation {
    thing: String,
    action: String,
    correlation: String,
    state: Mutex<InvocationState>,
    task: Mutex<Option<AbortHandle>>,
}

impl Invocation {
    fn is_final(&self) -> bool {
        crate::thing::lock(&self.state).status.is_final()
    }

    fn snapshot(&self) -> (StatusValue, Option<Value>, Option<Value>) {
        let state = crate::thing::lock(&self.state);
        (state.status, state.output.clone(), state.error.clone())
    }

    /// Records a status unless a final one is already recorded; returns whether it did.
    fn record(&self, status: StatusValue, output: Option<Value>, error: Option<Value>) -> bool {
        let mut state = crate::thing::lock(&self.state);
        if state.status.is_final() {
            return false;
        }
        state.status = status;
        state.output = output;
        state.error = error;
        true
    }
}

/// The invocations of one connection by correlation, oldest first: every running one and the
/// latest [`REMEMBERED_INVOCATIONS`] finished ones (for `queryAction`).
#[derive(Default)]
struct Invocations {
    by_key: HashMap<String, Arc<Invocation>>,
    order: VecDeque<Arc<Invocation>>,
}

impl Invocations {
    fn get(&self, key: &str) -> Option<&Arc<Invocation>> {
        self.by_key.get(key)
    }

    /// The latest invocation that `wanted` accepts.
    fn latest(&self, wanted: impl Fn(&Invocation) -> bool) -> Option<&Arc<Invocation>> {
        self.order.iter().rev().find(|i| wanted(i))
    }

    /// Adds `invocation`, replacing a finished one with the same correlation and forgetting the
    /// oldest finished ones beyond the limit.
    fn insert(&mut self, invocation: Arc<Invocation>) {
        if let Some(old) = self
            .by_key
            .insert(invocation.correlation.clone(), invocation.clone())
        {
            self.order.retain(|i| !Arc::ptr_eq(i, &old));
        }
        self.order.push_back(invocation);
        while self.order.len() > REMEMBERED_INVOCATIONS {
            let Some(index) = self.order.iter().position(|i| i.is_final()) else {
                break;
            };
            if let Some(gone) = self.order.remove(index) {
                self.by_key.remove(&gone.correlation);
            }
        }
    }

    fn drain(&mut self) -> Vec<Arc<Invocation>> {
        self.by_key.clear();
        self.order.drain(..).collect()
    }
}

/// What every request task of one connection shares.
struct Connection {
    registry: AppState,
    out: mpsc::Sender<Outgoing>,
    invocations: Mutex<Invocations>,
    dropped_notifications: std::sync::atomic::AtomicU64,
    /// The credentials of the handshake.
    handshake: Handshake,
}

impl Connection {
    /// Queues a reply, waiting for room (a slow reader slows down its own requests).
    async fn send(&self, message: &Message, style: Style) {
        self.send_text(message.to_json(style)).await;
    }

    /// Queues a reply already written out.
    async fn send_text(&self, text: String) {
        let _ = self.out.send(Outgoing::Text(text)).await;
    }

    /// Forgets every invocation of the connection and aborts the tasks of those still running
    /// (which cancels their handlers).
    fn abort_invocations(&self) {
        let invocations = crate::thing::lock(&self.invocations).drain();
        for invocation in invocations {
            if let Some(task) = crate::thing::lock(&invocation.task).take() {
                task.abort();
            }
        }
    }

    /// Queues a notification; when the queue is full the notification is dropped.
    fn notify(&self, message: &Message, style: Style) {
        if self
            .out
            .try_send(Outgoing::Text(message.to_json(style)))
            .is_err()
        {
            self.dropped_notifications
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A request as the dispatcher sees it: the message, its style and its trace context.
#[derive(Clone)]
struct Request {
    message: Message,
    style: Style,
    trace: Option<TraceContext>,
}

impl Request {
    fn reply(&self, body: Body) -> Message {
        Message {
            thing_id: self.message.thing_id.clone(),
            message_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: Some(self.message.correlation().to_owned()),
            traceparent: self.message.traceparent.clone(),
            tracestate: self.message.tracestate.clone(),
            body,
        }
    }

    fn error(&self, problem: Problem) -> Message {
        self.reply(Body::Error(problem))
    }
}

fn incoming_trace(message: &Message) -> Option<TraceContext> {
    let parent = message.traceparent.as_deref()?;
    let state = message.tracestate.as_deref();
    // As over HTTP: a malformed traceparent restarts the trace, a malformed tracestate is dropped.
    TraceContext::parse(parent, state)
        .or_else(|_| TraceContext::parse(parent, None))
        .ok()
}

/// The `error` members for a failed interaction (no handler internals).
pub(crate) fn problem_for(error: &ThingError) -> Problem {
    let code = error.code();
    match error {
        ThingError::NotFound { .. } => Problem::new(code, 404, "not found", error.to_string()),
        ThingError::NotAllowed { .. } => {
            Problem::new(code, 405, "operation not allowed", error.to_string())
        }
        ThingError::InvalidInput { .. } | ThingError::BadRequest(_) | ThingError::Codec(_) => {
            Problem::new(code, 400, "invalid input", error.to_string())
        }
        ThingError::ActionFinished => Problem::new(
            code,
            409,
            "the action has already finished",
            error.to_string(),
        ),
        ThingError::ActionCancelled => {
            Problem::new(code, 409, "the action was cancelled", error.to_string())
        }
        _ => Problem::new(
            "internal_error",
            500,
            "internal error",
            "the thing failed to handle the request",
        ),
    }
}

fn rejection_problem(error: &MessageError) -> Problem {
    let title = match error {
        MessageError::InvalidJson(_) => "invalid JSON",
        MessageError::UnknownMessageType(_) => "unknown message type",
        MessageError::MissingMember(_) => "missing member",
        _ => "invalid message",
    };
    Problem::new(error.code(), 400, title, error.to_string())
}

/// Serves one upgraded socket until it closes, the peer stops answering pings, or the servient
/// shuts down.
async fn serve_socket(
    socket: WebSocket,
    registry: AppState,
    handshake_dialect: Dialect,
    handshake: Handshake,
) {
    let settings = registry.ws.clone();
    let mut shutdown = registry.ws_shutdown.subscribe();
    if *shutdown.borrow() {
        return;
    }
    let (mut sink, mut stream) = socket.split();
    let (out, mut queue) = mpsc::channel::<Outgoing>(settings.queue_capacity.max(1));
    let ping_interval = settings.ping_interval;
    // When the writer began to send the first ping since the peer was last heard from (the
    // reader clears it on every frame): the peer is dead once that ping has gone unanswered for
    // `pong_timeout`. Counting from the attempt (not from a schedule) means a busy runtime that
    // pings late never drops a peer it has not asked yet, and a writer stuck on a peer that
    // stopped reading still counts.
    let ping_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let pinged = ping_at.clone();
    let writer = tokio::spawn(async move {
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
        loop {
            tokio::select! {
                next = queue.recv() => match next {
                    Some(Outgoing::Text(text)) => {
                        // Whatever else is queued already goes out in the same write.
                        let mut pending = Some(Outgoing::Text(text));
                        let mut batched = 0;
                        while let Some(Outgoing::Text(text)) = pending.take() {
                            if sink.feed(Frame::Text(text.into())).await.is_err() {
                                return;
                            }
                            batched += 1;
                            if batched < WRITE_BATCH {
                                pending = queue.try_recv().ok();
                            }
                        }
                        if sink.flush().await.is_err() {
                            return;
                        }
                        if let Some(Outgoing::Close(code, reason)) = pending {
                            return close(&mut sink, code, reason).await;
                        }
                    }
                    Some(Outgoing::Close(code, reason)) => {
                        return close(&mut sink, code, reason).await;
                    }
                    None => {
                        let _ = sink.close().await;
                        return;
                    }
                },
                _ = ping.tick() => {
                    crate::thing::lock(&pinged).get_or_insert_with(Instant::now);
                    if sink.send(Frame::Ping(bytes::Bytes::from_static(b"lmos"))).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let connection = Arc::new(Connection {
        registry,
        out: out.clone(),
        invocations: Mutex::new(Invocations::default()),
        dropped_notifications: std::sync::atomic::AtomicU64::new(0),
        handshake,
    });
    let mut reader = Reader {
        connection: connection.clone(),
        dialect: handshake_dialect,
        subscriptions: HashMap::new(),
        in_flight: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
        max_subscriptions: settings.max_subscriptions,
    };
    let pong_timeout = settings.pong_timeout;
    let mut liveness = tokio::time::interval(settings.pong_timeout.min(settings.ping_interval));
    loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(frame) = frame else { break };
                *crate::thing::lock(&ping_at) = None;
                match frame {
                    Ok(Frame::Text(text)) => reader.handle_text(text.as_str()).await,
                    Ok(Frame::Binary(data)) => match std::str::from_utf8(&data) {
                        Ok(text) => reader.handle_text(text).await,
                        Err(_) => {
                            let error = MessageError::InvalidJson(
                                "a binary frame that is not UTF-8 text".into(),
                            );
                            reader.reject(Rejected::envelope(error)).await;
                        }
                    },
                    Ok(Frame::Ping(_)) | Ok(Frame::Pong(_)) => {}
                    Ok(Frame::Close(_)) => break,
                    Err(error) => {
                        if is_capacity_error(error) {
                            let _ = out
                                .send(Outgoing::Close(CLOSE_TOO_BIG, "message too big"))
                                .await;
                        }
                        break;
                    }
                }
            }
            _ = liveness.tick() => {
                let unanswered = *crate::thing::lock(&ping_at);
                if unanswered.is_some_and(|at| at.elapsed() > pong_timeout) {
                    break;
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    let _ = out.try_send(Outgoing::Close(CLOSE_GOING_AWAY, "server shutting down"));
                    break;
                }
            }
        }
    }
    // Observations, subscriptions and running invocations end with their connection.
    for (_, subscription) in reader.subscriptions.drain() {
        subscription.task.abort();
    }
    connection.abort_invocations();
    drop(reader);
    drop(out);
    drop(connection);
    // The writer ends once every sender is gone (request tasks may still hold one briefly).
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// Sends a close frame and closes the socket.
async fn close(sink: &mut SplitSink<WebSocket, Frame>, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = sink.send(Frame::Close(Some(frame))).await;
    let _ = sink.close().await;
}

fn is_capacity_error(error: axum::Error) -> bool {
    let inner = error.into_inner();
    match inner.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
        Some(tokio_tungstenite::tungstenite::Error::Capacity(_)) => true,
        Some(_) => false,
        // Different tungstenite instance or wrapping: recognise it by its message.
        None => {
            let text = inner.to_string();
            text.contains("Space limit exceeded") || text.contains("too long")
        }
    }
}

struct Reader {
    connection: Arc<Connection>,
    /// The dialect for messages that show none: the handshake's, then the last one shown.
    dialect: Dialect,
    /// By (correlation, thing slug, topic).
    subscriptions: HashMap<(String, String, Topic), Subscription>,
    in_flight: Arc<Semaphore>,
    max_subscriptions: usize,
}

impl Reader {
    async fn reject(&mut self, rejected: Box<Rejected>) {
        let style = rejected.style.unwrap_or_else(|| Style::of(self.dialect));
        let message = Message {
            thing_id: rejected.thing_id.clone(),
            message_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: rejected.correlation.clone(),
            traceparent: rejected.traceparent.clone(),
            tracestate: rejected.tracestate.clone(),
            body: Body::Error(rejection_problem(&rejected.error)),
        };
        self.connection.send(&message, style).await;
    }

    async fn handle_text(&mut self, text: &str) {
        let parsed: Parsed = match Message::parse(text) {
            Ok(parsed) => parsed,
            Err(mut rejected) => {
                if let Some(style) = rejected.style.as_mut() {
                    if rejected.error != MessageError::NotAnObject {
                        style.dialect = self.dialect;
                    }
                }
                self.reject(rejected).await;
                return;
            }
        };
        if let Some(dialect) = parsed.evidence {
            self.dialect = dialect;
        }
        let style = parsed.reply_style(self.dialect);
        let trace = incoming_trace(&parsed.message);
        let request = Request {
            message: parsed.message,
            style,
            trace,
        };
        let body = &request.message.body;
        if matches!(body, Body::Error(_) | Body::Acknowledgement { .. }) {
            // Never answer an error or an acknowledgement: two peers would loop.
            return;
        }
        if !body.is_request() {
            let problem = Problem::new(
                "not_a_request",
                400,
                "not a request",
                format!(
                    "{} is sent by things, not to them",
                    request.message.body.message_type()
                ),
            );
            self.connection.send(&request.error(problem), style).await;
            return;
        }
        let thing_id = request.message.thing_id.clone().unwrap_or_default();
        let Some(thing) = self.connection.registry.thing_by_id(&thing_id) else {
            let problem = problem_for(&ThingError::not_found("thing", &thing_id));
            self.connection.send(&request.error(problem), style).await;
            return;
        };
        let caller = match crate::security::enforce::check_message(
            &self.connection.registry,
            &self.connection.handshake,
            thing.slug(),
            &request.message.body,
        )
        .await
        {
            Ok(caller) => caller,
            Err(refusal) => {
                let problem = Problem::new(
                    refusal.code(),
                    refusal.status,
                    refusal.title(),
                    refusal.reason,
                );
                self.connection.send(&request.error(problem), style).await;
                return;
            }
        };
        // The handlers learn who called through their `InteractionContext`.
        crate::security::principal::scope(caller, self.serve_request(thing, request)).await;
    }

    async fn serve_request(&mut self, thing: ExposedThing, mut request: Request) {
        let style = request.style;
        match &mut request.message.body {
            Body::ObserveProperty { name } => {
                let name = name.clone();
                self.observe(thing, request, name).await
            }
            Body::SubscribeEvent { event } => {
                let event = event.clone();
                self.subscribe(thing, request, Some(event)).await
            }
            Body::SubscribeAllEvents => self.subscribe(thing, request, None).await,
            Body::UnobserveProperty { name } => {
                let name = name.clone();
                if !thing.template().properties.contains_key(&name) {
                    let problem = problem_for(&ThingError::not_found("property", &name));
                    self.connection.send(&request.error(problem), style).await;
                    return;
                }
                self.end(&thing, &request, |t| *t == Topic::Property(name.clone()))
                    .await;
            }
            Body::UnsubscribeEvent { event } => {
                let event = event.clone();
                if !thing.template().events.contains_key(&event) {
                    let problem = problem_for(&ThingError::not_found("event", &event));
                    self.connection.send(&request.error(problem), style).await;
                    return;
                }
                self.end(&thing, &request, |t| *t == Topic::Event(event.clone()))
                    .await;
            }
            Body::UnsubscribeAllEvents => {
                self.end(&thing, &request, |t| {
                    matches!(t, Topic::Event(_) | Topic::AllEvents)
                })
                .await;
            }
            Body::InvokeAction { action, input } => {
                // The input goes to the handler; no reply repeats it.
                let (action, input) = (action.clone(), input.take());
                self.invoke(thing, request, action, input).await
            }
            _ => {
                // Reads, writes, queries and cancellations run concurrently (bounded per
                // connection); waiting for a permit pauses reading from this peer.
                let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                    return;
                };
                let connection = self.connection.clone();
                tokio::spawn(crate::security::principal::inherit(async move {
                    let _permit = permit;
                    respond(&connection, &thing, &request).await;
                }));
            }
        }
    }

    fn subscription_room(&self) -> Option<Problem> {
        (self.subscriptions.len() >= self.max_subscriptions).then(|| {
            Problem::new(
                "too_many_subscriptions",
                429,
                "too many subscriptions",
                format!(
                    "a connection may hold {} observations and subscriptions",
                    self.max_subscriptions
                ),
            )
        })
    }

    fn register(&mut self, correlation: String, subscription: Subscription) {
        let key = (
            correlation,
            subscription.thing.clone(),
            subscription.topic.clone(),
        );
        if let Some(old) = self.subscriptions.insert(key, subscription) {
            old.task.abort();
        }
    }

    async fn observe(&mut self, thing: ExposedThing, request: Request, name: String) {
        let style = request.style;
        if let Some(problem) = self.subscription_room() {
            self.connection.send(&request.error(problem), style).await;
            return;
        }
        let values = match thing.observe_property(&name) {
            Ok(values) => values,
            Err(error) => {
                self.connection
                    .send(&request.error(problem_for(&error)), style)
                    .await;
                return;
            }
        };
        if style.dialect == Dialect::KotlinWot {
            // kotlin-wot answers an observation with the current value and waits for it.
            match thing.read_property(&name, request.trace.clone()).await {
                Ok(value) => {
                    let reply = request.reply(Body::PropertyReading {
                        name: name.clone(),
                        value,
                        timestamp: Some(Timestamp::now()),
                    });
                    self.connection.send(&reply, style).await;
                }
                Err(ThingError::NotAllowed { .. }) => {
                    let reply = request.reply(Body::Acknowledgement {
                        message: Some("observeProperty".into()),
                    });
                    self.connection.send(&reply, style).await;
                }
                Err(error) => {
                    self.connection
                        .send(&request.error(problem_for(&error)), style)
                        .await;
                    return;
                }
            }
        }
        let key = request.message.correlation().to_owned();
        let connection = self.connection.clone();
        let property = name.clone();
        let task = tokio::spawn(forward(values, move |value| {
            let message = request.reply(Body::PropertyReading {
                name: property.clone(),
                value,
                timestamp: Some(Timestamp::now()),
            });
            connection.notify(&message, style);
        }));
        self.register(
            key,
            Subscription {
                thing: thing.slug().to_owned(),
                topic: Topic::Property(name),
                task: task.abort_handle(),
            },
        );
    }

    async fn subscribe(&mut self, thing: ExposedThing, request: Request, event: Option<String>) {
        let style = request.style;
        if let Some(problem) = self.subscription_room() {
            self.connection.send(&request.error(problem), style).await;
            return;
        }
        let names: Vec<String> = match &event {
            Some(name) => vec![name.clone()],
            None => thing.template().events.keys().cloned().collect(),
        };
        let mut streams = SelectAll::new();
        for name in &names {
            match thing.subscribe_event(name) {
                Ok(values) => {
                    let name = name.clone();
                    streams.push(values.map(move |value| (name.clone(), value)).boxed());
                }
                Err(error) => {
                    self.connection
                        .send(&request.error(problem_for(&error)), style)
                        .await;
                    return;
                }
            }
        }
        if style.dialect == Dialect::KotlinWot {
            let acknowledged = if event.is_some() {
                "subscribeevent"
            } else {
                "subscribeAllEvents"
            };
            let reply = request.reply(Body::Acknowledgement {
                message: Some(acknowledged.into()),
            });
            self.connection.send(&reply, style).await;
        }
        let key = request.message.correlation().to_owned();
        let connection = self.connection.clone();
        let task = tokio::spawn(async move {
            while let Some((name, value)) = streams.next().await {
                let Ok(data) = value else { continue };
                let message = request.reply(Body::Event {
                    event: name,
                    data,
                    timestamp: Some(Timestamp::now()),
                });
                connection.notify(&message, style);
            }
        });
        self.register(
            key,
            Subscription {
                thing: thing.slug().to_owned(),
                topic: event.map_or(Topic::AllEvents, Topic::Event),
                task: task.abort_handle(),
            },
        );
    }

    /// Ends the subscriptions of `thing` whose topic matches: only the one whose key is the
    /// request's `correlationID` when it names one, else all of them.
    async fn end(
        &mut self,
        thing: &ExposedThing,
        request: &Request,
        matches: impl Fn(&Topic) -> bool,
    ) {
        let slug = thing.slug();
        let wanted = |(_, owner, topic): &(String, String, Topic)| owner == slug && matches(topic);
        let named: Vec<_> = match &request.message.correlation_id {
            Some(key) => self
                .subscriptions
                .keys()
                .filter(|k| wanted(k) && k.0 == *key)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let keys: Vec<_> = if named.is_empty() {
            self.subscriptions
                .keys()
                .filter(|k| wanted(k))
                .cloned()
                .collect()
        } else {
            named
        };
        for key in keys {
            if let Some(subscription) = self.subscriptions.remove(&key) {
                subscription.task.abort();
            }
        }
        if request.style.dialect == Dialect::KotlinWot {
            let reply = request.reply(Body::Acknowledgement {
                message: Some(request.message.body.message_type().into()),
            });
            self.connection.send(&reply, request.style).await;
        }
    }

    async fn invoke(
        &mut self,
        thing: ExposedThing,
        request: Request,
        action: String,
        input: Option<Value>,
    ) {
        let style = request.style;
        let correlation = request.message.correlation().to_owned();
        let running_already = crate::thing::lock(&self.connection.invocations)
            .get(&correlation)
            .is_some_and(|i| !i.is_final());
        if running_already {
            let problem = Problem::new(
                "correlation_in_use",
                409,
                "correlation in use",
                format!("an invocation with correlation {correlation:?} is still running"),
            );
            self.connection.send(&request.error(problem), style).await;
            return;
        }
        let updates = match thing.invoke_action_stream(
            &action,
            input.unwrap_or(Value::Null),
            request.trace.clone(),
        ) {
            Ok(updates) => updates,
            Err(error) => {
                self.connection
                    .send(&request.error(problem_for(&error)), style)
                    .await;
                return;
            }
        };
        let invocation = Arc::new(Invocation {
            thing: thing.slug().to_owned(),
            action: action.clone(),
            correlation: correlation.clone(),
            state: Mutex::new(InvocationState {
                status: StatusValue::Pending,
                output: None,
                error: None,
            }),
            task: Mutex::new(None),
        });
        crate::thing::lock(&self.connection.invocations).insert(invocation.clone());
        // Most handlers answer on their first poll: run them here and spawn a task only for
        // those still pending (a cancelAction reaches those through the task's abort handle).
        let mut updates = updates;
        let mut polls = 0;
        while let Some(update) = updates.next().now_or_never() {
            let Some(update) = update else { return };
            if !report(&self.connection, &invocation, &request, &action, update).await {
                return;
            }
            polls += 1;
            if polls == INLINE_UPDATES {
                break;
            }
        }
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
            return;
        };
        let connection = self.connection.clone();
        let running = invocation.clone();
        let task = tokio::spawn(crate::security::principal::inherit(async move {
            let _permit = permit;
            while let Some(update) = updates.next().await {
                if !report(&connection, &running, &request, &action, update).await {
                    return;
                }
            }
        }));
        *crate::thing::lock(&invocation.task) = Some(task.abort_handle());
        if invocation.is_final() {
            // Cancelled between registration and start.
            task.abort();
        }
    }
}

/// Records one update of an invocation and sends its `actionStatus`; returns whether more
/// updates are wanted (not after a final status, or once a cancellation recorded one).
async fn report(
    connection: &Connection,
    running: &Invocation,
    request: &Request,
    action: &str,
    update: Result<ActionUpdate, ThingError>,
) -> bool {
    let (status, output, error) = match update {
        Ok(ActionUpdate::Progress(value)) => (StatusValue::Pending, Some(value), None),
        Ok(ActionUpdate::Output(value)) => (StatusValue::Completed, Some(value), None),
        Err(ThingError::ActionCancelled) => (StatusValue::Cancelled, None, None),
        Err(error) => (StatusValue::Failed, None, Some(failure_problem(&error))),
    };
    let reply = request.reply(Body::ActionStatus {
        action: action.to_owned(),
        status,
        output,
        error,
    });
    // Written out first, so that the values then move into the record for `queryAction`.
    let text = reply.to_json(request.style);
    {
        let mut state = crate::thing::lock(&running.state);
        if state.status.is_final() {
            // A cancellation came first.
            return false;
        }
        if let Body::ActionStatus { output, error, .. } = reply.body {
            state.output = output;
            if status.is_final() {
                state.status = status;
                state.error = error;
            }
        }
    }
    connection.send_text(text).await;
    !status.is_final()
}

/// Forwards every value of `values` to `send`, skipping errors (lagging observers).
async fn forward(mut values: ValueStream, send: impl Fn(Value)) {
    while let Some(value) = values.next().await {
        if let Ok(value) = value {
            send(value);
        }
    }
}

/// Handles a request that gets exactly one reply.
async fn respond(connection: &Connection, thing: &ExposedThing, request: &Request) {
    let trace = request.trace.clone();
    let result: Result<Body, ThingError> = match &request.message.body {
        Body::ReadProperty { name } => {
            thing
                .read_property(name, trace)
                .await
                .map(|value| Body::PropertyReading {
                    name: name.clone(),
                    value,
                    timestamp: Some(Timestamp::now()),
                })
        }
        Body::WriteProperty { name, value } => thing
            .write_property(name, value.clone(), trace)
            .await
            .map(|()| Body::PropertyReading {
                name: name.clone(),
                value: value.clone(),
                timestamp: Some(Timestamp::now()),
            }),
        Body::ReadAllProperties => {
            thing
                .read_all_properties(trace)
                .await
                .map(|values| Body::PropertyReadings {
                    values,
                    timestamp: Some(Timestamp::now()),
                })
        }
        Body::ReadMultipleProperties { names } => {
            let mut values = Map::new();
            let mut failure = None;
            for name in names {
                match thing.read_property(name, trace.clone()).await {
                    Ok(value) => {
                        values.insert(name.clone(), value);
                    }
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
            match failure {
                Some(error) => Err(error),
                None => Ok(Body::PropertyReadings {
                    values,
                    timestamp: Some(Timestamp::now()),
                }),
            }
        }
        Body::WriteMultipleProperties { values } => thing
            .write_multiple_properties(values.clone(), trace)
            .await
            .map(|()| Body::PropertyReadings {
                values: values.clone(),
                timestamp: Some(Timestamp::now()),
            }),
        Body::QueryAction { action } => query(connection, thing, request, action),
        Body::CancelAction { action, .. } => cancel(connection, thing, request, action).await,
        other => Err(ThingError::BadRequest(format!(
            "{} is not handled here",
            other.message_type()
        ))),
    };
    let reply = match result {
        Ok(body) => request.reply(body),
        Err(error) => request.error(problem_for(&error)),
    };
    connection.send(&reply, request.style).await;
}

/// The invocation a `queryAction`/`cancelAction` means: the one whose correlation is the
/// request's `correlationID`, else the latest invocation of the action on this connection.
fn find_invocation(
    connection: &Connection,
    thing: &ExposedThing,
    request: &Request,
    action: &str,
) -> Result<Arc<Invocation>, ThingError> {
    if !thing.template().actions.contains_key(action) {
        return Err(ThingError::not_found("action", action));
    }
    let invocations = crate::thing::lock(&connection.invocations);
    let same = |i: &Invocation| i.thing == thing.slug() && i.action == action;
    if let Some(found) = request
        .message
        .correlation_id
        .as_ref()
        .and_then(|key| invocations.get(key))
        .filter(|i| same(i))
    {
        return Ok(found.clone());
    }
    invocations
        .latest(same)
        .cloned()
        .ok_or_else(|| ThingError::not_found("action instance", action))
}

fn query(
    connection: &Connection,
    thing: &ExposedThing,
    request: &Request,
    action: &str,
) -> Result<Body, ThingError> {
    let invocation = find_invocation(connection, thing, request, action)?;
    let (status, output, error) = invocation.snapshot();
    Ok(Body::ActionStatus {
        action: action.to_owned(),
        status,
        output,
        error,
    })
}

async fn cancel(
    connection: &Connection,
    thing: &ExposedThing,
    request: &Request,
    action: &str,
) -> Result<Body, ThingError> {
    let invocation = find_invocation(connection, thing, request, action)?;
    if !invocation.record(StatusValue::Cancelled, None, None) {
        // Already finished: the reply reports the final status, which says it was not cancelled.
        let (status, output, error) = invocation.snapshot();
        return Ok(Body::ActionStatus {
            action: action.to_owned(),
            status,
            output,
            error,
        });
    }
    if let Some(task) = crate::thing::lock(&invocation.task).take() {
        // Dropping the update stream cancels the handler.
        task.abort();
    }
    if invocation.correlation != request.message.correlation() {
        // The invocation's own stream of statuses ends too.
        let ended = Message {
            thing_id: request.message.thing_id.clone(),
            message_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: Some(invocation.correlation.clone()),
            traceparent: request.message.traceparent.clone(),
            tracestate: request.message.tracestate.clone(),
            body: Body::ActionStatus {
                action: action.to_owned(),
                status: StatusValue::Cancelled,
                output: None,
                error: None,
            },
        };
        connection.send(&ended, request.style).await;
    }
    Ok(Body::ActionStatus {
        action: action.to_owned(),
        status: StatusValue::Cancelled,
        output: None,
        error: None,
    })
}

/// Runs one connection's dispatcher over `frames` without a socket and returns every message it
/// sends, in order (subscriptions end after the last frame; running invocations are dropped
/// after `settle`). For fuzzing and tests: the same code path as a real connection minus the
/// WebSocket framing.
#[doc(hidden)]
pub async fn dispatch_frames(
    servient: &crate::thing::Servient,
    dialect: Dialect,
    frames: Vec<String>,
    settle: Duration,
) -> Vec<String> {
    let registry = servient.registry();
    let (out, mut queue) = mpsc::channel::<Outgoing>(frames.len() * 4 + 64);
    let connection = Arc::new(Connection {
        registry,
        out,
        invocations: Mutex::new(Invocations::default()),
        dropped_notifications: std::sync::atomic::AtomicU64::new(0),
        handshake: Handshake::default(),
    });
    let mut reader = Reader {
        connection: connection.clone(),
        dialect,
        subscriptions: HashMap::new(),
        in_flight: Arc::new(Semaphore::new(64)),
        max_subscriptions: 64,
    };
    let collect = tokio::spawn(async move {
        let mut sent = Vec::new();
        while let Some(message) = queue.recv().await {
            if let Outgoing::Text(text) = message {
                sent.push(text);
            }
        }
        sent
    });
    for frame in &frames {
        reader.handle_text(frame).await;
    }
    tokio::time::sleep(settle).await;
    for (_, subscription) in reader.subscriptions.drain() {
        subscription.task.abort();
    }
    connection.abort_invocations();
    drop(reader);
    drop(connection);
    match tokio::time::timeout(Duration::from_secs(5), collect).await {
        Ok(Ok(sent)) => sent,
        _ => Vec::new(),
    }
}

/// A watch that tells every open socket of a servient to close.
pub(crate) fn shutdown_signal() -> watch::Sender<bool> {
    watch::channel(false).0
}
